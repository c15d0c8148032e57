// netcrypto_compare idle (issue 15, point 6): what one idle Established friend connection costs
// on the wire and in wake-ups. Two endpoints, each with the friend layer (ALIVE every 8 s, as
// c-toxcore's friend_connection), joined by an in-memory wire with a fixed one-way delay, run in
// simulated time: each side is woken exactly at its next deadline (endpoint or friend layer),
// as the runtime does, and every datagram is counted with its size.
#include <algorithm>
#include <array>
#include <chrono>
#include <deque>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>

#include "compare_common.hpp"
#include "compare_scale.hpp"

namespace netcrypto::bench {

namespace {

struct Side {
    Side(Rng& rng, Instant now, EndpointConfig cfg)
        : ep(KeyPair::generate(rng), KeyPair::generate(rng), rng, now, cfg), fl(ep, {}) {}
    Endpoint ep;
    friends::FriendLayer fl;
    Address addr;
    std::uint64_t datagrams = 0;
    std::uint64_t bytes = 0;
    std::uint64_t wakeups = 0;
    [[nodiscard]] std::optional<Instant> next() const {
        auto a = ep.next_timeout();
        auto b = fl.next_timeout();
        if (!a) return b;
        if (!b) return a;
        return std::min(*a, *b);
    }
};

struct InFlight {
    Instant at;
    int to;  ///< 0 or 1
    Address from;
    std::vector<std::uint8_t> bytes;
};

class IdlePair {
  public:
    explicit IdlePair(Duration delay)
        : rng_(6), a_(rng_, now_, {}), b_(rng_, now_, accept()), delay_(delay) {
        a_.addr = Address::ipv4(10, 0, 0, 1, 1);
        b_.addr = Address::ipv4(10, 0, 0, 2, 2);
    }
    static EndpointConfig accept() {
        EndpointConfig c;
        c.accept_all = true;
        return c;
    }
    void connect() {
        (void)a_.ep.connect(now_, b_.ep.public_key(), b_.ep.dht_public_key(), b_.addr);
        flush(0);
    }
    /// Runs simulated time until `end`: deliveries and deadlines in order.
    void run_until(Instant end) {
        for (;;) {
            Instant t = end;
            for (const auto& f : wire_) t = std::min(t, f.at);
            for (const Side* s : {&a_, &b_}) {
                if (auto n = s->next()) t = std::min(t, std::max(*n, now_));
            }
            if (t >= end) break;
            now_ = t;
            step();
        }
        now_ = end;
    }
    Side& side(int i) { return i == 0 ? a_ : b_; }
    Instant now_{std::chrono::seconds{1000}};

  private:
    void step() {
        for (std::size_t k = 0; k < wire_.size();) {
            if (wire_[k].at > now_) {
                ++k;
                continue;
            }
            InFlight f = std::move(wire_[k]);
            wire_.erase(wire_.begin() + static_cast<std::ptrdiff_t>(k));
            side(f.to).ep.handle_datagram(now_, f.from, f.bytes);
            flush(f.to);
        }
        for (int i = 0; i < 2; ++i) {
            Side& s = side(i);
            if (auto n = s.next(); n && *n <= now_) {
                ++s.wakeups;
                s.ep.handle_timeout(now_);
                s.fl.on_timeout(now_);
                flush(i);
            }
        }
    }
    void flush(int i) {
        Side& s = side(i);
        while (auto e = s.ep.poll_event()) s.fl.on_event(now_, *e);
        std::array<std::uint8_t, kMaxDatagramSize> buf{};
        while (auto t = s.ep.poll_transmit(now_, buf)) {
            ++s.datagrams;
            s.bytes += t->size;
            wire_.push_back(
                InFlight{now_ + delay_,
                         1 - i,
                         s.addr,
                         {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(t->size)}});
        }
    }

    SeededRng rng_;
    Side a_;
    Side b_;
    Duration delay_;
    std::vector<InFlight> wire_;
};

}  // namespace

int idle_cost(const Args& args) {
    const double minutes = args.number("--minutes", 10);
    const double delay_ms = args.number("--delay-ms", 25);
    IdlePair p(
        std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(delay_ms)));
    p.connect();
    p.run_until(p.now_ + std::chrono::seconds{10});  // handshake, ONLINE exchange, settle
    const auto ids = p.side(0).ep.connections();
    const bool up = ids.size() == 1 && p.side(0).ep.info(ids[0])->status == Status::kEstablished;
    std::array<std::uint64_t, 2> d0{};
    std::array<std::uint64_t, 2> b0{};
    std::array<std::uint64_t, 2> w0{};
    for (int i = 0; i < 2; ++i) {
        d0[static_cast<std::size_t>(i)] = p.side(i).datagrams;
        b0[static_cast<std::size_t>(i)] = p.side(i).bytes;
        w0[static_cast<std::size_t>(i)] = p.side(i).wakeups;
    }
    p.run_until(p.now_ +
                std::chrono::duration_cast<Duration>(std::chrono::duration<double>(minutes * 60)));
    const bool still_up = p.side(0).ep.connections().size() == 1 &&
                          p.side(0).ep.info(ids.at(0))->status == Status::kEstablished;
    json out{{"minutes", minutes},
             {"one_way_delay_ms", delay_ms},
             {"established", up},
             {"still_established", still_up}};
    for (int i = 0; i < 2; ++i) {
        const auto k = static_cast<std::size_t>(i);
        const double dg = static_cast<double>(p.side(i).datagrams - d0[k]) / minutes;
        const double by = static_cast<double>(p.side(i).bytes - b0[k]) / minutes;
        out[i == 0 ? "a" : "b"] =
            json{{"datagrams_per_minute", dg},
                 {"bytes_per_minute", by},
                 {"bytes_per_minute_with_ip_udp", by + dg * 28},
                 {"wakeups_per_minute", static_cast<double>(p.side(i).wakeups - w0[k]) / minutes}};
    }
    std::cout << out.dump() << std::endl;
    return 0;
}

}  // namespace netcrypto::bench
