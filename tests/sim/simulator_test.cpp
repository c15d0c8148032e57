// Tests of the network simulator itself, with toy nodes: a pinger, a receiver, an echo node, a
// retrying client and misbehaving nodes. The last scenario shows the intended use with two
// request/response endpoints over a lossy link.
#include "sim/simulator.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <functional>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace netcrypto::sim {
namespace {

using namespace std::chrono_literals;

Address host(std::uint8_t n) { return Address::ipv4(10, 0, 0, n, 33445); }

/// Expected count of `n` Bernoulli(p) trials within 5 standard deviations.
void expect_rate(std::uint64_t count, std::uint64_t n, double p) {
    const double mean = static_cast<double>(n) * p;
    const double tolerance = 5.0 * std::sqrt(mean * (1.0 - p)) + 1.0;
    EXPECT_NEAR(static_cast<double>(count), mean, tolerance) << "n=" << n << " p=" << p;
}

// --- toy nodes ----------------------------------------------------------------------------------

/// A node that never sends; records arrivals.
class Receiver : public Node {
  public:
    struct Arrival {
        Instant at;
        Address from;
        std::vector<std::uint8_t> bytes;
    };
    std::vector<Arrival> arrivals;

    void handle_datagram(Instant now, const Address& from,
                         std::span<const std::uint8_t> bytes) override {
        arrivals.push_back({now, from, {bytes.begin(), bytes.end()}});
    }
    std::optional<Outgoing> poll_transmit(Instant /*now*/) override { return std::nullopt; }
    [[nodiscard]] std::optional<Instant> next_timeout() const override { return std::nullopt; }
    void handle_timeout(Instant /*now*/) override {}
};

/// Sends `count` datagrams of `size` bytes to `peer`, one every `interval` from `first` (an
/// interval of 0 sends them all at once). Byte 0 is first_byte(seq), bytes 1-4 the sequence
/// number (big endian), the rest a pattern derived from all of it.
class Pinger : public Node {
  public:
    Pinger(Address self, Address peer, std::size_t count, Duration interval, std::size_t size,
           Instant first)
        : self_(self), peer_(peer), count_(count), interval_(interval), size_(size), next_(first) {}

    std::function<std::uint8_t(std::size_t)> first_byte = [](std::size_t) -> std::uint8_t {
        return 0x42;
    };

    [[nodiscard]] std::vector<std::uint8_t> payload(std::size_t seq) const {
        std::vector<std::uint8_t> bytes(std::max<std::size_t>(size_, 5), 0);
        bytes[0] = first_byte(seq);
        for (std::size_t i = 0; i < 4; ++i) {
            bytes[1 + i] = static_cast<std::uint8_t>(seq >> (8 * (3 - i)));
        }
        const std::uint64_t mixed = (seq + 1) * 0x9E3779B97F4A7C15ULL;  // every bit of seq counts
        for (std::size_t i = 5; i < bytes.size(); ++i) {
            bytes[i] = static_cast<std::uint8_t>((mixed >> ((i % 8) * 8)) + i);
        }
        bytes.resize(size_);
        return bytes;
    }
    static std::size_t seq_of(std::span<const std::uint8_t> bytes) {
        return std::size_t{bytes[1]} << 24U | std::size_t{bytes[2]} << 16U |
               std::size_t{bytes[3]} << 8U | bytes[4];
    }

    void handle_datagram(Instant /*now*/, const Address& /*from*/,
                         std::span<const std::uint8_t> /*bytes*/) override {}
    std::optional<Outgoing> poll_transmit(Instant /*now*/) override {
        if (outbox_.empty()) return std::nullopt;
        Outgoing out{self_, peer_, std::move(outbox_.front())};
        outbox_.pop_front();
        return out;
    }
    [[nodiscard]] std::optional<Instant> next_timeout() const override {
        if (sent_ == count_) return std::nullopt;
        return next_;
    }
    void handle_timeout(Instant now) override {
        while (sent_ < count_ && next_ <= now) {
            outbox_.push_back(payload(sent_++));
            next_ += interval_;
        }
    }

