// Round-trip time estimation for the lossless layer: RFC 6298 smoothing (our local choice; the
// wire only needs c-toxcore's behaviour, which keeps a running minimum, wire.md §6.7, §8 item 10).
#pragma once

#include <chrono>
#include <cstdint>

#include <netcrypto/time.hpp>

namespace netcrypto::data {

/// Tuning of RttEstimator.
struct RttConfig {
    /// Estimate before the first sample (c-toxcore DEFAULT_PING_CONNECTION).
    Duration initial = std::chrono::milliseconds{1000};
    /// Lower clamp of rto().
    Duration min_rto = std::chrono::milliseconds{200};
    /// Upper clamp of rto().
    Duration max_rto = std::chrono::seconds{60};
    /// Clock granularity G of RFC 6298 (lower bound of the variance term).
    Duration granularity = std::chrono::milliseconds{1};
};

/// Smoothed RTT, RTT variance and retransmission timeout per RFC 6298 (alpha 1/8, beta 1/4,
/// K 4), plus the minimum and latest samples. Integer arithmetic on nanoseconds.
class RttEstimator {
  public:
    /// An estimator reporting `config.initial` until the first sample.
    explicit RttEstimator(RttConfig config = {});

    /// Feeds one RTT measurement; negative samples are ignored.
    void on_sample(Duration sample);

    /// Smoothed RTT (config.initial before the first sample).
    [[nodiscard]] Duration srtt() const { return srtt_; }
    /// RTT variation (config.initial / 2 before the first sample).
    [[nodiscard]] Duration rttvar() const { return rttvar_; }
    /// srtt + max(G, 4 * rttvar), clamped to [min_rto, max_rto].
    [[nodiscard]] Duration rto() const;
    /// Smallest sample seen (config.initial before the first sample).
    [[nodiscard]] Duration min_rtt() const { return min_rtt_; }
    /// Most recent sample (config.initial before the first sample).
    [[nodiscard]] Duration latest() const { return latest_; }
    /// True once a sample was fed.
    [[nodiscard]] bool has_samples() const { return samples_ > 0; }
    /// Samples fed so far.
    [[nodiscard]] std::uint64_t sample_count() const { return samples_; }
    /// Forgets min_rtt (sets it to the latest sample), e.g. after a path change.
    void reset_min_rtt() { min_rtt_ = latest_; }

  private:
    RttConfig config_;
    Duration srtt_;
    Duration rttvar_;
    Duration min_rtt_;
    Duration latest_;
    std::uint64_t samples_ = 0;
};

}  // namespace netcrypto::data
