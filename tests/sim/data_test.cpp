// Acceptance of "Reliable and lossy data" in the deterministic simulator:
//   1. 16 MiB each way at once, byte-exact, in order, exactly once, on clean and hostile links;
//   2. goodput on a 100 Mbit/s, 20 ms path (clean, 1 % loss) and fairness of two flows through
//      one shared bottleneck;
//   3. REQUEST end to end (the spec's examples, including the 255-gap case) and the nonce
//      window of wire.md §5 (far-future, old, +50000 jump, replay);
//   4. a sender faster than the receiving application stays within the buffer bounds, heap
//      included;
//   and lossy messages: best effort, intact, never resent, outside the lossless stream.
// Under a sanitizer (NETCRYPTO_SANITIZE builds) the transfers are smaller and the measuring
// windows shorter; the assertions are the same.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/endpoint.hpp>

#include "core/wire/constants.hpp"
#include "sim/endpoint_node.hpp"
#include "sim/fake_peer.hpp"
#include "sim/heap_counter.hpp"
#include "sim/pair.hpp"
#include "sim/simulator.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define NETCRYPTO_DATA_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NETCRYPTO_DATA_TEST_SANITIZED 1
#endif
#endif

namespace netcrypto::sim {
namespace {

using namespace std::chrono_literals;

#ifdef NETCRYPTO_DATA_TEST_SANITIZED
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

constexpr std::uint8_t kCustomId = 160;
/// Message layout: [160][message index, BE32][stream bytes].
constexpr std::size_t kHeader = 5;
constexpr std::size_t kChunk = kMaxMessageSize - kHeader;

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

/// FNV-1a, fed incrementally.
struct Fnv {
    std::uint64_t h = 1469598103934665603ULL;
    void add(std::span<const std::uint8_t> bytes) {
        for (const auto b : bytes) {
            h ^= b;
            h *= 1099511628211ULL;
        }
    }
};

/// Byte `offset` of the deterministic stream `seed`.
std::uint8_t stream_byte(std::uint64_t seed, std::uint64_t offset) {
    std::uint64_t state = seed ^ ((offset >> 3U) * 0x9E3779B97F4A7C15ULL);
    return static_cast<std::uint8_t>(splitmix64(state) >> (8U * (offset & 7U)));
}

/// One direction of a bulk transfer between two endpoints: the sending application pushes a
/// stream of custom lossless messages as fast as send_lossless accepts them (backpressure:
/// kWouldBlock, resumed on kWritable / kAcked), the receiving application checks every byte,
/// the message order and the hash.
class Flow {
  public:
    /// `tx` is the connection on the sender's endpoint, `rx` the same connection on the
    /// receiver's endpoint.
    Flow(Endpoint& sender, ConnectionId tx, ConnectionId rx, std::uint64_t total,
         std::uint64_t seed)
        : sender_(sender), id_(tx), rx_(rx), total_(total), seed_(seed) {}

    /// Sends until the stream is done or the endpoint would block.
    void pump(Instant now) {
        std::array<std::uint8_t, kMaxMessageSize> msg{};
        while (sent_ < total_) {
            const auto n =
                static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, total_ - sent_));
            msg[0] = kCustomId;
            for (std::size_t i = 0; i < 4; ++i) {
                msg[1 + i] = static_cast<std::uint8_t>(sent_messages_ >> (8U * (3 - i)));
            }
            for (std::size_t i = 0; i < n; ++i) msg[kHeader + i] = stream_byte(seed_, sent_ + i);
            const auto r = sender_.send_lossless(
                now, id_, std::span<const std::uint8_t>(msg).first(n + kHeader));
            if (!r) {
                ++would_block_;
                EXPECT_EQ(r.error(), Error::kWouldBlock);
                return;
            }
            tx_hash_.add(std::span<const std::uint8_t>(msg).subspan(kHeader, n));
            sent_ += n;
            ++sent_messages_;
        }
    }

    /// The receiving application got `m`.
    void receive(Instant now, std::span<const std::uint8_t> m) {
        if (m.size() <= kHeader || m[0] != kCustomId) {
            ++errors_;
            return;
        }
        std::uint32_t index = 0;
        for (std::size_t i = 0; i < 4; ++i) index = (index << 8U) | m[1 + i];
        if (index != received_messages_) ++errors_;  // reordered, duplicated or lost
        const auto payload = m.subspan(kHeader);
        for (std::size_t i = 0; i < payload.size(); ++i) {
            if (payload[i] != stream_byte(seed_, received_ + i)) {
                ++errors_;
                break;
            }
        }
        rx_hash_.add(payload);
        received_ += payload.size();
        message_bytes_ += m.size();
        ++received_messages_;
        if (received_ > total_) ++errors_;
        if (received_ == total_) finished_at_ = now;
    }

