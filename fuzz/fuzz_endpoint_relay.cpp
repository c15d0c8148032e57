// Fuzz target: an Endpoint whose TCP relay (the in-test relay, tests/support/relay_server.hpp)
// is hostile. After a real relay handshake and a connection to one peer (reached through the
// relay only), the input is a sequence of steps: sealed frames with any plaintext, raw bytes
// into the stream, out-of-band packets from the peer's DHT key or from strangers (carrying
// fuzzed net_crypto packets), routing responses, connect notifications and routed data, time
// passing, application sends, relay reconnections. Checked after every step: what the endpoint
// writes to the relay is a valid frame stream (the relay opens all of it) and stays bounded,
// events stay bounded, and the relay's state and the counters agree.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>

#include "fuzz_common.hpp"
#include "support/relay_server.hpp"

namespace {

using namespace netcrypto;
using namespace std::chrono_literals;
using ByteVec = std::vector<std::uint8_t>;

/// Deterministic randomness, restarted for every input.
class StepRng final : public Rng {
  public:
    void fill(std::span<std::uint8_t> out) override {
        for (auto& b : out) {
            state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
            b = static_cast<std::uint8_t>(state_ >> 56U);
        }
    }

  private:
    std::uint64_t state_ = 0x9E3779B97F4A7C15ULL;
};

/// Reads the input front to back; zeros once it is exhausted.
class Reader {
  public:
    explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
    [[nodiscard]] bool empty() const { return pos_ >= in_.size(); }
    std::uint8_t byte() { return pos_ < in_.size() ? in_[pos_++] : 0; }
    ByteVec bytes(std::size_t n) {
        n = std::min(n, in_.size() - std::min(pos_, in_.size()));
        ByteVec out(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
                    in_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
        pos_ += n;
        return out;
    }
    std::size_t length(std::size_t max) {
        const std::size_t v = (std::size_t{byte()} << 8U) | byte();
        return v % (max + 1);
    }

  private:
    std::span<const std::uint8_t> in_;
    std::size_t pos_ = 0;
};

/// Bytes the endpoint may have waiting for the relay at most: the relay session's write queue
/// (64 KiB of data and OOB, 16 KiB of control) and one frame.
constexpr std::size_t kMaxPending = (std::size_t{80} << 10U) + 2100;
constexpr std::size_t kMaxEventsPerStep = 4096;
constexpr std::size_t kMaxSteps = 256;

struct World {
    StepRng rng;
    KeyPair relay_keys = KeyPair::generate(rng);
    KeyPair peer_long_term = KeyPair::generate(rng);
    KeyPair peer_dht = KeyPair::generate(rng);
    Instant now = Instant{} + 1000h;
    Endpoint ep{KeyPair::generate(rng), KeyPair::generate(rng), rng, now};
    std::optional<netcrypto::testing::ServerConn> server;
    RelayId relay{};
    std::optional<ConnectionId> conn;
    bool up = false;

    void open() {
        server.emplace(relay_keys, rng);
        NETCRYPTO_FUZZ_CHECK(ep.relay_opened(now, relay).has_value());
        up = false;
    }

    /// Moves bytes both ways until quiet (bounded) and checks the invariants.
    void settle() {
        for (int round = 0; round < 8; ++round) {
            bool moved = false;
            std::array<std::uint8_t, kMaxDatagramSize> buf{};
            for (int i = 0; i < 1024 && ep.poll_transmit(now, buf); ++i) moved = true;
            const auto pending = ep.relay_pending(relay);
            NETCRYPTO_FUZZ_CHECK(pending.size() <= kMaxPending);
            if (!pending.empty() && server) {
                const ByteVec bytes(pending.begin(), pending.end());
                ep.consume_relay_bytes(relay, bytes.size());
                // Whatever the relay sent, our side of the stream stays valid.
                NETCRYPTO_FUZZ_CHECK(server->receive(bytes));
                for (const ByteVec& p : std::exchange(server->received, {})) {
                    NETCRYPTO_FUZZ_CHECK(!p.empty());
                    if (p[0] == 4 && p.size() == 9) {  // answer our PING: confirms us
                        ByteVec pong(p);
                        pong[0] = 5;
                        server->send(pong);
                    }
                }
                moved = true;
            }
            if (server && !server->out.empty()) {
                const ByteVec bytes = std::exchange(server->out, {});
                ep.handle_relay_bytes(now, relay, bytes);
                moved = true;
            }
            std::size_t events = 0;
            while (auto e = ep.poll_event()) {
                NETCRYPTO_FUZZ_CHECK(++events <= kMaxEventsPerStep);
                if (const auto* r = e->get_if<RelayStatusChanged>()) {
                    up = r->to == RelayState::kConnected;
                    if (r->to == RelayState::kDisconnected) server.reset();  // socket closed
                }
                if (const auto* s = e->get_if<StatusChanged>(); s && s->to == Status::kClosed) {
                    if (conn && *conn == s->connection) conn.reset();
                }
                moved = true;
            }
            if (!moved) break;
        }
        const auto info = ep.relay_info(relay);
        NETCRYPTO_FUZZ_CHECK(info.has_value());
        NETCRYPTO_FUZZ_CHECK((info->state == RelayState::kConnected) == up);
        NETCRYPTO_FUZZ_CHECK(info->routes <= 240 && info->online_routes <= info->routes);
        if (info->state == RelayState::kDisconnected) {
            NETCRYPTO_FUZZ_CHECK(ep.relay_pending(relay).empty());
        }
    }

