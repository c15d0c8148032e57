// Sender-side congestion control for lossless data: a NewReno-style window in bytes (slow
// start, additive increase, multiplicative decrease once per loss episode) that tells random
// loss from congestion loss (a standing queue, or loss well above the loss rate the path was
// seen to have when the sender could not be the cause), with pacing in the spirit of RFC 9002.
// The algorithm, its constants and the reasons for them are described in docs/congestion.md.
//
// How data::Stream (stream.cpp) uses it, all byte counts in datagram bytes: a first send needs
// can_send(now, in-flight bytes), a resend can_resend(now), both next_send_time(now) <= now, and
// are reported with on_packet_sent(); acknowledged bytes (cumulative ack and REQUEST) go to
// on_ack(), holes a REQUEST newly reports to on_loss(); resend_guard() is the rtt_guard of
// SendBuffer::apply_request; a paced or window-limited stream wakes at next_send_time(now) or
// next_window_time(now).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include <netcrypto/time.hpp>

#include "core/data/rtt.hpp"

namespace netcrypto::data {

/// Tuning of CongestionController (sizes in the unit the caller counts, normally datagram
/// bytes; the defaults assume full datagrams of 1400 bytes). Ratios are per mille.
struct CongestionConfig {
    /// Size of a full packet (the protocol's MAX_CRYPTO_PACKET_SIZE).
    std::uint64_t max_datagram_size = 1400;
    /// Window at start and after reset(), in packets (RFC 9002 / RFC 6928 use 10).
    std::uint64_t initial_window_packets = 10;
    /// Floor of the window, in packets.
    std::uint64_t minimum_window_packets = 2;
    /// Ceiling of the window, in packets (the send ring cannot hold more).
    std::uint64_t maximum_window_packets = 32768;
    /// Additive increase in congestion avoidance: this many packets per
    /// additive_increase_interval of round-trip time (so long paths grow per second as fast as
    /// short ones, which shortens the sawtooth and speeds up convergence between flows).
    std::uint64_t additive_increase_packets = 4;
    /// See additive_increase_packets.
    Duration additive_increase_interval = std::chrono::milliseconds{20};
    /// Heavy loss: the reported packets (acknowledged or lost) of the recent loss windows lost
    /// more than the learnt baseline plus this fraction, by three binomial standard
    /// deviations. It ends slow start and, in congestion avoidance, cuts the window by
    /// congestion_beta.
    std::uint32_t heavy_loss_permille = 50;
    /// Queueing delay that makes any loss a congestion signal: the recent minimum RTT exceeds
    /// the path minimum by min_rtt / queue_delay_divisor, clamped to [queue_delay_min,
    /// queue_delay_max], plus the acknowledgement gap (samples can be late by that much).
    std::uint32_t queue_delay_divisor = 8;
    /// See queue_delay_divisor.
    Duration queue_delay_min = std::chrono::milliseconds{1};
    /// See queue_delay_divisor.
    Duration queue_delay_max = std::chrono::milliseconds{16};
    /// Multiplicative decrease when heavy loss ends slow start.
    std::uint32_t slow_start_beta_permille = 500;
    /// Multiplicative decrease for congestion (heavy loss, or loss with a queue) in
    /// congestion avoidance.
    std::uint32_t congestion_beta_permille = 700;
    /// The same while the packets go through a TCP relay (set_relayed). There a loss is the
    /// relay's queue towards the peer overflowing (c-toxcore's relay drops a frame when its
    /// socket to the receiver is full, which its bursty forwarding loop causes well below its
    /// capacity), not a bottleneck shared with other flows: TCP under the relay already
    /// shares the links. Cutting by 30 % there held netcrypto ↔ netcrypto through one
    /// c-toxcore relay to 28-46 % of the relay's ceiling; 900 gave 50-82 %, 950 58-84 %
    /// (`netcrypto_compare relay-throughput`, three runs each, 2026-12-07).
    std::uint32_t relay_beta_permille = 950;
    /// Pacing rate = gain * window / round trip, in slow start.
    std::uint32_t slow_start_pacing_gain_permille = 2000;
    /// Same in congestion avoidance.
    std::uint32_t avoidance_pacing_gain_permille = 1250;
    /// Longest burst pacing lets out at once after an idle period, as time at the pacing rate.
    Duration pacing_burst = std::chrono::milliseconds{1};
    /// Burst floor in packets.
    std::uint64_t pacing_burst_packets = 2;
    /// Failsafe for first sends: outstanding bytes (sent, not acknowledged) may not exceed
    /// this many windows. Received-but-unacknowledged packets after a hole count as
    /// outstanding (the REQUEST format cannot acknowledge them), hence the slack.
    std::uint64_t outstanding_limit_windows = 4;
    /// ... plus this many packets: a REQUEST cannot acknowledge the up to 254 received packets
    /// after the receiver's last hole, so a small window alone could block first sends
    /// while a hole is being repaired.
    std::uint64_t outstanding_allowance_packets = 256;
};

/// Window-based congestion controller with loss classification and pacing.
/// Deterministic: integer arithmetic on nanoseconds and bytes, no randomness, no clock reads.
/// Its own bytes-in-flight estimate forgets a send after about one round trip even when no
/// acknowledgement covered it (see bytes_in_flight()), because the REQUEST format cannot
/// acknowledge every received packet.
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
    /// packets sent before the last cut's queue drained are ignored (one cut per loss
    /// episode). Otherwise the window is cut when the loss is heavy (well above the path's
    /// learnt loss rate, see loss_baseline_ppm()) or a queue stands (queue_delay() above the
    /// threshold); other losses count as random and leave the window alone. Call after
    /// on_ack() for the same packet.
    void on_loss(Instant now, std::uint64_t lost_bytes, Instant newest_lost_sent);

