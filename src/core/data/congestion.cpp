// Congestion control with loss classification and pacing (see docs/congestion.md).
#include "core/data/congestion.hpp"

#include <algorithm>
#include <limits>

namespace netcrypto::data {

namespace {

constexpr std::uint64_t kNanosPerSecond = 1'000'000'000;
constexpr std::uint64_t kPermille = 1000;
constexpr std::uint64_t kPpm = 1'000'000;
// Acknowledgement gaps longer than this are idle periods, not batching.
constexpr Duration kMaxAckGap = std::chrono::milliseconds{250};
// RTT assumed before any sample (c-toxcore's DEFAULT_PING_CONNECTION).
constexpr Duration kDefaultRtt = std::chrono::milliseconds{1000};
constexpr Duration kMinRound = std::chrono::milliseconds{1};
constexpr Duration kMinGuardMargin = std::chrono::microseconds{500};
constexpr std::size_t kInitialLog = 64;
// Feedback (acknowledged plus lost) per baseline sample, in packets (fewer is too noisy).
constexpr std::uint64_t kBaselineMinPackets = 8;
// The baseline saturates here: heavier loss always counts against the window at some point.
constexpr std::uint64_t kMaxBaselinePpm = 300'000;
// Heavy loss: this many standard deviations above the expected count, computed with a loss
// probability of at least kMinVariancePpm.
constexpr std::uint64_t kHeavyLossSigmas = 3;
constexpr std::uint64_t kMinVariancePpm = 10'000;

// value * permille / 1000 without overflow for any value.
std::uint64_t scale(std::uint64_t value, std::uint64_t permille) {
    return (value / kPermille * permille) + (value % kPermille * permille / kPermille);
}

// bytes_per_second * nanos / 1e9 without overflow for nanos <= 1e9.
std::uint64_t bytes_in(std::uint64_t bytes_per_second, std::uint64_t nanos) {
    return (bytes_per_second / kNanosPerSecond * nanos) +
           (bytes_per_second % kNanosPerSecond * nanos / kNanosPerSecond);
}

// floor(sqrt(x)).
std::uint64_t isqrt(std::uint64_t x) {
    std::uint64_t r = 0;
    std::uint64_t bit = std::uint64_t{1} << 62U;
    while (bit > x) {
        bit >>= 2U;
    }
    while (bit != 0) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1U) + bit;
        } else {
            r >>= 1U;
        }
        bit >>= 2U;
    }
    return r;
}

// part / whole in parts per million, saturating at one million.
std::uint64_t ppm(std::uint64_t part, std::uint64_t whole) {
    if (part >= whole) {
        return part == 0 ? 0 : kPpm;
    }
    return part > std::numeric_limits<std::uint64_t>::max() / kPpm ? part / (whole / kPpm)
                                                                   : part * kPpm / whole;
}

}  // namespace