  private:
    Address self_;
    Address peer_;
    std::size_t count_;
    Duration interval_;
    std::size_t size_;
    Instant next_;
    std::size_t sent_ = 0;
    std::deque<std::vector<std::uint8_t>> outbox_;
};

/// Sends every datagram back to where it came from.
class Echo : public Node {
  public:
    explicit Echo(Address self) : self_(self) {}
    void handle_datagram(Instant /*now*/, const Address& from,
                         std::span<const std::uint8_t> bytes) override {
        outbox_.push_back({self_, from, {bytes.begin(), bytes.end()}});
    }
    std::optional<Outgoing> poll_transmit(Instant /*now*/) override {
        if (outbox_.empty()) return std::nullopt;
        Outgoing out = std::move(outbox_.front());
        outbox_.pop_front();
        return out;
    }
    [[nodiscard]] std::optional<Instant> next_timeout() const override { return std::nullopt; }
    void handle_timeout(Instant /*now*/) override {}

  private:
    Address self_;
    std::deque<Outgoing> outbox_;
};

// --- delivery and timing ------------------------------------------------------------------------

TEST(SimulatorDelivery, ArrivesExactlyAfterDelay) {
    Simulator sim;
    const Instant t0 = sim.now();
    Pinger pinger(host(1), host(2), 10, 100ms, 100, t0);
    Receiver receiver;
    const NodeId a = sim.add_node(pinger, {host(1)});
    const NodeId b = sim.add_node(receiver, {host(2)});
    LinkConfig link;
    link.delay = 25ms;
    sim.set_link(a, b, link);

    const RunResult r = sim.run_for(2s);
    ASSERT_TRUE(r) << r;
    EXPECT_EQ(r.status, RunStatus::kDeadlineReached);
    EXPECT_EQ(sim.now(), t0 + 2s);
    ASSERT_EQ(receiver.arrivals.size(), 10U);
    for (std::size_t i = 0; i < 10; ++i) {
        const auto& arrival = receiver.arrivals[i];
        EXPECT_EQ(arrival.at, t0 + static_cast<int>(i) * 100ms + 25ms) << "packet " << i;
        EXPECT_EQ(arrival.from, host(1));
        EXPECT_EQ(arrival.bytes, pinger.payload(i));
    }
    const LinkStats stats = sim.link_stats(a, b);
    EXPECT_EQ(stats.sent, 10U);
    EXPECT_EQ(stats.delivered, 10U);
    EXPECT_EQ(stats.bytes_delivered, 1000U);
    EXPECT_EQ(stats.dropped_total(), 0U);
}

TEST(SimulatorDelivery, SameInstantKeepsSendOrderAndEchoReturns) {
    Simulator sim;
    Pinger pinger(host(1), host(2), 5, 0s, 20, sim.now());
    Echo echo(host(2));
    sim.add_node(pinger, {host(1)});
    sim.add_node(echo, {host(2)});
    ASSERT_TRUE(sim.run_for(1s));
    // All five sent at the same instant arrive at the same instant in send order, and the
    // echoes come back one default delay (10 ms) later.
    const auto& trace = sim.trace();
    std::vector<TraceEntry> delivered;
    std::copy_if(trace.begin(), trace.end(), std::back_inserter(delivered),
                 [](const TraceEntry& e) { return e.fate == Fate::kDelivered; });
    ASSERT_EQ(delivered.size(), 10U);
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(delivered[i].to, host(2));
        EXPECT_EQ(delivered[i].time, sim.start() + 10ms);
        EXPECT_EQ(delivered[i].hash, hash_bytes(pinger.payload(i)));
        EXPECT_EQ(delivered[5 + i].to, host(1));
        EXPECT_EQ(delivered[5 + i].time, sim.start() + 20ms);
        EXPECT_EQ(delivered[5 + i].hash, hash_bytes(pinger.payload(i)));
    }
}

TEST(SimulatorDelivery, UnknownDestinationAndMtuAreDropped) {
    Simulator sim;
    LinkConfig link;
    link.mtu = 500;
    Pinger big(host(1), host(2), 3, 10ms, 501, sim.now());
    Pinger fits(host(3), host(2), 3, 10ms, 500, sim.now());
    Pinger lost(host(4), host(99), 3, 10ms, 10, sim.now());
    Receiver receiver;
    const NodeId a = sim.add_node(big, {host(1)});
    const NodeId c = sim.add_node(fits, {host(3)});
    sim.add_node(lost, {host(4)});
    const NodeId b = sim.add_node(receiver, {host(2)});
    sim.set_link(a, b, link);
    sim.set_link(c, b, link);
    ASSERT_TRUE(sim.run_for(1s));
    EXPECT_EQ(sim.link_stats(a, b).dropped_by(DropReason::kMtu), 3U);
    EXPECT_EQ(sim.link_stats(c, b).delivered, 3U);
    EXPECT_EQ(sim.link_stats(host(4), host(99)).dropped_by(DropReason::kNoRoute), 3U);
    EXPECT_EQ(receiver.arrivals.size(), 3U);
}

