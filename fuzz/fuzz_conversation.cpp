// Stateful fuzz target: two endpoints hold a conversation through an in-memory network that the
// fuzzer controls. Each input byte is an operation: deliver, drop, duplicate, reorder or mutate
// the next datagram in either direction, advance the clock, send lossless or lossy data, close,
// reconnect. Invariants checked after every step:
//   * nothing crashes, allocates without bound or loops (the harness bounds every loop);
//   * on every connection, the lossless messages the application reads are one stream of the
//     peer's, from its first message on, in order, exactly once and uncorrupted (each message
//     carries its stream and number and a derived pattern), whatever the network did;
//   * buffered bytes never exceed the configured bounds.
// Build with -DNETCRYPTO_FUZZ_IDENTITY_CRYPTO=ON (scripts/fuzz.sh identity ...) to replace the
// cipher with an identity transform, so mutated packets still "authenticate" and reach deep
// states; never in a release build.
#include <array>
#include <deque>
#include <map>
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
    std::optional<ConnectionId> id;
    /// Sending: one stream per connection, numbered by `epoch` (bumped for every new
    /// connection) with a message counter restarting at 0.
    std::uint8_t epoch = 0;
    std::uint16_t counter = 0;
    /// Receiving: per connection, the stream seen so far.
    struct Stream {
        bool started = false;
        std::uint8_t epoch = 0;
        std::uint16_t next = 0;
    };
    std::map<std::uint64_t, Stream> streams;
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

/// A lossless message: [160][epoch][counter lo][counter hi][pattern...], the pattern derived
/// from (epoch, counter, position), so corruption, reordering, loss inside the stream and
/// duplication are all detectable by the receiver alone.
std::uint8_t pattern(std::uint8_t epoch, std::uint16_t counter, std::size_t i) {
    return static_cast<std::uint8_t>(epoch * 31U + counter * 7U + i * 13U);
}

void verify([[maybe_unused]] Side::Stream& st, [[maybe_unused]] std::span<const std::uint8_t> m) {
#ifndef NETCRYPTO_FUZZ_IDENTITY_CRYPTO
    // (With the identity cipher the fuzzer can forge authentic-looking content, so only the
    // other invariants apply there.)
    NETCRYPTO_FUZZ_CHECK(m.size() >= 4 && m[0] == 160);
    const std::uint8_t epoch = m[1];
    const auto counter = static_cast<std::uint16_t>(m[2] | (m[3] << 8U));
    for (std::size_t i = 4; i < m.size(); ++i)
        NETCRYPTO_FUZZ_CHECK(m[i] == pattern(epoch, counter, i));
    if (!st.started) {
        // A connection's stream starts at message 0 of one sender stream...
        NETCRYPTO_FUZZ_CHECK(counter == 0);
        st = Side::Stream{true, epoch, 1};
        return;
    }
    // ...and continues in order, exactly once, without switching streams.
    NETCRYPTO_FUZZ_CHECK(epoch == st.epoch);
    NETCRYPTO_FUZZ_CHECK(counter == st.next);
    ++st.next;
#endif
}

void read_all(Side& s, Instant now) {
    std::array<std::uint8_t, kMaxMessageSize> msg{};
    for (int guard = 0; guard < 4096; ++guard) {
        auto e = s.endpoint.poll_event();
        if (!e) break;
        const auto* sc = e->get_if<StatusChanged>();
        if (sc != nullptr && sc->to == Status::kClosed && s.id && sc->connection == *s.id) {
            s.id.reset();
        }
        if (sc != nullptr && sc->to != Status::kClosed && (!s.id || *s.id != sc->connection)) {
            s.id = sc->connection;  // a new connection: a new outgoing stream
            ++s.epoch;
            s.counter = 0;
        }
        const auto* r = e->get_if<Readable>();
        if (r == nullptr) continue;
        for (int i = 0; i < 4096; ++i) {
            auto n = s.endpoint.read_lossless(now, r->connection, msg);
            if (!n || *n == 0) break;
            verify(s.streams[r->connection.value], std::span<const std::uint8_t>(msg).first(*n));
        }
        for (int i = 0; i < 64; ++i) {
            auto n = s.endpoint.read_lossy(r->connection, msg);
            if (!n || *n == 0) break;
        }
    }
}

void send_data(Side& s, Instant now, bool lossy, std::uint8_t len) {
    if (!s.id) return;
    std::array<std::uint8_t, 260> msg{};
    const std::size_t n = 4U + len;
    msg[0] = lossy ? 200 : 160;
    msg[1] = s.epoch;
    msg[2] = static_cast<std::uint8_t>(s.counter & 0xFFU);
    msg[3] = static_cast<std::uint8_t>(s.counter >> 8U);
    for (std::size_t i = 4; i < n; ++i) msg[i] = pattern(s.epoch, s.counter, i);
    const auto view = std::span<const std::uint8_t>(msg).first(n);
    if (lossy) {
        (void)s.endpoint.send_lossy(now, *s.id, view);
    } else if (s.endpoint.send_lossless(now, *s.id, view)) {
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
                    if (id) {
                        a.id = *id;
                        ++a.epoch;
                        a.counter = 0;
                    }
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
        for (Side* s : {&a, &b}) {
            if (!s->id) continue;
            if (auto info = s->endpoint.info(*s->id)) {
                NETCRYPTO_FUZZ_CHECK(info->send_buffered_bytes <= kBufferBound);
                NETCRYPTO_FUZZ_CHECK(info->recv_buffered_bytes <= kBufferBound);
            }
        }
    }
    return 0;
}
