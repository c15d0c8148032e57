// The fixed scenario of fuzz_endpoint: an endpoint E at 10.0.0.1 holding one connection in every
// status, plus one pending incoming request, built from a conversation with five real peer
// endpoints (10.0.0.11 .. 10.0.0.15):
//
//   peer 0: E connected to it; its cookie response is withheld   -> E: CookieRequesting
//   peer 1: E connected, got the cookie; the peer's handshake is withheld -> E: HandshakeSending
//   peer 2: connected to E, E accepted; the peer's first data packet is withheld -> NotConfirmed
//   peer 3: connected to E, E accepted, data flowed                     -> E: Established
//   peer 4: connected to E, request left pending (not accepted)
//
// Then two peers "restart" with a new DHT key and connect to E again; their handshakes are
// withheld: peer 1 from its old (bound) address (wire.md §4.9 a: E restarts that connection) and
// peer 3 from a new port (wire.md §4.4 b: E replaces the established connection).
//
// record() runs that conversation once (with the peers' crypto) and keeps (a) every input E got,
// as a replayable script, and (b) the withheld packets plus a few more valid ones each peer
// could send next ("extras"): valid, decryptable packets for the fuzzer to start from and mutate.
// replay() feeds a fresh E (same seed, hence the same keys and randomness) the script, which
// rebuilds exactly the recorded state without any peer, so each fuzz input starts from it cheaply.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <netcrypto/endpoint.hpp>

