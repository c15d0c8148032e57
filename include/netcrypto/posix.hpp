// Glue for driving an Endpoint from your own POSIX event loop: Address <-> sockaddr and
// Instant <-> std::chrono::steady_clock. Header-only; no core header includes it, so the core
// stays free of socket headers.
//
// Addresses: the core compares peer addresses byte for byte, so one peer must always be seen
// the same way. from_sockaddr therefore turns an IPv4-mapped IPv6 address (::ffff:a.b.c.d,
// what a dual-stack AF_INET6 socket reports for IPv4 peers) into a plain IPv4 Address, and
// to_sockaddr maps it back when the socket is AF_INET6.
//
// Time: Instant counts nanoseconds on an unnamed clock. These helpers use steady_clock's
// epoch, the same as runtime::monotonic_now(), so their Instants and the runtime's mix.
#pragma once

#include <arpa/inet.h>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>

#include <netcrypto/address.hpp>
#include <netcrypto/time.hpp>

namespace netcrypto::posix {

namespace detail {

/// True for ::ffff:0:0/96 (16 bytes at `ip16`).
inline bool is_v4_mapped(const std::uint8_t* ip16) {
    static constexpr std::array<std::uint8_t, 12> kPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    return std::memcmp(ip16, kPrefix.data(), kPrefix.size()) == 0;
}

}  // namespace detail

/// Writes `a` into `out` as a socket address for a socket of `socket_family` and returns its
/// length (for sendto/bind/connect), or 0 when the socket cannot reach it.
///  * AF_UNSPEC (default): sockaddr_in for IPv4, sockaddr_in6 for IPv6.
///  * AF_INET6: IPv4 addresses become IPv4-mapped sockaddr_in6 (dual-stack sockets).
///  * AF_INET: an IPv4-mapped IPv6 address becomes sockaddr_in; any other IPv6 gives 0.
inline socklen_t to_sockaddr(const Address& a, sockaddr_storage& out,
                             int socket_family = AF_UNSPEC) {
    out = sockaddr_storage{};
    const bool v4 = a.family == Address::Family::kIPv4;
    const bool mapped = !v4 && detail::is_v4_mapped(a.ip.data());
    const bool want_v4 = socket_family == AF_INET || (socket_family == AF_UNSPEC && v4);
    if (want_v4) {
        if (!v4 && !mapped) return 0;
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(a.port);
        std::memcpy(&sin.sin_addr, a.ip.data() + (v4 ? 0 : 12), 4);
        std::memcpy(&out, &sin, sizeof(sin));
        return static_cast<socklen_t>(sizeof(sin));
    }
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(a.port);
    if (v4) {
        // ::ffff:a.b.c.d
        sin6.sin6_addr.s6_addr[10] = 0xFF;
        sin6.sin6_addr.s6_addr[11] = 0xFF;
        std::memcpy(&sin6.sin6_addr.s6_addr[12], a.ip.data(), 4);
    } else {
        std::memcpy(&sin6.sin6_addr, a.ip.data(), 16);
    }
    std::memcpy(&out, &sin6, sizeof(sin6));
    return static_cast<socklen_t>(sizeof(sin6));
}

/// The Address of a socket address (e.g. from recvfrom or getsockname); nullopt when it is
/// not AF_INET/AF_INET6 or `len` is too short. IPv4-mapped IPv6 addresses become IPv4.
inline std::optional<Address> from_sockaddr(const sockaddr* sa, socklen_t len) {
    if (sa == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t))) return std::nullopt;
    const sa_family_t family = sa->sa_family;
    Address a;
    if (family == AF_INET) {
        if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) return std::nullopt;
        sockaddr_in sin{};
        std::memcpy(&sin, sa, sizeof(sin));
        a.family = Address::Family::kIPv4;
        std::memcpy(a.ip.data(), &sin.sin_addr, 4);
        a.port = ntohs(sin.sin_port);
        return a;
    }
    if (family == AF_INET6) {
        if (len < static_cast<socklen_t>(sizeof(sockaddr_in6))) return std::nullopt;
        sockaddr_in6 sin6{};
        std::memcpy(&sin6, sa, sizeof(sin6));
        a.port = ntohs(sin6.sin6_port);
        if (detail::is_v4_mapped(sin6.sin6_addr.s6_addr)) {
            a.family = Address::Family::kIPv4;
            std::memcpy(a.ip.data(), &sin6.sin6_addr.s6_addr[12], 4);
        } else {
            a.family = Address::Family::kIPv6;
            std::memcpy(a.ip.data(), &sin6.sin6_addr, 16);
        }
        return a;
    }
    return std::nullopt;
}

/// from_sockaddr for a filled sockaddr_storage (`len` as returned by recvfrom).
inline std::optional<Address> from_sockaddr(const sockaddr_storage& ss, socklen_t len) {
    return from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
}

/// A steady_clock time point as an Instant (same epoch; nanosecond resolution).
inline Instant to_instant(std::chrono::steady_clock::time_point t) {
    return Instant{std::chrono::duration_cast<Duration>(t.time_since_epoch())};
}

/// An Instant on steady_clock's epoch (from to_instant, steady_now or an endpoint driven with
/// them, e.g. next_timeout()) as a steady_clock time point, e.g. for a timer's expires_at.
inline std::chrono::steady_clock::time_point from_instant(Instant t) {
    return std::chrono::steady_clock::time_point{
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(t.time_since_epoch())};
}

/// The current steady_clock time as an Instant.
inline Instant steady_now() { return to_instant(std::chrono::steady_clock::now()); }

}  // namespace netcrypto::posix
