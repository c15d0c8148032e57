// net_crypto over TCP relays, end to end in one process: two endpoints, in-memory relays
// (testing::MiniRelay, an independent reading of the relay spec) and an optional direct UDP
// path, on a virtual clock. Relay-only sessions, moving a running stream between UDP and a
// relay, failing over between relays, relay reconnection, and hostile relay input.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/random.hpp>

#include "support/relay_server.hpp"

namespace netcrypto {
namespace {

using namespace std::chrono_literals;
using testing::ByteVec;
using testing::MiniRelay;

constexpr std::size_t kStreamBytes = std::size_t{8} << 20U;
constexpr std::uint8_t kStreamId = 160;  // a custom lossless id

/// The byte at `offset` of the test stream from `seed`: position-dependent, so loss,
/// duplication or reordering shows as a mismatch.
std::uint8_t stream_byte(std::uint64_t seed, std::uint64_t offset) {
    std::uint64_t x = (offset / 8 + 1) * 0x9E3779B97F4A7C15ULL ^ seed;
    x ^= x >> 31U;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29U;
    return static_cast<std::uint8_t>(x >> ((offset % 8) * 8));
}

struct Peer {
    Peer(std::uint64_t seed, Instant now, Address addr, EndpointConfig cfg)
        : rng(seed),
          long_term(KeyPair::generate(rng)),
          dht(KeyPair::generate(rng)),
          address(addr),
          ep(KeyPair::from_secret(long_term.secret_key), KeyPair::from_secret(dht.secret_key), rng,
             now, std::move(cfg)) {}

    SeededRng rng;
    KeyPair long_term;
    KeyPair dht;
    Address address;
    Endpoint ep;
    std::vector<RelayId> relay_ids;        ///< by relay index
    std::vector<std::size_t> relay_conns;  ///< our connection index on each MiniRelay
    std::vector<Event> events;
    std::optional<ConnectionId> conn;
    // The stream this peer sends and the one it receives.
    std::uint64_t send_seed = 0;
    std::uint64_t recv_seed = 0;
    std::size_t sent = 0;
    std::size_t received = 0;
    bool mismatch = false;
    std::size_t to_send = 0;
};

/// Two endpoints, `relay_count` relays, a direct UDP path that tests can cut.
class RelayWorld {
  public:
    explicit RelayWorld(std::size_t relay_count, bool udp_addresses = true, EndpointConfig cfg = {})
        : rng_(77),
          a_(1, now_, Address::ipv4(10, 0, 0, 1, 33445), cfg),
          b_(2, now_, Address::ipv4(10, 0, 0, 2, 33445), cfg) {
        a_.send_seed = b_.recv_seed = 11;
        b_.send_seed = a_.recv_seed = 22;
        udp_addresses_ = udp_addresses;
        for (std::size_t k = 0; k < relay_count; ++k) {
            relay_keys_.push_back(KeyPair::generate(rng_));
            relays_.push_back(std::make_unique<MiniRelay>(relay_keys_.back(), rng_));
            alive_.push_back(true);
            for (Peer* p : {&a_, &b_}) {
                auto id = p->ep.add_relay(now_, relay_keys_.back().public_key);
                EXPECT_TRUE(id) << "add_relay";
                p->relay_ids.push_back(*id);
                p->relay_conns.push_back(relays_.back()->add_connection());
                EXPECT_TRUE(p->ep.relay_opened(now_, *id));
            }
        }
    }

    Peer& a() { return a_; }
    Peer& b() { return b_; }
    Instant now() const { return now_; }
    void set_udp(bool on) { udp_ = on; }

    /// The relay's TCP connections end (a relay process dies): both endpoints are told.
    void kill_relay(std::size_t k) {
        alive_[k] = false;
        for (Peer* p : {&a_, &b_}) {
            relays_[k]->close(p->relay_conns[k]);
            p->ep.relay_closed(now_, p->relay_ids[k]);
        }
    }
    /// Both endpoints open new TCP connections to relay k (alive again).
    void reopen_relay(std::size_t k) {
        alive_[k] = true;
        for (Peer* p : {&a_, &b_}) {
            relays_[k]->close(p->relay_conns[k]);
            p->relay_conns[k] = relays_[k]->add_connection();
            EXPECT_TRUE(p->ep.relay_opened(now_, p->relay_ids[k]));
        }
    }
    MiniRelay& relay(std::size_t k) { return *relays_[k]; }
    /// The relay's end of peer p's connection to relay k (to inject frames).
    testing::ServerConn& relay_side(Peer& p, std::size_t k) {
        return relays_[k]->conn(p.relay_conns[k]);
    }

