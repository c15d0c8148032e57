// Cookies (wire.md §2.1): issue/open with an 8-second jar, both sides of the validity boundary,
// future-dated cookies, tampering, foreign jars and key rotation.
#include "core/cookie.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/hex.hpp"
#include "core/wire/constants.hpp"

namespace netcrypto {
namespace {

using namespace std::chrono_literals;

class CookieJarTest : public ::testing::Test {
  protected:
    SeededRng rng{2024};
    core::CookieJar jar{rng, 8s};
    PublicKey long_term_pk = random_pk();
    PublicKey dht_pk = random_pk();
    Instant issued_at = instant_from_ms(1'000'000);

    PublicKey random_pk() {
        PublicKey k;
        rng.fill(k.bytes);
        return k;
    }

    wire::Cookie issue() { return jar.issue(issued_at, long_term_pk, dht_pk, rng); }

    static std::string describe(const tl::expected<wire::CookieContents, core::CookieError>& r) {
        return r ? std::string("ok") : std::string(to_string(r.error()));
    }
};

TEST_F(CookieJarTest, ValidityIsWhatWasConfigured) {
    EXPECT_EQ(jar.validity(), Duration{8s});
    EXPECT_EQ(sizeof(wire::Cookie), 112U) << "a cookie is exactly 112 bytes";
}

TEST_F(CookieJarTest, OpensAtIssueTimeAndRoundTripsTheKeys) {
    const auto cookie = issue();
    const auto r = jar.open(cookie, issued_at);
    ASSERT_TRUE(r) << "a fresh cookie did not open: " << describe(r);
    EXPECT_EQ(r->long_term_pk, long_term_pk) << "real pk inside the cookie";
    EXPECT_EQ(r->dht_pk, dht_pk) << "dht pk inside the cookie";
    EXPECT_EQ(r->time_ms, 1'000'000U) << "creation time inside the cookie";
}

TEST_F(CookieJarTest, ValidAtExactlyEightSeconds) {
    const auto cookie = issue();
    const auto r = jar.open(cookie, issued_at + 8000ms);
    EXPECT_TRUE(r) << "a cookie exactly 8000 ms old must still open: " << describe(r);
    const auto r2 = jar.open(cookie, issued_at + 7999ms);
    EXPECT_TRUE(r2) << "7999 ms: " << describe(r2);
}

TEST_F(CookieJarTest, ExpiredOneMillisecondLater) {
    const auto cookie = issue();
    const auto r = jar.open(cookie, issued_at + 8001ms);
    ASSERT_FALSE(r) << "a cookie 8001 ms old opened";
    EXPECT_EQ(r.error(), core::CookieError::kExpired) << "8001 ms reported as " << describe(r);
    const auto later = jar.open(cookie, issued_at + 3600s);
    ASSERT_FALSE(later);
    EXPECT_EQ(later.error(), core::CookieError::kExpired) << "one hour: " << describe(later);
}

TEST_F(CookieJarTest, FutureDatedCookieIsRefused) {
    const auto cookie = issue();
    const auto r = jar.open(cookie, issued_at - 1ms);
    ASSERT_FALSE(r) << "a cookie opened 1 ms before it was issued was accepted";
    EXPECT_EQ(r.error(), core::CookieError::kFromFuture) << describe(r);
    const auto far = jar.open(cookie, issued_at - 10s);
    ASSERT_FALSE(far);
    EXPECT_EQ(far.error(), core::CookieError::kFromFuture) << describe(far);
}

TEST_F(CookieJarTest, AnyTamperedByteBreaksTheTag) {
    const auto cookie = issue();
    for (std::size_t i = 0; i < wire::kCookieSize; ++i) {
        for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}, std::uint8_t{0xFF}}) {
            auto bad = cookie;
            bad[i] ^= mask;
            const auto r = jar.open(bad, issued_at);
            ASSERT_FALSE(r) << "cookie with byte " << i << " xor " << int{mask} << " opened";
            EXPECT_EQ(r.error(), core::CookieError::kBadTag)
                << "byte " << i << " xor " << int{mask} << " reported as " << describe(r);
        }
    }
}

