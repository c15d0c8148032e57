// Stateful fuzz target: two endpoints hold a conversation through an in-memory network that the
// fuzzer controls. Each input byte is an operation: deliver, drop, duplicate, reorder or mutate
// the next datagram in either direction, advance the clock, send lossless or lossy data, close,
// reconnect. Invariants checked after every step:
//   * nothing crashes, allocates without bound or loops (the harness bounds every loop);
//   * what each side's application reads is exactly a prefix of what the other side sent, in
//     order and exactly once (lossless), whatever the network did;
//   * buffered bytes never exceed the configured bounds.
// Build with -DNETCRYPTO_FUZZ_IDENTITY_CRYPTO=ON (scripts/fuzz.sh identity ...) to replace the
// cipher with an identity transform, so mutated packets still "authenticate" and reach deep
// states; never in a release build.
#include <array>
#include <deque>
#include <vector>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/random.hpp>

#include "fuzz_common.hpp"

namespace {

using namespace netcrypto;
using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t kBufferBound = 64 * 1024;

struct Side {
    Side(std::uint64_t seed, Instant now, bool accept)
        : rng(seed),
          endpoint(KeyPair::generate(rng), KeyPair::generate(rng), rng, now, config(accept)) {}
    static EndpointConfig config(bool accept) {
        EndpointConfig c;
        c.accept_all = accept;
        c.send_buffer_bytes = kBufferBound;
        c.recv_buffer_bytes = kBufferBound;
        c.lossy_queue_messages = 8;
        return c;
    }
    SeededRng rng;
    Endpoint endpoint;
    Bytes sent;      ///< lossless payload bytes this side's application handed over
    Bytes received;  ///< lossless payload bytes this side's application read
    std::optional<ConnectionId> id;
    std::uint8_t counter = 0;
};

struct Network {
    std::deque<Bytes> to_b;  // datagrams from A, on their way to B
    std::deque<Bytes> to_a;
};

class Input {
  public:
    explicit Input(std::span<const std::uint8_t> d) : d_(d) {}
    bool empty() const { return pos_ >= d_.size(); }
    std::uint8_t next() { return pos_ < d_.size() ? d_[pos_++] : 0; }

  private:
    std::span<const std::uint8_t> d_;
    std::size_t pos_ = 0;
};

const Address kAddrA = Address::ipv4(10, 0, 0, 1, 1);
const Address kAddrB = Address::ipv4(10, 0, 0, 2, 2);

void collect(Side& s, std::deque<Bytes>& out, Instant now) {
    std::array<std::uint8_t, kMaxDatagramSize> buf{};
    for (int i = 0; i < 4096; ++i) {
        auto t = s.endpoint.poll_transmit(now, buf);
        if (!t) break;
        if (out.size() < 4096)
            out.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(t->size));
    }
}

void read_all(Side& s, Instant now) {
    std::array<std::uint8_t, kMaxMessageSize> msg{};
    for (int guard = 0; guard < 4096; ++guard) {
        auto e = s.endpoint.poll_event();
        if (!e) break;
        if (e->kind == Event::Kind::kStatus && e->to == Status::kClosed && s.id &&
            e->connection == *s.id) {
            s.id.reset();
        }
        if (e->kind == Event::Kind::kStatus && e->to != Status::kClosed) s.id = e->connection;
        if (e->kind != Event::Kind::kReadable) continue;
        for (int i = 0; i < 4096; ++i) {
            auto n = s.endpoint.read_lossless(now, e->connection, msg);
            if (!n || *n == 0) break;
            s.received.insert(s.received.end(), msg.begin() + 1,
                              msg.begin() + static_cast<std::ptrdiff_t>(*n));
        }
        for (int i = 0; i < 64; ++i) {
            auto n = s.endpoint.read_lossy(e->connection, msg);
            if (!n || *n == 0) break;
        }
    }
}

void check([[maybe_unused]] const Side& from, [[maybe_unused]] const Side& to) {
#ifndef NETCRYPTO_FUZZ_IDENTITY_CRYPTO
    // In order, exactly once: what arrived is a prefix of what was sent. (With the identity
    // cipher the fuzzer can forge authentic-looking content, so only the other checks apply.)
    NETCRYPTO_FUZZ_CHECK(to.received.size() <= from.sent.size());
    NETCRYPTO_FUZZ_CHECK(std::equal(to.received.begin(), to.received.end(), from.sent.begin()));
#endif
}