    /// A connects to B (with B's address unless udp_addresses is false: relays only); B
    /// accepts every request.
    void connect() {
        auto id = udp_addresses_
                      ? a_.ep.connect(now_, b_.long_term.public_key, b_.dht.public_key, b_.address)
                      : a_.ep.connect(now_, b_.long_term.public_key, b_.dht.public_key);
        ASSERT_TRUE(id) << "connect: " << to_string(id.error());
        a_.conn = *id;
    }

    /// Runs until `done` or `limit` of virtual time passed (bounded in steps too).
    bool run_until(const std::function<bool()>& done, Duration limit) {
        const Instant end = now_ + limit;
        for (std::size_t steps = 0; steps < 20'000'000 && now_ < end; ++steps) {
            if (done()) return true;
            if (!pump()) advance(end);
        }
        return done();
    }

    bool established() {
        return status(a_) == Status::kEstablished && status(b_) == Status::kEstablished;
    }
    Status status(Peer& p) {
        if (!p.conn) return Status::kClosed;
        auto info = p.ep.info(*p.conn);
        return info ? info->status : Status::kClosed;
    }

    /// Starts the 8 MiB stream in both directions.
    void start_streams(std::size_t bytes = kStreamBytes) { a_.to_send = b_.to_send = bytes; }
    bool streams_done() const {
        return a_.received == a_.to_send && b_.received == b_.to_send && a_.sent == a_.to_send &&
               b_.sent == b_.to_send;
    }

    template <class T>
    std::vector<T> events_of(const Peer& p) const {
        std::vector<T> out;
        for (const Event& e : p.events) {
            if (const auto* t = e.get_if<T>()) out.push_back(*t);
        }
        return out;
    }

  private:
    struct Datagram {
        Peer* to;
        Address from;
        ByteVec bytes;
    };

    /// One round of moving bytes; true if anything moved.
    bool pump() {
        bool moved = false;
        for (Peer* p : {&a_, &b_}) moved |= pump_peer(*p);
        // Direct UDP is faster than a detour through a relay.
        while (!udp_queue_.empty()) {
            Datagram d = std::move(udp_queue_.front());
            udp_queue_.pop_front();
            d.to->ep.handle_datagram(now_, d.from, d.bytes);
            moved = true;
        }
        for (std::size_t k = 0; k < relays_.size(); ++k) {
            if (!alive_[k]) continue;
            for (Peer* p : {&a_, &b_}) {
                ByteVec& out = relays_[k]->conn(p->relay_conns[k]).out;
                if (out.empty()) continue;
                const ByteVec bytes = std::exchange(out, {});
                p->ep.handle_relay_bytes(now_, p->relay_ids[k], bytes);
                moved = true;
            }
        }
        return moved;
    }

    bool pump_peer(Peer& p) {
        bool moved = false;
        Peer& other = &p == &a_ ? b_ : a_;
        std::array<std::uint8_t, kMaxDatagramSize> buf{};
        for (std::size_t i = 0; i < 100'000; ++i) {
            auto t = p.ep.poll_transmit(now_, buf);
            if (!t) break;
            moved = true;
            if (udp_ && t->destination == other.address) {
                udp_queue_.push_back(
                    {&other, p.address, ByteVec(buf.begin(), buf.begin() + t->size)});
            }
        }
        for (std::size_t k = 0; k < relays_.size(); ++k) {
            if (!alive_[k]) continue;
            const auto pending = p.ep.relay_pending(p.relay_ids[k]);
            if (pending.empty()) continue;
            const ByteVec bytes(pending.begin(), pending.end());
            p.ep.consume_relay_bytes(p.relay_ids[k], bytes.size());
            relays_[k]->receive(p.relay_conns[k], bytes);
            moved = true;
        }
        while (auto e = p.ep.poll_event()) {
            moved = true;
            on_event(p, *e);
            p.events.push_back(*e);
        }
        moved |= feed_stream(p);
        return moved;
    }

