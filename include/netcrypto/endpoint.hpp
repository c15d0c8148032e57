// The sans-I/O net_crypto endpoint: many crypto connections over one UDP address family, driven
// entirely by its caller. It performs no I/O, reads no clock and draws randomness only from the
// Rng it is given. Drive it with four calls, in this order after every input:
//   1. the input: handle_datagram (a datagram arrived), handle_timeout (next_timeout() has
//      passed) or a command (connect, accept, send_lossless, read_lossless, close...)
//   2. poll_transmit until it returns nullopt, sending each datagram
//   3. poll_event until it returns nullopt, handling each event (handlers may issue commands;
//      repeat 2 and 3 after them)
//   4. wait for the next datagram, but no longer than until next_timeout()
// examples/poll_loop.cpp does this with poll(2); netcrypto/posix.hpp converts addresses and
// clocks.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <tl/expected.hpp>

#include <netcrypto/address.hpp>
#include <netcrypto/export.hpp>
#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/stats.hpp>
#include <netcrypto/time.hpp>

namespace netcrypto {

/// Identifies a connection inside one endpoint. Stale ids (closed connections) are detected.
struct ConnectionId {
    std::uint64_t value = 0;
    friend auto operator<=>(const ConnectionId&, const ConnectionId&) = default;
};

/// Identifies an incoming request (IncomingRequest) for accept() or reject().
struct RequestId {
    std::uint64_t value = 0;
    friend auto operator<=>(const RequestId&, const RequestId&) = default;
};

/// Identifies a TCP relay of an endpoint (Endpoint::add_relay).
struct RelayId {
    std::uint32_t value = 0;
    friend auto operator<=>(const RelayId&, const RelayId&) = default;
};

/// The connection of an endpoint to one TCP relay.
enum class RelayState : std::uint8_t {
    kDisconnected,  ///< no TCP connection: open one to the relay, then call relay_opened()
    kHandshaking,   ///< TCP open; the relay handshake and its first answer are under way
    kConnected,     ///< the relay answered: peers on it can reach us, routes work
};

/// Why a relay connection went down (RelayStatusChanged to kDisconnected).
enum class RelayCloseReason : std::uint8_t {
    kNone,              ///< not closed
    kHandshakeTimeout,  ///< no answer to the handshake or no first frame in time
    kBadHandshake,      ///< the relay's answer did not open (a wrong relay key?)
    kBadFrame,          ///< a frame too long, too short or failing authentication
    kPingTimeout,       ///< no answer to our PING in time
    kEndOfStream,       ///< the caller reported the TCP connection ended (relay_closed)
    kRemoved,           ///< remove_relay()
};

/// How a connection's packets travel.
enum class RouteKind : std::uint8_t {
    kNone,      ///< nothing received yet
    kUdp,       ///< directly, over UDP
    kTcpRelay,  ///< through a TCP relay
};

/// The status of a crypto connection (the seed's four statuses plus the terminal one).
enum class Status : std::uint8_t {
    kCookieRequesting,  ///< we sent cookie requests and wait for a cookie response
    kHandshakeSending,  ///< we have the peer's cookie and send our handshake
    kNotConfirmed,      ///< both handshakes known; waiting for the first data packet
    kEstablished,       ///< a valid data packet arrived: the session is up
    kClosed,            ///< terminal; see CloseReason
};

/// Why a connection closed (or, with a non-closed status, why it restarted).
enum class CloseReason : std::uint8_t {
    kNone,           ///< not closed
    kTimedOut,       ///< handshake: 8 sends without an answer
    kPeerSilent,     ///< established, but nothing valid received for `silence_timeout`
    kKilledByPeer,   ///< the peer sent KILL
    kClosedLocally,  ///< close() was called (KILL sent if NotConfirmed or Established)
    kReplaced,       ///< the peer restarted with a new DHT key: this session was replaced
    kRejected,       ///< an incoming request was rejected
};

NETCRYPTO_EXPORT std::string_view to_string(Status s);
NETCRYPTO_EXPORT std::string_view to_string(CloseReason r);
NETCRYPTO_EXPORT std::string_view to_string(RelayState s);
NETCRYPTO_EXPORT std::string_view to_string(RelayCloseReason r);
/// "none", "udp", "tcp_relay".
NETCRYPTO_EXPORT std::string_view to_string(RouteKind k);

/// Tunables of an endpoint. Defaults follow the seed and c-toxcore where the wire needs it.
struct EndpointConfig {
    /// How long cookies we issue stay valid (seed: 8 s).
    Duration cookie_validity = std::chrono::seconds{8};
    /// How often the cookie key is replaced (the previous key stays valid for one validity).
    Duration cookie_rotation = std::chrono::seconds{120};
    /// Resend period of cookie requests and handshakes.
    Duration resend_interval = std::chrono::seconds{1};
    /// Cookie requests or handshakes sent before the attempt times out.
    std::uint32_t max_handshake_sends = 8;
    /// An established connection that receives nothing valid for this long closes (kPeerSilent).
    Duration silence_timeout = std::chrono::seconds{32};
    /// Upper bound of the REQUEST (ack) interval while established: an idle connection sends
    /// one REQUEST per interval. Acks of arriving data and repair requests go out sooner (ack
    /// delay, repair interval). c-toxcore sends one per second; 2 s still keeps a c-toxcore
    /// peer's view of the UDP path "direct" (it needs a packet within 8 s) through two lost
    /// packets in a row, at half the idle traffic.
    Duration request_interval = std::chrono::seconds{2};
    /// Bytes of unacknowledged lossless data a connection may hold (send_lossless would-block).
    std::size_t send_buffer_bytes = std::size_t{8} << 20U;
    /// Bytes of out-of-order or unread lossless data a connection may hold.
    std::size_t recv_buffer_bytes = std::size_t{8} << 20U;
    /// Received lossy messages one connection keeps until read (oldest dropped first).
    std::size_t lossy_queue_messages = 256;
    /// Received lossy messages all connections together keep until read (each 1,380 bytes of
    /// memory while queued; storage grows to the most ever queued at once, up to this). When
    /// it is full, a connection's new message replaces its own oldest one, or is dropped
    /// (counted as kLossyQueueFull) if it has none queued.
    std::size_t lossy_pool_messages = 8192;
    /// Most connections at once (connect/accept refuse more).
    std::size_t max_connections = 100'000;
    /// Most unanswered incoming requests kept at once (older ones are dropped, and so is
    /// their kIncoming event if it was not polled yet). A request expires after
    /// cookie_validity.
    std::size_t max_pending_incoming = 64;
    /// Session keys of accepted handshakes remembered (for one cookie lifetime) to refuse
    /// replays; when full of live entries the older half is forgotten.
    std::size_t handshake_replay_cache = 16384;
    /// Accept incoming handshakes from any peer without an IncomingRequest round trip.
    bool accept_all = false;
    /// Peers accepted automatically (their incoming requests never surface).
    std::vector<PublicKey> allowlist;
    /// Cookie responses per source address: burst and refill rate (per second).
    double cookie_rate_burst = 16;
    double cookie_rate_per_second = 8;
    /// X25519 key agreements per second the endpoint spends on strangers (a cookie request
    /// whose DHT key is not cached, a handshake from a long-term key with no connection); up
    /// to one second's worth may be spent at once. Infinity disables the budget. When a
    /// stranger finds the budget empty the endpoint is under load (Endpoint::under_load):
    /// such requests are dropped (DropReason::kUnderLoad) and every source gets the tighter
    /// cookie budget below, until at least `under_load_hold` has passed and half of the
    /// budget has refilled. Known peers and cached DHT keys are still served.
    double key_agreements_per_second = 4096;
    double cookie_rate_burst_under_load = 2;
    double cookie_rate_per_second_under_load = 1;
    Duration under_load_hold = std::chrono::seconds{1};

