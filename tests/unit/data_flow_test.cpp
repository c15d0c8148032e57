// End-to-end check of the data-path modules together: SendBuffer + CongestionController +
// RttEstimator at a sender, RecvBuffer + REQUEST encoding at a receiver, over a small
// deterministic bottleneck-link model (rate, drop-tail queue, delay, random loss). It checks the
// goodput targets the integrated connection has to meet, so a regression in any module or in
// the controller's tuning shows up here before it shows up in the full simulator.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <queue>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/data/congestion.hpp"
#include "core/data/recv_buffer.hpp"
#include "core/data/rtt.hpp"
#include "core/data/send_buffer.hpp"

namespace netcrypto::data {
namespace {

using std::chrono::milliseconds;

constexpr std::uint64_t kWire = 1400;  // datagram bytes of a full data packet
constexpr std::size_t kPayload = kMaxMessageSize;

struct LinkConfig {
    std::uint64_t rate_bps = 100'000'000;     // bottleneck rate, bits per second
    Duration one_way = milliseconds{10};      // propagation delay each way
    std::uint64_t queue_bytes = 250'000;      // drop-tail queue limit
    double loss = 0.0;                        // random loss of data packets
    Duration ack_interval = milliseconds{0};  // 0: feedback after every data packet
};

enum class Kind { kData, kFeedback, kWake, kAckTimer, kKeepAlive, kAnnounce, kProbe };

struct Event {
    Instant at;
    std::uint64_t seq;
    Kind kind;
    int flow;
    PacketNumber number;
    PacketNumber ack;
    std::shared_ptr<std::vector<std::uint8_t>> request;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

struct Flow {
    SendBuffer send{std::size_t{64} << 20U};
    RecvBuffer recv{std::size_t{64} << 20U};
    CongestionController cc;
    RttEstimator rtt;
    Instant start_at{};
    bool wake_pending = false;
    Instant wake_at{};
    bool received_since_ack = false;
    Instant last_feedback{};
    Duration probe_backoff{};
    std::uint64_t delivered_bytes = 0;
    std::uint64_t delivered_in_window = 0;
    std::uint64_t sent_packets = 0;
    std::uint64_t resent_packets = 0;
    std::uint64_t probes = 0;
    std::uint64_t offered = 0;
    std::uint64_t tail_drops = 0;
    std::uint64_t wire_drops = 0;
    std::uint64_t marked = 0;
};

constexpr Duration kKeepAliveInterval = milliseconds{1000};
constexpr Duration kProbeCheck = milliseconds{5};

class Sim {
  public:
    Sim(LinkConfig link, int flows, std::uint32_t seed) : link_(link), rng_(seed) {
        for (int i = 0; i < flows; ++i) {
            flows_.push_back(std::make_unique<Flow>());
        }
    }

    Flow& flow(int i) { return *flows_[static_cast<std::size_t>(i)]; }

    // Runs until `until`; goodput is counted for deliveries at or after `measure_from`.
    void run(Instant until, Instant measure_from) {
        measure_from_ = measure_from;
        for (int i = 0; i < static_cast<int>(flows_.size()); ++i) {
            schedule({flow(i).start_at, 0, Kind::kWake, i, 0, 0, nullptr});
            schedule(
                {flow(i).start_at + kKeepAliveInterval, 0, Kind::kKeepAlive, i, 0, 0, nullptr});
            schedule({flow(i).start_at + kProbeCheck, 0, Kind::kProbe, i, 0, 0, nullptr});
            if (link_.ack_interval > Duration::zero()) {
                schedule(
                    {flow(i).start_at + link_.ack_interval, 0, Kind::kAckTimer, i, 0, 0, nullptr});
            }
        }
        const bool trace = std::getenv("DATA_FLOW_TRACE") != nullptr;
        Instant next_trace{};
        while (!events_.empty() && events_.top().at <= until) {
            const Event e = events_.top();
            events_.pop();
            handle(e);
            if (trace && e.at >= next_trace) {
                next_trace = e.at + milliseconds{100};
                std::printf("t=%5lld", static_cast<long long>(to_ms(e.at)));
                for (const auto& f : flows_) {
                    std::printf(
                        " | cwnd %4llu ss %d cuts %llu rtt %.1f gap %.1f out %u del %.1fMB",
                        static_cast<unsigned long long>(f->cc.window() / kWire),
                        f->cc.in_slow_start() ? 1 : 0,
                        static_cast<unsigned long long>(f->cc.congestion_events()),
                        std::chrono::duration<double, std::milli>(f->cc.recent_rtt()).count(),
                        std::chrono::duration<double, std::milli>(f->cc.ack_gap()).count(),
                        f->send.outstanding_count(), static_cast<double>(f->delivered_bytes) / 1e6);
                }
                std::printf(" q %llu\n", static_cast<unsigned long long>(queued_bytes_ / kWire));
            }
        }
    }