void send_data(Side& s, Instant now, bool lossy, std::uint8_t len) {
    if (!s.id) return;
    std::array<std::uint8_t, 256> msg{};
    const std::size_t n = 1U + len;
    msg[0] = lossy ? 200 : 160;
    for (std::size_t i = 1; i < n; ++i) msg[i] = static_cast<std::uint8_t>(s.counter + i);
    auto r = lossy
                 ? s.endpoint.send_lossy(now, *s.id, std::span<const std::uint8_t>(msg).first(n))
                       .has_value()
                 : s.endpoint.send_lossless(now, *s.id, std::span<const std::uint8_t>(msg).first(n))
                       .has_value();
    if (r && !lossy) {
        s.sent.insert(s.sent.end(), msg.begin() + 1, msg.begin() + static_cast<std::ptrdiff_t>(n));
        ++s.counter;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Input in(netcrypto::fuzz::input(data, size));
    Instant now = instant_from_ms(1'000'000);
    Side a(1, now, false);
    Side b(2, now, true);
    Network net;
    a.id = *a.endpoint.connect(now, b.endpoint.public_key(), b.endpoint.dht_public_key(), kAddrB);
    collect(a, net.to_b, now);

    for (int step = 0; step < 2000 && !in.empty(); ++step) {
        const std::uint8_t op = in.next();
        const bool towards_b = (op & 0x80U) != 0;
        auto& queue = towards_b ? net.to_b : net.to_a;
        Side& dst = towards_b ? b : a;
        const Address& src_addr = towards_b ? kAddrA : kAddrB;
        switch (op & 0x0FU) {
            case 0:
            case 1:  // deliver
                if (!queue.empty()) {
                    dst.endpoint.handle_datagram(now, src_addr, queue.front());
                    queue.pop_front();
                }
                break;
            case 2:  // drop
                if (!queue.empty()) queue.pop_front();
                break;
            case 3:  // duplicate
                if (!queue.empty() && queue.size() < 4096) queue.push_back(queue.front());
                break;
            case 4:  // reorder
                if (queue.size() >= 2) std::swap(queue[0], queue[1]);
                break;
            case 5: {  // mutate a byte
                const std::uint8_t pos = in.next();
                const std::uint8_t x = in.next();
                if (!queue.empty() && !queue.front().empty()) {
                    queue.front()[pos % queue.front().size()] ^= static_cast<std::uint8_t>(x | 1U);
                }
                break;
            }
            case 6:  // advance the clock
                now += std::chrono::milliseconds{in.next()} * 10;
                break;
            case 7:
                send_data(towards_b ? a : b, now, false, in.next());
                break;
            case 8:
                send_data(towards_b ? a : b, now, true, in.next());
                break;
            case 9:  // close one side's connection
                if (Side& s = towards_b ? a : b; s.id) (void)s.endpoint.close(now, *s.id);
                break;
            case 10:  // A (re)connects
                if (!a.id) {
                    auto id = a.endpoint.connect(now, b.endpoint.public_key(),
                                                 b.endpoint.dht_public_key(), kAddrB);
                    if (id) a.id = *id;
                }
                break;
            case 11:  // a datagram from an unknown address
                if (!queue.empty()) {
                    dst.endpoint.handle_datagram(now, Address::ipv4(10, 9, 9, 9, 9), queue.front());
                }
                break;
            default:
                break;
        }
        a.endpoint.handle_timeout(now);
        b.endpoint.handle_timeout(now);
        read_all(a, now);
        read_all(b, now);
        collect(a, net.to_b, now);
        collect(b, net.to_a, now);
        check(a, b);
        check(b, a);
        for (Side* s : {&a, &b}) {
            if (!s->id) continue;
            if (auto info = s->endpoint.info(*s->id)) {
                NETCRYPTO_FUZZ_CHECK(info->send_buffered_bytes <= kBufferBound);
                NETCRYPTO_FUZZ_CHECK(info->recv_buffered_bytes <= kBufferBound);
            }
        }
        // A new connection restarts both streams (a new session is a new byte stream).
        if (!a.id || !b.id) {
            if (!a.id) {
                a.sent.clear();
                b.received.clear();
            }
            if (!b.id) {
                b.sent.clear();
                a.received.clear();
            }
        }
    }
    return 0;
}
