// FriendLayer relay sharing (SHARE_RELAYS, lossless id 17, tcp_relay.md §7.7): the exact bytes,
// encode/decode, what counts as malformed, and when the layer sends it. A runs the friend layer;
// B is a bare endpoint that records every lossless message raw and sends raw ones back.
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>

#include "support/relay_server.hpp"

namespace netcrypto::friends {
namespace {

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

Bytes from_hex(std::string_view hex) {
    Bytes out;
    auto nibble = [](char c) {
        return static_cast<std::uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    };
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<std::uint8_t>(nibble(hex[i]) << 4U | nibble(hex[i + 1])));
    }
    return out;
}

/// A key whose bytes are first, first+1, ... (mod 256).
PublicKey key_from(std::uint8_t first) {
    PublicKey k;
    for (std::size_t i = 0; i < k.bytes.size(); ++i) {
        k.bytes[i] = static_cast<std::uint8_t>(first + i);
    }
    return k;
}

SharedRelay loopback_relay(std::uint16_t port, std::uint8_t key_first) {
    return SharedRelay{Address::ipv4(127, 0, 0, 1, port), key_from(key_first)};
}

SharedRelay v6_relay() {
    SharedRelay r{*Address::parse("[2001:db8::7]:443"), key_from(0xe0)};
    return r;
}

/// A (friend layer) and B (raw) in memory, virtual time.
struct Pair {
    explicit Pair(FriendConfig cfg = {})
        : rng_a(31),
          rng_b(32),
          a(KeyPair::generate(rng_a), KeyPair::generate(rng_a), rng_a, now, EndpointConfig{}),
          b(KeyPair::generate(rng_b), KeyPair::generate(rng_b), rng_b, now, accept_all()),
          fa(a, callbacks(), cfg) {}

    static EndpointConfig accept_all() {
        EndpointConfig c;
        c.accept_all = true;
        return c;
    }
    FriendCallbacks callbacks() {
        FriendCallbacks cb;
        cb.on_relays_shared = [this](ConnectionId, const std::vector<SharedRelay>& relays) {
            shared_with_a.push_back(relays);
        };
        return cb;
    }

    void pump() {
        std::array<std::uint8_t, kMaxDatagramSize> buf{};
        for (int round = 0; round < 100'000; ++round) {
            bool moved = false;
            while (auto t = a.poll_transmit(now, buf)) {
                moved = true;
                b.handle_datagram(now, addr_a, std::span(buf).first(t->size));
            }
            while (auto t = b.poll_transmit(now, buf)) {
                moved = true;
                a.handle_datagram(now, addr_b, std::span(buf).first(t->size));
            }
            while (auto e = a.poll_event()) {
                moved = true;
                if (const auto* s = e->get_if<StatusChanged>()) {
                    up_a = s->to == Status::kEstablished;
                }
                fa.on_event(now, *e);
            }
            while (auto e = b.poll_event()) {
                moved = true;
                const auto* s = e->get_if<StatusChanged>();
                if (s != nullptr && s->to == Status::kEstablished) id_b = s->connection;
                if (const auto* r = e->get_if<Readable>()) read_b(r->connection);
            }
            moved = pump_relay() || moved;
            if (!moved) return;
        }
    }
    void read_b(ConnectionId id) {
        std::array<std::uint8_t, kMaxMessageSize> m{};
        for (int i = 0; i < 100'000; ++i) {
            auto n = b.read_lossless(now, id, m);
            if (!n || *n == 0) break;
            at_b.emplace_back(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(*n));
            at_b_times.push_back(now);
        }
    }
    /// A's relay connection (if any) against the in-memory relay.
    bool pump_relay() {
        if (!relay) return false;
        bool moved = false;
        if (auto pending = a.relay_pending(relay_id); !pending.empty()) {
            const Bytes bytes(pending.begin(), pending.end());
            a.consume_relay_bytes(relay_id, bytes.size());
            relay->receive(relay_conn, bytes);
            moved = true;
        }
        if (Bytes& out = relay->conn(relay_conn).out; !out.empty()) {
            const Bytes bytes = std::exchange(out, {});
            a.handle_relay_bytes(now, relay_id, bytes);
            moved = true;
        }
        return moved;
    }
    void advance(Duration d) {
        const Instant until = now + d;
        while (now < until) {
            now = std::min(until, now + 10ms);
            a.handle_timeout(now);
            b.handle_timeout(now);
            if (auto t = fa.next_timeout(); t && *t <= now) fa.on_timeout(now);
            if (id_b && now - b_alive >= 5s) {  // B has no friend layer: keep A's timer happy
                b_alive = now;
                (void)b.send_lossless(now, *id_b, Bytes{kAlive});
            }
            pump();
        }
    }
    ConnectionId establish() {
        auto id = a.connect(now, b.public_key(), b.dht_public_key(), addr_b);
        EXPECT_TRUE(id.has_value());
        for (int i = 0; i < 100 && !up_a; ++i) advance(10ms);
        EXPECT_TRUE(up_a);
        advance(100ms);
        return *id;
    }
    void b_sends(const Bytes& message) {
        ASSERT_TRUE(id_b.has_value());
        ASSERT_TRUE(b.send_lossless(now, *id_b, message).has_value());
    }
    /// The SHARE_RELAYS messages B got (raw), in order.
    std::vector<Bytes> shares_at_b() const {
        std::vector<Bytes> out;
        for (const Bytes& m : at_b) {
            if (!m.empty() && m[0] == kShareRelays) out.push_back(m);
        }
        return out;
    }