    // Learning a peer's DHT key from its address (Endpoint::discover).
    /// Time between two LAN discovery packets to the same address.
    Duration discovery_interval = std::chrono::milliseconds{500};
    /// LAN discovery packets sent to one address before DiscoveryFailed (at least 1).
    std::uint32_t discovery_max_sends = 10;
    /// Addresses being learnt at once (discover() beyond fails with kDiscoveryBusy).
    std::size_t max_discoveries = 64;
    // TCP relays (Endpoint::add_relay).
    /// Most relays at once (add_relay fails beyond with kTooManyRelays).
    std::size_t max_relays = 16;
    /// A connection counts as directly connected while a valid UDP packet of it arrived
    /// within this time (c-toxcore: 8 s). While it is, everything goes over UDP; otherwise
    /// packets go through the relays (and handshake packets also over UDP when an address is
    /// known). Only matters when relays exist.
    Duration udp_direct_timeout = std::chrono::seconds{8};
    /// While not directly connected, one packet is also sent over UDP when this long has
    /// passed since the last such try (c-toxcore: 4 s, with packets under 96 bytes only), so
    /// a UDP path that comes back is found; the peer drops whichever copy arrives second.
    Duration udp_probe_interval = std::chrono::seconds{4};

    /// Answer DHT pings (0x00) and nodes requests (0x02; with an empty node list) so a Tox
    /// peer's DHT keeps us; rate-limited per source. Off: they are dropped and counted.
    bool answer_dht = true;
};

/// An API error (misuse or a full resource); network input never produces these.
enum class Error : std::uint8_t {
    kUnknownConnection,   ///< the id is not (or no longer) a connection of this endpoint
    kWrongStatus,         ///< the call needs another status (e.g. data before Established)
    kWouldBlock,          ///< send buffer full: wait for a Writable event
    kInvalidMessage,      ///< empty, too long (> 1373 bytes) or an id outside the allowed range
    kTooManyConnections,  ///< max_connections reached
    kAlreadyConnected,    ///< a connection to this long-term key exists
    kNoSuchRequest,       ///< accept/reject of an unknown or expired incoming request
    kInvalidKey,          ///< a public key that yields no shared secret (low-order point)
    kDiscoveryBusy,       ///< discover(): EndpointConfig::max_discoveries addresses are busy
    kUnknownRelay,        ///< the id is not a relay of this endpoint
    kTooManyRelays,       ///< EndpointConfig::max_relays relays exist
    kNoRoute,             ///< connect() without an address on an endpoint with no relay
};
NETCRYPTO_EXPORT std::string_view to_string(Error e);

template <class T>
using Result = tl::expected<T, Error>;

// --- events ---------------------------------------------------------------------------------
// Endpoint::poll_event returns an Event: exactly one of the ten structs below. Every event
// about a connection carries `user_tag`: the value Endpoint::set_user_tag gave the connection,
// as it was when the event was queued (0 until set; events queued before a set_user_tag call
// keep the old value, so the events queued by connect()/accept() themselves carry 0).

/// The connection's status changed from `from` to `to`. A new connection announces itself with
/// from == to (kCookieRequesting after connect(), kNotConfirmed after accept() or an automatic
/// accept). With to == kClosed, `reason` says why and the id is stale from then on; with
/// another `to`, `reason` is kReplaced when the peer restarted with a new DHT key and the
/// connection started over, kNone otherwise.
struct StatusChanged {
    ConnectionId connection;
    Status from = Status::kCookieRequesting;
    Status to = Status::kCookieRequesting;
    CloseReason reason = CloseReason::kNone;
    PublicKey peer_key;      ///< the peer's long-term key
    PublicKey peer_dht_key;  ///< the peer's DHT key when the status changed
    Address address;         ///< the peer's address when the status changed
    std::uint64_t user_tag = 0;
    friend bool operator==(const StatusChanged&, const StatusChanged&) = default;
};

/// A peer with no connection sent a valid handshake: answer with accept(request) or
/// reject(request). Not reported for peers accepted automatically (accept_all, allowlist). An
/// unanswered request expires after EndpointConfig::cookie_validity; when more than
/// max_pending_incoming wait, the oldest is dropped and its event withdrawn if not yet polled.
struct IncomingRequest {
    RequestId request;
    PublicKey peer_key;      ///< the peer's long-term key
    PublicKey peer_dht_key;  ///< the DHT key named in its handshake
    Address address;         ///< where the handshake came from
    friend bool operator==(const IncomingRequest&, const IncomingRequest&) = default;
};

/// The peer now uses `peer_dht_key` (it restarted). What follows depends on where its new
/// handshake came from: from the connection's own address (before Established), the same
/// connection starts over (StatusChanged to kCookieRequesting, reason kReplaced); from another
/// address, the connection closes (StatusChanged to kClosed, reason kReplaced) and a new
/// connection with a new id and tag 0 takes over without an IncomingRequest.
struct DhtKeyChanged {
    ConnectionId connection;
    PublicKey peer_key;
    PublicKey peer_dht_key;  ///< the new DHT key
    Address address;         ///< where the peer's handshake with the new key came from
    std::uint64_t user_tag = 0;
    friend bool operator==(const DhtKeyChanged&, const DhtKeyChanged&) = default;
};

/// Messages are waiting to be read with read_lossless and/or read_lossy.
///
/// Edge-triggered, one flag per connection shared by both kinds of message:
///  * Fires when a lossy message arrives, or a lossless one arrives while the next in-order
///    message is available (a gap delays it until filled), unless a Readable was already
///    reported and not re-armed since.
///  * Re-armed only when read_lossless or read_lossy returns 0 (either one re-arms the shared
///    flag). Reading some messages, or none, re-arms nothing.
/// So after a Readable, call read_lossless until it returns 0 and read_lossy until it returns
/// 0. Messages still waiting when the flag is re-armed (e.g. lossy ones after read_lossless
/// returned 0) produce no new event by themselves: the next Readable comes with the next
/// arriving message. Stopping early (back-pressure) is fine: no further Readable arrives until
/// you resume reading, and the unread lossless data holds back the peer's window.
struct Readable {
    ConnectionId connection;
    PublicKey peer_key;
    std::uint64_t user_tag = 0;
    friend bool operator==(const Readable&, const Readable&) = default;
};

/// send_lossless may succeed again.
///
/// Fires only after send_lossless has failed with kWouldBlock, once, at the first
/// acknowledgement (an ack or a REQUEST from the peer) after which send_capacity() > 0; it is
/// then disarmed until the next kWouldBlock. The freed capacity may still be smaller than the
/// message you retry: send_lossless then fails with kWouldBlock again, which arms the next
/// Writable. send_lossy's kWouldBlock (a full datagram queue) does not arm it: drain
/// poll_transmit and retry instead.
struct Writable {
    ConnectionId connection;
    PublicKey peer_key;
    std::uint64_t user_tag = 0;
    friend bool operator==(const Writable&, const Writable&) = default;
};

/// The peer acknowledged lossless data: every packet numbered below `acked_up_to` (as returned
/// by send_lossless) was received. Fires whenever that bound advances, whether or not the
/// application waits for it.
struct Acked {
    ConnectionId connection;
    PublicKey peer_key;
    std::uint64_t user_tag = 0;
    std::uint32_t acked_up_to = 0;
    friend bool operator==(const Acked&, const Acked&) = default;
};

/// discover() learnt the DHT key of the Tox peer at `address`: a nodes request came back from
/// that address whose box opened with that key. Pass it to connect(). Not about a
/// connection: connection() and user_tag() are nullopt.
struct DhtKeyLearned {
    PublicKey peer_key;      ///< the long-term key given to discover()
    PublicKey peer_dht_key;  ///< the learnt DHT key
    Address address;
    friend bool operator==(const DhtKeyLearned&, const DhtKeyLearned&) = default;
};

/// discover() sent `sends` LAN discovery packets to `address` and no Tox peer answered.
struct DiscoveryFailed {
    PublicKey peer_key;  ///< the long-term key given to discover()
    Address address;
    std::uint32_t sends = 0;
    friend bool operator==(const DiscoveryFailed&, const DiscoveryFailed&) = default;
};

/// A relay connection changed state. Going to kDisconnected (`reason` says why), the caller
/// closes its TCP socket to the relay and opens a new one later (with backoff), then calls
/// relay_opened(); routes and connections through the relay come back by themselves.
struct RelayStatusChanged {
    RelayId relay;
    PublicKey relay_key;
    RelayState from = RelayState::kDisconnected;
    RelayState to = RelayState::kDisconnected;
    RelayCloseReason reason = RelayCloseReason::kNone;
    friend bool operator==(const RelayStatusChanged&, const RelayStatusChanged&) = default;
};

/// The path the peer's packets arrive on changed: to UDP (`address`) when the first valid
/// UDP packet arrives while the connection was not directly connected, to a relay (`relay`)
/// when a valid packet arrives through one while it is not. What we send follows the same
/// rule (EndpointConfig::udp_direct_timeout). Reported for connections with a session
/// (NotConfirmed, Established).
struct RouteChanged {
    ConnectionId connection;
    PublicKey peer_key;
    RouteKind route = RouteKind::kNone;
    RelayId relay;    ///< with kTcpRelay
    Address address;  ///< with kUdp
    std::uint64_t user_tag = 0;
    friend bool operator==(const RouteChanged&, const RouteChanged&) = default;
};

/// The ten event structs, in the order of Event::Kind.
using EventVariant =
    std::variant<StatusChanged, IncomingRequest, DhtKeyChanged, Readable, Writable, Acked,
                 DhtKeyLearned, DiscoveryFailed, RelayStatusChanged, RouteChanged>;

namespace detail {
template <class T, class V>
inline constexpr bool kIsAlternative = false;
template <class T, class... Ts>
inline constexpr bool kIsAlternative<T, std::variant<Ts...>> = (std::is_same_v<T, Ts> || ...);
}  // namespace detail

/// One of the event structs.
template <class T>
concept EventAlternative = detail::kIsAlternative<T, EventVariant>;

namespace detail {
/// Event structs about a connection (they carry `connection` and `user_tag`).
template <class T>
concept ConnectionEvent = requires(const T& e) {
    e.connection;
    e.user_tag;
};
}  // namespace detail

/// Something the application should know; polled with Endpoint::poll_event. Holds exactly one
/// of the event structs; read it with get_if<T>() (or visit), e.g.
///     if (const auto* s = e.get_if<StatusChanged>()) use(s->to);
class Event {
  public:
    using Variant = EventVariant;