    void on_event(Peer& p, const Event& e) {
        if (const auto* s = e.get_if<StatusChanged>(); s != nullptr && !p.conn) {
            p.conn = s->connection;  // B: the incoming connection
        }
        if (e.is<IncomingRequest>()) {
            const auto* r = e.get_if<IncomingRequest>();
            auto id = p.ep.accept(now_, r->request);
            EXPECT_TRUE(id) << "accept";
            if (id) p.conn = *id;
        }
        if (e.is<Readable>()) read_stream(p);
    }

    void read_stream(Peer& p) {
        std::array<std::uint8_t, kMaxMessageSize> msg{};
        for (std::size_t i = 0; i < 1'000'000; ++i) {
            auto n = p.ep.read_lossless(now_, *p.conn, msg);
            if (!n || *n == 0) break;
            if (msg[0] != kStreamId) continue;
            for (std::size_t j = 1; j < *n; ++j) {
                if (msg[j] != stream_byte(p.recv_seed, p.received)) p.mismatch = true;
                ++p.received;
            }
        }
    }

    bool feed_stream(Peer& p) {
        if (!p.conn || p.sent >= p.to_send) return false;
        bool moved = false;
        std::array<std::uint8_t, kMaxMessageSize> msg{};
        for (std::size_t i = 0; i < 100'000 && p.sent < p.to_send; ++i) {
            const std::size_t n = std::min<std::size_t>(kMaxMessageSize - 1, p.to_send - p.sent);
            msg[0] = kStreamId;
            for (std::size_t j = 0; j < n; ++j) msg[1 + j] = stream_byte(p.send_seed, p.sent + j);
            auto r =
                p.ep.send_lossless(now_, *p.conn, std::span<const std::uint8_t>(msg).first(n + 1));
            if (!r) break;
            p.sent += n;
            moved = true;
        }
        return moved;
    }

    void advance(Instant end) {
        Instant next = end;
        for (Peer* p : {&a_, &b_}) {
            if (auto t = p->ep.next_timeout(); t && *t < next) next = *t;
        }
        now_ = std::max(next, now_ + 1us);
        for (Peer* p : {&a_, &b_}) {
            if (auto t = p->ep.next_timeout(); t && *t <= now_) p->ep.handle_timeout(now_);
        }
    }

    Instant now_ = Instant{} + 1000h;
    SeededRng rng_;
    Peer a_;
    Peer b_;
    bool udp_addresses_ = true;
    bool udp_ = true;
    std::deque<KeyPair> relay_keys_;  ///< stable addresses: each MiniRelay keeps a reference
    std::vector<std::unique_ptr<MiniRelay>> relays_;
    std::vector<bool> alive_;
    std::deque<Datagram> udp_queue_;
};

EndpointConfig accepting() {
    EndpointConfig cfg;
    cfg.accept_all = true;
    return cfg;
}

TEST(RelayRoute, RelayOnlySessionCarries8MiBEachWayExactly) {
    RelayWorld w(1, /*udp_addresses=*/false, accepting());
    w.set_udp(false);
    ASSERT_TRUE(w.run_until(
        [&] {
            auto info = w.a().ep.relay_info(w.a().relay_ids[0]);
            return info && info->state == RelayState::kConnected;
        },
        5s))
        << "the relay never confirmed A";
    w.connect();
    ASSERT_TRUE(w.run_until([&] { return w.established(); }, 10s))
        << "no Established through the relay; A status " << to_string(w.status(w.a()));
    w.start_streams();
    ASSERT_TRUE(w.run_until([&] { return w.streams_done(); }, 120s))
        << "stream incomplete: A got " << w.a().received << ", B got " << w.b().received;
    EXPECT_FALSE(w.a().mismatch) << "A received bytes out of order or corrupted";
    EXPECT_FALSE(w.b().mismatch) << "B received bytes out of order or corrupted";
    const auto routes = w.events_of<RouteChanged>(w.a());
    ASSERT_FALSE(routes.empty()) << "A never reported its route";
    EXPECT_EQ(routes.back().route, RouteKind::kTcpRelay);
    EXPECT_EQ(routes.back().relay, w.a().relay_ids[0]);
    const auto info = w.a().ep.relay_info(w.a().relay_ids[0]);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->online_routes, 1U) << "the route to B is not linked";
    EXPECT_GT(info->stats.data_sent, 5000U) << "the stream did not go routed";
    EXPECT_GE(info->stats.oob_sent, 1U) << "the cookie request should go out-of-band";
    EXPECT_EQ(info->stats.total_drops(), 0U);
    const auto cinfo = w.a().ep.info(*w.a().conn);
    ASSERT_TRUE(cinfo);
    EXPECT_EQ(cinfo->route, RouteKind::kTcpRelay);
    EXPECT_FALSE(cinfo->direct);
}

TEST(RelayRoute, ConnectWithoutAddressNeedsARelay) {
    SeededRng rng(5);
    Endpoint ep(KeyPair::generate(rng), KeyPair::generate(rng), rng, Instant{} + 1h);
    const KeyPair peer = KeyPair::generate(rng);
    auto r = ep.connect(Instant{} + 1h, peer.public_key, peer.public_key);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Error::kNoRoute);
}

