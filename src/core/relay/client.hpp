// relay::Client: the client end of one Tox TCP relay connection, sans-I/O (docs/relay.md).
//
// The caller owns the TCP socket. It feeds bytes read from it to handle_bytes(), writes what
// poll_write() hands out, reports end of stream with handle_eof(), calls handle_timeout() at
// next_timeout(), and drains poll_event(). Every input carries `now`; randomness (temporary
// keys, nonces, ping ids) comes from the injected Rng.
//
// States:
//   kConnecting  the 128-byte handshake is queued; waiting for the relay's 96 bytes
//   kConfirming  session keys known; a PING is queued (the relay registers us on our first
//                frame); waiting for the relay's first valid frame (normally its PONG)
//   kConfirmed   the relay has answered a frame of ours: others can reach us (event Confirmed)
//   kClosed      for a CloseReason (event Closed); the caller closes the socket
// Commands work from kConfirming on (route_request also before: requests are sent as soon as
// the keys are known).
//
// Timers: the handshake and confirmation must finish within handshake_timeout; a PING goes out
// when the keys are known and then ping_interval after the previous one; a PONG later than
// ping_timeout closes the connection.
//
// Bounds: the write queue holds at most max_write_bytes of data and OOB frames plus
// control_reserve_bytes that only control packets (routing, notifications, ping, pong) may use;
// routed data of one route may use at most max_route_write_bytes of it; at most max_routes
// routes; at most max_events events holding at most max_event_bytes payload bytes. What does not
// fit is refused (commands: an error) or dropped (incoming: counted in stats().dropped).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include <tl/expected.hpp>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/relay/frame.hpp"
#include "core/relay/handshake.hpp"

namespace netcrypto::relay {

inline constexpr std::size_t kMaxRoutes = 240;  ///< connection ids 16..255

struct ClientConfig {
    Duration handshake_timeout = std::chrono::seconds(10);
    Duration ping_interval = std::chrono::seconds(30);
    Duration ping_timeout = std::chrono::seconds(10);
    std::size_t max_write_bytes = std::size_t{64} * 1024;
    std::size_t control_reserve_bytes = std::size_t{16} * 1024;
    std::size_t max_route_write_bytes = std::size_t{16} * 1024;
    std::size_t max_routes = kMaxRoutes;
    std::size_t max_events = 1024;
    std::size_t max_event_bytes = std::size_t{256} * 1024;
};

enum class ClientState : std::uint8_t { kConnecting, kConfirming, kConfirmed, kClosed };
std::string_view to_string(ClientState s);

enum class CloseReason : std::uint8_t {
    kHandshakeTimeout,  ///< no response or no first frame within handshake_timeout
    kBadHandshake,      ///< the relay's 96 bytes did not open
    kFrameTooLong,      ///< a frame length above 2048
    kFrameTooShort,     ///< a frame length 1..16
    kBadTag,            ///< a frame that did not open with the expected nonce
    kPingTimeout,       ///< no PONG within ping_timeout
    kEndOfStream,       ///< the caller reported the end of the TCP stream
    kByCaller,          ///< close() was called
};
std::string_view to_string(CloseReason r);

enum class ClientError : std::uint8_t {
    kClosed,          ///< the connection is closed
    kNotReady,        ///< no session keys yet (still kConnecting)
    kTooManyRoutes,   ///< max_routes routes exist
    kNoRoute,         ///< no route to that key (route_request first)
    kNotOnline,       ///< the route is not online (the peer has not routed back)
    kBadSize,         ///< data empty or too long (OOB 1..1024, routed 1..2031 bytes)
    kQueueFull,       ///< the write queue is full
    kRouteQueueFull,  ///< this route's share of the write queue is full
};
std::string_view to_string(ClientError e);

// --- events -------------------------------------------------------------------------------------
struct Confirmed {};
/// The relay gave `connection_id` (16..255) for a route to `pk`.
struct RouteResponse {
    PublicKey pk;
    std::uint8_t connection_id = 0;
};
/// The relay refused a route to `pk` (no free slot, or our own key); the route is forgotten.
struct RouteRefused {
    PublicKey pk;
};
/// The peer routed back: data can flow.
struct Connected {
    PublicKey pk;
    std::uint8_t connection_id = 0;
};
/// The peer went away (the route stays registered; it comes online again if the peer returns).
struct Disconnected {
    PublicKey pk;
    std::uint8_t connection_id = 0;
};
struct Data {
    PublicKey pk;
    std::uint8_t connection_id = 0;
    std::vector<std::uint8_t> bytes;
};
struct OobReceived {
    PublicKey pk;
    std::vector<std::uint8_t> bytes;
};
struct Closed {
    CloseReason reason = CloseReason::kByCaller;
};
using ClientEvent = std::variant<Confirmed, RouteResponse, RouteRefused, Connected, Disconnected,
                                 Data, OobReceived, Closed>;

enum class RouteState : std::uint8_t {
    kRequested,   ///< routing request queued or sent, no response yet
    kRegistered,  ///< the relay gave a connection id; the peer is not linked
    kOnline,      ///< linked with the peer
};
struct RouteInfo {
    RouteState state = RouteState::kRequested;
    std::uint8_t connection_id = 0;  ///< 0 while kRequested
    std::size_t queued_bytes = 0;    ///< routed data of this route waiting in the write queue
};

struct ClientStats {
    std::uint64_t frames_received = 0;
    std::uint64_t frames_sent = 0;
    std::uint64_t pings_sent = 0;
    std::uint64_t pongs_received = 0;
    std::uint64_t pings_answered = 0;
    std::uint64_t data_received = 0;
    std::uint64_t data_sent = 0;
    std::uint64_t oob_received = 0;
    std::uint64_t oob_sent = 0;
    std::array<std::uint64_t, kDropReasonCount> dropped{};