    /// Which struct an event holds (for switch statements and logs).
    enum class Kind : std::uint8_t {
        kStatus,           ///< StatusChanged
        kIncoming,         ///< IncomingRequest
        kDhtKeyChanged,    ///< DhtKeyChanged
        kReadable,         ///< Readable
        kWritable,         ///< Writable
        kAcked,            ///< Acked
        kDhtKeyLearned,    ///< DhtKeyLearned
        kDiscoveryFailed,  ///< DiscoveryFailed
        kRelayStatus,      ///< RelayStatusChanged
        kRouteChanged,     ///< RouteChanged
    };

    /// An event holding `alternative` (implicit, so `Event e = Readable{...};` works).
    template <EventAlternative T>
    Event(T alternative) : v_(std::move(alternative)) {}  // NOLINT(*-explicit-*)

    [[nodiscard]] Kind kind() const { return static_cast<Kind>(v_.index()); }
    /// True when the event holds a T.
    template <EventAlternative T>
    [[nodiscard]] bool is() const {
        return std::holds_alternative<T>(v_);
    }
    /// The T the event holds, or nullptr.
    template <EventAlternative T>
    [[nodiscard]] const T* get_if() const {
        return std::get_if<T>(&v_);
    }
    /// std::visit over the held struct.
    template <class F>
    decltype(auto) visit(F&& f) const {
        return std::visit(std::forward<F>(f), v_);
    }
    [[nodiscard]] const Variant& variant() const { return v_; }