TEST(RelayRoute, StreamMovesToTheRelayWhenUdpIsCutAndBackWhenItReturns) {
    RelayWorld w(1, /*udp_addresses=*/true, accepting());
    ASSERT_TRUE(w.run_until(
        [&] {
            auto info = w.b().ep.relay_info(w.b().relay_ids[0]);
            return info && info->state == RelayState::kConnected;
        },
        5s));
    w.connect();
    ASSERT_TRUE(w.run_until([&] { return w.established(); }, 10s));
    ASSERT_TRUE(w.run_until([&] { return !w.events_of<RouteChanged>(w.a()).empty(); }, 2s));
    EXPECT_EQ(w.events_of<RouteChanged>(w.a()).back().route, RouteKind::kUdp);
    w.start_streams(std::size_t{24} << 20U);
    ASSERT_TRUE(w.run_until([&] { return w.a().received > (std::size_t{2} << 20U); }, 30s));
    w.set_udp(false);  // the direct path dies mid-stream
    const Instant cut = w.now();
    ASSERT_TRUE(w.run_until(
        [&] {
            const auto r = w.events_of<RouteChanged>(w.a());
            return !r.empty() && r.back().route == RouteKind::kTcpRelay;
        },
        20s))
        << "A never moved to the relay after UDP was cut";
    const auto moved_after = w.now() - cut;
    EXPECT_LE(moved_after, 10s) << "the move took longer than udp_direct_timeout + a timer";
    const std::size_t at_move = w.a().received + w.b().received;
    ASSERT_TRUE(
        w.run_until([&] { return w.a().received + w.b().received > at_move + (4U << 20U); }, 30s))
        << "the stream did not go on over the relay";
    w.set_udp(true);  // and comes back
    ASSERT_TRUE(w.run_until(
        [&] {
            const auto r = w.events_of<RouteChanged>(w.b());
            return !r.empty() && r.back().route == RouteKind::kUdp;
        },
        10s))
        << "B never moved back to UDP";
    ASSERT_TRUE(w.run_until([&] { return w.streams_done(); }, 120s))
        << "stream incomplete: A got " << w.a().received << ", B got " << w.b().received;
    EXPECT_FALSE(w.a().mismatch);
    EXPECT_FALSE(w.b().mismatch);
    EXPECT_EQ(w.status(w.a()), Status::kEstablished);
}

