// The endpoint: construction, queued outputs, connection slots and timers, commands, and the
// public facade. Datagrams are dispatched in endpoint_dispatch.cpp.
#include <algorithm>

#include "core/endpoint_impl.hpp"

namespace netcrypto {

// --- construction ------------------------------------------------------------------------------

Endpoint::Impl::Impl(KeyPair long_term, KeyPair dht, Rng& rng, Instant now, EndpointConfig config)
    : long_term_(std::move(long_term)),
      dht_(std::move(dht)),
      rng_(rng),
      cfg_(std::move(config)),
      jar_(rng, cfg_.cookie_validity),
      next_rotation_(now + cfg_.cookie_rotation),
      hash_([&rng] {
          core::SaltedHash h;
          rng.fill(h.key);
          return h;
      }()),
      lossy_pool_(cfg_.lossy_pool_messages),
      by_addr_(hash_),
      by_key_(16, hash_),
      incoming_(cfg_, [this](std::uint64_t request) { withdraw_incoming(request); }),
      guard_(cfg_, hash_),
      discovery_(dht_, rng,
                 dht::DiscoveryConfig{.resend_interval = cfg_.discovery_interval,
                                      .max_sends = cfg_.discovery_max_sends,
                                      .max_targets = cfg_.max_discoveries,
                                      .answer = cfg_.answer_dht}) {}

// --- outputs -----------------------------------------------------------------------------------

void Endpoint::Impl::transmit(const Address& to, std::span<const std::uint8_t> bytes) {
    if (out_.size() >= kMaxQueuedDatagrams) {
        ++stats_.transmit_queue_full;  // the application has not polled for a long while
        return;
    }
    if (bytes.size() > kMaxDatagramSize) return;
    OutDatagram& d = out_.reuse_back();
    d.to = to;
    d.size = static_cast<std::uint16_t>(bytes.size());
    std::copy(bytes.begin(), bytes.end(), d.bytes.begin());
}

void Endpoint::Impl::event(const Event& e) { events_.push_back(e); }

void Endpoint::Impl::wants_to_send(ConnectionId id) {
    const auto index = index_of(id);
    if (index >= slots_.size() || slots_[index].generation != generation_of(id)) return;
    if (!slots_[index].ready) {
        slots_[index].ready = true;
        ready_.push_back(index);
    }
}

std::optional<Transmit> Endpoint::Impl::poll_transmit(Instant now, std::span<std::uint8_t> buffer) {
    if (buffer.size() < kMaxDatagramSize) return std::nullopt;
    if (auto t = discovery_.poll_transmit(buffer)) {
        ++stats_.datagrams_sent;
        stats_.bytes_sent += t->size;
        return t;
    }
    if (!out_.empty()) {
        const OutDatagram& d = out_.front();
        std::copy_n(d.bytes.begin(), d.size, buffer.begin());
        Transmit t{d.to, d.size};
        out_.pop_front();
        // Not shrunk: it is bounded (kMaxQueuedDatagrams) and grows that large only where
        // thousands of connections share a timer instant; freeing and regrowing it on every such
        // wake-up cost more than the datagrams (page faults, copies).
        ++stats_.datagrams_sent;
        stats_.bytes_sent += t.size;
        return t;
    }
    // Data packets are produced on demand, round robin over connections with something to send.
    for (std::size_t tries = ready_.size(); tries > 0 && !ready_.empty(); --tries) {
        const std::uint32_t index = ready_.front();
        ready_.pop_front();
        Slot& slot = slots_[index];
        slot.ready = false;
        if (!slot.conn) continue;
        auto s = services();
        core::Connection& conn = *slot.conn;
        // A packet for the relays is handed over here and the next one produced at once (up
        // to the route's share of the relay's queue, then the connection waits for
        // consume_relay_bytes); only UDP datagrams leave through the return value.
        for (std::size_t burst = 0; burst < kRelayBurst; ++burst) {
            if (s.relays_connected && !conn.direct() && !relay_room(conn.peer_dht_key())) {
                relay_blocked_.push_back(index);
                break;
            }
            std::optional<Instant> retry_at;
            const std::size_t n = conn.produce(s, now, buffer, retry_at);
            if (n == 0) {
                after(index);  // paced: its timer now includes the pacing deadline
                break;
            }
            if (conn.deliver_produced(s, std::span<const std::uint8_t>(buffer).first(n))) {
                slot.ready = true;
                ready_.push_back(index);
                ++stats_.datagrams_sent;
                stats_.bytes_sent += n;
                return Transmit{conn.address(), n};
            }
            if (burst + 1 == kRelayBurst) {
                slot.ready = true;
                ready_.push_back(index);
            }
        }
    }
    return std::nullopt;
}

std::optional<Event> Endpoint::Impl::poll_event() {
    if (events_.empty()) return std::nullopt;
    Event e = events_.front();
    events_.pop_front();
    events_.shrink(kKeepQueued);
    return e;
}

// --- slots, lookups, timers --------------------------------------------------------------------

core::Connection* Endpoint::Impl::get(ConnectionId id) {
    const auto index = index_of(id);
    if (index >= slots_.size()) return nullptr;
    Slot& s = slots_[index];
    if (!s.conn || s.generation != generation_of(id)) return nullptr;
    return s.conn.get();
}

const core::Connection* Endpoint::Impl::get(ConnectionId id) const {
    return const_cast<Impl*>(this)->get(id);
}

std::optional<std::uint32_t> Endpoint::Impl::allocate_slot() {
    if (live_ >= cfg_.max_connections) return std::nullopt;
    std::uint32_t index = 0;
    if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
    } else {
        index = static_cast<std::uint32_t>(slots_.size());
        slots_.emplace_back();
    }
    ++live_;
    return index;
}