  private:
    void schedule(Event e) {
        e.seq = seq_++;
        events_.push(std::move(e));
    }

    void handle(const Event& e) {
        Flow& f = flow(e.flow);
        switch (e.kind) {
            case Kind::kData:
                on_data(e, f);
                break;
            case Kind::kFeedback:
                on_feedback(e, f);
                break;
            case Kind::kWake:
                if (e.at < f.start_at) {
                    break;
                }
                f.wake_pending = f.wake_pending && f.wake_at != e.at;
                try_send(e.at, e.flow);
                break;
            case Kind::kKeepAlive:
                // Both sides send a REQUEST at least once a second (wire.md §6.6): the receiver's
                // carries its holes, the sender's carries num = its send end.
                send_feedback(e.at, e.flow);
                schedule(
                    {e.at + link_.one_way, 0, Kind::kAnnounce, e.flow, f.send.end(), 0, nullptr});
                schedule({e.at + kKeepAliveInterval, 0, Kind::kKeepAlive, e.flow, 0, 0, nullptr});
                break;
            case Kind::kAnnounce:
                f.recv.extend_end(e.number);
                break;
            case Kind::kProbe:
                probe(e.at, e.flow);
                schedule({e.at + kProbeCheck, 0, Kind::kProbe, e.flow, 0, 0, nullptr});
                break;
            case Kind::kAckTimer:
                if (f.received_since_ack) {
                    send_feedback(e.at, e.flow);
                }
                schedule({e.at + link_.ack_interval, 0, Kind::kAckTimer, e.flow, 0, 0, nullptr});
                break;
        }
    }

    void on_data(const Event& e, Flow& f) {
        std::array<std::uint8_t, kPayload> m{};
        m[0] = 0xa0;
        f.recv.accept(e.number, m);
        f.recv.deliver_ready([&](std::span<const std::uint8_t> msg) {
            f.delivered_bytes += msg.size();
            if (e.at >= measure_from_) {
                f.delivered_in_window += msg.size();
            }
        });
        f.received_since_ack = true;
        if (link_.ack_interval == Duration::zero()) {
            send_feedback(e.at, e.flow);
        }
    }

    void send_feedback(Instant now, int i) {
        Flow& f = flow(i);
        auto body = std::make_shared<std::vector<std::uint8_t>>(kMaxMessageSize);
        body->resize(f.recv.encode_request(*body));
        f.received_since_ack = false;
        schedule({now + link_.one_way, 0, Kind::kFeedback, i, 0, f.recv.start(), body});
    }

    // Tail-loss probe (glue policy, not part of the modules): when packets are outstanding
    // and no feedback came for srtt + 4 rttvar (doubling each time), resend the newest
    // outstanding entry outside the window so the receiver learns the real end and lists the
    // holes before it.
    void probe(Instant now, int i) {
        Flow& f = flow(i);
        if (f.send.outstanding_count() == 0 || now < f.start_at) {
            return;
        }
        const Duration pto = std::max(2 * f.cc.resend_guard(), Duration{milliseconds{5}});
        if (now - f.last_feedback < pto + f.probe_backoff) {
            return;
        }
        f.probe_backoff = f.probe_backoff * 2 + pto;
        for (PacketNumber n = f.send.end() - 1; n != f.send.start() - 1; --n) {
            const auto entry = f.send.entry(n);
            if (entry && !entry->needs_send && entry->send_count > 0) {
                ++f.probes;
                f.send.mark_sent(n, now);
                transmit(now, i, n);
                return;
            }
        }
    }

