// ReplayWindow: duplicates, too-old counters, far-future jumps, check/set separation.
#include <cstdint>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "core/data/replay_window.hpp"

namespace netcrypto::data {
namespace {

using Verdict = ReplayWindow::Verdict;

TEST(ReplayWindowTest, EmptyUntilFirstSetAndAllocatesLazily) {
    ReplayWindow w;
    EXPECT_TRUE(w.empty());
    EXPECT_EQ(w.memory_bytes(), 0U);
    EXPECT_EQ(w.check(12345), Verdict::kFresh);
    EXPECT_EQ(w.memory_bytes(), 0U) << "check() must not allocate or change state";
    EXPECT_TRUE(w.check_and_set(12345));
    EXPECT_EQ(w.memory_bytes(), ReplayWindow::kDefaultBits / 8);
    EXPECT_EQ(w.window(), ReplayWindow::kDefaultBits - 64U);
}

TEST(ReplayWindowTest, RejectsDuplicates) {
    ReplayWindow w;
    for (std::uint64_t c = 0; c < 1000; ++c) {
        ASSERT_TRUE(w.check_and_set(c)) << c;
    }
    for (std::uint64_t c = 0; c < 1000; ++c) {
        ASSERT_EQ(w.check(c), Verdict::kDuplicate) << c;
        ASSERT_FALSE(w.check_and_set(c)) << c;
    }
}

TEST(ReplayWindowTest, CheckDoesNotRecord) {
    ReplayWindow w;
    ASSERT_TRUE(w.check_and_set(10));
    EXPECT_EQ(w.check(11), Verdict::kFresh);
    EXPECT_EQ(w.check(11), Verdict::kFresh) << "a failed decryption must leave no trace";
    w.set(11);
    EXPECT_EQ(w.check(11), Verdict::kDuplicate);
    EXPECT_EQ(w.highest(), 11U);
}

TEST(ReplayWindowTest, AcceptsReorderingInsideWindowAndRejectsOlder) {
    ReplayWindow w;
    const std::uint64_t top = 100'000;
    ASSERT_TRUE(w.check_and_set(top));
    EXPECT_TRUE(w.check_and_set(top - w.window())) << "the window's oldest counter";
    EXPECT_EQ(w.check(top - w.window() - 1), Verdict::kTooOld);
    EXPECT_TRUE(w.check_and_set(top - 1));
    EXPECT_TRUE(w.check_and_set(top - 5000));
    EXPECT_EQ(w.check(top - 5000), Verdict::kDuplicate);
    w.set(top - w.window() - 10);  // ignored
    EXPECT_EQ(w.highest(), top);
}

TEST(ReplayWindowTest, FarFutureJumpClearsOldState) {
    ReplayWindow w;
    for (std::uint64_t c = 0; c < 200; ++c) {
        ASSERT_TRUE(w.check_and_set(c));
    }
    // A jump like wire.md §5's +50000 (accepted by c-toxcore): everything before is too old.
    ASSERT_TRUE(w.check_and_set(50'199));
    EXPECT_EQ(w.check(199), Verdict::kTooOld);
    EXPECT_EQ(w.check(50'199 - 1), Verdict::kFresh);
    EXPECT_EQ(w.check(50'199 - 64), Verdict::kFresh)
        << "bits of a reused word must be cleared when the window slides";
    // A jump of exactly one window: the word that wraps onto itself is cleared too.
    const std::uint64_t next = 50'199 + w.window() + 64;
    ASSERT_TRUE(w.check_and_set(next));
    EXPECT_EQ(w.check(next - w.window()), Verdict::kFresh);
    EXPECT_EQ(w.check(next - 64), Verdict::kFresh);
    EXPECT_TRUE(w.check_and_set(std::uint64_t{1} << 62U)) << "huge jumps are accepted";
    EXPECT_EQ(w.check(next), Verdict::kTooOld);
}

TEST(ReplayWindowTest, MatchesExactModelUnderRandomTraffic) {
    std::mt19937_64 rng(17);
    for (const std::uint32_t bits : {128U, 1024U, 65536U}) {
        ReplayWindow w(bits);
        std::set<std::uint64_t> seen;
        std::uint64_t highest = 0;
        bool any = false;
        std::uint64_t base = 1'000'000;
        for (int i = 0; i < 30'000; ++i) {
            base += rng() % 3;
            const std::uint64_t c = base - std::min<std::uint64_t>(base, rng() % (2 * bits));
            Verdict want = Verdict::kFresh;
            if (any && c <= highest && highest - c > w.window()) {
                want = Verdict::kTooOld;
            } else if (seen.count(c) != 0) {
                want = Verdict::kDuplicate;
            }
            ASSERT_EQ(w.check(c), want) << "counter " << c << " bits " << bits;
            if (want == Verdict::kFresh) {
                w.set(c);
                seen.insert(c);
                highest = any ? std::max(highest, c) : c;
                any = true;
            }
        }
    }
}

TEST(ReplayWindowTest, ResetForgetsEverything) {
    ReplayWindow w(65536);
    EXPECT_EQ(w.window(), 65536U - 64U);
    ASSERT_TRUE(w.check_and_set(5));
    w.reset();
    EXPECT_TRUE(w.empty());
    EXPECT_TRUE(w.check_and_set(5));
}

}  // namespace
}  // namespace netcrypto::data
