// Counters an endpoint keeps: packets by type and every dropped datagram by reason.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <netcrypto/export.hpp>

namespace netcrypto {

/// Why a received datagram (or part of it) was dropped. Junk from the network is never an
/// error: it is dropped and counted here.
enum class DropReason : std::uint8_t {
    kEmpty,                ///< zero-length datagram
    kUnknownType,          ///< first byte is neither a net_crypto (0x18..0x1b) nor a DHT type
    kBadLength,            ///< length not what the packet type requires
    kBadTag,               ///< authentication failed (wrong key, tampered, or not for us)
    kCookieBadTag,         ///< a cookie that is not ours (or tampered)
    kCookieExpired,        ///< our cookie, older than the validity period
    kCookieFromFuture,     ///< our cookie, dated after now
    kCookieHashMismatch,   ///< handshake's inner SHA-512 differs from the cookie it carries
    kWrongPeerKey,         ///< handshake's long-term key is not the connection's peer
    kUnknownConnection,    ///< data or cookie response from an address with no connection
    kWrongStatus,          ///< packet not valid in the connection's current status
    kEchoIdMismatch,       ///< cookie response answering a request we did not send
    kRateLimited,          ///< cookie request over the per-source budget
    kReplayedHandshake,    ///< a handshake already accepted (same session key and nonce)
    kReplayedData,         ///< a data packet whose nonce was already accepted
    kStaleNonce,           ///< a data nonce outside the receive window
    kBadAck,               ///< data packet whose buffer_start is outside our send window
    kOnlyPadding,          ///< data plaintext with no message
    kInvalidDataId,        ///< reserved data id (3..15, 255)
    kDuplicateLossless,    ///< lossless packet already received
    kLosslessOutOfWindow,  ///< lossless packet number outside the receive window
    kReceiveBufferFull,    ///< out-of-order data over the receive byte budget (re-requested)
    kBadRequest,           ///< malformed REQUEST encoding
    kInvalidKey,           ///< a public key with no shared secret (low-order point)
    kNotAccepted,          ///< incoming handshake from a peer we do not accept (pending full)
    kDuplicateIncoming,    ///< handshake for an incoming request already pending
    kLossyQueueFull,       ///< lossy message dropped because the application did not read
    kUnderLoad,            ///< a stranger's request needing X25519 over the load budget
    kCount_,
};

/// A stable snake_case name for each reason.
NETCRYPTO_EXPORT std::string_view to_string(DropReason r);

inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::kCount_);

/// Why a received DHT datagram (ping, nodes request/response, LAN discovery) was dropped or
/// not answered; counted in DhtStats (see Endpoint::discover).
enum class DhtDropReason : std::uint8_t {
    kWrongType,     ///< first byte is not the type this decoder handles (or no DHT packet)
    kWrongLength,   ///< the length is not one the packet type allows
    kBadBox,        ///< the box did not open (wrong key or tampered bytes)
    kBadPlain,      ///< the plaintext is malformed (inner id, node count, family, length)
    kUnusableKey,   ///< the sender's DHT key gives no shared key (low-order point)
    kOwnKey,        ///< the packet claims our own DHT key
    kUnderLoad,     ///< the key-agreement budget for uncached keys is empty
    kRateLimited,   ///< the source's answer budget is empty
    kAnswersOff,    ///< a request we would only answer, and answering is off
    kUnsolicited,   ///< a response (0x01, 0x04) to a request we never send
    kLanDiscovery,  ///< a LAN discovery packet from a non-LAN address (not answered)
    kQueueFull,     ///< an outgoing datagram did not fit in the bounded queue
    kCount,
};
inline constexpr std::size_t kDhtDropReasonCount = static_cast<std::size_t>(DhtDropReason::kCount);
/// A short, stable snake_case name for logs and drop counters.
NETCRYPTO_EXPORT std::string_view to_string(DhtDropReason r);

/// Counters of the DHT side of an endpoint: learning peers' DHT keys from their addresses
/// (LAN discovery out, nodes request in) and the minimal answers to DHT requests.
struct DhtStats {
    std::uint64_t lan_discovery_sent = 0;      ///< 0x21 queued (first sends and resends)
    std::uint64_t keys_learnt = 0;             ///< DHT keys learnt (DhtKeyLearned events)
    std::uint64_t failures = 0;                ///< addresses that never answered
    std::uint64_t nodes_answered = 0;          ///< 0x04 queued in answer to a 0x02
    std::uint64_t pings_answered = 0;          ///< 0x01 queued in answer to a 0x00
    std::uint64_t lan_discovery_answered = 0;  ///< 0x02 queued in answer to a LAN 0x21
    std::uint64_t requests_not_learnt = 0;     ///< valid 0x02 from an address not being learnt
    std::uint64_t key_agreements = 0;          ///< X25519 computed (cache misses)
    std::array<std::uint64_t, kDhtDropReasonCount> dropped{};

    [[nodiscard]] std::uint64_t dropped_by(DhtDropReason r) const {
        return dropped[static_cast<std::size_t>(r)];
    }
    [[nodiscard]] std::uint64_t total_drops() const {
        std::uint64_t t = 0;
        for (auto d : dropped) t += d;
        return t;
    }
};