    Instant now = instant_from_ms(3'000'000);
    Address addr_a = Address::ipv4(10, 0, 0, 1, 1);
    Address addr_b = Address::ipv4(10, 0, 0, 2, 2);
    SeededRng rng_a;
    SeededRng rng_b;
    Endpoint a;
    Endpoint b;
    std::vector<std::vector<SharedRelay>> shared_with_a;
    FriendLayer fa;
    bool up_a = false;
    std::optional<ConnectionId> id_b;
    Instant b_alive{};
    std::vector<Bytes> at_b;
    std::vector<Instant> at_b_times;
    // Optional relay for A (relay-state filtering).
    std::optional<testing::MiniRelay> relay;
    std::size_t relay_conn = 0;
    RelayId relay_id;
};

TEST(ShareRelays, ExactBytesOfOneNode) {
    // 127.0.0.1:33620 (0x8354), key 00 01 02 .. 1f.
    const std::array relays{loopback_relay(33620, 0x00)};
    const Bytes expected = from_hex(
        "11"
        "82"
        "7f000001"
        "8354"
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    EXPECT_EQ(encode_share_relays(relays), expected);
    EXPECT_EQ(expected.size(), 40U);
}

TEST(ShareRelays, ExactBytesOfThreeNodesAsObservedFromCToxcore) {
    // The layout c-toxcore sent in tcp_relay.md §10 f3: 118 bytes,
    // 11 | 82 7f000001 8354 <key> | 82 7f000001 8357 <key> | 82 7f000001 8359 <key>.
    const std::array relays{loopback_relay(0x8354, 0x10), loopback_relay(0x8357, 0x40),
                            loopback_relay(0x8359, 0x70), loopback_relay(0x835b, 0xa0)};
    const Bytes got = encode_share_relays(relays);
    ASSERT_EQ(got.size(), 118U) << "a fourth relay must not be sent";
    Bytes expected{0x11};
    const std::array<std::pair<std::uint16_t, std::uint8_t>, 3> nodes{
        {{0x8354, 0x10}, {0x8357, 0x40}, {0x8359, 0x70}}};
    for (auto [port, first] : nodes) {
        const Bytes head = from_hex("827f000001");
        expected.insert(expected.end(), head.begin(), head.end());
        expected.push_back(static_cast<std::uint8_t>(port >> 8U));
        expected.push_back(static_cast<std::uint8_t>(port & 0xFFU));
        const PublicKey k = key_from(first);
        expected.insert(expected.end(), k.bytes.begin(), k.bytes.end());
    }
    EXPECT_EQ(got, expected);
    EXPECT_EQ(got[1], 0x82);
    EXPECT_EQ(got[40], 0x82);
    EXPECT_EQ(got[79], 0x82);
    EXPECT_EQ(got[45], 0x83);
    EXPECT_EQ(got[46], 0x57);
}

TEST(ShareRelays, ExactBytesOfAnIPv6Node) {
    const std::array relays{v6_relay()};
    const Bytes got = encode_share_relays(relays);
    ASSERT_EQ(got.size(), 1U + 51U);
    EXPECT_EQ(got[1], kFamilyTcpIPv6);
    EXPECT_EQ(Bytes(got.begin() + 2, got.begin() + 18),
              from_hex("20010db8000000000000000000000007"));
    EXPECT_EQ(got[18], 0x01);
    EXPECT_EQ(got[19], 0xbb);
    EXPECT_EQ(got[20], 0xe0);
    EXPECT_EQ(got[51], 0xff);
}

TEST(ShareRelays, RoundTrip) {
    const std::vector<std::vector<SharedRelay>> cases{
        {},
        {loopback_relay(1, 0)},
        {v6_relay(), loopback_relay(65535, 0x20)},
        {loopback_relay(33445, 1), v6_relay(), loopback_relay(80, 0xff)},
    };
    for (const auto& relays : cases) {
        auto back = decode_share_relays(encode_share_relays(relays));
        ASSERT_TRUE(back.has_value()) << relays.size() << " relays";
        EXPECT_EQ(*back, relays);
    }
    // More than three: the first three come back.
    const std::vector<SharedRelay> four{loopback_relay(1, 1), loopback_relay(2, 2),
                                        loopback_relay(3, 3), loopback_relay(4, 4)};
    auto back = decode_share_relays(encode_share_relays(four));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, std::vector<SharedRelay>(four.begin(), four.begin() + 3));
}

