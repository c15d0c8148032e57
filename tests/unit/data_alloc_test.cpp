// Steady-state data path performs no heap allocation.
//
// This file replaces the global operator new / operator delete for the whole unit_tests binary
// with a counting pass-through to malloc/free. The count is always maintained (an atomic
// increment) but only the tests below look at it, so other tests are unaffected.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>

#include <gtest/gtest.h>

#include "core/data/congestion.hpp"
#include "core/data/recv_buffer.hpp"
#include "core/data/replay_window.hpp"
#include "core/data/request.hpp"
#include "core/data/rtt.hpp"
#include "core/data/send_buffer.hpp"

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) {
        return p;
    }
    throw std::bad_alloc();
}

// The replacement pairs malloc with free on purpose; GCC's heuristic cannot see that.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }

void operator delete(void* p, std::size_t /*size*/) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace netcrypto::data {
namespace {

using std::chrono::milliseconds;

std::uint64_t allocations() { return g_allocations.load(std::memory_order_relaxed); }

TEST(DataAllocationTest, CounterSeesAllocations) {
    const std::uint64_t before = allocations();
    auto p = std::make_unique<int>(5);
    EXPECT_GT(allocations(), before) << "the counting operator new is not linked in";
}

// One simulated exchange per iteration: push and send a message, the peer accepts and
// delivers it, answers with a REQUEST listing one hole, the sender applies acks, request and
// congestion/RTT/replay bookkeeping.
class SteadyState {
  public:
    void step(std::int64_t i) {
        const Instant now = instant_from_ms(i);
        message_[1] = static_cast<std::uint8_t>(i);
        const auto n = send_.push(message_);
        if (!n) {
            std::abort();
        }
        send_.mark_sent(*n, now);
        cc_.on_packet_sent(now, 1400);
        // Every 16th packet is lost once and repaired 3 packets later.
        if (i % 16 != 5) {
            recv_.accept(*n, message_);
        } else {
            lost_ = *n;
        }
        if (i % 16 == 8) {
            recv_.accept(lost_, message_);
        }
        recv_.deliver_ready([&](std::span<const std::uint8_t> m) { delivered_ += m.size(); });
        const std::size_t len = recv_.encode_request(request_);
        const AckResult a = send_.ack_up_to(recv_.start(), now);
        const auto r = send_.apply_request(std::span(request_).first(len), recv_.start(), now,
                                           milliseconds{1});
        if (a.rtt_sample) {
            rtt_.on_sample(*a.rtt_sample);
        }
        cc_.on_ack(now, a.released_bytes, rtt_);
        if (r && r->marked_count > 0) {
            cc_.on_loss(now, r->marked_bytes, *r->newest_marked_sent);
        }
        for (auto m = send_.next_to_send(send_.start()); m; m = send_.next_to_send(*m + 1)) {
            send_.mark_sent(*m, now);
        }
        (void)cc_.can_send(now, send_.outstanding_bytes());
        (void)cc_.next_send_time(now);
        const auto counter = static_cast<std::uint64_t>(i);
        if (replay_.check(counter) == ReplayWindow::Verdict::kFresh) {
            replay_.set(counter);
        }
    }

    std::uint64_t delivered() const { return delivered_; }

  private:
    SendBuffer send_;
    RecvBuffer recv_;
    CongestionController cc_;
    RttEstimator rtt_;
    ReplayWindow replay_;
    std::array<std::uint8_t, 200> message_{0x40};
    std::array<std::uint8_t, kMaxMessageSize> request_{};
    PacketNumber lost_ = 0;
    std::uint64_t delivered_ = 0;
};

TEST(DataAllocationTest, SteadyStatePushAckCyclesDoNotAllocate) {
    auto state = std::make_unique<SteadyState>();
    std::int64_t i = 0;
    for (; i < 20'000; ++i) {  // warm-up: rings, arena, pool and send log reach their size
        state->step(i);
    }
    const std::uint64_t before = allocations();
    for (; i < 120'000; ++i) {
        state->step(i);
    }
    const std::uint64_t during = allocations() - before;
    EXPECT_EQ(during, 0U) << "the data path allocated " << during << " times in 100000 cycles";
    EXPECT_EQ(state->delivered(), std::uint64_t{120'000} * 200) << "every message delivered";
}

TEST(DataAllocationTest, IdleObjectsHoldNoHeapMemory) {
    SendBuffer send;
    RecvBuffer recv;
    CongestionController cc;
    ReplayWindow replay;
    EXPECT_EQ(send.memory_bytes() + recv.memory_bytes() + cc.memory_bytes() + replay.memory_bytes(),
              0U);
    // Use everything once, drain, trim: back to zero heap.
    const std::array<std::uint8_t, 3> m{0x40, 1, 2};
    const auto n = send.push(m);
    ASSERT_TRUE(n.has_value());
    send.mark_sent(*n, instant_from_ms(0));
    cc.on_packet_sent(instant_from_ms(0), 1400);
    ASSERT_EQ(recv.accept(0, m), AcceptResult::kAccepted);
    ASSERT_TRUE(recv.pop_ready().has_value());
    send.ack_up_to(1, instant_from_ms(20));
    RttEstimator rtt;
    rtt.on_sample(milliseconds{20});
    cc.on_ack(instant_from_ms(20), 1400, rtt);
    send.trim();
    recv.trim();
    cc.trim(instant_from_ms(5000));
    EXPECT_EQ(send.memory_bytes() + recv.memory_bytes() + cc.memory_bytes(), 0U);
    std::printf(
        "sizeof: SendBuffer %zu, RecvBuffer %zu, CongestionController %zu, "
        "RttEstimator %zu, ReplayWindow %zu\n",
        sizeof(SendBuffer), sizeof(RecvBuffer), sizeof(CongestionController), sizeof(RttEstimator),
        sizeof(ReplayWindow));
}

}  // namespace
}  // namespace netcrypto::data