    /// The peer's long-term key (for RelayStatusChanged: the relay's key).
    [[nodiscard]] const PublicKey& peer_key() const {
        return std::visit(
            [](const auto& e) -> const PublicKey& {
                if constexpr (requires { e.peer_key; }) {
                    return e.peer_key;
                } else {
                    return e.relay_key;
                }
            },
            v_);
    }
    /// The connection the event is about; nullopt for IncomingRequest (no connection yet),
    /// DhtKeyLearned, DiscoveryFailed and RelayStatusChanged.
    [[nodiscard]] std::optional<ConnectionId> connection() const {
        return std::visit(
            [](const auto& e) -> std::optional<ConnectionId> {
                if constexpr (detail::ConnectionEvent<std::decay_t<decltype(e)>>) {
                    return e.connection;
                } else {
                    return std::nullopt;
                }
            },
            v_);
    }
    /// The connection's user tag when the event was queued; nullopt when connection() is.
    [[nodiscard]] std::optional<std::uint64_t> user_tag() const {
        return std::visit(
            [](const auto& e) -> std::optional<std::uint64_t> {
                if constexpr (detail::ConnectionEvent<std::decay_t<decltype(e)>>) {
                    return e.user_tag;
                } else {
                    return std::nullopt;
                }
            },
            v_);
    }