/// Why a frame or packet from a TCP relay was dropped (or not sent); the first three close the
/// relay connection (the byte stream cannot be trusted after them).
enum class RelayDropReason : std::uint8_t {
    kFrameTooLong,       ///< L > 2048 (fatal)
    kFrameTooShort,      ///< L = 1..16: no room for a plaintext (fatal)
    kBadTag,             ///< the box did not open with the expected nonce (fatal)
    kEmptyFrame,         ///< L = 0: skipped, no nonce used
    kWrongLength,        ///< a packet length its id does not allow
    kWrongDirection,     ///< an id only clients send (0, 6, 8, 10)
    kUnknownId,          ///< ids 12..15
    kBadConnectionId,    ///< a notification naming an id below 16
    kUnknownConnection,  ///< a notification or data for an id we do not hold
    kUnsolicitedRoute,   ///< a routing response for a key we did not ask for
    kDuplicateRoute,     ///< a routing response for a key that already has an id
    kSlotInUse,          ///< a routing response giving an id another key holds
    kEmptyData,          ///< routed data with an empty payload
    kStaleNotification,  ///< connect for an online route, disconnect for one not online
    kUnmatchedPong,      ///< a pong for no ping of ours (or id 0)
    kOnion,              ///< an onion response: recognised, not handled here
    kForwarding,         ///< a forwarding packet: recognised, not handled here
    kEventQueueFull,     ///< an event did not fit in the bounded event queue
    kWriteQueueFull,     ///< an outgoing packet did not fit in the bounded write queue
    kRouteQueueFull,     ///< routed data over the per-route bound of the write queue
    kCount,
};
inline constexpr std::size_t kRelayDropReasonCount =
    static_cast<std::size_t>(RelayDropReason::kCount);
/// A short, stable snake_case name for logs and drop counters.
NETCRYPTO_EXPORT std::string_view to_string(RelayDropReason r);

/// Counters of one TCP relay connection (Endpoint::relay_info); they survive reconnections.
struct RelayStats {
    std::uint64_t connects = 0;       ///< relay sessions started (relay_opened)
    std::uint64_t confirmations = 0;  ///< sessions the relay confirmed
    std::uint64_t frames_received = 0;
    std::uint64_t frames_sent = 0;
    std::uint64_t data_received = 0;  ///< routed net_crypto packets in
    std::uint64_t data_sent = 0;      ///< routed net_crypto packets out
    std::uint64_t oob_received = 0;
    std::uint64_t oob_sent = 0;
    std::uint64_t unmatched = 0;  ///< relay packets from a key with no connection, ignored
    std::uint64_t not_sent = 0;   ///< net_crypto packets the relay had no room or route for
    std::array<std::uint64_t, kRelayDropReasonCount> dropped{};

    [[nodiscard]] std::uint64_t dropped_by(RelayDropReason r) const {
        return dropped[static_cast<std::size_t>(r)];
    }
    [[nodiscard]] std::uint64_t total_drops() const {
        std::uint64_t t = 0;
        for (auto d : dropped) t += d;
        return t;
    }
};

/// Endpoint-wide counters.
struct EndpointStats {
    std::uint64_t datagrams_received = 0;
    std::uint64_t datagrams_sent = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t cookie_requests_received = 0;
    std::uint64_t cookie_responses_sent = 0;
    std::uint64_t handshakes_received = 0;
    std::uint64_t data_packets_received = 0;
    /// Datagrams not queued because the application left kMaxQueuedDatagrams unpolled.
    std::uint64_t transmit_queue_full = 0;
    /// X25519 key agreements spent on strangers (cookie requests with an uncached DHT key,
    /// handshakes from long-term keys with no connection); bounded by
    /// EndpointConfig::key_agreements_per_second.
    std::uint64_t key_agreements = 0;
    /// Times the endpoint entered the under-load mode.
    std::uint64_t under_load_entries = 0;
    std::array<std::uint64_t, kDropReasonCount> dropped{};

    [[nodiscard]] std::uint64_t drops(DropReason r) const {
        return dropped[static_cast<std::size_t>(r)];
    }
    [[nodiscard]] std::uint64_t total_drops() const {
        std::uint64_t t = 0;
        for (auto d : dropped) t += d;
        return t;
    }
};

/// Per-connection counters.
struct ConnectionStats {
    std::uint64_t packets_sent = 0;
    std::uint64_t packets_received = 0;
    std::uint64_t lossless_sent = 0;  ///< first transmissions
    std::uint64_t retransmissions = 0;
    std::uint64_t lossless_delivered = 0;
    std::uint64_t lossy_sent = 0;
    std::uint64_t lossy_received = 0;
    std::uint64_t requests_sent = 0;
    std::uint64_t requests_received = 0;
    std::uint64_t bytes_delivered = 0;
    std::uint64_t handshakes_sent = 0;
    std::uint64_t cookie_requests_sent = 0;
};

}  // namespace netcrypto
