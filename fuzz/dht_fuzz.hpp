// Shared by the DHT fuzz targets (fuzz_dht_packets, fuzz_discovery) and the seed generator:
// the fixed keys the targets use and the input layout of fuzz_discovery.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <netcrypto/address.hpp>
#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>

#include "core/dht/discovery.hpp"
#include "core/dht/packets.hpp"

namespace netcrypto::fuzz::dht {

// --- fuzz_dht_packets: every decoder opens boxes with this fixed shared key ---------------------
inline netcrypto::dht::SharedKey packets_key() {
    std::array<std::uint8_t, 32> bytes{};
    bytes.fill(0x42);
    return netcrypto::dht::SharedKey(bytes);
}

// --- fuzz_discovery input layout ---------------------------------------------------------------
// A sequence of records; each starts with an op byte (op % kOps):
//   0 raw datagram   [src][len][len bytes (fewer if the input ends)]
//   1 nodes request  [src][peer][sendback byte]: a valid 0x02 from peer `peer % kPeers` (its key
//                    boxed to the object's DHT key), sent from address `src % kAddresses`
//   2 ping           [src][peer][ping id byte]: a valid 0x00 likewise
//   3 time           [n]: now += n * 7 ms, then handle_timeout(now)
//   4 command        [c]: start / restart / forget (c % 3) of address (c / 3) % kAddresses
//   5 poll           drain poll_transmit and poll_event
inline constexpr std::uint8_t kOps = 6;
inline constexpr std::uint8_t kOpRaw = 0;
inline constexpr std::uint8_t kOpNodesRequest = 1;
inline constexpr std::uint8_t kOpPing = 2;
inline constexpr std::uint8_t kOpTime = 3;
inline constexpr std::uint8_t kOpCommand = 4;
inline constexpr std::uint8_t kOpPoll = 5;
inline constexpr std::size_t kAddresses = 4;
inline constexpr std::size_t kPeers = 3;
inline constexpr std::uint64_t kOurSeed = 0xD157;
inline constexpr std::uint64_t kPeerSeed = 0xD1570;

inline Address address(std::size_t i) {
    return Address::ipv4(192, 168, 7, static_cast<std::uint8_t>(1 + (i % kAddresses)), 33445);
}

/// The object's DHT key pair and the peers' (deterministic).
inline KeyPair our_keys() {
    SeededRng rng(kOurSeed);
    return KeyPair::generate(rng);
}
inline KeyPair peer_keys(std::size_t i) {
    SeededRng rng(kPeerSeed + (i % kPeers));
    return KeyPair::generate(rng);
}

/// Small bounds so the fuzzer reaches every limit.
inline netcrypto::dht::DiscoveryConfig config() {
    netcrypto::dht::DiscoveryConfig cfg;
    cfg.max_sends = 4;
    cfg.max_targets = 3;
    cfg.max_queued = 8;
    cfg.answer_burst = 3;
    cfg.answers_per_second = 2;
    cfg.answer_budget_slots = 4;
    cfg.key_cache_size = 2;
    cfg.key_agreements_per_second = 3;
    return cfg;
}

}  // namespace netcrypto::fuzz::dht
