// Stable names of the public enums (JSON events, logs, error messages).
#include <array>

#include <netcrypto/endpoint.hpp>

namespace netcrypto {

std::string_view to_string(Status s) {
    switch (s) {
        case Status::kCookieRequesting:
            return "CookieRequesting";
        case Status::kHandshakeSending:
            return "HandshakeSending";
        case Status::kNotConfirmed:
            return "NotConfirmed";
        case Status::kEstablished:
            return "Established";
        case Status::kClosed:
            return "Closed";
    }
    return "Unknown";
}

std::string_view to_string(CloseReason r) {
    switch (r) {
        case CloseReason::kNone:
            return "none";
        case CloseReason::kTimedOut:
            return "timed_out";
        case CloseReason::kPeerSilent:
            return "peer_silent";
        case CloseReason::kKilledByPeer:
            return "killed_by_peer";
        case CloseReason::kClosedLocally:
            return "closed_locally";
        case CloseReason::kReplaced:
            return "replaced";
        case CloseReason::kRejected:
            return "rejected";
    }
    return "unknown";
}

std::string_view to_string(RelayState s) {
    switch (s) {
        case RelayState::kDisconnected:
            return "disconnected";
        case RelayState::kHandshaking:
            return "handshaking";
        case RelayState::kConnected:
            return "connected";
    }
    return "unknown";
}

std::string_view to_string(RelayCloseReason r) {
    switch (r) {
        case RelayCloseReason::kNone:
            return "none";
        case RelayCloseReason::kHandshakeTimeout:
            return "handshake_timeout";
        case RelayCloseReason::kBadHandshake:
            return "bad_handshake";
        case RelayCloseReason::kBadFrame:
            return "bad_frame";
        case RelayCloseReason::kPingTimeout:
            return "ping_timeout";
        case RelayCloseReason::kEndOfStream:
            return "end_of_stream";
        case RelayCloseReason::kRemoved:
            return "removed";
    }
    return "unknown";
}

std::string_view to_string(RouteKind k) {
    switch (k) {
        case RouteKind::kNone:
            return "none";
        case RouteKind::kUdp:
            return "udp";
        case RouteKind::kTcpRelay:
            return "tcp_relay";
    }
    return "unknown";
}

std::string_view to_string(Error e) {
    switch (e) {
        case Error::kUnknownConnection:
            return "unknown connection";
        case Error::kWrongStatus:
            return "wrong connection status";
        case Error::kWouldBlock:
            return "send buffer full (would block)";
        case Error::kInvalidMessage:
            return "invalid message";
        case Error::kTooManyConnections:
            return "too many connections";
        case Error::kAlreadyConnected:
            return "already connected to that peer";
        case Error::kNoSuchRequest:
            return "no such incoming request";
        case Error::kDiscoveryBusy:
            return "too many addresses being discovered";
        case Error::kInvalidKey:
            return "invalid public key";
        case Error::kUnknownRelay:
            return "unknown relay";
        case Error::kTooManyRelays:
            return "too many relays";
        case Error::kNoRoute:
            return "no address and no relay to reach the peer";
    }
    return "unknown error";
}

std::string_view to_string(DropReason r) {
    static constexpr std::array<std::string_view, kDropReasonCount> kNames{
        "empty",
        "unknown_type",
        "bad_length",
        "bad_tag",
        "cookie_bad_tag",
        "cookie_expired",
        "cookie_from_future",
        "cookie_hash_mismatch",
        "wrong_peer_key",
        "unknown_connection",
        "wrong_status",
        "echo_id_mismatch",
        "rate_limited",
        "replayed_handshake",
        "replayed_data",
        "stale_nonce",
        "bad_ack",
        "only_padding",
        "invalid_data_id",
        "duplicate_lossless",
        "lossless_out_of_window",
        "receive_buffer_full",
        "bad_request",
        "invalid_key",
        "not_accepted",
        "duplicate_incoming",
        "lossy_queue_full",
        "under_load",
    };
    const auto i = static_cast<std::size_t>(r);
    return i < kNames.size() ? kNames[i] : "unknown";
}

}  // namespace netcrypto