namespace netcrypto::fuzz::endpoint {

using Bytes = std::vector<std::uint8_t>;

inline constexpr std::uint64_t kServerSeed = 0xE4D90147ULL;
inline constexpr std::size_t kPeers = 5;

inline Address server_address() { return Address::ipv4(10, 0, 0, 1, 33445); }
inline Address peer_address(std::size_t i) {
    return Address::ipv4(10, 0, 0, static_cast<std::uint8_t>(11 + i), 33445);
}
inline Instant start_time() { return instant_from_ms(1'000'000'000); }

/// E's configuration in the scenario: default, but a small pending-request table and a small
/// X25519 budget for strangers, so a few fuzzed requests put E under load.
inline EndpointConfig server_config() {
    EndpointConfig c;
    c.max_pending_incoming = 4;
    c.key_agreements_per_second = 12;
    return c;
}

/// One input of E's setup script.
struct Step {
    enum class Kind : std::uint8_t { kDeliver, kConnect, kAccept };
    Kind kind = Kind::kDeliver;
    Instant at;
    Address from;       ///< kDeliver: source; kConnect: the peer's address
    Bytes bytes;        ///< kDeliver
    PublicKey key;      ///< kConnect
    PublicKey dht;      ///< kConnect
    RequestId request;  ///< kAccept
};

/// A valid datagram a peer could send E next.
struct Extra {
    Address from;
    Bytes bytes;
};

struct Recording {
    std::vector<Step> steps;
    std::array<PublicKey, kPeers> peer_keys{};
    std::array<PublicKey, kPeers> peer_dht_keys{};
    std::vector<Extra> extras;
    Instant end;  ///< time after the script
};

/// E with its seeded randomness (the Rng must outlive the endpoint, so they travel together).
struct Server {
    SeededRng rng{kServerSeed};
    std::optional<Endpoint> endpoint;

    Server() {
        KeyPair real = KeyPair::generate(rng);
        KeyPair dht = KeyPair::generate(rng);
        endpoint.emplace(std::move(real), std::move(dht), rng, start_time(), server_config());
    }
};

/// Feeds `e` the script (discarding its outputs); it then holds the recorded state.
inline void replay(const Recording& rec, Endpoint& e) {
    std::array<std::uint8_t, kMaxDatagramSize> buf{};
    for (const Step& s : rec.steps) {
        switch (s.kind) {
            case Step::Kind::kDeliver:
                e.handle_datagram(s.at, s.from, s.bytes);
                break;
            case Step::Kind::kConnect:
                (void)e.connect(s.at, s.key, s.dht, s.from);
                break;
            case Step::Kind::kAccept:
                (void)e.accept(s.at, s.request);
                break;
        }
        while (e.poll_transmit(s.at, buf)) {
        }
        while (e.poll_event()) {
        }
    }
}

namespace detail {

struct Peer {
    std::unique_ptr<SeededRng> rng;
    std::optional<Endpoint> endpoint;
    Address address;
};

/// A zero-latency network of E and the peers that records E's inputs.
class Net {
  public:
    Net(Server& server, std::array<Peer, kPeers>& peers, Recording& rec)
        : server_(server), peers_(peers), rec_(rec) {}

    /// Delivers everything everybody wants to send, until quiet. Datagrams to E for which
    /// `withhold` returns true are kept as extras instead of being delivered.
    template <class Withhold>
    void pump(Instant now, Withhold&& withhold) {
        std::array<std::uint8_t, kMaxDatagramSize> buf{};
        for (int round = 0; round < 64; ++round) {
            bool any = false;
            while (auto t = server_.endpoint->poll_transmit(now, buf)) {
                any = true;
                for (std::size_t i = 0; i < kPeers; ++i) {
                    if (t->destination == peers_[i].address) {
                        peers_[i].endpoint->handle_datagram(now, server_address(),
                                                            std::span(buf).first(t->size));
                    }
                }
            }
            while (auto e = server_.endpoint->poll_event()) {
                if (const auto* in = e->get_if<IncomingRequest>()) last_request = in->request;
            }
            for (std::size_t i = 0; i < kPeers; ++i) {
                while (auto t = peers_[i].endpoint->poll_transmit(now, buf)) {
                    any = true;
                    if (t->destination != server_address()) continue;
                    Bytes bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(t->size));
                    if (withhold(i, bytes)) {
                        rec_.extras.push_back(Extra{peer_address(i), std::move(bytes)});
                        continue;
                    }
                    server_.endpoint->handle_datagram(now, peer_address(i), bytes);
                    rec_.steps.push_back(Step{
                        Step::Kind::kDeliver, now, peer_address(i), std::move(bytes), {}, {}, 0});
                }
                while (peers_[i].endpoint->poll_event()) {
                }
            }
            if (!any) return;
        }
    }

    RequestId last_request;

  private:
    Server& server_;
    std::array<Peer, kPeers>& peers_;
    Recording& rec_;
};

}  // namespace detail

/// Runs the scenario with real peers (see the file comment).
inline Recording record() {
    using namespace std::chrono_literals;
    Recording rec;
    Server server;
    Endpoint& e = *server.endpoint;
    std::array<detail::Peer, kPeers> peers;
    std::array<KeyPair, kPeers> long_term;
    EndpointConfig peer_config;
    peer_config.accept_all = true;
    for (std::size_t i = 0; i < kPeers; ++i) {
        peers[i].rng = std::make_unique<SeededRng>(kServerSeed + 1 + i);
        peers[i].address = peer_address(i);
        long_term[i] = KeyPair::generate(*peers[i].rng);
        KeyPair dht = KeyPair::generate(*peers[i].rng);
        peers[i].endpoint.emplace(long_term[i], std::move(dht), *peers[i].rng, start_time(),
                                  peer_config);
        rec.peer_keys[i] = peers[i].endpoint->public_key();
        rec.peer_dht_keys[i] = peers[i].endpoint->dht_public_key();
    }
    detail::Net net(server, peers, rec);
    Instant now = start_time();
    auto type_of = [](const Bytes& b) { return b.empty() ? 0 : b[0]; };

    // peer 0: E connects; the cookie response is withheld -> CookieRequesting.
    now += 10ms;
    (void)e.connect(now, rec.peer_keys[0], rec.peer_dht_keys[0], peer_address(0));
    rec.steps.push_back(Step{
        Step::Kind::kConnect, now, peer_address(0), {}, rec.peer_keys[0], rec.peer_dht_keys[0], 0});
    net.pump(now, [](std::size_t peer, const Bytes&) { return peer == 0; });

    // peer 1: E connects, gets the cookie; the handshake and data are withheld.
    now += 10ms;
    (void)e.connect(now, rec.peer_keys[1], rec.peer_dht_keys[1], peer_address(1));
    rec.steps.push_back(Step{
        Step::Kind::kConnect, now, peer_address(1), {}, rec.peer_keys[1], rec.peer_dht_keys[1], 0});
    net.pump(now,
             [&](std::size_t peer, const Bytes& b) { return peer == 1 && type_of(b) != 0x19; });

    // peers 2, 3, 4 connect to E; E accepts 2 and 3.
    for (std::size_t i = 2; i < kPeers; ++i) {
        now += 10ms;
        auto& p = *peers[i].endpoint;
        (void)p.connect(now, e.public_key(), e.dht_public_key(), server_address());
        net.pump(now, [](std::size_t, const Bytes&) { return false; });
        if (i == 4) break;  // left pending
        const RequestId request = net.last_request;
        (void)e.accept(now, request);
        rec.steps.push_back(Step{Step::Kind::kAccept, now, {}, {}, {}, {}, request});
        // peer 2's first data packet is withheld: E stays NotConfirmed.
        net.pump(now,
                 [&](std::size_t peer, const Bytes& b) { return peer == 2 && type_of(b) == 0x1b; });
    }

    // More valid packets the peers could send next (withheld too).
    now += 10ms;
    auto always = [](std::size_t, const Bytes&) { return true; };
    const auto at3 = peers[3].endpoint->find(e.public_key());
    if (at3) {
        const std::array<std::uint8_t, 4> lossless{160, 1, 2, 3};
        const std::array<std::uint8_t, 3> lossy{200, 9, 9};
        (void)peers[3].endpoint->send_lossless(now, *at3, lossless);
        (void)peers[3].endpoint->send_lossy(now, *at3, lossy);
        net.pump(now, always);
        (void)peers[3].endpoint->close(now, *at3);
        net.pump(now, always);
    }
    if (const auto at2 = peers[2].endpoint->find(e.public_key())) {
        (void)peers[2].endpoint->close(now, *at2);  // a KILL in NotConfirmed
        net.pump(now, always);
    }

    // Peers 1 and 3 restart with a new DHT key (peer 3 also on a new port) and dial E again:
    // their cookie requests reach E (part of the script), their handshakes are withheld.
    const std::array<std::pair<std::size_t, Address>, 2> restarts{
        {{1, peer_address(1)}, {3, Address::ipv4(10, 0, 0, 14, 40000)}}};
    for (const auto& [i, address] : restarts) {
        now += 10ms;
        peers[i].endpoint.reset();
        peers[i].address = address;
        KeyPair dht = KeyPair::generate(*peers[i].rng);
        peers[i].endpoint.emplace(long_term[i], std::move(dht), *peers[i].rng, now, peer_config);
        (void)peers[i].endpoint->connect(now, e.public_key(), e.dht_public_key(), server_address());
        net.pump(now, [&](std::size_t, const Bytes& b) { return type_of(b) != 0x18; });
    }
    rec.end = now;
    return rec;
}

}  // namespace netcrypto::fuzz::endpoint

// --- fuzz input format (shared by the target and the seed generator) ---------------------------
//
// An input is a sequence of records, each starting with an op byte (low 3 bits = kind):
//   0, 1, 2, 7  datagram: sel(1) dt(1) len(2 LE) bytes[len]   from address_for(sel), now += dt ms
//   3  extra:    idx(1) dt(1) pos(2 LE) xor(1)   a valid packet a peer could send next, with one
//                                                byte xored (xor 0: unchanged)
//   4  timer:    dt(2 LE)                        now += dt ms, then handle_timeout
//   5  app call: what(1) sel(1)                  close / send lossless / send lossy / read /
//                                                accept / reject / connect / queries
//   6  script:   idx(1) dt(1) pos(2 LE) xor(1)   re-sends one of E's setup inputs, one byte xored
// For kinds 3 and 6, op bit 7 set means "from address_for(op >> 3)" instead of the original
// source. A truncated record ends the input.
namespace netcrypto::fuzz::endpoint {

enum Op : std::uint8_t {
    kOpDatagram = 0,
    kOpExtra = 3,
    kOpTimer = 4,
    kOpApp = 5,
    kOpScript = 6,
};

/// The source address of selector `sel`: 0..4 the peers, 5 peer 3 on another port, 6 an
/// unknown IPv4 host, 7 an IPv6 host.
inline Address address_for(std::uint8_t sel) {
    switch (sel % 8U) {
        case 5:
            return Address::ipv4(10, 0, 0, 14, 40000);
        case 6:
            return Address::ipv4(192, 168, 7, 7, 7777);
        case 7: {
            Address a;
            a.family = Address::Family::kIPv6;
            a.ip[0] = 0xfd;
            a.ip[15] = 1;
            a.port = 33445;
            return a;
        }
        default:
            return peer_address(sel % 8U);
    }
}

/// Seed inputs: every extra and script packet alone and in combinations, timers that walk every
/// status to its timeout, application calls, and the valid packets inline as raw datagrams.
inline std::vector<Bytes> seed_inputs(const Recording& rec) {
    std::vector<Bytes> seeds;
    auto extra = [](Bytes& in, std::size_t idx, std::uint16_t pos = 0, std::uint8_t x = 0) {
        in.insert(in.end(),
                  {kOpExtra, static_cast<std::uint8_t>(idx), 1, static_cast<std::uint8_t>(pos),
                   static_cast<std::uint8_t>(pos >> 8U), x});
    };
    auto timer = [](Bytes& in, std::uint16_t ms) {
        in.insert(in.end(),
                  {kOpTimer, static_cast<std::uint8_t>(ms), static_cast<std::uint8_t>(ms >> 8U)});
    };
    auto raw = [](Bytes& in, std::uint8_t sel, const Bytes& bytes) {
        const auto n = static_cast<std::uint16_t>(bytes.size());
        in.insert(in.end(), {kOpDatagram, sel, 1, static_cast<std::uint8_t>(n),
                             static_cast<std::uint8_t>(n >> 8U)});
        in.insert(in.end(), bytes.begin(), bytes.end());
    };
    auto sel_of = [](const Address& a) -> std::uint8_t {
        for (std::uint8_t i = 0; i < 8; ++i) {
            if (address_for(i) == a) return i;
        }
        return 6;
    };
    seeds.emplace_back();  // nothing happens
    for (std::size_t i = 0; i < rec.extras.size(); ++i) {
        Bytes a;
        extra(a, i);
        seeds.push_back(a);
        timer(a, 1000);
        extra(a, i);  // the same again a second later
        seeds.push_back(a);
        Bytes r;
        raw(r, sel_of(rec.extras[i].from), rec.extras[i].bytes);
        seeds.push_back(r);
        Bytes m;
        extra(m, i, 40, 0x01);  // one flipped bit
        seeds.push_back(m);
        Bytes moved;
        moved.insert(moved.end(), {static_cast<std::uint8_t>(kOpExtra | 0x80U | (5U << 3U)),
                                   static_cast<std::uint8_t>(i), 1, 0, 0, 0});
        seeds.push_back(moved);  // from another port
    }
    {
        Bytes all;  // every extra in order: moves every connection on
        for (std::size_t i = 0; i < rec.extras.size(); ++i) extra(all, i);
        for (int s = 0; s < 12; ++s) timer(all, 1000);
        seeds.push_back(all);
    }
    {
        Bytes t;  // only time passes: every handshake times out, pending expires
        for (int s = 0; s < 40; ++s) timer(t, 1000);
        seeds.push_back(t);
    }
    std::size_t script_deliveries = 0;
    for (const Step& s : rec.steps) {
        if (s.kind == Step::Kind::kDeliver) ++script_deliveries;
    }
    for (std::size_t i = 0; i < script_deliveries; ++i) {
        Bytes in{kOpScript, static_cast<std::uint8_t>(i), 1, 0, 0, 0};
        seeds.push_back(in);
        in.insert(in.end(), {static_cast<std::uint8_t>(kOpScript | 0x80U | (6U << 3U)),
                             static_cast<std::uint8_t>(i), 1, 0, 0, 0});
        seeds.push_back(in);
    }
    for (std::uint8_t what = 0; what < 8; ++what) {
        for (std::uint8_t sel = 0; sel < 5; ++sel) {
            Bytes in{kOpApp, what, sel};
            timer(in, 50);
            seeds.push_back(in);
        }
    }
    {
        Bytes in;  // established traffic: send, receive, read, close
        in.insert(in.end(), {kOpApp, 1, 3, kOpApp, 2, 3});
        for (std::size_t i = 0; i < rec.extras.size(); ++i) extra(in, i);
        in.insert(in.end(), {kOpApp, 3, 3, kOpApp, 0, 3});
        timer(in, 2000);
        seeds.push_back(in);
    }
    return seeds;
}

}  // namespace netcrypto::fuzz::endpoint
