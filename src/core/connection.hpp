// One crypto connection: its identity, the peer's keys, its route and one status machine
// (CookieRequesting → HandshakeSending → NotConfirmed → Established, or straight to
// NotConfirmed for an accepted incoming handshake; Closed is terminal). Each status is an
// alternative of `State` that owns exactly what exists in it; transition() is the only way
// from one to the next and reports the change. Leaving a status destroys its alternative,
// which wipes its secrets (SecretKey, SharedKey) and frees its buffers.
//
// Timers (all derived from the status; next_deadline() is the earliest):
//   | timer            | status                         | fires                               |
//   |------------------|--------------------------------|-------------------------------------|
//   | handshake resend | CookieRequesting..NotConfirmed | last send + resend_interval         |
//   | handshake expiry | same, after max_handshake_sends| last send + resend_interval → Closed|
//   | REQUEST, pacing  | NotConfirmed, Established      | the data stream's (data/stream.hpp) |
//   | silence          | Established                    | last valid packet + silence_timeout |
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>

#include <netcrypto/endpoint.hpp>

#include "core/acceptance.hpp"
#include "core/crypto/crypto.hpp"
#include "core/data/replay_window.hpp"
#include "core/data/stream.hpp"
#include "core/handshake.hpp"
#include "core/route.hpp"
#include "core/services.hpp"

namespace netcrypto::core {

/// The packet a not-yet-established connection keeps resending, with its schedule.
template <std::size_t N>
struct TempPacket {
    std::array<std::uint8_t, N> bytes{};
    Instant last_sent{};
    std::uint32_t sends = 0;
};

/// Our half of a session before it is agreed: the session key pair and base nonce that our
/// handshake announces (they exist until the connection is established).
struct OurHalf {
    KeyPair session_keys;
    crypto::Nonce base_nonce;

    static OurHalf generate(Rng& rng);
};

/// Keys and nonces of an agreed session (NotConfirmed and Established).
struct Session {
    crypto::SharedKey key;  ///< DH(peer session pk, our session sk)
    PublicKey peer_session_pk;
    crypto::Nonce peer_base_nonce;   ///< what the peer announced (replay detection)
    crypto::Nonce send_nonce;        ///< nonce of our next data packet
    crypto::Nonce recv_nonce;        ///< base of the peer's nonce window (wire.md §5)
    std::uint64_t recv_counter = 0;  ///< recv_nonce - peer_base_nonce
    data::ReplayWindow replay;

    /// The session our half and the peer's handshake agree on.
    static Session agree(const OurHalf& ours, const handshake::HandshakeInfo& hs);
};

// The statuses.
struct CookieRequesting {
    OurHalf ours;
    TempPacket<wire::kCookieRequestSize> request;
    wire::EchoId echo_id{};
    crypto::SharedKey dht_shared;  ///< DH(peer DHT pk, our DHT sk): opens the response
};
struct HandshakeSending {
    OurHalf ours;
    TempPacket<wire::kHandshakeSize> handshake;
};
struct NotConfirmed {
    OurHalf ours;  ///< kept: the peer may rekey (a new handshake) before confirming
    TempPacket<wire::kHandshakeSize> handshake;
    Session session;
    data::Stream stream;
};
struct Established {
    Session session;
    data::Stream stream;
    Instant last_received{};  ///< the silence timer
};
struct Closed {
    CloseReason reason = CloseReason::kNone;
};
using State = std::variant<CookieRequesting, HandshakeSending, NotConfirmed, Established, Closed>;

/// Who the peer is: its keys and our long-term shared key with it.
struct Peer {
    PublicKey long_term_pk;
    PublicKey dht_pk;
    crypto::SharedKey long_term_shared;  ///< DH(peer long-term pk, our long-term sk)
};

/// A connection; owned by the endpoint, which routes inputs to it.
class Connection {
  public:
    /// An outgoing connection in CookieRequesting; the first cookie request goes out now.
    Connection(Services& s, ConnectionId id, Instant now, Peer peer, const Address& address,
               const crypto::SharedKey& dht_shared);
    /// An accepted incoming connection, straight in NotConfirmed; our handshake goes out now.
    /// `via` is where the handshake came from (a UDP handshake makes the connection direct).
    Connection(Services& s, ConnectionId id, Instant now, const handshake::HandshakeInfo& hs,
               const Address& address, Via via, const crypto::SharedKey& long_term_shared);

    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    Connection(Connection&&) = delete;
    Connection& operator=(Connection&&) = delete;
    ~Connection() = default;

