// REQUEST encoding/decoding (wire.md §6.4): worked examples, round trips, c-toxcore loop model.
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/data/request.hpp"

namespace netcrypto::data {
namespace {

using Bytes = std::vector<std::uint8_t>;
using Decisions = std::vector<std::pair<PacketNumber, Decision>>;

// Spec-literal encoder over a set of hole offsets.
Bytes encode_literal(std::uint32_t count, const std::set<std::uint32_t>& holes,
                     std::size_t cap = kMaxMessageSize) {
    Bytes out(cap);
    const std::size_t len = encode_request(std::span<std::uint8_t>(out), count,
                                           [&](std::uint32_t i) { return holes.count(i) != 0; });
    out.resize(len);
    return out;
}

// Incremental (run-based) encoder over the same holes.
Bytes encode_runs(std::uint32_t count, const std::set<std::uint32_t>& holes,
                  std::size_t cap = kMaxMessageSize) {
    Bytes out(cap);
    RequestEncoder encoder{std::span<std::uint8_t>(out)};
    for (const std::uint32_t h : holes) {
        if (h < count && !encoder.add_hole(h)) {
            break;
        }
    }
    out.resize(encoder.finish(count));
    return out;
}

Decisions decode(const Bytes& message, PacketNumber base, PacketNumber limit) {
    const auto holes = request_holes(message);
    EXPECT_TRUE(holes.has_value()) << "message must start with the REQUEST id";
    Decisions out;
    if (holes) {
        for_each_decision(*holes, base, limit,
                          [&](PacketNumber n, Decision d) { out.emplace_back(n, d); });
    }
    return out;
}

// The decoding loop of wire.md §6.4 (c-toxcore's handle_request_packet form).
// Returns nullopt when that loop would reject the packet.
std::optional<Decisions> decode_reference(const Bytes& holes, PacketNumber start,
                                          PacketNumber end) {
    Decisions out;
    std::size_t pos = 0;
    std::uint32_t n = 1;
    for (PacketNumber i = start; i != end && pos < holes.size(); ++i) {
        if (n == holes[pos]) {
            out.emplace_back(i, Decision::kRequested);
            ++pos;
            n = 0;
        } else {
            out.emplace_back(i, Decision::kAcked);
        }
        if (n == 255) {
            n = 1;
            if (holes[pos] != 0) {
                return std::nullopt;
            }
            ++pos;
        } else {
            ++n;
        }
    }
    return out;
}

TEST(RequestTest, WorkedExample1HolesTenTwelveFifteen) {
    // r_start = 10, r_end = 16, holding 11, 13, 14.
    const std::set<std::uint32_t> holes{0, 2, 5};
    const Bytes expected{0x01, 0x01, 0x02, 0x03};
    EXPECT_EQ(encode_literal(6, holes), expected);
    EXPECT_EQ(encode_runs(6, holes), expected);
    const Decisions want{{10, Decision::kRequested}, {11, Decision::kAcked},
                         {12, Decision::kRequested}, {13, Decision::kAcked},
                         {14, Decision::kAcked},     {15, Decision::kRequested}};
    EXPECT_EQ(decode(expected, 10, 16), want);
}

TEST(RequestTest, WorkedExample2ObservedFromCToxcoreWith255Gap) {
    // ack = 2; numbers 2..303 sent, 2 and 302 withheld: c-toxcore sent 01 01 00 2d.
    const std::set<std::uint32_t> holes{0, 300};
    const Bytes expected{0x01, 0x01, 0x00, 0x2d};
    EXPECT_EQ(encode_literal(302, holes), expected);
    EXPECT_EQ(encode_runs(302, holes), expected);
    const Decisions got = decode(expected, 2, 304);
    ASSERT_EQ(got.size(), 301U) << "numbers 2..302 are described, 303 is unknown";
    EXPECT_EQ(got.front(), std::make_pair(PacketNumber{2}, Decision::kRequested));
    EXPECT_EQ(got.back(), std::make_pair(PacketNumber{302}, Decision::kRequested));
    for (std::size_t i = 1; i + 1 < got.size(); ++i) {
        EXPECT_EQ(got[i].second, Decision::kAcked) << "number " << got[i].first;
    }
}

TEST(RequestTest, WorkedExample3OneHoleAtStart) {
    const std::set<std::uint32_t> holes{0};
    const Bytes expected{0x01, 0x01};
    EXPECT_EQ(encode_literal(2, holes), expected);
    EXPECT_EQ(encode_runs(2, holes), expected);
    EXPECT_EQ(decode(expected, 4, 6), (Decisions{{4, Decision::kRequested}}));
}

TEST(RequestTest, EmptyRangeIsTheOneByteKeepAlive) {
    EXPECT_EQ(encode_literal(0, {}), Bytes{0x01});
    EXPECT_EQ(encode_runs(0, {}), Bytes{0x01});
    EXPECT_TRUE(decode(Bytes{0x01}, 7, 9).empty());
}

TEST(RequestTest, TrailingReceivedRunsAreAcknowledgedInStepsOf255) {
    // Hole at 0, then 600 received numbers: c-toxcore emits a 0 at offsets 255 and 510.
    const std::set<std::uint32_t> holes{0};
    const Bytes expected{0x01, 0x01, 0x00, 0x00};
    EXPECT_EQ(encode_literal(601, holes), expected);
    EXPECT_EQ(encode_runs(601, holes), expected);
}

TEST(RequestTest, HoleExactly255And510After) {
    const std::set<std::uint32_t> holes{0, 255, 765};
    const Bytes expected{0x01, 0x01, 0xff, 0x00, 0xff};
    EXPECT_EQ(encode_literal(766, holes), expected);
    EXPECT_EQ(encode_runs(766, holes), expected);
}

TEST(RequestTest, TruncatedAtMaxMessageSizeLikeCToxcore) {
    std::set<std::uint32_t> holes;
    for (std::uint32_t i = 0; i < 5000; i += 2) {
        holes.insert(i);
    }
    const Bytes literal = encode_literal(5000, holes, 4000);
    EXPECT_EQ(literal.size(), kMaxMessageSize) << "output is capped at 1373 bytes";
    EXPECT_EQ(encode_runs(5000, holes, 4000), literal);
    // A smaller caller buffer truncates the same way.
    const Bytes small = encode_literal(5000, holes, 10);
    EXPECT_EQ(small.size(), 10U);
    EXPECT_EQ(encode_runs(5000, holes, 10), small);
    EXPECT_TRUE(std::equal(small.begin(), small.end(), literal.begin()));
}

TEST(RequestTest, EmptyOutputBufferWritesNothing) {
    EXPECT_EQ(encode_literal(10, {1}, 0).size(), 0U);
    EXPECT_EQ(encode_runs(10, {1}, 0).size(), 0U);
}

TEST(RequestTest, RejectsEmptyAndWrongId) {
    EXPECT_EQ(request_holes(Bytes{}).error(), RequestError::kEmpty);
    EXPECT_EQ(request_holes(Bytes{0x02, 0x01}).error(), RequestError::kWrongId);
    EXPECT_EQ(request_holes(Bytes{0x01, 0x05})->size(), 1U);
}

TEST(RequestTest, DecoderStopsAtLimit) {
    // "0" would acknowledge 255 numbers, but only 10 exist.
    const Decisions got = decode(Bytes{0x01, 0x00, 0x05}, 100, 110);
    ASSERT_EQ(got.size(), 10U);
    EXPECT_EQ(got.back().first, 109U);
    // A requested number at the limit is not reported.
    EXPECT_EQ(decode(Bytes{0x01, 0x03}, 100, 102).size(), 2U);
}

TEST(RequestTest, DecoderWrapsAround2To32) {
    const PacketNumber base = 0xffff'fffeU;
    const Decisions got = decode(Bytes{0x01, 0x01, 0x03}, base, base + 10);
    const Decisions want{{0xffff'fffeU, Decision::kRequested},
                         {0xffff'ffffU, Decision::kAcked},
                         {0, Decision::kAcked},
                         {1, Decision::kRequested}};
    EXPECT_EQ(got, want);
}

struct HolePattern {
    std::uint32_t count;
    std::set<std::uint32_t> holes;
};

HolePattern random_pattern(std::mt19937& rng) {
    std::uniform_int_distribution<std::uint32_t> count_dist(0, 3000);
    std::uniform_int_distribution<int> kind_dist(0, 3);
    HolePattern p{count_dist(rng), {}};
    if (p.count > 0) {
        p.holes.insert(0);  // a real receive start is always a hole
    }
    const int kind = kind_dist(rng);
    // kind 0: sparse with gaps > 255 and > 510; 1: dense; 2: bursty; 3: none but the first.
    std::uniform_int_distribution<std::uint32_t> gap_dist(1, kind == 0 ? 900U : 6U);
    for (std::uint32_t i = gap_dist(rng); kind != 3 && i < p.count; i += gap_dist(rng)) {
        if (kind == 2 && (i / 64) % 2 == 0) {
            continue;
        }
        p.holes.insert(i);
    }
    return p;
}

TEST(RequestTest, RoundTripRandomHolePatterns) {
    std::mt19937 rng(0x5eed);
    for (int iter = 0; iter < 400; ++iter) {
        const HolePattern p = random_pattern(rng);
        const auto base = static_cast<PacketNumber>(rng());
        const Bytes message = encode_literal(p.count, p.holes);
        ASSERT_EQ(encode_runs(p.count, p.holes), message) << "encoders disagree, iter " << iter;
        const Decisions got = decode(message, base, base + p.count);
        // Decisions are a prefix of [base, base + count) and agree with the pattern.
        for (std::size_t i = 0; i < got.size(); ++i) {
            ASSERT_EQ(got[i].first, static_cast<PacketNumber>(base + i)) << "iter " << iter;
            const bool hole = p.holes.count(static_cast<std::uint32_t>(i)) != 0;
            ASSERT_EQ(got[i].second, hole ? Decision::kRequested : Decision::kAcked)
                << "offset " << i << " iter " << iter;
        }
        // Unless truncated, every hole is reported.
        if (message.size() < kMaxMessageSize && !p.holes.empty()) {
            ASSERT_GT(got.size(), *p.holes.rbegin()) << "last hole not described, iter " << iter;
        }
    }
}

TEST(RequestTest, RunDecoderMatchesCToxcoreLoopOnArbitraryBytes) {
    // Any byte string is decoded like c-toxcore's loop, and that loop never takes its
    // "255 run not followed by 0" rejection branch.
    std::mt19937 rng(0xbadc0de);
    std::uniform_int_distribution<int> len_dist(0, 40);
    std::uniform_int_distribution<int> byte_dist(0, 255);
    std::uniform_int_distribution<std::uint32_t> span_dist(0, 4000);
    for (int iter = 0; iter < 3000; ++iter) {
        Bytes holes(static_cast<std::size_t>(len_dist(rng)));
        for (auto& b : holes) {
            const int r = byte_dist(rng);
            b = static_cast<std::uint8_t>(r < 40 ? 0 : (r < 80 ? 255 : r));
        }
        const auto start = static_cast<PacketNumber>(rng());
        const PacketNumber end = start + span_dist(rng);
        const auto reference = decode_reference(holes, start, end);
        ASSERT_TRUE(reference.has_value()) << "reference loop rejected, iter " << iter;
        Bytes message{kRequestId};
        message.insert(message.end(), holes.begin(), holes.end());
        ASSERT_EQ(decode(message, start, end), *reference) << "iter " << iter;
    }
}

}  // namespace
}  // namespace netcrypto::data