    void on_feedback(const Event& e, Flow& f) {
        const Instant now = e.at;
        f.last_feedback = now;
        f.probe_backoff = Duration{};
        const AckResult a = f.send.ack_up_to(e.ack, now);
        const auto r = f.send.apply_request(*e.request, e.ack, now, f.cc.resend_guard());
        ASSERT_TRUE(r.has_value());
        if (a.rtt_sample) {
            f.rtt.on_sample(*a.rtt_sample);
        } else if (r->rtt_sample) {
            f.rtt.on_sample(*r->rtt_sample);
        }
        f.cc.on_ack(now, std::uint64_t{a.released_count + r->acked_count} * kWire, f.rtt);
        f.marked += r->marked_count;
        if (r->marked_count > 0) {
            f.cc.on_loss(now, std::uint64_t{r->marked_count} * kWire, *r->newest_marked_sent);
        }
        try_send(now, e.flow);
    }

    void try_send(Instant now, int i) {
        Flow& f = flow(i);
        static const std::array<std::uint8_t, kPayload> kMessage = [] {
            std::array<std::uint8_t, kPayload> m{};
            m[0] = 0xa0;
            return m;
        }();
        while (true) {
            // Keep the send buffer topped up: a bulk sender always has data.
            while (f.send.pending_send_count() < 64 && f.send.can_push(kPayload)) {
                ASSERT_TRUE(f.send.push(kMessage).has_value());
            }
            const auto n = f.send.next_to_send(f.send.start());
            if (!n) {
                return;
            }
            const bool resend = f.send.entry(*n)->send_count > 0;
            const std::uint64_t outstanding = f.send.outstanding_count() * kWire;
            if (resend ? !f.cc.can_resend(now) : !f.cc.can_send(now, outstanding)) {
                // Blocked by the window: wake when the in-flight estimate has shrunk.
                const Instant retry = std::min(f.cc.next_window_time(now), now + milliseconds{200});
                if (!f.wake_pending || f.wake_at > retry) {
                    f.wake_pending = true;
                    f.wake_at = retry;
                    schedule({retry, 0, Kind::kWake, i, 0, 0, nullptr});
                }
                return;
            }
            const Instant next = f.cc.next_send_time(now);
            if (next > now) {
                if (!f.wake_pending || f.wake_at > next) {
                    f.wake_pending = true;
                    f.wake_at = next;
                    schedule({next, 0, Kind::kWake, i, 0, 0, nullptr});
                }
                return;
            }
            f.resent_packets += f.send.entry(*n)->send_count > 0 ? 1U : 0U;
            ++f.sent_packets;
            f.send.mark_sent(*n, now);
            f.cc.on_packet_sent(now, kWire);
            transmit(now, i, *n);
        }
    }

