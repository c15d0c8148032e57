// Sender-side congestion control for lossless data: a loss-tolerant NewReno window in bytes
// with pacing (in the spirit of RFC 9002). The algorithm, its constants and the reasons for
// them are described in docs/congestion.md.
//
// Integration sketch (per ESTABLISHED connection; all byte counts in datagram bytes):
//   first send of an entry:  cc.can_send(now, outstanding) && cc.next_send_time(now) <= now
//   resend of an entry:      cc.can_resend(now) && cc.next_send_time(now) <= now
//   after either:            cc.on_packet_sent(now, datagram_bytes)
//   per received packet:     acked (cumulative + REQUEST) -> cc.on_ack(now, acked_bytes, rtt)
//                            REQUEST holes newly marked   -> cc.on_loss(now, bytes, newest_sent)
//   timer:                   wake at next_send_time(now) while something waits to be sent.
// `outstanding` = SendBuffer::outstanding_count() * datagram size (or outstanding_bytes() plus
// per-packet overhead).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <netcrypto/time.hpp>

#include "core/data/rtt.hpp"

namespace netcrypto::data {

/// Tuning of CongestionController (sizes in the unit the caller counts, normally datagram
/// bytes; the defaults assume full datagrams of 1400 bytes).
struct CongestionConfig {
    /// Size of a full packet (the protocol's MAX_CRYPTO_PACKET_SIZE).
    std::uint64_t max_datagram_size = 1400;
    /// Window at start and after reset(), in packets (RFC 9002 / RFC 6928 use 10).
    std::uint64_t initial_window_packets = 10;
    /// Floor of the window, in packets.
    std::uint64_t minimum_window_packets = 2;
    /// Ceiling of the window, in packets (the send ring cannot hold more).
    std::uint64_t maximum_window_packets = 32768;
    /// Loss rate (per mille of the packets sent in the last two round trips) tolerated as
    /// random loss; congestion is declared when losses exceed it by a statistical margin.
    std::uint32_t loss_tolerance_permille = 30;
    /// Multiplicative decrease when congestion ends slow start (per mille).
    std::uint32_t slow_start_beta_permille = 500;
    /// Multiplicative decrease for congestion in congestion avoidance (per mille).
    std::uint32_t avoidance_beta_permille = 700;
    /// Pacing rate = gain * window / round trip, per mille, in slow start.
    std::uint32_t slow_start_pacing_gain_permille = 2000;
    /// Same in congestion avoidance.
    std::uint32_t avoidance_pacing_gain_permille = 1250;
    /// Longest burst pacing lets out at once after an idle period, as time at the pacing rate.
    Duration pacing_burst = std::chrono::milliseconds{1};
    /// Burst floor in packets.
    std::uint64_t pacing_burst_packets = 4;
    /// Failsafe for first sends: outstanding bytes (sent, not acknowledged) may not exceed
    /// this many windows. Received-but-unacknowledged packets after a hole count as
    /// outstanding (the REQUEST format cannot acknowledge them), hence the slack.
    std::uint64_t outstanding_limit_windows = 4;
};

/// Window-based congestion controller with loss-episode tracking and pacing. Deterministic:
/// integer arithmetic on nanoseconds and bytes, no randomness, no clock reads. Its own
/// bytes-in-flight estimate counts what was sent during the last round trip (see
/// bytes_in_flight()), because the peer's acknowledgements cannot report every received packet.
class CongestionController {
public:
    /// A controller in slow start with the initial window, unpaced until an RTT sample exists.
    /// Allocates nothing until the first on_packet_sent().
    explicit CongestionController(CongestionConfig config = {});

    /// A packet of `bytes` left (first send or resend): charges pacing and the in-flight
    /// estimate.
    void on_packet_sent(Instant now, std::uint64_t bytes);

    /// `bytes_acked` were acknowledged (cumulatively or selectively); `rtt` is the
    /// connection's estimator, already fed with this feedback's sample. Grows the window
    /// unless the sender was application-limited.
    void on_ack(Instant now, std::uint64_t bytes_acked, const RttEstimator& rtt);

    /// `lost_bytes` were reported lost (requested by the peer at least about one RTT after
    /// their last send); `newest_lost_sent` is the latest send time among them. Losses of
    /// packets sent before the last reduction are ignored; otherwise, when the recent loss
    /// rate exceeds the tolerance, the window is reduced once and a new episode starts.
    /// Call after on_ack() for the same packet.
    void on_loss(Instant now, std::uint64_t lost_bytes, Instant newest_lost_sent);

    /// True when the window allows a first send now, given `outstanding_bytes` (sent and not
    /// acknowledged) for the failsafe limit.
    [[nodiscard]] bool can_send(Instant now, std::uint64_t outstanding_bytes);
    /// True when the window allows a resend now (no outstanding failsafe: resends are what
    /// unblocks the cumulative acknowledgement).
    [[nodiscard]] bool can_resend(Instant now) { return bytes_in_flight(now) < cwnd_; }
    /// Estimated bytes in the network: sent during the last srtt + max(4 rttvar, ack gap).
    [[nodiscard]] std::uint64_t bytes_in_flight(Instant now);
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
    /// Start of the current loss episode (losses of packets sent before it are ignored).
    [[nodiscard]] Instant recovery_start() const { return recovery_start_; }
    /// Smoothed gap between acknowledgements while window-limited (acknowledgement batching).
    [[nodiscard]] Duration ack_gap() const { return ack_gap_; }
    /// Heap bytes owned (the send log of the in-flight estimate).
    [[nodiscard]] std::size_t memory_bytes() const { return log_capacity_ * sizeof(SendRecord); }
    /// Frees the send log when the in-flight estimate is empty (call from an idle timer).
    void trim(Instant now);
    /// Back to the initial state (e.g. after a path change).
    void reset();

private:
    struct SendRecord {
        Instant at;
        std::uint64_t bytes;
    };

    [[nodiscard]] Duration flight_age() const;
    void prune(Instant now);
    void log_send(Instant now, std::uint64_t bytes);
    void rotate_buckets(Instant now);
    void update_pacing_rate();
    void congestion_event(Instant now);

    CongestionConfig config_;
    std::uint64_t cwnd_ = 0;
    std::uint64_t ssthresh_ = 0;
    std::uint64_t avoidance_credit_ = 0;  // acked bytes not yet turned into window growth
    std::uint64_t pacing_rate_ = 0;       // bytes per second, 0 = unpaced
    std::uint64_t congestion_events_ = 0;
    // Loss-rate history in two buckets of about one round trip each.
    std::uint64_t sent_now_ = 0;
    std::uint64_t lost_now_ = 0;
    std::uint64_t sent_before_ = 0;
    std::uint64_t lost_before_ = 0;
    Instant bucket_start_{};
    Instant recovery_start_{};
    bool in_recovery_epoch_ = false;  // a reduction happened (recovery_start_ is meaningful)
    // Pacer: a virtual send clock that may lag `now` by at most one burst.
    Instant pace_time_{};
    // RTT view cached from the last on_ack().
    Duration srtt_{};
    Duration rttvar_{};
    bool has_rtt_ = false;
    Instant last_ack_{};
    bool has_ack_ = false;
    Duration ack_gap_{};
    // Send log (ring) for the in-flight estimate.
    std::unique_ptr<SendRecord[]> log_;
    std::size_t log_capacity_ = 0;
    std::size_t log_head_ = 0;
    std::size_t log_size_ = 0;
    std::uint64_t log_bytes_ = 0;
};

}  // namespace netcrypto::data
