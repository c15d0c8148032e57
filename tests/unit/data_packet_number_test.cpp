// Modulo-2^32 packet-number helpers.
#include <gtest/gtest.h>

#include "core/data/packet_number.hpp"

namespace netcrypto::data {
namespace {

constexpr PacketNumber kTop = 0xffff'ffffU;

TEST(PacketNumberTest, DistanceWrapsModulo2To32) {
    EXPECT_EQ(distance(10, 15), 5U);
    EXPECT_EQ(distance(kTop, 1), 2U) << "distance must count across the 2^32 wrap";
    EXPECT_EQ(distance(1, kTop), kTop - 1);
    EXPECT_EQ(distance(7, 7), 0U);
}

TEST(PacketNumberTest, HalfOpenRangeAcrossWrap) {
    EXPECT_TRUE(in_range(kTop, kTop - 1, 3));
    EXPECT_TRUE(in_range(0, kTop - 1, 3));
    EXPECT_TRUE(in_range(2, kTop - 1, 3));
    EXPECT_FALSE(in_range(3, kTop - 1, 3)) << "the end of [a, b) is excluded";
    EXPECT_FALSE(in_range(kTop - 2, kTop - 1, 3));
    EXPECT_FALSE(in_range(5, 5, 5)) << "an empty range contains nothing";
}

TEST(PacketNumberTest, ClosedRangeAcrossWrap) {
    EXPECT_TRUE(in_closed_range(3, kTop - 1, 3)) << "the end of [a, b] is included";
    EXPECT_TRUE(in_closed_range(5, 5, 5));
    EXPECT_FALSE(in_closed_range(4, kTop - 1, 3));
    EXPECT_FALSE(in_closed_range(kTop - 2, kTop - 1, 3));
}

TEST(PacketNumberTest, SerialOrderAcrossWrap) {
    EXPECT_TRUE(before(kTop, 0));
    EXPECT_FALSE(before(0, kTop));
    EXPECT_FALSE(before(9, 9));
    EXPECT_EQ(later(kTop - 3, 2), 2U);
    EXPECT_EQ(later(2, kTop - 3), 2U);
}

}  // namespace
}  // namespace netcrypto::data