TEST(RelayRoute, StreamSurvivesTheLossOfTheRelayCarryingIt) {
    RelayWorld w(2, /*udp_addresses=*/false, accepting());
    w.set_udp(false);
    ASSERT_TRUE(w.run_until(
        [&] {
            for (std::size_t k = 0; k < 2; ++k) {
                for (Peer* p : {&w.a(), &w.b()}) {
                    auto info = p->ep.relay_info(p->relay_ids[k]);
                    if (!info || info->state != RelayState::kConnected) return false;
                }
            }
            return true;
        },
        5s));
    w.connect();
    ASSERT_TRUE(w.run_until([&] { return w.established(); }, 10s));
    w.start_streams();
    ASSERT_TRUE(w.run_until([&] { return w.b().received > (std::size_t{2} << 20U); }, 60s));
    const auto routes = w.events_of<RouteChanged>(w.b());
    ASSERT_FALSE(routes.empty());
    const RelayId carrying = routes.back().relay;
    const std::size_t k = carrying == w.b().relay_ids[0] ? 0 : 1;
    w.kill_relay(k);
    ASSERT_TRUE(w.run_until([&] { return w.streams_done(); }, 120s))
        << "stream incomplete after relay " << k << " died: A got " << w.a().received << ", B got "
        << w.b().received;
    EXPECT_FALSE(w.a().mismatch);
    EXPECT_FALSE(w.b().mismatch);
    const auto after = w.events_of<RouteChanged>(w.b());
    EXPECT_EQ(after.back().relay, w.b().relay_ids[1 - k]) << "B's packets did not move relays";
    const auto down = w.events_of<RelayStatusChanged>(w.a());
    EXPECT_TRUE(std::any_of(down.begin(), down.end(), [](const RelayStatusChanged& e) {
        return e.to == RelayState::kDisconnected && e.reason == RelayCloseReason::kEndOfStream;
    })) << "no RelayStatusChanged to kDisconnected";
}

TEST(RelayRoute, ReconnectedRelayCarriesTheSessionAgain) {
    RelayWorld w(1, /*udp_addresses=*/false, accepting());
    w.set_udp(false);
    w.connect();  // before the relay is up: the cookie request waits, uncounted
    ASSERT_TRUE(w.run_until([&] { return w.established(); }, 10s));
    w.kill_relay(0);
    w.run_until([] { return false; }, 3s);
    EXPECT_EQ(w.status(w.a()), Status::kEstablished) << "a short relay outage ended the session";
    w.reopen_relay(0);
    w.start_streams(std::size_t{1} << 20U);
    ASSERT_TRUE(w.run_until([&] { return w.streams_done(); }, 60s))
        << "no data after the relay came back: A got " << w.a().received;
    EXPECT_FALSE(w.a().mismatch);
    const auto info = w.a().ep.relay_info(w.a().relay_ids[0]);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->stats.connects, 2U);
    EXPECT_EQ(info->stats.confirmations, 2U);
}

/// A session through one relay, Established, for the hostile-relay tests.
void establish_relay_only(RelayWorld& w) {
    w.set_udp(false);
    w.connect();
    ASSERT_TRUE(w.run_until([&] { return w.established(); }, 10s)) << "no relay session";
}

ByteVec random_bytes(SeededRng& rng, std::size_t n) {
    ByteVec b(n);
    rng.fill(b);
    return b;
}