    [[nodiscard]] std::uint64_t dropped_by(DropReason r) const {
        return dropped[static_cast<std::size_t>(r)];
    }
};

class Client {
  public:
    /// Starts a connection to the relay `relay_pk` as `self` (c-toxcore uses its DHT key pair):
    /// the 128-byte handshake is queued for writing at once.
    Client(Instant now, const KeyPair& self, const PublicKey& relay_pk, Rng& rng,
           const ClientConfig& cfg = {});

    /// Bytes read from the TCP stream, in order, any chunking.
    void handle_bytes(Instant now, std::span<const std::uint8_t> bytes);
    /// The TCP stream ended (EOF or error).
    void handle_eof(Instant now);
    void handle_timeout(Instant now);
    [[nodiscard]] std::optional<Instant> next_timeout() const;

    /// Copies up to out.size() pending bytes into `out` and takes them off the queue; the caller
    /// must write all of them to the socket, in order. Returns the count.
    std::size_t poll_write(std::span<std::uint8_t> out);
    /// The pending bytes without taking them; consume_write(n) takes n of them once written.
    [[nodiscard]] std::span<const std::uint8_t> pending_write() const;
    void consume_write(std::size_t n);
    std::optional<ClientEvent> poll_event();

    /// Asks the relay for a route to `pk`. Idempotent while the route exists.
    tl::expected<void, ClientError> route_request(const PublicKey& pk);
    /// Routed data (1..2031 bytes) to `pk`, whose route must be online.
    tl::expected<void, ClientError> send_data(const PublicKey& pk, std::span<const std::uint8_t> b);
    /// Out-of-band data (1..1024 bytes) to any client of the relay known by `pk`.
    tl::expected<void, ClientError> send_oob(const PublicKey& pk, std::span<const std::uint8_t> b);
    /// Forgets the route to `pk` and tells the relay (DISCONNECT) if it gave an id.
    tl::expected<void, ClientError> disconnect(const PublicKey& pk);
    /// Closes the connection (event Closed{kByCaller}); the caller closes the socket.
    void close();

