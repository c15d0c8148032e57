// CongestionController: slow start, loss episodes, loss classification, pacing, in-flight
// estimate. (End-to-end goodput and fairness are checked in data_flow_test.cpp.)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>

#include <gtest/gtest.h>

#include "core/data/congestion.hpp"
#include "core/data/rtt.hpp"

namespace netcrypto::data {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr std::uint64_t kMss = 1400;

// Drives a controller through whole round trips on an idealised path.
class Driver {
  public:
    explicit Driver(CongestionConfig config = {}) : cc(config) {}

    // Sends a full window, then acknowledges all of it one RTT later with `rtt` samples,
    // spreading the acknowledgements over 1 ms, and waits until the in-flight estimate has
    // retired the round (it forgets sends by age). Returns the number of packets sent.
    std::uint64_t round(Duration rtt = milliseconds{20}) {
        now += rtt / 2;
        std::uint64_t sent = 0;
        while (cc.can_send(now, 0)) {
            cc.on_packet_sent(now, kMss);
            ++sent;
        }
        last_round_start = now;
        now += rtt;
        for (std::uint64_t i = 0; i < sent; ++i) {
            estimator.on_sample(rtt);
            cc.on_ack(now, kMss, estimator);
            now += microseconds{1000 / sent + 1};
        }
        return sent;
    }

