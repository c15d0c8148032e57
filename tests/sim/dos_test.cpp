// Hostile networks in the simulator: a cookie-request flood from many spoofed sources while a
// legitimate peer connects, and replayed handshakes and data packets.
#include <memory>

#include <gtest/gtest.h>

#include "core/handshake.hpp"
#include "sim/fake_peer.hpp"
#include "sim/pair.hpp"

namespace netcrypto::sim {
namespace {

/// docs/design.md, "Memory bounds": the endpoint-wide state outside connections' buffers
/// (cookie budgets, DHT-key cache, replay cache, pending requests, datagram queue).
constexpr std::int64_t kEndpointStateBound = std::int64_t{8} << 20U;

/// Floods a victim with cookie requests from many source addresses it owns: valid ones with
/// one DHT key per source, or (`fresh_keys`) junk under a new random DHT key every time, which
/// the victim can only reject after an X25519 of its own.
class Flooder final : public Node {
  public:
    Flooder(std::vector<Address> sources, Address victim, const PublicKey& victim_dht,
            std::uint64_t total, Duration spacing, Instant start, bool fresh_keys = false)
        : rng_(99),
          sources_(std::move(sources)),
          victim_(victim),
          remaining_(total),
          spacing_(spacing),
          next_(start),
          fresh_keys_(fresh_keys) {
        // One DHT key per source (as a real attacker with cheap requests would do).
        for (std::size_t i = 0; i < sources_.size(); ++i) {
            auto kp = KeyPair::generate(rng_);
            crypto::SharedKey k;
            EXPECT_TRUE(k.precompute(victim_dht, kp.secret_key));
            keys_.push_back(kp.public_key);
            shared_.push_back(k);
        }
        long_term_ = KeyPair::generate(rng_).public_key;
    }
    void handle_datagram(Instant, const Address&, std::span<const std::uint8_t>) override {
        ++responses;
    }
    std::optional<Outgoing> poll_transmit(Instant now) override {
        (void)now;
        if (remaining_ == 0 || burst_left_ == 0) return std::nullopt;
        --burst_left_;
        --remaining_;
        const std::size_t i = static_cast<std::size_t>(sent % sources_.size());
        ++sent;
        if (fresh_keys_) {
            std::vector<std::uint8_t> junk(wire::kCookieRequestSize);
            rng_.fill(junk);
            junk[0] = wire::kCookieRequestType;
            return Outgoing{sources_[i], victim_, std::move(junk)};
        }
        wire::EchoId echo{};
        auto bytes = handshake::create_cookie_request(long_term_, keys_[i], shared_[i], echo, rng_);
        return Outgoing{sources_[i], victim_,
                        std::vector<std::uint8_t>(bytes.begin(), bytes.end())};
    }
    [[nodiscard]] std::optional<Instant> next_timeout() const override {
        if (remaining_ == 0) return std::nullopt;
        return next_;
    }
    void handle_timeout(Instant now) override {
        if (now >= next_) {
            next_ = now + spacing_;
            burst_left_ = kBurst;
        }
    }
    std::uint64_t sent = 0;
    std::uint64_t responses = 0;
    static constexpr std::uint32_t kBurst = 500;

