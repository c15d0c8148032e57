// relay::Client (client.hpp), receive side: the relay's handshake response, frames, and what
// each packet from the relay does. Frame errors close the connection; malformed or unexpected
// packets are dropped and counted (docs/relay.md, "dropped or fatal").
#include <algorithm>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/relay/client.hpp"

namespace netcrypto::relay {
namespace {

CloseReason close_reason_for(DropReason r) {
    switch (r) {
        case DropReason::kFrameTooLong:
            return CloseReason::kFrameTooLong;
        case DropReason::kFrameTooShort:
            return CloseReason::kFrameTooShort;
        default:
            return CloseReason::kBadTag;
    }
}

}  // namespace

void Client::handle_bytes(Instant now, std::span<const std::uint8_t> bytes) {
    if (state_ == ClientState::kClosed) return;
    if (state_ == ClientState::kConnecting) {
        handle_handshake_bytes(now, bytes);
        if (state_ != ClientState::kConfirming) return;
    }
    while (state_ != ClientState::kClosed) {
        const auto status = decoder_.next(bytes);
        if (status == FrameDecoder::Status::kNeedMore) break;
        if (status == FrameDecoder::Status::kFailed) {
            drop(decoder_.error());
            close_with(close_reason_for(decoder_.error()));
            break;
        }
        ++stats_.frames_received;
        if (state_ == ClientState::kConfirming) {
            // The relay only answers frames of a client it has registered.
            state_ = ClientState::kConfirmed;
            (void)push_event(Confirmed{}, 0);
        }
        handle_packet(now, decoder_.plaintext());
    }
    stats_.dropped[static_cast<std::size_t>(DropReason::kEmptyFrame)] = decoder_.empty_frames();
}

void Client::handle_eof(Instant /*now*/) {
    if (state_ != ClientState::kClosed) close_with(CloseReason::kEndOfStream);
}

void Client::handle_handshake_bytes(Instant now, std::span<const std::uint8_t>& bytes) {
    const std::size_t take = std::min(kHandshakeResponseSize - response_have_, bytes.size());
    std::copy_n(bytes.begin(), take,
                response_.begin() + static_cast<std::ptrdiff_t>(response_have_));
    response_have_ += take;
    bytes = bytes.subspan(take);
    if (response_have_ < kHandshakeResponseSize || !handshake_) return;
    auto keys = open_relay_response(*handshake_, response_);
    handshake_.reset();
    if (!keys) {
        close_with(CloseReason::kBadHandshake);
        return;
    }
    send_key_ = keys->key;
    send_nonce_ = keys->send_nonce;
    decoder_ = FrameDecoder(keys->key, keys->recv_nonce);
    start_session(now);
}

void Client::start_session(Instant now) {
    state_ = ClientState::kConfirming;
    // Our first frame makes the relay register us; its answer confirms that it did.
    send_ping(now);
    for (Route& r : routes_) {
        if (!r.in_use || r.request_sent) continue;
        if (queue_packet(RoutingRequest{r.pk}, Lane::kControl)) {
            r.request_sent = true;
        } else {
            free_route(r);
            drop(DropReason::kWriteQueueFull);
        }
    }
}

void Client::handle_packet(Instant /*now*/, Bytes plain) {
    const auto packet = parse_packet(plain);
    if (!packet) {
        drop(packet.error());
        return;
    }
    std::visit(
        [this](const auto& p) {
            using T = std::decay_t<decltype(p)>;
            if constexpr (std::is_same_v<T, RoutingResponse>) {
                on_routing_response(p);
            } else if constexpr (std::is_same_v<T, ConnectNotification>) {
                on_connect(p);
            } else if constexpr (std::is_same_v<T, DisconnectNotification>) {
                on_disconnect(p);
            } else if constexpr (std::is_same_v<T, PingPacket>) {
                on_ping(p);
            } else if constexpr (std::is_same_v<T, PongPacket>) {
                on_pong(p);
            } else if constexpr (std::is_same_v<T, OobRecv>) {
                on_oob(p);
            } else if constexpr (std::is_same_v<T, RoutedData>) {
                on_data(p);
            } else if constexpr (std::is_same_v<T, Opaque>) {
                on_opaque(p);
            } else {
                // Routing requests and OOB sends only travel from clients to the relay.
                drop(DropReason::kWrongDirection);
            }
        },
        *packet);
}

void Client::on_routing_response(const RoutingResponse& p) {
    Route* r = find_route(p.pk);
    if (r == nullptr || !r->request_sent) {
        drop(DropReason::kUnsolicitedRoute);
        return;
    }
    if (r->state != RouteState::kRequested) {
        drop(DropReason::kDuplicateRoute);
        return;
    }
    if (p.connection_id < kFirstConnectionId) {
        const bool abandoned = r->abandoned;
        free_route(*r);
        if (!abandoned) (void)push_event(RouteRefused{p.pk}, 0);
        return;
    }
    if (find_route_by_id(p.connection_id) != nullptr) {
        drop(DropReason::kSlotInUse);
        return;
    }
    if (r->abandoned) {
        (void)queue_packet(DisconnectNotification{p.connection_id}, Lane::kControl);
        free_route(*r);
        return;
    }
    r->state = RouteState::kRegistered;
    r->connection_id = p.connection_id;
    (void)push_event(RouteResponse{p.pk, p.connection_id}, 0);
}

void Client::on_connect(const ConnectNotification& p) {
    if (p.connection_id < kFirstConnectionId) {
        drop(DropReason::kBadConnectionId);
        return;
    }
    Route* r = find_route_by_id(p.connection_id);
    if (r == nullptr) {
        drop(DropReason::kUnknownConnection);
        return;
    }
    if (r->state == RouteState::kOnline) {
        drop(DropReason::kStaleNotification);
        return;
    }
    r->state = RouteState::kOnline;
    (void)push_event(Connected{r->pk, r->connection_id}, 0);
}

void Client::on_disconnect(const DisconnectNotification& p) {
    if (p.connection_id < kFirstConnectionId) {
        drop(DropReason::kBadConnectionId);
        return;
    }
    Route* r = find_route_by_id(p.connection_id);
    if (r == nullptr) {
        drop(DropReason::kUnknownConnection);
        return;
    }
    if (r->state != RouteState::kOnline) {
        drop(DropReason::kStaleNotification);
        return;
    }
    // The relay keeps our slot (requested): the route comes online again if the peer returns.
    r->state = RouteState::kRegistered;
    (void)push_event(Disconnected{r->pk, r->connection_id}, 0);
}

void Client::on_ping(const PingPacket& p) {
    if (queue_packet(PongPacket{p.ping_id}, Lane::kControl)) ++stats_.pings_answered;
}

void Client::on_pong(const PongPacket& p) {
    if (!outstanding_ping_ || *outstanding_ping_ != p.ping_id) {
        drop(DropReason::kUnmatchedPong);
        return;
    }
    outstanding_ping_.reset();
    ++stats_.pongs_received;
}

void Client::on_oob(const OobRecv& p) {
    if (push_event(OobReceived{p.pk, std::vector<std::uint8_t>(p.data.begin(), p.data.end())},
                   p.data.size())) {
        ++stats_.oob_received;
    }
}

void Client::on_data(const RoutedData& p) {
    if (p.payload.empty()) {
        // c-toxcore clients drop their link for this; we only drop the frame.
        drop(DropReason::kEmptyData);
        return;
    }
    const Route* r = find_route_by_id(p.connection_id);
    if (r == nullptr || r->abandoned) {
        drop(DropReason::kUnknownConnection);
        return;
    }
    if (push_event(Data{r->pk, r->connection_id,
                        std::vector<std::uint8_t>(p.payload.begin(), p.payload.end())},
                   p.payload.size())) {
        ++stats_.data_received;
    }
}

void Client::on_opaque(const Opaque& p) {
    switch (p.id) {
        case kOnionResponseId:
            drop(DropReason::kOnion);
            break;
        case kForwardingId:
            drop(DropReason::kForwarding);
            break;
        default:
            drop(DropReason::kWrongDirection);
            break;
    }
}

}  // namespace netcrypto::relay