    friend bool operator==(const Event&, const Event&) = default;

  private:
    Variant v_;
};

namespace detail {
template <Event::Kind K, class T>
inline constexpr bool kEventKindIs =
    std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(K), Event::Variant>, T>;
}  // namespace detail
static_assert(std::variant_size_v<Event::Variant> == 10 &&
                  detail::kEventKindIs<Event::Kind::kStatus, StatusChanged> &&
                  detail::kEventKindIs<Event::Kind::kIncoming, IncomingRequest> &&
                  detail::kEventKindIs<Event::Kind::kDhtKeyChanged, DhtKeyChanged> &&
                  detail::kEventKindIs<Event::Kind::kReadable, Readable> &&
                  detail::kEventKindIs<Event::Kind::kWritable, Writable> &&
                  detail::kEventKindIs<Event::Kind::kAcked, Acked> &&
                  detail::kEventKindIs<Event::Kind::kDhtKeyLearned, DhtKeyLearned> &&
                  detail::kEventKindIs<Event::Kind::kDiscoveryFailed, DiscoveryFailed> &&
                  detail::kEventKindIs<Event::Kind::kRelayStatus, RelayStatusChanged> &&
                  detail::kEventKindIs<Event::Kind::kRouteChanged, RouteChanged>,
              "Event::Kind follows the order of Event::Variant");

/// A datagram to send, written into the caller's buffer by poll_transmit.
struct Transmit {
    Address destination;
    std::size_t size = 0;
};

/// Snapshot of one connection.
struct ConnectionInfo {
    Status status = Status::kClosed;
    PublicKey peer_key;
    PublicKey peer_dht_key;
    Address address;
    std::uint32_t handshake_sends = 0;
    std::uint32_t send_buffer_start = 0;  ///< lowest unacknowledged packet number
    std::uint32_t send_buffer_end = 0;    ///< next packet number
    std::size_t send_buffered_bytes = 0;
    std::size_t recv_buffered_bytes = 0;
    Duration smoothed_rtt{};
    std::uint64_t congestion_window = 0;  ///< bytes
    RouteKind route = RouteKind::kNone;   ///< where the latest valid packet came from
    RelayId relay;                        ///< with route == kTcpRelay
    bool direct = false;                  ///< a valid UDP packet within udp_direct_timeout
    ConnectionStats stats;
};

/// Snapshot of one relay connection.
struct RelayInfo {
    PublicKey relay_key;
    RelayState state = RelayState::kDisconnected;
    RelayCloseReason last_close = RelayCloseReason::kNone;
    std::size_t routes = 0;         ///< peers we asked the relay to link us with
    std::size_t online_routes = 0;  ///< of those, linked (the peer asked for us too)
    std::size_t pending_write_bytes = 0;
    RelayStats stats;
};

/// The largest datagram poll_transmit ever writes.
inline constexpr std::size_t kMaxDatagramSize = 1400;
/// The largest message (data id + payload) of one data packet.
inline constexpr std::size_t kMaxMessageSize = 1373;

/// A net_crypto endpoint: owns the long-term and DHT key pairs, the cookie key and every
/// connection. Not thread-safe; one thread drives it.
class NETCRYPTO_EXPORT Endpoint {
  public:
    /// `rng` must outlive the endpoint. `now` starts the cookie-key rotation clock.
    Endpoint(KeyPair long_term, KeyPair dht, Rng& rng, Instant now, EndpointConfig config = {});
    ~Endpoint();
    Endpoint(const Endpoint&) = delete;
    Endpoint& operator=(const Endpoint&) = delete;
    Endpoint(Endpoint&&) noexcept;
    Endpoint& operator=(Endpoint&&) noexcept;