  private:
    SeededRng rng_;
    std::vector<Address> sources_;
    Address victim_;
    std::uint64_t remaining_;
    Duration spacing_;
    Instant next_;
    std::uint32_t burst_left_ = 0;
    std::vector<PublicKey> keys_;
    std::vector<crypto::SharedKey> shared_;
    PublicKey long_term_;
    bool fresh_keys_;
};

std::vector<Address> spoofed_sources(std::uint16_t count) {
    std::vector<Address> sources;
    for (std::uint16_t i = 0; i < count; ++i) {
        sources.push_back(Address::ipv4(172, 16, static_cast<std::uint8_t>(i >> 8U),
                                        static_cast<std::uint8_t>(i & 0xFFU), 40000));
    }
    return sources;
}

/// 1,000,000 cookie requests from 1,000 spoofed sources at B (500 every 0.5 ms: one second of
/// virtual time); 200 ms in, the legitimate peer A connects to B. run() goes on until both are
/// Established (at most 2 s after A started), then lets the rest of the flood in.
struct FloodRun {
    FloodRun(std::uint64_t seed, bool fresh_keys)
        : p(seed, link(), {}, {}, /*keep_trace=*/false),
          flood(spoofed_sources(1000), p.b.address(), p.b.dht_key(), 1'000'000,
                std::chrono::microseconds{500}, p.sim.now(), fresh_keys) {
        p.sim.add_node(flood, spoofed_sources(1000));
    }
    static LinkConfig link() {
        LinkConfig l;
        l.delay = std::chrono::milliseconds{5};
        return l;
    }
    ::testing::AssertionResult run() {
        const Instant start = p.sim.now();
        const auto connect_at = start + std::chrono::milliseconds{200};
        p.sim.at(connect_at, [&] {
            under_load_at_connect = p.b.endpoint().under_load();
            p.connect_a_to_b();
        });
        auto r = p.sim.run_until([&] { return p.both_established(); },
                                 connect_at + std::chrono::seconds{2});
        if (!r) return ::testing::AssertionFailure() << r << "; flood sent " << flood.sent;
        took = std::chrono::duration<double>(p.sim.now() - connect_at).count();
        if (!p.sim.run_for(std::chrono::seconds{1})) {
            return ::testing::AssertionFailure() << "the simulation stopped after Established";
        }
        elapsed = std::chrono::duration<double>(p.sim.now() - start).count();
        return ::testing::AssertionSuccess();
    }