TEST(ShareRelays, DecodeAcceptsUdpFamiliesAndIgnoresBytesAfterThreeNodes) {
    const std::array two{loopback_relay(7, 7), v6_relay()};
    Bytes m = encode_share_relays(two);
    m[1] = kFamilyIPv4;
    m[40] = kFamilyIPv6;
    auto got = decode_share_relays(m);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, std::vector<SharedRelay>(two.begin(), two.end()));

    const std::array three{loopback_relay(1, 1), loopback_relay(2, 2), loopback_relay(3, 3)};
    Bytes trailing = encode_share_relays(three);
    for (std::uint8_t junk : Bytes{0x00, 0x99, 0x82, 0x01}) trailing.push_back(junk);
    got = decode_share_relays(trailing);
    ASSERT_TRUE(got.has_value()) << "bytes after the third node are ignored";
    EXPECT_EQ(got->size(), 3U);
}

TEST(ShareRelays, DecodeRejectsMalformedPackets) {
    const std::array one{loopback_relay(9, 9)};
    const Bytes good = encode_share_relays(one);
    std::vector<std::pair<std::string, Bytes>> bad;
    for (std::uint8_t family : Bytes{0, 1, 3, 6, 129, 131, 137, 139, 255}) {
        Bytes m = good;
        m[1] = family;
        bad.emplace_back("family " + std::to_string(family), m);
    }
    bad.emplace_back("truncated node", Bytes(good.begin(), good.end() - 1));
    bad.emplace_back("family byte only", Bytes{kShareRelays, kFamilyTcpIPv4});
    Bytes v6_short = good;  // an IPv4-sized node with an IPv6 family
    v6_short[1] = kFamilyTcpIPv6;
    bad.emplace_back("IPv6 family, IPv4 size", v6_short);
    Bytes junk_after_one = good;  // fewer than 3 nodes: what follows must be a node
    junk_after_one.push_back(0x00);
    bad.emplace_back("junk after one node", junk_after_one);
    Bytes bad_second = encode_share_relays(std::array{loopback_relay(1, 1), loopback_relay(2, 2)});
    bad_second[40] = 0x07;
    bad.emplace_back("second node malformed", bad_second);
    Bytes wrong_id = good;
    wrong_id[0] = kAlive;
    bad.emplace_back("wrong id", wrong_id);
    bad.emplace_back("empty", Bytes{});
    for (const auto& [what, m] : bad) {
        EXPECT_FALSE(decode_share_relays(m).has_value()) << what;
    }
    auto empty = decode_share_relays(Bytes{kShareRelays});
    ASSERT_TRUE(empty.has_value()) << "no node at all is well formed (c-toxcore: 0 nodes)";
    EXPECT_TRUE(empty->empty());
}

TEST(ShareRelays, SentAfterOnlineThenEvery120sAndOnChange) {
    Pair p;
    const std::vector<SharedRelay> relays{loopback_relay(33620, 0x10), loopback_relay(33621, 0x30),
                                          loopback_relay(33622, 0x50), loopback_relay(33623, 0x70)};
    p.fa.set_shared_relays(p.now, relays);
    EXPECT_EQ(p.fa.shared_relays().size(), kMaxSharedRelays);
    p.establish();
    ASSERT_FALSE(p.at_b.empty());
    EXPECT_EQ(p.at_b[0], Bytes{kOnline}) << "ONLINE comes first";
    auto shares = p.shares_at_b();
    ASSERT_EQ(shares.size(), 1U) << "one SHARE_RELAYS once established";
    EXPECT_EQ(shares[0], encode_share_relays(relays));
    const Instant first = p.at_b_times[static_cast<std::size_t>(
        std::find(p.at_b.begin(), p.at_b.end(), shares[0]) - p.at_b.begin())];

    p.advance(119s);
    EXPECT_EQ(p.shares_at_b().size(), 1U) << "not again before 120 s";
    p.advance(2s);
    ASSERT_EQ(p.shares_at_b().size(), 2U) << "again after 120 s";
    std::vector<Instant> share_times;
    for (std::size_t i = 0; i < p.at_b.size(); ++i) {
        if (p.at_b[i][0] == kShareRelays) share_times.push_back(p.at_b_times[i]);
    }
    EXPECT_GE(share_times[1] - first, 120s);
    EXPECT_LE(share_times[1] - first, 121s);

    // A change goes out at once; setting the same list again sends nothing.
    const std::vector<SharedRelay> changed{v6_relay()};
    p.fa.set_shared_relays(p.now, changed);
    p.advance(100ms);
    ASSERT_EQ(p.shares_at_b().size(), 3U);
    EXPECT_EQ(p.shares_at_b().back(), encode_share_relays(changed));
    p.fa.set_shared_relays(p.now, changed);
    p.advance(100ms);
    EXPECT_EQ(p.shares_at_b().size(), 3U);

    // Nothing to share: no SHARE_RELAYS, not even on the interval.
    p.fa.set_shared_relays(p.now, {});
    p.advance(130s);
    EXPECT_EQ(p.shares_at_b().size(), 3U);
    EXPECT_TRUE(p.up_a);
}

