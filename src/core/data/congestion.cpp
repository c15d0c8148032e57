// Loss-tolerant NewReno with pacing (see docs/congestion.md).
#include "core/data/congestion.hpp"

#include <algorithm>
#include <limits>
#include <cstdio> // DEBUG

namespace netcrypto::data {

namespace {

constexpr std::uint64_t kNanosPerSecond = 1'000'000'000;
constexpr std::uint64_t kPermille = 1000;
// Acknowledgement gaps longer than this are idle periods, not batching.
constexpr Duration kMaxAckGap = std::chrono::milliseconds{250};
// Bucket length of the loss-rate history before any RTT sample.
constexpr Duration kDefaultRound = std::chrono::milliseconds{1000};
constexpr Duration kMinRound = std::chrono::milliseconds{1};
constexpr std::size_t kInitialLog = 64;

// value * permille / 1000 without overflow for any value.
std::uint64_t scale(std::uint64_t value, std::uint64_t permille) {
    return (value / kPermille * permille) + (value % kPermille * permille / kPermille);
}

// bytes_per_second * nanos / 1e9 without overflow for nanos <= 1e9.
std::uint64_t bytes_in(std::uint64_t bytes_per_second, std::uint64_t nanos) {
    return (bytes_per_second / kNanosPerSecond * nanos) +
           (bytes_per_second % kNanosPerSecond * nanos / kNanosPerSecond);
}

// floor(sqrt(x)) by Newton's method on integers.
std::uint64_t integer_sqrt(std::uint64_t x) {
    if (x < 2) {
        return x;
    }
    std::uint64_t r = x;
    std::uint64_t next = (r + (x / r)) / 2;
    while (next < r) {
        r = next;
        next = (r + (x / r)) / 2;
    }
    return r;
}

}  // namespace

CongestionController::CongestionController(CongestionConfig config) : config_(config) {
    config_.max_datagram_size = std::max<std::uint64_t>(config_.max_datagram_size, 1);
    config_.minimum_window_packets = std::max<std::uint64_t>(config_.minimum_window_packets, 1);
    config_.maximum_window_packets =
        std::clamp<std::uint64_t>(config_.maximum_window_packets, config_.minimum_window_packets,
                                  std::uint64_t{1} << 32U);
    config_.initial_window_packets =
        std::clamp(config_.initial_window_packets, config_.minimum_window_packets,
                   config_.maximum_window_packets);
    config_.loss_tolerance_permille = std::min<std::uint32_t>(config_.loss_tolerance_permille, 1000);
    config_.slow_start_beta_permille = std::min<std::uint32_t>(config_.slow_start_beta_permille, 999);
    config_.avoidance_beta_permille = std::min<std::uint32_t>(config_.avoidance_beta_permille, 999);
    config_.slow_start_pacing_gain_permille =
        std::clamp<std::uint32_t>(config_.slow_start_pacing_gain_permille, 1000, 10'000);
    config_.avoidance_pacing_gain_permille =
        std::clamp<std::uint32_t>(config_.avoidance_pacing_gain_permille, 1000, 10'000);
    config_.pacing_burst = std::clamp(config_.pacing_burst, Duration::zero(),
                                      Duration{std::chrono::seconds{1}});
    config_.outstanding_limit_windows = std::max<std::uint64_t>(config_.outstanding_limit_windows, 1);
    reset();
}

void CongestionController::reset() {
    cwnd_ = config_.initial_window_packets * config_.max_datagram_size;
    ssthresh_ = std::numeric_limits<std::uint64_t>::max();
    avoidance_credit_ = 0;
    pacing_rate_ = 0;
    congestion_events_ = 0;
    sent_now_ = lost_now_ = sent_before_ = lost_before_ = 0;
    bucket_start_ = Instant{};
    recovery_start_ = Instant{};
    in_recovery_epoch_ = false;
    pace_time_ = Instant{};
    srtt_ = rttvar_ = ack_gap_ = Duration{};
    has_rtt_ = false;
    last_ack_ = Instant{};
    has_ack_ = false;
    log_.reset();
    log_capacity_ = log_head_ = log_size_ = 0;
    log_bytes_ = 0;
}

Duration CongestionController::flight_age() const {
    if (!has_rtt_) {
        return Duration::max();  // nothing leaves the estimate before the first sample
    }
    return srtt_ + std::max({4 * rttvar_, ack_gap_, kMinRound});
}

void CongestionController::prune(Instant now) {
    const Duration age = flight_age();
    if (age == Duration::max()) {
        return;
    }
    while (log_size_ > 0 && now - log_[log_head_].at > age) {
        log_bytes_ -= log_[log_head_].bytes;
        log_head_ = (log_head_ + 1) % log_capacity_;
        --log_size_;
    }
}

void CongestionController::log_send(Instant now, std::uint64_t bytes) {
    prune(now);
    if (log_size_ == log_capacity_) {
        const std::size_t capacity = log_capacity_ == 0 ? kInitialLog : log_capacity_ * 2;
        auto log = std::make_unique<SendRecord[]>(capacity);
        for (std::size_t i = 0; i < log_size_; ++i) {
            log[i] = log_[(log_head_ + i) % log_capacity_];
        }
        log_ = std::move(log);
        log_capacity_ = capacity;
        log_head_ = 0;
    }
    log_[(log_head_ + log_size_) % log_capacity_] = SendRecord{now, bytes};
    ++log_size_;
    log_bytes_ += bytes;
}

std::uint64_t CongestionController::bytes_in_flight(Instant now) {
    prune(now);
    return log_bytes_;
}

bool CongestionController::can_send(Instant now, std::uint64_t outstanding_bytes) {
    const std::uint64_t limit = cwnd_ > std::numeric_limits<std::uint64_t>::max() /
                                            config_.outstanding_limit_windows
                                    ? std::numeric_limits<std::uint64_t>::max()
                                    : cwnd_ * config_.outstanding_limit_windows;
    return outstanding_bytes < limit && bytes_in_flight(now) < cwnd_;
}

void CongestionController::trim(Instant now) {
    prune(now);
    if (log_size_ == 0) {
        log_.reset();
        log_capacity_ = log_head_ = 0;
    }
}

void CongestionController::rotate_buckets(Instant now) {
    const Duration round = has_rtt_ ? std::max(srtt_ + ack_gap_, kMinRound) : kDefaultRound;
    const Duration age = now - bucket_start_;
    if (age < round) {
        return;
    }
    if (age < 2 * round) {
        sent_before_ = sent_now_;
        lost_before_ = lost_now_;
    } else {
        sent_before_ = lost_before_ = 0;
    }
    sent_now_ = lost_now_ = 0;
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
    // window <= 2^32 packets of a sane size and gain <= 10: clamp anyway before scaling.
    const std::uint64_t paced_window = std::min<std::uint64_t>(
        scale(cwnd_, gain), std::numeric_limits<std::uint64_t>::max() / kNanosPerSecond);
    pacing_rate_ = std::max<std::uint64_t>(paced_window * kNanosPerSecond / round_ns, 1);
}

void CongestionController::on_packet_sent(Instant now, std::uint64_t bytes) {
    rotate_buckets(now);
    sent_now_ += bytes;
    log_send(now, bytes);
    if (pacing_rate_ == 0) {
        return;
    }
    const auto burst_window = static_cast<std::uint64_t>(config_.pacing_burst.count());
    const std::uint64_t burst_bytes =
        std::max(config_.pacing_burst_packets * config_.max_datagram_size,
                 bytes_in(pacing_rate_, burst_window));
    const std::uint64_t burst_ns = std::min<std::uint64_t>(
        std::min<std::uint64_t>(burst_bytes, std::uint64_t{1} << 32U) * kNanosPerSecond /
            pacing_rate_,
        kNanosPerSecond);
    pace_time_ = std::max(pace_time_, now - Duration{static_cast<Duration::rep>(burst_ns)});
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
    return std::max(bytes_in(pacing_rate_, idle_ns), config_.max_datagram_size);
}

void CongestionController::on_ack(Instant now, std::uint64_t bytes_acked,
                                  const RttEstimator& rtt) {
    has_rtt_ = rtt.has_samples();
    srtt_ = rtt.srtt();
    rttvar_ = rtt.rttvar();
    rotate_buckets(now);
    // Application-limited senders learn nothing about the path: no growth.
    const bool window_limited = bytes_in_flight(now) + bytes_acked >= cwnd_ / 2;
    if (has_ack_ && window_limited && now > last_ack_) {
        const Duration gap = std::min(now - last_ack_, kMaxAckGap);
        ack_gap_ = ((7 * ack_gap_) + gap) / 8;
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
    rotate_buckets(now);
    if (in_recovery_epoch_ && newest_lost_sent <= recovery_start_) {
        return;  // part of the episode that already reduced the window
    }
    lost_now_ += lost_bytes;
    // The test is statistical and works in packets. Random loss at rate p gives about p * n
    // losses among n packets with a spread of sqrt(p * n); congestion is declared only when
    // the losses exceed tolerance * n by two such spreads plus one packet. The margin is
    // largest, relatively, for flows with few packets in flight, so a newcomer next to an
    // established flow reacts later than the established flow does.
    const std::uint64_t mss = config_.max_datagram_size;
    const std::uint64_t lost = (lost_now_ + lost_before_ + mss - 1) / mss;
    const std::uint64_t sent = std::max(lost, (sent_now_ + sent_before_) / mss);
    const std::uint64_t expected = scale(sent, config_.loss_tolerance_permille);
    if (lost > expected + (2 * integer_sqrt(expected)) + 1) {
        std::printf("EVENT %p t=%ld lost %lu sent %lu  cwnd %lu ss %d\n", static_cast<void*>(this), to_ms(now), lost, sent, cwnd_/mss, in_slow_start() ? 1 : 0);
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
    sent_now_ = lost_now_ = sent_before_ = lost_before_ = 0;
    bucket_start_ = now;
    update_pacing_rate();
}

}  // namespace netcrypto::data