    CongestionController cc;
    RttEstimator estimator;
    Instant now = instant_from_ms(1000);
    Instant last_round_start{};
};

TEST(CongestionTest, StartsWithTenPacketsUnpaced) {
    CongestionController cc;
    const Instant t = instant_from_ms(5);
    EXPECT_EQ(cc.window(), 10 * kMss);
    EXPECT_TRUE(cc.in_slow_start());
    EXPECT_EQ(cc.pacing_rate(), 0U) << "no RTT sample yet: the first flight is not paced";
    for (int i = 0; i < 10; ++i) {
        ASSERT_TRUE(cc.can_send(t, 0)) << "packet " << i;
        EXPECT_EQ(cc.next_send_time(t), t);
        cc.on_packet_sent(t, kMss);
    }
    EXPECT_FALSE(cc.can_send(t, 0)) << "the initial window is full";
    EXPECT_EQ(cc.bytes_in_flight(t), 10 * kMss);
    EXPECT_EQ(cc.resend_guard(), milliseconds{1000}) << "c-toxcore's initial RTT";
}

TEST(CongestionTest, SlowStartDoublesPerRoundTrip) {
    Driver d;
    EXPECT_EQ(d.round(), 10U);
    EXPECT_EQ(d.cc.window(), 20 * kMss);
    EXPECT_EQ(d.round(), 20U);
    EXPECT_EQ(d.cc.window(), 40 * kMss);
    EXPECT_EQ(d.round(), 40U);
    EXPECT_EQ(d.cc.window(), 80 * kMss);
    EXPECT_TRUE(d.cc.in_slow_start());
    EXPECT_EQ(d.cc.congestion_events(), 0U);
}

TEST(CongestionTest, HeavyLossHalvesOncePerEpisode) {
    Driver d;
    for (int i = 0; i < 4; ++i) {
        d.round();
    }
    ASSERT_EQ(d.cc.window(), 160 * kMss);
    const Instant sent_in_last_round = d.last_round_start;
    // 20% of the last round reported lost, in three reports.
    d.cc.on_loss(d.now, 10 * kMss, sent_in_last_round);
    EXPECT_EQ(d.cc.window(), 80 * kMss) << "slow start ends with a cut to one half";
    EXPECT_FALSE(d.cc.in_slow_start());
    EXPECT_EQ(d.cc.ssthresh(), 80 * kMss);
    d.cc.on_loss(d.now, 10 * kMss, sent_in_last_round);
    d.cc.on_loss(d.now + milliseconds{5}, 12 * kMss, sent_in_last_round);
    EXPECT_EQ(d.cc.window(), 80 * kMss)
        << "losses of packets sent before the cut belong to the same episode";
    EXPECT_EQ(d.cc.congestion_events(), 1U);
    EXPECT_EQ(d.cc.recovery_start(), d.now);
}

TEST(CongestionTest, AvoidanceGrowsLinearly) {
    Driver d;
    for (int i = 0; i < 3; ++i) {
        d.round();
    }
    d.cc.on_loss(d.now, 20 * kMss, d.last_round_start);  // heavy: leave slow start
    const std::uint64_t w0 = d.cc.window();
    ASSERT_FALSE(d.cc.in_slow_start());
    d.round();
    const std::uint64_t w1 = d.cc.window();
    d.round();
    const std::uint64_t w2 = d.cc.window();
    // 4 packets per 20 ms of RTT, per RTT (give or take one: the window grows during the
    // round, so a round's acknowledgements buy slightly less than 4 windows' worth).
    EXPECT_NEAR(static_cast<double>(w1 - w0), 4.0 * kMss, 1.0 * kMss);
    EXPECT_NEAR(static_cast<double>(w2 - w1), 4.0 * kMss, 1.0 * kMss);
}

TEST(CongestionTest, RandomLossOnAnEmptyPathIsTolerated) {
    Driver d;
    for (int i = 0; i < 6; ++i) {
        d.round();
    }
    d.cc.on_loss(d.now, 40 * kMss, d.last_round_start);  // leave slow start
    d.round();
    d.round();
    const std::uint64_t before = d.cc.window();
    // One packet of a ~330-packet round lost, RTT at its minimum: random loss.
    d.cc.on_loss(d.now, kMss, d.last_round_start + milliseconds{1});
    EXPECT_EQ(d.cc.window(), before);
    EXPECT_EQ(d.cc.tolerated_loss_bytes(), kMss);
}

TEST(CongestionTest, LossWithAStandingQueueCutsTheWindow) {
    Driver d;
    for (int i = 0; i < 6; ++i) {
        d.round();
    }
    d.cc.on_loss(d.now, 40 * kMss, d.last_round_start);  // leave slow start
    d.round();
    d.round(milliseconds{30});  // 10 ms of queueing, far above 20/8 ms + ack gap
    d.round(milliseconds{30});
    ASSERT_GE(d.cc.queue_delay(), milliseconds{9});
    const std::uint64_t before = d.cc.window();
    d.cc.on_loss(d.now, kMss, d.last_round_start + milliseconds{1});
    EXPECT_EQ(d.cc.window(), before * 7 / 10) << "one loss with a queue: cut to 0.7";
    d.cc.on_loss(d.now, kMss, d.last_round_start + milliseconds{2});
    EXPECT_EQ(d.cc.window(), before * 7 / 10) << "same episode";
}

TEST(CongestionTest, ThroughARelayAQueuedLossCutsGently) {
    // Same path and loss as above, but the packets go through a TCP relay: the cut is
    // relay_beta_permille (0.95), and back on UDP the next episode cuts by 0.7 again.
    Driver d;
    d.cc.set_relayed(true);
    for (int i = 0; i < 6; ++i) {
        d.round();
    }
    d.cc.on_loss(d.now, 40 * kMss, d.last_round_start);  // leave slow start (heavy: 0.5)
    d.round();
    d.round(milliseconds{30});
    d.round(milliseconds{30});
    ASSERT_GE(d.cc.queue_delay(), milliseconds{9});
    const std::uint64_t before = d.cc.window();
    d.cc.on_loss(d.now, kMss, d.last_round_start + milliseconds{1});
    EXPECT_EQ(d.cc.window(), before * 95 / 100) << "a relayed loss with a queue: cut to 0.95";
    d.cc.set_relayed(false);
    d.round(milliseconds{30});
    d.round(milliseconds{30});
    const std::uint64_t udp_before = d.cc.window();
    d.cc.on_loss(d.now, kMss, d.last_round_start + milliseconds{1});
    EXPECT_EQ(d.cc.window(), udp_before * 7 / 10) << "on UDP again: cut to 0.7";
}

// A paced sender on a path that loses exactly every `loss_every`-th packet whatever the
// rate (random loss, no queue): each packet is acknowledged one RTT after its send, or
// reported lost a resend guard later, in send order, as REQUESTs would report them.
struct LossyPath {
    CongestionController cc;
    RttEstimator estimator;
    std::uint64_t loss_every;
    Duration rtt = milliseconds{20};
    Instant now = instant_from_ms(1000);
    std::uint64_t counter = 0;
    std::uint64_t sent = 0;
    struct Feedback {
        Instant at;
        Instant sent_at;
        bool lost;
    };
    std::deque<Feedback> pending;

    explicit LossyPath(std::uint64_t every) : loss_every(every) {}

