// Seed generator for the fuzz corpora: writes valid inputs (real encrypted packets, every data
// plaintext shape, cookies of the fuzz jar) and boundary cases (one byte short or long, wrong type)
// into OUT_DIR/<target>/seed-NNN. scripts/fuzz.sh corpus grows and minimises them with libFuzzer
// before they are committed under fuzz/corpus/.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/cookie.hpp"
#include "core/crypto/crypto.hpp"
#include "core/dht/packets.hpp"
#include "core/relay/frame.hpp"
#include "core/wire/packets.hpp"
#include "dht_fuzz.hpp"
#include "endpoint_scenario.hpp"
#include "fuzz_common.hpp"
#include "relay_fuzz.hpp"

namespace {

using namespace netcrypto;
using Bytes = std::vector<std::uint8_t>;

class Seeds {
  public:
    void add(const std::string& target, std::span<const std::uint8_t> bytes) {
        seeds_[target].emplace_back(bytes.begin(), bytes.end());
    }

    /// The input itself plus the same bytes one byte short, one byte long and (when it has a
    /// type byte) with a wrong type.
    void add_with_edges(const std::string& target, std::span<const std::uint8_t> bytes,
                        bool typed) {
        add(target, bytes);
        add(target, bytes.first(bytes.size() - 1));
        Bytes longer(bytes.begin(), bytes.end());
        longer.push_back(0);
        add(target, longer);
        if (typed) {
            Bytes wrong(bytes.begin(), bytes.end());
            wrong[0] ^= 0x03;
            add(target, wrong);
        }
    }

    int write(const std::filesystem::path& root) const {
        for (const auto& [target, inputs] : seeds_) {
            const auto dir = root / target;
            std::filesystem::create_directories(dir);
            for (std::size_t i = 0; i < inputs.size(); ++i) {
                std::string name = std::to_string(i);
                name.insert(0, 3 - std::min<std::size_t>(3, name.size()), '0');
                std::ofstream f(dir / ("seed-" + name), std::ios::binary);
                f.write(reinterpret_cast<const char*>(inputs[i].data()),
                        static_cast<std::streamsize>(inputs[i].size()));
                if (!f) {
                    std::cerr << "cannot write " << (dir / name) << "\n";
                    return 1;
                }
            }
            std::cout << target << ": " << inputs.size() << " seeds\n";
        }
        return 0;
    }

  private:
    std::map<std::string, std::vector<Bytes>> seeds_;
};

template <std::size_t N>
std::array<std::uint8_t, N> random_array(Rng& rng) {
    std::array<std::uint8_t, N> a{};
    rng.fill(a);
    return a;
}

crypto::SharedKey shared(const KeyPair& mine, const KeyPair& theirs) {
    crypto::SharedKey k;
    (void)k.precompute(theirs.public_key, mine.secret_key);
    return k;
}

void put_le(Bytes& out, std::uint64_t v, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8U * i)));
}

void handshake_family(Seeds& s, Rng& rng) {
    const KeyPair a_dht = KeyPair::generate(rng);
    const KeyPair b_dht = KeyPair::generate(rng);
    const KeyPair a_real = KeyPair::generate(rng);
    const KeyPair b_real = KeyPair::generate(rng);
    const core::CookieJar jar(rng, std::chrono::seconds(8));
    const Instant now = instant_from_ms(5000);

    // Cookie request and its plaintext.
    wire::CookieRequestPlain req_plain{a_real.public_key, {}, random_array<8>(rng)};
    std::array<std::uint8_t, wire::kCookieRequestPlainSize> rp{};
    wire::encode(req_plain, rp);
    s.add_with_edges("cookie_request_plain", rp, false);
    wire::CookieRequest req{a_dht.public_key, crypto::Nonce::random(rng), {}};
    (void)crypto::seal(shared(a_dht, b_dht), req.nonce, rp, req.encrypted);
    std::array<std::uint8_t, wire::kCookieRequestSize> rq{};
    wire::encode(req, rq);
    s.add_with_edges("cookie_request", rq, true);

    // Cookie contents.
    wire::CookieContents contents{5000, a_real.public_key, a_dht.public_key};
    std::array<std::uint8_t, wire::kCookieContentsSize> cc{};
    wire::encode(contents, cc);
    s.add_with_edges("cookie_contents", cc, false);

    // Cookie response and its plaintext.
    const wire::Cookie cookie = jar.issue(now, a_real.public_key, a_dht.public_key, rng);
    wire::CookieResponsePlain resp_plain{cookie, req_plain.echo_id};
    std::array<std::uint8_t, wire::kCookieResponsePlainSize> sp{};
    wire::encode(resp_plain, sp);
    s.add_with_edges("cookie_response_plain", sp, false);
    wire::CookieResponse resp{crypto::Nonce::random(rng), {}};
    (void)crypto::seal(shared(b_dht, a_dht), resp.nonce, sp, resp.encrypted);
    std::array<std::uint8_t, wire::kCookieResponseSize> rs{};
    wire::encode(resp, rs);
    s.add_with_edges("cookie_response", rs, true);

    // Handshake and its plaintext.
    const KeyPair a_session = KeyPair::generate(rng);
    wire::HandshakePlain hs_plain{crypto::Nonce::random(rng), a_session.public_key,
                                  crypto::sha512(cookie),
                                  jar.issue(now, b_real.public_key, b_dht.public_key, rng)};
    std::array<std::uint8_t, wire::kHandshakePlainSize> hp{};
    wire::encode(hs_plain, hp);
    s.add_with_edges("handshake_plain", hp, false);
    wire::Handshake hs{cookie, crypto::Nonce::random(rng), {}};
    (void)crypto::seal(shared(a_real, b_real), hs.nonce, hp, hs.encrypted);
    std::array<std::uint8_t, wire::kHandshakeSize> h{};
    wire::encode(hs, h);
    s.add_with_edges("handshake", h, true);
}

