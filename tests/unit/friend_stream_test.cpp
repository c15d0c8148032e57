// FriendLayer: the byte stream must never starve ALIVE (found by the c-toxcore interop test
// stream_lossy_relay: 8 MiB queued on a 0.2 MiB/s link delayed our ALIVE by > 32 s and c-toxcore
// dropped the friend; and an ALIVE refused by a full send buffer was silently lost).
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>

namespace netcrypto::friends {
namespace {

using namespace std::chrono_literals;

/// Two endpoints joined by an in-memory link (A → B can be cut), with virtual time.
struct Link {
    /// B accepts every incoming handshake.
    explicit Link(EndpointConfig cfg_a)
        : rng_a(1),
          rng_b(2),
          a(KeyPair::generate(rng_a), KeyPair::generate(rng_a), rng_a, now, std::move(cfg_a)),
          b(KeyPair::generate(rng_b), KeyPair::generate(rng_b), rng_b, now, accept_all()),
          fa(a, {}) {}

    static EndpointConfig accept_all() {
        EndpointConfig c;
        c.accept_all = true;
        return c;
    }

    /// Moves datagrams and events until nothing is left; `a_to_b` false drops A's datagrams.
    void pump(bool a_to_b = true) {
        std::array<std::uint8_t, kMaxDatagramSize> buf{};
        for (int round = 0; round < 100'000; ++round) {
            bool moved = false;
            while (auto t = a.poll_transmit(now, buf)) {
                moved = true;
                if (a_to_b) b.handle_datagram(now, addr_a, std::span(buf).first(t->size));
            }
            while (auto t = b.poll_transmit(now, buf)) {
                moved = true;
                a.handle_datagram(now, addr_b, std::span(buf).first(t->size));
            }
            while (auto e = a.poll_event()) {
                moved = true;
                const auto* s = e->get_if<StatusChanged>();
                if (s != nullptr && s->to == Status::kEstablished) up_a = true;
                fa.on_event(now, *e);
            }
            while (auto e = b.poll_event()) {
                moved = true;
                if (const auto* r = e->get_if<Readable>()) read_b(r->connection);
            }
            if (!moved) return;
        }
    }
    /// Advances virtual time in steps, running every timer.
    void advance(Duration d, bool a_to_b = true) {
        const Instant until = now + d;
        while (now < until) {
            now = std::min(until, now + 10ms);
            a.handle_timeout(now);
            b.handle_timeout(now);
            if (auto t = fa.next_timeout(); t && *t <= now) fa.on_timeout(now);
            pump(a_to_b);
        }
    }
    void read_b(ConnectionId id) {
        std::array<std::uint8_t, kMaxMessageSize> m{};
        while (auto n = b.read_lossless(now, id, m)) {
            if (*n == 0) break;
            received.push_back(m[0]);
        }
    }