void Endpoint::Impl::bind_address(std::uint32_t index, const Address& address) {
    if (core::has_address(address)) by_addr_.assign(address, index);
}

void Endpoint::Impl::remove(std::uint32_t index) {
    Slot& slot = slots_[index];
    if (!slot.conn) return;
    sync_relay_routes(index, true);
    by_addr_.erase(slot.conn->address(), index);
    if (auto it = by_key_.find(slot.conn->peer_key()); it != by_key_.end() && it->second == index) {
        by_key_.erase(it);
    }
    slot.conn.reset();
    slot.scheduled.reset();
    ++slot.generation;
    free_.push_back(index);
    --live_;
}

void Endpoint::Impl::after(std::uint32_t index) {
    Slot& slot = slots_[index];
    if (!slot.conn) return;
    if (slot.conn->closed()) {
        remove(index);
        prune_timers();
        return;
    }
    if (relays_live_ > 0) sync_relay_routes(index, false);
    const auto deadline = slot.conn->next_deadline(cfg_);
    // A deadline that only moved later (the silence timer moves on every packet) keeps its
    // earlier heap entry; when that comes due, handle_timeout re-arms it for the real one.
    // Re-arming here would push one stale entry per packet: a heap growing with the packet
    // rate, and O(log n) misses per packet.
    const bool later = deadline && slot.scheduled && *slot.scheduled <= *deadline;
    if (!later && deadline != slot.scheduled) {
        slot.scheduled = deadline;
        if (deadline) timers_.push(TimerEntry{*deadline, index, slot.generation});
    }
    prune_timers();
}

void Endpoint::Impl::prune_timers() {
    while (!timers_.empty()) {
        const TimerEntry& t = timers_.top();
        const Slot& slot = slots_[t.index];
        if (slot.conn && slot.generation == t.generation && slot.scheduled == t.at) return;
        timers_.pop();
    }
}

std::optional<Instant> Endpoint::Impl::next_timeout() const {
    std::optional<Instant> next = next_rotation_;
    if (!timers_.empty() && timers_.top().at < *next) next = timers_.top().at;
    if (auto d = discovery_.next_timeout(); d && *d < *next) next = d;
    for (const RelaySlot& r : relays_) {
        if (!r.client) continue;
        if (auto d = r.client->next_timeout(); d && *d < *next) next = d;
    }
    return next;
}

void Endpoint::Impl::handle_timeout(Instant now) {
    guard_.update(now);
    if (now >= next_rotation_) {
        jar_.rotate(rng_);
        next_rotation_ = now + cfg_.cookie_rotation;
    }
    // Every due timer fires once per call; a connection re-armed for `now` waits for the next
    // call, so a misbehaving timer can never spin this loop. A timer sends about one datagram:
    // when thousands of idle connections share a REQUEST instant, no more fire than the
    // datagram queue has room for (before, the excess REQUESTs were dropped); the rest stay
    // due, next_timeout() says so, and the caller sends what is queued before calling again.
    constexpr std::size_t kReserve = 64;  // left for packets the timers' events cause
    const std::size_t free = transmit_room();
    const std::size_t room = free > kReserve + 1 ? free - kReserve : 1;  // 1: always progress
    due_.clear();
    while (!timers_.empty() && timers_.top().at <= now && due_.size() < room) {
        due_.push_back(timers_.top());
        timers_.pop();
    }
    for (const TimerEntry& t : due_) {
        Slot& slot = slots_[t.index];
        if (!slot.conn || slot.generation != t.generation || slot.scheduled != t.at) continue;
        slot.scheduled.reset();
        if (const auto real = slot.conn->next_deadline(cfg_); real && *real <= now) {
            auto s = services();
            slot.conn->on_timeout(s, now);
        }
        after(t.index);  // re-arms (for the real deadline if this entry was an early one)
    }
    incoming_.expire(now);
    discovery_.handle_timeout(now);
    take_discovery_events();
    for (std::size_t i = 0; i < relays_.size(); ++i) {
        if (!relays_[i].client) continue;
        relays_[i].client->handle_timeout(now);
        take_relay_events(now, i);
    }
}