    Pair p;
    Flooder flood;
    double took = 0;     ///< seconds from A's connect() to both Established
    double elapsed = 0;  ///< seconds of the whole run
    bool under_load_at_connect = false;
};

TEST(Dos, CookieFloodFromThousandSourcesDoesNotStopALegitimatePeer) {
    FloodRun f(11, /*fresh_keys=*/false);
    ASSERT_TRUE(f.run());
    const auto& flood = f.flood;
    const double took = f.took;
    const auto& st = f.p.b.endpoint().stats();
    std::cout << "legitimate peer Established after " << took * 1000
              << " ms of virtual time; flood " << flood.sent << " requests, "
              << st.cookie_responses_sent << " answered, "
              << st.drops(netcrypto::DropReason::kRateLimited) << " rate-limited\n";
    EXPECT_EQ(flood.sent, 1'000'000U) << "the flood did not run in full";
    EXPECT_LT(took, 2.0);
    // Per-source budgets: each of the 1000 sources gets its burst plus its refill, no more.
    EXPECT_LT(st.cookie_responses_sent, 1000U * (16 + 8 * 2) + 100) << "rate limit not applied";
    EXPECT_GT(st.drops(netcrypto::DropReason::kRateLimited), 900'000U);
    EXPECT_EQ(st.cookie_responses_sent + st.drops(netcrypto::DropReason::kRateLimited),
              st.cookie_requests_received)
        << "every request is either answered or counted as rate-limited";
    // 1000 DHT keys fit the shared-key cache: the flood costs one X25519 per source.
    EXPECT_LE(st.key_agreements, 1000U + 2) << "repeat requesters must hit the DHT-key cache";
    EXPECT_EQ(st.under_load_entries, 0U) << "a cached flood must not put the endpoint under load";
    std::cout << "victim heap during the flood: peak " << f.p.b.endpoint_heap_peak << " B\n";
    EXPECT_LE(f.p.b.endpoint_heap_peak, kEndpointStateBound) << "endpoint-wide memory bound broken";
}

TEST(Dos, FreshKeyFloodIsCappedByTheKeyAgreementBudgetAndUnderLoadMode) {
    // Junk requests, each under a new DHT key: B can only reject them after an X25519.
    FloodRun f(14, /*fresh_keys=*/true);
    ASSERT_TRUE(f.run());
    const auto& flood = f.flood;
    const auto& p = f.p;
    const double took = f.took;
    const double elapsed = f.elapsed;
    const bool seen_under_load = f.under_load_at_connect;
    const auto& st = f.p.b.endpoint().stats();
    const auto under_load = st.drops(netcrypto::DropReason::kUnderLoad);
    const auto limited = st.drops(netcrypto::DropReason::kRateLimited);
    const auto bad_tag = st.drops(netcrypto::DropReason::kBadTag);
    const auto bad_key = st.drops(netcrypto::DropReason::kInvalidKey);
    std::cout << "fresh-key flood: legitimate peer Established after " << took * 1000 << " ms; "
              << flood.sent << " requests over " << elapsed << " s: " << st.key_agreements
              << " X25519, " << under_load << " refused under load, " << limited
              << " rate-limited, " << bad_tag << " bad tag; entered under-load "
              << st.under_load_entries << "×; victim heap peak " << p.b.endpoint_heap_peak
              << " B\n";
    EXPECT_EQ(flood.sent, 1'000'000U) << "the flood did not run in full";
    EXPECT_LT(took, 2.0) << "the legitimate peer was starved";
    EXPECT_TRUE(seen_under_load) << "the flood should have put the endpoint under load";
    EXPECT_GE(st.under_load_entries, 1U);
    EXPECT_GT(under_load, 0U);
    const double budget = EndpointConfig{}.key_agreements_per_second;
    EXPECT_LE(static_cast<double>(st.key_agreements), budget * elapsed + budget)
        << "X25519 work exceeded the configured budget";
    EXPECT_EQ(st.cookie_responses_sent + limited + under_load + bad_tag + bad_key,
              st.cookie_requests_received)
        << "every request is answered or dropped with a counted reason";
    EXPECT_LE(p.b.endpoint_heap_peak, kEndpointStateBound) << "endpoint-wide memory bound broken";
}

}  // namespace
}  // namespace netcrypto::sim

namespace netcrypto::sim {
namespace {

TEST(Dos, ReplayedDataAndHandshakePacketsAreDroppedAndCounted) {
    Pair p(12);
    std::vector<std::vector<std::uint8_t>> captured_data;
    std::vector<std::vector<std::uint8_t>> captured_handshakes;
    p.sim.add_filter([&](const Packet& pk) {
        if (pk.from == p.a.address() && !pk.bytes.empty()) {
            if (pk.bytes[0] == wire::kDataType) captured_data.push_back(pk.bytes);
            if (pk.bytes[0] == wire::kHandshakeType) captured_handshakes.push_back(pk.bytes);
        }
        return FilterAction::pass();
    });
    p.connect_a_to_b();
    ASSERT_TRUE(p.run_until_established());
    ASSERT_TRUE(p.sim.run_for(std::chrono::milliseconds{100}));
    ASSERT_FALSE(captured_data.empty());
    ASSERT_FALSE(captured_handshakes.empty());
    const auto& st = p.b.endpoint().stats();
    const auto replayed_before = st.drops(netcrypto::DropReason::kReplayedData);
    for (const auto& d : captured_data) p.b.handle_datagram(p.sim.now(), p.a.address(), d);
    EXPECT_EQ(st.drops(netcrypto::DropReason::kReplayedData),
              replayed_before + captured_data.size())
        << "every replayed data packet must be dropped as a replay";
    // A replayed handshake from A's address: B is Established, so it is ignored; from a new
    // address it must not create or reset anything either.
    const auto conns_before = p.b.endpoint().connections().size();
    p.b.handle_datagram(p.sim.now(), second_port(p.a.address()), captured_handshakes.front());
    EXPECT_EQ(p.b.endpoint().connections().size(), conns_before);
    EXPECT_EQ(p.b.status_of(p.a.key()), Status::kEstablished) << "a replay changed the session";
    EXPECT_GE(st.drops(netcrypto::DropReason::kReplayedHandshake) +
                  st.drops(netcrypto::DropReason::kWrongStatus),
              1U);
    // The session still works after the replays.
    auto id = *p.a.endpoint().find(p.b.key());
    const std::array<std::uint8_t, 3> msg{160, 1, 2};
    ASSERT_TRUE(p.a.endpoint().send_lossless(p.sim.now(), id, msg));
    p.sim.wake(p.ida);
    ASSERT_TRUE(p.sim.run_until([&] { return !p.b.received.empty(); },
                                p.sim.now() + std::chrono::seconds{2}));
    EXPECT_EQ(p.b.received.back(), std::vector<std::uint8_t>(msg.begin(), msg.end()));
}

}  // namespace
}  // namespace netcrypto::sim

namespace netcrypto::sim {
namespace {

TEST(Dos, LossyFloodByTheApplicationIsBoundedByTheDatagramQueue) {
    Pair p(13);
    p.connect_a_to_b();
    ASSERT_TRUE(p.run_until_established());
    auto id = *p.a.endpoint().find(p.b.key());
    const std::array<std::uint8_t, 100> lossy = [] {
        std::array<std::uint8_t, 100> m{};
        m[0] = 200;
        return m;
    }();
    // The application sends lossy data without ever polling: the queue must stop it.
    std::size_t accepted = 0;
    bool blocked = false;
    for (int i = 0; i < 100'000; ++i) {
        auto r = p.a.endpoint().send_lossy(p.sim.now(), id, lossy);
        if (!r) {
            EXPECT_EQ(r.error(), Error::kWouldBlock);
            blocked = true;
            break;
        }
        ++accepted;
    }
    EXPECT_TRUE(blocked) << "send_lossy never reported kWouldBlock";
    EXPECT_LT(accepted, 4096U);
    // Control packets still fit (KILL on close), and the connection recovers once polled.
    ASSERT_TRUE(p.a.endpoint().close(p.sim.now(), id));
    EXPECT_EQ(p.a.endpoint().stats().transmit_queue_full, 0U) << "the KILL found no room";
    p.sim.wake(p.ida);
    ASSERT_TRUE(p.sim.run_until([&] { return p.b.status_of(p.a.key()) == Status::kClosed; },
                                p.sim.now() + std::chrono::seconds{2}));
}

}  // namespace
}  // namespace netcrypto::sim

namespace netcrypto::sim {
namespace {

/// The under-load rules, one input at a time on an endpoint driven directly.
class UnderLoad : public ::testing::Test {
  protected:
    UnderLoad() : server_(make_server()) {}