    [[nodiscard]] const PublicKey& public_key() const;
    [[nodiscard]] const PublicKey& dht_public_key() const;

    /// Feeds one received UDP payload. Junk is dropped and counted in stats(); never an error.
    void handle_datagram(Instant now, const Address& from, std::span<const std::uint8_t> bytes);
    /// Runs the timers that are due at `now` (resends, REQUESTs, timeouts, key rotation), as
    /// many as the outgoing datagram queue has room for: with very many connections due at
    /// once, next_timeout() is still <= now afterwards, so drain poll_transmit and call again
    /// (a loop that waits until next_timeout() does this by itself).
    void handle_timeout(Instant now);
    /// The earliest instant at which handle_timeout has work, if any.
    [[nodiscard]] std::optional<Instant> next_timeout() const;

    /// Writes the next datagram to send into `buffer` (≥ kMaxDatagramSize bytes).
    std::optional<Transmit> poll_transmit(Instant now, std::span<std::uint8_t> buffer);
    /// The next event, if any.
    std::optional<Event> poll_event();

    /// Starts a connection (CookieRequesting). Errors: kAlreadyConnected, kTooManyConnections,
    /// kInvalidKey.
    Result<ConnectionId> connect(Instant now, const PublicKey& peer_key,
                                 const PublicKey& peer_dht_key, const Address& address);
    /// Starts a connection to a peer reached only through TCP relays (no UDP address known):
    /// cookie requests and handshakes go out-of-band through every connected relay to
    /// `peer_dht_key`, then over the route once the peer links back. Errors: as connect(),
    /// and kNoRoute when the endpoint has no relay.
    Result<ConnectionId> connect(Instant now, const PublicKey& peer_key,
                                 const PublicKey& peer_dht_key);
    /// Learns the DHT key of the Tox peer at `address` (a Tox client shows its long-term key in
    /// its Tox ID, never its DHT key): sends LAN discovery packets (0x21) to `address` every
    /// discovery_interval, at most discovery_max_sends, until a nodes request (0x02) comes back
    /// from that address, then reports DhtKeyLearned (call connect() with it) or, after the
    /// last send, DiscoveryFailed. c-toxcore answers this from loopback and LAN addresses only
    /// (and only with local discovery enabled). Nodes requests from other addresses are
    /// counted, never learnt. Calling it again for the same address starts over (use it when
    /// a learnt key turned out wrong: the cookie requests timed out). Errors: kDiscoveryBusy.
    Result<void> discover(Instant now, const PublicKey& peer_key, const Address& address);
    /// Stops learning at `address` (no event); false if it was not being learnt.
    bool stop_discovery(const Address& address);
    /// Accepts an incoming request: the connection starts in NotConfirmed and our handshake
    /// goes out. Errors: kNoSuchRequest (expired or unknown), kTooManyConnections.
    Result<ConnectionId> accept(Instant now, RequestId request);
    /// Rejects an incoming request. Errors: kNoSuchRequest.
    Result<void> reject(RequestId request);
    /// Closes a connection; sends KILL when a session exists (NotConfirmed, Established).
    /// Errors: kUnknownConnection.
    Result<void> close(Instant now, ConnectionId id);

