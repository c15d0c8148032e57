// Endpoint::discover: learning a peer's DHT key from its address alone (LAN discovery out, a
// nodes request back), then connecting with it, over the simulated network.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

#include <gtest/gtest.h>

#include "core/dht/packets.hpp"
#include "sim/pair.hpp"

namespace netcrypto::sim {
namespace {

using namespace std::chrono_literals;

/// The first event of type T that `node` polled, or nullptr.
template <class T>
const T* first_event(const EndpointNode& node) {
    for (const Event& e : node.events) {
        if (const auto* t = e.get_if<T>()) return t;
    }
    return nullptr;
}

/// A connects to B as a user with only B's Tox ID and address would: discover, then connect on
/// DhtKeyLearned.
void connect_by_discovery(Pair& p) {
    p.a.on_event = [&p](Instant now, const Event& e) {
        if (const auto* learnt = e.get_if<DhtKeyLearned>()) {
            EXPECT_TRUE(p.a.endpoint().connect(now, learnt->peer_key, learnt->peer_dht_key,
                                               learnt->address));
        }
    };
    ASSERT_TRUE(p.a.endpoint().discover(p.sim.now(), p.b.key(), p.b.address()));
    p.sim.wake(p.ida);
}

TEST(Discovery, LearnsThePeersDhtKeyFromItsAddressAndConnects) {
    Pair p(301);
    connect_by_discovery(p);
    ASSERT_TRUE(p.run_until_established(5s)) << "discover → connect did not reach Established";
    const auto* learnt = first_event<DhtKeyLearned>(p.a);
    ASSERT_NE(learnt, nullptr);
    EXPECT_EQ(learnt->peer_dht_key, p.b.dht_key());
    EXPECT_EQ(learnt->peer_key, p.b.key());
    EXPECT_EQ(learnt->address, p.b.address());
    Event e = *learnt;
    EXPECT_EQ(e.connection(), std::nullopt) << "a discovery event is about no connection";
    EXPECT_EQ(e.user_tag(), std::nullopt);
    EXPECT_EQ(p.a.endpoint().dht_stats().keys_learnt, 1U);
    EXPECT_EQ(p.b.endpoint().dht_stats().lan_discovery_answered, 1U);
    EXPECT_EQ(p.a.endpoint().dht_stats().nodes_answered, 1U) << "A answers B's nodes request";
    EXPECT_EQ(p.a.endpoint().stats().total_drops(), 0U);
    EXPECT_EQ(p.b.endpoint().stats().total_drops(), 0U);
}

TEST(Discovery, ResendsThroughLossAndSucceeds) {
    Pair p(302, LinkConfig{.loss_probability = 0.5});
    connect_by_discovery(p);
    ASSERT_TRUE(p.run_until_established(30s));
    EXPECT_GT(p.a.endpoint().dht_stats().lan_discovery_sent, 1U) << "no resend under 50 % loss";
}

TEST(Discovery, NobodyAtTheAddressFailsAfterTheConfiguredSends) {
    EndpointConfig cfg;
    cfg.discovery_interval = 250ms;
    cfg.discovery_max_sends = 6;
    Pair p(303, {}, cfg);
    const Address nobody = Address::ipv4(10, 0, 0, 9, 33445);
    const Instant t0 = p.sim.now();
    ASSERT_TRUE(p.a.endpoint().discover(t0, p.b.key(), nobody));
    p.sim.wake(p.ida);
    p.sim.run_for(5s);
    const auto* failed = first_event<DiscoveryFailed>(p.a);
    ASSERT_NE(failed, nullptr) << "no DiscoveryFailed for an address where nobody answers";
    EXPECT_EQ(failed->address, nobody);
    EXPECT_EQ(failed->peer_key, p.b.key());
    EXPECT_EQ(failed->sends, 6U);
    EXPECT_EQ(p.a.endpoint().dht_stats().lan_discovery_sent, 6U);
    const auto at = std::find_if(p.a.events.begin(), p.a.events.end(),
                                 [](const Event& e) { return e.is<DiscoveryFailed>(); });
    const auto when = p.a.event_times[static_cast<std::size_t>(at - p.a.events.begin())];
    EXPECT_EQ(when - t0, 6 * 250ms) << "the failure comes one interval after the last send";
    EXPECT_FALSE(p.a.endpoint().stop_discovery(nobody)) << "a failed address is forgotten";
}

TEST(Discovery, ARestartedPeerIsLearntAgain) {
    Pair p(304);
    connect_by_discovery(p);
    ASSERT_TRUE(p.run_until_established(5s));
    const PublicKey old_dht = p.b.dht_key();
    p.b.restart(p.sim.now(), p.b.address());  // same address and long-term key, new DHT key
    ASSERT_NE(p.b.dht_key(), old_dht);
    const std::size_t before = p.a.events.size();
    // A closes its connection (the peer is gone) and learns the key again.
    auto id = p.a.endpoint().find(p.b.key());
    ASSERT_TRUE(id);
    ASSERT_TRUE(p.a.endpoint().close(p.sim.now(), *id));
    ASSERT_TRUE(p.a.endpoint().discover(p.sim.now(), p.b.key(), p.b.address()));
    p.sim.wake(p.ida);
    ASSERT_TRUE(p.run_until_established(5s));
    const auto relearnt =
        std::find_if(p.a.events.begin() + static_cast<std::ptrdiff_t>(before), p.a.events.end(),
                     [](const Event& e) { return e.is<DhtKeyLearned>(); });
    ASSERT_NE(relearnt, p.a.events.end());
    EXPECT_EQ(relearnt->get_if<DhtKeyLearned>()->peer_dht_key, p.b.dht_key());
}

TEST(Discovery, NodesRequestsFromOtherAddressesTeachNothing) {
    Pair p(305);
    const Address b_elsewhere = second_port(p.b.address());
    ASSERT_TRUE(p.a.endpoint().discover(p.sim.now(), p.b.key(), b_elsewhere));
    // A valid nodes request from B's main address, while A learns the key at B's second port:
    // it is answered but teaches nothing.
    SeededRng stranger_rng(9);
    const KeyPair stranger = KeyPair::generate(stranger_rng);
    crypto::SharedKey key;
    ASSERT_TRUE(key.precompute(p.a.dht_key(), stranger.secret_key));
    std::array<std::uint8_t, dht::kNodesRequestSize> req{};
    dht::create_nodes_request(stranger.public_key, key, crypto::Nonce{}, stranger.public_key,
                              dht::Sendback{}, req);
    p.a.endpoint().handle_datagram(p.sim.now(), p.b.address(), req);
    auto junk = req;  // tampered: the box does not open
    junk[100] ^= 1U;
    p.a.endpoint().handle_datagram(p.sim.now(), b_elsewhere, junk);
    std::array<std::uint8_t, 20> short_junk{};
    short_junk[0] = dht::kNodesRequestType;
    p.a.endpoint().handle_datagram(p.sim.now(), b_elsewhere, short_junk);
    EXPECT_EQ(first_event<DhtKeyLearned>(p.a), nullptr);
    while (auto ev = p.a.endpoint().poll_event()) {
        EXPECT_FALSE(ev->is<DhtKeyLearned>()) << "a key was learnt from a spoofed or bad packet";
    }
    const DhtStats& s = p.a.endpoint().dht_stats();
    EXPECT_EQ(s.requests_not_learnt, 1U);
    EXPECT_EQ(s.dropped_by(DhtDropReason::kBadBox), 1U);
    EXPECT_EQ(s.dropped_by(DhtDropReason::kWrongLength), 1U);
    EXPECT_EQ(p.a.endpoint().stats().total_drops(), 0U) << "DHT junk is counted on the DHT side";
}

TEST(Discovery, BusyWhenTooManyAddressesAreLearnt) {
    EndpointConfig cfg;
    cfg.max_discoveries = 2;
    Pair p(306, {}, cfg);
    EXPECT_TRUE(p.a.endpoint().discover(p.sim.now(), p.b.key(), Address::ipv4(10, 1, 0, 1, 1)));
    EXPECT_TRUE(p.a.endpoint().discover(p.sim.now(), p.b.key(), Address::ipv4(10, 1, 0, 2, 1)));
    // Again for a busy address restarts it; a third address is refused.
    EXPECT_TRUE(p.a.endpoint().discover(p.sim.now(), p.b.key(), Address::ipv4(10, 1, 0, 2, 1)));
    const auto third =
        p.a.endpoint().discover(p.sim.now(), p.b.key(), Address::ipv4(10, 1, 0, 3, 1));
    ASSERT_FALSE(third);
    EXPECT_EQ(third.error(), Error::kDiscoveryBusy);
    EXPECT_TRUE(p.a.endpoint().stop_discovery(Address::ipv4(10, 1, 0, 1, 1)));
    EXPECT_TRUE(p.a.endpoint().discover(p.sim.now(), p.b.key(), Address::ipv4(10, 1, 0, 3, 1)));
}

}  // namespace
}  // namespace netcrypto::sim
