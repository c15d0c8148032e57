// The data stream of one session: everything a connection needs to move lossless and lossy
// messages once a session key exists (NotConfirmed and Established). It owns the send and
// receive rings, the RTT estimators, the congestion controller and pacer, the lossy queue and
// the REQUEST (acknowledgement and repair) schedule. It knows nothing about keys, nonces or
// where packets go: it builds data-packet *plaintexts* (wire.md §2.5: ack, number, message) and
// hands them to its StreamIo, which seals and routes them. So a stream can move from one route
// to another (UDP address, later a TCP relay) without losing or reordering anything: what was
// in flight on the old route is simply repaired by REQUEST like any other loss.
//
// Timers (next_deadline() is the earliest):
//   | timer   | fires                                                                    |
//   |---------|--------------------------------------------------------------------------|
//   | REQUEST | last REQUEST + request_interval; sooner while acks are owed (ack delay)  |
//   |         | or something needs repair (repair interval, about one RTT)              |
//   | pacing  | when the pacer or the congestion window allows the next send             |
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include <netcrypto/endpoint.hpp>

#include "core/data/congestion.hpp"
#include "core/data/recv_buffer.hpp"
#include "core/data/rtt.hpp"
#include "core/data/send_buffer.hpp"
#include "core/lossy_queue.hpp"

namespace netcrypto::data {

/// What a stream needs from its connection while it handles one call.
class StreamIo {
  public:
    StreamIo() = default;
    StreamIo(const StreamIo&) = delete;
    StreamIo& operator=(const StreamIo&) = delete;
    StreamIo(StreamIo&&) = delete;
    StreamIo& operator=(StreamIo&&) = delete;

    /// Seals `plain` (a data-packet plaintext) with the session and queues it on the route.
    virtual void send_plain(std::span<const std::uint8_t> plain) = 0;
    /// Room left in the endpoint's datagram queue (see Outputs::transmit_room).
    [[nodiscard]] virtual std::size_t transmit_room() const = 0;
    /// The stream has packets the congestion controller may let out now (poll_transmit).
    virtual void wants_to_send() = 0;
    /// Application notifications.
    virtual void readable() = 0;
    virtual void writable() = 0;
    virtual void acked(std::uint32_t up_to) = 0;
    /// Junk is dropped and counted.
    virtual void drop(DropReason r) = 0;
    /// The connection's counters.
    virtual ConnectionStats& stats() = 0;

  protected:
    ~StreamIo() = default;
};

/// Sizes of a stream's bounded buffers.
struct StreamLimits {
    std::size_t send_buffer_bytes = 0;
    std::size_t recv_buffer_bytes = 0;
    std::size_t lossy_queue_messages = 0;
    /// Where received lossy messages are kept (the endpoint's); null only with no lossy queue.
    core::LossyPool* lossy_pool = nullptr;
};

/// The lossless/lossy data path of one session.
class Stream {
  public:
    explicit Stream(const StreamLimits& limits);

    // --- receiving (after the connection decrypted and decoded a data packet) ---
    /// The peer acknowledged everything below `ack` (every data packet carries it).
    void on_ack(StreamIo& io, Instant now, std::uint32_t ack);
    /// A message other than KILL (REQUEST, lossless, lossy or an invalid id) that arrived in a
    /// packet numbered `number` carrying `ack` (already passed to on_ack).
    void on_message(StreamIo& io, Instant now, std::uint32_t number, std::uint32_t ack,
                    std::span<const std::uint8_t> message);