void data_family(Seeds& s, Rng& rng) {
    const crypto::SharedKey key = crypto::SharedKey::random(rng);
    crypto::Nonce nonce = crypto::Nonce::random(rng);

    // Plaintexts with c-toxcore padding: REQUEST, KILL, ALIVE, a REQUEST with holes, a
    // message, a lossy packet and the largest message.
    std::vector<Bytes> messages{
        {wire::kIdRequest},
        {wire::kIdKill},
        {0x10},
        {wire::kIdRequest, 1, 0, 0x2d},
        {0x40, 'h', 'e', 'l', 'l', 'o'},
        {0xC8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19},
        Bytes(wire::kMaxMessageSize, 0xA5)};
    messages.back()[0] = 0xA0;
    for (const auto& m : messages) {
        std::array<std::uint8_t, wire::kMaxDataPlainSize> plain{};
        const auto n =
            wire::encode_data_plain(static_cast<std::uint32_t>(rng.next_u64()),
                                    static_cast<std::uint32_t>(rng.next_u64()), m, plain);
        const auto p = std::span(plain).first(n);
        s.add("data_plain", p);

        Bytes packet(wire::kDataHeaderSize + wire::kMacSize + n);
        wire::encode_data_header(nonce.low16(), std::span<std::uint8_t, wire::kDataHeaderSize>(
                                                    packet.data(), wire::kDataHeaderSize));
        (void)crypto::seal(key, nonce, p, std::span(packet).subspan(wire::kDataHeaderSize));
        nonce.increment();
        s.add("data_packet", packet);
    }
    // Padding variations accepted on decode, and rejected plaintexts.
    Bytes no_pad{0, 0, 0, 1, 0, 0, 0, 2, 0x10};
    s.add("data_plain", no_pad);
    Bytes big_pad{0, 0, 0, 1, 0, 0, 0, 2};
    big_pad.insert(big_pad.end(), 100, 0);
    big_pad.push_back(0x40);
    s.add("data_plain", big_pad);
    Bytes only_pad{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0};
    s.add("data_plain", only_pad);
    s.add("data_plain", Bytes(wire::kDataPlainHeaderSize, 0x11));
    s.add("data_plain", Bytes(wire::kMaxDataPlainSize + 1, 0x11));

    // Data packet bounds: 27 (too short), 28 (smallest), 1401 (too long), wrong type.
    for (std::size_t n : {std::size_t{27}, std::size_t{28}, std::size_t{1401}}) {
        Bytes b(n, 0x5C);
        b[0] = wire::kDataType;
        s.add("data_packet", b);
    }
    Bytes wrong(40, 0x5C);
    wrong[0] = wire::kHandshakeType;
    s.add("data_packet", wrong);
}