    /// Whether the packets now go through a TCP relay (relay_beta_permille applies).
    void set_relayed(bool relayed) { relayed_ = relayed; }

    /// True when the window allows a first send now, given `outstanding_bytes` (sent and not
    /// acknowledged) for the failsafe limit (outstanding_limit_windows windows plus
    /// outstanding_allowance_packets packets).
    [[nodiscard]] bool can_send(Instant now, std::uint64_t outstanding_bytes);
    /// True when the window allows a resend now (no outstanding failsafe: resends are what
    /// unblocks the cumulative acknowledgement).
    [[nodiscard]] bool can_resend(Instant now) { return bytes_in_flight(now) < cwnd_; }
    /// Estimated bytes in the network: bytes sent during the last
    /// recent_rtt + max(ack gap, recent_rtt / 4, 1 ms) (1 s before any RTT sample). Time
    /// alone retires a send, acknowledged or not: the window therefore limits the sending
    /// rate to about window / (1.25 RTT), and the additive increase finds the window that
    /// fills the path.
    [[nodiscard]] std::uint64_t bytes_in_flight(Instant now);
    /// Earliest instant the next packet may leave under pacing (`now` when it may go now).
    [[nodiscard]] Instant next_send_time(Instant now) const;
    /// Earliest instant the window will admit another packet (`now` when it does now): when
    /// enough of the in-flight estimate has aged out. Use it to schedule the wake-up when
    /// can_send()/can_resend() said no.
    [[nodiscard]] Instant next_window_time(Instant now);
    /// Bytes pacing lets out at `now` (a hint: a packet may leave whenever
    /// next_send_time(now) <= now, even if larger than this).
    [[nodiscard]] std::uint64_t pacing_budget(Instant now) const;

