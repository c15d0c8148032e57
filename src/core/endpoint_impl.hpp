// Endpoint internals: connection slots, lookups by address and key (salted SipHash, O(1)),
// timers (a min-heap with lazy invalidation, so per-tick work is proportional to what is due),
// queued outputs, pending incoming requests and the anti-abuse state (per-source cookie
// budgets, DHT shared-key cache, handshake replay cache).
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

#include <netcrypto/endpoint.hpp>

#include "core/connection.hpp"
#include "core/cookie.hpp"
#include "core/services.hpp"

namespace netcrypto {

/// SipHash-2-4 (libsodium crypto_shorthash) keyed per endpoint: attackers choose addresses and
/// keys, so table hashes must not be predictable.
struct SaltedHash {
    std::array<std::uint8_t, 16> key{};
    std::size_t operator()(const Address& a) const noexcept;
    std::size_t operator()(const PublicKey& k) const noexcept;
};

/// Address → slot index: open addressing with linear probing (load ≤ 1/2) and backward-shift
/// deletion. Each entry keeps its salted hash next to the key, so a lookup compares hashes and
/// usually reads a single cache line; std::unordered_map walks two or three list nodes per
/// lookup and re-hashes every node it passes (it does not cache SipHash results), which costs
/// several cache misses per datagram once the table outgrows the caches.
class AddressTable {
  public:
    explicit AddressTable(const SaltedHash& hash) : hash_(hash) {}

    /// The index bound to `a`, or nullptr.
    [[nodiscard]] const std::uint32_t* find(const Address& a) const;
    /// Binds `a` to `value` (replacing an existing binding).
    void assign(const Address& a, std::uint32_t value);
    /// Removes the binding of `a` if it is `value`.
    void erase(const Address& a, std::uint32_t value);
    [[nodiscard]] std::size_t size() const { return size_; }

  private:
    static constexpr std::uint32_t kEmpty = 0xFFFF'FFFFU;
    struct Entry {
        std::uint64_t hash = 0;
        Address address;
        std::uint32_t value = kEmpty;
    };
    [[nodiscard]] std::size_t mask() const { return entries_.size() - 1; }
    void grow();

    SaltedHash hash_;
    std::vector<Entry> entries_;  ///< empty or a power of two
    std::size_t size_ = 0;
};

class Endpoint::Impl final : public core::Outputs {
  public:
    Impl(KeyPair long_term, KeyPair dht, Rng& rng, Instant now, EndpointConfig config);

    void transmit(const Address& to, std::span<const std::uint8_t> bytes) override;
    [[nodiscard]] std::size_t transmit_room() const override {
        return out_.size() < kMaxQueuedDatagrams ? kMaxQueuedDatagrams - out_.size() : 0;
    }
    /// Datagrams the queue of control packets and lossy data may hold until polled: the
    /// priority class that bypasses the congestion window, bounded.
    static constexpr std::size_t kMaxQueuedDatagrams = 4096;
    void event(const Event& e) override;
    void wants_to_send(ConnectionId id) override;

    core::Services services() {
        return core::Services{rng_, jar_, real_, dht_, cfg_, stats_, *this};
    }

    void handle_datagram(Instant now, const Address& from, std::span<const std::uint8_t> bytes);
    void handle_timeout(Instant now);
    [[nodiscard]] std::optional<Instant> next_timeout() const;
    std::optional<Transmit> poll_transmit(Instant now, std::span<std::uint8_t> buffer);
    std::optional<Event> poll_event();
    [[nodiscard]] bool under_load() const { return under_load_; }

    Result<ConnectionId> connect(Instant now, const PublicKey& peer_key,
                                 const PublicKey& peer_dht_key, const Address& address);
    Result<ConnectionId> accept(Instant now, std::uint64_t request);
    Result<void> reject(std::uint64_t request);
    Result<void> close(Instant now, ConnectionId id);

    /// The live connection behind `id`, or nullptr.
    core::Connection* get(ConnectionId id);
    [[nodiscard]] const core::Connection* get(ConnectionId id) const;
    /// Re-arms the connection's timer and removes it if it closed; call after every input.
    void after(std::uint32_t index);