void cookie_open_family(Seeds& s, Rng& rng) {
    const std::int64_t issued = 1'000'000;
    const PublicKey long_term_pk{random_array<32>(rng)};
    const PublicKey dht_pk{random_array<32>(rng)};

    // Raw mode: cookies of the fuzz jar (same seed as the target) opened around the boundaries,
    // and bytes that are no cookie.
    SeededRng jar_rng(fuzz::kJarSeed);
    const core::CookieJar jar(jar_rng, std::chrono::milliseconds(fuzz::kJarValidityMs));
    const wire::Cookie cookie = jar.issue(instant_from_ms(issued), long_term_pk, dht_pk, rng);
    for (std::int64_t delta : {0, 8000, 8001, -1}) {
        Bytes in{0};
        put_le(in, static_cast<std::uint64_t>(issued + delta), 8);
        in.insert(in.end(), cookie.begin(), cookie.end());
        s.add("cookie_open", in);
    }
    Bytes junk{0};
    put_le(junk, static_cast<std::uint64_t>(issued), 8);
    const auto noise = random_array<wire::kCookieSize>(rng);
    junk.insert(junk.end(), noise.begin(), noise.end());
    s.add("cookie_open", junk);

    // Issue mode: boundaries of time, rotations and tampering.
    struct Case {
        std::int32_t delta;
        std::uint8_t rotations;
        std::uint8_t tamper_at;
        std::uint8_t mask;
    };
    const std::array<Case, 9> cases{{{0, 0, 0, 0},
                                     {8000, 0, 0, 0},
                                     {8001, 0, 0, 0},
                                     {-1, 0, 0, 0},
                                     {100, 1, 0, 0},
                                     {100, 2, 0, 0},
                                     {100, 0, 0, 0x01},
                                     {100, 0, 111, 0x80},
                                     {100, 0, 40, 0xFF}}};
    for (const Case& c : cases) {
        Bytes in{1};
        put_le(in, static_cast<std::uint64_t>(issued), 8);
        put_le(in, static_cast<std::uint32_t>(c.delta), 4);
        in.insert(in.end(), long_term_pk.bytes.begin(), long_term_pk.bytes.end());
        in.insert(in.end(), dht_pk.bytes.begin(), dht_pk.bytes.end());
        in.push_back(c.rotations);
        in.push_back(c.tamper_at);
        in.push_back(c.mask);
        s.add("cookie_open", in);
    }
}

// fuzz_endpoint: scripted conversations with an endpoint holding a connection in every status.
void endpoint_family(Seeds& s) {
    const auto rec = fuzz::endpoint::record();
    for (const auto& in : fuzz::endpoint::seed_inputs(rec)) s.add("endpoint", in);
}

// fuzz_dht_packets: one valid packet of each DHT type (boxed with the target's fixed key), with
// its edges.
void dht_packets_family(Seeds& s, Rng& rng) {
    const crypto::SharedKey key = fuzz::dht::packets_key();
    const PublicKey pk{random_array<32>(rng)};
    std::array<std::uint8_t, dht::kLanDiscoverySize> lan{};
    dht::create_lan_discovery(pk, lan);
    s.add_with_edges("dht_packets", lan, true);
    std::array<std::uint8_t, dht::kNodesRequestSize> req{};
    dht::create_nodes_request(pk, key, crypto::Nonce::random(rng), pk, random_array<8>(rng), req);
    s.add_with_edges("dht_packets", req, true);
    std::array<std::uint8_t, dht::kPingSize> ping{};
    dht::create_ping_request(pk, key, crypto::Nonce::random(rng), random_array<8>(rng), ping);
    s.add_with_edges("dht_packets", ping, true);
    dht::create_ping_response(pk, key, crypto::Nonce::random(rng), random_array<8>(rng), ping);
    s.add_with_edges("dht_packets", ping, true);
    // Nodes responses with 0, 1 and 4 nodes of every family.
    std::vector<dht::PackedNode> nodes;
    for (std::uint8_t i = 0; i < 4; ++i) {
        dht::PackedNode n{(i & 1U) != 0, Address::ipv4(10, 0, 0, i, 33445),
                          PublicKey{random_array<32>(rng)}};
        if (i >= 2) n.address.family = Address::Family::kIPv6;
        nodes.push_back(n);
    }
    for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{4}}) {
        std::array<std::uint8_t, dht::kNodesResponseMaxSize> resp{};
        const std::size_t n =
            dht::create_nodes_response(pk, key, crypto::Nonce::random(rng),
                                       std::span(nodes).first(count), random_array<8>(rng), resp);
        s.add_with_edges("dht_packets", std::span(resp).first(n), true);
    }
}