    /// Congestion window in bytes.
    [[nodiscard]] std::uint64_t window() const { return cwnd_; }
    /// Slow-start threshold in bytes (UINT64_MAX until slow start ended).
    [[nodiscard]] std::uint64_t ssthresh() const { return ssthresh_; }
    /// True while the window doubles per round trip.
    [[nodiscard]] bool in_slow_start() const { return cwnd_ < ssthresh_; }
    /// Pacing rate in bytes per second (0 = not paced yet: no RTT sample).
    [[nodiscard]] std::uint64_t pacing_rate() const { return pacing_rate_; }
    /// Losses (in bytes) treated as random so far: no cut.
    [[nodiscard]] std::uint64_t tolerated_loss_bytes() const { return tolerated_loss_bytes_; }
    /// Smoothed fraction of the packets sent per round that were reported lost, in parts per
    /// million: the loss the path shows anyway. Heavy loss is measured against it.
    [[nodiscard]] std::uint64_t loss_baseline_ppm() const { return loss_baseline_ppm_; }
    /// Window cuts so far (slow-start exit and congestion cuts).
    [[nodiscard]] std::uint64_t congestion_events() const { return congestion_events_; }
    /// Time of the last cut (losses of packets sent before it cannot cause another).
    [[nodiscard]] Instant recovery_start() const { return recovery_start_; }
    /// Queueing delay seen now: recent_rtt() minus the path minimum (zero without samples).
    [[nodiscard]] Duration queue_delay() const;
    /// Smallest RTT sample of the current and previous round trip (srtt when there is none):
    /// the current RTT, robust against late samples (acknowledgements delayed by holes).
    [[nodiscard]] Duration recent_rtt() const;
    /// Recommended rtt_guard for SendBuffer::apply_request(): a requested packet is resent
    /// only if its last send is older than recent_rtt + max(recent_rtt / 4, 2 ms) + ack gap
    /// (1 s before any sample, like c-toxcore's initial RTT).
    [[nodiscard]] Duration resend_guard() const;
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
    [[nodiscard]] bool heavy_loss(std::uint64_t lost_bytes, std::uint64_t sent_bytes) const;
    [[nodiscard]] bool learning() const;
    [[nodiscard]] bool queue_standing() const;
    [[nodiscard]] Duration round_length() const;
    void prune(Instant now);
    void log_send(Instant now, std::uint64_t bytes);
    void end_round_if_due(Instant now);
    [[nodiscard]] Duration loss_window_length() const;
    void end_loss_window_if_due(Instant now);
    void update_pacing_rate();
    void cut(Instant now, std::uint64_t keep_permille);

    CongestionConfig config_;
    bool relayed_ = false;
    std::uint64_t cwnd_ = 0;
    std::uint64_t ssthresh_ = 0;
    std::uint64_t avoidance_credit_ = 0;  // acked bytes not yet turned into window growth
    std::uint64_t pacing_rate_ = 0;       // bytes per second, 0 = unpaced
    std::uint64_t congestion_events_ = 0;
    std::uint64_t tolerated_loss_bytes_ = 0;
    // Round trips (for the recent RTT).
    Instant round_start_{};
    // Loss windows (for the heavy-loss test): bytes reported acknowledged and lost.
    Instant loss_window_start_{};
    std::uint64_t loss_window_acked_ = 0;
    std::uint64_t loss_window_lost_ = 0;  // of packets sent after the last cut
    std::uint64_t learn_acked_ = 0;       // this window's feedback while learning()
    std::uint64_t learn_lost_ = 0;
    std::array<std::uint64_t, 3> past_acked_{};  // earlier windows, most recent first
    std::array<std::uint64_t, 3> past_lost_{};
    std::uint64_t loss_baseline_ppm_ = 0;  // smoothed loss rate per loss window
    std::uint64_t baseline_samples_ = 0;
    Instant recovery_start_{};
    std::uint64_t window_at_cut_ = 0;  // window just before the last cut
    Instant episode_end_{};            // losses of packets sent until here: same episode
    Instant learn_from_{};             // feedback from here on may be learnt (learning())
    Instant last_feedback_{};          // time of the on_ack / on_loss being processed
    // Pacer: a virtual send clock that may lag `now` by at most one burst.
    Instant pace_time_{};
    // RTT view cached from the last on_ack(), plus the smallest sample per round trip.
    Duration srtt_{};
    Duration min_rtt_{};
    std::uint64_t samples_seen_ = 0;
    Duration round_min_now_ = Duration::max();
    Duration round_min_before_ = Duration::max();
    Instant last_ack_{};
    Instant used_window_at_{};  // last send with at least half the window in flight
    Duration ack_gap_{};
    // Send log (ring) for the in-flight estimate.
    std::unique_ptr<SendRecord[]> log_;
    std::size_t log_capacity_ = 0;
    std::size_t log_head_ = 0;
    std::size_t log_size_ = 0;
    std::uint64_t log_bytes_ = 0;
    // Flags, together so that they share one word.
    bool cut_in_window_ = false;  // this loss window cut the window
    bool has_cut_ = false;
    bool has_rtt_ = false;
    bool has_ack_ = false;
    bool has_used_window_ = false;  // used_window_at_ is set
};

}  // namespace netcrypto::data