    // --- sending ---
    /// Sends a REQUEST now (acknowledgement, missing packets, our stream end).
    void send_request(StreamIo& io, Instant now);
    /// Until `until`, idle REQUESTs go out every `interval` if that is shorter than
    /// request_interval (right after confirmation, while the peer may still need a data packet
    /// to confirm us).
    void keep_requests_fast(Instant until, Duration interval) {
        fast_until_ = until;
        fast_interval_ = interval;
    }
    /// Whether our packets now go through a TCP relay (congestion control reacts to its
    /// losses more gently, see CongestionConfig::relay_beta_permille).
    void set_relayed(bool relayed) { cc_.set_relayed(relayed); }
    /// Sends one control or lossy message now, outside the window (KILL, lossy data).
    void send_now(StreamIo& io, std::span<const std::uint8_t> message);
    /// Queues a lossless message; its packet number, or kWouldBlock.
    Result<std::uint32_t> queue_lossless(StreamIo& io, std::span<const std::uint8_t> message);
    /// Sends a lossy message at once (kWouldBlock when the datagram queue is nearly full).
    Result<void> send_lossy(StreamIo& io, std::span<const std::uint8_t> message);
    /// Writes the plaintext of the next data packet (a resend first, then new data) into
    /// `plain` if congestion control and pacing allow and returns its size; 0 when there is
    /// nothing to send, with `retry_at` set when paced.
    std::size_t produce(StreamIo& io, Instant now, std::span<std::uint8_t> plain,
                        std::optional<Instant>& retry_at);
    [[nodiscard]] std::size_t send_capacity() const;

    // --- the application reads ---
    std::size_t read_lossless(StreamIo& io, Instant now, std::span<std::uint8_t> out);
    std::size_t read_lossy(StreamIo& io, std::span<std::uint8_t> out);

    // --- timers ---
    [[nodiscard]] std::optional<Instant> next_deadline(const EndpointConfig& cfg) const;
    void on_timeout(StreamIo& io, Instant now, const EndpointConfig& cfg);

    /// Asks the CPU to load the stream's own lines a received packet touches: everything but
    /// the congestion controller, which only sending and acknowledgements use.
    void prefetch() const {
        constexpr std::size_t kLine = 64;
        const auto* p = reinterpret_cast<const char*>(this);
        for (; p < reinterpret_cast<const char*>(&cc_); p += kLine) __builtin_prefetch(p);
        p = reinterpret_cast<const char*>(&lossy_);
        for (; p < reinterpret_cast<const char*>(this + 1); p += kLine) __builtin_prefetch(p);
    }
    /// Asks the CPU to load what receiving a message touches beyond the stream itself (the
    /// lossy queue's next slot, the receive ring), so those misses overlap the decryption.
    void prefetch_receive() const {
        lossy_.prefetch_push();
        recv_.prefetch_next();
    }

    /// Fills the data-path part of a connection snapshot.
    void describe(ConnectionInfo& info) const;

  private:
    std::size_t encode(std::uint32_t number, std::span<const std::uint8_t> message,
                       std::span<std::uint8_t> plain);
    void send_message(StreamIo& io, std::uint32_t number, std::span<const std::uint8_t> message);
    void handle_request(StreamIo& io, Instant now, std::uint32_t ack,
                        std::span<const std::uint8_t> message);
    void receive_lossless(StreamIo& io, Instant now, std::uint32_t number,
                          std::span<const std::uint8_t> message);
    void after_send_progress(StreamIo& io);
    void notify_readable(StreamIo& io);
    [[nodiscard]] std::uint64_t in_flight_bytes() const;
    [[nodiscard]] Duration repair_interval() const;
    [[nodiscard]] Duration ack_delay() const;
    [[nodiscard]] std::optional<Duration> receiver_rtt() const;
    [[nodiscard]] Instant request_deadline(const EndpointConfig& cfg) const;

    SendBuffer send_;
    RecvBuffer recv_;
    RttEstimator rtt_;
    CongestionController cc_;
    core::LossyQueue lossy_;
    Instant last_request_{};
    Instant fast_until_{};
    Duration fast_interval_{};
    std::optional<Instant> pacing_at_;
    bool want_writable_ = false;
    bool readable_notified_ = false;
    Instant first_unacked_at_{};
    Instant last_lossless_at_{};              ///< when the last new lossless packet arrived
    std::uint32_t highest_received_end_ = 0;  ///< one past the highest lossless number received
    std::uint32_t unacked_received_ = 0;      ///< packets received/read since our last ack
    // Receiver-side RTT (a pure receiver has no samples of its own): the time from the last
    // REQUEST naming the head-of-line hole to that packet's arrival. Paces repeated REQUESTs.
    RttEstimator repair_rtt_;
    std::optional<std::uint32_t> repair_probe_;  ///< the hole being timed
    Instant repair_probe_sent_{};                ///< last REQUEST that named it
};

}  // namespace netcrypto::data
