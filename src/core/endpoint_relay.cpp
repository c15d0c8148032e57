// TCP relays inside the endpoint (docs/relay.md, spec tcp_relay.md §7): one relay::Client per
// relay session, routes to every connection's peer (by DHT key) on every connected relay,
// net_crypto packets in and out through them. The caller owns the sockets.
//
// Sending (Outputs::relay_send, used by connections that are not directly connected): through
// the relays whose route to the peer is online, in order, until one has room for the packet; if
// none has an online route, out-of-band through every connected relay (packets of at most 1024
// bytes). A relay that had no room counts the packet
// in RelayStats::not_sent; net_crypto's retransmission covers it.
//
// Receiving: routed data and OOB packets from a key with a connection go to that connection as
// UDP packets would; from a stranger only a cookie request whose DHT key is the sender's (the
// answer goes back OOB) and a handshake (an incoming request) are taken, as in c-toxcore.
#include <algorithm>

#include "core/endpoint_impl.hpp"

namespace netcrypto {

namespace {

RelayCloseReason close_reason(relay::CloseReason r) {
    switch (r) {
        case relay::CloseReason::kHandshakeTimeout:
            return RelayCloseReason::kHandshakeTimeout;
        case relay::CloseReason::kBadHandshake:
            return RelayCloseReason::kBadHandshake;
        case relay::CloseReason::kFrameTooLong:
        case relay::CloseReason::kFrameTooShort:
        case relay::CloseReason::kBadTag:
            return RelayCloseReason::kBadFrame;
        case relay::CloseReason::kPingTimeout:
            return RelayCloseReason::kPingTimeout;
        case relay::CloseReason::kEndOfStream:
            return RelayCloseReason::kEndOfStream;
        case relay::CloseReason::kByCaller:
            return RelayCloseReason::kRemoved;
    }
    return RelayCloseReason::kEndOfStream;
}

/// Adds a session's counters to the totals kept across sessions.
void accumulate(RelayStats& total, const relay::ClientStats& c) {
    total.frames_received += c.frames_received;
    total.frames_sent += c.frames_sent;
    for (std::size_t i = 0; i < total.dropped.size(); ++i) total.dropped[i] += c.dropped[i];
}

constexpr std::size_t kMaxOobData = 1024;

}  // namespace

// --- ids ---------------------------------------------------------------------------------------

RelayId Endpoint::Impl::relay_id(std::size_t index) const {
    return RelayId{(std::uint32_t{relays_[index].generation} << 16U) |
                   static_cast<std::uint32_t>(index)};
}

Endpoint::Impl::RelaySlot* Endpoint::Impl::relay_slot(RelayId id) {
    const std::size_t index = id.value & 0xFFFFU;
    if (index >= relays_.size()) return nullptr;
    RelaySlot& r = relays_[index];
    if (!r.in_use || r.generation != (id.value >> 16U)) return nullptr;
    return &r;
}

const Endpoint::Impl::RelaySlot* Endpoint::Impl::relay_slot(RelayId id) const {
    return const_cast<Impl*>(this)->relay_slot(id);
}

// --- commands ----------------------------------------------------------------------------------

Result<RelayId> Endpoint::Impl::add_relay(Instant /*now*/, const PublicKey& relay_key) {
    if (relays_live_ >= cfg_.max_relays) return tl::unexpected(Error::kTooManyRelays);
    crypto::SharedKey probe;
    if (!probe.precompute(relay_key, dht_.secret_key)) return tl::unexpected(Error::kInvalidKey);
    auto it =
        std::find_if(relays_.begin(), relays_.end(), [](const RelaySlot& r) { return !r.in_use; });
    if (it == relays_.end()) it = relays_.insert(relays_.end(), RelaySlot{});
    RelaySlot& r = *it;
    const auto generation = static_cast<std::uint16_t>(r.generation + 1);
    r = RelaySlot{};
    r.in_use = true;
    r.generation = generation;
    r.key = relay_key;
    ++relays_live_;
    if (relays_live_ == 1) {
        // The first relay: index every connection by its peer's DHT key from now on.
        for (std::uint32_t i = 0; i < slots_.size(); ++i) sync_relay_routes(i, false);
    }
    return relay_id(static_cast<std::size_t>(it - relays_.begin()));
}

Result<void> Endpoint::Impl::remove_relay(Instant /*now*/, RelayId id) {
    RelaySlot* r = relay_slot(id);
    if (r == nullptr) return tl::unexpected(Error::kUnknownRelay);
    const auto index = static_cast<std::size_t>(r - relays_.data());
    if (r->client) end_relay_session(index, RelayCloseReason::kRemoved);
    r->in_use = false;
    r->client.reset();
    --relays_live_;
    if (relays_live_ == 0) {
        by_dht_.clear();
        routed_dht_.clear();
        relay_blocked_.clear();
    }
    return {};
}

Result<void> Endpoint::Impl::relay_opened(Instant now, RelayId id) {
    RelaySlot* r = relay_slot(id);
    if (r == nullptr) return tl::unexpected(Error::kUnknownRelay);
    const auto index = static_cast<std::size_t>(r - relays_.data());
    if (r->client) end_relay_session(index, RelayCloseReason::kEndOfStream);
    // c-toxcore connects to relays with its DHT key pair; so do we (peers route to it).
    r->client = std::make_unique<relay::Client>(now, dht_, r->key, rng_);
    ++r->stats.connects;
    const RelayState from = r->state;
    r->state = RelayState::kHandshaking;
    events_.emplace_back(RelayStatusChanged{id, r->key, from, r->state, RelayCloseReason::kNone});
    return {};
}

void Endpoint::Impl::handle_relay_bytes(Instant now, RelayId id,
                                        std::span<const std::uint8_t> bytes) {
    RelaySlot* r = relay_slot(id);
    if (r == nullptr || !r->client) return;
    r->client->handle_bytes(now, bytes);
    take_relay_events(now, static_cast<std::size_t>(r - relays_.data()));
}

void Endpoint::Impl::relay_closed(Instant now, RelayId id) {
    RelaySlot* r = relay_slot(id);
    if (r == nullptr || !r->client) return;
    r->client->handle_eof(now);
    take_relay_events(now, static_cast<std::size_t>(r - relays_.data()));
}

std::span<const std::uint8_t> Endpoint::Impl::relay_pending(RelayId id) const {
    const RelaySlot* r = relay_slot(id);
    if (r == nullptr || !r->client) return {};
    return r->client->pending_write();
}

void Endpoint::Impl::consume_relay_bytes(RelayId id, std::size_t n) {
    RelaySlot* r = relay_slot(id);
    if (r == nullptr || !r->client) return;
    r->client->consume_write(std::min(n, r->client->pending_write_bytes()));
    // Room on the relay again: connections that waited for it may produce (poll_transmit).
    for (std::uint32_t index : relay_blocked_) {
        Slot& slot = slots_[index];
        if (slot.conn && !slot.ready) {
            slot.ready = true;
            ready_.push_back(index);
        }
    }
    relay_blocked_.clear();
}

Result<RelayInfo> Endpoint::Impl::relay_info(RelayId id) const {
    const RelaySlot* r = relay_slot(id);
    if (r == nullptr) return tl::unexpected(Error::kUnknownRelay);
    RelayInfo info;
    info.relay_key = r->key;
    info.state = r->state;
    info.last_close = r->last_close;
    info.stats = r->stats;
    if (r->client) {
        accumulate(info.stats, r->client->stats());
        info.routes = r->client->routes();
        info.pending_write_bytes = r->client->pending_write_bytes();
        for (const auto& [dht, index] : by_dht_) {
            const auto route = r->client->route(dht);
            if (route && route->state == relay::RouteState::kOnline) ++info.online_routes;
        }
    }
    return info;
}

std::vector<RelayId> Endpoint::Impl::relays() const {
    std::vector<RelayId> ids;
    for (std::size_t i = 0; i < relays_.size(); ++i) {
        if (relays_[i].in_use) ids.push_back(relay_id(i));
    }
    return ids;
}

// --- sessions ----------------------------------------------------------------------------------

void Endpoint::Impl::end_relay_session(std::size_t index, RelayCloseReason reason) {
    RelaySlot& r = relays_[index];
    if (!r.client) return;
    accumulate(r.stats, r.client->stats());
    if (r.state == RelayState::kConnected) --relays_connected_;
    const RelayState from = r.state;
    r.state = RelayState::kDisconnected;
    r.last_close = reason;
    r.client.reset();
    events_.emplace_back(RelayStatusChanged{relay_id(index), r.key, from, r.state, reason});
}

void Endpoint::Impl::take_relay_events(Instant now, std::size_t index) {
    // Bounded: a session holds at most ClientConfig::max_events events, and handling one never
    // adds to this session's queue more than it removes (answers go to the write queue).
    for (std::size_t budget = relay::ClientConfig{}.max_events + 1; budget > 0; --budget) {
        RelaySlot& r = relays_[index];
        if (!r.client) return;
        auto e = r.client->poll_event();
        if (!e) return;
        if (std::holds_alternative<relay::Confirmed>(*e)) {
            ++r.stats.confirmations;
            ++relays_connected_;
            r.state = RelayState::kConnected;
            events_.emplace_back(RelayStatusChanged{relay_id(index), r.key,
                                                    RelayState::kHandshaking, r.state,
                                                    RelayCloseReason::kNone});
            request_all_routes(index);
        } else if (const auto* data = std::get_if<relay::Data>(&*e)) {
            ++relays_[index].stats.data_received;
            relay_packet(now, index, data->pk, data->bytes);
        } else if (const auto* oob = std::get_if<relay::OobReceived>(&*e)) {
            ++relays_[index].stats.oob_received;
            relay_packet(now, index, oob->pk, oob->bytes);
        } else if (const auto* closed = std::get_if<relay::Closed>(&*e)) {
            end_relay_session(index, close_reason(closed->reason));
            return;
        }
        // RouteResponse, RouteRefused, Connected, Disconnected: the client keeps the route
        // states that relay_send reads; nothing else to do.
    }
}

void Endpoint::Impl::request_all_routes(std::size_t index) {
    relay::Client& client = *relays_[index].client;
    for (const auto& [dht, conn_index] : by_dht_) {
        if (!client.route_request(dht)) return;  // the relay's 240 slots are full
    }
}

void Endpoint::Impl::sync_relay_routes(std::uint32_t index, bool gone) {
    if (relays_live_ == 0) return;
    if (routed_dht_.size() <= index) routed_dht_.resize(slots_.size());
    std::optional<PublicKey>& routed = routed_dht_[index];
    const core::Connection* conn = slots_[index].conn.get();
    const bool keep = !gone && conn != nullptr && !conn->closed();
    if (keep && routed && *routed == conn->peer_dht_key()) return;  // the common case
    if (routed) {
        if (auto it = by_dht_.find(*routed); it != by_dht_.end() && it->second == index) {
            by_dht_.erase(it);
        }
        for (RelaySlot& r : relays_) {
            if (r.client) (void)r.client->disconnect(*routed);
        }
        routed.reset();
    }
    if (!keep) return;
    routed = conn->peer_dht_key();
    by_dht_[*routed] = index;
    for (RelaySlot& r : relays_) {
        if (r.client && r.state == RelayState::kConnected) (void)r.client->route_request(*routed);
    }
}

// --- packets -----------------------------------------------------------------------------------

bool Endpoint::Impl::relay_send(const PublicKey& dht, std::span<const std::uint8_t> bytes) {
    bool full = false;
    for (RelaySlot& r : relays_) {
        if (r.state != RelayState::kConnected) continue;
        const auto route = r.client->route(dht);
        if (!route || route->state != relay::RouteState::kOnline) continue;
        if (r.client->send_data(dht, bytes)) {
            ++r.stats.data_sent;
            return true;
        }
        full = true;
    }
    // As c-toxcore: a packet an online route had no room for is not sent out-of-band instead.
    bool sent = false;
    if (!full && bytes.size() <= kMaxOobData) {
        for (RelaySlot& r : relays_) {
            if (r.state != RelayState::kConnected) continue;
            if (r.client->send_oob(dht, bytes)) {
                ++r.stats.oob_sent;
                sent = true;
            }
        }
    }
    if (!sent) {
        for (RelaySlot& r : relays_) {
            if (r.state == RelayState::kConnected) {
                ++r.stats.not_sent;
                break;
            }
        }
    }
    return sent;
}

bool Endpoint::Impl::relay_room(const PublicKey& dht) const {
    constexpr std::size_t kPacket = kMaxDatagramSize + 16;  // a data frame with its overhead
    for (const RelaySlot& r : relays_) {
        if (r.state != RelayState::kConnected) continue;
        const auto route = r.client->route(dht);
        if (!route || route->state != relay::RouteState::kOnline) continue;
        return route->queued_bytes + kPacket <= r.client->config().max_route_write_bytes;
    }
    return true;  // out-of-band: bounded by the relay's queue, counted when refused
}

void Endpoint::Impl::relay_packet(Instant now, std::size_t index, const PublicKey& from,
                                  std::span<const std::uint8_t> bytes) {
    auto s = services();
    if (bytes.empty() || bytes.size() > wire::kMaxPacketSize) {
        ++relays_[index].stats.unmatched;
        return;
    }
    const std::uint8_t type = bytes[0];
    const auto it = by_dht_.find(from);
    const std::uint32_t* bound = it != by_dht_.end() ? &it->second : nullptr;
    if (type == wire::kCookieRequestType) {
        relay_cookie_request(now, index, from, bytes, bound);
        return;
    }
    if (type == wire::kHandshakeType) {
        ++stats_.handshakes_received;
        if (bytes.size() != wire::kHandshakeSize) {
            s.drop(DropReason::kBadLength);
            return;
        }
        // A connection's relay path is its peer's DHT key, not an address: a handshake from a
        // stranger opens an incoming request with no UDP address (Address{}).
        handle_handshake(now, Address{}, bound, bytes,
                         core::Via{RouteKind::kTcpRelay, relay_id(index)});
        return;
    }
    if (bound == nullptr || (type != wire::kCookieResponseType && type != wire::kDataType)) {
        ++relays_[index].stats.unmatched;
        return;
    }
    if (bytes.size() <= wire::kMinCryptoPacketSize) {
        s.drop(DropReason::kBadLength);
        return;
    }
    const std::uint32_t conn_index = *bound;
    core::Connection& conn = *slots_[conn_index].conn;
    bool valid = false;
    if (type == wire::kCookieResponseType) {
        valid = conn.on_cookie_response(s, now, bytes);
    } else {
        ++stats_.data_packets_received;
        valid = conn.on_data(s, now, bytes);
    }
    if (valid) conn.heard(s, now, core::Via{RouteKind::kTcpRelay, relay_id(index)});
    after(conn_index);
}

void Endpoint::Impl::relay_cookie_request(Instant now, std::size_t index, const PublicKey& from,
                                          std::span<const std::uint8_t> bytes,
                                          const std::uint32_t* bound) {
    ++stats_.cookie_requests_received;
    auto s = services();
    if (bytes.size() != wire::kCookieRequestSize) {
        s.drop(DropReason::kBadLength);
        return;
    }
    // From a stranger, as c-toxcore: only a request naming the sender's own DHT key (the
    // relay vouches for the sender's key; the answer goes only to it).
    if (bound == nullptr && !std::equal(from.bytes.begin(), from.bytes.end(), bytes.begin() + 1)) {
        ++relays_[index].stats.unmatched;
        return;
    }
    const auto response = answer_cookie_request(now, bytes);
    if (!response) return;
    relay::Client& client = *relays_[index].client;
    const auto route = client.route(from);
    const bool routed = route && route->state == relay::RouteState::kOnline;
    if (routed ? client.send_data(from, *response).has_value()
               : client.send_oob(from, *response).has_value()) {
        ++(routed ? relays_[index].stats.data_sent : relays_[index].stats.oob_sent);
        ++stats_.cookie_responses_sent;
    } else {
        ++relays_[index].stats.not_sent;
    }
}

}  // namespace netcrypto