    // Drop-tail FIFO bottleneck shared by all flows, then propagation delay and random loss.
    void transmit(Instant now, int i, PacketNumber n) {
        while (!queue_.empty() && queue_.front() <= now) {
            queue_.pop_front();
            queued_bytes_ -= kWire;
        }
        if (now < measure_from_) {
            flow(i).offered = flow(i).tail_drops = 0;
        }
        ++flow(i).offered;
        if (queued_bytes_ + kWire > link_.queue_bytes) {
            ++flow(i).tail_drops;
            return;  // tail drop
        }
        const Duration service{
            static_cast<Duration::rep>(kWire * 8 * 1'000'000'000ULL / link_.rate_bps)};
        const Instant begin = std::max(now, last_departure_);
        last_departure_ = begin + service;
        queue_.push_back(last_departure_);
        queued_bytes_ += kWire;
        if (link_.loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < link_.loss) {
            ++flow(i).wire_drops;
            return;  // lost on the wire
        }
        schedule({last_departure_ + link_.one_way, 0, Kind::kData, i, n, 0, nullptr});
    }

    LinkConfig link_;
    std::mt19937 rng_;
    std::vector<std::unique_ptr<Flow>> flows_;
    std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
    std::uint64_t seq_ = 0;
    std::deque<Instant> queue_;  // departure times of queued packets
    std::uint64_t queued_bytes_ = 0;
    Instant last_departure_{};
    Instant measure_from_{};
};

double goodput_fraction(const Flow& f, const LinkConfig& link, Duration window) {
    const double capacity =
        static_cast<double>(link.rate_bps) / 8.0 * std::chrono::duration<double>(window).count();
    return static_cast<double>(f.delivered_in_window) / capacity;
}

struct Scenario {
    const char* name;
    LinkConfig link;
};

void print(const char* scenario, const char* what, double value, const Flow& f) {
    std::printf("[ data flow ] %-22s %-18s %.3f (cuts %llu, sent %llu, resent %llu)\n", scenario,
                what, value, static_cast<unsigned long long>(f.cc.congestion_events()),
                static_cast<unsigned long long>(f.sent_packets),
                static_cast<unsigned long long>(f.resent_packets));
}

class FlowTest : public ::testing::TestWithParam<Scenario> {};

// Goodput over seconds 1..5 of one flow on a clean link.
TEST_P(FlowTest, CleanLinkReachesCapacityQuickly) {
    const LinkConfig link = GetParam().link;
    Sim sim(link, 1, 1);
    sim.run(instant_from_ms(5000), instant_from_ms(1000));
    const double g = goodput_fraction(sim.flow(0), link, milliseconds{4000});
    print(GetParam().name, "clean goodput", g, sim.flow(0));
    EXPECT_GE(g, 0.85) << GetParam().name << ": goodput after the first second";
}

// Goodput over seconds 1..6 of one flow with 1% random loss of data packets.
TEST_P(FlowTest, OnePercentRandomLossKeepsHalfTheCapacity) {
    LinkConfig link = GetParam().link;
    link.loss = 0.01;
    Sim sim(link, 1, 2);
    sim.run(instant_from_ms(6000), instant_from_ms(1000));
    const double g = goodput_fraction(sim.flow(0), link, milliseconds{5000});
    print(GetParam().name, "1% loss goodput", g, sim.flow(0));
    EXPECT_GE(g, 0.5) << GetParam().name << ": goodput with 1% random loss";
}

// Two flows, the second starting 0, 0.517 or 1.5 s later; shares over seconds 2..10 (over
// 100..500 round trips on paths longer than 20 ms: convergence takes round trips, not seconds).
TEST_P(FlowTest, TwoFlowsShareTheBottleneck) {
    const LinkConfig link = GetParam().link;
    const std::int64_t rtt_ms = 2 * std::chrono::duration_cast<milliseconds>(link.one_way).count();
    const std::int64_t from_ms = std::max<std::int64_t>(2000, 100 * rtt_ms);
    const std::int64_t until_ms = std::max<std::int64_t>(10'000, 500 * rtt_ms);
    for (const std::int64_t second_start : {0, 517, 1500}) {
        Sim sim(link, 2, 3);
        sim.flow(1).start_at = instant_from_ms(second_start);
        sim.run(instant_from_ms(until_ms), instant_from_ms(from_ms));
        const double a = static_cast<double>(sim.flow(0).delivered_in_window);
        const double b = static_cast<double>(sim.flow(1).delivered_in_window);
        const double share = a / (a + b);
        const milliseconds window{until_ms - from_ms};
        const double total = goodput_fraction(sim.flow(0), link, window) +
                             goodput_fraction(sim.flow(1), link, window);
        const std::string what = "share, +" + std::to_string(second_start) + "ms";
        print(GetParam().name, what.c_str(), share, sim.flow(0));
        EXPECT_GE(share, 0.35) << GetParam().name << ", second flow at +" << second_start;
        EXPECT_LE(share, 0.65) << GetParam().name << ", second flow at +" << second_start;
        EXPECT_GE(total, 0.8) << GetParam().name << ": the pair must still fill the link";
    }
}

INSTANTIATE_TEST_SUITE_P(
    Links, FlowTest,
    ::testing::Values(
        // The target link of the brief: 100 Mbit/s, 20 ms RTT, with several queue sizes and
        // acknowledgement cadences (0 = a REQUEST per data packet).
        Scenario{"bdp_queue_ack_each", {.queue_bytes = 250'000}},
        Scenario{"small_queue_ack_each", {.queue_bytes = 64'000}},
        Scenario{"big_queue_ack_each", {.queue_bytes = 1'000'000}},
        Scenario{"bdp_queue_ack_10ms", {.queue_bytes = 250'000, .ack_interval = milliseconds{10}}},
        Scenario{"bdp_queue_ack_50ms", {.queue_bytes = 250'000, .ack_interval = milliseconds{50}}},
        // Other shapes: a slow link and a long path.
        Scenario{"10mbit_40ms_ack_each",
                 {.rate_bps = 10'000'000, .one_way = milliseconds{20}, .queue_bytes = 50'000}},
        Scenario{"100mbit_80ms_ack_20ms",
                 {.one_way = milliseconds{40},
                  .queue_bytes = 1'000'000,
                  .ack_interval = milliseconds{20}}}),
    [](const ::testing::TestParamInfo<Scenario>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace netcrypto::data
