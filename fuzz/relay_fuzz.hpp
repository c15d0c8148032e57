// Shared by the relay fuzz targets (fuzz_relay_frame, fuzz_relay_client) and the seed generator:
// fixed keys and the input layouts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>

#include "core/crypto/crypto.hpp"

namespace netcrypto::fuzz::relay {

// --- fuzz_relay_frame ----------------------------------------------------------------------
// byte 0: bit 0 = mode, bits 1..7 = chunk size - 1 for feeding the decoder.
//   mode 0 (raw): the rest is both a frame stream (fed to a decoder with the fixed session) and
//                 one packet plaintext (fed to parse_packet).
//   mode 1 (sealed): the rest is records [len_hi][len_lo][len bytes (fewer if the input ends)];
//                 len = BE16 % 2100. Each record becomes a frame sealed with the fixed session
//                 (len 0: a bare L = 0 header; len > 2032: a bare overlong header). The decoder
//                 must return exactly the plaintexts up to the first overlong header, then fail.
inline crypto::SharedKey frame_key() {
    std::array<std::uint8_t, 32> b{};
    b.fill(0x5C);
    return crypto::SharedKey(b);
}
inline crypto::Nonce frame_nonce() {
    crypto::Nonce n;
    n.bytes.fill(0xFF);  // the first increment carries through all 24 bytes
    n.bytes[0] = 0x01;
    return n;
}

// --- fuzz_relay_client ---------------------------------------------------------------------
// A Client completes its handshake and confirmation with the in-test relay (ServerConn), keys
// from fixed seeds. The input is then a sequence of records, op = byte % kOps:
//   0 frame     [len][len bytes]: the relay seals them as one frame to the client
//   1 raw       [len][len bytes]: raw bytes to the client (breaks the stream, mostly)
//   2 command   [c][k]: c % 6: route_request / send_data / send_oob / disconnect / close /
//               poll_write only; to key k % kPeers; data sizes from k
//   3 time      [n]: now += n * 250 ms, then handle_timeout
//   4 write     the client's pending bytes go to the relay, which must open every frame
//   5 notify    [kind][id][k]: a well-formed packet of kind % 5 (routing response for peer k,
//               connect, disconnect, OOB from peer k, data) with connection id `id`
//   6 poll      drain events
inline constexpr std::uint8_t kOps = 7;
inline constexpr std::uint8_t kOpFrame = 0;
inline constexpr std::uint8_t kOpRaw = 1;
inline constexpr std::uint8_t kOpCommand = 2;
inline constexpr std::uint8_t kOpTime = 3;
inline constexpr std::uint8_t kOpWrite = 4;
inline constexpr std::uint8_t kOpNotify = 5;
inline constexpr std::uint8_t kOpPoll = 6;
inline constexpr std::size_t kPeers = 4;
inline constexpr std::uint64_t kSeed = 0x7E1A7;

/// The peers' keys (computed once: key generation would dominate the run time).
inline const PublicKey& peer_key(std::size_t i) {
    static const std::array<PublicKey, kPeers> keys = [] {
        std::array<PublicKey, kPeers> k{};
        for (std::size_t j = 0; j < kPeers; ++j) {
            SeededRng rng(kSeed + 1 + j);
            k[j] = KeyPair::generate(rng).public_key;
        }
        return k;
    }();
    return keys[i % kPeers];
}

}  // namespace netcrypto::fuzz::relay