CongestionController::CongestionController(CongestionConfig config) : config_(config) {
    auto& c = config_;
    c.max_datagram_size = std::clamp<std::uint64_t>(c.max_datagram_size, 1, 65536);
    c.minimum_window_packets = std::max<std::uint64_t>(c.minimum_window_packets, 1);
    c.maximum_window_packets = std::clamp<std::uint64_t>(
        c.maximum_window_packets, c.minimum_window_packets, std::uint64_t{1} << 24U);
    c.initial_window_packets =
        std::clamp(c.initial_window_packets, c.minimum_window_packets, c.maximum_window_packets);
    c.additive_increase_packets = std::clamp<std::uint64_t>(c.additive_increase_packets, 1, 64);
    c.additive_increase_interval =
        std::clamp(c.additive_increase_interval, kMinRound, Duration{std::chrono::seconds{10}});
    c.heavy_loss_permille = std::clamp<std::uint32_t>(c.heavy_loss_permille, 1, 1000);
    c.queue_delay_divisor = std::max<std::uint32_t>(c.queue_delay_divisor, 1);
    c.queue_delay_max = std::max(c.queue_delay_max, c.queue_delay_min);
    c.slow_start_beta_permille = std::clamp<std::uint32_t>(c.slow_start_beta_permille, 1, 999);
    c.congestion_beta_permille = std::clamp<std::uint32_t>(c.congestion_beta_permille, 1, 999);
    c.relay_beta_permille = std::clamp<std::uint32_t>(c.relay_beta_permille, 1, 999);
    c.slow_start_pacing_gain_permille =
        std::clamp<std::uint32_t>(c.slow_start_pacing_gain_permille, 1000, 10'000);
    c.avoidance_pacing_gain_permille =
        std::clamp<std::uint32_t>(c.avoidance_pacing_gain_permille, 1000, 10'000);
    c.pacing_burst =
        std::clamp(c.pacing_burst, Duration::zero(), Duration{std::chrono::seconds{1}});
    c.pacing_burst_packets = std::clamp<std::uint64_t>(c.pacing_burst_packets, 1, 1024);
    c.outstanding_limit_windows = std::clamp<std::uint64_t>(c.outstanding_limit_windows, 1, 1024);
    c.outstanding_allowance_packets =
        std::clamp<std::uint64_t>(c.outstanding_allowance_packets, 0, c.maximum_window_packets);
    reset();
}

void CongestionController::reset() {
    cwnd_ = config_.initial_window_packets * config_.max_datagram_size;
    ssthresh_ = std::numeric_limits<std::uint64_t>::max();
    avoidance_credit_ = 0;
    pacing_rate_ = 0;
    congestion_events_ = 0;
    round_start_ = Instant{};
    loss_window_start_ = Instant{};
    loss_window_acked_ = loss_window_lost_ = 0;
    past_acked_.fill(0);
    past_lost_.fill(0);
    tolerated_loss_bytes_ = 0;
    loss_baseline_ppm_ = 0;
    baseline_samples_ = 0;
    cut_in_window_ = false;
    learn_acked_ = learn_lost_ = 0;
    recovery_start_ = Instant{};
    window_at_cut_ = 0;
    episode_end_ = learn_from_ = last_feedback_ = Instant{};
    has_cut_ = false;
    pace_time_ = Instant{};
    srtt_ = min_rtt_ = ack_gap_ = Duration{};
    samples_seen_ = 0;
    round_min_now_ = round_min_before_ = Duration::max();
    has_rtt_ = false;
    last_ack_ = Instant{};
    has_ack_ = false;
    used_window_at_ = Instant{};
    has_used_window_ = false;
    log_.reset();
    log_capacity_ = log_head_ = log_size_ = 0;
    log_bytes_ = 0;
}

Duration CongestionController::recent_rtt() const {
    if (!has_rtt_) {
        return kDefaultRtt;
    }
    const Duration round_min = std::min(round_min_now_, round_min_before_);
    return round_min == Duration::max() ? srtt_ : round_min;
}

Duration CongestionController::queue_delay() const {
    const Duration recent = recent_rtt();
    return has_rtt_ && recent > min_rtt_ ? recent - min_rtt_ : Duration::zero();
}

Duration CongestionController::resend_guard() const {
    if (!has_rtt_) {
        return kDefaultRtt;
    }
    const Duration recent = recent_rtt();
    return recent + std::max(recent / 4, kMinGuardMargin) + ack_gap_;
}

Duration CongestionController::flight_age() const {
    const Duration recent = recent_rtt();
    return recent + std::max({ack_gap_, recent / 4, kMinRound});
}

Duration CongestionController::round_length() const {
    return std::max(recent_rtt() + ack_gap_, kMinRound);
}

void CongestionController::prune(Instant now) {
    const Duration age = flight_age();
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
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
    const std::uint64_t windows = config_.outstanding_limit_windows;
    const std::uint64_t allowance =
        config_.outstanding_allowance_packets * config_.max_datagram_size;
    const std::uint64_t limit =
        cwnd_ > (kMax - allowance) / windows ? kMax : (cwnd_ * windows) + allowance;
    return outstanding_bytes < limit && bytes_in_flight(now) < cwnd_;
}

Instant CongestionController::next_window_time(Instant now) {
    prune(now);
    if (log_bytes_ < cwnd_) {
        return now;
    }
    const Duration age = flight_age();
    std::uint64_t remaining = log_bytes_;
    for (std::size_t i = 0; i < log_size_; ++i) {
        const SendRecord& r = log_[(log_head_ + i) % log_capacity_];
        remaining -= r.bytes;
        if (remaining < cwnd_) {
            return r.at + age + Duration{1};
        }
    }
    return now;
}

void CongestionController::trim(Instant now) {
    prune(now);
    if (log_size_ == 0) {
        log_.reset();
        log_capacity_ = log_head_ = 0;
    }
}

void CongestionController::cut(Instant now, std::uint64_t keep_permille) {
    const bool slow_start = in_slow_start();
    window_at_cut_ = cwnd_;
    cwnd_ = std::max(scale(cwnd_, keep_permille),
                     config_.minimum_window_packets * config_.max_datagram_size);
    if (slow_start) {
        // Slow start overshot the path by up to twice: the loss seen while growing back
        // towards the overshoot may be the sender's own, so nothing is learnt until a cut
        // in congestion avoidance.
        window_at_cut_ = cwnd_;
    }
    ssthresh_ = cwnd_;
    avoidance_credit_ = 0;
    recovery_start_ = now;
    // The queue that caused the cut drains within about a round: losses of packets sent
    // until then belong to this episode, and are reported up to a resend guard later.
    episode_end_ = now + round_length();
    learn_from_ = episode_end_ + resend_guard();
    cut_in_window_ = true;
    has_cut_ = true;
    ++congestion_events_;
    update_pacing_rate();
}

void CongestionController::end_round_if_due(Instant now) {
    const Duration elapsed = now - round_start_;
    const Duration round = round_length();
    if (elapsed < round) {
        return;
    }
    const bool consecutive = elapsed < 2 * round;
    round_min_before_ = consecutive ? round_min_now_ : Duration::max();
    round_min_now_ = Duration::max();
    round_start_ = now;
}

Duration CongestionController::loss_window_length() const {
    // Losses are reported one resend guard after the send at the earliest, so a window
    // shorter than the guard would see them in bursts (it is much longer than the RTT on
    // a fast local path).
    return std::max(round_length(), resend_guard());
}

void CongestionController::end_loss_window_if_due(Instant now) {
    const Duration elapsed = now - loss_window_start_;
    const Duration length = loss_window_length();
    if (elapsed < length) {
        return;
    }
    // The loss rate the path shows anyway, from the feedback gathered while learning() once
    // there is enough of it (it may span several windows). Feedback of a window that cut the
    // window (its loss was judged congestion) or saw a standing queue is discarded.
    const std::uint64_t learnt = learn_acked_ + learn_lost_;
    if (cut_in_window_ || queue_standing()) {
        learn_acked_ = learn_lost_ = 0;
    } else if (learnt >= kBaselineMinPackets * config_.max_datagram_size) {
        const std::uint64_t rate = std::min(ppm(learn_lost_, learnt), kMaxBaselinePpm);
        // The first sample is taken as it is: the prior (zero) says nothing about the path.
        loss_baseline_ppm_ = baseline_samples_ == 0 ? rate : ((7 * loss_baseline_ppm_) + rate) / 8;
        ++baseline_samples_;
        learn_acked_ = learn_lost_ = 0;
    }
    // Everything counted so far happened within [start, start + length) (a later call would
    // have ended the window): it becomes the newest past window, followed by one empty window
    // for every further length that passed without a call.
    const auto passed = static_cast<std::uint64_t>(elapsed / length);
    const std::size_t history = past_acked_.size();
    const auto shift = static_cast<std::size_t>(std::min<std::uint64_t>(passed, history + 1));
    for (std::size_t step = 0; step < shift; ++step) {
        for (std::size_t i = history - 1; i > 0; --i) {
            past_acked_[i] = past_acked_[i - 1];
            past_lost_[i] = past_lost_[i - 1];
        }
        past_acked_[0] = step == 0 ? loss_window_acked_ : 0;
        past_lost_[0] = step == 0 ? loss_window_lost_ : 0;
    }
    loss_window_acked_ = loss_window_lost_ = 0;
    cut_in_window_ = false;
    loss_window_start_ =
        passed > history ? now : loss_window_start_ + (length * static_cast<Duration::rep>(passed));
}

void CongestionController::update_pacing_rate() {
    if (!has_rtt_) {
        pacing_rate_ = 0;
        return;
    }
    const std::uint32_t gain = in_slow_start() ? config_.slow_start_pacing_gain_permille
                                               : config_.avoidance_pacing_gain_permille;
    const auto round_ns = static_cast<std::uint64_t>(round_length().count());
    // The window is at most 2^24 packets of at most 64 KiB and the gain at most 10.
    pacing_rate_ = std::max<std::uint64_t>(scale(cwnd_, gain) * kNanosPerSecond / round_ns, 1);
}

void CongestionController::on_packet_sent(Instant now, std::uint64_t bytes) {
    end_round_if_due(now);
    end_loss_window_if_due(now);
    bytes = std::min<std::uint64_t>(bytes, std::uint64_t{1} << 32U);
    log_send(now, bytes);
    if (log_bytes_ >= cwnd_ / 2) {
        used_window_at_ = now;
        has_used_window_ = true;
    }
    if (pacing_rate_ == 0) {
        return;
    }
    const auto burst_window = static_cast<std::uint64_t>(config_.pacing_burst.count());
    const std::uint64_t burst_bytes =
        std::max(config_.pacing_burst_packets * config_.max_datagram_size,
                 bytes_in(pacing_rate_, burst_window));
    const std::uint64_t burst_ns =
        std::min<std::uint64_t>(std::min<std::uint64_t>(burst_bytes, std::uint64_t{1} << 32U) *
                                    kNanosPerSecond / pacing_rate_,
                                kNanosPerSecond);
    pace_time_ = std::max(pace_time_, now - Duration{static_cast<Duration::rep>(burst_ns)});
    pace_time_ += Duration{static_cast<Duration::rep>(bytes * kNanosPerSecond / pacing_rate_)};
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

void CongestionController::on_ack(Instant now, std::uint64_t bytes_acked, const RttEstimator& rtt) {
    has_rtt_ = rtt.has_samples();
    srtt_ = rtt.srtt();
    min_rtt_ = rtt.min_rtt();
    end_round_if_due(now);
    end_loss_window_if_due(now);
    last_feedback_ = now;
    bytes_acked = std::min<std::uint64_t>(bytes_acked, std::uint64_t{1} << 40U);
    loss_window_acked_ += bytes_acked;
    if (learning()) {
        learn_acked_ += bytes_acked;
    }
    if (rtt.sample_count() != samples_seen_) {
        samples_seen_ = rtt.sample_count();
        round_min_now_ = std::min(round_min_now_, rtt.latest());
    }
    // Application-limited senders learn nothing about the path: grow only if at least half
    // the window was in flight at some send during the last round trip.
    const bool window_limited = has_used_window_ && now - used_window_at_ <= 2 * round_length();
    if (has_ack_ && window_limited && now > last_ack_) {
        const Duration gap = std::min(now - last_ack_, kMaxAckGap);
        ack_gap_ = ((7 * ack_gap_) + gap) / 8;
    }
    last_ack_ = now;
    has_ack_ = true;
    if (window_limited && bytes_acked > 0) {
        const std::uint64_t max_window = config_.maximum_window_packets * config_.max_datagram_size;
        if (in_slow_start()) {
            cwnd_ = std::min(cwnd_ + bytes_acked, max_window);
        } else {
            // `increase` packets per window of acknowledged bytes, i.e. per round trip.
            const auto rounds = static_cast<std::uint64_t>(std::min<Duration::rep>(
                recent_rtt().count(), std::chrono::nanoseconds{std::chrono::seconds{60}}.count()));
            const auto interval =
                static_cast<std::uint64_t>(config_.additive_increase_interval.count());
            const std::uint64_t increase =
                std::max<std::uint64_t>(1, config_.additive_increase_packets * rounds / interval);
            avoidance_credit_ += bytes_acked * std::min<std::uint64_t>(increase, 1024);
            while (avoidance_credit_ >= cwnd_) {
                avoidance_credit_ -= cwnd_;
                cwnd_ = std::min(cwnd_ + config_.max_datagram_size, max_window);
            }
        }
    }
    update_pacing_rate();
}

bool CongestionController::queue_standing() const {
    const Duration threshold = std::clamp(min_rtt_ / config_.queue_delay_divisor,
                                          config_.queue_delay_min, config_.queue_delay_max) +
                               ack_gap_;
    return queue_delay() >= threshold;
}

bool CongestionController::learning() const {
    // After a cut, while the window is below its size at the cut, the sender is not what
    // overflows the path (it overflowed at that size), so the loss it sees is the path's own.
    // Learning at other times would let congestion loss that grows with the window raise the
    // baseline step by step until no loss counted as heavy any more.
    return has_cut_ && cwnd_ < window_at_cut_ && last_feedback_ >= learn_from_;
}

bool CongestionController::heavy_loss(std::uint64_t lost_bytes, std::uint64_t sent_bytes) const {
    const std::uint64_t mss = config_.max_datagram_size;
    if (lost_bytes < 2 * mss) {
        return false;
    }
    // In milli-packets: more lost than the baseline plus the margin predict for this many
    // sends, by three standard deviations of a binomial count (p at least 1 %), so that a
    // small window does not cut on the luck of the draw.
    const std::uint64_t sent_mp = std::min(sent_bytes, std::uint64_t{1} << 40U) * kPermille / mss;
    const std::uint64_t lost_mp = std::min(lost_bytes, std::uint64_t{1} << 40U) * kPermille / mss;
    const std::uint64_t margin_ppm =
        std::uint64_t{config_.heavy_loss_permille} * (kPpm / kPermille);
    const std::uint64_t expected_mp = scale(sent_mp, (loss_baseline_ppm_ + margin_ppm) / kPermille);
    const std::uint64_t p = std::max<std::uint64_t>(loss_baseline_ppm_, kMinVariancePpm);
    const std::uint64_t q = p * (kPpm - p) / kPpm;  // Bernoulli variance, ppm
    const std::uint64_t sd_mp = isqrt(sent_mp * q / kPermille);
    return lost_mp > expected_mp + (kHeavyLossSigmas * sd_mp);
}

void CongestionController::on_loss(Instant now, std::uint64_t lost_bytes,
                                   Instant newest_lost_sent) {
    end_round_if_due(now);
    end_loss_window_if_due(now);
    last_feedback_ = now;
    lost_bytes = std::min<std::uint64_t>(lost_bytes, std::uint64_t{1} << 40U);
    if (has_cut_ && newest_lost_sent <= episode_end_) {
        return;  // this episode already cut the window
    }
    if (learning()) {
        learn_lost_ += lost_bytes;
    }
    // Losses are weighed against the acknowledgements reported in the same windows: both
    // describe earlier sends, and both arrive in bursts after a stall. The test spans this
    // window and earlier ones (a window that just began says little): one in slow start,
    // where the window doubles per round and overshoot must end quickly, three in congestion
    // avoidance, where a longer view keeps loss reports that arrive in bursts (all of a sent
    // burst passes the resend guard at once) from looking heavy.
    loss_window_lost_ += lost_bytes;
    std::uint64_t lost = loss_window_lost_;
    std::uint64_t acked = loss_window_acked_;
    const std::size_t windows = in_slow_start() ? 1 : past_acked_.size();
    for (std::size_t i = 0; i < windows; ++i) {
        lost += past_lost_[i];
        acked += past_acked_[i];
    }
    const bool heavy = heavy_loss(lost, lost + acked);
    // A loss while a queue stands is congestion; a loss on an empty path is random. Samples
    // can be late by one acknowledgement gap, so that much delay proves nothing. In slow
    // start only heavy loss counts: a newcomer sees the queue of established flows and must
    // still be able to ramp up.
    const bool queued = has_rtt_ && !in_slow_start() && queue_standing();
    if (heavy || queued) {
        std::uint32_t beta =
            relayed_ ? config_.relay_beta_permille : config_.congestion_beta_permille;
        if (in_slow_start()) beta = config_.slow_start_beta_permille;
        cut(now, beta);
    } else {
        tolerated_loss_bytes_ += lost_bytes;
    }
}

}  // namespace netcrypto::data
