// relay::Client (client.hpp): construction, timers, the bounded write queue, commands and
// routes. The receive side is in client_receive.cpp.
#include "core/relay/client.hpp"

#include <algorithm>
#include <utility>

namespace netcrypto::relay {

std::string_view to_string(ClientState s) {
    switch (s) {
        case ClientState::kConnecting:
            return "connecting";
        case ClientState::kConfirming:
            return "confirming";
        case ClientState::kConfirmed:
            return "confirmed";
        case ClientState::kClosed:
            return "closed";
    }
    return "unknown";
}

std::string_view to_string(CloseReason r) {
    switch (r) {
        case CloseReason::kHandshakeTimeout:
            return "handshake-timeout";
        case CloseReason::kBadHandshake:
            return "bad-handshake";
        case CloseReason::kFrameTooLong:
            return "frame-too-long";
        case CloseReason::kFrameTooShort:
            return "frame-too-short";
        case CloseReason::kBadTag:
            return "bad-tag";
        case CloseReason::kPingTimeout:
            return "ping-timeout";
        case CloseReason::kEndOfStream:
            return "end-of-stream";
        case CloseReason::kByCaller:
            return "by-caller";
    }
    return "unknown";
}

std::string_view to_string(ClientError e) {
    switch (e) {
        case ClientError::kClosed:
            return "connection closed";
        case ClientError::kNotReady:
            return "handshake not finished";
        case ClientError::kTooManyRoutes:
            return "too many routes";
        case ClientError::kNoRoute:
            return "no route to that key";
        case ClientError::kNotOnline:
            return "route not online";
        case ClientError::kBadSize:
            return "data size out of range";
        case ClientError::kQueueFull:
            return "write queue full";
        case ClientError::kRouteQueueFull:
            return "route's write queue share full";
    }
    return "unknown";
}

Client::Client(Instant now, const KeyPair& self, const PublicKey& relay_pk, Rng& rng,
               const ClientConfig& cfg)
    : self_pk_(self.public_key),
      relay_pk_(relay_pk),
      rng_(rng),
      cfg_(cfg),
      handshake_deadline_(now + cfg.handshake_timeout) {
    cfg_.max_routes = std::min(cfg_.max_routes, kMaxRoutes);
    std::array<std::uint8_t, kHandshakeRequestSize> request{};
    auto hs = create_client_handshake(self, relay_pk, rng_, request);
    if (!hs) {
        // The relay key is unusable: no handshake can succeed.
        close_with(CloseReason::kBadHandshake);
        return;
    }
    handshake_.emplace(std::move(*hs));
    out_.assign(request.begin(), request.end());
}

// --- timers ---------------------------------------------------------------------------------

void Client::handle_timeout(Instant now) {
    if (state_ == ClientState::kClosed) return;
    if (state_ != ClientState::kConfirmed && now >= handshake_deadline_) {
        close_with(CloseReason::kHandshakeTimeout);
        return;
    }
    if (state_ == ClientState::kConnecting) return;
    if (outstanding_ping_) {
        if (now >= last_ping_sent_ + cfg_.ping_timeout) close_with(CloseReason::kPingTimeout);
        return;
    }
    if (now >= last_ping_sent_ + cfg_.ping_interval) send_ping(now);
}

std::optional<Instant> Client::next_timeout() const {
    switch (state_) {
        case ClientState::kClosed:
            return std::nullopt;
        case ClientState::kConnecting:
            return handshake_deadline_;
        case ClientState::kConfirming:
            return outstanding_ping_
                       ? std::min(handshake_deadline_, last_ping_sent_ + cfg_.ping_timeout)
                       : handshake_deadline_;
        case ClientState::kConfirmed:
            return last_ping_sent_ + (outstanding_ping_ ? cfg_.ping_timeout : cfg_.ping_interval);
    }
    return std::nullopt;
}

void Client::send_ping(Instant now) {
    PingId id{};
    // Never id 0: a c-toxcore relay closes the connection of a client answering PONG 0.
    while (std::all_of(id.begin(), id.end(), [](std::uint8_t b) { return b == 0; })) {
        rng_.fill(id);
    }
    // A ping that does not fit still counts as sent: if the queue stays full the pong never
    // comes and the ping timeout closes a connection that no longer drains.
    if (queue_packet(PingPacket{id}, Lane::kControl)) ++stats_.pings_sent;
    outstanding_ping_ = id;
    last_ping_sent_ = now;
}

// --- write queue ------------------------------------------------------------------------------

bool Client::queue_packet(const Packet& p, Lane lane) {
    std::array<std::uint8_t, kMaxPacketSize> plain{};
    const std::size_t n = encode_packet(p, plain);
    if (n == 0) return false;
    const std::size_t frame_size = kFrameHeaderSize + crypto::kMacSize + n;
    const std::size_t limit =
        cfg_.max_write_bytes +
        (lane == Lane::kControl ? cfg_.control_reserve_bytes : std::size_t{0});
    if (pending_write_bytes() + frame_size > limit) {
        drop(DropReason::kWriteQueueFull);
        return false;
    }
    if (out_head_ > 0 && out_head_ >= out_.size() / 2) {
        out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_head_));
        out_head_ = 0;
    }
    const std::size_t at = out_.size();
    out_.resize(at + frame_size);
    const std::size_t written =
        seal_frame(send_key_, send_nonce_, std::span(plain).first(n), std::span(out_).subspan(at));
    crypto::wipe(plain);
    if (written != frame_size) {
        out_.resize(at);
        return false;
    }
    ++stats_.frames_sent;
    return true;
}

