// Loss-tolerant NewReno with pacing (see docs/congestion.md).
#include "core/data/congestion.hpp"

#include <algorithm>
#include <limits>

namespace netcrypto::data {

namespace {

constexpr std::uint64_t kNanosPerSecond = 1'000'000'000;
constexpr std::uint64_t kPermille = 1000;
// Feedback gaps longer than this are idle periods, not acknowledgement batching.
constexpr Duration kMaxAckGap = std::chrono::milliseconds{250};
// Bucket length before any RTT sample.
constexpr Duration kDefaultRound = std::chrono::milliseconds{1000};

std::uint64_t scale(std::uint64_t value, std::uint32_t permille) {
    return value / kPermille * permille + value % kPermille * permille / kPermille;
}

}  // namespace

CongestionController::CongestionController(CongestionConfig config) : config_(config) {
    config_.max_datagram_size = std::max<std::uint64_t>(config_.max_datagram_size, 1);
    config_.minimum_window_packets = std::max<std::uint64_t>(config_.minimum_window_packets, 1);
    config_.maximum_window_packets =
        std::max(config_.maximum_window_packets, config_.minimum_window_packets);
    config_.initial_window_packets =
        std::clamp(config_.initial_window_packets, config_.minimum_window_packets,
                   config_.maximum_window_packets);
    config_.slow_start_beta_permille = std::min<std::uint32_t>(config_.slow_start_beta_permille, 999);
    config_.avoidance_beta_permille = std::min<std::uint32_t>(config_.avoidance_beta_permille, 999);
    config_.slow_start_pacing_gain_permille =
        std::max<std::uint32_t>(config_.slow_start_pacing_gain_permille, 1000);
    config_.avoidance_pacing_gain_permille =
        std::max<std::uint32_t>(config_.avoidance_pacing_gain_permille, 1000);
    reset();
}

void CongestionController::reset() {
    cwnd_ = config_.initial_window_packets * config_.max_datagram_size;
    ssthresh_ = std::numeric_limits<std::uint64_t>::max();
    avoidance_credit_ = 0;
    pacing_rate_ = 0;
    congestion_events_ = 0;
    acked_now_ = lost_now_ = acked_before_ = lost_before_ = 0;
    bucket_start_ = Instant{};
    recovery_start_ = Instant{};
    in_recovery_epoch_ = false;
    pace_time_ = Instant{};
    last_ack_ = Instant{};
    has_ack_ = false;
    srtt_ = Duration{};
    ack_gap_ = Duration{};
    has_rtt_ = false;
}

void CongestionController::rotate_feedback(Instant now) {
    const Duration round = has_rtt_ ? std::max(srtt_ + ack_gap_, Duration{std::chrono::milliseconds{1}})
                                    : kDefaultRound;
    const Duration age = now - bucket_start_;
    if (age < round) {
        return;
    }
    if (age < 2 * round) {
        acked_before_ = acked_now_;
        lost_before_ = lost_now_;
    } else {
        acked_before_ = lost_before_ = 0;
    }
    acked_now_ = lost_now_ = 0;
    bucket_start_ = now;
}

void CongestionController::update_pacing_rate() {
    if (!has_rtt_) {
        pacing_rate_ = 0;
        return;
    }
    const std::uint32_t gain = in_slow_start() ? config_.slow_start_pacing_gain_permille
                                               : config_.avoidance_pacing_gain_permille;
    const auto round_ns =
        static_cast<std::uint64_t>(std::max<Duration::rep>((srtt_ + ack_gap_).count(), 1000));
    // cwnd <= 2^32 * 1400 and gain <= 2^32 / 1000 keep the product below 2^64 / 10^9 only for
    // sane configurations; clamp to stay safe.
    const std::uint64_t paced_window = std::min<std::uint64_t>(
        scale(cwnd_, gain), std::numeric_limits<std::uint64_t>::max() / kNanosPerSecond);
    pacing_rate_ = std::max<std::uint64_t>(paced_window * kNanosPerSecond / round_ns, 1);
}

void CongestionController::on_packet_sent(Instant now, std::uint64_t bytes) {
    if (pacing_rate_ == 0) {
        return;
    }
    const std::uint64_t burst_bytes =
        std::max(config_.pacing_burst_packets * config_.max_datagram_size,
                 pacing_rate_ / kNanosPerSecond *
                         static_cast<std::uint64_t>(config_.pacing_burst.count()) +
                     pacing_rate_ % kNanosPerSecond *
                         static_cast<std::uint64_t>(config_.pacing_burst.count()) /
                         kNanosPerSecond);
    const auto burst_ns = std::min<std::uint64_t>(
        burst_bytes * kNanosPerSecond / pacing_rate_, kNanosPerSecond);
    const Instant floor = now - Duration{static_cast<Duration::rep>(burst_ns)};
    pace_time_ = std::max(pace_time_, floor);
    const std::uint64_t capped = std::min<std::uint64_t>(bytes, std::uint64_t{1} << 32U);
    pace_time_ += Duration{static_cast<Duration::rep>(capped * kNanosPerSecond / pacing_rate_)};
}

Instant CongestionController::next_send_time(Instant now) const {
    if (pacing_rate_ == 0) {
        return now;
    }
    return std::max(now, pace_time_);
}

std::uint64_t CongestionController::pacing_budget(Instant now) const {
    if (pacing_rate_ == 0) {
        return std::numeric_limits<std::uint64_t>::max();
    }
    if (pace_time_ > now) {
        return 0;
    }
    const auto idle_ns = static_cast<std::uint64_t>(
        std::min<Duration::rep>((now - pace_time_).count(), config_.pacing_burst.count()));
    const std::uint64_t budget = pacing_rate_ / kNanosPerSecond * idle_ns +
                                 pacing_rate_ % kNanosPerSecond * idle_ns / kNanosPerSecond;
    return std::max(budget, config_.max_datagram_size);
}

void CongestionController::on_ack(Instant now, std::uint64_t bytes_acked,
                                  std::uint64_t bytes_in_flight, const RttEstimator& rtt) {
    has_rtt_ = rtt.has_samples();
    srtt_ = rtt.srtt();
    rotate_feedback(now);
    acked_now_ += bytes_acked;
    // Application-limited senders do not learn anything about the path: no growth.
    const bool window_limited = bytes_in_flight >= cwnd_ / 2;
    if (has_ack_ && window_limited && now > last_ack_) {
        const Duration gap = std::min(now - last_ack_, kMaxAckGap);
        ack_gap_ = (7 * ack_gap_ + gap) / 8;
    }
    last_ack_ = now;
    has_ack_ = true;
    if (window_limited && bytes_acked > 0) {
        const std::uint64_t max_window =
            config_.maximum_window_packets * config_.max_datagram_size;
        if (in_slow_start()) {
            cwnd_ = std::min(cwnd_ + bytes_acked, max_window);
        } else {
            // NewReno: one full packet per window of acknowledged bytes.
            avoidance_credit_ += bytes_acked;
            while (avoidance_credit_ >= cwnd_) {
                avoidance_credit_ -= cwnd_;
                cwnd_ = std::min(cwnd_ + config_.max_datagram_size, max_window);
            }
        }
    }
    update_pacing_rate();
}

void CongestionController::on_loss(Instant now, std::uint64_t lost_bytes,
                                   Instant newest_lost_sent) {
    rotate_feedback(now);
    if (in_recovery_epoch_ && newest_lost_sent <= recovery_start_) {
        return;  // part of the episode that already reduced the window
    }
    lost_now_ += lost_bytes;
    const std::uint64_t lost = lost_now_ + lost_before_;
    const std::uint64_t total = lost + acked_now_ + acked_before_;
    if (lost >= 2 * config_.max_datagram_size &&
        lost > total / kPermille * config_.loss_tolerance_permille +
                   total % kPermille * config_.loss_tolerance_permille / kPermille) {
        congestion_event(now);
    }
}

void CongestionController::congestion_event(Instant now) {
    const std::uint32_t beta =
        in_slow_start() ? config_.slow_start_beta_permille : config_.avoidance_beta_permille;
    cwnd_ = std::max(scale(cwnd_, beta),
                     config_.minimum_window_packets * config_.max_datagram_size);
    ssthresh_ = cwnd_;
    avoidance_credit_ = 0;
    recovery_start_ = now;
    in_recovery_epoch_ = true;
    ++congestion_events_;
    acked_now_ = lost_now_ = acked_before_ = lost_before_ = 0;
    bucket_start_ = now;
    update_pacing_rate();
}

}  // namespace netcrypto::data