    [[nodiscard]] bool done() const { return received_ >= total_; }
    [[nodiscard]] bool hashes_match() const { return tx_hash_.h == rx_hash_.h; }
    [[nodiscard]] std::uint64_t received() const { return received_; }
    /// Message bytes delivered to the application (id and index included).
    [[nodiscard]] std::uint64_t message_bytes() const { return message_bytes_; }
    [[nodiscard]] std::uint64_t errors() const { return errors_; }
    [[nodiscard]] std::uint64_t would_block() const { return would_block_; }
    [[nodiscard]] std::optional<Instant> finished_at() const { return finished_at_; }
    [[nodiscard]] ConnectionId id() const { return id_; }
    [[nodiscard]] ConnectionId rx_id() const { return rx_; }

  private:
    Endpoint& sender_;
    ConnectionId id_;
    ConnectionId rx_;
    std::uint64_t total_;
    std::uint64_t seed_;
    std::uint64_t sent_ = 0;
    std::uint32_t sent_messages_ = 0;
    std::uint64_t received_ = 0;
    std::uint32_t received_messages_ = 0;
    std::uint64_t message_bytes_ = 0;
    std::uint64_t errors_ = 0;
    std::uint64_t would_block_ = 0;
    Fnv tx_hash_;
    Fnv rx_hash_;
    std::optional<Instant> finished_at_;
};

/// Routes a node's events to the flows it sends and receives (either list may be empty).
void wire_node(Simulator& sim, EndpointNode& node, std::vector<Flow*> outgoing,
               std::vector<Flow*> incoming) {
    node.record_events = false;
    node.on_event = [outgoing](Instant now, const Event& e) {
        if (!e.is<Writable>() && !e.is<Acked>()) return;
        for (Flow* f : outgoing) {
            if (f->id() == e.connection()) f->pump(now);
        }
    };
    node.on_lossless = [&sim, incoming](ConnectionId id, std::span<const std::uint8_t> m) {
        for (Flow* f : incoming) {
            if (f->rx_id() == id) f->receive(sim.now(), m);
        }
    };
}

ConnectionId established_id(EndpointNode& node, const EndpointNode& peer) {
    const auto id = node.endpoint().find(peer.key());
    EXPECT_TRUE(id.has_value());
    return id.value_or(ConnectionId{});
}

std::string drops_of(const Endpoint& ep) {
    std::string out;
    for (std::size_t r = 0; r < netcrypto::kDropReasonCount; ++r) {
        const auto n = ep.stats().dropped[r];
        if (n == 0) continue;
        out += ' ';
        out += to_string(static_cast<netcrypto::DropReason>(r));
        out += '=';
        out += std::to_string(n);
    }
    return out.empty() ? " none" : out;
}

// --- 1. 16 MiB each way ------------------------------------------------------------------------

struct BulkCase {
    const char* name;
    LinkConfig link;
};

LinkConfig base_link() {
    LinkConfig l;
    l.delay = 10ms;
    l.bandwidth_bps = 100'000'000;
    l.queue_limit_bytes = 250'000;  // one bandwidth-delay product
    return l;
}

std::vector<BulkCase> bulk_cases() {
    std::vector<BulkCase> cases;
    cases.push_back({"clean", base_link()});
    LinkConfig loss5 = base_link();
    loss5.loss_probability = 0.05;
    cases.push_back({"loss5", loss5});
    LinkConfig hostile = base_link();
    hostile.delay = 5ms;
    hostile.jitter = 10ms;  // twice the delay: heavy reordering
    hostile.loss_probability = 0.20;
    hostile.duplicate_probability = 0.05;
    hostile.reorder_probability = 0.05;
    hostile.reorder_delay = 10ms;
    cases.push_back({"loss20_dup5_reorder", hostile});
    LinkConfig corrupt = base_link();
    corrupt.corrupt_probability = 0.01;
    cases.push_back({"corrupt1", corrupt});
    return cases;
}

