// netcrypto/posix.hpp: Address <-> sockaddr for AF_INET, AF_INET6 and dual-stack sockets
// (IPv4-mapped addresses), rejection of short or foreign socket addresses, and the
// steady_clock <-> Instant conversions.
#include <arpa/inet.h>
#include <array>
#include <chrono>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <gtest/gtest.h>

#include <netcrypto/posix.hpp>

namespace netcrypto::posix {
namespace {

Address v6(const char* text, std::uint16_t port) {
    Address a;
    a.family = Address::Family::kIPv6;
    in6_addr in6{};
    EXPECT_EQ(inet_pton(AF_INET6, text, &in6), 1);
    std::memcpy(a.ip.data(), &in6, 16);
    a.port = port;
    return a;
}

const sockaddr* as_sockaddr(const sockaddr_storage& ss) {
    return reinterpret_cast<const sockaddr*>(&ss);
}

TEST(Posix, IPv4RoundTrip) {
    const Address a = Address::ipv4(192, 0, 2, 7, 33445);
    sockaddr_storage ss{};
    const socklen_t len = to_sockaddr(a, ss);
    ASSERT_EQ(len, sizeof(sockaddr_in));
    sockaddr_in sin{};
    std::memcpy(&sin, &ss, sizeof(sin));
    EXPECT_EQ(sin.sin_family, AF_INET);
    EXPECT_EQ(ntohs(sin.sin_port), 33445);
    EXPECT_EQ(ntohl(sin.sin_addr.s_addr), 0xC0000207U);
    EXPECT_EQ(from_sockaddr(as_sockaddr(ss), len), a);
    EXPECT_EQ(from_sockaddr(ss, len), a);
    // An AF_INET socket takes the same form.
    sockaddr_storage ss4{};
    EXPECT_EQ(to_sockaddr(a, ss4, AF_INET), sizeof(sockaddr_in));
    EXPECT_EQ(std::memcmp(&ss, &ss4, sizeof(sockaddr_in)), 0);
}

TEST(Posix, IPv6RoundTrip) {
    const Address a = v6("2001:db8::1", 443);
    for (const int family : {AF_UNSPEC, AF_INET6}) {
        sockaddr_storage ss{};
        const socklen_t len = to_sockaddr(a, ss, family);
        ASSERT_EQ(len, sizeof(sockaddr_in6));
        sockaddr_in6 sin6{};
        std::memcpy(&sin6, &ss, sizeof(sin6));
        EXPECT_EQ(sin6.sin6_family, AF_INET6);
        EXPECT_EQ(ntohs(sin6.sin6_port), 443);
        EXPECT_EQ(std::memcmp(&sin6.sin6_addr, a.ip.data(), 16), 0);
        EXPECT_EQ(from_sockaddr(ss, len), a);
    }
}

TEST(Posix, IPv4OnDualStackSocketIsMapped) {
    const Address a = Address::ipv4(127, 0, 0, 1, 9);
    sockaddr_storage ss{};
    const socklen_t len = to_sockaddr(a, ss, AF_INET6);
    ASSERT_EQ(len, sizeof(sockaddr_in6));
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, &ss, sizeof(sin6));
    EXPECT_EQ(sin6.sin6_family, AF_INET6);
    EXPECT_TRUE(IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr));
    std::array<char, INET6_ADDRSTRLEN> text{};
    ASSERT_NE(inet_ntop(AF_INET6, &sin6.sin6_addr, text.data(), text.size()), nullptr);
    EXPECT_STREQ(text.data(), "::ffff:127.0.0.1");
    // What a dual-stack socket reports for an IPv4 peer comes back as plain IPv4, so the peer
    // has one Address whichever socket saw it.
    const auto back = from_sockaddr(ss, len);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->family, Address::Family::kIPv4);
    EXPECT_EQ(*back, a);
}

TEST(Posix, MappedIPv6OnIPv4Socket) {
    const Address mapped = v6("::ffff:10.1.2.3", 7);
    sockaddr_storage ss{};
    const socklen_t len = to_sockaddr(mapped, ss, AF_INET);
    ASSERT_EQ(len, sizeof(sockaddr_in));
    EXPECT_EQ(from_sockaddr(ss, len), Address::ipv4(10, 1, 2, 3, 7));
    // A mapped Address handed over as is (AF_UNSPEC) stays an IPv6 socket address.
    EXPECT_EQ(to_sockaddr(mapped, ss), sizeof(sockaddr_in6));
    // A real IPv6 address cannot be reached from an AF_INET socket.
    EXPECT_EQ(to_sockaddr(v6("::1", 7), ss, AF_INET), 0U);
}

TEST(Posix, RejectsShortAndForeignAddresses) {
    sockaddr_storage ss{};
    const socklen_t len4 = to_sockaddr(Address::ipv4(1, 2, 3, 4, 5), ss);
    EXPECT_FALSE(from_sockaddr(ss, len4 - 1));
    EXPECT_FALSE(from_sockaddr(nullptr, len4));
    EXPECT_FALSE(from_sockaddr(ss, 0));
    const socklen_t len6 = to_sockaddr(v6("::1", 5), ss);
    EXPECT_FALSE(from_sockaddr(ss, len6 - 1));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(&ss, &sun, sizeof(sun));
    EXPECT_FALSE(from_sockaddr(ss, sizeof(sun)));
}

TEST(Posix, InstantConversions) {
    const auto t = std::chrono::steady_clock::now();
    const Instant i = to_instant(t);
    EXPECT_EQ(from_instant(i), t);
    EXPECT_EQ(i.time_since_epoch(), std::chrono::duration_cast<Duration>(t.time_since_epoch()));
    EXPECT_EQ(from_instant(i + std::chrono::milliseconds{250}), t + std::chrono::milliseconds{250});
    const Instant before = steady_now();
    const Instant after = to_instant(std::chrono::steady_clock::now());
    EXPECT_LE(before, after);
    EXPECT_LE(i, before);
}

}  // namespace
}  // namespace netcrypto::posix
