// data::Stream driven as a connection drives it: two real streams joined by an in-memory link
// that carries their plaintexts (the sealing is the connection's job, not the stream's). The
// link can lose packets, and can switch to another route, losing everything in flight on the
// old one, to show a stream survives a change of route without losing, duplicating or
// reordering lossless data.
#include <deque>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "core/data/stream.hpp"
#include "core/wire/packets.hpp"

namespace netcrypto::data {
namespace {

using std::chrono::milliseconds;

constexpr std::uint8_t kLosslessId = 160;
constexpr std::uint8_t kLossyId = 200;

/// Records what a stream asks of its connection.
class TestIo final : public StreamIo {
  public:
    void send_plain(std::span<const std::uint8_t> plain) override {
        outbox.emplace_back(plain.begin(), plain.end());
    }
    [[nodiscard]] std::size_t transmit_room() const override { return room; }
    void wants_to_send() override { wants = true; }
    void readable() override { ++readable_events; }
    void writable() override { ++writable_events; }
    void acked(std::uint32_t up_to) override { acked_up_to = up_to; }
    void drop(DropReason r) override { ++drops[r]; }
    ConnectionStats& stats() override { return counters; }

    std::deque<std::vector<std::uint8_t>> outbox;
    std::size_t room = 4096;
    bool wants = false;
    int readable_events = 0;
    int writable_events = 0;
    std::uint32_t acked_up_to = 0;
    std::map<DropReason, int> drops;
    ConnectionStats counters;
};

std::vector<std::uint8_t> lossless(std::uint32_t i, std::size_t size = 100) {
    std::vector<std::uint8_t> m(size, static_cast<std::uint8_t>(i * 7U));
    m[0] = kLosslessId;
    m[1] = static_cast<std::uint8_t>(i & 0xFFU);
    m[2] = static_cast<std::uint8_t>((i >> 8U) & 0xFFU);
    return m;
}

struct Side {
    explicit Side(StreamLimits limits) : stream(limits) {}
    Stream stream;
    TestIo io;
    std::vector<std::vector<std::uint8_t>> read;
};

/// Two streams and the link between them.
class Pair {
  public:
    explicit Pair(StreamLimits limits = {1U << 20U, 1U << 20U, 16})
        : a_(with_pool(limits)), b_(with_pool(limits)) {}

    Side& a() { return a_; }
    Side& b() { return b_; }
    Instant now() const { return now_; }

    /// Drops the n-th data packet A produces (first transmissions and resends alike).
    std::function<bool(std::uint64_t)> lose_from_a = [](std::uint64_t) { return false; };
    /// Packets sent on the current route that have not arrived yet.
    std::size_t in_flight() const { return wire_.size(); }

    /// The route changes: what is in flight on the old one never arrives.
    void switch_route() {
        lost_on_switch_ += wire_.size();
        wire_.clear();
        ++route_;
    }
    std::size_t lost_on_switch() const { return lost_on_switch_; }
    int route() const { return route_; }

    /// Runs the exchange for `steps` steps of `step` each: both sides send what their
    /// congestion controllers allow, the link delivers what was sent one step earlier, timers
    /// fire, B reads everything ready.
    void run(int steps, Duration step = milliseconds{1}) {
        for (int i = 0; i < steps; ++i) {
            now_ += step;
            deliver();
            produce(a_, true);
            produce(b_, false);
            collect(a_, true);
            collect(b_, false);
            timers(a_);
            timers(b_);
            read_all(b_);
            read_all(a_);
        }
    }

  private:
    struct InFlight {
        bool to_b;
        std::vector<std::uint8_t> plain;
    };

    void produce(Side& s, bool is_a) {
        for (int n = 0; n < 64; ++n) {
            std::array<std::uint8_t, wire::kMaxDataPlainSize> plain{};
            std::optional<Instant> retry;
            const std::size_t size = s.stream.produce(s.io, now_, plain, retry);
            if (size == 0) break;
            if (is_a && lose_from_a(produced_by_a_++)) continue;
            wire_.push_back({is_a, {plain.begin(), plain.begin() + static_cast<long>(size)}});
        }
    }
    void collect(Side& s, bool is_a) {
        while (!s.io.outbox.empty()) {
            wire_.push_back({is_a, std::move(s.io.outbox.front())});
            s.io.outbox.pop_front();
        }
    }
    void deliver() {
        std::deque<InFlight> now_arriving;
        now_arriving.swap(wire_);
        for (auto& p : now_arriving) {
            Side& to = p.to_b ? b_ : a_;
            auto view = wire::decode_data_plain(p.plain);
            ASSERT_TRUE(view.has_value()) << "a stream wrote a plaintext that does not decode";
            to.stream.on_ack(to.io, now_, view->buffer_start);
            if (view->message[0] == wire::kIdKill) continue;
            to.stream.on_message(to.io, now_, view->packet_number, view->buffer_start,
                                 view->message);
        }
    }
    void timers(Side& s) {
        const auto at = s.stream.next_deadline(cfg_);
        if (at && *at <= now_) s.stream.on_timeout(s.io, now_, cfg_);
    }
    void read_all(Side& s) const {
        std::array<std::uint8_t, kMaxMessageSize> buf{};
        for (std::size_t n; (n = s.stream.read_lossless(s.io, now_, buf)) > 0;) {
            s.read.emplace_back(buf.begin(), buf.begin() + static_cast<long>(n));
        }
    }

