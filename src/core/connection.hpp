// One crypto connection: the status machine of the seed (CookieRequesting → HandshakeSending →
// NotConfirmed → Established, or straight to NotConfirmed for an accepted incoming handshake),
// its timers, and the data path once a session key exists.
//
// Timers (all derived from the status; next_deadline() is the earliest):
//   | timer            | status                         | fires                               |
//   |------------------|--------------------------------|-------------------------------------|
//   | handshake resend | CookieRequesting..NotConfirmed | last send + resend_interval         |
//   | handshake expiry | same, after max_handshake_sends| last send + resend_interval → Closed|
//   | REQUEST          | NotConfirmed, Established      | last REQUEST + request interval     |
//   | silence          | Established                    | last valid packet + silence_timeout |
//   | pacing           | Established, data waiting      | when the pacer allows the next send |
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <variant>

#include <netcrypto/endpoint.hpp>

#include "core/crypto/crypto.hpp"
#include "core/data/congestion.hpp"
#include "core/data/recv_buffer.hpp"
#include "core/data/replay_window.hpp"
#include "core/data/rtt.hpp"
#include "core/data/send_buffer.hpp"
#include "core/handshake.hpp"
#include "core/lossy_queue.hpp"
#include "core/services.hpp"

namespace netcrypto::core {

/// The packet a not-yet-established connection keeps resending, with its schedule.
template <std::size_t N>
struct TempPacket {
    std::array<std::uint8_t, N> bytes{};
    Instant last_sent{};
    std::uint32_t sends = 0;
};

/// Keys and nonces of an agreed session (exist from NotConfirmed on).
struct Session {
    crypto::SharedKey key;  ///< DH(peer session pk, our session sk)
    PublicKey peer_session_pk;
    crypto::Nonce peer_base_nonce;   ///< what the peer announced (replay detection)
    crypto::Nonce send_nonce;        ///< nonce of our next data packet
    crypto::Nonce recv_nonce;        ///< base of the peer's nonce window (spec §5)
    std::uint64_t recv_counter = 0;  ///< recv_nonce - peer_base_nonce
    data::ReplayWindow replay;
};

// Status variants: each holds exactly what exists in that status.
struct CookieRequesting {
    TempPacket<wire::kCookieRequestSize> request;
    wire::EchoId echo_id{};
    crypto::SharedKey dht_shared;  ///< DH(peer DHT pk, our DHT sk): opens the response
};
struct HandshakeSending {
    TempPacket<wire::kHandshakeSize> handshake;
};
struct NotConfirmed {
    TempPacket<wire::kHandshakeSize> handshake;
    Session session;
};
struct Established {
    Session session;
};
struct Closed {
    CloseReason reason = CloseReason::kNone;
};

/// A connection; owned by the endpoint, which routes inputs to it.
class Connection {
  public:
    /// An outgoing connection in CookieRequesting; the first cookie request goes out now.
    Connection(Services& s, ConnectionId id, Instant now, const PublicKey& peer_key,
               const PublicKey& peer_dht_key, const Address& address,
               const crypto::SharedKey& real_shared, const crypto::SharedKey& dht_shared);
    /// An accepted incoming connection, straight in NotConfirmed; our handshake goes out now.
    Connection(Services& s, ConnectionId id, Instant now, const handshake::HandshakeInfo& hs,
               const Address& address, const crypto::SharedKey& real_shared);

    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    Connection(Connection&&) = delete;
    Connection& operator=(Connection&&) = delete;
    ~Connection() = default;

    [[nodiscard]] ConnectionId id() const { return id_; }
    [[nodiscard]] Status status() const;
    [[nodiscard]] bool closed() const { return std::holds_alternative<Closed>(state_); }
    [[nodiscard]] CloseReason close_reason() const;
    [[nodiscard]] const PublicKey& peer_key() const { return peer_key_; }
    [[nodiscard]] const PublicKey& peer_dht_key() const { return peer_dht_key_; }
    [[nodiscard]] const Address& address() const { return address_; }
    [[nodiscard]] const crypto::SharedKey& real_shared() const { return real_shared_; }
    [[nodiscard]] ConnectionInfo info() const;
    /// The application's tag (Endpoint::set_user_tag), copied into every event we queue.
    [[nodiscard]] std::uint64_t user_tag() const { return user_tag_; }
    void set_user_tag(std::uint64_t tag) { user_tag_ = tag; }

    // --- inputs (the endpoint has already matched the packet to this connection) ---
    void on_cookie_response(Services& s, Instant now, std::span<const std::uint8_t> bytes);
    /// A handshake that passed every check of consume_handshake. `bound` says whether it came
    /// from the address bound to this connection (spec §4.4 path A) or from elsewhere (path B).
    void on_handshake(Services& s, Instant now, const handshake::HandshakeInfo& hs,
                      const Address& from, bool bound);
    void on_data(Services& s, Instant now, std::span<const std::uint8_t> bytes);
    void on_timeout(Services& s, Instant now);
    [[nodiscard]] std::optional<Instant> next_deadline(const EndpointConfig& cfg) const;

