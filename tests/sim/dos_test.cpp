// Hostile networks in the simulator: a cookie-request flood from many spoofed sources while a
// legitimate peer connects, and replayed handshakes and data packets.
#include <gtest/gtest.h>

#include "core/handshake.hpp"
#include "sim/pair.hpp"

namespace netcrypto::sim {
namespace {

/// Floods a victim with valid cookie requests from many source addresses it owns.
class Flooder final : public Node {
  public:
    Flooder(std::vector<Address> sources, Address victim, const PublicKey& victim_dht,
            std::uint64_t total, Duration spacing, Instant start)
        : rng_(99),
          sources_(std::move(sources)),
          victim_(victim),
          remaining_(total),
          spacing_(spacing),
          next_(start) {
        // One DHT key per source (as a real attacker with cheap requests would do).
        for (std::size_t i = 0; i < sources_.size(); ++i) {
            auto kp = KeyPair::generate(rng_);
            crypto::SharedKey k;
            EXPECT_TRUE(k.precompute(victim_dht, kp.secret_key));
            keys_.push_back(kp.public_key);
            shared_.push_back(k);
        }
        real_ = KeyPair::generate(rng_).public_key;
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
        wire::EchoId echo{};
        auto bytes = handshake::create_cookie_request(real_, keys_[i], shared_[i], echo, rng_);
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
    PublicKey real_;
};

TEST(Dos, CookieFloodFromThousandSourcesDoesNotStopALegitimatePeer) {
    LinkConfig link;
    link.delay = std::chrono::milliseconds{5};
    Pair p(11, link, {}, {}, /*keep_trace=*/false);
    std::vector<Address> sources;
    for (std::uint16_t i = 0; i < 1000; ++i) {
        sources.push_back(Address::ipv4(172, 16, static_cast<std::uint8_t>(i >> 8U),
                                        static_cast<std::uint8_t>(i & 0xFFU), 40000));
    }
    // 1,000,000 requests: 500 every 0.5 ms = 1,000,000 per second of virtual time.
    Flooder flood(sources, p.b.address(), p.b.dht_key(), 1'000'000, std::chrono::microseconds{500},
                  p.sim.now());
    const NodeId idf = p.sim.add_node(flood, sources);
    (void)idf;
    const Instant start = p.sim.now();
    p.sim.at(start + std::chrono::milliseconds{200}, [&] { p.connect_a_to_b(); });
    auto r = p.sim.run_until([&] { return p.both_established(); },
                             start + std::chrono::milliseconds{200} + std::chrono::seconds{2});
    ASSERT_TRUE(r) << r << " flood sent " << flood.sent;
    const double took =
        std::chrono::duration<double>(p.sim.now() - start - std::chrono::milliseconds{200}).count();
    // Let the whole flood arrive, then look at what it cost.
    ASSERT_TRUE(p.sim.run_for(std::chrono::seconds{1}));
    const auto& st = p.b.endpoint().stats();
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
