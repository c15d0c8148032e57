// Sender-side congestion control for lossless data: a loss-tolerant NewReno window in bytes
// with pacing (in the spirit of RFC 9002). The algorithm, its constants and the reasons for
// them are described in docs/congestion.md.
//
// Integration sketch (per ESTABLISHED connection; `bytes` are datagram bytes on the wire):
//   before sending a congestion-controlled packet:
//       cc.can_send(bytes_in_flight) && cc.next_send_time(now) <= now
//   after sending it (first send or resend):   cc.on_packet_sent(now, bytes)
//   per received packet, in this order:
//       ack_up_to / REQUEST acks -> cc.on_ack(now, acked_bytes, in_flight_before, rtt)
//       REQUEST holes marked for resend -> cc.on_loss(now, marked_bytes, newest_marked_sent)
//   timer: wake up at next_send_time(now) when data is waiting.
#pragma once

#include <chrono>
#include <cstdint>

#include <netcrypto/time.hpp>

#include "core/data/rtt.hpp"

namespace netcrypto::data {

/// Tuning of CongestionController (all sizes in the same unit the caller counts, normally
/// datagram bytes; the defaults assume full datagrams of 1400 bytes).
struct CongestionConfig {
    /// Size of a full packet (the MSS of this protocol: MAX_CRYPTO_PACKET_SIZE).
    std::uint64_t max_datagram_size = 1400;
    /// Window at start and after reset(), in packets (RFC 9002 / RFC 6928 use 10).
    std::uint64_t initial_window_packets = 10;
    /// Floor of the window, in packets.
    std::uint64_t minimum_window_packets = 2;
    /// Ceiling of the window, in packets (the send ring cannot hold more).
    std::uint64_t maximum_window_packets = 32768;
    /// Loss fraction of recent feedback (per mille) that is tolerated as random loss; only
    /// more than this is treated as congestion.
    std::uint32_t loss_tolerance_permille = 50;
    /// Multiplicative decrease when congestion ends slow start (per mille).
    std::uint32_t slow_start_beta_permille = 500;
    /// Multiplicative decrease for congestion in congestion avoidance (per mille).
    std::uint32_t avoidance_beta_permille = 700;
    /// Pacing rate = gain * window / round trip, per mille, in slow start.
    std::uint32_t slow_start_pacing_gain_permille = 2000;
    /// Same in congestion avoidance.
    std::uint32_t avoidance_pacing_gain_permille = 1250;
    /// Longest burst pacing lets out at once after being idle, as time at the pacing rate.
    Duration pacing_burst = std::chrono::milliseconds{1};
    /// Burst floor in packets.
    std::uint64_t pacing_burst_packets = 4;
};

/// Window-based congestion controller with loss-episode tracking and pacing. Deterministic:
/// integer arithmetic on nanoseconds and bytes, no randomness, no clock reads.
class CongestionController {
public:
    /// A controller in slow start with the initial window, unpaced until an RTT sample exists.
    explicit CongestionController(CongestionConfig config = {});

    /// A packet of `bytes` left (first send or resend): charges pacing.
    void on_packet_sent(Instant now, std::uint64_t bytes);

    /// `bytes_acked` were acknowledged (cumulatively or selectively) while `bytes_in_flight`
    /// (counted before removing them) were outstanding; `rtt` is the connection's estimator,
    /// already fed with this feedback's sample. Grows the window unless application-limited.
    void on_ack(Instant now, std::uint64_t bytes_acked, std::uint64_t bytes_in_flight,
                const RttEstimator& rtt);

    /// `lost_bytes` were reported lost (requested by the peer at least ~1 RTT after their
    /// send); `newest_lost_sent` is the latest send time among them. Losses of packets sent
    /// before the last reduction are ignored; otherwise, when the recent loss fraction
    /// exceeds the tolerance, the window is reduced once and a new episode starts.
    void on_loss(Instant now, std::uint64_t lost_bytes, Instant newest_lost_sent);

    /// True when the window allows another packet with `bytes_in_flight` outstanding.
    [[nodiscard]] bool can_send(std::uint64_t bytes_in_flight) const {
        return bytes_in_flight < cwnd_;
    }
    /// Window bytes still free with `bytes_in_flight` outstanding.
    [[nodiscard]] std::uint64_t available_window(std::uint64_t bytes_in_flight) const {
        return bytes_in_flight < cwnd_ ? cwnd_ - bytes_in_flight : 0;
    }
    /// Earliest instant the next packet may leave under pacing (`now` when it may go now).
    [[nodiscard]] Instant next_send_time(Instant now) const;
    /// Bytes pacing lets out at `now` (a hint: a packet may leave whenever
    /// next_send_time(now) <= now, even if larger than this).
    [[nodiscard]] std::uint64_t pacing_budget(Instant now) const;

    /// Congestion window in bytes.
    [[nodiscard]] std::uint64_t window() const { return cwnd_; }
    /// Slow-start threshold in bytes (UINT64_MAX until the first reduction).
    [[nodiscard]] std::uint64_t ssthresh() const { return ssthresh_; }
    /// True while the window doubles per round trip.
    [[nodiscard]] bool in_slow_start() const { return cwnd_ < ssthresh_; }
    /// Pacing rate in bytes per second (0 = not paced yet: no RTT sample).
    [[nodiscard]] std::uint64_t pacing_rate() const { return pacing_rate_; }
    /// Window reductions so far.
    [[nodiscard]] std::uint64_t congestion_events() const { return congestion_events_; }
    /// Start of the current loss episode (packets sent before it cannot cause a reduction).
    [[nodiscard]] Instant recovery_start() const { return recovery_start_; }
    /// Back to the initial state (e.g. after a path change).
    void reset();

private:
    void rotate_feedback(Instant now);
    void update_pacing_rate();
    void congestion_event(Instant now);

    CongestionConfig config_;
    std::uint64_t cwnd_ = 0;
    std::uint64_t ssthresh_ = 0;
    std::uint64_t avoidance_credit_ = 0;  // acked bytes not yet turned into window growth
    std::uint64_t pacing_rate_ = 0;       // bytes per second, 0 = unpaced
    std::uint64_t congestion_events_ = 0;
    // Recent feedback, in two buckets of about one round trip each.
    std::uint64_t acked_now_ = 0;
    std::uint64_t lost_now_ = 0;
    std::uint64_t acked_before_ = 0;
    std::uint64_t lost_before_ = 0;
    Instant bucket_start_{};
    Instant recovery_start_{};
    bool in_recovery_epoch_ = false;  // a reduction happened (recovery_start_ is meaningful)
    Instant pace_time_{};             // virtual send clock of the pacer
    Instant last_ack_{};
    bool has_ack_ = false;
    Duration srtt_{};
    Duration ack_gap_{};  // smoothed gap between feedback while window-limited
    bool has_rtt_ = false;
};

}  // namespace netcrypto::data