// --- discovery ---------------------------------------------------------------------------------

Result<void> Endpoint::Impl::discover(Instant now, const PublicKey& peer_key,
                                      const Address& address) {
    auto started = discovery_.restart(now, address);
    if (!started) return tl::unexpected(Error::kDiscoveryBusy);
    auto it = std::find_if(discovering_.begin(), discovering_.end(),
                           [&](const auto& d) { return d.first == address; });
    if (it != discovering_.end()) {
        it->second = peer_key;
    } else {
        discovering_.emplace_back(address, peer_key);
    }
    return {};
}

bool Endpoint::Impl::stop_discovery(const Address& address) {
    std::erase_if(discovering_, [&](const auto& d) { return d.first == address; });
    return discovery_.forget(address);
}

void Endpoint::Impl::take_discovery_events() {
    while (auto e = discovery_.poll_event()) {
        const Address& address =
            std::visit([](const auto& d) -> const Address& { return d.address; }, *e);
        auto it = std::find_if(discovering_.begin(), discovering_.end(),
                               [&](const auto& d) { return d.first == address; });
        if (it == discovering_.end()) continue;  // stopped meanwhile
        const PublicKey peer_key = it->second;
        discovering_.erase(it);
        if (const auto* learnt = std::get_if<dht::KeyLearned>(&*e)) {
            events_.emplace_back(DhtKeyLearned{peer_key, learnt->dht_pk, address});
        } else if (const auto* failed = std::get_if<dht::NoAnswer>(&*e)) {
            events_.emplace_back(DiscoveryFailed{peer_key, address, failed->sends});
        }
    }
}

void Endpoint::Impl::withdraw_incoming(std::uint64_t request) {
    // Its kIncoming event, if the application has not polled it yet, would only lead to
    // kNoSuchRequest: withdraw it, so unpolled events stay bounded by max_pending_incoming.
    events_.erase_first([request](const Event& e) {
        const auto* incoming = e.get_if<IncomingRequest>();
        return incoming != nullptr && incoming->request.value == request;
    });
}

std::optional<ConnectionId> Endpoint::Impl::find(const PublicKey& peer_key) const {
    auto it = by_key_.find(peer_key);
    if (it == by_key_.end()) return std::nullopt;
    return make_id(it->second, slots_[it->second].generation);
}

std::vector<ConnectionId> Endpoint::Impl::connections() const {
    std::vector<ConnectionId> ids;
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].conn) ids.push_back(make_id(i, slots_[i].generation));
    }
    return ids;
}

// --- commands ----------------------------------------------------------------------------------

Result<ConnectionId> Endpoint::Impl::connect(Instant now, const PublicKey& peer_key,
                                             const PublicKey& peer_dht_key,
                                             const Address& address) {
    if (!core::has_address(address) && relays_live_ == 0) return tl::unexpected(Error::kNoRoute);
    if (by_key_.contains(peer_key)) return tl::unexpected(Error::kAlreadyConnected);
    core::Peer peer{peer_key, peer_dht_key, {}};
    crypto::SharedKey dht_shared;
    if (!peer.long_term_shared.precompute(peer_key, long_term_.secret_key) ||
        !dht_shared.precompute(peer_dht_key, dht_.secret_key)) {
        return tl::unexpected(Error::kInvalidKey);
    }
    auto index = allocate_slot();
    if (!index) return tl::unexpected(Error::kTooManyConnections);
    Slot& slot = slots_[*index];
    const ConnectionId id = make_id(*index, slot.generation);
    auto s = services();
    slot.conn =
        std::make_unique<core::Connection>(s, id, now, std::move(peer), address, dht_shared);
    by_key_[peer_key] = *index;
    bind_address(*index, address);
    after(*index);
    return id;
}

Result<ConnectionId> Endpoint::Impl::accept(Instant now, std::uint64_t request) {
    auto p = incoming_.take(now, request);
    if (!p) return tl::unexpected(Error::kNoSuchRequest);
    return create_incoming(now, p->hs, p->from, p->long_term_shared);
}

Result<void> Endpoint::Impl::reject(std::uint64_t request) {
    if (!incoming_.remove(request)) return tl::unexpected(Error::kNoSuchRequest);
    return {};
}

