// dht::Discovery (docs/discovery.md) driven by hand against a fake c-toxcore peer built from the
// DHT codecs: learning from the right address only, drops by reason, the exact resend schedule,
// failure, re-learning, answers to nodes requests and pings within the per-source budget, and
// the bounds on targets, the queue and X25519 work.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/address.hpp>
#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/dht/discovery.hpp"
#include "core/dht/packets.hpp"

namespace netcrypto::dht {
namespace {

using Bytes = std::vector<std::uint8_t>;
using std::chrono::milliseconds;

struct Sent {
    Address to;
    Bytes bytes;
};

std::vector<Sent> drain(Discovery& d) {
    std::vector<Sent> out;
    std::array<std::uint8_t, kMaxDiscoveryDatagramSize> buf{};
    while (auto t = d.poll_transmit(buf)) {
        out.push_back({t->destination,
                       Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(t->size))});
    }
    return out;
}

std::vector<DiscoveryEvent> events(Discovery& d) {
    std::vector<DiscoveryEvent> out;
    while (auto e = d.poll_event()) out.push_back(*e);
    return out;
}

SharedKey shared(const PublicKey& pk, const SecretKey& sk) {
    SharedKey k;
    EXPECT_TRUE(k.precompute(pk, sk));
    return k;
}

/// What c-toxcore does with the packets Discovery sends, reduced to the codecs: a LAN discovery
/// packet is answered by a nodes request for its own key, boxed to the sender's key.
struct FakeToxcore {
    SeededRng rng;
    Address address;
    KeyPair dht;

    FakeToxcore(std::uint64_t seed, Address at)
        : rng(seed), address(at), dht(KeyPair::generate(rng)) {}

