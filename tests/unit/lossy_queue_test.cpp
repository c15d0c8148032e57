// core::LossyPool and core::LossyQueue: per-connection FIFOs of lossy messages in one shared
// pool, bounded per queue and in total, with slots reused instead of reallocated.
#include "core/lossy_queue.hpp"

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include <gtest/gtest.h>

namespace netcrypto::core {
namespace {

std::vector<std::uint8_t> message(std::uint8_t tag, std::size_t size = 10) {
    std::vector<std::uint8_t> m(size, tag);
    m[0] = 200;  // a lossy id
    return m;
}

/// Pops one message; its tag (second byte) and size, {0, 0} if empty.
std::pair<std::uint8_t, std::size_t> pop(LossyQueue& q) {
    std::array<std::uint8_t, wire::kMaxMessageSize> out{};
    const std::size_t n = q.pop(out);
    return {n > 1 ? out[1] : std::uint8_t{0}, n};
}

TEST(LossyQueue, KeepsOrderAndBytesAcrossQueues) {
    LossyPool pool(64);
    LossyQueue a(&pool, 8);
    LossyQueue b(&pool, 8);
    for (std::uint8_t i = 1; i <= 5; ++i) {
        ASSERT_TRUE(a.push(message(i, 10 + i)));
        ASSERT_TRUE(b.push(message(static_cast<std::uint8_t>(100 + i), wire::kMaxMessageSize)));
    }
    EXPECT_EQ(pool.in_use(), 10U);
    for (std::uint8_t i = 1; i <= 5; ++i) {
        EXPECT_EQ(pop(a), std::make_pair(i, std::size_t{10U + i})) << "message " << int{i};
        EXPECT_EQ(pop(b),
                  std::make_pair(static_cast<std::uint8_t>(100 + i), wire::kMaxMessageSize));
    }
    EXPECT_EQ(pop(a).second, 0U) << "an empty queue pops nothing";
    EXPECT_EQ(pool.in_use(), 0U);
}

TEST(LossyQueue, FullQueueDropsItsOldest) {
    LossyPool pool(64);
    LossyQueue q(&pool, 3);
    for (std::uint8_t i = 1; i <= 3; ++i) ASSERT_TRUE(q.push(message(i)));
    EXPECT_FALSE(q.push(message(4))) << "the fourth push must report a drop";
    EXPECT_EQ(q.size(), 3U);
    EXPECT_EQ(pop(q).first, 2) << "the oldest (1) was the one dropped";
    EXPECT_EQ(pop(q).first, 3);
    EXPECT_EQ(pop(q).first, 4);
    EXPECT_EQ(pool.in_use(), 0U);
}

TEST(LossyQueue, ExhaustedPoolTakesFromTheSameQueueOnly) {
    LossyPool pool(4);
    LossyQueue hog(&pool, 100);
    LossyQueue quiet(&pool, 100);
    for (std::uint8_t i = 1; i <= 4; ++i) ASSERT_TRUE(hog.push(message(i)));
    // The pool is full: the quiet queue holds nothing to give up, so its message is dropped;
    // the hog's new message replaces the hog's own oldest.
    EXPECT_FALSE(quiet.push(message(50)));
    EXPECT_TRUE(quiet.empty());
    EXPECT_FALSE(hog.push(message(5)));
    EXPECT_EQ(hog.size(), 4U);
    EXPECT_EQ(pop(hog).first, 2);
    // One slot free again: the quiet queue gets it.
    EXPECT_TRUE(quiet.push(message(51)));
    EXPECT_EQ(pop(quiet).first, 51);
    EXPECT_EQ(pool.in_use(), 3U);
}

TEST(LossyQueue, SlotsAreReusedNotReallocated) {
    LossyPool pool(10'000);
    std::vector<LossyQueue> queues;
    queues.reserve(1000);
    for (int i = 0; i < 1000; ++i) queues.emplace_back(&pool, 256);
    // A thousand connections each receive and read a message, over and over: at most one
    // slot is in use at a time, so storage stays at one chunk.
    for (int round = 0; round < 20; ++round) {
        for (auto& q : queues) {
            ASSERT_TRUE(q.push(message(static_cast<std::uint8_t>(round), 100)));
            ASSERT_EQ(pop(q).first, round);
        }
    }
    EXPECT_LE(pool.capacity(), 32U) << "the pool grew although one slot at a time was used";
}

TEST(LossyQueue, DestroyedAndMovedQueuesGiveSlotsBack) {
    LossyPool pool(16);
    {
        LossyQueue q(&pool, 8);
        for (std::uint8_t i = 1; i <= 6; ++i) ASSERT_TRUE(q.push(message(i)));
        LossyQueue moved(std::move(q));
        EXPECT_EQ(moved.size(), 6U);
        EXPECT_EQ(pool.in_use(), 6U);
        LossyQueue other(&pool, 8);
        ASSERT_TRUE(other.push(message(9)));
        other = std::move(moved);  // other's own message goes back to the pool
        EXPECT_EQ(pool.in_use(), 6U);
        EXPECT_EQ(pop(other).first, 1);
    }
    EXPECT_EQ(pool.in_use(), 0U) << "a destroyed queue kept its slots";
}

TEST(LossyQueue, NoQueueKeepsNothing) {
    LossyQueue none(nullptr, 0);
    EXPECT_FALSE(none.push(message(1)));
    EXPECT_EQ(pop(none).second, 0U);
    LossyPool pool(4);
    LossyQueue q(&pool, 4);
    EXPECT_FALSE(q.push(std::vector<std::uint8_t>(wire::kMaxMessageSize + 1, 200)))
        << "an oversized message must be refused, not truncated";
    EXPECT_EQ(pool.in_use(), 0U);
}

}  // namespace
}  // namespace netcrypto::core