class Bulk : public ::testing::TestWithParam<BulkCase> {};
INSTANTIATE_TEST_SUITE_P(Links, Bulk, ::testing::ValuesIn(bulk_cases()),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST_P(Bulk, SixteenMiBEachWayArriveExactlyOnceInOrder) {
    const std::uint64_t total = kSanitized ? std::uint64_t{2} << 20U : std::uint64_t{16} << 20U;
    Pair p(21, GetParam().link, {}, {}, /*keep_trace=*/false);
    const ConnectionId ida = p.connect_a_to_b();
    ASSERT_TRUE(p.run_until_established());
    const ConnectionId idb = established_id(p.b, p.a);
    Flow ab(p.a.endpoint(), ida, idb, total, 0xA0B0);
    Flow ba(p.b.endpoint(), idb, ida, total, 0xB0A0);
    wire_node(p.sim, p.a, {&ab}, {&ba});
    wire_node(p.sim, p.b, {&ba}, {&ab});
    const Instant start = p.sim.now();
    ab.pump(start);
    ba.pump(start);
    p.sim.wake(p.ida);
    p.sim.wake(p.idb);
    const auto r =
        p.sim.run_until([&] { return ab.done() && ba.done(); }, start + std::chrono::seconds{300});
    ASSERT_TRUE(r) << r << " a->b " << ab.received() << " b->a " << ba.received();
    // Nothing more may arrive: exactly once.
    ASSERT_TRUE(p.sim.run_for(2s));
    for (const Flow* f : {&ab, &ba}) {
        EXPECT_EQ(f->received(), total);
        EXPECT_EQ(f->errors(), 0U) << "reordered, duplicated, lost or altered bytes";
        EXPECT_TRUE(f->hashes_match());
    }
    const auto ia = p.a.endpoint().info(ida);
    const auto ib = p.b.endpoint().info(idb);
    ASSERT_TRUE(ia && ib);
    const auto link = p.sim.link_stats(p.ida, p.idb);
    std::printf(
        "[bulk %s] %llu MiB each way: a->b %.3f s, b->a %.3f s virtual; retransmissions "
        "a %llu b %llu; link a->b sent %llu dropped %llu dup %llu corrupt %llu; cwnd a %llu "
        "b %llu; drops A:%s B:%s\n",
        GetParam().name, static_cast<unsigned long long>(total >> 20U),
        seconds(*ab.finished_at() - start), seconds(*ba.finished_at() - start),
        static_cast<unsigned long long>(ia->stats.retransmissions),
        static_cast<unsigned long long>(ib->stats.retransmissions),
        static_cast<unsigned long long>(link.sent),
        static_cast<unsigned long long>(link.dropped_total()),
        static_cast<unsigned long long>(link.duplicated),
        static_cast<unsigned long long>(link.corrupted),
        static_cast<unsigned long long>(ia->congestion_window),
        static_cast<unsigned long long>(ib->congestion_window), drops_of(p.a.endpoint()).c_str(),
        drops_of(p.b.endpoint()).c_str());
    if (GetParam().link.corrupt_probability > 0) {
        EXPECT_GT(p.b.endpoint().stats().drops(netcrypto::DropReason::kBadTag), 0U)
            << "corrupted datagrams fail authentication";
    }
}

// --- 2. goodput and fairness ---------------------------------------------------------------------

constexpr double kCapacityBytesPerSecond = 100'000'000 / 8.0;

/// Goodput (message bytes delivered to the application per second) of a single flow on a
/// 100 Mbit/s path with 20 ms RTT, over [1 s, end) after establishment.
double single_flow_goodput(double loss, Duration end, std::uint64_t seed) {
    LinkConfig link = base_link();
    link.loss_probability = loss;
    Pair p(seed, link, {}, {}, /*keep_trace=*/false);
    const ConnectionId ida = p.connect_a_to_b();
    EXPECT_TRUE(p.run_until_established());
    const ConnectionId idb = established_id(p.b, p.a);
    Flow ab(p.a.endpoint(), ida, idb, std::uint64_t{1} << 40U, 0x600D);
    wire_node(p.sim, p.a, {&ab}, {});
    wire_node(p.sim, p.b, {}, {&ab});
    const Instant start = p.sim.now();
    ab.pump(start);
    p.sim.wake(p.ida);
    EXPECT_TRUE(p.sim.run_until(start + 1s));
    const std::uint64_t at1 = ab.message_bytes();
    EXPECT_TRUE(p.sim.run_until(start + end));
    const std::uint64_t at_end = ab.message_bytes();
    EXPECT_EQ(ab.errors(), 0U);
    const double goodput = static_cast<double>(at_end - at1) / seconds(end - 1s);
    const auto info = p.a.endpoint().info(ida);
    std::printf(
        "[goodput] loss %.2f: %.1f Mbit/s = %.1f %% of 100 Mbit/s over seconds 1-%.0f; cwnd "
        "%llu, srtt %.1f ms, retransmissions %llu\n",
        loss, goodput * 8 / 1e6, 100.0 * goodput / kCapacityBytesPerSecond, seconds(end),
        static_cast<unsigned long long>(info->congestion_window),
        seconds(info->smoothed_rtt) * 1000,
        static_cast<unsigned long long>(info->stats.retransmissions));
    return goodput / kCapacityBytesPerSecond;
}

TEST(Goodput, CleanHundredMbitTwentyMsAtLeast85Percent) {
    EXPECT_GE(single_flow_goodput(0.0, kSanitized ? 3s : 6s, 31), 0.85);
}

TEST(Goodput, OnePercentRandomLossAtLeast50Percent) {
    EXPECT_GE(single_flow_goodput(0.01, kSanitized ? 3s : 6s, 32), 0.50);
}

TEST(Goodput, TwoFlowsThroughOneBottleneckShareFairly) {
    // Two clients upload to one server; both client->server links and both server->client
    // links form one shared bottleneck each (100 Mbit/s, one BDP of queue, 10 ms each way).
    Simulator sim(SimConfig{.seed = 41, .default_link = base_link(), .keep_trace = false});
    const Address server_addr = Address::ipv4(10, 0, 1, 1, 33445);
    const Address c1_addr = Address::ipv4(10, 0, 2, 1, 33445);
    const Address c2_addr = Address::ipv4(10, 0, 2, 2, 33445);
    EndpointConfig server_cfg;
    server_cfg.accept_all = true;
    EndpointNode server(83, server_addr, sim.now(), server_cfg);
    EndpointNode c1(84, c1_addr, sim.now());
    EndpointNode c2(85, c2_addr, sim.now());
    sim.add_node(server, {server_addr});
    const NodeId id1 = sim.add_node(c1, {c1_addr});
    const NodeId id2 = sim.add_node(c2, {c2_addr});
    sim.share_bottleneck({{c1_addr, server_addr}, {c2_addr, server_addr}});
    sim.share_bottleneck({{server_addr, c1_addr}, {server_addr, c2_addr}});

    const auto conn1 =
        c1.endpoint().connect(sim.now(), server.key(), server.dht_key(), server_addr);
    const auto conn2 =
        c2.endpoint().connect(sim.now(), server.key(), server.dht_key(), server_addr);
    ASSERT_TRUE(conn1 && conn2);
    sim.wake(id1);
    sim.wake(id2);
    ASSERT_TRUE(sim.run_until(
        [&] {
            return c1.status_of(server.key()) == Status::kEstablished &&
                   c2.status_of(server.key()) == Status::kEstablished &&
                   server.status_of(c1.key()) == Status::kEstablished &&
                   server.status_of(c2.key()) == Status::kEstablished;
        },
        sim.now() + 5s));
    const ConnectionId s1 = established_id(server, c1);
    const ConnectionId s2 = established_id(server, c2);
    Flow f1(c1.endpoint(), *conn1, s1, std::uint64_t{1} << 40U, 0xF1);
    Flow f2(c2.endpoint(), *conn2, s2, std::uint64_t{1} << 40U, 0xF2);
    wire_node(sim, c1, {&f1}, {});
    wire_node(sim, c2, {&f2}, {});
    wire_node(sim, server, {}, {&f1, &f2});
    const Instant start = sim.now();
    f1.pump(start);
    f2.pump(start);
    sim.wake(id1);
    sim.wake(id2);
    const Duration from = 2s;
    const Duration to = kSanitized ? 5s : 10s;
    ASSERT_TRUE(sim.run_until(start + from));
    const std::uint64_t b1 = f1.message_bytes();
    const std::uint64_t b2 = f2.message_bytes();
    ASSERT_TRUE(sim.run_until(start + to));
    const double g1 = static_cast<double>(f1.message_bytes() - b1);
    const double g2 = static_cast<double>(f2.message_bytes() - b2);
    const double share1 = g1 / (g1 + g2);
    const double window = seconds(to - from);
    std::printf(
        "[fairness] two flows, shared 100 Mbit/s bottleneck, seconds %.0f-%.0f: flow 1 %.1f "
        "Mbit/s, flow 2 %.1f Mbit/s; shares %.1f %% / %.1f %%; total %.1f %% of capacity\n",
        seconds(from), seconds(to), g1 * 8 / window / 1e6, g2 * 8 / window / 1e6, 100 * share1,
        100 * (1 - share1), 100 * (g1 + g2) / window / kCapacityBytesPerSecond);
    EXPECT_EQ(f1.errors() + f2.errors(), 0U);
    EXPECT_GE(share1, 0.35);
    EXPECT_LE(share1, 0.65);
    EXPECT_GE((g1 + g2) / window / kCapacityBytesPerSecond, 0.70) << "the flows must fill the path";
}

// --- 3. REQUEST end to end; nonce window
// -----------------------------------------------------------

/// A server endpoint driven by hand and a FakePeer that completed a handshake with it; the
/// fake peer's first data packet (an empty REQUEST, nonce counter 0) established it.
struct FakeSession {
    SeededRng rng{0xFA4E};
    Instant now = instant_from_ms(5'000'000);
    Endpoint server;
    FakePeer peer{0x1234};
    Address from = Address::ipv4(10, 9, 9, 9, 40000);
    ConnectionId id;
    std::array<std::uint8_t, kMaxDatagramSize> buf{};
    std::vector<FakePeer::OpenedData> opened;          ///< the server's data packets, opened
    std::vector<std::vector<std::uint8_t>> delivered;  ///< what the server application read

    static EndpointConfig config() {
        EndpointConfig cfg;
        cfg.accept_all = true;
        return cfg;
    }

    FakeSession() : server(KeyPair::generate(rng), KeyPair::generate(rng), rng, now, config()) {}

    bool open() {
        const Bytes hs = peer.handshake_to(server, now, from);
        if (hs.empty()) return false;
        server.handle_datagram(now, from, hs);
        bool learnt = false;
        while (auto out = server.poll_transmit(now, buf)) {
            if (out->size == wire::kHandshakeSize) {
                learnt =
                    peer.take_handshake(now, server.public_key(), std::span(buf).first(out->size));
            }
        }
        if (!learnt) return false;
        const std::array<std::uint8_t, 1> request{1};
        deliver(peer.data(request));
        const auto found = server.find(peer.key());
        if (!found) return false;
        id = *found;
        return server.info(id)->status == Status::kEstablished;
    }

    /// Hands `packet` to the server, then drains its datagrams (opening data packets) and
    /// events (reading everything, as an application would).
    void deliver(std::span<const std::uint8_t> packet) {
        server.handle_datagram(now, from, packet);
        drain();
    }

    void drain() {
        for (;;) {
            while (auto out = server.poll_transmit(now, buf)) {
                const auto bytes = std::span<const std::uint8_t>(buf).first(out->size);
                if (!bytes.empty() && bytes[0] == wire::kDataType) {
                    if (auto d = peer.open_data(bytes)) opened.push_back(std::move(*d));
                }
            }
            bool any = false;
            while (auto e = server.poll_event()) {
                const auto* r = e->get_if<Readable>();
                if (r == nullptr) continue;
                std::array<std::uint8_t, kMaxMessageSize> msg{};
                while (auto n = server.read_lossless(now, r->connection, msg)) {
                    if (*n == 0) break;
                    delivered.emplace_back(msg.begin(),
                                           msg.begin() + static_cast<std::ptrdiff_t>(*n));
                    any = true;
                }
            }
            if (!any) break;  // reading may have queued a REQUEST: loop once more
        }
    }

    /// REQUESTs (id 1) among the opened packets, from index `first` on.
    [[nodiscard]] std::vector<FakePeer::OpenedData> requests(std::size_t first = 0) const {
        std::vector<FakePeer::OpenedData> out;
        for (std::size_t i = first; i < opened.size(); ++i) {
            if (!opened[i].message.empty() && opened[i].message[0] == 1) out.push_back(opened[i]);
        }
        return out;
    }
};

Bytes custom(std::uint32_t number) {
    return Bytes{kCustomId, static_cast<std::uint8_t>(number >> 8U),
                 static_cast<std::uint8_t>(number)};
}

TEST(RequestEndToEnd, HolesAreEncodedAsTheSpecSaysIncludingThe255Gap) {
    FakeSession fs;
    ASSERT_TRUE(fs.open());
    // wire.md §6.4 worked example 2: numbers 0..303 sent, 2 and 302 withheld. The receiver's
    // r_start stays at 2; its REQUEST must be 01 01 00 2d with ack 2.
    std::size_t mark = 0;
    for (std::uint32_t n = 0; n <= 303; ++n) {
        if (n == 2 || n == 302) continue;
        if (n == 3) mark = fs.opened.size();
        fs.deliver(fs.peer.data(custom(n), 0, n));
        if (n == 3) {
            // Example 3: one hole at r_start, reported at once (a gap triggers a REQUEST).
            const auto reqs = fs.requests(mark);
            ASSERT_FALSE(reqs.empty()) << "no REQUEST right after the gap at 2";
            EXPECT_EQ(reqs.back().message, (Bytes{0x01, 0x01}));
            EXPECT_EQ(reqs.back().ack, 2U);
        }
    }
    const auto all = fs.requests();
    ASSERT_FALSE(all.empty());
    EXPECT_EQ(all.back().message, (Bytes{0x01, 0x01, 0x00, 0x2d}))
        << "example 2: request 2, skip 255, request 302";
    EXPECT_EQ(all.back().ack, 2U);
    EXPECT_EQ(all.back().number, 0U) << "num = the server's own send end (it sent nothing)";
    ASSERT_EQ(fs.delivered.size(), 2U) << "0 and 1 delivered, the rest waits for 2";

    // Repair: 2 releases 3..301, 302 the rest; the next REQUEST is the bare ack.
    const std::size_t before = fs.opened.size();
    fs.deliver(fs.peer.data(custom(2), 0, 2));
    fs.deliver(fs.peer.data(custom(302), 0, 302));
    ASSERT_EQ(fs.delivered.size(), 304U);
    for (std::uint32_t n = 0; n < 304; ++n) ASSERT_EQ(fs.delivered[n], custom(n)) << n;
    // Reading all 304 queues acknowledgements; force the timer so the final state shows.
    fs.now += 10ms;
    fs.server.handle_timeout(fs.now);
    fs.drain();
    const auto after = fs.requests(before);
    ASSERT_FALSE(after.empty());
    EXPECT_EQ(after.back().message, (Bytes{0x01})) << "nothing missing";
    EXPECT_EQ(after.back().ack, 304U);
}

TEST(RequestEndToEnd, WithheldPacketsAreRequestedAndResent) {
    Pair p(51);
    const ConnectionId ida = p.connect_a_to_b();
    ASSERT_TRUE(p.run_until_established());
    // Drop the first transmission of lossless numbers 2 and 302. The filter runs right after
    // A produced the datagram, so A's counters say what it is: a new lossless_sent means the
    // first transmission of number lossless_sent - 1.
    std::uint64_t seen_first = 0;
    std::uint64_t seen_resent = 0;
    std::vector<std::uint64_t> dropped;
    std::vector<Instant> resent_at;
    p.sim.add_filter([&](const Packet& pk) {
        if (pk.from != p.a.address() || pk.bytes.empty() || pk.bytes[0] != wire::kDataType) {
            return FilterAction::pass();
        }
        const auto st = p.a.endpoint().info(ida)->stats;
        if (st.retransmissions != seen_resent) {
            seen_resent = st.retransmissions;
            resent_at.push_back(pk.sent_at);
        }
        if (st.lossless_sent != seen_first) {
            seen_first = st.lossless_sent;
            const std::uint64_t number = seen_first - 1;
            if (number == 2 || number == 302) {
                dropped.push_back(number);
                return FilterAction::drop();
            }
        }
        return FilterAction::pass();
    });
    std::vector<Bytes> got;
    p.b.on_lossless = [&](ConnectionId, std::span<const std::uint8_t> m) {
        got.emplace_back(m.begin(), m.end());
    };
    for (std::uint32_t n = 0; n < 304; ++n) {
        ASSERT_TRUE(p.a.endpoint().send_lossless(p.sim.now(), ida, custom(n)));
    }
    p.sim.wake(p.ida);
    const Instant start = p.sim.now();
    ASSERT_TRUE(p.sim.run_until([&] { return got.size() == 304; }, start + 5s));
    const double took = seconds(p.sim.now() - start);
    ASSERT_TRUE(p.sim.run_for(1s));
    EXPECT_EQ(dropped, (std::vector<std::uint64_t>{2, 302}));
    ASSERT_EQ(got.size(), 304U);
    for (std::uint32_t n = 0; n < 304; ++n) ASSERT_EQ(got[n], custom(n)) << n;
    const auto ia = p.a.endpoint().info(ida);
    EXPECT_EQ(ia->stats.retransmissions, 2U) << "exactly the two withheld packets were resent";
    EXPECT_EQ(ia->send_buffer_start, 304U) << "everything acknowledged";
    EXPECT_GT(ia->stats.requests_received, 0U);
    std::printf(
        "[request e2e] 304 packets, 2 withheld: all delivered after %.1f ms virtual; "
        "REQUESTs from B %llu\n",
        took * 1000, static_cast<unsigned long long>(ia->stats.requests_received));
    // 20 ms RTT: the repair of 302 costs about one more round trip after its gap is seen.
    EXPECT_LT(took, 0.5);
}

/// Everything a dropped packet must leave untouched.
struct Snapshot {
    ConnectionInfo info;
    std::uint64_t data_packets = 0;
    std::size_t delivered = 0;
    std::size_t opened = 0;

    static Snapshot of(FakeSession& fs) {
        return {*fs.server.info(fs.id), fs.server.stats().data_packets_received,
                fs.delivered.size(), fs.opened.size()};
    }
    void expect_same(const Snapshot& o, const char* what) const {
        EXPECT_EQ(info.stats.packets_received, o.info.stats.packets_received) << what;
        EXPECT_EQ(info.recv_buffered_bytes, o.info.recv_buffered_bytes) << what;
        EXPECT_EQ(info.send_buffer_start, o.info.send_buffer_start) << what;
        EXPECT_EQ(info.send_buffer_end, o.info.send_buffer_end) << what;
        EXPECT_EQ(info.status, o.info.status) << what;
        EXPECT_EQ(delivered, o.delivered) << what;
        EXPECT_EQ(opened, o.opened) << what << ": the drop made the server send something";
    }
};

TEST(NonceWindow, FarFutureOldAndReplayedAreDroppedAJumpOf50000IsAccepted) {
    FakeSession fs;
    ASSERT_TRUE(fs.open());  // nonce counter 0 used
    // Packets are sealed in nonce order (a FakePeer never goes back), then delivered in the
    // order the test needs. Counters: old 1, mid 30000, probe 42000, jump 50000, far beyond.
    const Bytes old_packet = fs.peer.data(custom(9), 0, 9);  // counter 1
    fs.peer.skip_nonces(30000 - 2);
    const Bytes mid_packet = fs.peer.data(custom(9), 0, 9);  // 30000
    fs.peer.skip_nonces(42000 - 30001);
    const Bytes probe_packet = fs.peer.data(custom(1), 0, 1);  // 42000
    fs.peer.skip_nonces(50000 - 42001);
    const Bytes jump_packet = fs.peer.data(custom(0), 0, 0);  // 50000
    // After the jump the server's window base is 21845 (it advanced once, by 21845), so it can
    // decrypt [21845, 87380]. 21845 + 65536 + 50000: its low 16 bits look like offset 50000.
    fs.peer.skip_nonces(21845 + 65536 + 50000 - 50001);
    const Bytes far_packet = fs.peer.data(custom(9), 0, 9);

    const auto& st = fs.server.stats();
    auto drops = [&](netcrypto::DropReason r) { return st.drops(r); };

    // +50000: accepted (spec: verified live) and delivered.
    fs.deliver(jump_packet);
    ASSERT_EQ(fs.delivered.size(), 1U) << "the +50000 jump must be accepted";
    EXPECT_EQ(fs.delivered[0], custom(0));

    // Far future (> window base + 65535): fails authentication with the nonce it maps to.
    {
        const Snapshot before = Snapshot::of(fs);
        const auto bad_tag = drops(netcrypto::DropReason::kBadTag);
        fs.deliver(far_packet);
        EXPECT_EQ(drops(netcrypto::DropReason::kBadTag), bad_tag + 1) << "far-future nonce";
        Snapshot::of(fs).expect_same(before, "far-future nonce");
    }
    // Old (below the window base 21845): maps past the newest and fails authentication.
    {
        const Snapshot before = Snapshot::of(fs);
        const auto bad_tag = drops(netcrypto::DropReason::kBadTag);
        fs.deliver(old_packet);
        EXPECT_EQ(drops(netcrypto::DropReason::kBadTag), bad_tag + 1) << "old nonce";
        Snapshot::of(fs).expect_same(before, "old nonce");
    }
    // Inside the decryptable window but older than the replay window (8128 behind the newest):
    // refused before decryption.
    {
        const Snapshot before = Snapshot::of(fs);
        const auto stale = drops(netcrypto::DropReason::kStaleNonce);
        fs.deliver(mid_packet);
        EXPECT_EQ(drops(netcrypto::DropReason::kStaleNonce), stale + 1)
            << "nonce behind the replay window";
        Snapshot::of(fs).expect_same(before, "stale nonce");
    }
    // Replay of the accepted jump packet: dropped and counted.
    {
        const Snapshot before = Snapshot::of(fs);
        const auto replayed = drops(netcrypto::DropReason::kReplayedData);
        fs.deliver(jump_packet);
        EXPECT_EQ(drops(netcrypto::DropReason::kReplayedData), replayed + 1)
            << "replayed data packet";
        Snapshot::of(fs).expect_same(before, "replay");
    }
    // None of the drops moved the window: 42000 lies below 43690 (where a wrongly advanced
    // base would be) and inside the replay window, so it is still accepted.
    fs.deliver(probe_packet);
    ASSERT_EQ(fs.delivered.size(), 2U) << "the window base moved on a dropped packet";
    EXPECT_EQ(fs.delivered[1], custom(1));
}

// --- lossy messages ------------------------------------------------------------------------------

TEST(Lossy, BestEffortIntactNeverResentAndOutsideTheLosslessStream) {
    LinkConfig link;
    link.delay = 5ms;
    link.jitter = 10ms;  // reorders
    link.loss_probability = 0.10;
    Pair p(71, link);
    const ConnectionId ida = p.connect_a_to_b();
    ASSERT_TRUE(p.run_until_established());
    const std::array<std::uint8_t, 3> wrong_id{kCustomId, 1, 2};
    EXPECT_EQ(p.a.endpoint().send_lossy(p.sim.now(), ida, wrong_id).error(), Error::kInvalidMessage)
        << "160 is a lossless id";
    constexpr int kCount = 500;
    for (int i = 0; i < kCount; ++i) {
        std::vector<std::uint8_t> m(1000);
        m[0] = 200;
        m[1] = static_cast<std::uint8_t>(i >> 8);
        m[2] = static_cast<std::uint8_t>(i);
        for (std::size_t k = 3; k < m.size(); ++k) {
            m[k] = stream_byte(0x1055, (static_cast<std::uint64_t>(i) * 1000) + k);
        }
        ASSERT_TRUE(p.a.endpoint().send_lossy(p.sim.now(), ida, m));
        p.sim.wake(p.ida);
        ASSERT_TRUE(p.sim.run_for(1ms));
    }
    ASSERT_TRUE(p.sim.run_for(1s));
    std::vector<int> seen(kCount, 0);
    bool reordered = false;
    int last = -1;
    for (const auto& m : p.b.received_lossy) {
        ASSERT_EQ(m.size(), 1000U);
        ASSERT_EQ(m[0], 200);
        const int i = (m[1] << 8) | m[2];
        ASSERT_LT(i, kCount);
        for (std::size_t k = 3; k < m.size(); ++k) {
            ASSERT_EQ(m[k], stream_byte(0x1055, (static_cast<std::uint64_t>(i) * 1000) + k));
        }
        ++seen[static_cast<std::size_t>(i)];
        reordered = reordered || i < last;
        last = i;
    }
    const auto arrived = std::count_if(seen.begin(), seen.end(), [](int n) { return n > 0; });
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n <= 1; }))
        << "no duplicates on a link that does not duplicate";
    EXPECT_GE(arrived, kCount * 80 / 100);
    EXPECT_LT(arrived, kCount) << "10 % loss: some must be missing (they are never resent)";
    EXPECT_TRUE(reordered) << "lossy messages are handed over as they arrive";
    const auto ia = p.a.endpoint().info(ida);
    EXPECT_EQ(ia->stats.lossy_sent, static_cast<std::uint64_t>(kCount));
    EXPECT_EQ(ia->stats.lossless_sent, 0U);
    EXPECT_EQ(ia->stats.retransmissions, 0U);
    EXPECT_TRUE(p.b.received.empty()) << "nothing entered the lossless stream";
    std::printf("[lossy] %d of %d lossy messages arrived intact over 10 %% loss, reordered\n",
                static_cast<int>(arrived), kCount);
}

