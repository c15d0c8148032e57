// RecvBuffer: window rules, exactly-once in-order delivery, memory budget, REQUEST encoding.
#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "core/data/recv_buffer.hpp"
#include "core/data/request.hpp"

namespace netcrypto::data {
namespace {

using Bytes = std::vector<std::uint8_t>;

// Message whose bytes encode its number, so delivery order can be checked.
Bytes message_for(PacketNumber n, std::size_t length = 8) {
    Bytes m(std::max<std::size_t>(length, 5));
    m[0] = 0x50;
    m[1] = static_cast<std::uint8_t>(n >> 24U);
    m[2] = static_cast<std::uint8_t>(n >> 16U);
    m[3] = static_cast<std::uint8_t>(n >> 8U);
    m[4] = static_cast<std::uint8_t>(n);
    return m;
}

PacketNumber number_of(std::span<const std::uint8_t> m) {
    return (PacketNumber{m[1]} << 24U) | (PacketNumber{m[2]} << 16U) | (PacketNumber{m[3]} << 8U) |
           PacketNumber{m[4]};
}

std::vector<PacketNumber> drain(RecvBuffer& r) {
    std::vector<PacketNumber> out;
    r.deliver_ready([&](std::span<const std::uint8_t> m) { out.push_back(number_of(m)); });
    return out;
}

Bytes request_of(const RecvBuffer& r) {
    Bytes out(kMaxMessageSize);
    out.resize(r.encode_request(out));
    return out;
}

TEST(RecvBufferTest, InOrderMessagesAreDeliveredImmediately) {
    RecvBuffer r;
    EXPECT_EQ(r.memory_bytes(), 0U) << "a fresh buffer must not allocate";
    for (PacketNumber n = 0; n < 5; ++n) {
        ASSERT_EQ(r.accept(n, message_for(n)), AcceptResult::kAccepted);
        const auto m = r.pop_ready();
        ASSERT_TRUE(m.has_value());
        EXPECT_EQ(number_of(*m), n);
        EXPECT_FALSE(r.pop_ready().has_value());
    }
    EXPECT_EQ(r.start(), 5U);
    EXPECT_EQ(r.end(), 5U);
    EXPECT_EQ(request_of(r), Bytes{0x01});
}

TEST(RecvBufferTest, OutOfOrderWaitsForTheGap) {
    RecvBuffer r(RecvBuffer::kDefaultMaxBytes, 10);
    EXPECT_EQ(r.accept(11, message_for(11)), AcceptResult::kAccepted);
    EXPECT_EQ(r.accept(13, message_for(13)), AcceptResult::kAccepted);
    EXPECT_EQ(r.accept(14, message_for(14)), AcceptResult::kAccepted);
    EXPECT_TRUE(drain(r).empty()) << "10 is missing";
    EXPECT_EQ(r.end(), 15U);
    EXPECT_TRUE(r.extend_end(16));
    // wire.md §6.4 worked example 1.
    EXPECT_EQ(request_of(r), (Bytes{0x01, 0x01, 0x02, 0x03}));
    EXPECT_EQ(r.accept(10, message_for(10)), AcceptResult::kAccepted);
    EXPECT_EQ(drain(r), (std::vector<PacketNumber>{10, 11}));
    EXPECT_EQ(r.start(), 12U);
    EXPECT_EQ(r.stored_count(), 2U);
}

TEST(RecvBufferTest, DuplicatesAndWindowEdges) {
    RecvBuffer r(RecvBuffer::kDefaultMaxBytes, 100);
    EXPECT_EQ(r.accept(101, message_for(101)), AcceptResult::kAccepted);
    EXPECT_EQ(r.accept(101, message_for(101)), AcceptResult::kDuplicate);
    EXPECT_EQ(r.accept(100 + kMaxInFlight - 1, message_for(1)), AcceptResult::kAccepted)
        << "start + 32767 is the last number inside the window";
    EXPECT_EQ(r.accept(100 + kMaxInFlight, message_for(1)), AcceptResult::kOutOfWindow);
    EXPECT_EQ(r.end(), 100 + kMaxInFlight);
    EXPECT_EQ(r.accept(99, message_for(99)), AcceptResult::kDuplicate)
        << "below start = already delivered";
    EXPECT_EQ(r.accept(100 - kMaxInFlight - 1, message_for(1)), AcceptResult::kOutOfWindow);
    EXPECT_EQ(r.accept(100, Bytes{}), AcceptResult::kInvalid);
    EXPECT_EQ(r.accept(100, Bytes(kMaxMessageSize + 1, 0x50)), AcceptResult::kInvalid);
}

TEST(RecvBufferTest, ExtendEndFollowsSpecRule) {
    RecvBuffer r(RecvBuffer::kDefaultMaxBytes, 1000);
    EXPECT_TRUE(r.extend_end(1000 + kMaxInFlight)) << "num - start == 32768 is allowed";
    EXPECT_FALSE(r.extend_end(1000 + kMaxInFlight + 1));
    EXPECT_FALSE(r.extend_end(1005)) << "end never moves backwards";
    EXPECT_EQ(r.end(), 1000 + kMaxInFlight);
    RecvBuffer q(RecvBuffer::kDefaultMaxBytes, 1000);
    EXPECT_FALSE(q.extend_end(999)) << "behind start";
    EXPECT_FALSE(q.extend_end(1000));
    EXPECT_EQ(q.end(), 1000U);
}

TEST(RecvBufferTest, WrapsAround2To32) {
    const PacketNumber first = 0xffff'fff0U;
    RecvBuffer r(RecvBuffer::kDefaultMaxBytes, first);
    std::vector<PacketNumber> numbers;
    for (PacketNumber n = first; n != 0x10; ++n) {
        numbers.push_back(n);
    }
    std::reverse(numbers.begin(), numbers.end());  // worst order: last first
    for (const PacketNumber n : numbers) {
        ASSERT_EQ(r.accept(n, message_for(n)), AcceptResult::kAccepted) << n;
    }
    EXPECT_EQ(r.end(), 0x10U);
    std::vector<PacketNumber> want(numbers.rbegin(), numbers.rend());
    EXPECT_EQ(drain(r), want);
    EXPECT_EQ(r.start(), 0x10U);
    EXPECT_EQ(r.accept(0xffff'fff5U, message_for(5)), AcceptResult::kDuplicate);
}

TEST(RecvBufferTest, RandomReorderingAndDuplicationDeliversExactlyOnceInOrder) {
    std::mt19937 rng(7);
    for (const PacketNumber first : {PacketNumber{0}, PacketNumber{0xffff'f000U}}) {
        RecvBuffer r(RecvBuffer::kDefaultMaxBytes, first);
        constexpr std::uint32_t kCount = 20'000;
        std::vector<PacketNumber> arrivals;
        for (std::uint32_t i = 0; i < kCount; ++i) {
            arrivals.push_back(first + i);
            if (rng() % 5 == 0) {
                arrivals.push_back(first + i);  // duplicate
            }
        }
        // Local shuffles (reordering depth up to 300) keep numbers inside the window.
        for (std::size_t i = 0; i + 1 < arrivals.size(); ++i) {
            const std::size_t j = i + rng() % std::min<std::size_t>(300, arrivals.size() - i);
            std::swap(arrivals[i], arrivals[j]);
        }
        std::vector<PacketNumber> delivered;
        std::size_t accepted = 0;
        for (const PacketNumber n : arrivals) {
            const AcceptResult a = r.accept(n, message_for(n, 1 + rng() % kMaxMessageSize));
            ASSERT_TRUE(a == AcceptResult::kAccepted || a == AcceptResult::kDuplicate)
                << "number " << n;
            accepted += a == AcceptResult::kAccepted ? 1 : 0;
            const auto out = drain(r);
            delivered.insert(delivered.end(), out.begin(), out.end());
        }
        ASSERT_EQ(accepted, kCount) << "each number accepted exactly once";
        ASSERT_EQ(delivered.size(), kCount);
        for (std::uint32_t i = 0; i < kCount; ++i) {
            ASSERT_EQ(delivered[i], first + i) << "delivery out of order at " << i;
        }
        EXPECT_EQ(r.stored_count(), 0U);
        r.trim();
        EXPECT_EQ(r.memory_bytes(), 0U);
    }
}

TEST(RecvBufferTest, PeerCannotPushMemoryPastBudget) {
    constexpr std::size_t kBudget = 256 * 1024;
    RecvBuffer r(kBudget, 5);
    std::mt19937 rng(99);
    std::size_t over_budget = 0;
    // Everything in the window except start, biggest and smallest messages, random order.
    std::vector<PacketNumber> numbers;
    for (std::uint32_t d = 1; d < kMaxInFlight; ++d) {
        numbers.push_back(5 + d);
    }
    std::shuffle(numbers.begin(), numbers.end(), rng);
    for (const PacketNumber n : numbers) {
        const AcceptResult a = r.accept(n, message_for(n, rng() % 2 ? 1 : kMaxMessageSize));
        over_budget += a == AcceptResult::kOverBudget ? 1 : 0;
        ASSERT_LE(r.memory_bytes(), kBudget) << "memory passed the budget after " << n;
    }
    EXPECT_GT(over_budget, 0U);
    EXPECT_LE(r.stored_count(), kBudget / RecvBuffer::kBlockSize);
    // The message at start is always accepted, and delivery makes progress.
    ASSERT_EQ(r.accept(5, message_for(5)), AcceptResult::kAccepted);
    EXPECT_LE(r.memory_bytes(), kBudget);
    const auto out = drain(r);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.front(), 5U);
}

TEST(RecvBufferTest, TinyBudgetStillAcceptsStart) {
    RecvBuffer r(10);
    EXPECT_EQ(r.accept(1, message_for(1)), AcceptResult::kOverBudget);
    EXPECT_EQ(r.accept(0, message_for(0)), AcceptResult::kAccepted);
    EXPECT_EQ(drain(r), std::vector<PacketNumber>{0});
    EXPECT_EQ(r.accept(1, message_for(1)), AcceptResult::kAccepted);
}

TEST(RecvBufferTest, EncodeRequestMatchesSpecLoop) {
    std::mt19937 rng(3);
    for (int iter = 0; iter < 200; ++iter) {
        const auto first = static_cast<PacketNumber>(rng());
        RecvBuffer r(RecvBuffer::kDefaultMaxBytes, first);
        const auto count = static_cast<std::uint32_t>(1 + rng() % 3000);
        const auto density = static_cast<std::uint32_t>(1 + rng() % 600);
        std::set<std::uint32_t> received;
        for (std::uint32_t d = 1; d < count; ++d) {
            if (rng() % density != 0) {
                received.insert(d);
                ASSERT_EQ(r.accept(first + d, message_for(d, 1)), AcceptResult::kAccepted);
            }
        }
        r.extend_end(first + count);
        Bytes want(kMaxMessageSize);
        want.resize(encode_request(std::span<std::uint8_t>(want), count,
                                   [&](std::uint32_t i) { return received.count(i) == 0; }));
        ASSERT_EQ(request_of(r), want) << "iter " << iter;
        Bytes small(7);
        small.resize(r.encode_request(small));
        ASSERT_TRUE(std::equal(small.begin(), small.end(), want.begin())) << "iter " << iter;
    }
}

TEST(RecvBufferTest, RequestForAFullWindowOfHolesIsTruncated) {
    RecvBuffer r;
    ASSERT_TRUE(r.extend_end(kMaxInFlight));
    const Bytes req = request_of(r);
    EXPECT_EQ(req.size(), kMaxMessageSize);
    EXPECT_TRUE(std::all_of(req.begin(), req.end(), [](std::uint8_t b) { return b == 1; }));
    EXPECT_EQ(r.memory_bytes(), 0U) << "encoding never allocates";
}

TEST(RecvBufferTest, TrimOnlyWhenNothingStored) {
    RecvBuffer r;
    ASSERT_EQ(r.accept(3, message_for(3)), AcceptResult::kAccepted);
    r.trim();
    EXPECT_TRUE(r.contains(3)) << "stored messages survive trim()";
    for (PacketNumber n = 0; n < 3; ++n) {
        ASSERT_EQ(r.accept(n, message_for(n)), AcceptResult::kAccepted);
    }
    EXPECT_EQ(drain(r).size(), 4U);
    r.trim();
    EXPECT_EQ(r.memory_bytes(), 0U);
}

}  // namespace
}  // namespace netcrypto::data
