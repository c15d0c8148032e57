// Fuzz target: relay::Client (src/core/relay/client.hpp) after a completed handshake with the
// in-test relay (tests/support/relay_server.hpp), driven by frames, raw bytes, commands and time
// from the input (layout in relay_fuzz.hpp). Checked after every step: the bounds (write queue,
// per-route share, events), that the relay opens every byte the client writes and that every
// packet the client sends is one a c-toxcore relay accepts (so the client never gets itself
// closed), and that a closed client holds nothing.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/relay/client.hpp"
#include "fuzz_common.hpp"
#include "relay_fuzz.hpp"
#include "support/relay_server.hpp"

namespace {

using namespace netcrypto;
using namespace netcrypto::relay;
namespace fr = netcrypto::fuzz::relay;
using ByteVec = std::vector<std::uint8_t>;

/// A deterministic Rng that can be rewound, so every input starts from the same state.
class RewindRng final : public Rng {
  public:
    void fill(std::span<std::uint8_t> out) override {
        for (auto& b : out) {
            state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
            b = static_cast<std::uint8_t>(state_ >> 56U);
        }
    }
    void rewind() { state_ = fr::kSeed; }

  private:
    std::uint64_t state_ = fr::kSeed;
};

ClientConfig small_config() {
    ClientConfig cfg;
    cfg.max_write_bytes = 4096;
    cfg.control_reserve_bytes = 512;
    cfg.max_route_write_bytes = 2048;
    cfg.max_routes = 3;
    cfg.max_events = 8;
    cfg.max_event_bytes = 4096;
    return cfg;
}

struct World {
    RewindRng& rng;
    KeyPair relay_keys;
    KeyPair self;
    Instant now = instant_from_ms(1000);
    netcrypto::testing::ServerConn server;
    Client client;

    World(RewindRng& r, KeyPair relay, KeyPair me)
        : rng(r),
          relay_keys(std::move(relay)),
          self(std::move(me)),
          server(relay_keys, rng),
          client(now, self, relay_keys.public_key, rng, small_config()) {}
};

/// The connected starting point, built once; every input runs on a copy.
struct Prototype {
    RewindRng rng;
    std::optional<World> world;

