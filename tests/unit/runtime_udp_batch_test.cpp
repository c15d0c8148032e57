// The runtime's batched UDP I/O (src/runtime/udp_batch.cpp) on loopback: GSO groups and GRO
// splitting deliver every datagram intact, in order and in count; with the offloads forced off,
// and when the kernel refuses GSO (SO_NO_CHECK makes it say EINVAL) the fallback resends
// everything. Then a lossless transfer through runtime::Loop with the offloads on and off.
#include <array>
#include <chrono>
#include <cstdint>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

#include "runtime/udp_batch.hpp"

namespace netcrypto::runtime {
namespace {

struct Socket {
    int fd = -1;
    sockaddr_storage addr{};
    socklen_t len = sizeof(sockaddr_in);
    Socket() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin));
        socklen_t l = sizeof(addr);
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &l);
        detail::size_buffers(fd, 8 << 20);
    }
    ~Socket() { ::close(fd); }
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
};

/// Datagram i: its size (runs of full ones, some short ones, some tiny) and its bytes.
std::vector<std::uint8_t> payload(std::size_t i) {
    std::size_t size = 1400;
    if (i % 37 == 36) size = 600;
    if (i % 101 == 100) size = 1;
    std::vector<std::uint8_t> v(size);
    for (std::size_t k = 0; k < size; ++k) v[k] = static_cast<std::uint8_t>(i * 31 + k);
    return v;
}

/// Sends `n` datagrams from `tx` to `rx` (half of them in pairs with a second socket as the
/// destination of every fifth, to break groups) and checks what `rx` receives.
void round_trip(detail::UdpOffload& tx_state, detail::UdpOffload& rx_state, int tx_fd) {
    Socket rx;
    Socket other;
    if (rx_state.gro) detail::enable_offloads(rx.fd, false, true, rx_state);
    constexpr std::size_t kCount = 600;
    std::vector<std::vector<std::uint8_t>> data;
    std::vector<detail::OutDatagram> out;
    std::size_t to_rx = 0;
    for (std::size_t i = 0; i < kCount; ++i) data.push_back(payload(i));
    for (std::size_t i = 0; i < kCount; ++i) {
        const bool elsewhere = i % 50 == 49;
        if (!elsewhere) ++to_rx;
        out.push_back({data[i].data(), data[i].size(), elsewhere ? &other.addr : &rx.addr,
                       elsewhere ? other.len : rx.len});
    }
    std::size_t done = 0;
    for (int tries = 0; done < out.size() && tries < 1000; ++tries) {
        done += detail::send_datagrams(tx_fd, std::span(out).subspan(done), tx_state);
    }
    ASSERT_EQ(done, out.size());
    EXPECT_EQ(tx_state.send_errors, 0U);
    detail::Receiver receiver;
    std::size_t got = 0;
    std::size_t expect = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
    while (got < to_rx && std::chrono::steady_clock::now() < deadline) {
        bool full = false;
        if (!receiver.receive(rx.fd, rx_state, full)) {
            ::usleep(1000);
            continue;
        }
        for (const auto& d : receiver.datagrams()) {
            while (expect % 50 == 49) ++expect;  // those went to `other`
            ASSERT_LT(expect, kCount);
            const auto& want = data[expect];
            ASSERT_EQ(d.bytes.size(), want.size()) << "datagram " << expect;
            EXPECT_TRUE(std::equal(want.begin(), want.end(), d.bytes.begin())) << expect;
            ++expect;
            ++got;
        }
    }
    EXPECT_EQ(got, to_rx);
    bool full = false;
    EXPECT_FALSE(receiver.receive(rx.fd, rx_state, full)) << "more datagrams than were sent";
}

TEST(RuntimeUdpBatch, GsoAndGroDeliverEveryDatagramIntact) {
    Socket tx;
    detail::UdpOffload tx_state;
    detail::UdpOffload rx_state;
    detail::enable_offloads(tx.fd, true, false, tx_state);
    rx_state.gro = true;  // round_trip enables it on its socket
    round_trip(tx_state, rx_state, tx.fd);
    if (tx_state.gso) {
        EXPECT_GT(tx_state.gso_messages, 0U);
        EXPECT_LT(tx_state.send_calls, 60U);
        EXPECT_EQ(tx_state.gso_fallbacks, 0U);
        // On loopback a GSO super-datagram reaches a GRO socket whole: the split is exercised.
        if (rx_state.gro) {
            EXPECT_GT(rx_state.gro_messages, 0U);
        }
    }
}