TEST(RelayHostile, JunkInsideValidFramesIsCountedAndTheSessionCarriesOn) {
    RelayWorld w(1, /*udp_addresses=*/false, accepting());
    establish_relay_only(w);
    SeededRng rng(99);
    auto& side = w.relay_side(w.b(), 0);
    const auto before = w.b().ep.stats();
    constexpr std::size_t kFlood = 5000;
    for (std::size_t i = 0; i < kFlood; ++i) {
        // OOB from strangers: random bytes, a net_crypto data packet, a cookie request naming
        // another key than the sender's.
        ByteVec oob{7};
        const ByteVec stranger = random_bytes(rng, 32);
        oob.insert(oob.end(), stranger.begin(), stranger.end());
        ByteVec payload = random_bytes(rng, 1 + rng.uniform(1024));
        if (i % 3 == 1) payload[0] = 0x1b;
        if (i % 3 == 2) payload = random_bytes(rng, 145), payload[0] = 0x18;
        oob.insert(oob.end(), payload.begin(), payload.end());
        side.send(oob);
        // An unsolicited routing response, a pong nobody asked for, an unknown id.
        ByteVec resp{1, static_cast<std::uint8_t>(16 + rng.uniform(240))};
        const ByteVec key = random_bytes(rng, 32);
        resp.insert(resp.end(), key.begin(), key.end());
        side.send(resp);
        side.send(ByteVec{5, 1, 2, 3, 4, 5, 6, 7, 8});
        side.send(ByteVec{static_cast<std::uint8_t>(12 + i % 4), 0});
        side.send(ByteVec{9, 1, 2, 3});                            // an onion response
        side.send(ByteVec{static_cast<std::uint8_t>(255)});        // empty data on an unknown id
        if (i % 500 == 0) w.run_until([] { return false; }, 1ms);  // keep the relay moving
    }
    side.send_raw(ByteVec{0, 0});  // a length-0 frame: skipped
    w.start_streams(std::size_t{1} << 20U);
    ASSERT_TRUE(w.run_until([&] { return w.streams_done(); }, 60s))
        << "the session did not survive junk from the relay: B got " << w.b().received;
    EXPECT_FALSE(w.a().mismatch);
    EXPECT_FALSE(w.b().mismatch);
    const auto info = w.b().ep.relay_info(w.b().relay_ids[0]);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->state, RelayState::kConnected) << "junk inside valid frames closed the relay";
    const RelayStats& st = info->stats;
    EXPECT_EQ(st.dropped_by(RelayDropReason::kUnsolicitedRoute), kFlood);
    EXPECT_EQ(st.dropped_by(RelayDropReason::kUnmatchedPong), kFlood);
    EXPECT_EQ(st.dropped_by(RelayDropReason::kUnknownId), kFlood);
    EXPECT_EQ(st.dropped_by(RelayDropReason::kOnion), kFlood);
    EXPECT_EQ(st.dropped_by(RelayDropReason::kEmptyFrame), 1U);
    // Each stranger OOB packet is counted once: unmatched, refused by the bounded event queue
    // (a burst of thousands of frames in one read), or dropped by the endpoint (a random
    // payload that looks like a cookie request or handshake of the wrong length).
    const std::uint64_t endpoint_drops = w.b().ep.stats().total_drops() - before.total_drops();
    EXPECT_EQ(st.unmatched + st.dropped_by(RelayDropReason::kEventQueueFull) + endpoint_drops,
              kFlood)
        << "stranger OOB packets must be counted, not handled";
    EXPECT_EQ(w.b().ep.stats().cookie_responses_sent, before.cookie_responses_sent)
        << "a cookie request naming another DHT key than its sender was answered";
    EXPECT_LE(info->pending_write_bytes, std::size_t{80} << 10U) << "relay write queue unbounded";
    EXPECT_TRUE(w.events_of<IncomingRequest>(w.b()).empty());
}

TEST(RelayHostile, BrokenFramesCloseTheRelayAndAReconnectionResumes) {
    RelayWorld w(1, /*udp_addresses=*/false, accepting());
    establish_relay_only(w);
    SeededRng rng(7);
    struct Case {
        const char* name;
        ByteVec bytes;
        RelayCloseReason reason;
    };
    ByteVec bad_mac{0, 100};
    const ByteVec junk = random_bytes(rng, 100);
    bad_mac.insert(bad_mac.end(), junk.begin(), junk.end());
    const std::vector<Case> cases{
        {"wrong MAC", bad_mac, RelayCloseReason::kBadFrame},
        {"length 2049", ByteVec{0x08, 0x01}, RelayCloseReason::kBadFrame},
        {"length 16", ByteVec{0x00, 0x10}, RelayCloseReason::kBadFrame},
    };
    for (const Case& c : cases) {
        w.relay_side(w.b(), 0).send_raw(c.bytes);
        ASSERT_TRUE(w.run_until(
            [&] {
                const auto ev = w.events_of<RelayStatusChanged>(w.b());
                return !ev.empty() && ev.back().to == RelayState::kDisconnected;
            },
            1s))
            << c.name << ": the relay connection stayed open";
        EXPECT_EQ(w.events_of<RelayStatusChanged>(w.b()).back().reason, c.reason) << c.name;
        w.reopen_relay(0);
        ASSERT_TRUE(w.run_until(
            [&] {
                const auto ev = w.events_of<RelayStatusChanged>(w.b());
                return ev.back().to == RelayState::kConnected;
            },
            5s))
            << c.name << ": no reconnection";
        EXPECT_EQ(w.status(w.b()), Status::kEstablished) << c.name << ": the session ended";
    }
    w.start_streams(std::size_t{1} << 20U);
    ASSERT_TRUE(w.run_until([&] { return w.streams_done(); }, 60s))
        << "no data after the reconnections: B got " << w.b().received;
    EXPECT_FALSE(w.b().mismatch);
}

}  // namespace
}  // namespace netcrypto
