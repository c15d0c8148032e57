// The friend layer: the minimum of c-toxcore's friend_connection + Messenger that a peer needs
// to see us as an online friend (wire.md §7), kept out of the net_crypto core. Sans-I/O like the
// endpoint: it reacts to endpoint events, has its own timers, and sends through the endpoint.
//
// Timers:
//   | timer   | when                                      | action                       |
//   |---------|-------------------------------------------|------------------------------|
//   | ALIVE   | Established, every alive_interval (8 s)   | send lossless [0x10]         |
//   |         | (send buffer full: retried every 100 ms)  |                              |
//   | silence | Established, no ALIVE for peer_timeout    | close the connection ("gone")|
//   | share   | Established, every share_relays_interval  | send SHARE_RELAYS [0x11 ...] |
//   |         | (120 s; send buffer full: 100 ms retries) | (if there are relays to share)|
//
// ALIVE travels in the same ordered lossless queue as the stream, so a peer only sees it after
// every stream packet queued before it. c-toxcore drops a friend whose ALIVE is > 32 s late, so
// send_stream keeps the queue short in *time* (stream_queue_delay at the recently measured
// acknowledgement rate), the way c-toxcore's own send-rate tokens bound its queue, and always
// leaves room in the send buffer for control messages.
//
// Presence (c-toxcore's Messenger): on every Established, right after ONLINE and ALIVE, we send
// NICKNAME, STATUSMESSAGE, USERSTATUS (none) and TYPING (no), as c-toxcore does once it has
// the peer's ONLINE. The peer's are reported through on_info / on_user_status / on_typing.
// Delivery receipts: send_message's packet number is reported once by on_delivered when the
// peer acknowledged it (Acked), in send order. Packets of features we do not implement (file
// transfer, conferences, groups, A/V, friend requests) are counted in stats() and ignored, as
// are malformed presence packets.
//
// Relay sharing (SHARE_RELAYS, lossless id 17, tcp_relay.md §7.7): set_shared_relays names the
// TCP relays a peer can reach us through. Up to kMaxSharedRelays of them go to every peer right
// after our ONLINE, then every share_relays_interval (120 s, c-toxcore's SHARE_RELAYS_INTERVAL),
// and at once whenever the list of relays to share changes. c-toxcore stores shared relays and
// uses them to reach us again (e.g. after a KILL); it rarely shares its own (§7.7, its 0.2.18
// bug), so nothing here depends on receiving one. The peer's are reported by on_relays_shared.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <netcrypto/address.hpp>
#include <netcrypto/endpoint.hpp>
#include <netcrypto/export.hpp>

