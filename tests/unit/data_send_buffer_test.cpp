// SendBuffer: numbering, limits, cumulative and selective acks, resend scheduling, wraparound.
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/data/send_buffer.hpp"

namespace netcrypto::data {
namespace {

using std::chrono::milliseconds;
using Bytes = std::vector<std::uint8_t>;

Bytes message(std::size_t length, std::uint8_t seed) {
    Bytes m(length);
    for (std::size_t i = 0; i < length; ++i) {
        m[i] = static_cast<std::uint8_t>(seed + i * 7);
    }
    if (length > 0) {
        m[0] = 0x40;  // a lossless data id
    }
    return m;
}

Instant at_ms(std::int64_t ms) { return instant_from_ms(ms); }

Bytes as_bytes(std::span<const std::uint8_t> s) { return Bytes(s.begin(), s.end()); }

// Everything observable, to prove a refused call changed nothing.
struct Snapshot {
    PacketNumber start, end;
    std::uint32_t held, outstanding, pending;
    std::uint64_t bytes, outstanding_bytes;
    std::vector<std::pair<bool, std::uint32_t>> entries;
    bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const SendBuffer& b) {
    Snapshot s{b.start(),
               b.end(),
               b.held_count(),
               b.outstanding_count(),
               b.pending_send_count(),
               b.buffered_bytes(),
               b.outstanding_bytes(),
               {}};
    for (PacketNumber n = b.start(); n != b.end(); ++n) {
        const auto e = b.entry(n);
        s.entries.emplace_back(e.has_value(), e ? e->send_count * 2 + (e->needs_send ? 1 : 0) : 0);
    }
    return s;
}

// Pushes `count` messages and sends each once at `sent`.
void push_and_send(SendBuffer& b, std::uint32_t count, Instant sent, std::size_t length = 100) {
    for (std::uint32_t i = 0; i < count; ++i) {
        const auto n = b.push(message(length, static_cast<std::uint8_t>(i)));
        ASSERT_TRUE(n.has_value()) << "push " << i << " failed";
        ASSERT_TRUE(b.mark_sent(*n, sent));
    }
}

TEST(SendBufferTest, PushNumbersConsecutivelyAndValidatesLength) {
    SendBuffer b;
    EXPECT_EQ(b.memory_bytes(), 0U) << "a fresh buffer must not allocate";
    EXPECT_EQ(*b.push(message(1, 0)), 0U);
    EXPECT_EQ(*b.push(message(kMaxMessageSize, 1)), 1U);
    EXPECT_EQ(b.push(Bytes{}).error(), PushError::kEmpty);
    EXPECT_EQ(b.push(message(kMaxMessageSize + 1, 2)).error(), PushError::kTooLarge);
    EXPECT_EQ(b.end(), 2U);
    EXPECT_EQ(b.in_flight(), 2U);
    EXPECT_EQ(b.buffered_bytes(), 1 + kMaxMessageSize);
    EXPECT_EQ(as_bytes(b.entry(1)->message), message(kMaxMessageSize, 1));
    EXPECT_TRUE(b.entry(1)->needs_send);
    EXPECT_EQ(b.pending_send_count(), 2U);
}

TEST(SendBufferTest, RefusesMoreThanMaxInFlightEntries) {
    SendBuffer b;
    for (std::uint32_t i = 0; i < kMaxInFlight; ++i) {
        ASSERT_TRUE(b.push(message(1, 0)).has_value()) << "push " << i;
    }
    EXPECT_EQ(b.free_slots(), 0U);
    EXPECT_FALSE(b.can_push(1));
    EXPECT_EQ(b.push(message(1, 0)).error(), PushError::kFull)
        << "the 32769th outstanding entry must be refused, as c-toxcore does";
    EXPECT_EQ(b.ack_up_to(1, at_ms(0)).status, AckStatus::kAccepted);
    EXPECT_EQ(*b.push(message(1, 0)), kMaxInFlight);
}

TEST(SendBufferTest, RespectsByteBudget) {
    SendBuffer b(10'000);
    std::uint32_t pushed = 0;
    while (b.push(message(kMaxMessageSize, 3)).has_value()) {
        ++pushed;
        ASSERT_LE(b.buffered_bytes(), 10'000U);
    }
    EXPECT_EQ(pushed, 10'000 / kMaxMessageSize);
    EXPECT_LE(b.memory_bytes(), 10'000U + 16 * 32) << "arena bounded by the budget";
    EXPECT_FALSE(b.can_push(kMaxMessageSize));
    EXPECT_TRUE(b.can_push(10'000 - pushed * kMaxMessageSize));
    b.ack_up_to(2, at_ms(0));
    EXPECT_TRUE(b.can_push(kMaxMessageSize)) << "acks must free budget";
    EXPECT_TRUE(b.push(message(kMaxMessageSize, 4)).has_value());
}

TEST(SendBufferTest, AckUpToReleasesAndReportsReceiptRange) {
    SendBuffer b;
    push_and_send(b, 10, at_ms(1000));
    ASSERT_TRUE(b.mark_sent(3, at_ms(1050)));  // entry 3 sent at 1000 and 1050
    ASSERT_TRUE(b.mark_sent(9, at_ms(1100)));
    const AckResult r = b.ack_up_to(3, at_ms(1300));
    EXPECT_EQ(r.status, AckStatus::kAccepted);
    EXPECT_EQ(r.released_first, 0U);
    EXPECT_EQ(r.released_end, 3U);
    EXPECT_EQ(r.released_count, 3U);
    EXPECT_EQ(r.released_bytes, 300U);
    ASSERT_TRUE(r.newest_sent_once.has_value());
    EXPECT_EQ(*r.newest_sent_once, at_ms(1000));
    EXPECT_EQ(*r.rtt_sample, milliseconds{300});
    EXPECT_EQ(b.start(), 3U);
    EXPECT_EQ(b.held_count(), 7U);
    EXPECT_EQ(b.outstanding_bytes(), 700U);
    EXPECT_FALSE(b.entry(2).has_value());

    const AckResult same = b.ack_up_to(3, at_ms(1400));
    EXPECT_EQ(same.status, AckStatus::kAccepted);
    EXPECT_EQ(same.released_count, 0U);
    EXPECT_FALSE(same.rtt_sample.has_value());

    // The range 3..5 holds a resent entry (a repaired hole): entries after it may have
    // arrived long ago, so no RTT sample (and entry 3 itself is excluded by Karn's rule).
    const AckResult repaired = b.ack_up_to(6, at_ms(1500));
    EXPECT_EQ(repaired.released_count, 3U);
    EXPECT_FALSE(repaired.newest_sent_once.has_value());
    EXPECT_FALSE(repaired.rtt_sample.has_value());
}

TEST(SendBufferTest, AckOutsideRangeChangesNothing) {
    SendBuffer b;
    push_and_send(b, 10, at_ms(0));
    b.ack_up_to(4, at_ms(10));
    const Snapshot before = snapshot(b);
    EXPECT_EQ(b.ack_up_to(11, at_ms(20)).status, AckStatus::kOutOfRange);
    EXPECT_EQ(b.ack_up_to(3, at_ms(20)).status, AckStatus::kStale);
    EXPECT_EQ(b.ack_up_to(0x8000'0000U, at_ms(20)).status, AckStatus::kOutOfRange);
    EXPECT_EQ(snapshot(b), before);
}

TEST(SendBufferTest, ApplyRequestWorkedExample1) {
    SendBuffer b(SendBuffer::kDefaultMaxBytes, 10);
    push_and_send(b, 6, at_ms(0));  // numbers 10..15
    const Bytes request{0x01, 0x01, 0x02, 0x03};
    const auto r = b.apply_request(request, 10, at_ms(2000), milliseconds{100});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->acked_count, 3U);
    EXPECT_EQ(r->acked_bytes, 300U);
    EXPECT_EQ(r->requested_count, 3U);
    EXPECT_EQ(r->marked_count, 3U);
    EXPECT_EQ(r->marked_bytes, 300U);
    EXPECT_EQ(*r->newest_marked_sent, at_ms(0));
    EXPECT_EQ(*r->rtt_sample, milliseconds{2000});
    EXPECT_FALSE(b.entry(11).has_value());
    EXPECT_FALSE(b.entry(13).has_value());
    EXPECT_FALSE(b.entry(14).has_value());
    EXPECT_EQ(b.start(), 10U) << "selective acks do not move start";
    EXPECT_EQ(b.outstanding_count(), 0U) << "requested entries are no longer in flight";

    std::vector<PacketNumber> order;
    for (auto n = b.next_to_send(b.start()); n; n = b.next_to_send(*n + 1)) {
        order.push_back(*n);
    }
    EXPECT_EQ(order, (std::vector<PacketNumber>{10, 12, 15}));

    // The same REQUEST again before the resends left: nothing new is marked.
    const auto again = b.apply_request(request, 10, at_ms(2010), milliseconds{100});
    EXPECT_EQ(again->marked_count, 0U);
    EXPECT_EQ(again->requested_count, 3U);
}

TEST(SendBufferTest, ApplyRequestHonoursRttGuard) {
    SendBuffer b;
    push_and_send(b, 3, at_ms(0));
    ASSERT_TRUE(b.mark_sent(0, at_ms(950)));  // resent recently
    const Bytes request{0x01, 0x01, 0x02};    // requests 0 and 2
    const auto r = b.apply_request(request, 0, at_ms(1000), milliseconds{100});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->requested_count, 2U);
    EXPECT_EQ(r->marked_count, 1U) << "entry 0 was sent 50 ms ago, within the guard";
    EXPECT_FALSE(b.entry(0)->needs_send);
    EXPECT_TRUE(b.entry(2)->needs_send);
}

TEST(SendBufferTest, MalformedRequestChangesNothing) {
    SendBuffer b;
    push_and_send(b, 20, at_ms(0));
    b.ack_up_to(5, at_ms(1));
    const Snapshot before = snapshot(b);
    EXPECT_EQ(b.apply_request(Bytes{}, 5, at_ms(5000), milliseconds{1}).error(),
              RequestError::kEmpty);
    EXPECT_EQ(b.apply_request(Bytes{0x02, 0x01, 0x00}, 5, at_ms(5000), milliseconds{1}).error(),
              RequestError::kWrongId);
    EXPECT_EQ(b.apply_request(Bytes{0x01, 0x01}, 21, at_ms(5000), milliseconds{1}).error(),
              RequestError::kAckOutOfRange)
        << "an ack beyond the send end cannot describe our packets";
    EXPECT_EQ(snapshot(b), before);
}

TEST(SendBufferTest, StaleRequestSkipsNumbersBelowStart) {
    SendBuffer b;
    push_and_send(b, 10, at_ms(0));
    b.ack_up_to(4, at_ms(1));
    // Encoded from ack 2: requests 2 (gone), acks 3 (gone), requests 4, acks 5, requests 6.
    const auto r = b.apply_request(Bytes{0x01, 0x01, 0x02, 0x02}, 2, at_ms(2000), milliseconds{10});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->requested_count, 2U);
    EXPECT_EQ(r->acked_count, 1U);
    EXPECT_TRUE(b.entry(4)->needs_send);
    EXPECT_FALSE(b.entry(5).has_value());
    EXPECT_TRUE(b.entry(6)->needs_send);
    EXPECT_FALSE(b.entry(7)->needs_send) << "numbers past the last byte are unknown";
}

TEST(SendBufferTest, WrapsAround2To32) {
    const PacketNumber first = 0xffff'fffbU;
    SendBuffer b(SendBuffer::kDefaultMaxBytes, first);
    push_and_send(b, 10, at_ms(0));
    EXPECT_EQ(b.end(), 5U);
    EXPECT_EQ(b.in_flight(), 10U);
    // Request 0xfffffffb and 2, ack the rest of 0xfffffffc..1.
    const auto r = b.apply_request(Bytes{0x01, 0x01, 0x07}, first, at_ms(500), milliseconds{10});
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->acked_count, 6U);
    EXPECT_EQ(r->marked_count, 2U);
    EXPECT_TRUE(b.entry(first)->needs_send);
    EXPECT_TRUE(b.entry(2)->needs_send);
    EXPECT_FALSE(b.entry(0).has_value());
    const AckResult a = b.ack_up_to(3, at_ms(600));
    EXPECT_EQ(a.status, AckStatus::kAccepted);
    EXPECT_EQ(a.released_first, first);
    EXPECT_EQ(a.released_end, 3U);
    EXPECT_EQ(a.released_count, 2U);
    EXPECT_EQ(b.in_flight(), 2U);
    EXPECT_EQ(b.ack_up_to(0xffff'fff0U, at_ms(700)).status, AckStatus::kStale);
}

TEST(SendBufferTest, SendOrderCountsAndOutstandingBytes) {
    SendBuffer b;
    for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(b.push(message(10, 0)).has_value());
    }
    EXPECT_EQ(*b.next_to_send(0), 0U);
    ASSERT_TRUE(b.mark_sent(0, at_ms(1)));
    ASSERT_TRUE(b.mark_sent(1, at_ms(1)));
    EXPECT_EQ(*b.next_to_send(0), 2U);
    EXPECT_EQ(b.outstanding_count(), 2U);
    EXPECT_EQ(b.outstanding_bytes(), 20U);
    ASSERT_TRUE(b.mark_for_resend(0));
    EXPECT_EQ(*b.next_to_send(0), 0U) << "a resend comes before later first sends";
    EXPECT_EQ(*b.next_to_send(1), 2U);
    EXPECT_EQ(b.outstanding_count(), 1U);
    EXPECT_EQ(b.pending_send_count(), 4U);
    ASSERT_TRUE(b.mark_sent(0, at_ms(2)));
    EXPECT_EQ(b.entry(0)->send_count, 2U);
    EXPECT_EQ(b.outstanding_count(), 2U);
    EXPECT_FALSE(b.mark_sent(7, at_ms(2))) << "not held";
    EXPECT_FALSE(b.mark_for_resend(7));
}

TEST(SendBufferTest, TrimReleasesMemoryOnlyWhenEmpty) {
    SendBuffer b;
    push_and_send(b, 100, at_ms(0));
    EXPECT_GT(b.memory_bytes(), 0U);
    b.trim();
    EXPECT_GT(b.memory_bytes(), 0U) << "held entries must survive trim()";
    b.ack_up_to(100, at_ms(1));
    b.trim();
    EXPECT_EQ(b.memory_bytes(), 0U);
    EXPECT_EQ(*b.push(message(5, 1)), 100U) << "numbering continues after trim()";
    EXPECT_EQ(as_bytes(b.entry(100)->message), message(5, 1));
}

// Random operations against a simple model: message contents must survive arena wrap,
// growth and compaction, and the counters must match.
TEST(SendBufferTest, RandomOperationsMatchModel) {
    std::mt19937 rng(42);
    for (const std::size_t budget :
         {std::size_t{3000}, std::size_t{20'000}, std::size_t{1} << 20U}) {
        SendBuffer b(budget, 0xffff'ff00U);
        std::map<PacketNumber, Bytes> model;  // held entries
        PacketNumber model_start = b.start();
        std::int64_t t = 0;
        for (int step = 0; step < 4000; ++step) {
            t += 1;
            const auto op = rng() % 10;
            if (op < 5) {
                const std::size_t len = 1 + rng() % kMaxMessageSize;
                const Bytes m = message(len, static_cast<std::uint8_t>(rng()));
                const bool expect_ok = b.can_push(len);
                const auto n = b.push(m);
                ASSERT_EQ(n.has_value(), expect_ok) << "can_push disagrees with push";
                if (n) {
                    model[*n] = m;
                    b.mark_sent(*n, instant_from_ms(t));
                }
            } else if (op < 8) {
                const std::uint32_t span = distance(b.start(), b.end());
                const auto ack =
                    static_cast<PacketNumber>(b.start() + (span ? rng() % (span + 1) : 0));
                ASSERT_EQ(b.ack_up_to(ack, instant_from_ms(t)).status, AckStatus::kAccepted);
                for (PacketNumber n = model_start; n != ack; ++n) {
                    model.erase(n);
                }
                model_start = ack;
            } else {
                // A selective ack of a random number via a REQUEST: 0x01 "k" requests start+k-1
                // and acknowledges the k-1 numbers before it.
                const std::uint32_t span = distance(b.start(), b.end());
                if (span < 2) {
                    continue;
                }
                const auto k =
                    static_cast<std::uint8_t>(2 + rng() % std::min<std::uint32_t>(span - 1, 200));
                ASSERT_TRUE(
                    b.apply_request(Bytes{0x01, k}, b.start(), instant_from_ms(t), milliseconds{0})
                        .has_value());
                for (std::uint32_t i = 0; i + 1 < k; ++i) {
                    model.erase(b.start() + i);
                }
            }
            ASSERT_EQ(b.held_count(), model.size()) << "step " << step;
            std::uint64_t bytes = 0;
            for (const auto& [n, m] : model) {
                const auto e = b.entry(n);
                ASSERT_TRUE(e.has_value()) << "entry " << n << " lost at step " << step;
                ASSERT_EQ(as_bytes(e->message), m)
                    << "entry " << n << " corrupted at step " << step;
                bytes += m.size();
            }
            ASSERT_EQ(b.buffered_bytes(), bytes);
            ASSERT_LE(b.buffered_bytes(), budget);
        }
    }
}

}  // namespace
}  // namespace netcrypto::data
