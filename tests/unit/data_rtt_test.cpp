// RttEstimator: RFC 6298 initialisation, smoothing, convergence and clamps.
#include <chrono>

#include <gtest/gtest.h>

#include "core/data/rtt.hpp"

namespace netcrypto::data {
namespace {

using std::chrono::milliseconds;

TEST(RttEstimatorTest, StartsAtDefaultPingConnection) {
    const RttEstimator rtt;
    EXPECT_FALSE(rtt.has_samples());
    EXPECT_EQ(rtt.srtt(), milliseconds{1000}) << "c-toxcore DEFAULT_PING_CONNECTION";
    EXPECT_EQ(rtt.min_rtt(), milliseconds{1000});
    EXPECT_EQ(rtt.rto(), milliseconds{3000}) << "1000 + 4 * 500";
}

TEST(RttEstimatorTest, FirstSampleInitialisesPerRfc6298) {
    RttEstimator rtt;
    rtt.on_sample(milliseconds{100});
    EXPECT_EQ(rtt.srtt(), milliseconds{100});
    EXPECT_EQ(rtt.rttvar(), milliseconds{50});
    EXPECT_EQ(rtt.rto(), milliseconds{300});
    EXPECT_EQ(rtt.latest(), milliseconds{100});
    EXPECT_EQ(rtt.sample_count(), 1U);
}

TEST(RttEstimatorTest, SecondSampleUsesAlphaAndBeta) {
    RttEstimator rtt;
    rtt.on_sample(milliseconds{100});
    rtt.on_sample(milliseconds{200});
    EXPECT_EQ(rtt.rttvar(), std::chrono::microseconds{(3 * 50'000 + 100'000) / 4}) << "beta = 1/4";
    EXPECT_EQ(rtt.srtt(), std::chrono::microseconds{(7 * 100'000 + 200'000) / 8}) << "alpha = 1/8";
    EXPECT_EQ(rtt.min_rtt(), milliseconds{100});
}

TEST(RttEstimatorTest, ConvergesToAStableRtt) {
    RttEstimator rtt;
    rtt.on_sample(milliseconds{500});
    for (int i = 0; i < 200; ++i) {
        rtt.on_sample(milliseconds{i % 2 == 0 ? 19 : 21});
    }
    EXPECT_NEAR(static_cast<double>(rtt.srtt().count()), 20e6, 1.1e6)
        << "srtt must converge to the mean of the samples";
    EXPECT_LT(rtt.rttvar(), milliseconds{3}) << "variance must shrink to the jitter";
    EXPECT_EQ(rtt.min_rtt(), milliseconds{19});
    EXPECT_EQ(rtt.rto(), milliseconds{200}) << "clamped to the minimum RTO";
}

TEST(RttEstimatorTest, IgnoresNegativeSamplesAndClampsRto) {
    RttEstimator rtt({.initial = milliseconds{1000},
                      .min_rto = milliseconds{200},
                      .max_rto = milliseconds{2000},
                      .granularity = milliseconds{1}});
    rtt.on_sample(milliseconds{-5});
    EXPECT_FALSE(rtt.has_samples());
    rtt.on_sample(milliseconds{1500});
    EXPECT_EQ(rtt.rto(), milliseconds{2000}) << "clamped to the maximum RTO";
    rtt.on_sample(milliseconds{0});
    EXPECT_EQ(rtt.min_rtt(), milliseconds{0});
    rtt.reset_min_rtt();
    EXPECT_EQ(rtt.min_rtt(), rtt.latest());
}

}  // namespace
}  // namespace netcrypto::data
