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
#include "core/relay/client.hpp"
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
    /// Data packets one connection hands to the relays per visit in poll_transmit.
    static constexpr std::size_t kRelayBurst = 64;
    void event(const Event& e) override;
    void wants_to_send(ConnectionId id) override;
    bool relay_send(const PublicKey& dht, std::span<const std::uint8_t> bytes) override;

    core::Services services() {
        return core::Services{rng_,
                              jar_,
                              long_term_,
                              dht_,
                              cfg_,
                              stats_,
                              *this,
                              relays_connected_ > 0,
                              !relays_.empty(),
                              &lossy_pool_};
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

    /// `address` Address{}: relays only.
    Result<ConnectionId> connect(Instant now, const PublicKey& peer_key,
                                 const PublicKey& peer_dht_key, const Address& address);

    // endpoint_relay.cpp
    Result<RelayId> add_relay(Instant now, const PublicKey& relay_key);
    Result<void> remove_relay(Instant now, RelayId relay);
    Result<void> relay_opened(Instant now, RelayId relay);
    void handle_relay_bytes(Instant now, RelayId relay, std::span<const std::uint8_t> bytes);
    void relay_closed(Instant now, RelayId relay);
    [[nodiscard]] std::span<const std::uint8_t> relay_pending(RelayId relay) const;
    void consume_relay_bytes(RelayId relay, std::size_t n);
    [[nodiscard]] Result<RelayInfo> relay_info(RelayId relay) const;
    [[nodiscard]] std::vector<RelayId> relays() const;
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
    /// One relay: its key, its session while TCP is open, and counters across sessions.
    struct RelaySlot {
        bool in_use = false;
        std::uint16_t generation = 0;
        PublicKey key;
        RelayState state = RelayState::kDisconnected;
        RelayCloseReason last_close = RelayCloseReason::kNone;
        std::unique_ptr<relay::Client> client;  ///< null while kDisconnected
        RelayStats stats;                       ///< of finished sessions (plus ours)
    };

    std::optional<std::uint32_t> allocate_slot();
    void bind_address(std::uint32_t index, const Address& address);
    void remove(std::uint32_t index);
    void prune_timers();
    /// Withdraws the unpolled kIncoming event of a request dropped unanswered.
    void withdraw_incoming(std::uint64_t request);
    /// Turns Discovery's events into endpoint events (with the peer key given to discover()).
    void take_discovery_events();

    // endpoint_relay.cpp
    RelaySlot* relay_slot(RelayId id);
    [[nodiscard]] const RelaySlot* relay_slot(RelayId id) const;
    [[nodiscard]] RelayId relay_id(std::size_t index) const;
    /// Handles the events of relay `index`'s session (routes, packets, its end).
    void take_relay_events(Instant now, std::size_t index);
    void relay_packet(Instant now, std::size_t index, const PublicKey& from,
                      std::span<const std::uint8_t> bytes);
    void relay_cookie_request(Instant now, std::size_t index, const PublicKey& from,
                              std::span<const std::uint8_t> bytes, const std::uint32_t* bound);
    /// Ends relay `index`'s session (event), keeping its counters.
    void end_relay_session(std::size_t index, RelayCloseReason reason);
    /// Keeps the DHT-key index and the relays' routes in step with connection `index` (after
    /// every input while relays exist); `gone` when the connection is being removed.
    void sync_relay_routes(std::uint32_t index, bool gone);
    /// Asks relay `index` for a route to every connection's peer.
    void request_all_routes(std::size_t index);
    /// Room on the relays for one more data packet of the connection to `dht`.
    [[nodiscard]] bool relay_room(const PublicKey& dht) const;
    /// The answer to a cookie request that passed every check (shared by UDP and relays).
    std::optional<handshake::CookieResponseBytes> answer_cookie_request(
        Instant now, std::span<const std::uint8_t> bytes);

    // endpoint_dispatch.cpp
    void handle_cookie_request(Instant now, const Address& from, std::span<const std::uint8_t> b);
    /// `from` is Address{} for a handshake that came through a relay (`via`).
    void handle_handshake(Instant now, const Address& from, const std::uint32_t* bound,
                          std::span<const std::uint8_t> b, core::Via via);
    /// Carries out a decision about a connection that exists / about a new peer.
    void apply(Instant now, const core::Decision& d, const handshake::HandshakeInfo& hs,
               const Address& from, std::uint32_t index, core::Arrival arrival, core::Via via);
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
    /// Before slots_: connections give their queued messages back when they are destroyed.
    core::LossyPool lossy_pool_;
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

    // TCP relays (endpoint_relay.cpp). Every connection uses every connected relay.
    std::vector<RelaySlot> relays_;
    std::size_t relays_live_ = 0;
    std::size_t relays_connected_ = 0;
    /// Connections by the peer's DHT key (relays name peers by it); kept while relays exist.
    std::unordered_map<PublicKey, std::uint32_t, core::SaltedHash> by_dht_;
    /// The DHT key each connection is indexed and routed under (by slot index).
    std::vector<std::optional<PublicKey>> routed_dht_;
    /// Connections that wait for room on a relay before producing more data.
    std::vector<std::uint32_t> relay_blocked_;
};

}  // namespace netcrypto
