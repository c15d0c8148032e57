// Endpoint internals: connection slots, lookups by address and key (salted SipHash, O(1)),
// timers (a min-heap with lazy invalidation, so per-tick work is proportional to what is due),
// queued outputs, incoming requests (incoming.hpp) and the anti-abuse state (load_guard.hpp).
//
// Files: endpoint.cpp (construction, outputs, slots and timers, commands, the public facade),
// endpoint_dispatch.cpp (datagrams: cookie requests, handshakes through decide_handshake,
// cookie responses and data), endpoint_data.cpp (the data calls), names.cpp (to_string).
#pragma once

#include <memory>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

#include <netcrypto/endpoint.hpp>

#include "core/acceptance.hpp"
#include "core/address_table.hpp"
#include "core/connection.hpp"
#include "core/cookie.hpp"
#include "core/dht/discovery.hpp"
#include "core/incoming.hpp"
#include "core/load_guard.hpp"
#include "core/ring_queue.hpp"
#include "core/services.hpp"

namespace netcrypto {

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
    /// Slots an empty output or event queue keeps (larger ones are freed after a burst): a
    /// wake-up of many idle connections queues hundreds of REQUESTs at once.
    static constexpr std::size_t kKeepQueued = 256;
    void event(const Event& e) override;
    void wants_to_send(ConnectionId id) override;

    core::Services services() {
        return core::Services{rng_, jar_, long_term_, dht_, cfg_, stats_, *this};
    }

    void handle_datagram(Instant now, const Address& from, std::span<const std::uint8_t> bytes);
    void handle_timeout(Instant now);
    [[nodiscard]] std::optional<Instant> next_timeout() const;
    std::optional<Transmit> poll_transmit(Instant now, std::span<std::uint8_t> buffer);
    std::optional<Event> poll_event();
    [[nodiscard]] bool under_load() const { return guard_.under_load(); }

    Result<void> discover(Instant now, const PublicKey& peer_key, const Address& address);
    bool stop_discovery(const Address& address);
    [[nodiscard]] const DhtStats& dht_stats() const { return discovery_.stats(); }

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

    KeyPair long_term_;
    KeyPair dht_;
    Rng& rng_;
    EndpointConfig cfg_;
    core::CookieJar jar_;
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

    std::optional<std::uint32_t> allocate_slot();
    void bind_address(std::uint32_t index, const Address& address);
    void remove(std::uint32_t index);
    void prune_timers();
    /// Withdraws the unpolled kIncoming event of a request dropped unanswered.
    void withdraw_incoming(std::uint64_t request);
    /// Turns Discovery's events into endpoint events (with the peer key given to discover()).
    void take_discovery_events();

    // endpoint_dispatch.cpp
    void handle_cookie_request(Instant now, const Address& from, std::span<const std::uint8_t> b);
    void handle_handshake(Instant now, const Address& from, const std::uint32_t* bound,
                          std::span<const std::uint8_t> b);
    /// Carries out a decision about a connection that exists / about a new peer.
    void apply(Instant now, const core::Decision& d, const handshake::HandshakeInfo& hs,
               const Address& from, std::uint32_t index, core::Arrival arrival);
    void apply_new(Instant now, const core::Decision& d, const handshake::HandshakeInfo& hs,
                   const Address& from, const crypto::SharedKey& long_term_shared);
    void replace(Instant now, std::uint32_t index, const handshake::HandshakeInfo& hs,
                 const Address& from);
    void offer_incoming(Instant now, const handshake::HandshakeInfo& hs, const Address& from,
                        const crypto::SharedKey& long_term_shared);
    Result<ConnectionId> create_incoming(Instant now, const handshake::HandshakeInfo& hs,
                                         const Address& from,
                                         const crypto::SharedKey& long_term_shared);
    [[nodiscard]] bool auto_accepts(const PublicKey& peer) const;

    core::SaltedHash hash_;
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_;
    std::size_t live_ = 0;
    core::AddressTable by_addr_;
    std::unordered_map<PublicKey, std::uint32_t, core::SaltedHash> by_key_;
    std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<>> timers_;
    std::vector<TimerEntry> due_;  ///< handle_timeout's batch (kept: no allocation per call)
    // Ring buffers, not deques: a deque allocates a chunk every few pushes (every push for
    // OutDatagram), i.e. per received packet; these allocate only when they grow.
    core::RingQueue<OutDatagram> out_;
    core::RingQueue<Event> events_;
    core::RingQueue<std::uint32_t> ready_;
    core::IncomingRequests incoming_;
    core::LoadGuard guard_;
    /// DHT keys learnt from addresses (discover()); shares our DHT key pair.
    dht::Discovery discovery_;
    /// The long-term key each address being discovered was asked for (at most
    /// max_discoveries entries).
    std::vector<std::pair<Address, PublicKey>> discovering_;
};

}  // namespace netcrypto