TEST(RuntimeUdpBatch, OffloadsForcedOffDeliverEveryDatagramIntact) {
    Socket tx;
    detail::UdpOffload tx_state;
    detail::UdpOffload rx_state;
    round_trip(tx_state, rx_state, tx.fd);
    EXPECT_EQ(tx_state.gso_messages, 0U);
    EXPECT_EQ(rx_state.gro_messages, 0U);
}

TEST(RuntimeUdpBatch, RefusedGsoFallsBackAndResends) {
    Socket tx;
    detail::UdpOffload tx_state;
    detail::UdpOffload rx_state;
    detail::enable_offloads(tx.fd, true, false, tx_state);
    if (!tx_state.gso) GTEST_SKIP() << "no UDP GSO in this kernel";
    const int on = 1;  // the kernel refuses GSO without UDP checksums (EINVAL)
    ASSERT_EQ(setsockopt(tx.fd, SOL_SOCKET, SO_NO_CHECK, &on, sizeof(on)), 0);
    round_trip(tx_state, rx_state, tx.fd);
    EXPECT_EQ(tx_state.gso_fallbacks, 1U);
    EXPECT_FALSE(tx_state.gso);
}

/// A lossless transfer between two endpoints on one Loop: every byte arrives, in order.
void loop_transfer(bool offloads) {
    SodiumRng rng;
    const Instant now = monotonic_now();
    EndpointConfig cfg;
    cfg.accept_all = true;
    Endpoint a(KeyPair::generate(rng), KeyPair::generate(rng), rng, now);
    Endpoint b(KeyPair::generate(rng), KeyPair::generate(rng), rng, now, cfg);
    Loop loop;
    BindOptions bo;
    bo.udp_gso = offloads;
    bo.udp_gro = offloads;
    std::optional<ConnectionId> a_conn;
    std::vector<std::uint8_t> received;
    std::array<std::uint8_t, kMaxMessageSize> buf{};
    auto on_a = [&](const Event& e) {
        if (const auto* s = e.get_if<StatusChanged>(); s && s->to == Status::kEstablished)
            a_conn = s->connection;
    };
    auto on_b = [&](const Event& e) {
        if (e.kind() != Event::Kind::kReadable) return;
        while (auto n = b.read_lossless(monotonic_now(), *e.connection(), buf)) {
            if (*n == 0) break;
            received.insert(received.end(), buf.begin() + 1, buf.begin() + *n);
        }
    };
    const auto loopback = Address::ipv4(127, 0, 0, 1, 0);
    ASSERT_TRUE(loop.attach(a, loopback, on_a, bo));
    auto addr_b = loop.attach(b, loopback, on_b, bo);
    ASSERT_TRUE(addr_b);
    ASSERT_TRUE(a.connect(now, b.public_key(), b.dht_public_key(), *addr_b));
    constexpr std::size_t kBytes = 4 << 20;
    std::size_t sent = 0;
    std::array<std::uint8_t, kMaxMessageSize> msg{};
    const auto deadline = monotonic_now() + std::chrono::seconds{30};
    while (received.size() < kBytes && monotonic_now() < deadline) {
        while (a_conn && sent < kBytes) {
            const std::size_t n = std::min(msg.size() - 1, kBytes - sent);
            msg[0] = 160;
            for (std::size_t k = 0; k < n; ++k)
                msg[k + 1] = static_cast<std::uint8_t>((sent + k) % 251);
            if (!a.send_lossless(monotonic_now(), *a_conn, std::span(msg.data(), n + 1))) break;
            sent += n;
        }
        loop.run_once(std::chrono::milliseconds{1});
    }
    ASSERT_EQ(received.size(), kBytes);
    for (std::size_t k = 0; k < kBytes; ++k) {
        ASSERT_EQ(received[k], static_cast<std::uint8_t>(k % 251)) << "byte " << k;
    }
    const SocketStats sa = loop.stats(a);
    const SocketStats sb = loop.stats(b);
    EXPECT_EQ(sa.send_errors, 0U);
    EXPECT_EQ(sa.gso_fallbacks, 0U);
    EXPECT_GT(sa.datagrams_out, kBytes / kMaxDatagramSize);
    if (offloads && sa.gso) {
        EXPECT_GT(sa.gso_messages, 0U);
        if (sb.gro) {
            EXPECT_GT(sb.gro_messages, 0U);
        }
    }
    if (!offloads) {
        EXPECT_FALSE(sa.gso);
        EXPECT_EQ(sa.gso_messages, 0U);
        EXPECT_EQ(sb.gro_messages, 0U);
    }
}

TEST(RuntimeLoop, LosslessTransferWithOffloads) { loop_transfer(true); }
TEST(RuntimeLoop, LosslessTransferWithOffloadsForcedOff) { loop_transfer(false); }

}  // namespace
}  // namespace netcrypto::runtime