    [[nodiscard]] ClientState state() const { return state_; }
    [[nodiscard]] std::optional<CloseReason> close_reason() const { return close_reason_; }
    [[nodiscard]] std::optional<RouteInfo> route(const PublicKey& pk) const;
    [[nodiscard]] std::size_t routes() const;
    [[nodiscard]] const ClientStats& stats() const { return stats_; }
    [[nodiscard]] std::size_t pending_write_bytes() const { return out_.size() - out_head_; }
    [[nodiscard]] std::size_t queued_events() const { return events_.size(); }
    [[nodiscard]] std::size_t queued_event_bytes() const { return event_bytes_; }
    [[nodiscard]] const PublicKey& relay_public_key() const { return relay_pk_; }
    [[nodiscard]] const PublicKey& public_key() const { return self_pk_; }
    [[nodiscard]] const ClientConfig& config() const { return cfg_; }

  private:
    struct Route {
        bool in_use = false;
        bool request_sent = false;
        bool abandoned = false;  ///< disconnect() before the response: release the id later
        RouteState state = RouteState::kRequested;
        std::uint8_t connection_id = 0;
        std::uint32_t generation = 0;
        std::size_t queued_bytes = 0;
        PublicKey pk;
    };
    /// Routed data frame in the write queue, to release the route's share once written.
    struct QueuedData {
        std::uint64_t end = 0;  ///< stream position just after the frame
        std::size_t route = 0;
        std::uint32_t generation = 0;
        std::size_t size = 0;
    };
    enum class Lane : std::uint8_t { kControl, kData };

    // client.cpp
    void start_session(Instant now);
    void send_ping(Instant now);
    bool queue_packet(const Packet& p, Lane lane);
    void release_written();
    Route* find_route(const PublicKey& pk);
    [[nodiscard]] const Route* find_route(const PublicKey& pk) const;
    Route* find_route_by_id(std::uint8_t connection_id);
    void free_route(Route& r);
    void close_with(CloseReason reason);
    void drop(DropReason r) { ++stats_.dropped[static_cast<std::size_t>(r)]; }
    bool push_event(ClientEvent e, std::size_t payload_bytes);
    // client_receive.cpp
    void handle_handshake_bytes(Instant now, std::span<const std::uint8_t>& bytes);
    void handle_packet(Instant now, Bytes plain);
    void on_routing_response(const RoutingResponse& p);
    void on_connect(const ConnectNotification& p);
    void on_disconnect(const DisconnectNotification& p);
    void on_ping(const PingPacket& p);
    void on_pong(const PongPacket& p);
    void on_oob(const OobRecv& p);
    void on_data(const RoutedData& p);
    void on_opaque(const Opaque& p);

    PublicKey self_pk_;
    PublicKey relay_pk_;
    Rng& rng_;
    ClientConfig cfg_;
    ClientState state_ = ClientState::kConnecting;
    std::optional<CloseReason> close_reason_;
    Instant handshake_deadline_{};

    std::optional<ClientHandshake> handshake_;
    std::array<std::uint8_t, kHandshakeResponseSize> response_{};
    std::size_t response_have_ = 0;
    SharedKey send_key_;
    Nonce send_nonce_;
    FrameDecoder decoder_;

    Instant last_ping_sent_{};
    std::optional<PingId> outstanding_ping_;

    std::array<Route, kMaxRoutes> routes_{};
    std::vector<std::uint8_t> out_;
    std::size_t out_head_ = 0;
    std::uint64_t written_total_ = 0;  ///< stream bytes taken by poll_write / consume_write
    std::deque<QueuedData> queued_data_;
    std::deque<ClientEvent> events_;
    std::size_t event_bytes_ = 0;
    ClientStats stats_;
};

}  // namespace netcrypto::relay