    /// The peer's DHT key changed (spec §4.9 a): start over with a cookie request to it.
    void restart_with_dht_key(Services& s, Instant now, const PublicKey& new_dht_key,
                              const crypto::SharedKey& dht_shared);
    /// Closes locally (KILL when a session exists: NotConfirmed or Established).
    void close(Services& s, Instant now, CloseReason reason);

    // --- application data ---
    Result<std::uint32_t> send_lossless(Services& s, Instant now,
                                        std::span<const std::uint8_t> message);
    Result<void> send_lossy(Services& s, Instant now, std::span<const std::uint8_t> message);
    std::size_t read_lossless(Services& s, Instant now, std::span<std::uint8_t> out);
    std::size_t read_lossy(std::span<std::uint8_t> out);
    [[nodiscard]] std::size_t send_capacity() const;
    /// Writes the next data packet (resend first, then new data) if congestion control and
    /// pacing allow; returns its size, or 0 with `retry_at` set when paced / nothing to send.
    std::size_t produce(Services& s, Instant now, std::span<std::uint8_t> buffer,
                        std::optional<Instant>& retry_at);

  private:
    void set_status(Services& s, Status from, Status to, CloseReason reason = CloseReason::kNone);
    void send_temp(Services& s, Instant now);
    void enter_not_confirmed(Services& s, Instant now, const handshake::HandshakeInfo& hs,
                             std::optional<TempPacket<wire::kHandshakeSize>> handshake);
    [[nodiscard]] handshake::HandshakeBytes build_handshake(Services& s, Instant now,
                                                            const wire::Cookie& peer_cookie);
    Session make_session(const handshake::HandshakeInfo& hs) const;
    Session* session();
    [[nodiscard]] const Session* session() const;
    void establish(Services& s, Instant now);
    void send_request(Services& s, Instant now);
    void send_kill(Services& s, Instant now);
    /// Seals `message` as a data packet with `number` into `out`; returns its size.
    std::size_t seal_data(Session& ses, std::uint32_t number, std::span<const std::uint8_t> message,
                          std::span<std::uint8_t> out);
    void transmit_data(Services& s, std::uint32_t number, std::span<const std::uint8_t> message);
    void handle_message(Services& s, Instant now, std::uint32_t number, std::uint32_t ack,
                        std::span<const std::uint8_t> message);
    void handle_ack(Services& s, Instant now, std::uint32_t ack);
    void handle_request(Services& s, Instant now, std::uint32_t ack,
                        std::span<const std::uint8_t> message);
    void receive_lossless(Services& s, Instant now, std::uint32_t number,
                          std::span<const std::uint8_t> message);
    void after_send_progress(Services& s);
    void notify_readable(Services& s);
    [[nodiscard]] std::uint64_t in_flight_bytes() const;
    [[nodiscard]] Duration repair_interval() const;
    [[nodiscard]] Duration ack_delay() const;
    [[nodiscard]] std::optional<Duration> receiver_rtt() const;
    [[nodiscard]] Instant request_deadline(const EndpointConfig& cfg) const;

    ConnectionId id_;
    PublicKey peer_key_;
    PublicKey peer_dht_key_;
    Address address_;
    crypto::SharedKey real_shared_;  ///< DH(peer long-term pk, our long-term sk)

    // Our half of the session, created with the connection; the secret is wiped once
    // established (a new handshake then means a new connection object).
    std::optional<KeyPair> session_keys_;
    crypto::Nonce base_nonce_;

    std::variant<CookieRequesting, HandshakeSending, NotConfirmed, Established, Closed> state_;

    // Data path (used from NotConfirmed on; empty and allocation-free until used).
    data::SendBuffer send_;
    data::RecvBuffer recv_;
    data::RttEstimator rtt_;
    data::CongestionController cc_;
    LossyQueue lossy_;
    Instant last_request_{};
    Instant last_received_{};
    std::optional<Instant> pacing_at_;
    std::uint32_t acked_reported_ = 0;
    bool want_writable_ = false;
    bool readable_notified_ = false;
    Instant first_unacked_at_{};
    Instant last_lossless_at_{};              ///< when the last new lossless packet arrived
    std::uint32_t highest_received_end_ = 0;  ///< one past the highest lossless number received
    std::uint32_t unacked_received_ = 0;      ///< packets received/read since our last ack
    // Receiver-side RTT (a pure receiver has no samples of its own): the time from the last
    // REQUEST naming the head-of-line hole to that packet's arrival. Paces repeated REQUESTs.
    data::RttEstimator repair_rtt_;
    std::optional<std::uint32_t> repair_probe_;  ///< the hole being timed
    Instant repair_probe_sent_{};                ///< last REQUEST that named it
    ConnectionStats stats_;
    std::uint64_t user_tag_ = 0;
};

}  // namespace netcrypto::core
