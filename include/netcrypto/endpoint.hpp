// The sans-I/O net_crypto endpoint: many crypto connections over one UDP address family, driven
// entirely by its caller. It performs no I/O, reads no clock and draws randomness only from the
// Rng it is given. Use it in this order after every input:
//   handle_datagram / handle_timeout / commands  →  poll_transmit until empty
//   →  poll_event until empty  →  sleep until next_timeout()
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include <netcrypto/address.hpp>
#include <netcrypto/export.hpp>
#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/stats.hpp>
#include <netcrypto/time.hpp>

namespace netcrypto {

using namespace std::chrono_literals;

/// Identifies a connection inside one endpoint. Stale ids (closed connections) are detected.
struct ConnectionId {
    std::uint64_t value = 0;
    friend auto operator<=>(const ConnectionId&, const ConnectionId&) = default;
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

/// Tunables of an endpoint. Defaults follow the seed and c-toxcore where the wire needs it.
struct EndpointConfig {
    /// How long cookies we issue stay valid (seed: 8 s).
    Duration cookie_validity = 8s;
    /// How often the cookie key is replaced (the previous key stays valid for one validity).
    Duration cookie_rotation = 120s;
    /// Resend period of cookie requests and handshakes.
    Duration resend_interval = 1s;
    /// Cookie requests or handshakes sent before the attempt times out.
    std::uint32_t max_handshake_sends = 8;
    /// An established connection that receives nothing valid for this long closes (kPeerSilent).
    Duration silence_timeout = 32s;
    /// Upper bound of the REQUEST (ack) interval while established.
    Duration request_interval = 1s;
    /// Bytes of unacknowledged lossless data a connection may hold (send_lossless would-block).
    std::size_t send_buffer_bytes = std::size_t{8} << 20U;
    /// Bytes of out-of-order or unread lossless data a connection may hold.
    std::size_t recv_buffer_bytes = std::size_t{8} << 20U;
    /// Received lossy messages kept until read (oldest dropped first).
    std::size_t lossy_queue_messages = 256;
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
    Duration under_load_hold = 1s;
};

/// An API error (misuse or a full resource); network input never produces these.
enum class Error : std::uint8_t {
    kUnknownConnection,   ///< the id is not (or no longer) a connection of this endpoint
    kWrongStatus,         ///< the call needs another status (e.g. data before Established)
    kWouldBlock,          ///< send buffer full: wait for Event::Kind::kWritable
    kInvalidMessage,      ///< empty, too long (> 1373 bytes) or an id outside the allowed range
    kTooManyConnections,  ///< max_connections reached
    kAlreadyConnected,    ///< a connection to this long-term key exists
    kNoSuchRequest,       ///< accept/reject of an unknown or expired incoming request
    kInvalidKey,          ///< a public key that yields no shared secret (low-order point)
};
NETCRYPTO_EXPORT std::string_view to_string(Error e);

template <class T>
using Result = tl::expected<T, Error>;

/// Something the application should know; polled with Endpoint::poll_event.
struct Event {
    enum class Kind : std::uint8_t {
        kStatus,         ///< status changed from `from` to `to` (reason set on kClosed)
        kIncoming,       ///< a peer with no connection sent a handshake: accept or reject
        kDhtKeyChanged,  ///< the peer now uses `peer_dht_key`
        kReadable,       ///< lossless or lossy messages are waiting (read_lossless/read_lossy)
        kWritable,       ///< send_lossless may succeed again after kWouldBlock
        kAcked,          ///< every lossless packet numbered below `acked_up_to` was received
    };
    Kind kind = Kind::kStatus;
    ConnectionId connection;
    Status from = Status::kCookieRequesting;
    Status to = Status::kCookieRequesting;
    CloseReason reason = CloseReason::kNone;
    PublicKey peer_key;             ///< the peer's long-term key (all kinds)
    PublicKey peer_dht_key;         ///< kIncoming, kDhtKeyChanged
    Address address;                ///< kIncoming: where the handshake came from
    std::uint64_t request = 0;      ///< kIncoming: pass to accept()/reject()
    std::uint32_t acked_up_to = 0;  ///< kAcked
};

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
    ConnectionStats stats;
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
    /// Runs every timer that is due at `now` (resends, REQUESTs, timeouts, key rotation).
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
    /// Accepts an incoming request: the connection starts in NotConfirmed and our handshake
    /// goes out. Errors: kNoSuchRequest (expired or unknown), kTooManyConnections.
    Result<ConnectionId> accept(Instant now, std::uint64_t request);
    /// Rejects an incoming request. Errors: kNoSuchRequest.
    Result<void> reject(std::uint64_t request);
    /// Closes a connection; sends KILL when a session exists (NotConfirmed, Established).
    /// Errors: kUnknownConnection.
    Result<void> close(Instant now, ConnectionId id);

    /// Queues a lossless message (id 16..191 first, ≤ 1373 bytes) and returns its packet
    /// number. Errors: kUnknownConnection, kWrongStatus, kInvalidMessage, kWouldBlock.
    Result<std::uint32_t> send_lossless(Instant now, ConnectionId id,
                                        std::span<const std::uint8_t> message);
    /// Sends a lossy message (id 192..254 first, ≤ 1373 bytes) right away, unreliably, outside
    /// the congestion window. Errors: kUnknownConnection, kWrongStatus, kInvalidMessage,
    /// kWouldBlock (the bounded datagram queue is nearly full: poll_transmit first).
    Result<void> send_lossy(Instant now, ConnectionId id, std::span<const std::uint8_t> message);
    /// Copies the next in-order lossless message into `out` (≥ 1373 bytes) and returns its
    /// length, or 0 when none is waiting. Errors: kUnknownConnection.
    Result<std::size_t> read_lossless(Instant now, ConnectionId id, std::span<std::uint8_t> out);
    /// Copies the oldest waiting lossy message into `out`; 0 when none.
    Result<std::size_t> read_lossy(ConnectionId id, std::span<std::uint8_t> out);
    /// Bytes send_lossless can accept now (0 when it would block).
    [[nodiscard]] Result<std::size_t> send_capacity(ConnectionId id) const;

    /// Snapshot of a connection. Errors: kUnknownConnection.
    [[nodiscard]] Result<ConnectionInfo> info(ConnectionId id) const;
    /// The connection to a peer long-term key, if any.
    [[nodiscard]] std::optional<ConnectionId> find(const PublicKey& peer_key) const;
    /// Every open connection.
    [[nodiscard]] std::vector<ConnectionId> connections() const;
    /// Counters for the whole endpoint (drops by reason, packets by type).
    [[nodiscard]] const EndpointStats& stats() const;
    /// True while strangers' requests that need X25519 are refused (see
    /// EndpointConfig::key_agreements_per_second); updated by every input and
    /// by handle_timeout.
    [[nodiscard]] bool under_load() const;

    class Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace netcrypto