// fuzz_discovery: scripted sessions (layout in dht_fuzz.hpp).
void discovery_family(Seeds& s) {
    namespace fd = fuzz::dht;
    const std::uint8_t start0 = 0;    // start address 0
    const std::uint8_t restart0 = 1;  // restart address 0
    const std::uint8_t forget0 = 2;   // forget address 0
    const std::uint8_t start1 = 3;    // start address 1
    const std::vector<Bytes> scripts{
        // Learn address 0 from peer 0, answered.
        {fd::kOpCommand, start0, fd::kOpPoll, fd::kOpNodesRequest, 0, 0, 7, fd::kOpPoll},
        // A request from the wrong address, then the right one after a resend.
        {fd::kOpCommand, start0, fd::kOpNodesRequest, 1, 0, 7, fd::kOpTime, 72, fd::kOpPoll,
         fd::kOpNodesRequest, 0, 1, 9, fd::kOpPoll},
        // Every resend and the failure.
        {fd::kOpCommand, start0, fd::kOpCommand, start1, fd::kOpTime, 72, fd::kOpTime, 72,
         fd::kOpTime, 72, fd::kOpTime, 72, fd::kOpPoll},
        // Restart and forget.
        {fd::kOpCommand, start0, fd::kOpCommand, restart0, fd::kOpNodesRequest, 0, 2, 1,
         fd::kOpCommand, restart0, fd::kOpCommand, forget0, fd::kOpPoll},
        // Pings until the budget is empty, then a second later.
        {fd::kOpPing, 0,           0,   1,           fd::kOpPing, 0, 1, 2,
         fd::kOpPing, 0,           2,   3,           fd::kOpPing, 0, 0, 4,
         fd::kOpPoll, fd::kOpTime, 143, fd::kOpPing, 0,           0, 5, fd::kOpPoll},
        // Raw datagrams: a LAN discovery packet, a short request, an unknown type.
        {fd::kOpRaw, 2,  33, 0x21, 1,  2,  3,          4,  5,  6,    7,          8,
         9,          10, 11, 12,   13, 14, 15,         16, 17, 18,   19,         20,
         21,         22, 23, 24,   25, 26, 27,         28, 29, 30,   31,         32,
         fd::kOpRaw, 0,  3,  0x02, 0,  0,  fd::kOpRaw, 1,  1,  0x77, fd::kOpPoll},
    };
    for (const auto& script : scripts) s.add("discovery", script);
    // A valid request as raw bytes, so mutations of it reach the decoder.
    SeededRng rng(9);
    const KeyPair ours = fd::our_keys();
    const KeyPair peer = fd::peer_keys(0);
    crypto::SharedKey key;
    (void)key.precompute(ours.public_key, peer.secret_key);
    std::array<std::uint8_t, dht::kNodesRequestSize> req{};
    dht::create_nodes_request(peer.public_key, key, crypto::Nonce::random(rng), peer.public_key, {},
                              req);
    Bytes raw{fd::kOpCommand, start0, fd::kOpRaw, 0, static_cast<std::uint8_t>(req.size())};
    raw.insert(raw.end(), req.begin(), req.end());
    raw.push_back(fd::kOpPoll);
    s.add("discovery", raw);
}

// fuzz_relay_frame: real frames sealed with the target's session (raw mode, so mutations reach
// the decoder and the parser) and record scripts (sealed mode) for every packet id.
void relay_frame_family(Seeds& s) {
    namespace rf = fuzz::relay;
    const crypto::SharedKey key = rf::frame_key();
    const PublicKey pk = rf::peer_key(0);
    std::vector<Bytes> plains{
        {relay::kPingId, 1, 2, 3, 4, 5, 6, 7, 8},
        {relay::kPongId, 8, 7, 6, 5, 4, 3, 2, 1},
        {relay::kConnectNotificationId, 16},
        {relay::kDisconnectNotificationId, 200},
        {relay::kRoutingResponseId, 17},
        {relay::kOobRecvId},
        {relay::kOnionResponseId, 1, 2, 3},
        {relay::kForwardingId, 4, 5},
        {16, 'd', 'a', 't', 'a'},
        {12, 0},
    };
    plains[4].insert(plains[4].end(), pk.bytes.begin(), pk.bytes.end());
    plains[5].insert(plains[5].end(), pk.bytes.begin(), pk.bytes.end());
    plains[5].push_back(0x42);
    crypto::Nonce nonce = rf::frame_nonce();
    Bytes raw{0x0E};     // mode 0, chunks of 8 bytes
    Bytes sealed{0x03};  // mode 1, chunks of 2 bytes
    for (const Bytes& p : plains) {
        std::array<std::uint8_t, relay::kMaxFrameSize> f{};
        const std::size_t n = relay::seal_frame(key, nonce, p, f);
        raw.insert(raw.end(), f.begin(), f.begin() + static_cast<std::ptrdiff_t>(n));
        sealed.push_back(0);
        sealed.push_back(static_cast<std::uint8_t>(p.size()));
        sealed.insert(sealed.end(), p.begin(), p.end());
    }
    s.add("relay_frame", raw);
    s.add("relay_frame", sealed);
    // An L = 0 record, a full-size frame, then an overlong header.
    Bytes edges{0x01, 0, 0, 0x07, 0xF0};
    edges.insert(edges.end(), relay::kMaxPacketSize, 16);
    edges.insert(edges.end(), {0x07, 0xF1, 1, 2, 3});
    s.add("relay_frame", edges);
    for (const Bytes& p : plains) {
        Bytes plain_only{0x00};
        plain_only.insert(plain_only.end(), p.begin(), p.end());
        s.add("relay_frame", plain_only);
    }
}