    Endpoint make_server() {
        EndpointConfig cfg;
        cfg.accept_all = true;
        cfg.key_agreements_per_second = 10;  // one second's worth (10) may be spent at once
        return {KeyPair::generate(rng_), KeyPair::generate(rng_), rng_, t0_, cfg};
    }
    static Address source(std::uint32_t i) {
        return Address::ipv4(10, 9, static_cast<std::uint8_t>(i >> 8U),
                             static_cast<std::uint8_t>(i), 33445);
    }
    /// A stranger's request: a fresh peer (new DHT key) from its own address.
    bool stranger_answered(Instant now, std::uint32_t i) {
        FakePeer peer(1000 + i);
        return answered(now, source(i), peer.cookie_request(server_.dht_public_key()));
    }
    bool answered(Instant now, const Address& from, const std::vector<std::uint8_t>& request) {
        const auto sent_before = server_.stats().cookie_responses_sent;
        server_.handle_datagram(now, from, request);
        while (server_.poll_transmit(now, buf_)) {
        }
        return server_.stats().cookie_responses_sent == sent_before + 1;
    }
    std::uint64_t drops(netcrypto::DropReason r) const { return server_.stats().drops(r); }

    SeededRng rng_{77};
    Instant t0_ = instant_from_ms(5'000'000);
    Endpoint server_;
    std::array<std::uint8_t, kMaxDatagramSize> buf_{};
};

TEST_F(UnderLoad, StrangersBeyondTheBudgetAreRefusedWhileKnownKeysAreServed) {
    FakePeer regular(1);
    ASSERT_TRUE(answered(t0_, source(500), regular.cookie_request(server_.dht_public_key())))
        << "a first request from a quiet endpoint must be answered";
    EXPECT_FALSE(server_.under_load());
    for (std::uint32_t i = 0; i < 9; ++i) {
        EXPECT_TRUE(stranger_answered(t0_, i)) << "stranger " << i << " within the budget";
    }
    EXPECT_EQ(server_.stats().key_agreements, 10U);
    EXPECT_FALSE(stranger_answered(t0_, 9)) << "the 11th X25519 in one instant is over budget";
    EXPECT_TRUE(server_.under_load());
    EXPECT_EQ(server_.stats().under_load_entries, 1U);
    EXPECT_EQ(drops(netcrypto::DropReason::kUnderLoad), 1U);
    EXPECT_EQ(server_.stats().key_agreements, 10U) << "a refused stranger must cost no X25519";
    // A requester whose DHT key is cached costs no X25519: still served under load.
    EXPECT_TRUE(answered(t0_, source(500), regular.cookie_request(server_.dht_public_key())));
    EXPECT_EQ(server_.stats().key_agreements, 10U);
}

TEST_F(UnderLoad, SourcesGetTheTighterCookieBudgetWhileUnderLoad) {
    FakePeer regular(1);
    const auto request = [&] { return regular.cookie_request(server_.dht_public_key()); };
    ASSERT_TRUE(answered(t0_, source(500), request()));
    for (std::uint32_t i = 0; i < 10; ++i) (void)stranger_answered(t0_, i);
    ASSERT_TRUE(server_.under_load());
    // The regular source had 15 of its 16 tokens left; under load it keeps at most 2.
    EXPECT_TRUE(answered(t0_, source(500), request()));
    EXPECT_TRUE(answered(t0_, source(500), request()));
    const auto limited = drops(netcrypto::DropReason::kRateLimited);
    EXPECT_FALSE(answered(t0_, source(500), request())) << "under-load burst is 2";
    EXPECT_EQ(drops(netcrypto::DropReason::kRateLimited), limited + 1);
    // Half a second later it has half a token (1 per second under load; 4 in normal mode).
    EXPECT_FALSE(answered(t0_ + std::chrono::milliseconds{500}, source(500), request()));
    EXPECT_TRUE(server_.under_load());
}

TEST_F(UnderLoad, TheModeEndsAfterTheHoldOnceHalfTheBudgetIsBack) {
    for (std::uint32_t i = 0; i < 11; ++i) (void)stranger_answered(t0_, i);
    ASSERT_TRUE(server_.under_load());
    // 0.9 s later: the budget is full again, but the hold (1 s since the last refusal) is not over.
    const Instant t1 = t0_ + std::chrono::milliseconds{900};
    EXPECT_TRUE(stranger_answered(t1, 100));
    EXPECT_TRUE(server_.under_load());
    const Instant t2 = t0_ + std::chrono::milliseconds{1000};
    EXPECT_TRUE(stranger_answered(t2, 101));
    EXPECT_FALSE(server_.under_load()) << "hold over and budget refilled: normal mode again";
    EXPECT_EQ(server_.stats().under_load_entries, 1U);
}

TEST_F(UnderLoad, ATimerTickAloneEndsTheModeWhenItMay) {
    for (std::uint32_t i = 0; i < 11; ++i) (void)stranger_answered(t0_, i);
    ASSERT_TRUE(server_.under_load());
    server_.handle_timeout(t0_ + std::chrono::milliseconds{999});
    EXPECT_TRUE(server_.under_load()) << "the hold is 1 s";
    server_.handle_timeout(t0_ + std::chrono::seconds{1});
    EXPECT_FALSE(server_.under_load()) << "no input needed to leave the mode";
}

TEST_F(UnderLoad, HandshakesFromStrangersAreRefusedOverBudgetAndKnownPeersStillConnect) {
    // Every stranger gets its cookie first (10 X25519), then the budget is empty.
    std::vector<std::unique_ptr<FakePeer>> peers;
    std::vector<wire::Cookie> cookies;
    for (std::uint32_t i = 0; i < 10; ++i) {
        peers.push_back(std::make_unique<FakePeer>(2000 + i));
        auto c = peers[i]->fetch_cookie(server_, t0_, source(i));
        ASSERT_TRUE(c) << "stranger " << i << " got no cookie";
        cookies.push_back(*c);
    }
    ASSERT_EQ(server_.stats().key_agreements, 10U);
    const auto hs =
        peers[0]->handshake(t0_, server_.public_key(), server_.dht_public_key(), cookies[0]);
    server_.handle_datagram(t0_, source(0), hs);
    EXPECT_EQ(drops(netcrypto::DropReason::kUnderLoad), 1U)
        << "the handshake's X25519 is over budget";
    EXPECT_TRUE(server_.connections().empty()) << "a refused stranger must leave no state";
    // The peer retries a second later with the same cookie (still valid): accepted.
    const Instant later = t0_ + std::chrono::seconds{1};
    server_.handle_datagram(
        later, source(0),
        peers[0]->handshake(later, server_.public_key(), server_.dht_public_key(), cookies[0]));
    EXPECT_EQ(server_.connections().size(), 1U) << "the retried handshake must be accepted";
}

TEST(ReplayCache, FullOfLiveSessionsItForgetsTheOlderHalfAndStillRefusesRecentReplays) {
    SeededRng rng(91);
    EndpointConfig cfg;
    cfg.handshake_replay_cache = 4;  // 10 handshakes below: the cache must shed entries
    const Instant t0 = instant_from_ms(7'000'000);
    Endpoint server(KeyPair::generate(rng), KeyPair::generate(rng), rng, t0, cfg);
    std::array<std::uint8_t, kMaxDatagramSize> buf{};
    const auto from = [](std::uint32_t i, std::uint16_t port) {
        return Address::ipv4(10, 8, 0, static_cast<std::uint8_t>(i), port);
    };
    std::vector<std::vector<std::uint8_t>> handshakes;
    for (std::uint32_t i = 0; i < 10; ++i) {
        const Instant now = t0 + std::chrono::milliseconds{i};  // distinct expiries
        FakePeer peer(3000 + i);
        handshakes.push_back(peer.handshake_to(server, now, from(i, 1)));
        ASSERT_FALSE(handshakes.back().empty()) << "peer " << i << " got no cookie";
        server.handle_datagram(now, from(i, 1), handshakes.back());  // pending incoming request
        while (server.poll_transmit(now, buf)) {
        }
    }
    const Instant later = t0 + std::chrono::milliseconds{20};
    const auto replayed = [&](std::uint32_t i) {
        const auto before = server.stats().drops(netcrypto::DropReason::kReplayedHandshake);
        server.handle_datagram(later, from(i, 2), handshakes[i]);  // a new address
        return server.stats().drops(netcrypto::DropReason::kReplayedHandshake) == before + 1;
    };
    for (std::uint32_t i = 6; i < 10; ++i) {
        EXPECT_TRUE(replayed(i)) << "handshake " << i << " is among the 4 newest: refused";
    }
    EXPECT_FALSE(replayed(0)) << "the oldest session must have been forgotten (bounded cache)";
    // Forgotten is not accepted: peer 0's request is still pending, so this is a duplicate.
    EXPECT_GE(server.stats().drops(netcrypto::DropReason::kDuplicateIncoming), 1U);
    EXPECT_TRUE(server.connections().empty());
}

TEST(PendingIncoming, UnpolledRequestsStayBoundedAndOnlyLiveOnesSurface) {
    SeededRng rng(92);
    EndpointConfig cfg;
    cfg.max_pending_incoming = 2;
    const Instant t0 = instant_from_ms(8'000'000);
    Endpoint server(KeyPair::generate(rng), KeyPair::generate(rng), rng, t0, cfg);
    std::vector<PublicKey> keys;
    for (std::uint32_t i = 0; i < 5; ++i) {  // the application does not poll meanwhile
        FakePeer peer(4000 + i);
        const Address from = Address::ipv4(10, 7, 0, static_cast<std::uint8_t>(i), 1);
        const Bytes hs = peer.handshake_to(server, t0, from);
        ASSERT_FALSE(hs.empty()) << "peer " << i << " got no cookie";
        server.handle_datagram(t0, from, hs);
        keys.push_back(peer.key());
    }
    std::vector<IncomingRequest> incoming;
    while (auto e = server.poll_event()) {
        if (const auto* in = e->get_if<IncomingRequest>()) incoming.push_back(*in);
    }
    ASSERT_EQ(incoming.size(), 2U) << "evicted requests must not leave stale kIncoming events";
    EXPECT_EQ(incoming[0].peer_key, keys[3]);
    EXPECT_EQ(incoming[1].peer_key, keys[4]);
    for (const IncomingRequest& e : incoming) {
        EXPECT_TRUE(server.accept(t0, e.request).has_value()) << "a surfaced request is live";
    }
    EXPECT_EQ(server.connections().size(), 2U);
}

TEST(PendingIncoming, ExpiredRequestsWithdrawTheirEvent) {
    SeededRng rng(93);
    const Instant t0 = instant_from_ms(9'000'000);
    Endpoint server(KeyPair::generate(rng), KeyPair::generate(rng), rng, t0, EndpointConfig{});
    FakePeer peer(5000);
    const Address from = Address::ipv4(10, 7, 1, 1, 1);
    const Bytes hs = peer.handshake_to(server, t0, from);
    ASSERT_FALSE(hs.empty());
    server.handle_datagram(t0, from, hs);
    server.handle_timeout(t0 + EndpointConfig{}.cookie_validity);
    while (auto e = server.poll_event()) {
        EXPECT_NE(e->kind(), Event::Kind::kIncoming) << "the request expired before it was polled";
    }
}

}  // namespace
}  // namespace netcrypto::sim