TEST_F(CookieJarTest, CookieFromAnotherJarIsRefused) {
    SeededRng other_rng(7);
    const core::CookieJar other(other_rng, 8s);
    const auto foreign = other.issue(issued_at, long_term_pk, dht_pk, other_rng);
    ASSERT_TRUE(other.open(foreign, issued_at)) << "the other jar cannot open its own cookie";
    const auto r = jar.open(foreign, issued_at);
    ASSERT_FALSE(r) << "a cookie sealed with another jar's key opened";
    EXPECT_EQ(r.error(), core::CookieError::kBadTag) << describe(r);
    const auto mine = issue();
    const auto r2 = other.open(mine, issued_at);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error(), core::CookieError::kBadTag) << describe(r2);
}

TEST_F(CookieJarTest, ArbitraryBytesAreRefused) {
    wire::Cookie zeros{};
    const auto r = jar.open(zeros, issued_at);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), core::CookieError::kBadTag);
    for (int i = 0; i < 50; ++i) {
        wire::Cookie junk{};
        rng.fill(junk);
        const auto rj = jar.open(junk, issued_at);
        ASSERT_FALSE(rj) << "random bytes opened as a cookie: " << core::hex_encode(junk);
        EXPECT_EQ(rj.error(), core::CookieError::kBadTag);
    }
}

TEST_F(CookieJarTest, RotationKeepsThePreviousKeyOnly) {
    const auto old_cookie = issue();
    jar.rotate(rng);
    const auto r1 = jar.open(old_cookie, issued_at + 1s);
    EXPECT_TRUE(r1) << "after one rotation a cookie of the previous key must open: "
                    << describe(r1);
    if (r1) {
        EXPECT_EQ(r1->long_term_pk, long_term_pk);
        EXPECT_EQ(r1->dht_pk, dht_pk);
    }
    const auto after_first = issue();
    EXPECT_TRUE(jar.open(after_first, issued_at)) << "a cookie of the current key must open";

    jar.rotate(rng);
    const auto r2 = jar.open(old_cookie, issued_at + 1s);
    ASSERT_FALSE(r2) << "after two rotations a cookie two keys old still opened";
    EXPECT_EQ(r2.error(), core::CookieError::kBadTag) << describe(r2);
    EXPECT_TRUE(jar.open(after_first, issued_at))
        << "the cookie of the key one rotation ago must still open";
    EXPECT_TRUE(jar.open(issue(), issued_at)) << "a cookie of the newest key must open";
}

TEST_F(CookieJarTest, RotationStillChecksTime) {
    const auto cookie = issue();
    jar.rotate(rng);
    const auto r = jar.open(cookie, issued_at + 8001ms);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), core::CookieError::kExpired)
        << "an expired cookie of the previous key: " << describe(r);
}

TEST_F(CookieJarTest, CookiesAreFreshEachTime) {
    std::set<wire::Cookie> seen;
    for (int i = 0; i < 20; ++i) seen.insert(issue());
    EXPECT_EQ(seen.size(), 20U) << "two issued cookies were identical (nonce reuse?)";
}

TEST_F(CookieJarTest, DistinctKeysRoundTrip) {
    for (int i = 0; i < 20; ++i) {
        const PublicKey r = random_pk();
        const PublicKey d = random_pk();
        const Instant t = instant_from_ms(static_cast<std::int64_t>(rng.uniform(1'000'000'000)));
        const auto cookie = jar.issue(t, r, d, rng);
        const auto out = jar.open(cookie, t + 4s);
        ASSERT_TRUE(out) << describe(out);
        EXPECT_EQ(out->long_term_pk, r) << "real pk";
        EXPECT_EQ(out->dht_pk, d) << "dht pk";
        EXPECT_EQ(static_cast<std::int64_t>(out->time_ms), to_ms(t)) << "creation time";
    }
}

TEST_F(CookieJarTest, OtherValidityPeriods) {
    SeededRng r2(3);
    const core::CookieJar long_jar(r2, 15s);
    const auto cookie = long_jar.issue(issued_at, long_term_pk, dht_pk, r2);
    EXPECT_TRUE(long_jar.open(cookie, issued_at + 15s)) << "15 s jar at 15000 ms";
    const auto r = long_jar.open(cookie, issued_at + 15001ms);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), core::CookieError::kExpired) << "15 s jar at 15001 ms";
}

TEST(CookieError, NamesAreDistinct) {
    const std::set<std::string_view> names{to_string(core::CookieError::kBadTag),
                                           to_string(core::CookieError::kExpired),
                                           to_string(core::CookieError::kFromFuture)};
    EXPECT_EQ(names.size(), 3U);
}

}  // namespace
}  // namespace netcrypto
