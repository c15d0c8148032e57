// The handshake that opens a Tox TCP relay connection (docs/relay.md; layouts from the relay
// spec, §2). Both messages are raw bytes on the stream, with no length prefix.
//
// Client → relay, exactly 128 bytes:
//   off len field
//     0  32 client public key C.pk (in c-toxcore: the DHT key), clear
//    32  24 nonce n1, random, clear
//    56  72 Box(DH(R.pk, C.sk), n1, plain)
// Relay → client, exactly 96 bytes:
//     0  24 nonce n2, random, clear
//    24  72 Box(DH(C.pk, R.sk), n2, plain)   (the same shared key as above)
// plain, exactly 56 bytes, in both directions:
//     0  32 the sender's temporary public key for this connection
//    32  24 the sender's base nonce: the nonce of its first frame
//
// Session key K = DH(other temporary pk, own temporary sk), one key for both directions.
// Temporary secret keys are wiped as soon as K is known.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <tl/expected.hpp>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>

#include "core/crypto/crypto.hpp"

namespace netcrypto::relay {

using crypto::kMacSize;
using crypto::kNonceSize;
using crypto::Nonce;
using crypto::SharedKey;

inline constexpr std::size_t kHandshakePlainSize = kPublicKeySize + kNonceSize;  // 56
inline constexpr std::size_t kHandshakeRequestSize =
    kPublicKeySize + kNonceSize + kMacSize + kHandshakePlainSize;  // 128
inline constexpr std::size_t kHandshakeResponseSize =
    kNonceSize + kMacSize + kHandshakePlainSize;  // 96
static_assert(kHandshakeRequestSize == 128);
static_assert(kHandshakeResponseSize == 96);

enum class HandshakeError : std::uint8_t {
    kUnusableKey,  ///< a public key gives no shared key (low-order point)
    kBadBox,       ///< the box did not open: wrong keys or tampered bytes
    kSealFailed,   ///< encryption failed (cannot happen with valid sizes)
};
std::string_view to_string(HandshakeError e);

/// The keys of one established relay connection, seen from one end.
struct SessionKeys {
    SharedKey key;     ///< K, used for frames in both directions
    Nonce send_nonce;  ///< nonce of our next frame (our base nonce at first)
    Nonce recv_nonce;  ///< nonce of the peer's next frame (its base nonce at first)
};

/// What the client keeps between sending its 128 bytes and reading the relay's 96.
/// The secrets wipe themselves (SecretKey, SharedKey).
struct ClientHandshake {
    SharedKey static_key;   ///< DH(R.pk, C.sk): opens the relay's response
    SecretKey temp_secret;  ///< Tc.sk; wiped once the response is opened
    Nonce base_nonce;       ///< Nc: our first frame nonce
};

/// Builds the client's 128 bytes into `out` with fresh temporary keys and nonces from `rng`.
tl::expected<ClientHandshake, HandshakeError> create_client_handshake(
    const KeyPair& self, const PublicKey& relay_pk, Rng& rng,
    std::span<std::uint8_t, kHandshakeRequestSize> out);

/// Opens the relay's 96 bytes and derives the session. The temporary secret in `hs` is wiped
/// whether or not the response opens (a failed handshake is not retried on the same state).
tl::expected<SessionKeys, HandshakeError> open_relay_response(
    ClientHandshake& hs, std::span<const std::uint8_t, kHandshakeResponseSize> in);

}  // namespace netcrypto::relay