std::span<const std::uint8_t> Client::pending_write() const {
    return std::span(out_).subspan(out_head_);
}

void Client::consume_write(std::size_t n) {
    n = std::min(n, pending_write_bytes());
    out_head_ += n;
    written_total_ += n;
    if (out_head_ == out_.size()) {
        out_.clear();
        out_head_ = 0;
    }
    release_written();
}

std::size_t Client::poll_write(std::span<std::uint8_t> out) {
    const auto pending = pending_write();
    const std::size_t n = std::min(out.size(), pending.size());
    std::copy_n(pending.begin(), n, out.begin());
    consume_write(n);
    return n;
}

void Client::release_written() {
    while (!queued_data_.empty() && queued_data_.front().end <= written_total_) {
        const QueuedData q = queued_data_.front();
        queued_data_.pop_front();
        Route& r = routes_[q.route];
        if (r.in_use && r.generation == q.generation) r.queued_bytes -= q.size;
    }
}

// --- routes -----------------------------------------------------------------------------------

Client::Route* Client::find_route(const PublicKey& pk) {
    for (Route& r : routes_) {
        if (r.in_use && r.pk == pk) return &r;
    }
    return nullptr;
}

const Client::Route* Client::find_route(const PublicKey& pk) const {
    for (const Route& r : routes_) {
        if (r.in_use && r.pk == pk) return &r;
    }
    return nullptr;
}

Client::Route* Client::find_route_by_id(std::uint8_t connection_id) {
    if (connection_id < kFirstConnectionId) return nullptr;
    for (Route& r : routes_) {
        if (r.in_use && r.state != RouteState::kRequested && r.connection_id == connection_id) {
            return &r;
        }
    }
    return nullptr;
}

void Client::free_route(Route& r) {
    const std::uint32_t generation = r.generation + 1;
    r = Route{};
    r.generation = generation;
}

std::optional<RouteInfo> Client::route(const PublicKey& pk) const {
    const Route* r = find_route(pk);
    if (r == nullptr || r->abandoned) return std::nullopt;
    return RouteInfo{r->state, r->connection_id, r->queued_bytes};
}

std::size_t Client::routes() const {
    return static_cast<std::size_t>(std::count_if(
        routes_.begin(), routes_.end(), [](const Route& r) { return r.in_use && !r.abandoned; }));
}

// --- commands ---------------------------------------------------------------------------------

tl::expected<void, ClientError> Client::route_request(const PublicKey& pk) {
    if (state_ == ClientState::kClosed) return tl::unexpected(ClientError::kClosed);
    Route* existing = find_route(pk);
    if (existing != nullptr && !existing->abandoned) return {};
    if (existing != nullptr) {
        // Asked again before the relay answered the abandoned request: take it back.
        existing->abandoned = false;
        return {};
    }
    const auto used = static_cast<std::size_t>(
        std::count_if(routes_.begin(), routes_.end(), [](const Route& r) { return r.in_use; }));
    auto slot =
        std::find_if(routes_.begin(), routes_.end(), [](const Route& r) { return !r.in_use; });
    if (used >= cfg_.max_routes || slot == routes_.end()) {
        return tl::unexpected(ClientError::kTooManyRoutes);
    }
    slot->in_use = true;
    slot->pk = pk;
    if (state_ != ClientState::kConnecting) {
        if (!queue_packet(RoutingRequest{pk}, Lane::kControl)) {
            free_route(*slot);
            return tl::unexpected(ClientError::kQueueFull);
        }
        slot->request_sent = true;
    }
    return {};
}