    /// Queues a lossless message (id 16..191 first, ≤ 1373 bytes) and returns its packet
    /// number. Errors: kUnknownConnection, kWrongStatus, kInvalidMessage, kWouldBlock (the
    /// send buffer is full; this arms one Writable event, see Writable).
    Result<std::uint32_t> send_lossless(Instant now, ConnectionId id,
                                        std::span<const std::uint8_t> message);
    /// Sends a lossy message (id 192..254 first, ≤ 1373 bytes) right away, unreliably, outside
    /// the congestion window. Errors: kUnknownConnection, kWrongStatus, kInvalidMessage,
    /// kWouldBlock (the bounded datagram queue is nearly full: poll_transmit first).
    Result<void> send_lossy(Instant now, ConnectionId id, std::span<const std::uint8_t> message);
    /// Copies the next in-order lossless message into `out` (≥ 1373 bytes) and returns its
    /// length, or 0 when none is waiting; returning 0 re-arms the connection's Readable event
    /// (see Readable). Errors: kUnknownConnection, kInvalidMessage (`out` too small).
    Result<std::size_t> read_lossless(Instant now, ConnectionId id, std::span<std::uint8_t> out);
    /// Copies the oldest waiting lossy message into `out` (≥ 1373 bytes); 0 when none, which
    /// re-arms the connection's Readable event like read_lossless.
    Result<std::size_t> read_lossy(ConnectionId id, std::span<std::uint8_t> out);
    /// Bytes send_lossless can accept now (0 when it would block).
    [[nodiscard]] Result<std::size_t> send_capacity(ConnectionId id) const;

