// Address text forms (src/core/address.cpp, portable, no inet_pton): IPv4 dotted quads, IPv6 with
// "::" compression and embedded IPv4, ports, RFC 5952 output, and refusal of malformed input.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include <netcrypto/address.hpp>

namespace netcrypto {
namespace {

using Ip = std::array<std::uint8_t, 16>;

Address v6(const Ip& ip, std::uint16_t port) {
    Address a;
    a.family = Address::Family::kIPv6;
    a.ip = ip;
    a.port = port;
    return a;
}

TEST(AddressParse, Ipv4) {
    const auto a = Address::parse("192.168.1.20:33445");
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(*a, Address::ipv4(192, 168, 1, 20, 33445));
    EXPECT_EQ(Address::parse("0.0.0.0:0"), Address::ipv4(0, 0, 0, 0, 0));
    EXPECT_EQ(Address::parse("255.255.255.255:65535"), Address::ipv4(255, 255, 255, 255, 65535));
    EXPECT_EQ(Address::parse("localhost:7"), Address::ipv4(127, 0, 0, 1, 7));
    EXPECT_EQ(Address::parse("10.0.0.1:00080"), Address::ipv4(10, 0, 0, 1, 80));
}

TEST(AddressParse, Ipv6) {
    EXPECT_EQ(Address::parse("[::1]:9"), v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 9));
    EXPECT_EQ(Address::parse("[::]:1"), v6({}, 1));
    EXPECT_EQ(
        Address::parse("[2001:DB8::8:800:200C:417A]:5"),
        v6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0x08, 0x08, 0, 0x20, 0x0c, 0x41, 0x7a}, 5));
    EXPECT_EQ(Address::parse("[1:2:3:4:5:6:7:8]:5"),
              v6({0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8}, 5));
    // "::" for exactly one group, at the start, in the middle and at the end.
    EXPECT_EQ(Address::parse("[::2:3:4:5:6:7:8]:5"),
              v6({0, 0, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8}, 5));
    EXPECT_EQ(Address::parse("[1:2:3::5:6:7:8]:5"),
              v6({0, 1, 0, 2, 0, 3, 0, 0, 0, 5, 0, 6, 0, 7, 0, 8}, 5));
    EXPECT_EQ(Address::parse("[1:2:3:4:5:6:7::]:5"),
              v6({0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0}, 5));
    EXPECT_EQ(Address::parse("[fe80::]:5"), v6({0xfe, 0x80}, 5));
    // Embedded IPv4: mapped, compatible and after six full groups.
    EXPECT_EQ(Address::parse("[::ffff:127.0.0.1]:5"),
              v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}, 5));
    EXPECT_EQ(Address::parse("[::1.2.3.4]:5"),
              v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 5));
    EXPECT_EQ(Address::parse("[1:2:3:4:5:6:1.2.3.4]:5"),
              v6({0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4}, 5));
    EXPECT_EQ(Address::parse("[0000:00:0::0001]:5"),
              v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 5));
}

TEST(AddressParse, KeepsTheEarlierLenientForms) {
    // Without brackets the last ':' separates the port (as before the portable parser).
    EXPECT_EQ(Address::parse("::1:80"), v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 80));
    // A dotted quad in brackets is still an IPv4 address.
    EXPECT_EQ(Address::parse("[10.1.2.3]:4"), Address::ipv4(10, 1, 2, 3, 4));
}

TEST(AddressParse, RefusesMalformedInput) {
    for (const std::string_view bad : {
             "",
             "1.2.3.4",                     // no port
             "1.2.3.4:",                    // empty port
             "1.2.3.4:65536",               // port out of range
             "1.2.3.4:-1",                  // sign
             "1.2.3.4:8x",                  // trailing junk
             "1.2.3.4: 80",                 // space
             ":80",                         // no host
             "1.2.3:80",                    // three octets
             "1.2.3.4.5:80",                // five octets
             "256.1.1.1:80",                // octet > 255
             "1.2.3.04:80",                 // leading zero
             "1..3.4:80",                   // empty octet
             "1.2.3.4.:80",                 // trailing dot
             "0x7f.0.0.1:80",               // hex octet
             "1.2.3.1000:80",               // four digits
             "example.com:80",              // names are not resolved
             "[::1]",                       // no port
             "[::1]80",                     // no ':' after ']'
             "[::1:80",                     // no ']'
             "[]:80",                       // empty host
             "[:::]:80",                    // three colons
             "[1:::2]:80",                  // three colons inside
             "[1::2::3]:80",                // two "::"
             "[:1:2:3:4:5:6:7]:80",         // single leading ':'
             "[1:2:3:4:5:6:7:]:80",         // single trailing ':'
             "[1:2:3:4:5:6:7]:80",          // seven groups, no "::"
             "[1:2:3:4:5:6:7:8:9]:80",      // nine groups
             "[1:2:3:4:5:6:7:8::]:80",      // "::" with eight groups already
             "[::1:2:3:4:5:6:7:8]:80",      // same, leading
             "[12345::]:80",                // five hex digits
             "[g::]:80",                    // not hex
             "[fe80::1%eth0]:80",           // zone ids are not supported
             "[1:2:3:4:5:6:7:1.2.3.4]:80",  // embedded IPv4 makes nine groups
             "[::1.2.3]:80",                // bad embedded IPv4
             "[::1.2.3.4:5]:80",            // IPv4 not at the end
             "[1.2.3.4::]:80",              // IPv4 at the start
             "[::ffff:1.2.3.256]:80",       // bad embedded octet
             "[ ::1]:80",                   // space
         }) {
        EXPECT_FALSE(Address::parse(bad).has_value()) << "accepted \"" << bad << '"';
    }
}