TEST(ShareRelays, NothingSentWithoutRelays) {
    Pair p;
    p.establish();
    p.advance(125s);
    EXPECT_TRUE(p.shares_at_b().empty());
    EXPECT_TRUE(p.up_a);
}

TEST(ShareRelays, ReceivedOnesReportedMalformedOnesCounted) {
    Pair p;
    p.establish();
    const std::vector<SharedRelay> three{loopback_relay(33445, 1), v6_relay(),
                                         loopback_relay(443, 2)};
    Bytes m = encode_share_relays(three);
    m.push_back(0xee);  // ignored after the third node
    p.b_sends(m);
    Bytes bad = encode_share_relays(three);
    bad[1] = 0x05;
    p.b_sends(bad);
    p.b_sends({kShareRelays, kFamilyTcpIPv4, 127, 0, 0, 1});
    p.b_sends({kShareRelays});
    p.advance(500ms);
    ASSERT_EQ(p.shared_with_a.size(), 2U);
    EXPECT_EQ(p.shared_with_a[0], three);
    EXPECT_TRUE(p.shared_with_a[1].empty());
    EXPECT_EQ(p.fa.stats().malformed_by_id[kShareRelays], 2U);
    EXPECT_EQ(p.fa.stats().ignored_by_id[kShareRelays], 0U) << "no longer an ignored feature";
    EXPECT_EQ(p.fa.stats().ignored(), 0U);
    EXPECT_TRUE(p.up_a) << "malformed SHARE_RELAYS must not end the connection";
}

TEST(ShareRelays, EndpointRelaySharedOnlyWhileConnected) {
    Pair p;
    SeededRng relay_rng(99);
    const KeyPair relay_keys = KeyPair::generate(relay_rng);
    auto rid = p.a.add_relay(p.now, relay_keys.public_key);
    ASSERT_TRUE(rid.has_value());
    p.relay_id = *rid;
    const SharedRelay ours{Address::ipv4(127, 0, 0, 1, 33700), relay_keys.public_key};
    const SharedRelay elsewhere = loopback_relay(33701, 0x44);  // not an endpoint relay
    p.fa.set_shared_relays(p.now, {ours, elsewhere});
    EXPECT_EQ(p.fa.shared_relays(), std::vector<SharedRelay>{elsewhere})
        << "a disconnected endpoint relay is not shared";
    p.establish();
    ASSERT_EQ(p.shares_at_b().size(), 1U);
    EXPECT_EQ(p.shares_at_b()[0], encode_share_relays(std::array{elsewhere}));

    // The relay connects: the new list goes out at once.
    p.relay.emplace(relay_keys, relay_rng);
    p.relay_conn = p.relay->add_connection();
    ASSERT_TRUE(p.a.relay_opened(p.now, p.relay_id).has_value());
    for (int i = 0; i < 200 && p.a.relay_info(p.relay_id)->state != RelayState::kConnected; ++i) {
        p.advance(10ms);
    }
    ASSERT_EQ(p.a.relay_info(p.relay_id)->state, RelayState::kConnected);
    p.advance(100ms);
    ASSERT_EQ(p.shares_at_b().size(), 2U);
    EXPECT_EQ(p.shares_at_b()[1], encode_share_relays(std::array{ours, elsewhere}));

    // It drops: shared without it again.
    p.relay->close(p.relay_conn);
    p.a.relay_closed(p.now, p.relay_id);
    p.relay.reset();
    p.advance(100ms);
    ASSERT_EQ(p.shares_at_b().size(), 3U);
    EXPECT_EQ(p.shares_at_b()[2], encode_share_relays(std::array{elsewhere}));
}

}  // namespace
}  // namespace netcrypto::friends