    StreamLimits with_pool(StreamLimits limits) {
        limits.lossy_pool = &pool_;
        return limits;
    }

    EndpointConfig cfg_;
    core::LossyPool pool_{1024};  ///< before the sides: their queues give slots back to it
    Side a_;
    Side b_;
    Instant now_ = Instant{} + std::chrono::seconds{10};
    std::deque<InFlight> wire_;
    std::uint64_t produced_by_a_ = 0;
    std::size_t lost_on_switch_ = 0;
    int route_ = 0;
};

void queue(Side& s, std::uint32_t from, std::uint32_t to) {
    for (std::uint32_t i = from; i < to; ++i) {
        ASSERT_TRUE(s.stream.queue_lossless(s.io, lossless(i)).has_value()) << "message " << i;
    }
}

void expect_delivered_in_order(const Side& s, std::uint32_t count) {
    ASSERT_EQ(s.read.size(), count) << "messages delivered";
    for (std::uint32_t i = 0; i < count; ++i) {
        ASSERT_EQ(s.read[i], lossless(i)) << "message " << i << " is not the one sent there";
    }
}

TEST(DataStream, DeliversLosslessMessagesInOrderAndReportsTheAck) {
    Pair p;
    queue(p.a(), 0, 200);
    EXPECT_TRUE(p.a().io.wants) << "queueing must ask for a send";
    p.run(200);
    expect_delivered_in_order(p.b(), 200);
    EXPECT_EQ(p.a().io.acked_up_to, 200U);
    EXPECT_EQ(p.a().io.counters.lossless_sent, 200U);
    EXPECT_EQ(p.a().io.counters.retransmissions, 0U) << "no loss, no resend";
    EXPECT_EQ(p.b().io.counters.lossless_delivered, 200U);
    EXPECT_GT(p.b().io.counters.requests_sent, 0U) << "the receiver acknowledges by REQUEST";
    ConnectionInfo info;
    p.a().stream.describe(info);
    EXPECT_EQ(info.send_buffer_start, 200U);
    EXPECT_EQ(info.send_buffer_end, 200U);
}

TEST(DataStream, RepairsLostPacketsThroughRequests) {
    Pair p;
    p.lose_from_a = [](std::uint64_t n) { return n % 5 == 2; };  // resends are lost too
    queue(p.a(), 0, 300);
    p.run(3000);
    expect_delivered_in_order(p.b(), 300);
    EXPECT_GT(p.a().io.counters.retransmissions, 0U);
    EXPECT_GT(p.a().io.counters.requests_received, 0U);
    EXPECT_EQ(p.a().io.acked_up_to, 300U);
}

TEST(DataStream, MovesToAnotherRouteWithoutLosingDuplicatingOrReordering) {
    Pair p;
    queue(p.a(), 0, 400);
    // Cut the route while packets are in flight, several times, and queue more in between.
    for (int cut = 0; cut < 4; ++cut) {
        p.run(2);
        ASSERT_GT(p.in_flight(), 0U) << "the switch must catch packets in flight";
        p.switch_route();
        queue(p.a(), 400 + static_cast<std::uint32_t>(cut) * 50,
              450 + static_cast<std::uint32_t>(cut) * 50);
    }
    p.run(3000);
    EXPECT_GT(p.lost_on_switch(), 0U);
    expect_delivered_in_order(p.b(), 600);  // every message once, in order
    EXPECT_EQ(p.b().io.drops.count(DropReason::kLosslessOutOfWindow), 0U);
}

TEST(DataStream, WouldBlockThenOneWritableOnceTheAckFreesSpace) {
    Pair p({2000, 1U << 20U, 16});
    std::uint32_t queued = 0;
    while (p.a().stream.queue_lossless(p.a().io, lossless(queued)).has_value()) ++queued;
    ASSERT_GT(queued, 0U);
    EXPECT_EQ(p.a().stream.send_capacity(), 0U);
    EXPECT_EQ(p.a().io.writable_events, 0);
    p.run(50);
    EXPECT_EQ(p.a().io.writable_events, 1) << "writable fires once per would-block";
    EXPECT_GT(p.a().stream.send_capacity(), 0U);
    p.run(50);
    EXPECT_EQ(p.a().io.writable_events, 1) << "no second writable without a new would-block";
}

TEST(DataStream, ReadableFiresOnceUntilTheReaderFindsNothing) {
    Pair p;
    Side& b = p.b();
    auto deliver = [&](std::uint32_t number) {
        b.stream.on_ack(b.io, p.now(), 0);
        b.stream.on_message(b.io, p.now(), number, 0, lossless(number));
    };
    deliver(0);
    deliver(1);
    EXPECT_EQ(b.io.readable_events, 1);
    std::array<std::uint8_t, kMaxMessageSize> buf{};
    EXPECT_GT(b.stream.read_lossless(b.io, p.now(), buf), 0U);
    deliver(2);
    EXPECT_EQ(b.io.readable_events, 1) << "not drained yet: no new readable";
    while (b.stream.read_lossless(b.io, p.now(), buf) > 0) {
    }
    deliver(3);
    EXPECT_EQ(b.io.readable_events, 2) << "a read that found nothing re-arms readable";
}

TEST(DataStream, LossyMessagesAreDeliveredAndAFullQueueDropsTheOldest) {
    Pair p({1U << 20U, 1U << 20U, 2});
    Side& b = p.b();
    for (std::uint8_t i = 0; i < 3; ++i) {
        const std::array<std::uint8_t, 2> m{kLossyId, i};
        ASSERT_TRUE(p.a().stream.send_lossy(p.a().io, m).has_value());
    }
    p.run(1);
    p.run(1);
    EXPECT_EQ(b.io.drops[DropReason::kLossyQueueFull], 1);
    std::array<std::uint8_t, kMaxMessageSize> buf{};
    ASSERT_EQ(b.stream.read_lossy(b.io, buf), 2U);
    EXPECT_EQ(buf[1], 1) << "the oldest lossy message was dropped";
    EXPECT_EQ(p.a().io.counters.lossy_sent, 3U);
}

TEST(DataStream, LossyRefusedWhenTheDatagramQueueIsNearlyFull) {
    Pair p;
    p.a().io.room = 64;
    const std::array<std::uint8_t, 2> m{kLossyId, 1};
    auto r = p.a().stream.send_lossy(p.a().io, m);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), Error::kWouldBlock);
    EXPECT_TRUE(p.a().io.outbox.empty());
}