    Prototype() {
        SeededRng keys(fr::kSeed);
        world.emplace(rng, KeyPair::generate(keys), KeyPair::generate(keys));
        World& w = *world;
        ByteVec up(w.client.pending_write_bytes());
        (void)w.client.poll_write(up);
        NETCRYPTO_FUZZ_CHECK(w.server.receive(up));
        w.client.handle_bytes(w.now, w.server.take_output());
        up.assign(w.client.pending_write_bytes(), 0);
        (void)w.client.poll_write(up);
        NETCRYPTO_FUZZ_CHECK(w.server.receive(up) && w.server.received.size() == 1);
        ByteVec pong = w.server.received[0];
        pong[0] = kPongId;
        w.server.received.clear();
        w.server.send(pong);
        w.client.handle_bytes(w.now, w.server.take_output());
        NETCRYPTO_FUZZ_CHECK(w.client.state() == ClientState::kConfirmed);
        while (w.client.poll_event()) {
        }
    }
};

/// Every packet a client sends must be one a c-toxcore relay accepts (spec §4.1).
void check_client_packet(const ByteVec& p) {
    NETCRYPTO_FUZZ_CHECK(!p.empty());
    const auto parsed = parse_packet(p);
    NETCRYPTO_FUZZ_CHECK(parsed.has_value());
    switch (p[0]) {
        case kRoutingRequestId:
        case kOobSendId:
            break;
        case kDisconnectNotificationId:
            NETCRYPTO_FUZZ_CHECK(p[1] >= kFirstConnectionId);
            break;
        case kPingId:
        case kPongId:
            // Our pings are never 0; pongs echo the relay's id (never 0 from a real relay, but
            // our fuzzed relay may send 0 and the echo is what c-toxcore does too).
            if (p[0] == kPingId) {
                NETCRYPTO_FUZZ_CHECK(
                    std::any_of(p.begin() + 1, p.end(), [](std::uint8_t b) { return b != 0; }));
            }
            break;
        default:
            NETCRYPTO_FUZZ_CHECK(p[0] >= kFirstConnectionId && p.size() >= 2);
    }
}

void check_bounds(const World& w) {
    const ClientConfig& cfg = w.client.config();
    NETCRYPTO_FUZZ_CHECK(w.client.pending_write_bytes() <=
                         cfg.max_write_bytes + cfg.control_reserve_bytes);
    NETCRYPTO_FUZZ_CHECK(w.client.queued_events() <= cfg.max_events + 1);
    NETCRYPTO_FUZZ_CHECK(w.client.queued_event_bytes() <= cfg.max_event_bytes);
    NETCRYPTO_FUZZ_CHECK(w.client.routes() <= cfg.max_routes);
    for (std::size_t k = 0; k < fr::kPeers; ++k) {
        if (const auto r = w.client.route(fr::peer_key(k))) {
            NETCRYPTO_FUZZ_CHECK(r->queued_bytes <= cfg.max_route_write_bytes);
        }
    }
    if (w.client.state() == ClientState::kClosed) {
        NETCRYPTO_FUZZ_CHECK(w.client.pending_write_bytes() == 0);
        NETCRYPTO_FUZZ_CHECK(!w.client.next_timeout().has_value());
        NETCRYPTO_FUZZ_CHECK(w.client.routes() == 0);
    }
}

void write_to_relay(World& w) {
    ByteVec up(w.client.pending_write_bytes());
    NETCRYPTO_FUZZ_CHECK(w.client.poll_write(up) == up.size());
    NETCRYPTO_FUZZ_CHECK(w.server.receive(up));
    for (const ByteVec& p : w.server.received) check_client_packet(p);
    w.server.received.clear();
}

void command(World& w, std::uint8_t c, std::uint8_t k) {
    const PublicKey& pk = fr::peer_key(k);
    const ByteVec data(std::size_t{k} * 9U, k);
    switch (c % 6) {
        case 0:
            (void)w.client.route_request(pk);
            break;
        case 1:
            (void)w.client.send_data(pk, data);
            break;
        case 2:
            (void)w.client.send_oob(pk, data);
            break;
        case 3:
            (void)w.client.disconnect(pk);
            break;
        case 4:
            w.client.close();
            break;
        default: {
            std::array<std::uint8_t, 700> buf{};
            (void)w.client.poll_write(std::span(buf).first(k));
            // Bytes taken but not given to the relay would desynchronise it: stop using it.
            w.server.received.clear();
            break;
        }
    }
}

ByteVec notification(std::uint8_t kind, std::uint8_t id, std::uint8_t k) {
    const PublicKey& pk = fr::peer_key(k);
    switch (kind % 5) {
        case 0: {
            ByteVec p{kRoutingResponseId, id};
            p.insert(p.end(), pk.bytes.begin(), pk.bytes.end());
            return p;
        }
        case 1:
            return {kConnectNotificationId, id};
        case 2:
            return {kDisconnectNotificationId, id};
        case 3: {
            ByteVec p{kOobRecvId};
            p.insert(p.end(), pk.bytes.begin(), pk.bytes.end());
            p.resize(p.size() + 1 + id % 64U * 16U, k);
            return p;
        }
        default:
            return ByteVec(1 + k % 40U, id);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Prototype proto;
    proto.rng.rewind();
    World w(*proto.world);
    const Bytes in = fuzz::input(data, size);
    std::size_t i = 0;
    bool relay_in_sync = true;
    auto next = [&]() -> std::uint8_t { return i < in.size() ? in[i++] : 0; };
    while (i < in.size()) {
        const std::uint8_t op = next() % fr::kOps;
        if (op == fr::kOpFrame || op == fr::kOpRaw) {
            const std::size_t len = next();
            const Bytes body = in.subspan(i, std::min(len, in.size() - i));
            i += body.size();
            if (op == fr::kOpFrame && !body.empty()) {
                w.server.send(body);
            } else {
                w.server.send_raw(body);
            }
            w.client.handle_bytes(w.now, w.server.take_output());
        } else if (op == fr::kOpCommand) {
            const std::uint8_t c = next();
            const std::uint8_t k = next();
            if (c % 6 == 5) relay_in_sync = false;
            command(w, c, k);
        } else if (op == fr::kOpTime) {
            w.now += std::chrono::milliseconds(250) * next();
            w.client.handle_timeout(w.now);
        } else if (op == fr::kOpWrite) {
            if (relay_in_sync) write_to_relay(w);
        } else if (op == fr::kOpNotify) {
            const std::uint8_t kind = next();
            const std::uint8_t id = next();
            w.server.send(notification(kind, id, next()));
            w.client.handle_bytes(w.now, w.server.take_output());
        } else {
            while (w.client.poll_event()) {
            }
        }
        check_bounds(w);
    }
    if (relay_in_sync) write_to_relay(w);
    return 0;
}