    [[nodiscard]] ConnectionId id() const { return id_; }
    [[nodiscard]] Status status() const;
    [[nodiscard]] bool closed() const { return std::holds_alternative<Closed>(state_); }
    [[nodiscard]] const PublicKey& peer_key() const { return peer_.long_term_pk; }
    [[nodiscard]] const PublicKey& peer_dht_key() const { return peer_.dht_pk; }
    [[nodiscard]] const crypto::SharedKey& long_term_shared() const {
        return peer_.long_term_shared;
    }
    /// The peer's UDP address; Address{} when it is reached only through relays.
    [[nodiscard]] const Address& address() const { return paths_.udp; }
    /// Sets the UDP address of a connection that had none (see endpoint_dispatch.cpp).
    void learn_address(const Address& address) { paths_.udp = address; }
    /// True while a valid UDP packet arrived within udp_direct_timeout (as of the last input).
    [[nodiscard]] bool direct() const { return paths_.direct; }
    [[nodiscard]] ConnectionInfo info() const;
    /// What the handshake acceptance decision may know of this connection.
    [[nodiscard]] ExistingView view() const;

    /// Asks the CPU to load the cache lines handling a data packet reads (identity, session,
    /// the stream's receive side, the variant's index, the counters) at once: with many
    /// connections they are rarely cached, and loading them one by one is a chain of dependent
    /// misses. Issuing only these (about 15 of the object's 28 lines) keeps the CPU's miss
    /// buffers from filling up. The addresses assume Established, the status data arrive in;
    /// a prefetch never faults, so another status only costs a few useless loads.
    void prefetch() const {
        constexpr std::size_t kLine = 64;
        const auto* est = reinterpret_cast<const Established*>(&state_);
        const auto* p = reinterpret_cast<const char*>(this);
        for (; p < reinterpret_cast<const char*>(&est->stream); p += kLine) __builtin_prefetch(p);
        est->stream.prefetch();
        __builtin_prefetch(&est->last_received);
        __builtin_prefetch(reinterpret_cast<const char*>(&state_) + sizeof(State) - 1);
        __builtin_prefetch(&stats_);
        __builtin_prefetch(reinterpret_cast<const char*>(&stats_ + 1) - 1);
    }

    // --- inputs (the endpoint has already matched the packet to this connection) ---
    // Each returns whether the packet was valid; the caller then reports where it came from
    // with heard().
    bool on_cookie_response(Services& s, Instant now, std::span<const std::uint8_t> bytes);
    bool on_data(Services& s, Instant now, std::span<const std::uint8_t> bytes);
    /// A valid packet of this connection arrived through `via`: keeps the direct state and
    /// reports RouteChanged when the path the peer's packets arrive on changes.
    void heard(Services& s, Instant now, Via via);
    void on_timeout(Services& s, Instant now);
    [[nodiscard]] std::optional<Instant> next_deadline(const EndpointConfig& cfg) const;

    // --- outcomes of decide_handshake for a verified handshake ---
    /// Verdict::kAdopt: go to NotConfirmed with the peer's session. A handshake from a new
    /// address (`new_address`) moves the connection there and answers with a new handshake.
    void adopt(Services& s, Instant now, const handshake::HandshakeInfo& hs,
               std::optional<Address> new_address);
    /// Verdict::kRekey: follow the peer's new session (NotConfirmed).
    void rekey(const handshake::HandshakeInfo& hs);
    /// Verdict::kRestart: the peer's DHT key changed (wire.md §4.9 a): report it and start
    /// over with a cookie request to the new key. Drops kInvalidKey if it is unusable.
    void restart_with_dht_key(Services& s, Instant now, const PublicKey& new_dht_key);

    /// Closes locally (KILL when a session exists: NotConfirmed or Established).
    void close(Services& s, Instant now, CloseReason reason);

