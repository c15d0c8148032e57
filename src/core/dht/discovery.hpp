// dht::Discovery: learning the DHT key of a Tox peer from its address alone (docs/discovery.md).
//
// c-toxcore answers a LAN discovery packet (0x21, our DHT key in clear) from a LAN address by
// bootstrapping to its sender: it sends a nodes request (0x02) that carries its own DHT key in
// clear and is boxed to ours. Discovery sends the 0x21, resends it on a fixed schedule, and
// takes the key of the first 0x02 that comes back from the same address and whose box opens
// with DH(that key, our DHT secret key): a box that opens proves the sender holds the secret
// half of the key it claims. It also answers nodes requests (0x04 with no nodes) and pings
// (0x01), so the peer's DHT keeps us.
//
// Sans-I/O like the endpoint: every input carries `now`; datagrams and events are polled;
// randomness comes from the injected Rng. Bounded: targets, outgoing queue, per-source answer
// budget (fixed table), shared-key cache and X25519 work per second.
//
// Timers of one target (resend_interval T, max_sends M):
//   start(t0)       → 0x21 sent at t0
//   t0 + k·T        → 0x21 resent (k = 1 .. M-1) until a key is learnt
//   t0 + M·T        → NoAnswer{address, M}; the target is forgotten
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include <tl/expected.hpp>

#include <netcrypto/address.hpp>
#include <netcrypto/endpoint.hpp>
#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/address_table.hpp"
#include "core/crypto/crypto.hpp"
#include "core/dht/packets.hpp"

namespace netcrypto::dht {

struct DiscoveryConfig {
    /// Time between two LAN discovery packets to the same address.
    Duration resend_interval = std::chrono::milliseconds(500);
    /// LAN discovery packets per target before NoAnswer (at least 1).
    std::uint32_t max_sends = 10;
    /// Addresses being learnt at once; start() beyond refuses (kTooManyTargets).
    std::size_t max_targets = 64;
    /// Answer valid nodes requests (0x04, no nodes) and pings (0x01).
    bool answer = true;
    /// Datagrams waiting for poll_transmit; more are dropped (kQueueFull).
    std::size_t max_queued = 256;
    /// Per-source answer budget: a token bucket of this many answers refilled at this rate.
    std::uint32_t answer_burst = 8;
    std::uint32_t answers_per_second = 4;
    /// Slots of the fixed answer-budget table (rounded up to a power of two); sources whose
    /// salted hashes collide share a budget.
    std::size_t answer_budget_slots = 1024;
    /// DHT shared keys kept (the cache is cleared when full).
    std::size_t key_cache_size = 256;
    /// X25519 for keys not in the cache, per second (one second's worth may be spent at once).
    std::uint32_t key_agreements_per_second = 256;
};

/// The DHT key at `address`, learnt from a nodes request whose box opened.
struct KeyLearned {
    Address address;
    PublicKey dht_pk;
    friend bool operator==(const KeyLearned&, const KeyLearned&) = default;
};
/// No nodes request came back from `address` after `sends` LAN discovery packets.
struct NoAnswer {
    Address address;
    std::uint32_t sends = 0;
    friend bool operator==(const NoAnswer&, const NoAnswer&) = default;
};
using DiscoveryEvent = std::variant<KeyLearned, NoAnswer>;

enum class DiscoveryError : std::uint8_t {
    kTooManyTargets,   ///< max_targets addresses are being learnt already
    kAlreadyLearning,  ///< that address is being learnt (use restart())
};
std::string_view to_string(DiscoveryError e);

/// The counters are public (stats.hpp) so an Endpoint can report them.
using DiscoveryStats = ::netcrypto::DhtStats;

/// The largest datagram Discovery ever sends: a nodes request (113 bytes, the answer to a LAN
/// discovery packet); a nodes response with no nodes and a ping response are 82, a LAN
/// discovery packet 33.
inline constexpr std::size_t kMaxDiscoveryDatagramSize = kNodesRequestSize;
static_assert(kNodesResponseMinSize <= kMaxDiscoveryDatagramSize);

class Discovery {
  public:
    Discovery(KeyPair dht, Rng& rng, const DiscoveryConfig& cfg = {});

    /// Begins learning the DHT key at `to`: a LAN discovery packet is queued now.
    tl::expected<void, DiscoveryError> start(Instant now, const Address& to);
    /// Stops learning at `to` (no event); false if it was not being learnt.
    bool forget(const Address& to);
    /// forget() then start(): to re-learn a key that turned out wrong or changed.
    tl::expected<void, DiscoveryError> restart(Instant now, const Address& to);
    [[nodiscard]] bool learning(const Address& to) const;
    [[nodiscard]] std::size_t targets() const { return targets_.size(); }

    /// True when the first byte is a DHT type Discovery handles (0x00, 0x01, 0x02, 0x04, 0x21).
    static bool is_dht_packet(std::span<const std::uint8_t> bytes);
    /// A datagram from the network. Never fails: what is not used is counted in stats().
    void handle_datagram(Instant now, const Address& from, std::span<const std::uint8_t> bytes);
    /// Resends and failures that are due.
    void handle_timeout(Instant now);
    /// When handle_timeout should run next; nullopt when nothing is being learnt.
    [[nodiscard]] std::optional<Instant> next_timeout() const;

    /// The next datagram, written into `buffer` (>= kMaxDiscoveryDatagramSize bytes; with a
    /// smaller buffer nothing is taken and nullopt returned).
    std::optional<Transmit> poll_transmit(std::span<std::uint8_t> buffer);
    std::optional<DiscoveryEvent> poll_event();

    [[nodiscard]] const DiscoveryStats& stats() const { return stats_; }
    [[nodiscard]] const PublicKey& dht_public_key() const { return dht_.public_key; }
    [[nodiscard]] std::size_t queued() const { return queue_.size(); }
    [[nodiscard]] std::size_t cached_keys() const { return key_cache_.size(); }

  private:
    struct Target {
        Address address;
        Instant deadline{};
        std::uint32_t sends = 0;
        bool done = false;
    };
    struct Outgoing {
        Address to;
        std::array<std::uint8_t, kMaxDiscoveryDatagramSize> bytes{};
        std::size_t size = 0;
    };
    struct Bucket {
        double tokens = 0;
        Instant last{};
    };

    void drop(DhtDropReason r) { ++stats_.dropped[static_cast<std::size_t>(r)]; }
    Outgoing* push(const Address& to, std::size_t size);
    void send_lan_discovery(Instant now, Target& t);
    std::vector<Target>::iterator find(const Address& to);
    bool take_answer_token(Instant now, const Address& from);
    const SharedKey* shared_key(Instant now, const PublicKey& peer);
    void on_lan_discovery(Instant now, const Address& from, std::span<const std::uint8_t> bytes);
    void on_response(std::span<const std::uint8_t> bytes);
    void on_nodes_request(Instant now, const Address& from, std::span<const std::uint8_t> bytes);
    void on_ping_request(Instant now, const Address& from, std::span<const std::uint8_t> bytes);

    KeyPair dht_;
    Rng& rng_;
    DiscoveryConfig cfg_;
    core::SaltedHash hash_;
    std::vector<Target> targets_;
    std::deque<Outgoing> queue_;
    std::deque<DiscoveryEvent> events_;
    std::vector<Bucket> answer_budget_;
    Bucket key_budget_;
    std::unordered_map<PublicKey, SharedKey, core::SaltedHash> key_cache_;
    DiscoveryStats stats_;
};

}  // namespace netcrypto::dht