    Bytes nodes_request_to(const PublicKey& their_dht,
                           const Sendback& sendback = {1, 2, 3, 4, 5, 6, 7, 8}) {
        std::array<std::uint8_t, kNodesRequestSize> out{};
        create_nodes_request(dht.public_key, shared(their_dht, dht.secret_key), Nonce::random(rng),
                             dht.public_key, sendback, out);
        return {out.begin(), out.end()};
    }
    Bytes ping_to(const PublicKey& their_dht, const PingId& id) {
        std::array<std::uint8_t, kPingSize> out{};
        create_ping_request(dht.public_key, shared(their_dht, dht.secret_key), Nonce::random(rng),
                            id, out);
        return {out.begin(), out.end()};
    }
    /// The answer c-toxcore sends to a LAN discovery packet, or nullopt.
    std::optional<Bytes> answer(const Bytes& lan_discovery) {
        const auto pk = consume_lan_discovery(lan_discovery);
        if (!pk) return std::nullopt;
        return nodes_request_to(*pk);
    }
};

const Address kPeerAddr = Address::ipv4(127, 0, 0, 1, 33445);
const Address kOtherAddr = Address::ipv4(127, 0, 0, 2, 33445);
const Instant kT0 = instant_from_ms(1000);

struct Fixture {
    SeededRng rng{5};
    KeyPair ours = KeyPair::generate(rng);
    Discovery d;
    explicit Fixture(const DiscoveryConfig& cfg = {}) : d(ours, rng, cfg) {}
};

TEST(DhtDiscovery, LearnsTheKeyFromTheRightAddressAndAnswers) {
    Fixture f;
    FakeToxcore peer(1, kPeerAddr);
    ASSERT_TRUE(f.d.start(kT0, kPeerAddr));
    const auto sent = drain(f.d);
    ASSERT_EQ(sent.size(), 1U);
    EXPECT_EQ(sent[0].to, kPeerAddr);
    ASSERT_EQ(sent[0].bytes.size(), kLanDiscoverySize);
    EXPECT_EQ(consume_lan_discovery(sent[0].bytes).value(), f.ours.public_key);

    const Sendback sb{8, 7, 6, 5, 4, 3, 2, 1};
    const auto reply = peer.nodes_request_to(f.ours.public_key, sb);
    f.d.handle_datagram(kT0 + milliseconds(3), kPeerAddr, reply);
    const auto ev = events(f.d);
    ASSERT_EQ(ev.size(), 1U);
    EXPECT_EQ(std::get<KeyLearned>(ev[0]), (KeyLearned{kPeerAddr, peer.dht.public_key}));
    EXPECT_FALSE(f.d.learning(kPeerAddr));
    EXPECT_EQ(f.d.next_timeout(), std::nullopt);
    EXPECT_EQ(f.d.stats().keys_learnt, 1U);

    // The answer: a nodes response with no nodes, echoing the sendback, smaller than the request.
    const auto answers = drain(f.d);
    ASSERT_EQ(answers.size(), 1U);
    EXPECT_EQ(answers[0].to, kPeerAddr);
    ASSERT_EQ(answers[0].bytes.size(), kNodesResponseMinSize);
    EXPECT_LT(answers[0].bytes.size(), reply.size());
    const auto resp =
        consume_nodes_response(answers[0].bytes, shared(f.ours.public_key, peer.dht.secret_key));
    ASSERT_TRUE(resp);
    EXPECT_EQ(resp->node_count, 0U);
    EXPECT_EQ(resp->sendback, sb);
    EXPECT_EQ(resp->sender_dht_pk, f.ours.public_key);
}

TEST(DhtDiscovery, ARequestFromAnotherAddressTeachesNothing) {
    Fixture f;
    FakeToxcore peer(1, kPeerAddr);
    FakeToxcore spoofer(2, kOtherAddr);
    ASSERT_TRUE(f.d.start(kT0, kPeerAddr));
    drain(f.d);
    // The spoofer's request is valid (boxed to us) but comes from another address; even the
    // real peer's request arriving from elsewhere teaches nothing.
    f.d.handle_datagram(kT0, kOtherAddr, spoofer.nodes_request_to(f.ours.public_key));
    f.d.handle_datagram(kT0, kOtherAddr, peer.nodes_request_to(f.ours.public_key));
    EXPECT_TRUE(events(f.d).empty());
    EXPECT_TRUE(f.d.learning(kPeerAddr));
    EXPECT_EQ(f.d.stats().requests_not_learnt, 2U);
    EXPECT_EQ(f.d.stats().keys_learnt, 0U);
    // Answered (the default), to the source, not the target.
    for (const auto& s : drain(f.d)) EXPECT_EQ(s.to, kOtherAddr);

    // With answers off it is dropped, without any X25519.
    DiscoveryConfig cfg;
    cfg.answer = false;
    Fixture quiet(cfg);
    ASSERT_TRUE(quiet.d.start(kT0, kPeerAddr));
    quiet.d.handle_datagram(kT0, kOtherAddr, spoofer.nodes_request_to(quiet.ours.public_key));
    EXPECT_EQ(quiet.d.stats().dropped_by(DhtDropReason::kAnswersOff), 1U);
    EXPECT_EQ(quiet.d.stats().key_agreements, 0U);
    EXPECT_TRUE(quiet.d.learning(kPeerAddr));
    // The real one still works, and nothing is answered.
    drain(quiet.d);
    quiet.d.handle_datagram(kT0, kPeerAddr, peer.nodes_request_to(quiet.ours.public_key));
    EXPECT_EQ(events(quiet.d).size(), 1U);
    EXPECT_TRUE(drain(quiet.d).empty());
}

TEST(DhtDiscovery, MalformedDatagramsAreCountedByReason) {
    Fixture f;
    FakeToxcore peer(1, kPeerAddr);
    ASSERT_TRUE(f.d.start(kT0, kPeerAddr));
    drain(f.d);
    const auto good = peer.nodes_request_to(f.ours.public_key);
    auto feed = [&f](const Bytes& b) { f.d.handle_datagram(kT0, kPeerAddr, b); };

    feed(Bytes(good.begin(), good.end() - 1));
    Bytes longer = good;
    longer.push_back(0);
    feed(longer);
    Bytes tampered = good;
    tampered[100] ^= 1;
    feed(tampered);
    SeededRng other_rng(77);
    const KeyPair stranger = KeyPair::generate(other_rng);
    feed(peer.nodes_request_to(stranger.public_key));  // boxed to someone else's key
    Bytes own = good;
    std::copy(f.ours.public_key.bytes.begin(), f.ours.public_key.bytes.end(), own.begin() + 1);
    feed(own);
    Bytes low_order = good;  // the all-zero key gives no shared key
    std::fill(low_order.begin() + 1, low_order.begin() + 33, std::uint8_t{0});
    feed(low_order);
    feed(Bytes{});
    feed(Bytes{0x03, 1, 2});
    Bytes lan(kLanDiscoverySize, 0x21);  // valid, but from a public address: not answered
    f.d.handle_datagram(kT0, Address::ipv4(203, 0, 113, 5, 33445), lan);
    Bytes resp(kNodesResponseMinSize, 0);
    resp[0] = kNodesResponseType;
    feed(resp);
    Bytes pong(kPingSize, 0);
    pong[0] = kPingResponseType;
    feed(pong);

    const auto& s = f.d.stats();
    EXPECT_EQ(s.dropped_by(DhtDropReason::kWrongLength), 2U);
    EXPECT_EQ(s.dropped_by(DhtDropReason::kBadBox), 2U);
    EXPECT_EQ(s.dropped_by(DhtDropReason::kOwnKey), 1U);
    EXPECT_EQ(s.dropped_by(DhtDropReason::kUnusableKey), 1U);
    EXPECT_EQ(s.dropped_by(DhtDropReason::kWrongType), 2U);
    EXPECT_EQ(s.dropped_by(DhtDropReason::kLanDiscovery), 1U);
    EXPECT_EQ(s.dropped_by(DhtDropReason::kUnsolicited), 2U);
    EXPECT_TRUE(events(f.d).empty());
    EXPECT_TRUE(f.d.learning(kPeerAddr));
    EXPECT_TRUE(drain(f.d).empty());
    // After all that the genuine request still teaches the key.
    feed(good);
    EXPECT_EQ(events(f.d).size(), 1U);
}

TEST(DhtDiscovery, ResendScheduleIsExactAndFailureFollowsTheLastSend) {
    Fixture f;
    ASSERT_TRUE(f.d.start(kT0, kPeerAddr));
    std::vector<std::int64_t> send_times{to_ms(kT0)};
    EXPECT_EQ(drain(f.d).size(), 1U);
    std::optional<NoAnswer> failed;
    std::int64_t failed_at = 0;
    while (auto next = f.d.next_timeout()) {
        // Nothing is due a millisecond early.
        f.d.handle_timeout(*next - milliseconds(1));
        EXPECT_TRUE(drain(f.d).empty());
        f.d.handle_timeout(*next);
        for (const auto& s : drain(f.d)) {
            EXPECT_EQ(s.bytes.size(), kLanDiscoverySize);
            send_times.push_back(to_ms(*next));
        }
        for (const auto& e : events(f.d)) {
            failed = std::get<NoAnswer>(e);
            failed_at = to_ms(*next);
        }
    }
    std::vector<std::int64_t> expected;
    for (std::int64_t k = 0; k < 10; ++k) expected.push_back(1000 + 500 * k);
    EXPECT_EQ(send_times, expected);
    ASSERT_TRUE(failed);
    EXPECT_EQ(*failed, (NoAnswer{kPeerAddr, 10}));
    EXPECT_EQ(failed_at, 6000);
    EXPECT_EQ(f.d.stats().failures, 1U);
    EXPECT_EQ(f.d.stats().lan_discovery_sent, 10U);
    EXPECT_FALSE(f.d.learning(kPeerAddr));
}

TEST(DhtDiscovery, RestartRelearnsANewKeyAndForgetStopsResends) {
    Fixture f;
    FakeToxcore first(1, kPeerAddr);
    ASSERT_TRUE(f.d.start(kT0, kPeerAddr));
    f.d.handle_datagram(kT0, kPeerAddr, *first.answer(drain(f.d).at(0).bytes));
    EXPECT_EQ(std::get<KeyLearned>(events(f.d).at(0)).dht_pk, first.dht.public_key);
    drain(f.d);

    // The peer restarts with a new DHT key on the same address.
    FakeToxcore second(2, kPeerAddr);
    ASSERT_TRUE(f.d.restart(kT0 + milliseconds(9000), kPeerAddr));
    EXPECT_TRUE(f.d.restart(kT0 + milliseconds(9000), kPeerAddr));
    const auto sent = drain(f.d);
    ASSERT_EQ(sent.size(), 2U);
    f.d.handle_datagram(kT0 + milliseconds(9001), kPeerAddr, *second.answer(sent[1].bytes));
    EXPECT_EQ(std::get<KeyLearned>(events(f.d).at(0)).dht_pk, second.dht.public_key);

    ASSERT_TRUE(f.d.start(kT0, kOtherAddr));
    EXPECT_TRUE(f.d.forget(kOtherAddr));
    EXPECT_FALSE(f.d.forget(kOtherAddr));
    EXPECT_EQ(f.d.next_timeout(), std::nullopt);
    f.d.handle_timeout(kT0 + milliseconds(100000));
    EXPECT_TRUE(events(f.d).empty());
}

TEST(DhtDiscovery, AnswersPingsWithTheSamePingId) {
    Fixture f;
    FakeToxcore peer(1, kPeerAddr);
    const PingId id{1, 3, 5, 7, 9, 11, 13, 15};
    const auto ping = peer.ping_to(f.ours.public_key, id);
    f.d.handle_datagram(kT0, kPeerAddr, ping);
    const auto sent = drain(f.d);
    ASSERT_EQ(sent.size(), 1U);
    EXPECT_EQ(sent[0].to, kPeerAddr);
    EXPECT_EQ(sent[0].bytes.size(), ping.size());
    const auto pong =
        consume_ping_response(sent[0].bytes, shared(f.ours.public_key, peer.dht.secret_key));
    ASSERT_TRUE(pong);
    EXPECT_EQ(pong->ping_id, id);
    EXPECT_EQ(f.d.stats().pings_answered, 1U);
    EXPECT_TRUE(events(f.d).empty());
}

TEST(DhtDiscovery, AnswersStayWithinThePerSourceBudget) {
    Fixture f;  // burst 8, 4 per second
    FakeToxcore peer(1, kPeerAddr);
    FakeToxcore other(2, kOtherAddr);
    for (int i = 0; i < 12; ++i) {
        f.d.handle_datagram(kT0, kPeerAddr, peer.ping_to(f.ours.public_key, {}));
        f.d.handle_datagram(kT0, kPeerAddr, peer.nodes_request_to(f.ours.public_key));
    }
    EXPECT_EQ(drain(f.d).size(), 8U);
    EXPECT_EQ(f.d.stats().dropped_by(DhtDropReason::kRateLimited), 16U);
    // Another source has its own budget.
    f.d.handle_datagram(kT0, kOtherAddr, other.ping_to(f.ours.public_key, {}));
    EXPECT_EQ(drain(f.d).size(), 1U);
    // A second later four more tokens.
    for (int i = 0; i < 6; ++i) {
        f.d.handle_datagram(kT0 + milliseconds(1000), kPeerAddr,
                            peer.ping_to(f.ours.public_key, {}));
    }
    EXPECT_EQ(drain(f.d).size(), 4U);
    // A target being learnt is learnt even when its source's answer budget is empty.
    ASSERT_TRUE(f.d.start(kT0 + milliseconds(1000), kPeerAddr));
    drain(f.d);
    f.d.handle_datagram(kT0 + milliseconds(1000), kPeerAddr,
                        peer.nodes_request_to(f.ours.public_key));
    EXPECT_EQ(events(f.d).size(), 1U);
    EXPECT_TRUE(drain(f.d).empty());
}

TEST(DhtDiscovery, KeyAgreementsAreCachedAndBudgeted) {
    DiscoveryConfig cfg;
    cfg.key_agreements_per_second = 2;
    Fixture f(cfg);
    std::deque<FakeToxcore> peers;  // not movable (it owns its Rng)
    for (std::uint8_t i = 0; i < 5; ++i) peers.emplace_back(10 + i, Address::ipv4(10, 0, 0, i, 1));
    for (auto& p : peers) f.d.handle_datagram(kT0, p.address, p.ping_to(f.ours.public_key, {}));
    EXPECT_EQ(f.d.stats().key_agreements, 2U);
    EXPECT_EQ(f.d.stats().dropped_by(DhtDropReason::kUnderLoad), 3U);
    EXPECT_EQ(drain(f.d).size(), 2U);
    // A cached key costs nothing from the budget.
    f.d.handle_datagram(kT0, peers[0].address, peers[0].ping_to(f.ours.public_key, {}));
    EXPECT_EQ(drain(f.d).size(), 1U);
    EXPECT_EQ(f.d.stats().key_agreements, 2U);
    EXPECT_EQ(f.d.cached_keys(), 2U);
}

TEST(DhtDiscovery, TargetsAndQueueAreBounded) {
    Fixture f;
    for (std::uint16_t i = 0; i < 64; ++i) {
        ASSERT_TRUE(
            f.d.start(kT0, Address::ipv4(10, 1, 0, 1, static_cast<std::uint16_t>(1000 + i))));
    }
    EXPECT_EQ(f.d.start(kT0, kPeerAddr).error(), DiscoveryError::kTooManyTargets);
    EXPECT_EQ(f.d.start(kT0, Address::ipv4(10, 1, 0, 1, 1000)).error(),
              DiscoveryError::kAlreadyLearning);
    EXPECT_EQ(f.d.targets(), 64U);
    EXPECT_FALSE(to_string(DiscoveryError::kTooManyTargets).empty());

    DiscoveryConfig cfg;
    cfg.max_queued = 4;
    Fixture small(cfg);
    for (std::uint16_t i = 0; i < 6; ++i)
        ASSERT_TRUE(small.d.start(kT0, Address::ipv4(10, 1, 0, 1, i)));
    EXPECT_EQ(small.d.queued(), 4U);
    EXPECT_EQ(small.d.stats().dropped_by(DhtDropReason::kQueueFull), 2U);
    // A buffer too small for the next datagram takes nothing.
    std::array<std::uint8_t, 8> tiny{};
    EXPECT_EQ(small.d.poll_transmit(tiny), std::nullopt);
    EXPECT_EQ(drain(small.d).size(), 4U);
    // At the first resend all six are due again; four fit.
    small.d.handle_timeout(kT0 + cfg.resend_interval);
    EXPECT_EQ(drain(small.d).size(), 4U);
}

TEST(DhtDiscovery, TwoInstancesAndOneToxcorePeer) {
    // Two netcrypto instances learn the same c-toxcore peer, and each other: like c-toxcore,
    // an instance answers a LAN discovery packet from a LAN address with a nodes request that
    // carries its DHT key, so `a` learns `b`'s key from b's address alone.
    SeededRng rng(3);
    const Address a_addr = Address::ipv4(127, 0, 0, 10, 40000);
    const Address b_addr = Address::ipv4(127, 0, 0, 11, 40000);
    Discovery a(KeyPair::generate(rng), rng);
    Discovery b(KeyPair::generate(rng), rng);
    FakeToxcore peer(1, kPeerAddr);
    ASSERT_TRUE(a.start(kT0, kPeerAddr));
    ASSERT_TRUE(a.start(kT0, b_addr));
    ASSERT_TRUE(b.start(kT0, kPeerAddr));
    auto deliver = [&](Discovery& from_d, const Address& from_addr) {
        std::size_t n = 0;
        for (const auto& s : drain(from_d)) {
            ++n;
            if (s.to == kPeerAddr) {
                if (auto r = peer.answer(s.bytes)) from_d.handle_datagram(kT0, kPeerAddr, *r);
            } else if (s.to == b_addr) {
                b.handle_datagram(kT0, from_addr, s.bytes);
            } else if (s.to == a_addr) {
                a.handle_datagram(kT0, from_addr, s.bytes);
            }
        }
        return n;
    };
    // Bounded ping-pong: a's 0x21 → b's 0x02 → a's 0x04 (an answer b ignores).
    for (int round = 0; round < 4; ++round) {
        if (deliver(a, a_addr) + deliver(b, b_addr) == 0) break;
    }
    const auto a_events = events(a);
    ASSERT_EQ(a_events.size(), 2U) << "a should learn the c-toxcore peer's key and b's";
    EXPECT_EQ(std::get<KeyLearned>(a_events.at(0)).dht_pk, peer.dht.public_key);
    EXPECT_EQ(std::get<KeyLearned>(a_events.at(1)).address, b_addr);
    EXPECT_EQ(std::get<KeyLearned>(a_events.at(1)).dht_pk, b.dht_public_key());
    EXPECT_EQ(std::get<KeyLearned>(events(b).at(0)).dht_pk, peer.dht.public_key);
    EXPECT_EQ(b.stats().lan_discovery_answered, 1U);
    EXPECT_EQ(b.stats().dropped_by(DhtDropReason::kUnsolicited), 1U);  // a's 0x04
    EXPECT_FALSE(a.learning(b_addr));
}

TEST(DhtDiscovery, LanDiscoveryIsAnsweredOnlyFromLanAddressesWithinBudget) {
    Fixture f;
    SeededRng other_rng(55);  // not the fixture's seed: a different key pair
    const KeyPair sender = KeyPair::generate(other_rng);
    std::array<std::uint8_t, kLanDiscoverySize> lan{};
    create_lan_discovery(sender.public_key, lan);
    const Address public_addr = Address::ipv4(198, 51, 100, 7, 33445);
    f.d.handle_datagram(kT0, public_addr, lan);
    EXPECT_TRUE(drain(f.d).empty()) << "a public source must not draw a 113-byte answer";
    EXPECT_EQ(f.d.stats().dropped_by(DhtDropReason::kLanDiscovery), 1U);

    const Address lan_addr = Address::ipv4(192, 168, 1, 20, 33445);
    for (int i = 0; i < 50; ++i) f.d.handle_datagram(kT0, lan_addr, lan);
    const auto sent = drain(f.d);
    const DiscoveryConfig defaults;
    ASSERT_EQ(sent.size(), defaults.answer_burst) << "answers must stay within the burst";
    EXPECT_EQ(f.d.stats().lan_discovery_answered, defaults.answer_burst);
    EXPECT_EQ(f.d.stats().dropped_by(DhtDropReason::kRateLimited), 50U - defaults.answer_burst);
    // The answer is a nodes request to the sender, carrying our DHT key, that opens with the
    // sender's secret key.
    const auto& req = sent.front();
    EXPECT_EQ(req.to, lan_addr);
    ASSERT_EQ(req.bytes.size(), kNodesRequestSize);
    const SharedKey key = shared(f.ours.public_key, sender.secret_key);
    const auto opened = consume_nodes_request(req.bytes, key);
    ASSERT_TRUE(opened) << to_string(opened.error());
    EXPECT_EQ(opened->sender_dht_pk, f.ours.public_key);
    // Our own key echoed back is dropped, not answered.
    std::array<std::uint8_t, kLanDiscoverySize> own{};
    create_lan_discovery(f.ours.public_key, own);
    f.d.handle_datagram(kT0 + std::chrono::seconds{10}, lan_addr, own);
    EXPECT_TRUE(drain(f.d).empty());
    EXPECT_EQ(f.d.stats().dropped_by(DhtDropReason::kOwnKey), 1U);
}

}  // namespace
}  // namespace netcrypto::dht