Result<ConnectionId> Endpoint::Impl::create_incoming(Instant now,
                                                     const handshake::HandshakeInfo& hs,
                                                     const Address& from,
                                                     const crypto::SharedKey& long_term_shared) {
    if (by_key_.contains(hs.peer_long_term_pk)) return tl::unexpected(Error::kAlreadyConnected);
    auto index = allocate_slot();
    if (!index) return tl::unexpected(Error::kTooManyConnections);
    Slot& slot = slots_[*index];
    const ConnectionId id = make_id(*index, slot.generation);
    auto s = services();
    // A handshake that came over UDP makes the connection direct from the start.
    const core::Via via{core::has_address(from) ? RouteKind::kUdp : RouteKind::kNone, {}};
    slot.conn = std::make_unique<core::Connection>(s, id, now, hs, from, via, long_term_shared);
    by_key_[hs.peer_long_term_pk] = *index;
    bind_address(*index, from);
    after(*index);
    return id;
}

Result<void> Endpoint::Impl::close(Instant now, ConnectionId id) {
    core::Connection* conn = get(id);
    if (conn == nullptr) return tl::unexpected(Error::kUnknownConnection);
    auto s = services();
    conn->close(s, now, CloseReason::kClosedLocally);
    after(index_of(id));
    return {};
}

// --- the public facade -------------------------------------------------------------------------

Endpoint::Endpoint(KeyPair long_term, KeyPair dht, Rng& rng, Instant now, EndpointConfig config)
    : impl_(std::make_unique<Impl>(std::move(long_term), std::move(dht), rng, now,
                                   std::move(config))) {}
Endpoint::~Endpoint() = default;
Endpoint::Endpoint(Endpoint&&) noexcept = default;
Endpoint& Endpoint::operator=(Endpoint&&) noexcept = default;

const PublicKey& Endpoint::public_key() const { return impl_->long_term_.public_key; }
const PublicKey& Endpoint::dht_public_key() const { return impl_->dht_.public_key; }

void Endpoint::handle_datagram(Instant now, const Address& from,
                               std::span<const std::uint8_t> bytes) {
    impl_->handle_datagram(now, from, bytes);
}
void Endpoint::handle_timeout(Instant now) { impl_->handle_timeout(now); }
std::optional<Instant> Endpoint::next_timeout() const { return impl_->next_timeout(); }
std::optional<Transmit> Endpoint::poll_transmit(Instant now, std::span<std::uint8_t> buffer) {
    return impl_->poll_transmit(now, buffer);
}
std::optional<Event> Endpoint::poll_event() { return impl_->poll_event(); }
Result<void> Endpoint::discover(Instant now, const PublicKey& peer_key, const Address& address) {
    return impl_->discover(now, peer_key, address);
}
bool Endpoint::stop_discovery(const Address& address) { return impl_->stop_discovery(address); }
const DhtStats& Endpoint::dht_stats() const { return impl_->dht_stats(); }

Result<ConnectionId> Endpoint::connect(Instant now, const PublicKey& peer_key,
                                       const PublicKey& peer_dht_key, const Address& address) {
    return impl_->connect(now, peer_key, peer_dht_key, address);
}
Result<ConnectionId> Endpoint::connect(Instant now, const PublicKey& peer_key,
                                       const PublicKey& peer_dht_key) {
    return impl_->connect(now, peer_key, peer_dht_key, Address{});
}
Result<RelayId> Endpoint::add_relay(Instant now, const PublicKey& relay_key) {
    return impl_->add_relay(now, relay_key);
}
Result<void> Endpoint::remove_relay(Instant now, RelayId relay) {
    return impl_->remove_relay(now, relay);
}
Result<void> Endpoint::relay_opened(Instant now, RelayId relay) {
    return impl_->relay_opened(now, relay);
}
void Endpoint::handle_relay_bytes(Instant now, RelayId relay, std::span<const std::uint8_t> bytes) {
    impl_->handle_relay_bytes(now, relay, bytes);
}
void Endpoint::relay_closed(Instant now, RelayId relay) { impl_->relay_closed(now, relay); }
std::span<const std::uint8_t> Endpoint::relay_pending(RelayId relay) const {
    return impl_->relay_pending(relay);
}
void Endpoint::consume_relay_bytes(RelayId relay, std::size_t n) {
    impl_->consume_relay_bytes(relay, n);
}
Result<RelayInfo> Endpoint::relay_info(RelayId relay) const { return impl_->relay_info(relay); }
std::vector<RelayId> Endpoint::relays() const { return impl_->relays(); }

Result<ConnectionId> Endpoint::accept(Instant now, RequestId request) {
    return impl_->accept(now, request.value);
}
Result<void> Endpoint::reject(RequestId request) { return impl_->reject(request.value); }
Result<void> Endpoint::close(Instant now, ConnectionId id) { return impl_->close(now, id); }

}  // namespace netcrypto