    void run_for(Duration d) {
        const Instant end = now + d;
        for (; now < end; now += microseconds{50}) {
            while (!pending.empty() && pending.front().at <= now) {
                const Feedback f = pending.front();
                pending.pop_front();
                if (f.lost) {
                    cc.on_loss(now, kMss, f.sent_at);
                } else {
                    estimator.on_sample(rtt);
                    cc.on_ack(now, kMss, estimator);
                }
            }
            while (cc.can_send(now, 0) && cc.next_send_time(now) <= now) {
                cc.on_packet_sent(now, kMss);
                ++sent;
                const bool lost = ++counter % loss_every == 0;
                pending.push_back({now + rtt, now, lost});
            }
        }
    }
};

TEST(CongestionTest, HighRandomLossIsLearntAndDoesNotCollapseTheWindow) {
    LossyPath p(5);  // 20 % of all packets, at any rate
    p.run_for(std::chrono::seconds{3});
    // The first seconds cut (nothing is known about the path yet); after a cut, once the
    // queue would have drained and while the window is below its size at the cut, the loss
    // rate is learnt.
    EXPECT_NEAR(static_cast<double>(p.cc.loss_baseline_ppm()), 200'000.0, 50'000.0);
    const std::uint64_t events = p.cc.congestion_events();
    const std::uint64_t window = p.cc.window();
    const std::uint64_t sent = p.sent;
    p.run_for(std::chrono::seconds{2});
    std::printf(
        "[ congestion ] 20 %% random loss: baseline %.1f %%, %llu cuts in 3 s, %llu in the "
        "next 2 s; window %llu -> %llu packets\n",
        static_cast<double>(p.cc.loss_baseline_ppm()) / 1e4,
        static_cast<unsigned long long>(events),
        static_cast<unsigned long long>(p.cc.congestion_events() - events),
        static_cast<unsigned long long>(window / kMss),
        static_cast<unsigned long long>(p.cc.window() / kMss));
    EXPECT_LE(p.cc.congestion_events(), events + 2) << "20 % is this path's normal";
    EXPECT_GT(p.cc.window(), window) << "the window keeps growing";
    EXPECT_GT(p.sent - sent, (sent * 2) / 3) << "no collapse: at least the earlier rate";
    EXPECT_GT(p.cc.tolerated_loss_bytes(), 0U);
}

TEST(CongestionTest, LossWellAboveTheLearntRateCuts) {
    LossyPath p(10);  // 10 %
    p.run_for(std::chrono::seconds{3});
    ASSERT_GT(p.cc.loss_baseline_ppm(), 50'000U);
    const std::uint64_t events = p.cc.congestion_events();
    p.loss_every = 2;  // the path now loses half the packets
    p.run_for(milliseconds{200});
    EXPECT_GT(p.cc.congestion_events(), events) << "50 % is far above the learnt 10 %";
}

TEST(CongestionTest, LossBeforeAnyCutIsNotLearnt) {
    // A sender that never cut cannot tell its own overflow from the path's loss, so nothing
    // is learnt: loss that grows with the window must still end in a cut.
    LossyPath p(50);  // 2 %: below the 5 % margin, tolerated
    p.run_for(milliseconds{300});
    ASSERT_EQ(p.cc.congestion_events(), 0U);
    EXPECT_EQ(p.cc.loss_baseline_ppm(), 0U);
    EXPECT_GT(p.cc.tolerated_loss_bytes(), 0U);
}

TEST(CongestionTest, PacingSpreadsSendsOverTheRoundTrip) {
    Driver d;
    for (int i = 0; i < 4; ++i) {
        d.round();
    }
    // Slow start: rate = 2 * window / (rtt + ack gap).
    const std::uint64_t rate = d.cc.pacing_rate();
    ASSERT_GT(rate, 0U);
    EXPECT_NEAR(static_cast<double>(rate),
                2.0 * static_cast<double>(d.cc.window()) /
                    std::chrono::duration<double>(d.cc.recent_rtt() + d.cc.ack_gap()).count(),
                static_cast<double>(rate) * 0.01);
    // Send 100 packets as fast as pacing allows: after a small burst they are spaced
    // by one packet time.
    Instant t = d.now + milliseconds{50};
    const Instant first = t;
    int immediate = 0;
    for (int i = 0; i < 100; ++i) {
        const Instant next = d.cc.next_send_time(t);
        if (next == first) {
            ++immediate;
        }
        t = next;
        d.cc.on_packet_sent(t, kMss);
    }
    const double packet_time = static_cast<double>(kMss) / static_cast<double>(rate);
    const double burst_packets = static_cast<double>(rate) * 0.001 / static_cast<double>(kMss);
    EXPECT_LE(immediate, static_cast<int>(burst_packets) + 2)
        << "burst after idle limited to about 1 ms at the pacing rate";
    EXPECT_NEAR(std::chrono::duration<double>(t - first).count(), packet_time * (100 - immediate),
                packet_time * 2)
        << "the rest is spaced by one packet time";
    EXPECT_EQ(d.cc.pacing_budget(t), 0U) << "nothing saved up while pacing";
}

TEST(CongestionTest, InFlightEstimateAgesOutAndTellsWhenTheWindowOpens) {
    Driver d;
    d.round();
    d.round();
    const Instant t = d.now + milliseconds{100};
    std::uint64_t sent = 0;
    while (d.cc.can_send(t + microseconds{sent}, 0)) {
        d.cc.on_packet_sent(t + microseconds{sent}, kMss);
        ++sent;
    }
    EXPECT_EQ(sent * kMss, d.cc.window());
    const Instant end = t + microseconds{sent};
    EXPECT_EQ(d.cc.bytes_in_flight(end), sent * kMss);
    const Instant opens = d.cc.next_window_time(end);
    EXPECT_GT(opens, end);
    EXPECT_FALSE(d.cc.can_resend(opens - microseconds{1}));
    EXPECT_TRUE(d.cc.can_resend(opens)) << "the window reopens when the oldest send ages out";
    EXPECT_EQ(d.cc.bytes_in_flight(end + milliseconds{200}), 0U);
}

TEST(CongestionTest, OutstandingFailsafeBlocksOnlyFirstSends) {
    CongestionController cc;
    const Instant t = instant_from_ms(1);
    // Four windows plus 256 packets (what a REQUEST may be unable to acknowledge).
    const std::uint64_t limit = 4 * cc.window() + 256 * kMss;
    EXPECT_TRUE(cc.can_send(t, limit - 1));
    EXPECT_FALSE(cc.can_send(t, limit));
    EXPECT_TRUE(cc.can_resend(t));
}

TEST(CongestionTest, ApplicationLimitedSenderDoesNotGrow) {
    CongestionController cc;
    RttEstimator rtt;
    Instant t = instant_from_ms(0);
    for (int i = 0; i < 50; ++i) {
        cc.on_packet_sent(t, kMss);
        t += milliseconds{20};
        rtt.on_sample(milliseconds{20});
        cc.on_ack(t, kMss, rtt);
    }
    EXPECT_EQ(cc.window(), 10 * kMss) << "one packet per RTT never fills half the window";
}

TEST(CongestionTest, ResendGuardFollowsRecentRtt) {
    Driver d;
    d.round();
    d.round();
    EXPECT_GE(d.cc.resend_guard(), milliseconds{20} + milliseconds{5});
    EXPECT_LE(d.cc.resend_guard(), milliseconds{30});
}

TEST(CongestionTest, ResetRestoresInitialState) {
    Driver d;
    d.round();
    d.round();
    d.cc.on_loss(d.now, 10 * kMss, d.last_round_start);
    d.cc.reset();
    EXPECT_EQ(d.cc.window(), 10 * kMss);
    EXPECT_TRUE(d.cc.in_slow_start());
    EXPECT_EQ(d.cc.congestion_events(), 0U);
    EXPECT_EQ(d.cc.pacing_rate(), 0U);
    EXPECT_EQ(d.cc.memory_bytes(), 0U);
}

TEST(CongestionTest, HostileInputsStayBounded) {
    CongestionController cc;
    RttEstimator rtt;
    rtt.on_sample(Duration{1});
    const Instant t = instant_from_ms(1);
    cc.on_ack(t, ~std::uint64_t{0}, rtt);
    cc.on_packet_sent(t, ~std::uint64_t{0});
    cc.on_loss(t, ~std::uint64_t{0}, t);
    EXPECT_GE(cc.window(), 2 * kMss);
    EXPECT_LE(cc.window(), 32768 * kMss);
    (void)cc.next_send_time(t);
    (void)cc.pacing_budget(t);
    (void)cc.next_window_time(t);
}

}  // namespace
}  // namespace netcrypto::data