    // --- application data ---
    Result<std::uint32_t> send_lossless(Services& s, Instant now,
                                        std::span<const std::uint8_t> message);
    Result<void> send_lossy(Services& s, Instant now, std::span<const std::uint8_t> message);
    std::size_t read_lossless(Services& s, Instant now, std::span<std::uint8_t> out);
    std::size_t read_lossy(Services& s, std::span<std::uint8_t> out);
    [[nodiscard]] std::size_t send_capacity() const;
    /// Writes the next data packet (resend first, then new data) if congestion control and
    /// pacing allow; returns its size, or 0 with `retry_at` set when paced / nothing to send.
    std::size_t produce(Services& s, Instant now, std::span<std::uint8_t> buffer,
                        std::optional<Instant>& retry_at);
    /// Where a produced packet goes: hands it to the relays when the connection is not direct
    /// (route.hpp) and returns whether it also goes over UDP to address().
    bool deliver_produced(Services& s, std::span<const std::uint8_t> packet) {
        if (!s.relays_connected || paths_.direct) return has_address(paths_.udp);
        return deliver_relayed(s, packet, false).udp;
    }

    void set_user_tag(std::uint64_t tag) { user_tag_ = tag; }
    [[nodiscard]] std::uint64_t user_tag() const { return user_tag_; }

  private:
    class Io;

    /// The only way between statuses: swaps in `next` (destroying, and so wiping, what the
    /// old status owned) and reports the change.
    void transition(Services& s, State next, CloseReason reason = CloseReason::kNone);
    /// The one emitter of status events (transition() and the constructors' first status).
    void announce(Services& s, Status from, CloseReason reason) const;
    void event(Services& s, const Event& e) const;
    /// Readable, writable and acked notifications for the application.
    void notify(Services& s, Event::Kind kind, std::uint32_t acked_up_to = 0) const;

    [[nodiscard]] CookieRequesting make_cookie_requesting(Services& s, OurHalf ours,
                                                          const crypto::SharedKey& dht_shared);
    [[nodiscard]] handshake::HandshakeBytes build_handshake(Services& s, Instant now,
                                                            const OurHalf& ours,
                                                            const wire::Cookie& peer_cookie);
    /// NotConfirmed with the session our half and the peer's handshake agree on.
    [[nodiscard]] static NotConfirmed not_confirmed(
        const Services& s, OurHalf ours, const TempPacket<wire::kHandshakeSize>& handshake,
        const handshake::HandshakeInfo& hs);
    [[nodiscard]] NotConfirmed make_incoming(Services& s, Instant now,
                                             const handshake::HandshakeInfo& hs);
    void establish(Services& s, Instant now);
    void send_temp(Services& s, Instant now);
    /// Sends a packet over the paths route.hpp describes; false when no path took it.
    bool send_over_route(Services& s, std::span<const std::uint8_t> bytes, bool handshake);
    /// Our packets go through the relays now (route.hpp): a relay is connected and UDP is not
    /// direct.
    [[nodiscard]] bool relayed(const Services& s) const {
        return s.relays_connected && !paths_.direct;
    }
    /// Seals a data-packet plaintext with the session into `out`; returns the packet size.
    std::size_t seal(Session& ses, std::span<const std::uint8_t> plain,
                     std::span<std::uint8_t> out);
    /// Opens a data packet into `plain`; its plaintext size, or 0 after counting the drop.
    std::size_t open(Services& s, Session& ses, std::span<const std::uint8_t> bytes,
                     std::span<std::uint8_t> plain);

    struct Delivery {
        bool udp = false;   ///< also send over UDP
        bool sent = false;  ///< some path took it
    };
    /// The not-direct case of the routing rule: relays, plus UDP for handshake packets and
    /// probes.
    Delivery deliver_relayed(Services& s, std::span<const std::uint8_t> packet, bool handshake);
    void report_route(Services& s, RouteKind kind, RelayId relay);

    ConnectionId id_;
    Peer peer_;
    Paths paths_;
    std::uint64_t user_tag_ = 0;
    State state_;
    ConnectionStats stats_;
};

}  // namespace netcrypto::core
