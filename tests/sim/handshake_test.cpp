// Status-machine scenarios between two endpoints over the simulated network.
#include <gtest/gtest.h>

#include "sim/pair.hpp"

namespace netcrypto::sim {
namespace {

TEST(Handshake, NormalOpenReachesEstablishedOnBothSides) {
    Pair p(1);
    p.connect_a_to_b();
    auto r = p.sim.run_until([&] { return p.both_established(); },
                             p.sim.now() + std::chrono::seconds{5});
    ASSERT_TRUE(r) << r << "\n" << p.sim.format_trace();
    EXPECT_EQ(
        p.a.transitions,
        (Transitions{"CookieRequesting->CookieRequesting", "CookieRequesting->HandshakeSending",
                     "HandshakeSending->NotConfirmed", "NotConfirmed->Established"}));
    EXPECT_EQ(p.b.transitions,
              (Transitions{"NotConfirmed->NotConfirmed", "NotConfirmed->Established"}));
}

}  // namespace
}  // namespace netcrypto::sim

namespace netcrypto::sim {
namespace {

class DataSmoke : public ::testing::TestWithParam<double> {};
INSTANTIATE_TEST_SUITE_P(Loss, DataSmoke, ::testing::Values(0.0, 0.01, 0.1));

TEST_P(DataSmoke, OneMiBArrivesInOrder) {
    LinkConfig link;
    link.delay = std::chrono::milliseconds{10};
    link.bandwidth_bps = 100'000'000;
    link.loss_probability = GetParam();
    Pair p(7, link);
    auto id = p.connect_a_to_b();
    ASSERT_TRUE(p.sim.run_until([&] { return p.both_established(); },
                                p.sim.now() + std::chrono::seconds{5}));
    const std::size_t total = 1 << 20;
    std::vector<std::uint8_t> data(total);
    for (std::size_t i = 0; i < total; ++i) data[i] = static_cast<std::uint8_t>(i * 7 + (i >> 11));
    std::size_t offset = 0;
    std::vector<std::uint8_t> got;
    p.b.on_lossless = [&](ConnectionId, std::span<const std::uint8_t> m) {
        got.insert(got.end(), m.begin() + 1, m.end());
    };
    auto pump = [&] {
        while (offset < total) {
            std::array<std::uint8_t, 1373> msg{};
            msg[0] = 160;
            const std::size_t n = std::min<std::size_t>(1372, total - offset);
            std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(offset), n, msg.begin() + 1);
            auto r = p.a.endpoint().send_lossless(p.sim.now(), id,
                                                  std::span<const std::uint8_t>(msg).first(n + 1));
            if (!r) break;
            offset += n;
        }
        p.sim.wake(p.ida);
    };
    p.a.on_event = [&](Instant, const Event& e) {
        if (e.is<Writable>()) pump();
    };
    const Instant start = p.sim.now();
    pump();
    auto r = p.sim.run_until([&] { return got.size() == total; },
                             p.sim.now() + std::chrono::seconds{30});
    ASSERT_TRUE(r) << r << " got " << got.size();
    EXPECT_EQ(got, data);
    const double secs = std::chrono::duration<double>(p.sim.now() - start).count();
    auto info = p.a.endpoint().info(id);
    std::cout << "loss " << GetParam() << ": 1 MiB in " << secs << " s virtual, cwnd "
              << info->congestion_window << " srtt_us "
              << std::chrono::duration_cast<std::chrono::microseconds>(info->smoothed_rtt).count()
              << " retransmissions " << info->stats.retransmissions << "\n";
}

}  // namespace
}  // namespace netcrypto::sim
