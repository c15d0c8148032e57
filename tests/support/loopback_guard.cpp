// The interposed sendto/sendmsg/connect of loopback_guard.hpp.
#include "loopback_guard.hpp"

#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifndef AF_PACKET
#define AF_PACKET 17
#endif

namespace netcrypto::testing::loopback_guard {
namespace {

std::atomic<std::uint64_t> g_refused{0};
std::atomic<RefusalHook> g_on_refused{nullptr};
std::atomic<SendHook> g_on_sendto{nullptr};

template <typename Fn>
Fn next_symbol(const char* name) {
    void* sym = ::dlsym(RTLD_NEXT, name);
    if (sym == nullptr) {
        std::fprintf(stderr, "loopback guard: dlsym(RTLD_NEXT, %s) failed\n", name);
        std::abort();
    }
    Fn fn = nullptr;
    static_assert(sizeof(fn) == sizeof(sym));
    std::memcpy(&fn, &sym, sizeof(fn));
    return fn;
}

/// For calls without a destination: the connected peer, if any, must be allowed.
bool connected_peer_allowed(int fd, sockaddr_storage& peer, socklen_t& length) {
    length = sizeof(peer);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) {
        length = 0;
        return true;  // not connected: the real call fails on its own
    }
    return destination_allowed(reinterpret_cast<const sockaddr*>(&peer), length);
}

/// Checks an explicit destination, or the connected peer when there is none; counts and
/// reports a refusal (errno = EPERM) and returns false.
bool check(const char* call, int fd, const sockaddr* destination, socklen_t length,
           const void* caller) {
    sockaddr_storage peer{};
    socklen_t peer_length = 0;
    bool ok = true;
    if (destination != nullptr) {
        ok = destination_allowed(destination, length);
    } else if (!connected_peer_allowed(fd, peer, peer_length)) {
        ok = false;
        destination = reinterpret_cast<const sockaddr*>(&peer);
        length = peer_length;
    }
    if (ok) return true;
    g_refused.fetch_add(1);
    if (auto hook = g_on_refused.load()) hook(call, destination, length, caller);
    errno = EPERM;
    return false;
}

}  // namespace

void set_hooks(RefusalHook on_refused, SendHook on_sendto) {
    g_on_refused.store(on_refused);
    g_on_sendto.store(on_sendto);
}

std::uint64_t refused() { return g_refused.load(); }

bool destination_allowed(const sockaddr* sa, socklen_t len) {
    if (sa == nullptr) return true;
    if (len < static_cast<socklen_t>(sizeof(sa_family_t))) return true;  // the kernel refuses it
    if (sa->sa_family == AF_INET) {
        if (len < static_cast<socklen_t>(sizeof(sockaddr_in))) return false;
        sockaddr_in sin{};
        std::memcpy(&sin, sa, sizeof(sin));
        return (ntohl(sin.sin_addr.s_addr) >> 24U) == 127U;
    }
    if (sa->sa_family == AF_INET6) {
        if (len < static_cast<socklen_t>(sizeof(sockaddr_in6))) return false;
        sockaddr_in6 sin6{};
        std::memcpy(&sin6, sa, sizeof(sin6));
        const std::uint8_t* b = sin6.sin6_addr.s6_addr;
        static constexpr std::array<std::uint8_t, 16> kLoopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                                0, 0, 0, 0, 0, 0, 0, 1};
        if (std::memcmp(b, kLoopback.data(), kLoopback.size()) == 0) return true;
        static constexpr std::array<std::uint8_t, 12> kMapped{0, 0, 0, 0, 0,    0,
                                                              0, 0, 0, 0, 0xFF, 0xFF};
        return std::memcmp(b, kMapped.data(), kMapped.size()) == 0 && b[12] == 127U;
    }
    return sa->sa_family != AF_PACKET;  // raw link-layer sends are never allowed
}

std::string describe(const sockaddr* sa, socklen_t len) {
    std::array<char, INET6_ADDRSTRLEN + 16> out{};
    std::array<char, INET6_ADDRSTRLEN> ip{};
    if (sa != nullptr && sa->sa_family == AF_INET &&
        len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        sockaddr_in sin{};
        std::memcpy(&sin, sa, sizeof(sin));
        ::inet_ntop(AF_INET, &sin.sin_addr, ip.data(), static_cast<socklen_t>(ip.size()));
        std::snprintf(out.data(), out.size(), "%s:%u", ip.data(),
                      static_cast<unsigned>(ntohs(sin.sin_port)));
    } else if (sa != nullptr && sa->sa_family == AF_INET6 &&
               len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        sockaddr_in6 sin6{};
        std::memcpy(&sin6, sa, sizeof(sin6));
        ::inet_ntop(AF_INET6, &sin6.sin6_addr, ip.data(), static_cast<socklen_t>(ip.size()));
        std::snprintf(out.data(), out.size(), "[%s]:%u", ip.data(),
                      static_cast<unsigned>(ntohs(sin6.sin6_port)));
    } else {
        std::snprintf(out.data(), out.size(), "family-%d", sa == nullptr ? -1 : sa->sa_family);
    }
    return out.data();
}

}  // namespace netcrypto::testing::loopback_guard

namespace guard = netcrypto::testing::loopback_guard;

extern "C" ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* addr,
                          socklen_t addr_len) {
    using Fn = ssize_t (*)(int, const void*, size_t, int, const sockaddr*, socklen_t);
    static const Fn real = guard::next_symbol<Fn>("sendto");
    const void* caller = __builtin_return_address(0);
    if (!guard::check("sendto", fd, addr, addr_len, caller)) return -1;
    if (auto hook = guard::g_on_sendto.load()) hook(buf, n, addr, addr_len, caller);
    return real(fd, buf, n, flags, addr, addr_len);
}

extern "C" ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    using Fn = ssize_t (*)(int, const msghdr*, int);
    static const Fn real = guard::next_symbol<Fn>("sendmsg");
    const auto* destination =
        msg != nullptr ? static_cast<const sockaddr*>(msg->msg_name) : nullptr;
    const socklen_t length = destination != nullptr ? msg->msg_namelen : 0;
    if (!guard::check("sendmsg", fd, destination, length, __builtin_return_address(0))) {
        return -1;
    }
    return real(fd, msg, flags);
}

extern "C" int connect(int fd, const sockaddr* addr, socklen_t addr_len) {
    using Fn = int (*)(int, const sockaddr*, socklen_t);
    static const Fn real = guard::next_symbol<Fn>("connect");
    if (addr == nullptr) return real(fd, addr, addr_len);  // the kernel answers EFAULT
    if (!guard::check("connect", fd, addr, addr_len, __builtin_return_address(0))) return -1;
    return real(fd, addr, addr_len);
}
