// RFC 6298 RTT estimator.
#include "core/data/rtt.hpp"

#include <algorithm>

namespace netcrypto::data {

RttEstimator::RttEstimator(RttConfig config)
    : config_(config),
      srtt_(config.initial),
      rttvar_(config.initial / 2),
      min_rtt_(config.initial),
      latest_(config.initial) {}

void RttEstimator::on_sample(Duration sample) {
    if (sample < Duration::zero()) {
        return;
    }
    latest_ = sample;
    if (samples_ == 0) {
        srtt_ = sample;
        rttvar_ = sample / 2;
        min_rtt_ = sample;
    } else {
        const Duration deviation = srtt_ > sample ? srtt_ - sample : sample - srtt_;
        rttvar_ = (3 * rttvar_ + deviation) / 4;
        srtt_ = (7 * srtt_ + sample) / 8;
        min_rtt_ = std::min(min_rtt_, sample);
    }
    ++samples_;
}

Duration RttEstimator::rto() const {
    const Duration rto = srtt_ + std::max(config_.granularity, 4 * rttvar_);
    return std::clamp(rto, config_.min_rto, std::max(config_.min_rto, config_.max_rto));
}

}  // namespace netcrypto::data