    static ByteVec oob_from(const PublicKey& from, const ByteVec& data) {
        return packet(7, from.bytes, data);
    }
    /// `id` followed by `a` and `b`.
    static ByteVec packet(std::uint8_t id, std::span<const std::uint8_t> a,
                          std::span<const std::uint8_t> b = {}) {
        ByteVec p(1 + a.size() + b.size());
        p[0] = id;
        std::copy(a.begin(), a.end(), p.begin() + 1);
        std::copy(b.begin(), b.end(), p.begin() + 1 + static_cast<std::ptrdiff_t>(a.size()));
        return p;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    Reader in(netcrypto::fuzz::input(data, size));
    World w;
    auto id = w.ep.add_relay(w.now, w.relay_keys.public_key);
    NETCRYPTO_FUZZ_CHECK(id.has_value());
    w.relay = *id;
    w.open();
    w.settle();
    NETCRYPTO_FUZZ_CHECK(w.up);
    auto c = w.ep.connect(w.now, w.peer_long_term.public_key, w.peer_dht.public_key);
    NETCRYPTO_FUZZ_CHECK(c.has_value());
    w.conn = *c;
    w.settle();
    for (std::size_t step = 0; step < kMaxSteps && !in.empty(); ++step) {
        const std::uint8_t op = in.byte();
        switch (op % 10) {
            case 0:  // a sealed frame with any plaintext
                if (w.server) w.server->send(in.bytes(1 + in.length(2031)));
                break;
            case 1:  // raw bytes into the stream
                if (w.server) w.server->send_raw(in.bytes(in.length(64)));
                break;
            case 2:  // OOB from the peer's DHT key: a fuzzed net_crypto packet
                if (w.server)
                    w.server->send(
                        w.oob_from(w.peer_dht.public_key, in.bytes(1 + in.length(1023))));
                break;
            case 3: {  // OOB from a stranger
                PublicKey stranger;
                const ByteVec k = in.bytes(32);
                std::copy(k.begin(), k.end(), stranger.bytes.begin());
                if (w.server) w.server->send(w.oob_from(stranger, in.bytes(1 + in.length(1023))));
                break;
            }
            case 4: {  // a routing response for the peer, then CONNECT
                const std::uint8_t cid = in.byte();
                const std::array<std::uint8_t, 1> id_byte{cid};
                const ByteVec resp = World::packet(1, id_byte, w.peer_dht.public_key.bytes);
                if (w.server) {
                    w.server->send(resp);
                    w.server->send(ByteVec{2, cid});
                }
                break;
            }
            case 5: {  // routed data on an id
                const auto cid = static_cast<std::uint8_t>(16 + in.byte() % 240);
                if (w.server) w.server->send(World::packet(cid, in.bytes(in.length(1400))));
                break;
            }
            case 6:  // time passes
                w.now += std::chrono::milliseconds(std::size_t{in.byte()} * 250);
                w.ep.handle_timeout(w.now);
                break;
            case 7:  // the application sends
                if (w.conn) {
                    ByteVec m = in.bytes(1 + in.length(1372));
                    m[0] = static_cast<std::uint8_t>(160 + m[0] % 32);
                    (void)w.ep.send_lossless(w.now, *w.conn, m);
                }
                break;
            case 8:  // the TCP connection ends; a new one opens
                w.ep.relay_closed(w.now, w.relay);
                w.settle();
                w.open();
                break;
            default: {  // a DISCONNECT or PONG with fuzzed bytes
                const auto kind = static_cast<std::uint8_t>(in.byte() % 2 == 0 ? 3 : 5);
                if (w.server) w.server->send(World::packet(kind, in.bytes(in.length(8))));
                break;
            }
        }
        w.settle();
    }
    return 0;
}