// fuzz_relay_client: scripted sessions (layout in relay_fuzz.hpp).
void relay_client_family(Seeds& s) {
    namespace rf = fuzz::relay;
    const std::uint8_t route = 0;
    const std::uint8_t data = 1;
    const std::uint8_t oob = 2;
    const std::uint8_t disconnect = 3;
    const std::vector<Bytes> scripts{
        // Route to peer 1, response id 16, connect, data both ways, OOB, disconnect.
        {rf::kOpCommand,
         route,
         1,
         rf::kOpWrite,
         rf::kOpNotify,
         0,
         16,
         1,
         rf::kOpNotify,
         1,
         16,
         0,
         rf::kOpCommand,
         data,
         1,
         rf::kOpNotify,
         4,
         16,
         5,
         rf::kOpCommand,
         oob,
         2,
         rf::kOpNotify,
         3,
         7,
         2,
         rf::kOpWrite,
         rf::kOpPoll,
         rf::kOpNotify,
         2,
         16,
         0,
         rf::kOpCommand,
         disconnect,
         1,
         rf::kOpWrite},
        // Pings: 30 s pass, the ping is written, no pong: 10 s later the connection closes.
        {rf::kOpTime, 120, rf::kOpWrite, rf::kOpTime, 40, rf::kOpPoll},
        // A relay ping answered; junk frames; an empty frame header.
        {rf::kOpFrame,
         9,
         relay::kPingId,
         1,
         1,
         1,
         1,
         1,
         1,
         1,
         1,
         rf::kOpFrame,
         2,
         12,
         0,
         rf::kOpFrame,
         1,
         40,
         rf::kOpRaw,
         2,
         0,
         0,
         rf::kOpWrite,
         rf::kOpPoll},
        // Routes up to the limit, refused routes, abandoned routes.
        {rf::kOpCommand,
         route,
         0,
         rf::kOpCommand,
         route,
         1,
         rf::kOpCommand,
         route,
         2,
         rf::kOpCommand,
         route,
         3,
         rf::kOpCommand,
         disconnect,
         2,
         rf::kOpWrite,
         rf::kOpNotify,
         0,
         0,
         0,
         rf::kOpNotify,
         0,
         20,
         2,
         rf::kOpWrite,
         rf::kOpPoll},
        // Floods: OOB events and data over the queue bounds, a partial write.
        {rf::kOpCommand,
         route,
         1,
         rf::kOpNotify,
         0,
         30,
         1,
         rf::kOpNotify,
         1,
         30,
         1,
         rf::kOpCommand,
         data,
         200,
         rf::kOpCommand,
         data,
         200,
         rf::kOpCommand,
         data,
         200,
         rf::kOpCommand,
         oob,
         110,
         rf::kOpCommand,
         oob,
         110,
         rf::kOpNotify,
         3,
         63,
         1,
         rf::kOpNotify,
         3,
         63,
         1,
         rf::kOpNotify,
         3,
         63,
         1,
         rf::kOpCommand,
         5,
         100},
        // A broken frame closes.
        {rf::kOpRaw, 4, 0x08, 0x01, 0, 0, rf::kOpPoll},
    };
    for (const auto& script : scripts) s.add("relay_client", script);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: " << argv[0] << " OUT_DIR\n";
        return 2;
    }
    SeededRng rng(0x5EED5);
    Seeds seeds;
    handshake_family(seeds, rng);
    handshake_family(seeds, rng);
    data_family(seeds, rng);
    cookie_open_family(seeds, rng);
    endpoint_family(seeds);
    dht_packets_family(seeds, rng);
    discovery_family(seeds);
    relay_frame_family(seeds);
    relay_client_family(seeds);
    return seeds.write(argv[1]);
}