TEST(AddressFormat, Ipv4) {
    EXPECT_EQ(Address::ipv4(127, 0, 0, 1, 33445).to_string(), "127.0.0.1:33445");
    EXPECT_EQ(Address::ipv4(0, 0, 0, 0, 0).to_string(), "0.0.0.0:0");
    EXPECT_EQ(Address::ipv4(255, 255, 255, 255, 65535).to_string(), "255.255.255.255:65535");
}

TEST(AddressFormat, Ipv6FollowsRfc5952) {
    const auto fmt = [](std::string_view in) {
        const auto a = Address::parse(in);
        return a ? a->to_string() : std::string("<invalid>");
    };
    // Lower case, leading zeros dropped, the longest zero run compressed.
    EXPECT_EQ(fmt("[2001:0DB8:0000:0000:0008:0800:200C:417A]:1"), "[2001:db8::8:800:200c:417a]:1");
    EXPECT_EQ(fmt("[::]:1"), "[::]:1");
    EXPECT_EQ(fmt("[::1]:1"), "[::1]:1");
    EXPECT_EQ(fmt("[1::]:1"), "[1::]:1");
    EXPECT_EQ(fmt("[1:2:3:4:5:6:7:8]:1"), "[1:2:3:4:5:6:7:8]:1");
    // A single zero group is not compressed (RFC 5952 §4.2.2).
    EXPECT_EQ(fmt("[2001:db8:0:1:1:1:1:1]:1"), "[2001:db8:0:1:1:1:1:1]:1");
    // The longest run wins; on a tie the first (§4.2.3).
    EXPECT_EQ(fmt("[2001:0:0:1:0:0:0:1]:1"), "[2001:0:0:1::1]:1");
    EXPECT_EQ(fmt("[2001:db8:0:0:1:0:0:1]:1"), "[2001:db8::1:0:0:1]:1");
    EXPECT_EQ(fmt("[0:0:1:0:0:1:0:0]:1"), "[::1:0:0:1:0:0]:1");
    EXPECT_EQ(fmt("[1:0:0:2:0:0:0:3]:1"), "[1:0:0:2::3]:1");
    EXPECT_EQ(fmt("[fe80::abcd:ef]:1"), "[fe80::abcd:ef]:1");
    // IPv4-mapped addresses in mixed notation (§5); other embedded forms in hex.
    EXPECT_EQ(fmt("[::FFFF:7f00:1]:1"), "[::ffff:127.0.0.1]:1");
    EXPECT_EQ(fmt("[::ffff:0.0.0.0]:1"), "[::ffff:0.0.0.0]:1");
    EXPECT_EQ(fmt("[::1.2.3.4]:1"), "[::102:304]:1");
    EXPECT_EQ(fmt("[1:2:3:4:5:6:1.2.3.4]:1"), "[1:2:3:4:5:6:102:304]:1");
}

TEST(AddressFormat, RoundTrips) {
    for (const std::string_view text : {
             "1.2.3.4:5",
             "127.0.0.1:33445",
             "[::]:0",
             "[::1]:65535",
             "[2001:db8::1]:443",
             "[2001:db8:0:1:1:1:1:1]:443",
             "[fe80::]:1",
             "[::ffff:10.0.0.1]:80",
             "[1:2:3:4:5:6:7:8]:9",
             "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:9",
             "[1::8]:9",
             "[1:0:0:2::3]:9",
         }) {
        const auto a = Address::parse(text);
        ASSERT_TRUE(a.has_value()) << text;
        EXPECT_EQ(a->to_string(), text);
        EXPECT_EQ(Address::parse(a->to_string()), a) << text;
    }
    // Every single-group value and position survives text and back.
    for (std::size_t group = 0; group < 8; ++group) {
        for (const unsigned w : {0x0001U, 0x00a0U, 0x0b00U, 0xc000U, 0xffffU}) {
            Ip ip{};
            ip[2 * group] = static_cast<std::uint8_t>(w >> 8U);
            ip[2 * group + 1] = static_cast<std::uint8_t>(w & 0xFFU);
            const Address a = v6(ip, 7);
            EXPECT_EQ(Address::parse(a.to_string()), a) << a.to_string();
        }
    }
}

TEST(Address, Loopback) {
    EXPECT_TRUE(Address::parse("127.0.0.1:1")->is_loopback());
    EXPECT_TRUE(Address::parse("127.255.0.9:1")->is_loopback());
    EXPECT_FALSE(Address::parse("128.0.0.1:1")->is_loopback());
    EXPECT_TRUE(Address::parse("[::1]:1")->is_loopback());
    EXPECT_TRUE(Address::parse("[::ffff:127.0.0.2]:1")->is_loopback());
    EXPECT_FALSE(Address::parse("[::2]:1")->is_loopback());
    EXPECT_FALSE(Address::parse("[::ffff:10.0.0.1]:1")->is_loopback());
}

}  // namespace
}  // namespace netcrypto