namespace netcrypto::friends {

// Messenger-level lossless ids (wire.md §3.2).
inline constexpr std::uint8_t kAlive = 0x10;
inline constexpr std::uint8_t kShareRelays = 0x11;
inline constexpr std::uint8_t kFriendRequests = 0x12;
inline constexpr std::uint8_t kOnline = 0x18;
inline constexpr std::uint8_t kOffline = 0x19;
inline constexpr std::uint8_t kNickname = 0x30;
inline constexpr std::uint8_t kStatusMessage = 0x31;
inline constexpr std::uint8_t kUserStatus = 0x32;
inline constexpr std::uint8_t kTyping = 0x33;
inline constexpr std::uint8_t kMessage = 0x40;
inline constexpr std::uint8_t kAction = 0x41;
inline constexpr std::uint8_t kMsi = 0x45;               ///< A/V call setup (ignored)
inline constexpr std::uint8_t kFileSendRequest = 0x50;   ///< file transfer (ignored)
inline constexpr std::uint8_t kFileControl = 0x51;       ///< file transfer (ignored)
inline constexpr std::uint8_t kFileData = 0x52;          ///< file transfer (ignored)
inline constexpr std::uint8_t kInviteGroup = 0x5f;       ///< new-style group invite (ignored)
inline constexpr std::uint8_t kInviteConference = 0x60;  ///< conference ids 0x60..0x64 (ignored)
/// Longest NICKNAME and STATUSMESSAGE text (c-toxcore's MAX_NAME_LENGTH and
/// MAX_STATUSMESSAGE_LENGTH); longer ones are malformed.
inline constexpr std::size_t kMaxNameLength = 128;
inline constexpr std::size_t kMaxStatusMessageLength = 1007;
/// Custom lossless id used for netcrypto's byte stream.
inline constexpr std::uint8_t kStream = 160;
/// Payload bytes of one stream packet (1373 minus the id byte).
inline constexpr std::size_t kStreamChunk = kMaxMessageSize - 1;

/// Most relays one SHARE_RELAYS carries (c-toxcore's MAX_SHARED_RELAYS); a receiver reads no
/// more and ignores what follows them.
inline constexpr std::size_t kMaxSharedRelays = 3;
/// Packed-node family bytes of SHARE_RELAYS: TCP over IPv4 / IPv6 (what c-toxcore sends); the
/// UDP families 2 and 10 are accepted on receipt too.
inline constexpr std::uint8_t kFamilyTcpIPv4 = 130;
inline constexpr std::uint8_t kFamilyTcpIPv6 = 138;
inline constexpr std::uint8_t kFamilyIPv4 = 2;
inline constexpr std::uint8_t kFamilyIPv6 = 10;

/// A TCP relay as SHARE_RELAYS names it.
struct SharedRelay {
    Address address;  ///< the relay's IP address and TCP port
    PublicKey key;    ///< the relay's public key
    friend bool operator==(const SharedRelay&, const SharedRelay&) = default;
};

/// The SHARE_RELAYS message (id byte included) naming the first kMaxSharedRelays of `relays`,
/// each as a packed node: family (130 IPv4, 138 IPv6) ‖ address (4 or 16 bytes, network order)
/// ‖ port (BE16) ‖ key (32 bytes). With no relay it is the id byte alone.
[[nodiscard]] NETCRYPTO_EXPORT std::vector<std::uint8_t> encode_share_relays(
    std::span<const SharedRelay> relays);
/// Parses a SHARE_RELAYS message (id byte included) as c-toxcore does: at most
/// kMaxSharedRelays nodes, bytes after the third node ignored; nullopt when the id is not 0x11
/// or any node is malformed (unknown family, truncated), i.e. the whole packet is ignored.
[[nodiscard]] NETCRYPTO_EXPORT std::optional<std::vector<SharedRelay>> decode_share_relays(
    std::span<const std::uint8_t> message);

/// USERSTATUS values (one byte on the wire; anything else is malformed).
enum class UserStatus : std::uint8_t { kNone = 0, kAway = 1, kBusy = 2 };

/// What the friend layer dropped, for the application to read.
struct FriendStats {
    /// Well-formed packets of features we do not implement, by first byte (id).
    std::array<std::uint64_t, 256> ignored_by_id{};
    /// Malformed packets of ids we implement (wrong length, empty text, unknown user status),
    /// by id.
    std::array<std::uint64_t, 256> malformed_by_id{};
    [[nodiscard]] std::uint64_t ignored() const;
    [[nodiscard]] std::uint64_t malformed() const;
};

/// Tunables (defaults are c-toxcore's).
struct FriendConfig {
    Duration alive_interval = std::chrono::seconds{8};
    Duration peer_timeout = std::chrono::seconds{32};
    /// send_stream queues no more packets than were acknowledged in this much time, so what
    /// is queued behind the stream (ALIVE, messages) waits about this long at most.
    Duration stream_queue_delay = std::chrono::seconds{2};
    /// ... but always allows this many queued packets (before any acknowledgement).
    std::uint32_t stream_min_queue_packets = 64;
    /// SHARE_RELAYS is sent again this long after the last one that was sent (c-toxcore:
    /// SHARE_RELAYS_INTERVAL, 120 s).
    Duration share_relays_interval = std::chrono::seconds{120};
};

/// What the friend layer reports to the application.
struct FriendCallbacks {
    /// The peer sent ONLINE (Messenger-level online) or OFFLINE.
    std::function<void(ConnectionId, bool online)> on_presence;
    /// A text message (MESSAGE or ACTION) arrived.
    std::function<void(ConnectionId, bool action, std::string_view text)> on_message;
    /// Stream bytes (custom lossless id 160) arrived, in order.
    std::function<void(ConnectionId, std::span<const std::uint8_t>)> on_stream;
    /// A lossy message (id 192..254 first) arrived; without this callback lossy messages are
    /// read and discarded.
    std::function<void(ConnectionId, std::span<const std::uint8_t>)> on_lossy;
    /// The peer sent its nickname (`what` = "nickname", 0..128 bytes) or status message
    /// ("status_message", 0..1007 bytes); c-toxcore sends both on every connection.
    std::function<void(ConnectionId, std::string_view what, std::string_view value)> on_info;
    /// The peer's user status (USERSTATUS: none, away, busy).
    std::function<void(ConnectionId, UserStatus)> on_user_status;
    /// The peer started or stopped typing (TYPING).
    std::function<void(ConnectionId, bool typing)> on_typing;
    /// The peer acknowledged the message send_message numbered `message_number`: once per
    /// message, in send order. Messages still pending when the connection ends are not reported.
    std::function<void(ConnectionId, std::uint32_t message_number)> on_delivered;
    /// No ALIVE for peer_timeout: the layer closed the connection.
    std::function<void(ConnectionId)> on_gone;
    /// The peer sent SHARE_RELAYS: the relays it can be reached through (0..3, in its order).
    /// Malformed ones are counted in stats().malformed_by_id[kShareRelays] instead.
    std::function<void(ConnectionId, const std::vector<SharedRelay>&)> on_relays_shared;
};

/// Per-endpoint friend layer.
class NETCRYPTO_EXPORT FriendLayer {
  public:
    FriendLayer(Endpoint& endpoint, FriendCallbacks callbacks, FriendConfig config = {});