tl::expected<void, ClientError> Client::send_data(const PublicKey& pk,
                                                  std::span<const std::uint8_t> b) {
    if (state_ == ClientState::kClosed) return tl::unexpected(ClientError::kClosed);
    Route* r = find_route(pk);
    if (r == nullptr || r->abandoned) return tl::unexpected(ClientError::kNoRoute);
    if (r->state != RouteState::kOnline) return tl::unexpected(ClientError::kNotOnline);
    if (b.empty() || b.size() > kMaxRoutedPayloadSize) return tl::unexpected(ClientError::kBadSize);
    const std::size_t frame_size = kFrameHeaderSize + crypto::kMacSize + 1 + b.size();
    if (r->queued_bytes + frame_size > cfg_.max_route_write_bytes) {
        drop(DropReason::kRouteQueueFull);
        return tl::unexpected(ClientError::kRouteQueueFull);
    }
    if (!queue_packet(RoutedData{r->connection_id, b}, Lane::kData)) {
        return tl::unexpected(ClientError::kQueueFull);
    }
    r->queued_bytes += frame_size;
    const auto index = static_cast<std::size_t>(r - routes_.data());
    queued_data_.push_back(
        QueuedData{written_total_ + pending_write_bytes(), index, r->generation, frame_size});
    ++stats_.data_sent;
    return {};
}

tl::expected<void, ClientError> Client::send_oob(const PublicKey& pk,
                                                 std::span<const std::uint8_t> b) {
    if (state_ == ClientState::kClosed) return tl::unexpected(ClientError::kClosed);
    if (state_ == ClientState::kConnecting) return tl::unexpected(ClientError::kNotReady);
    if (b.empty() || b.size() > kMaxOobDataSize) return tl::unexpected(ClientError::kBadSize);
    if (!queue_packet(OobSend{pk, b}, Lane::kData)) return tl::unexpected(ClientError::kQueueFull);
    ++stats_.oob_sent;
    return {};
}

tl::expected<void, ClientError> Client::disconnect(const PublicKey& pk) {
    if (state_ == ClientState::kClosed) return tl::unexpected(ClientError::kClosed);
    Route* r = find_route(pk);
    if (r == nullptr || r->abandoned) return tl::unexpected(ClientError::kNoRoute);
    if (r->state == RouteState::kRequested) {
        if (r->request_sent) {
            // The relay will still answer with an id; release it then.
            r->abandoned = true;
        } else {
            free_route(*r);
        }
        return {};
    }
    // Only ids we hold are named: a DISCONNECT for an id the relay did not give us would make
    // it close our connection. If the queue is full, the relay keeps the slot until we leave.
    (void)queue_packet(DisconnectNotification{r->connection_id}, Lane::kControl);
    free_route(*r);
    return {};
}

void Client::close() {
    if (state_ != ClientState::kClosed) close_with(CloseReason::kByCaller);
}

void Client::close_with(CloseReason reason) {
    state_ = ClientState::kClosed;
    close_reason_ = reason;
    handshake_.reset();
    out_.clear();
    out_head_ = 0;
    queued_data_.clear();
    for (Route& r : routes_) free_route(r);
    outstanding_ping_.reset();
    // Closed always fits: it is the last event and is never counted against the bound.
    events_.emplace_back(Closed{reason});
}

bool Client::push_event(ClientEvent e, std::size_t payload_bytes) {
    if (events_.size() >= cfg_.max_events || event_bytes_ + payload_bytes > cfg_.max_event_bytes) {
        drop(DropReason::kEventQueueFull);
        return false;
    }
    event_bytes_ += payload_bytes;
    events_.push_back(std::move(e));
    return true;
}

std::optional<ClientEvent> Client::poll_event() {
    if (events_.empty()) return std::nullopt;
    ClientEvent e = std::move(events_.front());
    events_.pop_front();
    if (const auto* d = std::get_if<Data>(&e)) event_bytes_ -= d->bytes.size();
    if (const auto* o = std::get_if<OobReceived>(&e)) event_bytes_ -= o->bytes.size();
    return e;
}

}  // namespace netcrypto::relay
