// DHT packet codecs (docs/discovery.md): byte-table layout of every packet (built by hand from
// the tables and compared with create_*), round trips between two key pairs, every length one
// off refused, tampered boxes refused, malformed plaintexts refused.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>

#include "core/crypto/crypto.hpp"
#include "core/dht/packets.hpp"

namespace netcrypto::dht {
namespace {

using Bytes = std::vector<std::uint8_t>;

struct Keys {
    SeededRng rng{21};
    KeyPair a = KeyPair::generate(rng);
    KeyPair b = KeyPair::generate(rng);
    SharedKey ab = shared(b.public_key, a.secret_key);  // what A uses to talk to B
    SharedKey ba = shared(a.public_key, b.secret_key);  // what B uses to talk to A

    static SharedKey shared(const PublicKey& pk, const SecretKey& sk) {
        SharedKey k;
        EXPECT_TRUE(k.precompute(pk, sk));
        return k;
    }
};

Nonce test_nonce(std::uint8_t seed) {
    Nonce n;
    for (std::size_t i = 0; i < n.bytes.size(); ++i)
        n.bytes[i] = static_cast<std::uint8_t>(seed + i);
    return n;
}

/// A boxed DHT packet laid out by hand: type (0), key (1..32), nonce (33..56), box (57..).
Bytes hand_boxed(std::uint8_t type, const PublicKey& pk, const SharedKey& key, const Nonce& nonce,
                 const Bytes& plain) {
    Bytes out(kBoxedHeaderSize + kMacSize + plain.size());
    out[0] = type;
    std::copy(pk.bytes.begin(), pk.bytes.end(), out.begin() + 1);
    std::copy(nonce.bytes.begin(), nonce.bytes.end(), out.begin() + 33);
    EXPECT_TRUE(crypto::seal(key, nonce, plain, std::span(out).subspan(57)));
    return out;
}

Bytes cat(std::initializer_list<std::span<const std::uint8_t>> parts) {
    Bytes out;
    for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

Bytes grown(Bytes b) {
    b.push_back(0);
    return b;
}
Bytes shrunk(Bytes b) {
    b.pop_back();
    return b;
}

TEST(DhtPackets, LanDiscoveryLayoutAndLengths) {
    Keys k;
    std::array<std::uint8_t, kLanDiscoverySize> out{};
    create_lan_discovery(k.a.public_key, out);
    const Bytes expected = cat({std::array<std::uint8_t, 1>{0x21}, k.a.public_key.bytes});
    EXPECT_EQ(Bytes(out.begin(), out.end()), expected);
    EXPECT_EQ(consume_lan_discovery(out).value(), k.a.public_key);
    EXPECT_EQ(consume_lan_discovery(shrunk(expected)).error(), DhtDropReason::kWrongLength);
    EXPECT_EQ(consume_lan_discovery(grown(expected)).error(), DhtDropReason::kWrongLength);
    EXPECT_EQ(consume_lan_discovery(Bytes{}).error(), DhtDropReason::kWrongType);
    Bytes wrong = expected;
    wrong[0] = 0x20;
    EXPECT_EQ(consume_lan_discovery(wrong).error(), DhtDropReason::kWrongType);
}

TEST(DhtPackets, NodesRequestLayoutRoundTripAndLengths) {
    Keys k;
    const PublicKey target{k.a.public_key};
    const Sendback sendback{1, 2, 3, 4, 5, 6, 7, 8};
    std::array<std::uint8_t, kNodesRequestSize> out{};
    create_nodes_request(k.a.public_key, k.ab, test_nonce(3), target, sendback, out);
    const Bytes plain = cat({target.bytes, sendback});
    ASSERT_EQ(plain.size(), 40U);
    const Bytes expected = hand_boxed(0x02, k.a.public_key, k.ab, test_nonce(3), plain);
    ASSERT_EQ(expected.size(), 113U);
    EXPECT_EQ(Bytes(out.begin(), out.end()), expected);

    const auto req = consume_nodes_request(out, k.ba);
    ASSERT_TRUE(req);
    EXPECT_EQ(req->sender_dht_pk, k.a.public_key);
    EXPECT_EQ(req->target, target);
    EXPECT_EQ(req->sendback, sendback);
    EXPECT_EQ(boxed_sender(out).value(), k.a.public_key);

    EXPECT_EQ(consume_nodes_request(shrunk(expected), k.ba).error(), DhtDropReason::kWrongLength);
    EXPECT_EQ(consume_nodes_request(grown(expected), k.ba).error(), DhtDropReason::kWrongLength);
    EXPECT_EQ(boxed_sender(shrunk(expected)).error(), DhtDropReason::kWrongLength);
    EXPECT_EQ(boxed_sender(grown(expected)).error(), DhtDropReason::kWrongLength);
    // A 40-byte plain that is one byte off (a 112/114-byte packet) never gets to the box.
    const Bytes short_plain(plain.begin(), plain.end() - 1);
    EXPECT_EQ(
        consume_nodes_request(hand_boxed(2, k.a.public_key, k.ab, test_nonce(3), short_plain), k.ba)
            .error(),
        DhtDropReason::kWrongLength);
}

TEST(DhtPackets, TamperedBoxesAreRefused) {
    Keys k;
    std::array<std::uint8_t, kNodesRequestSize> req{};
    create_nodes_request(k.a.public_key, k.ab, test_nonce(5), k.b.public_key, {}, req);
    for (std::size_t at : {std::size_t{33}, std::size_t{56}, std::size_t{57}, std::size_t{72},
                           std::size_t{73}, std::size_t{112}}) {
        auto bad = req;
        bad[at] ^= 0x01;
        EXPECT_EQ(consume_nodes_request(bad, k.ba).error(), DhtDropReason::kBadBox) << at;
    }
    // The wrong key (a third party's) does not open it either.
    SeededRng rng(99);
    const KeyPair c = KeyPair::generate(rng);
    EXPECT_EQ(consume_nodes_request(req, Keys::shared(k.a.public_key, c.secret_key)).error(),
              DhtDropReason::kBadBox);

    std::array<std::uint8_t, kPingSize> ping{};
    create_ping_request(k.a.public_key, k.ab, test_nonce(6), {1, 2, 3, 4, 5, 6, 7, 8}, ping);
    ping[60] ^= 0x80;
    EXPECT_EQ(consume_ping_request(ping, k.ba).error(), DhtDropReason::kBadBox);

    std::array<std::uint8_t, kNodesResponseMaxSize> resp{};
    const auto n = create_nodes_response(k.b.public_key, k.ba, test_nonce(7), {}, {}, resp);
    resp[n - 1] ^= 0x01;
    EXPECT_EQ(consume_nodes_response(std::span(resp).first(n), k.ab).error(),
              DhtDropReason::kBadBox);
}

std::vector<PackedNode> sample_nodes() {
    PackedNode udp4{false, Address::ipv4(192, 168, 1, 2, 33445), {}};
    PackedNode tcp4{true, Address::ipv4(10, 0, 0, 1, 443), {}};
    PackedNode udp6{false, Address{Address::Family::kIPv6, {}, 33446}, {}};
    udp6.address.ip = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    PackedNode tcp6 = udp6;
    tcp6.tcp = true;
    tcp6.address.port = 3389;
    std::vector<PackedNode> nodes{udp4, tcp4, udp6, tcp6};
    for (std::size_t i = 0; i < nodes.size(); ++i)
        nodes[i].dht_pk.bytes.fill(static_cast<std::uint8_t>(0xA0 + i));
    return nodes;
}

TEST(DhtPackets, NodesResponseLayoutWithEveryFamily) {
    Keys k;
    const auto nodes = sample_nodes();
    const Sendback sendback{9, 8, 7, 6, 5, 4, 3, 2};
    std::array<std::uint8_t, kNodesResponseMaxSize> out{};
    const std::size_t n =
        create_nodes_response(k.b.public_key, k.ba, test_nonce(8), nodes, sendback, out);
    // plain: n | 2,ip4,port,pk | 130,ip4,port,pk | 10,ip6,port,pk | 138,ip6,port,pk | sendback
    Bytes plain{4};
    auto node = [&plain](std::uint8_t family, std::span<const std::uint8_t> ip, std::uint16_t port,
                         const PublicKey& pk) {
        plain.push_back(family);
        plain.insert(plain.end(), ip.begin(), ip.end());
        plain.push_back(static_cast<std::uint8_t>(port >> 8U));
        plain.push_back(static_cast<std::uint8_t>(port & 0xFFU));
        plain.insert(plain.end(), pk.bytes.begin(), pk.bytes.end());
    };
    node(2, std::span(nodes[0].address.ip).first(4), 33445, nodes[0].dht_pk);
    node(130, std::span(nodes[1].address.ip).first(4), 443, nodes[1].dht_pk);
    node(10, nodes[2].address.ip, 33446, nodes[2].dht_pk);
    node(138, nodes[3].address.ip, 3389, nodes[3].dht_pk);
    plain.insert(plain.end(), sendback.begin(), sendback.end());
    const Bytes expected = hand_boxed(0x04, k.b.public_key, k.ba, test_nonce(8), plain);
    ASSERT_EQ(n, 82U + 2 * 39 + 2 * 51);
    EXPECT_EQ(Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)), expected);