    /// Feed every endpoint event here (after the application has looked at it).
    void on_event(Instant now, const Event& e);
    /// Runs due timers (ALIVE sends, silence checks).
    void on_timeout(Instant now);
    /// Earliest instant on_timeout has work.
    [[nodiscard]] std::optional<Instant> next_timeout() const;

    /// Our presence, sent on every (re)connection and now to every established peer:
    /// kInvalidMessage if the name is longer than kMaxNameLength or the status message longer
    /// than kMaxStatusMessageLength (nothing changes then).
    Result<void> set_self(Instant now, std::string name, std::string status_message);
    /// The TCP relays we share with every peer (SHARE_RELAYS). A relay whose key is a relay of
    /// the endpoint (Endpoint::add_relay) is shared only while that relay is kConnected; others
    /// are shared as given. The first kMaxSharedRelays of those go to every established peer:
    /// now if what is shared changed (also when a relay connects or drops: on_event sees
    /// RelayStatusChanged), otherwise after our ONLINE and every share_relays_interval. An
    /// empty list sends nothing.
    void set_shared_relays(Instant now, std::vector<SharedRelay> relays);
    /// What SHARE_RELAYS carries now (at most kMaxSharedRelays relays).
    [[nodiscard]] std::vector<SharedRelay> shared_relays() const;

    /// Sends a text message (1..1372 bytes) as MESSAGE or ACTION and returns its packet
    /// number (on_delivered reports it later). Errors from send_lossless.
    Result<std::uint32_t> send_message(Instant now, ConnectionId id, std::string_view text,
                                       bool action = false);
    /// Sends as much of `bytes` as fits now as stream packets; returns bytes consumed. It
    /// stops early when the send buffer is full or the queue already holds stream_queue_delay
    /// worth of packets: retry after a Writable or Acked event.
    Result<std::size_t> send_stream(Instant now, ConnectionId id,
                                    std::span<const std::uint8_t> bytes);
    /// Announces OFFLINE: we are about to leave. It is lossless, so unlike the KILL that
    /// follows (sent once, as in c-toxcore) it arrives; a peer sees it after all our data.
    Result<void> send_offline(Instant now, ConnectionId id);
    /// Whether the peer announced ONLINE (and not OFFLINE since).
    [[nodiscard]] bool peer_online(ConnectionId id) const;
    /// Whether every lossless packet we sent on `id` was acknowledged.
    [[nodiscard]] bool all_acked(ConnectionId id) const;
    /// Back-pressure towards the peer: while paused, `id`'s messages stay in the endpoint
    /// (whose receive buffer then fills and drops what does not fit, so the peer blocks) and
    /// the silence timer is suspended. Resuming reads what waited at once.
    void pause_receive(Instant now, ConnectionId id, bool paused);
    /// Counters of ignored and malformed packets since construction.
    [[nodiscard]] const FriendStats& stats() const { return stats_; }

  private:
    struct State {
        Instant last_alive_sent{};
        Instant last_alive_received{};
        std::optional<Instant> alive_retry;  ///< ALIVE refused (buffer full): next attempt
        bool peer_online = false;
        /// (time, acked_up_to) samples of the last stream_queue_delay (kAcked events).
        std::deque<std::pair<Instant, std::uint32_t>> acks;
        /// Packet numbers of sent messages not yet acknowledged, in send order (at most one
        /// per packet in the send buffer).
        std::deque<std::uint32_t> receipts;
        bool receive_paused = false;
        /// When SHARE_RELAYS is due (nullopt: nothing to share).
        std::optional<Instant> next_share;
    };
    void drain(Instant now, ConnectionId id);
    void handle_message(Instant now, ConnectionId id, std::span<const std::uint8_t> message);
    bool send_control(Instant now, ConnectionId id, std::uint8_t packet_id);
    void try_alive(Instant now, ConnectionId id, State& st);
    void record_ack(Instant now, State& st, std::uint32_t acked_up_to) const;
    void send_presence(Instant now, ConnectionId id);
    void send_text(Instant now, ConnectionId id, std::uint8_t packet_id, std::string_view text);
    void deliver(ConnectionId id, State& st, std::uint32_t acked_up_to);
    void handle_presence(ConnectionId id, std::uint8_t packet_id,
                         std::span<const std::uint8_t> body);
    [[nodiscard]] std::uint32_t stream_budget(ConnectionId id) const;
    void try_share(Instant now, ConnectionId id, State& st);
    void share_if_changed(Instant now);
    void handle_share_relays(ConnectionId id, std::span<const std::uint8_t> message);

    Endpoint& endpoint_;
    FriendCallbacks cb_;
    FriendConfig cfg_;
    std::unordered_map<std::uint64_t, State> friends_;
    std::string name_;
    std::string status_message_;
    std::vector<SharedRelay> relays_;  ///< as set_shared_relays gave them
    std::vector<SharedRelay> shared_;  ///< what the last shared_relays() returned
    FriendStats stats_;
};

}  // namespace netcrypto::friends
