// 10,000 concurrent connections in one endpoint, and the heap cost of an idle Established
// connection (budget: 4 KiB). The server endpoint is driven directly with hand-made cookie
// requests, handshakes and first data packets (sim::FakePeer), so only the server's own memory is
// measured: every fake peer lives only for its own handshake and frees everything it allocated.
//
// This translation unit replaces the global operator new/delete for the whole sim_tests binary
// with a counting version: it always forwards to malloc/free and only counts (relaxed atomics),
// so other tests are unaffected. The number of connections can be lowered with
// NETCRYPTO_SCALE_CONNECTIONS (the per-connection figure barely depends on it).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <malloc.h>
#include <new>

#include <gtest/gtest.h>

#include <netcrypto/endpoint.hpp>

#include "core/connection.hpp"
#include "sim/fake_peer.hpp"
#include "sim/heap_counter.hpp"

namespace {

std::atomic<std::int64_t> g_live_bytes{0};
std::atomic<std::uint64_t> g_allocations{0};

void* counted_alloc(std::size_t n) {
    void* p = std::malloc(n == 0 ? 1 : n);
    if (p != nullptr) {
        g_live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)),
                               std::memory_order_relaxed);
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    }
    return p;
}

void* counted_aligned_alloc(std::size_t n, std::align_val_t align) {
    const auto a = static_cast<std::size_t>(align);
    void* p = nullptr;
    if (posix_memalign(&p, a < sizeof(void*) ? sizeof(void*) : a, n == 0 ? 1 : n) != 0) {
        return nullptr;
    }
    g_live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)),
                           std::memory_order_relaxed);
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return p;
}

// Every pointer freed here came from counted_alloc / counted_aligned_alloc (malloc family);
// GCC cannot see that through the replaced operators.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void counted_free(void* p) noexcept {
    if (p == nullptr) return;
    g_live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)),
                           std::memory_order_relaxed);
    std::free(p);
}

}  // namespace

void* operator new(std::size_t n) {
    void* p = counted_alloc(n);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
void* operator new[](std::size_t n) {
    void* p = counted_alloc(n);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
void* operator new(std::size_t n, const std::nothrow_t& /*tag*/) noexcept {
    return counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t& /*tag*/) noexcept {
    return counted_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
    void* p = counted_aligned_alloc(n, a);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
void* operator new[](std::size_t n, std::align_val_t a) {
    void* p = counted_aligned_alloc(n, a);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t /*n*/) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t /*n*/) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t /*a*/) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t /*a*/) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t /*n*/, std::align_val_t /*a*/) noexcept {
    counted_free(p);
}
void operator delete[](void* p, std::size_t /*n*/, std::align_val_t /*a*/) noexcept {
    counted_free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace netcrypto::sim {
std::int64_t live_heap_bytes() { return g_live_bytes.load(std::memory_order_relaxed); }
}  // namespace netcrypto::sim

namespace netcrypto::sim {
namespace {

using namespace std::chrono_literals;

std::size_t connection_count() {
    if (const char* env = std::getenv("NETCRYPTO_SCALE_CONNECTIONS")) {
        const auto n = std::strtoull(env, nullptr, 10);
        if (n > 0) return n;
    }
    return 10'000;
}

Address peer_address(std::size_t i) {
    return Address::ipv4(10, static_cast<std::uint8_t>(i >> 16U),
                         static_cast<std::uint8_t>(i >> 8U), static_cast<std::uint8_t>(i),
                         static_cast<std::uint16_t>(20'000 + i % 1000));
}

/// Runs one fake peer's whole handshake against `server`; true when the server ended up with
/// an Established connection to it.
bool open_one(Endpoint& server, std::size_t i, Instant now, std::array<std::uint8_t, 1400>& buf) {
    FakePeer peer(0x5CA1E000 + i);
    const Address from = peer_address(i);
    const Bytes hs = peer.handshake_to(server, now, from);
    if (hs.empty()) return false;
    server.handle_datagram(now, from, hs);
    bool learnt = false;
    while (auto out = server.poll_transmit(now, buf)) {
        if (out->size == wire::kHandshakeSize) {
            learnt = peer.take_handshake(now, server.public_key(), std::span(buf).first(out->size));
        }
    }
    if (!learnt) return false;
    const std::array<std::uint8_t, 1> request{1};
    server.handle_datagram(now, from, peer.data(request));
    while (server.poll_transmit(now, buf)) {
    }
    bool established = false;
    while (auto e = server.poll_event()) {
        const auto* s = e->get_if<StatusChanged>();
        if (s != nullptr && s->to == Status::kEstablished) established = true;
    }
    return established;
}

TEST(Scale, TenThousandIdleEstablishedConnectionsFitIn4KiBEach) {
    const std::size_t n = connection_count();
    SeededRng rng(0x5CA1E);
    EndpointConfig cfg;
    cfg.accept_all = true;
    Instant now = instant_from_ms(1'000'000'000);
    std::array<std::uint8_t, 1400> buf{};

    const auto t_start = std::chrono::steady_clock::now();
    Endpoint server(KeyPair::generate(rng), KeyPair::generate(rng), rng, now, cfg);
    const std::int64_t base = g_live_bytes.load();
    std::size_t established = 0;
    for (std::size_t i = 0; i < n; ++i) {
        // 1 ms apart: the per-source cookie budgets of 10,000 sources age out as they would.
        now += 1ms;
        if (open_one(server, i, now, buf)) ++established;
        if ((i & 1023U) == 0) {
            server.handle_timeout(now);
            while (server.poll_transmit(now, buf)) {
            }
        }
    }
    ASSERT_EQ(established, n);
    ASSERT_EQ(server.connections().size(), n);

    // Idle: a few seconds of timers (REQUESTs go out, nothing comes back, no data is queued).
    std::size_t requests = 0;
    for (int step = 0; step < 3; ++step) {
        now += 1s;
        server.handle_timeout(now);
        while (server.poll_transmit(now, buf)) ++requests;
        while (server.poll_event()) {
        }
    }
    EXPECT_GE(requests, n);
    for (ConnectionId id : server.connections()) {
        const auto info = server.info(id);
        ASSERT_TRUE(info);
        ASSERT_EQ(info->status, Status::kEstablished);
        ASSERT_EQ(info->send_buffered_bytes, 0U);
    }

    const std::int64_t total = g_live_bytes.load() - base;
    const double per_connection = static_cast<double>(total) / static_cast<double>(n);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    std::printf(
        "[scale] %zu idle Established connections: server heap %.1f KiB, %.0f bytes per "
        "connection (sizeof(core::Connection) = %zu); %.1f s wall\n",
        n, static_cast<double>(total) / 1024.0, per_connection, sizeof(core::Connection), secs);
    EXPECT_LE(per_connection, 4096.0);
}

}  // namespace
}  // namespace netcrypto::sim