    [[nodiscard]] std::optional<ConnectionId> find(const PublicKey& peer_key) const;
    [[nodiscard]] std::vector<ConnectionId> connections() const;

    static ConnectionId make_id(std::uint32_t index, std::uint32_t generation) {
        return ConnectionId{(std::uint64_t{generation} << 32U) | index};
    }
    static std::uint32_t index_of(ConnectionId id) {
        return static_cast<std::uint32_t>(id.value & 0xFFFF'FFFFU);
    }
    static std::uint32_t generation_of(ConnectionId id) {
        return static_cast<std::uint32_t>(id.value >> 32U);
    }

    KeyPair real_;
    KeyPair dht_;
    Rng& rng_;
    EndpointConfig cfg_;
    CookieJar jar_;
    Instant next_rotation_;
    EndpointStats stats_;

  private:
    struct Slot {
        std::unique_ptr<core::Connection> conn;
        std::uint32_t generation = 0;
        std::optional<Instant> scheduled;
        bool ready = false;
    };
    struct TimerEntry {
        Instant at;
        std::uint32_t index;
        std::uint32_t generation;
        friend bool operator>(const TimerEntry& a, const TimerEntry& b) { return a.at > b.at; }
    };
    struct OutDatagram {
        Address to;
        std::uint16_t size = 0;
        std::array<std::uint8_t, kMaxDatagramSize> bytes{};
    };
    struct Pending {
        std::uint64_t id = 0;
        handshake::HandshakeInfo hs;
        Address from;
        Instant expires;
        crypto::SharedKey real_shared;
    };
    struct Bucket {
        double tokens = 0;
        Instant last{};
    };

    std::optional<std::uint32_t> allocate_slot();
    void bind_address(std::uint32_t index, const Address& address);
    void remove(std::uint32_t index);
    void prune_timers();

    void handle_cookie_request(Instant now, const Address& from, std::span<const std::uint8_t> b);
    void handle_unbound_handshake(Instant now, const Address& from,
                                  std::span<const std::uint8_t> b);
    void offer_incoming(Instant now, const handshake::HandshakeInfo& hs, const Address& from,
                        const crypto::SharedKey& real_shared);
    Result<ConnectionId> create_incoming(Instant now, const handshake::HandshakeInfo& hs,
                                         const Address& from, const crypto::SharedKey& real_shared);
    bool take_cookie_token(Instant now, const Address& from);
    /// Takes one key agreement from the strangers' budget; false (and under load) when empty.
    bool take_key_agreement(Instant now);
    /// Refills the strangers' budget and leaves the under-load mode when it may.
    void update_load(Instant now);
    /// Computes (one X25519) and caches the shared key with a DHT key that is not cached.
    const crypto::SharedKey* dht_shared_for(const PublicKey& peer_dht_pk);
    /// Forgets the oldest pending incoming request and withdraws its unpolled kIncoming.
    void drop_oldest_pending();
    bool seen_session(Instant now, const PublicKey& session_pk);
    void remember_session(Instant now, const PublicKey& session_pk);
    [[nodiscard]] bool auto_accepts(const PublicKey& peer) const;

    SaltedHash hash_;
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
    std::size_t live_ = 0;
    AddressTable by_addr_;
    std::unordered_map<PublicKey, std::uint32_t, SaltedHash> by_key_;
    std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timers_;
    std::deque<OutDatagram> out_;
    std::deque<Event> events_;
    std::deque<std::uint32_t> ready_;
    std::deque<Pending> pending_;
    std::uint64_t next_request_ = 1;
    std::unordered_map<PublicKey, Instant, SaltedHash> seen_sessions_;
    /// Cookie-request budgets: a fixed table indexed by the salted address hash, so memory
    /// and work stay bounded whatever the number of (spoofed) sources; colliding sources
    /// share a budget.
    std::vector<Bucket> buckets_;
    /// The strangers' key-agreement budget (EndpointConfig::key_agreements_per_second) and
    /// the under-load mode it drives.
    Bucket key_budget_;
    bool under_load_ = false;
    Instant under_load_since_{};
    std::unordered_map<PublicKey, crypto::SharedKey, SaltedHash> dht_cache_;
};

}  // namespace netcrypto