    Instant now = instant_from_ms(1'000'000);
    Address addr_a = Address::ipv4(10, 0, 0, 1, 1);
    Address addr_b = Address::ipv4(10, 0, 0, 2, 2);
    SeededRng rng_a;
    SeededRng rng_b;
    Endpoint a;
    Endpoint b;
    FriendLayer fa;
    bool up_a = false;
    std::vector<std::uint8_t> received;  ///< ids of B's in-order lossless messages
};

ConnectionId establish(Link& l) {
    auto id = l.a.connect(l.now, l.b.public_key(), l.b.dht_public_key(), l.addr_b);
    EXPECT_TRUE(id.has_value());
    for (int i = 0; i < 100 && !l.up_a; ++i) {
        l.pump();
        l.advance(10ms);
    }
    EXPECT_TRUE(l.up_a);
    return *id;
}

TEST(FriendStream, AliveRefusedByFullBufferIsRetriedNotLost) {
    EndpointConfig cfg;
    cfg.send_buffer_bytes = 32 * 1024;
    Link l(cfg);
    const ConnectionId id = establish(l);
    l.advance(100ms);
    ASSERT_GE(l.received.size(), 2U);  // ONLINE, ALIVE
    // The link A → B goes down; the application fills the send buffer completely.
    std::array<std::uint8_t, kMaxMessageSize> msg{};
    msg[0] = 170;
    int queued = 0;
    while (l.a.send_lossless(l.now, id, msg)) ++queued;
    while (l.a.send_lossless(l.now, id, std::span(msg).first(1))) ++queued;  // to the last byte
    ASSERT_GT(queued, 0);
    // ALIVE falls due while the buffer is full: it is refused by the endpoint.
    l.advance(9s, /*a_to_b=*/false);
    l.received.clear();
    // The link comes back: B acknowledges, space frees up, and the ALIVE goes out.
    l.advance(2s);
    ASSERT_FALSE(l.received.empty());
    EXPECT_EQ(l.received.back(), kAlive) << "the overdue ALIVE was lost instead of retried";
}

TEST(FriendStream, StreamQueueStartsSmallAndGrowsWithAcks) {
    Link l(EndpointConfig{});  // 8 MiB send buffer
    const ConnectionId id = establish(l);
    std::vector<std::uint8_t> data(8 << 20, 0x5a);
    // Nothing acknowledged yet: at most stream_min_queue_packets are queued, not 8 MiB.
    auto n = l.fa.send_stream(l.now, id, data);
    ASSERT_TRUE(n.has_value());
    EXPECT_GT(*n, 0U);
    EXPECT_LE(*n, FriendConfig{}.stream_min_queue_packets * kStreamChunk);
    // Acknowledgements raise the budget: the stream moves on.
    std::size_t total = *n;
    for (int i = 0; i < 200; ++i) {
        l.advance(10ms);
        auto m = l.fa.send_stream(l.now, id, std::span(data).subspan(total % (4 << 20)));
        ASSERT_TRUE(m.has_value());
        total += *m;
    }
    EXPECT_GT(total, 4 * FriendConfig{}.stream_min_queue_packets * kStreamChunk);
}

TEST(FriendStream, StreamLeavesRoomForMessages) {
    EndpointConfig cfg;
    cfg.send_buffer_bytes = 32 * 1024;  // the buffer, not the queue budget, is the limit
    Link l(cfg);
    const ConnectionId id = establish(l);
    std::vector<std::uint8_t> data(1 << 20, 0x5a);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(l.fa.send_stream(l.now, id, data).has_value());
    // The longest text message still fits behind the stream.
    const std::string text(kMaxMessageSize - 1, 'x');
    EXPECT_TRUE(l.fa.send_message(l.now, id, text).has_value());
}

TEST(FriendStream, OfflineArrivesAfterTheDataAndSurvivesLoss) {
    Link l(EndpointConfig{});
    const ConnectionId id = establish(l);
    std::vector<std::uint8_t> data(64 * 1024, 0x5a);
    auto n = l.fa.send_stream(l.now, id, data);
    ASSERT_TRUE(n.has_value());
    ASSERT_TRUE(l.fa.send_offline(l.now, id).has_value());
    EXPECT_FALSE(l.fa.all_acked(id));
    // The first transmission of everything is lost; retransmissions bring it all, in order.
    l.advance(300ms, /*a_to_b=*/false);
    l.received.clear();
    l.advance(3s);
    ASSERT_FALSE(l.received.empty());
    EXPECT_EQ(l.received.back(), kOffline) << "OFFLINE must be the last message B reads";
    const auto streams = std::count(l.received.begin(), l.received.end(), kStream);
    EXPECT_EQ(static_cast<std::size_t>(streams), (*n + kStreamChunk - 1) / kStreamChunk)
        << "every stream packet must arrive before OFFLINE";
    EXPECT_TRUE(l.fa.all_acked(id)) << "B acknowledged OFFLINE";
}

}  // namespace
}  // namespace netcrypto::friends
