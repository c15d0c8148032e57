// Loopback guard for executables that run c-toxcore (tests/interop/tox_harness, bench/tox_compare).
//
// c-toxcore binds 0.0.0.0, so a test could reach the outside world by mistake. Linking
// loopback_guard.cpp into an executable (netcrypto_add_loopback_guard() in
// loopback_guard.cmake) interposes sendto, sendmsg and connect: every IPv4/IPv6 destination
// that is not loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) and every AF_PACKET send is
// refused with EPERM before any system call; calls on connected sockets are checked against
// the socket's peer. Other families (AF_UNIX, AF_NETLINK) never leave the host and pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/socket.h>

namespace netcrypto::testing::loopback_guard {

/// Called (on the calling thread) for each refused call: `call` is "sendto", "sendmsg" or
/// "connect", `caller` the return address inside the caller. Must be async-signal tolerant in
/// the sense of not calling the guarded functions itself.
using RefusalHook = void (*)(const char* call, const sockaddr* destination, socklen_t length,
                             const void* caller);
/// Called for each allowed sendto, before the real one, with its arguments.
using SendHook = void (*)(const void* buffer, std::size_t size, const sockaddr* destination,
                          socklen_t length, const void* caller);

/// Installs the hooks (nullptr: none). Call before the first guarded call.
void set_hooks(RefusalHook on_refused, SendHook on_sendto);

/// Refused calls so far.
std::uint64_t refused();

/// Whether a call may reach `destination` (nullptr: no explicit destination).
bool destination_allowed(const sockaddr* destination, socklen_t length);

/// "1.2.3.4:5", "[::1]:5" or "family-N", for messages.
std::string describe(const sockaddr* destination, socklen_t length);

}  // namespace netcrypto::testing::loopback_guard