// --- bandwidth and queue ------------------------------------------------------------------------

TEST(SimulatorBandwidth, OneMegabyteOverTenMbitTakesPoint8Seconds) {
    Simulator sim;
    const Instant t0 = sim.now();
    Pinger pinger(host(1), host(2), 1000, 0s, 1000, t0);  // 1,000,000 bytes at once
    Receiver receiver;
    const NodeId a = sim.add_node(pinger, {host(1)});
    const NodeId b = sim.add_node(receiver, {host(2)});
    LinkConfig link;
    link.delay = 10ms;
    link.bandwidth_bps = 10'000'000;
    sim.set_link(a, b, link);

    ASSERT_TRUE(sim.run_for(5s));
    ASSERT_EQ(receiver.arrivals.size(), 1000U);
    // Each packet occupies the link for 800 us: the first arrives after 0.8 ms + delay, the
    // last after 800 ms + delay.
    EXPECT_EQ(receiver.arrivals.front().at, t0 + 800us + 10ms);
    const Duration last = receiver.arrivals.back().at - t0 - 10ms;
    EXPECT_NEAR(std::chrono::duration<double>(last).count(), 0.8, 0.001);
    EXPECT_EQ(sim.link_stats(a, b).bytes_delivered, 1'000'000U);
}

TEST(SimulatorBandwidth, SharedBottleneckSerializesBothLinks) {
    LinkConfig link;
    link.delay = 10ms;
    link.bandwidth_bps = 10'000'000;  // 800 us per 1000-byte packet
    for (const bool shared : {false, true}) {
        Simulator sim;
        Pinger p1(host(1), host(3), 500, 0s, 1000, sim.now());
        Pinger p2(host(2), host(3), 500, 0s, 1000, sim.now());
        Receiver receiver;
        const NodeId a = sim.add_node(p1, {host(1)});
        const NodeId b = sim.add_node(p2, {host(2)});
        const NodeId c = sim.add_node(receiver, {host(3)});
        sim.set_link(a, c, link);
        sim.set_link(b, c, link);
        if (shared) sim.share_bottleneck({{host(1), host(3)}, {host(2), host(3)}});
        const Instant t0 = sim.now();
        ASSERT_TRUE(sim.run_for(5s));
        ASSERT_EQ(receiver.arrivals.size(), 1000U);
        // Separate links carry 500 packets each in parallel (0.4 s); one shared transmitter
        // carries all 1000 one after the other (0.8 s).
        const double last =
            std::chrono::duration<double>(receiver.arrivals.back().at - t0 - 10ms).count();
        EXPECT_NEAR(last, shared ? 0.8 : 0.4, 0.001) << "shared " << shared;
        EXPECT_EQ(sim.link_stats(a, c).bytes_delivered, 500'000U);
        EXPECT_EQ(sim.link_stats(b, c).bytes_delivered, 500'000U);
    }
    {  // The queue is shared too: 10 places for both links' bursts.
        Simulator sim;
        Pinger p1(host(1), host(3), 50, 0s, 1000, sim.now());
        Pinger p2(host(2), host(3), 50, 0s, 1000, sim.now());
        Receiver receiver;
        const NodeId a = sim.add_node(p1, {host(1)});
        const NodeId b = sim.add_node(p2, {host(2)});
        const NodeId c = sim.add_node(receiver, {host(3)});
        link.queue_limit_packets = 10;
        sim.set_link(a, c, link);
        sim.set_link(b, c, link);
        sim.share_bottleneck({{host(1), host(3)}, {host(2), host(3)}});
        // Both bursts are offered at the first timer instant, p1's first.
        ASSERT_TRUE(sim.run_for(2s));
        EXPECT_EQ(receiver.arrivals.size(), 10U);
        EXPECT_EQ(sim.link_stats(a, c).dropped_by(DropReason::kQueue) +
                      sim.link_stats(b, c).dropped_by(DropReason::kQueue),
                  90U);
    }
}

TEST(SimulatorBandwidth, FullQueueTailDrops) {
    LinkConfig link;
    link.bandwidth_bps = 1'000'000;  // 8 ms per 1000-byte packet

    {  // A burst of 50 into a 10-packet queue: the first 10 pass, the rest are tail-dropped.
        Simulator sim;
        Pinger pinger(host(1), host(2), 50, 0s, 1000, sim.now());
        Receiver receiver;
        const NodeId a = sim.add_node(pinger, {host(1)});
        const NodeId b = sim.add_node(receiver, {host(2)});
        link.queue_limit_packets = 10;
        sim.set_link(a, b, link);
        ASSERT_TRUE(sim.run_for(2s));
        EXPECT_EQ(sim.link_stats(a, b).dropped_by(DropReason::kQueue), 40U);
        ASSERT_EQ(receiver.arrivals.size(), 10U);
        EXPECT_EQ(Pinger::seq_of(receiver.arrivals.back().bytes), 9U);
    }
    {  // The byte limit: 5000 bytes hold five packets.
        Simulator sim;
        Pinger pinger(host(1), host(2), 50, 0s, 1000, sim.now());
        Receiver receiver;
        const NodeId a = sim.add_node(pinger, {host(1)});
        const NodeId b = sim.add_node(receiver, {host(2)});
        link.queue_limit_packets = 0;
        link.queue_limit_bytes = 5000;
        sim.set_link(a, b, link);
        ASSERT_TRUE(sim.run_for(2s));
        EXPECT_EQ(sim.link_stats(a, b).dropped_by(DropReason::kQueue), 45U);
        EXPECT_EQ(receiver.arrivals.size(), 5U);
    }
    {  // Sending slower than the link drains the queue: a 1-packet queue never overflows.
        Simulator sim;
        Pinger pinger(host(1), host(2), 100, 9ms, 1000, sim.now());
        Receiver receiver;
        const NodeId a = sim.add_node(pinger, {host(1)});
        const NodeId b = sim.add_node(receiver, {host(2)});
        link.queue_limit_packets = 1;
        link.queue_limit_bytes = 0;
        sim.set_link(a, b, link);
        ASSERT_TRUE(sim.run_for(2s));
        EXPECT_EQ(sim.link_stats(a, b).dropped_total(), 0U);
        EXPECT_EQ(receiver.arrivals.size(), 100U);
    }
}

// --- loss, duplication, corruption, reordering ---------------------------------------------------

TEST(SimulatorImpairments, LossRateWithinTolerance) {
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        SimConfig config;
        config.seed = seed;
        config.default_link.loss_probability = 0.1;
        Simulator sim(config);
        Pinger pinger(host(1), host(2), 10'000, 1ms, 50, sim.now());
        Receiver receiver;
        const NodeId a = sim.add_node(pinger, {host(1)});
        const NodeId b = sim.add_node(receiver, {host(2)});
        ASSERT_TRUE(sim.run_for(11s));
        const LinkStats stats = sim.link_stats(a, b);
        EXPECT_EQ(stats.sent, 10'000U);
        expect_rate(stats.dropped_by(DropReason::kLoss), 10'000, 0.1);
        EXPECT_EQ(stats.delivered + stats.dropped_total(), stats.sent);
        EXPECT_EQ(receiver.arrivals.size(), stats.delivered);
    }
}

TEST(SimulatorImpairments, DuplicationAndCorruptionRates) {
    SimConfig config;
    config.seed = 7;
    config.default_link.duplicate_probability = 0.05;
    config.default_link.corrupt_probability = 0.02;
    Simulator sim(config);
    Pinger pinger(host(1), host(2), 10'000, 1ms, 64, sim.now());
    Receiver receiver;
    const NodeId a = sim.add_node(pinger, {host(1)});
    const NodeId b = sim.add_node(receiver, {host(2)});
    ASSERT_TRUE(sim.run_for(11s));

    const LinkStats stats = sim.link_stats(a, b);
    expect_rate(stats.duplicated, 10'000, 0.05);
    expect_rate(stats.corrupted, 10'000 + stats.duplicated, 0.02);
    EXPECT_EQ(stats.delivered, 10'000 + stats.duplicated);

    // Every corrupted copy differs from its original in exactly one bit. A flip in the sequence
    // number hides the original, so try the parsed number with each of its bits flipped too.
    const auto bit_distance = [](std::span<const std::uint8_t> x, std::span<const std::uint8_t> y) {
        std::size_t bits = 0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            bits +=
                static_cast<std::size_t>(__builtin_popcount(static_cast<unsigned>(x[i] ^ y[i])));
        }
        return bits;
    };
    std::uint64_t differing = 0;
    for (const auto& arrival : receiver.arrivals) {
        const std::size_t parsed = Pinger::seq_of(arrival.bytes);
        std::size_t best = bit_distance(pinger.payload(parsed % 10'000), arrival.bytes);
        for (unsigned k = 0; k < 32; ++k) {
            const std::size_t candidate = parsed ^ (std::size_t{1} << k);
            if (candidate < 10'000) {
                best = std::min(best, bit_distance(pinger.payload(candidate), arrival.bytes));
            }
        }
        EXPECT_LE(best, 1U);
        differing += best;
    }
    EXPECT_EQ(differing, stats.corrupted);
}

/// Counts arrivals whose sequence number is lower than one that arrived before it.
std::size_t count_inversions(const std::vector<Receiver::Arrival>& arrivals) {
    std::size_t inversions = 0;
    std::size_t highest = 0;
    bool any = false;
    for (const auto& arrival : arrivals) {
        const std::size_t seq = Pinger::seq_of(arrival.bytes);
        if (any && seq < highest) ++inversions;
        highest = any ? std::max(highest, seq) : seq;
        any = true;
    }
    return inversions;
}

std::size_t inversions_with(const LinkConfig& link, std::uint64_t seed) {
    SimConfig config;
    config.seed = seed;
    config.default_link = link;
    Simulator sim(config);
    Pinger pinger(host(1), host(2), 1000, 1ms, 50, sim.now());
    Receiver receiver;
    sim.add_node(pinger, {host(1)});
    sim.add_node(receiver, {host(2)});
    EXPECT_TRUE(sim.run_for(3s));
    EXPECT_EQ(receiver.arrivals.size(), 1000U);
    return count_inversions(receiver.arrivals);
}

TEST(SimulatorImpairments, Reordering) {
    LinkConfig link;
    link.delay = 10ms;
    EXPECT_EQ(inversions_with(link, 1), 0U) << "no jitter: FIFO";

    link.jitter = 20ms;  // jitter >= 2x delay
    EXPECT_GT(inversions_with(link, 1), 100U);

    link.jitter = 0ms;
    link.reorder_probability = 0.1;
    link.reorder_delay = 5ms;  // held-back packets are overtaken by the next 5
    const std::size_t held = inversions_with(link, 1);  // ~100 packets arrive late
    EXPECT_GT(held, 50U);
    EXPECT_LT(held, 150U);
}

// --- scripted faults ----------------------------------------------------------------------------

TEST(SimulatorFilter, DropFirstTwoWithFirstByte) {
    Simulator sim;
    Pinger pinger(host(1), host(2), 10, 10ms, 10, sim.now());
    pinger.first_byte = [](std::size_t seq) -> std::uint8_t { return seq % 2 == 0 ? 0x19 : 0x20; };
    Receiver receiver;
    const NodeId a = sim.add_node(pinger, {host(1)});
    const NodeId b = sim.add_node(receiver, {host(2)});
    sim.add_filter(filters::drop_first(2, filters::first_byte_is(0x19)));
    ASSERT_TRUE(sim.run_for(1s));

    std::vector<std::size_t> got;
    for (const auto& arrival : receiver.arrivals) got.push_back(Pinger::seq_of(arrival.bytes));
    EXPECT_EQ(got, (std::vector<std::size_t>{1, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(sim.link_stats(a, b).dropped_by(DropReason::kFilter), 2U);
    EXPECT_NE(sim.format_trace().find("drop(filter)"), std::string::npos) << sim.format_trace();
}

TEST(SimulatorFilter, DropDirectionDuringWindowAndRewrite) {
    Simulator sim;
    const Instant t0 = sim.now();
    Pinger to_b(host(1), host(2), 10, 100ms, 10, t0);
    Pinger to_c(host(3), host(4), 10, 100ms, 10, t0);
    Receiver b;
    Receiver c;
    sim.add_node(to_b, {host(1)});
    sim.add_node(to_c, {host(3)});
    sim.add_node(b, {host(2)});
    sim.add_node(c, {host(4)});
    // Packets 3, 4 and 5 (sent at 300, 400, 500 ms) from 1 to 2 are dropped; 3 -> 4 untouched
    // except that a filter rewrites its first byte.
    sim.add_filter(filters::drop_if(filters::all_of(
        {filters::from_to(host(1), host(2)), filters::sent_between(t0 + 300ms, t0 + 600ms)})));
    sim.add_filter(filters::rewrite_if(filters::from_to(host(3), host(4)),
                                       [](std::vector<std::uint8_t>& bytes) { bytes[0] = 0x77; }));
    ASSERT_TRUE(sim.run_for(2s));

    std::vector<std::size_t> got;
    for (const auto& arrival : b.arrivals) got.push_back(Pinger::seq_of(arrival.bytes));
    EXPECT_EQ(got, (std::vector<std::size_t>{0, 1, 2, 6, 7, 8, 9}));
    ASSERT_EQ(c.arrivals.size(), 10U);
    for (const auto& arrival : c.arrivals) EXPECT_EQ(arrival.bytes[0], 0x77);
}

TEST(SimulatorFilter, ScheduledPartitionDropsBothWays) {
    Simulator sim;
    const Instant t0 = sim.now();
    Pinger pinger(host(1), host(2), 10, 100ms, 10, t0);
    Echo echo(host(2));
    const NodeId a = sim.add_node(pinger, {host(1)});
    const NodeId b = sim.add_node(echo, {host(2)});
    sim.at(t0 + 250ms, [&] { sim.set_partition(a, b, true); });
    sim.at(t0 + 550ms, [&] { sim.set_partition(a, b, false); });
    ASSERT_TRUE(sim.run_for(2s));
    // Sent at 300, 400, 500 ms: partitioned. Packet 2 (sent at 200 ms) arrives at 210 ms and
    // its echo leaves before the partition; all others go both ways.
    EXPECT_EQ(sim.link_stats(a, b).dropped_by(DropReason::kPartition), 3U);
    EXPECT_EQ(sim.link_stats(b, a).delivered, 7U);
    EXPECT_FALSE(sim.link_config(host(1), host(2)).partitioned);
}

// --- determinism --------------------------------------------------------------------------------

struct Outcome {
    std::uint64_t digest;
    std::vector<TraceEntry> trace;
};

/// Pinger -> echo over a link with every impairment, plus optional unrelated traffic.
Outcome impaired_run(std::uint64_t seed, bool extra_traffic = false) {
    SimConfig config;
    config.seed = seed;
    LinkConfig& link = config.default_link;
    link.delay = 20ms;
    link.jitter = 15ms;
    link.bandwidth_bps = 2'000'000;
    link.queue_limit_packets = 20;
    link.loss_probability = 0.05;
    link.duplicate_probability = 0.02;
    link.reorder_probability = 0.05;
    link.corrupt_probability = 0.02;
    Simulator sim(config);
    Pinger pinger(host(1), host(2), 500, 2ms, 400, sim.now());
    Echo echo(host(2));
    Pinger other(host(5), host(6), 300, 3ms, 100, sim.now());
    Receiver sink;
    sim.add_node(pinger, {host(1)});
    sim.add_node(echo, {host(2)});
    if (extra_traffic) {
        sim.add_node(other, {host(5)});
        sim.add_node(sink, {host(6)});
    }
    EXPECT_TRUE(sim.run_for(5s));
    return {sim.trace_digest(), sim.trace()};
}

TEST(SimulatorDeterminism, SameSeedSameTraceDifferentSeedDiffers) {
    const Outcome first = impaired_run(42);
    const Outcome again = impaired_run(42);
    EXPECT_EQ(first.digest, again.digest);
    EXPECT_EQ(first.trace, again.trace);
    EXPECT_GT(first.trace.size(), 1000U);

    std::set<std::uint64_t> digests;
    for (std::uint64_t seed = 1; seed <= 5; ++seed) digests.insert(impaired_run(seed).digest);
    EXPECT_EQ(digests.size(), 5U);
}

TEST(SimulatorDeterminism, OtherLinksDoNotPerturbALink) {
    const auto between_1_and_2 = [](const Outcome& outcome) {
        std::vector<TraceEntry> kept;
        for (const auto& e : outcome.trace) {
            if (e.from.ip[3] <= 2 && e.to.ip[3] <= 2) kept.push_back(e);
        }
        return kept;
    };
    const Outcome alone = impaired_run(9, false);
    const Outcome shared = impaired_run(9, true);
    EXPECT_NE(alone.digest, shared.digest);
    EXPECT_EQ(between_1_and_2(alone), between_1_and_2(shared));
}

// --- bounded run loops --------------------------------------------------------------------------

/// Always wants a timeout in the past and never makes progress.
class StuckTimer : public Node {
  public:
    std::uint64_t fired = 0;
    void handle_datagram(Instant, const Address&, std::span<const std::uint8_t>) override {}
    std::optional<Outgoing> poll_transmit(Instant /*now*/) override { return std::nullopt; }
    [[nodiscard]] std::optional<Instant> next_timeout() const override { return Instant{}; }
    void handle_timeout(Instant /*now*/) override { ++fired; }
};

/// Never stops transmitting.
class Chatty : public Node {
  public:
    explicit Chatty(Address from) : from_(from) {}
    void handle_datagram(Instant, const Address&, std::span<const std::uint8_t>) override {}
    std::optional<Outgoing> poll_transmit(Instant /*now*/) override {
        return Outgoing{from_, host(2), {1, 2, 3}};
    }
    [[nodiscard]] std::optional<Instant> next_timeout() const override { return std::nullopt; }
    void handle_timeout(Instant /*now*/) override {}

  private:
    Address from_;
};

/// Wants a timeout every nanosecond: progress, but far too many events.
class Ticker : public Node {
  public:
    Instant next;
    explicit Ticker(Instant start) : next(start) {}
    void handle_datagram(Instant, const Address&, std::span<const std::uint8_t>) override {}
    std::optional<Outgoing> poll_transmit(Instant /*now*/) override { return std::nullopt; }
    [[nodiscard]] std::optional<Instant> next_timeout() const override { return next; }
    void handle_timeout(Instant now) override { next = now + Duration{1}; }
};

TEST(SimulatorBounds, TimeoutLoopIsReported) {
    Simulator sim;
    StuckTimer stuck;
    sim.add_node(stuck, {host(1)});
    const RunResult r = sim.run_for(10s);
    EXPECT_FALSE(r);
    EXPECT_EQ(r.status, RunStatus::kTimeoutLoop);
    EXPECT_NE(r.message.find("node 0 (10.0.0.1:33445)"), std::string::npos) << r;
    EXPECT_EQ(stuck.fired, SimConfig{}.max_timeouts_per_instant);
    EXPECT_EQ(sim.now(), sim.start());
    // The failure is sticky: the simulator does not pretend to continue.
    EXPECT_EQ(sim.run_for(1s).status, RunStatus::kTimeoutLoop);
}

TEST(SimulatorBounds, TransmitLoopAndForeignSourceAreReported) {
    {
        Simulator sim;
        Chatty chatty(host(1));
        sim.add_node(chatty, {host(1)});
        const RunResult r = sim.run_for(1s);
        EXPECT_EQ(r.status, RunStatus::kTransmitLoop) << r;
        EXPECT_EQ(sim.total_stats().sent, SimConfig{}.max_transmits_per_wake);
    }
    {
        Simulator sim;
        Chatty liar(host(9));  // sends from an address it was not given
        sim.add_node(liar, {host(1)});
        const RunResult r = sim.run_for(1s);
        EXPECT_EQ(r.status, RunStatus::kBadTransmit) << r;
        EXPECT_NE(r.message.find("10.0.0.9:33445"), std::string::npos) << r;
    }
}

TEST(SimulatorBounds, StepLimitDeadlineAndIdle) {
    SimConfig config;
    config.max_steps = 1000;
    Simulator sim(config);
    Ticker ticker(sim.now());
    sim.add_node(ticker, {host(1)});
    RunResult r = sim.run_for(1s);
    EXPECT_EQ(r.status, RunStatus::kStepLimit) << r;
    EXPECT_EQ(r.steps, 1000U);
    EXPECT_FALSE(r);

    // A predicate that never holds stops at the deadline, reported as not met.
    Simulator quiet;
    Pinger pinger(host(1), host(2), 1000, 1ms, 10, quiet.now());
    Receiver receiver;
    quiet.add_node(pinger, {host(1)});
    quiet.add_node(receiver, {host(2)});
    r = quiet.run_until([] { return false; }, quiet.now() + 100ms);
    EXPECT_EQ(r.status, RunStatus::kDeadlineReached);
    EXPECT_FALSE(r);
    EXPECT_EQ(quiet.now(), quiet.start() + 100ms);
    // ... and reports idleness once nothing is left to happen.
    r = quiet.run_until([] { return false; }, quiet.now() + 1000s);
    EXPECT_EQ(r.status, RunStatus::kIdle);
    EXPECT_EQ(receiver.arrivals.size(), 1000U);
}

// --- intended use: request/response with retry over a lossy link ---------------------------------

/// Sends a request and resends it every `retry` until the response arrives.
class RetryClient : public Node {
  public:
    RetryClient(Address self, Address server, Duration retry)
        : self_(self), server_(server), retry_(retry) {}

    bool done = false;
    Instant done_at;
    int attempts = 0;

    /// Application call: start a request now (the test then wakes the node).
    void start(Instant now) { next_send_ = now; }

    void handle_datagram(Instant now, const Address& from,
                         std::span<const std::uint8_t> bytes) override {
        if (from == server_ && bytes.size() == 2 && bytes[0] == 0x02 && bytes[1] == 0x2A && !done) {
            done = true;
            done_at = now;
        }
    }
    std::optional<Outgoing> poll_transmit(Instant /*now*/) override {
        if (!pending_) return std::nullopt;
        pending_ = false;
        return Outgoing{self_, server_, {0x01, 0x2A}};
    }
    [[nodiscard]] std::optional<Instant> next_timeout() const override {
        if (done || !next_send_) return std::nullopt;
        return next_send_;
    }
    void handle_timeout(Instant now) override {
        if (done || !next_send_ || *next_send_ > now) return;
        pending_ = true;
        ++attempts;
        next_send_ = now + retry_;
    }

  private:
    Address self_;
    Address server_;
    Duration retry_;
    std::optional<Instant> next_send_;
    bool pending_ = false;
};

/// Answers every request {0x01, x} with {0x02, x}.
class Server : public Echo {
  public:
    explicit Server(Address self) : Echo(self) {}
    void handle_datagram(Instant now, const Address& from,
                         std::span<const std::uint8_t> bytes) override {
        if (bytes.size() == 2 && bytes[0] == 0x01) {
            const std::array<std::uint8_t, 2> reply{0x02, bytes[1]};
            Echo::handle_datagram(now, from, reply);
        }
    }
};

TEST(SimulatorScenario, RequestResponseOverLossyLinkWithRetry) {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        SimConfig config;
        config.seed = seed;
        config.default_link.delay = 30ms;
        config.default_link.jitter = 10ms;
        config.default_link.loss_probability = 0.3;
        Simulator sim(config);
        RetryClient client(host(1), host(2), 200ms);
        Server server(host(2));
        const NodeId c = sim.add_node(client, {host(1)});
        sim.add_node(server, {host(2)});

        client.start(sim.now());
        sim.wake(c);
        const RunResult r = sim.run_until([&] { return client.done; }, sim.now() + 30s);
        ASSERT_TRUE(r) << "seed " << seed << ": " << r << "\n" << sim.format_trace();
        EXPECT_GE(client.attempts, 1);
        EXPECT_LE(client.done_at - sim.start(), Duration{client.attempts * 200ms});
    }
}

TEST(SimulatorScenario, ScriptedLossOfTwoRequestsCostsTwoRetries) {
    Simulator sim;  // default link: 10 ms, lossless
    RetryClient client(host(1), host(2), 200ms);
    Server server(host(2));
    const NodeId c = sim.add_node(client, {host(1)});
    sim.add_node(server, {host(2)});
    sim.add_filter(filters::drop_first(2, filters::first_byte_is(0x01)));

    client.start(sim.now());
    sim.wake(c);
    const RunResult r = sim.run_until([&] { return client.done; }, sim.now() + 10s);
    ASSERT_TRUE(r) << r;
    EXPECT_EQ(client.attempts, 3);
    EXPECT_EQ(client.done_at, sim.start() + 2 * 200ms + 2 * 10ms);
    EXPECT_EQ(sim.total_stats().dropped_by(DropReason::kFilter), 2U);
}

}  // namespace
}  // namespace netcrypto::sim