TEST(DataStream, BadAcksAndInvalidIdsAreDroppedAndCounted) {
    Pair p;
    Side& b = p.b();
    b.stream.on_ack(b.io, p.now(), 12345);  // nothing of ours was sent
    EXPECT_EQ(b.io.drops[DropReason::kBadAck], 1);
    const std::array<std::uint8_t, 1> reserved{7};
    b.stream.on_message(b.io, p.now(), 0, 0, reserved);
    EXPECT_EQ(b.io.drops[DropReason::kInvalidDataId], 1);
    b.stream.on_message(b.io, p.now(), 0, 0, lossless(0));
    b.stream.on_message(b.io, p.now(), 0, 0, lossless(0));
    EXPECT_EQ(b.io.drops[DropReason::kDuplicateLossless], 1);
}

TEST(DataStream, AGapIsReportedAtOnceByRequest) {
    Pair p;
    Side& b = p.b();
    b.stream.on_message(b.io, p.now(), 0, 0, lossless(0));
    EXPECT_TRUE(b.io.outbox.empty()) << "in order: the ack waits";
    b.stream.on_message(b.io, p.now(), 2, 0, lossless(2));
    ASSERT_EQ(b.io.outbox.size(), 1U) << "a gap: REQUEST at once";
    auto view = wire::decode_data_plain(b.io.outbox.front());
    ASSERT_TRUE(view.has_value());
    EXPECT_EQ(view->message[0], wire::kIdRequest);
    EXPECT_EQ(view->buffer_start, 0U) << "the ack is the first message not read yet";
    EXPECT_EQ(b.io.counters.requests_sent, 1U);
}

}  // namespace
}  // namespace netcrypto::data