    /// Attaches an application value (an index, a pointer cast to an integer...) to a
    /// connection; every event about it queued from now on carries it as `user_tag`. A new
    /// connection starts with 0, including the one that replaces a connection closed with
    /// kReplaced. Errors: kUnknownConnection.
    Result<void> set_user_tag(ConnectionId id, std::uint64_t tag);
    /// The connection's current user tag. Errors: kUnknownConnection.
    [[nodiscard]] Result<std::uint64_t> user_tag(ConnectionId id) const;

    /// Snapshot of a connection. Errors: kUnknownConnection.
    [[nodiscard]] Result<ConnectionInfo> info(ConnectionId id) const;
    /// The connection to a peer long-term key, if any.
    [[nodiscard]] std::optional<ConnectionId> find(const PublicKey& peer_key) const;
    /// Every open connection.
    [[nodiscard]] std::vector<ConnectionId> connections() const;
    /// Counters for the whole endpoint (drops by reason, packets by type).
    [[nodiscard]] const EndpointStats& stats() const;
    /// Counters of the DHT side (discover(), answers to DHT pings and nodes requests).
    [[nodiscard]] const DhtStats& dht_stats() const;
    // --- TCP relays (docs/relay.md) ------------------------------------------------------------
    // The endpoint runs the relay protocol; the caller owns one TCP socket per relay: it
    // connects it, calls relay_opened(), feeds what it reads to handle_relay_bytes(), writes
    // relay_pending() and consumes what was written, and on EOF or error calls relay_closed().
    // When a relay goes down by itself (RelayStatusChanged to kDisconnected) the caller closes
    // the socket and reconnects later. Every connection uses every connected relay: the
    // endpoint asks each relay to link it with each connection's peer (by DHT key), sends
    // through a linked route when UDP is not working, and answers peers that reach it through
    // a relay. Relays also count in next_timeout()/handle_timeout() (handshake, pings).

    /// Adds a relay by its public key (kDisconnected until relay_opened). Errors:
    /// kTooManyRelays, kInvalidKey.
    Result<RelayId> add_relay(Instant now, const PublicKey& relay_key);
    /// Removes a relay (its routes go; close the socket). Errors: kUnknownRelay.
    Result<void> remove_relay(Instant now, RelayId relay);
    /// The caller's TCP connection to the relay is open: a new relay session starts (its
    /// handshake is in relay_pending()). Errors: kUnknownRelay.
    Result<void> relay_opened(Instant now, RelayId relay);
    /// Bytes read from the relay's socket, in order, any chunking. Junk is dropped and counted
    /// (RelayInfo::stats); bytes that break the stream close the relay (event).
    void handle_relay_bytes(Instant now, RelayId relay, std::span<const std::uint8_t> bytes);
    /// The relay's TCP connection ended or failed (kDisconnected, reason kEndOfStream).
    void relay_closed(Instant now, RelayId relay);
    /// Bytes waiting to be written to the relay's socket (empty when none or unknown).
    [[nodiscard]] std::span<const std::uint8_t> relay_pending(RelayId relay) const;
    /// Takes the first `n` bytes of relay_pending() off the queue once written.
    void consume_relay_bytes(RelayId relay, std::size_t n);
    /// Snapshot of a relay. Errors: kUnknownRelay.
    [[nodiscard]] Result<RelayInfo> relay_info(RelayId relay) const;
    /// Every relay of the endpoint.
    [[nodiscard]] std::vector<RelayId> relays() const;

    /// True while strangers' requests that need X25519 are refused (see
    /// EndpointConfig::key_agreements_per_second); updated by every input and
    /// by handle_timeout.
    [[nodiscard]] bool under_load() const;

  private:
    class NETCRYPTO_NO_EXPORT Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace netcrypto