    const auto resp = consume_nodes_response(expected, k.ab);
    ASSERT_TRUE(resp);
    EXPECT_EQ(resp->sender_dht_pk, k.b.public_key);
    EXPECT_EQ(resp->sendback, sendback);
    ASSERT_EQ(resp->node_list().size(), 4U);
    for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(resp->nodes[i], nodes[i]) << i;
}

TEST(DhtPackets, NodesResponseSizesFollowTheNodeCount) {
    Keys k;
    const auto all = sample_nodes();
    const PackedNode v4 = all[0];
    for (std::size_t count = 0; count <= kMaxNodes; ++count) {
        const std::vector<PackedNode> nodes(count, v4);
        std::array<std::uint8_t, kNodesResponseMaxSize> out{};
        const std::size_t n =
            create_nodes_response(k.b.public_key, k.ba, test_nonce(9), nodes, {}, out);
        ASSERT_EQ(n, 82 + 39 * count);
        const Bytes packet(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
        const auto resp = consume_nodes_response(packet, k.ab);
        ASSERT_TRUE(resp) << count;
        EXPECT_EQ(resp->node_count, count);
        EXPECT_EQ(boxed_sender(packet).value(), k.b.public_key);
        EXPECT_EQ(consume_nodes_response(shrunk(packet), k.ab).error(),
                  DhtDropReason::kWrongLength);
        EXPECT_EQ(consume_nodes_response(grown(packet), k.ab).error(), DhtDropReason::kWrongLength);
    }
    std::array<std::uint8_t, kNodesResponseMaxSize> out{};
    const std::vector<PackedNode> five(5, v4);
    EXPECT_EQ(create_nodes_response(k.b.public_key, k.ba, test_nonce(9), five, {}, out), 0U);
}

TEST(DhtPackets, NodesResponseMalformedPlainsAreRefused) {
    Keys k;
    const Bytes node(kPackedNodeV4Size, 0x11);
    auto packet = [&k](Bytes plain) {
        return hand_boxed(0x04, k.b.public_key, k.ba, test_nonce(10), plain);
    };
    Bytes five(1 + node.size() + kSendbackSize, 0);  // n = 5, room for one IPv4 node
    five[0] = 5;
    std::copy(node.begin(), node.end(), five.begin() + 1);
    EXPECT_EQ(consume_nodes_response(packet(five), k.ab).error(), DhtDropReason::kBadPlain);

    Bytes family{1, 3};  // unknown family 3
    family.resize(1 + kPackedNodeV4Size + kSendbackSize);
    EXPECT_EQ(consume_nodes_response(packet(family), k.ab).error(), DhtDropReason::kBadPlain);

    Bytes v6_in_v4{1, kFamilyUdp6};  // an IPv6 node in a packet sized for an IPv4 one
    v6_in_v4.resize(1 + kPackedNodeV4Size + kSendbackSize);
    EXPECT_EQ(consume_nodes_response(packet(v6_in_v4), k.ab).error(), DhtDropReason::kBadPlain);

    Bytes count_short{0};  // n = 0 but one node's bytes present
    count_short.resize(1 + kPackedNodeV4Size + kSendbackSize);
    EXPECT_EQ(consume_nodes_response(packet(count_short), k.ab).error(), DhtDropReason::kBadPlain);

    Bytes wrong = packet(Bytes(9, 0));
    wrong[0] = 0x03;
    EXPECT_EQ(consume_nodes_response(wrong, k.ab).error(), DhtDropReason::kWrongType);
    EXPECT_EQ(boxed_sender(wrong).error(), DhtDropReason::kWrongType);
}

TEST(DhtPackets, PingLayoutRoundTripAndInnerId) {
    Keys k;
    const PingId id{0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4};
    for (const std::uint8_t type : {kPingRequestType, kPingResponseType}) {
        std::array<std::uint8_t, kPingSize> out{};
        if (type == kPingRequestType) {
            create_ping_request(k.a.public_key, k.ab, test_nonce(11), id, out);
        } else {
            create_ping_response(k.a.public_key, k.ab, test_nonce(11), id, out);
        }
        const Bytes plain = cat({std::array<std::uint8_t, 1>{type}, id});
        const Bytes expected = hand_boxed(type, k.a.public_key, k.ab, test_nonce(11), plain);
        ASSERT_EQ(expected.size(), 82U);
        EXPECT_EQ(Bytes(out.begin(), out.end()), expected);

        const auto consume =
            type == kPingRequestType ? consume_ping_request : consume_ping_response;
        const auto other = type == kPingRequestType ? consume_ping_response : consume_ping_request;
        const auto ping = consume(out, k.ba);
        ASSERT_TRUE(ping);
        EXPECT_EQ(ping->sender_dht_pk, k.a.public_key);
        EXPECT_EQ(ping->ping_id, id);
        EXPECT_EQ(other(out, k.ba).error(), DhtDropReason::kWrongType);
        EXPECT_EQ(consume(shrunk(expected), k.ba).error(), DhtDropReason::kWrongLength);
        EXPECT_EQ(consume(grown(expected), k.ba).error(), DhtDropReason::kWrongLength);
        EXPECT_EQ(boxed_sender(shrunk(expected)).error(), DhtDropReason::kWrongLength);

        // The inner id must repeat the outer one.
        const std::uint8_t other_type = type ^ 1U;
        const Bytes mismatched = hand_boxed(type, k.a.public_key, k.ab, test_nonce(12),
                                            cat({std::array<std::uint8_t, 1>{other_type}, id}));
        EXPECT_EQ(consume(mismatched, k.ba).error(), DhtDropReason::kBadPlain);
    }
}

TEST(DhtPackets, BoxedSenderRefusesOtherTypes) {
    for (const int type : {0x03, 0x05, 0x18, 0x21, 0xFF}) {
        Bytes b(kPingSize, 0);
        b[0] = static_cast<std::uint8_t>(type);
        EXPECT_EQ(boxed_sender(b).error(), DhtDropReason::kWrongType) << type;
    }
    EXPECT_EQ(boxed_sender(Bytes{}).error(), DhtDropReason::kWrongType);
}

TEST(DhtPackets, DropReasonsHaveNames) {
    for (std::size_t i = 0; i < kDhtDropReasonCount; ++i) {
        EXPECT_NE(to_string(static_cast<DhtDropReason>(i)), "unknown") << i;
    }
}

}  // namespace
}  // namespace netcrypto::dht
