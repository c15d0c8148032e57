// Per-connection user tags: every event about a connection carries the tag it had when the
// event was queued; unknown or closed connections have none.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

#include "sim/pair.hpp"

namespace netcrypto::sim {
namespace {

using namespace std::chrono_literals;

TEST(UserTag, EventsCarryTheTagTheConnectionHadWhenQueued) {
    Pair p(71);
    const ConnectionId ida = p.connect_a_to_b();
    // connect() already queued the announcement (tag 0); the tag applies from now on.
    ASSERT_TRUE(p.a.endpoint().set_user_tag(ida, 0xA11CE));
    EXPECT_EQ(p.a.endpoint().user_tag(ida).value_or(0), 0xA11CEU);
    ASSERT_TRUE(p.run_until_established(5s));

    std::size_t status_events = 0;
    for (const Event& e : p.a.events) {
        const auto* s = e.get_if<StatusChanged>();
        if (s == nullptr) continue;
        EXPECT_EQ(s->user_tag, status_events == 0 ? 0U : 0xA11CEU) << status_events;
        EXPECT_EQ(e.user_tag(), s->user_tag);
        ++status_events;
    }
    EXPECT_EQ(status_events, 4U);  // announced, HandshakeSending, NotConfirmed, Established

    const auto idb = p.b.endpoint().find(p.a.key());
    ASSERT_TRUE(idb);
    EXPECT_EQ(p.b.endpoint().user_tag(*idb).value_or(1), 0U) << "a new connection starts at 0";
    ASSERT_TRUE(p.b.endpoint().set_user_tag(*idb, 7));

    const std::size_t a_before = p.a.events.size();
    const std::size_t b_before = p.b.events.size();
    const std::array<std::uint8_t, 3> msg{160, 1, 2};
    ASSERT_TRUE(p.a.endpoint().send_lossless(p.sim.now(), ida, msg));
    p.sim.wake(p.ida);
    p.sim.run_for(1s);
    ASSERT_EQ(p.b.received.size(), 1U);

    const auto readable =
        std::find_if(p.b.events.begin() + static_cast<std::ptrdiff_t>(b_before), p.b.events.end(),
                     [](const Event& e) { return e.is<Readable>(); });
    ASSERT_NE(readable, p.b.events.end());
    EXPECT_EQ(readable->get_if<Readable>()->user_tag, 7U);
    EXPECT_EQ(readable->connection(), *idb);
    const auto acked = std::find_if(p.a.events.begin() + static_cast<std::ptrdiff_t>(a_before),
                                    p.a.events.end(), [](const Event& e) { return e.is<Acked>(); });
    ASSERT_NE(acked, p.a.events.end());
    EXPECT_EQ(acked->get_if<Acked>()->user_tag, 0xA11CEU);

    // The closing event still carries the tag; then the id (and its tag) is gone.
    ASSERT_TRUE(p.a.endpoint().close(p.sim.now(), ida));
    p.sim.wake(p.ida);
    p.sim.run_for(1s);
    const auto* closed = p.a.events.back().get_if<StatusChanged>();
    ASSERT_NE(closed, nullptr);
    EXPECT_EQ(closed->to, Status::kClosed);
    EXPECT_EQ(closed->user_tag, 0xA11CEU);
    EXPECT_EQ(p.a.endpoint().user_tag(ida).error(), Error::kUnknownConnection);
    EXPECT_EQ(p.a.endpoint().set_user_tag(ida, 1).error(), Error::kUnknownConnection);
    // B learns of the KILL with B's own tag.
    const auto* b_closed = p.b.events.back().get_if<StatusChanged>();
    ASSERT_NE(b_closed, nullptr);
    EXPECT_EQ(b_closed->reason, CloseReason::kKilledByPeer);
    EXPECT_EQ(b_closed->user_tag, 7U);
}

}  // namespace
}  // namespace netcrypto::sim