// --- 4. a fast sender and a slow reader stay within the buffer bounds ----------------------------

TEST(Backpressure, FastSenderSlowReaderStaysWithinBufferBoundsAndHeap) {
    EndpointConfig cfg;
    cfg.send_buffer_bytes = 512 * 1024;
    cfg.recv_buffer_bytes = 512 * 1024;
    LinkConfig link;
    link.delay = 2ms;
    link.bandwidth_bps = 20'000'000;
    link.queue_limit_bytes = 16'000;  // the network itself holds little
    Pair p(61, link, cfg, cfg, /*keep_trace=*/false);
    const ConnectionId ida = p.connect_a_to_b();
    ASSERT_TRUE(p.run_until_established());
    const ConnectionId idb = established_id(p.b, p.a);
    const std::uint64_t total = kSanitized ? std::uint64_t{2} << 20U : std::uint64_t{6} << 20U;
    Flow ab(p.a.endpoint(), ida, idb, total, 0x510);
    wire_node(p.sim, p.a, {&ab}, {});
    wire_node(p.sim, p.b, {}, {&ab});
    p.b.read_enabled = false;  // the receiving application is busy

    // Settle, then take the heap baseline (the simulator's own structures already exist).
    ASSERT_TRUE(p.sim.run_for(100ms));
    const std::int64_t heap_base = live_heap_bytes();
    const std::int64_t bound =
        static_cast<std::int64_t>(cfg.send_buffer_bytes + cfg.recv_buffer_bytes);
    const std::int64_t slack = 256 * 1024;
    std::int64_t heap_peak = 0;
    std::size_t send_peak = 0;
    std::size_t recv_peak = 0;
    std::uint64_t steps = 0;
    bool violated = false;
    const auto check = [&] {
        ++steps;
        const auto ia = p.a.endpoint().info(ida);
        const auto ib = p.b.endpoint().info(idb);
        send_peak = std::max(send_peak, ia->send_buffered_bytes);
        recv_peak = std::max(recv_peak, ib->recv_buffered_bytes);
        heap_peak = std::max(heap_peak, live_heap_bytes() - heap_base);
        if (ia->send_buffered_bytes > cfg.send_buffer_bytes ||
            ib->recv_buffered_bytes > cfg.recv_buffer_bytes || heap_peak > bound + slack) {
            violated = true;
        }
        return violated || ab.done();
    };

    const Instant start = p.sim.now();
    ab.pump(start);
    p.sim.wake(p.ida);
    // Two seconds without reading: the sender fills both buffers, then blocks.
    auto r = p.sim.run_until([&] { return check() && violated; }, start + 2s);
    ASSERT_FALSE(violated) << "send " << send_peak << " recv " << recv_peak << " heap "
                           << heap_peak;
    EXPECT_EQ(ab.received(), 0U);
    EXPECT_GT(ab.would_block(), 0U) << "the sender must have been held back";
    // Then a slow reader: 16 messages every 10 ms (about 2 MB/s, far below the link rate).
    std::function<void()> slow_read = [&] {
        std::array<std::uint8_t, kMaxMessageSize> msg{};
        for (int i = 0; i < 16; ++i) {
            const auto n = p.b.endpoint().read_lossless(p.sim.now(), idb, msg);
            if (!n || *n == 0) break;
            ab.receive(p.sim.now(), std::span<const std::uint8_t>(msg).first(*n));
        }
        p.sim.wake(p.idb);
        if (!ab.done()) p.sim.at(p.sim.now() + 10ms, slow_read);
    };
    p.sim.at(p.sim.now(), slow_read);
    r = p.sim.run_until(check, start + 120s);
    ASSERT_TRUE(r) << r << " received " << ab.received();
    ASSERT_FALSE(violated) << "send " << send_peak << " recv " << recv_peak << " heap "
                           << heap_peak;
    EXPECT_TRUE(ab.done());
    EXPECT_EQ(ab.errors(), 0U);
    EXPECT_TRUE(ab.hashes_match());
    std::printf(
        "[backpressure] %llu MiB through a 512 KiB send / 512 KiB receive budget: peaks send "
        "%zu, recv %zu bytes; heap above baseline %.1f KiB (bound %.0f KiB + %.0f KiB); %llu "
        "checks; done after %.2f s virtual\n",
        static_cast<unsigned long long>(total >> 20U), send_peak, recv_peak,
        static_cast<double>(heap_peak) / 1024, static_cast<double>(bound) / 1024,
        static_cast<double>(slack) / 1024, static_cast<unsigned long long>(steps),
        seconds(p.sim.now() - start));
    EXPECT_LE(send_peak, cfg.send_buffer_bytes);
    EXPECT_LE(recv_peak, cfg.recv_buffer_bytes);
    EXPECT_LE(heap_peak, bound + slack);
}

}  // namespace
}  // namespace netcrypto::sim
