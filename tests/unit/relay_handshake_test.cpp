// Relay handshake (src/core/relay/handshake.hpp): the client's 128 bytes laid out as the spec's
// table says, the relay's 96 bytes (built by the independent test server) giving matching session
// keys and nonces, and every kind of bad response refused with the temporary secret wiped.
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
#include "core/relay/frame.hpp"
#include "core/relay/handshake.hpp"
#include "support/relay_server.hpp"

namespace netcrypto::relay {
namespace {

using testing::ByteVec;
using testing::ServerConn;

struct Fixture {
    SeededRng rng{41};
    KeyPair client = KeyPair::generate(rng);
    KeyPair relay = KeyPair::generate(rng);
};

TEST(RelayHandshake, RequestLayoutMatchesTheSpec) {
    Fixture f;
    std::array<std::uint8_t, kHandshakeRequestSize> req{};
    auto hs = create_client_handshake(f.client, f.relay.public_key, f.rng, req);
    ASSERT_TRUE(hs) << to_string(hs.error());
    EXPECT_TRUE(
        std::equal(f.client.public_key.bytes.begin(), f.client.public_key.bytes.end(), req.begin()))
        << "bytes 0..32 must be the client's public key in clear";
    Nonce n1;
    std::copy_n(req.begin() + 32, 24, n1.bytes.begin());
    SharedKey k;
    ASSERT_TRUE(k.precompute(f.client.public_key, f.relay.secret_key));
    std::array<std::uint8_t, 56> plain{};
    ASSERT_TRUE(crypto::open(k, n1, std::span(req).subspan(56), plain))
        << "bytes 56..128 must be a box to DH(relay pk, client sk) under the nonce at 32..56";
    EXPECT_TRUE(
        std::equal(hs->base_nonce.bytes.begin(), hs->base_nonce.bytes.end(), plain.begin() + 32))
        << "plain[32..56] must be the client's base nonce";
    PublicKey temp_pk;
    std::copy_n(plain.begin(), 32, temp_pk.bytes.begin());
    EXPECT_EQ(KeyPair::from_secret(hs->temp_secret).public_key, temp_pk)
        << "plain[0..32] must be the public half of the temporary key";
}

TEST(RelayHandshake, EveryHandshakeUsesFreshKeysAndNonces) {
    Fixture f;
    std::array<std::uint8_t, kHandshakeRequestSize> a{};
    std::array<std::uint8_t, kHandshakeRequestSize> b{};
    auto ha = create_client_handshake(f.client, f.relay.public_key, f.rng, a);
    auto hb = create_client_handshake(f.client, f.relay.public_key, f.rng, b);
    ASSERT_TRUE(ha && hb);
    EXPECT_FALSE(std::equal(a.begin() + 32, a.end(), b.begin() + 32));
    EXPECT_FALSE(ha->temp_secret == hb->temp_secret);
    EXPECT_NE(ha->base_nonce, hb->base_nonce);
}

TEST(RelayHandshake, ResponseGivesTheSessionTheServerUses) {
    Fixture f;
    std::array<std::uint8_t, kHandshakeRequestSize> req{};
    auto hs = create_client_handshake(f.client, f.relay.public_key, f.rng, req);
    ASSERT_TRUE(hs);
    ServerConn server(f.relay, f.rng);
    ASSERT_TRUE(server.receive(req));
    ASSERT_TRUE(server.handshaken()) << "the test server must accept our 128 bytes";
    EXPECT_EQ(server.client_pk(), f.client.public_key);
    const ByteVec resp = server.take_output();
    ASSERT_EQ(resp.size(), kHandshakeResponseSize);
    auto keys = open_relay_response(*hs, std::span<const std::uint8_t, 96>(resp.data(), 96));
    ASSERT_TRUE(keys) << to_string(keys.error());
    EXPECT_EQ(keys->send_nonce, hs->base_nonce) << "our first frame uses our base nonce";
    EXPECT_EQ(keys->recv_nonce, server.send_nonce()) << "the relay's first frame uses its nonce";
    EXPECT_TRUE(hs->temp_secret == SecretKey{}) << "the temporary secret must be wiped";

    // Frames sealed by each side open on the other: one key K for both directions.
    const ByteVec ping{4, 1, 2, 3, 4, 5, 6, 7, 8};
    std::array<std::uint8_t, kMaxFrameSize> frame{};
    Nonce n = keys->send_nonce;
    const std::size_t len = seal_frame(keys->key, n, ping, frame);
    ASSERT_EQ(len, 2 + 16 + ping.size());
    ASSERT_TRUE(server.receive(std::span(frame).first(len)));
    ASSERT_EQ(server.received.size(), 1U);
    EXPECT_EQ(server.received[0], ping);

    server.send(ping);
    const ByteVec back = server.take_output();
    FrameDecoder dec(keys->key, keys->recv_nonce);
    std::span<const std::uint8_t> in(back);
    ASSERT_EQ(dec.next(in), FrameDecoder::Status::kFrame);
    EXPECT_TRUE(
        std::equal(ping.begin(), ping.end(), dec.plaintext().begin(), dec.plaintext().end()));
}

TEST(RelayHandshake, TamperedResponsesAreRefusedAndWipeTheSecret) {
    Fixture f;
    for (std::size_t pos : {0UL, 23UL, 24UL, 39UL, 40UL, 95UL}) {
        std::array<std::uint8_t, kHandshakeRequestSize> req{};
        auto hs = create_client_handshake(f.client, f.relay.public_key, f.rng, req);
        ASSERT_TRUE(hs);
        ServerConn server(f.relay, f.rng);
        ASSERT_TRUE(server.receive(req));
        ByteVec resp = server.take_output();
        resp[pos] ^= 0x01;
        auto keys = open_relay_response(*hs, std::span<const std::uint8_t, 96>(resp.data(), 96));
        ASSERT_FALSE(keys) << "a response with byte " << pos << " flipped was accepted";
        EXPECT_EQ(keys.error(), HandshakeError::kBadBox);
        EXPECT_TRUE(hs->temp_secret == SecretKey{}) << "secret kept after a failed response";
    }
}

TEST(RelayHandshake, ResponseFromAnotherRelayKeyIsRefused) {
    Fixture f;
    const KeyPair impostor = KeyPair::generate(f.rng);
    std::array<std::uint8_t, kHandshakeRequestSize> req{};
    auto hs = create_client_handshake(f.client, f.relay.public_key, f.rng, req);
    ASSERT_TRUE(hs);
    ServerConn server(impostor, f.rng);
    EXPECT_FALSE(server.receive(req)) << "a relay with another key must not open our request";
    // Even a response made with the impostor's key for our client key does not open.
    std::array<std::uint8_t, kHandshakeRequestSize> req2{};
    ASSERT_TRUE(create_client_handshake(f.client, impostor.public_key, f.rng, req2));
    ServerConn server2(impostor, f.rng);
    ASSERT_TRUE(server2.receive(req2));
    const ByteVec resp = server2.take_output();
    EXPECT_FALSE(open_relay_response(*hs, std::span<const std::uint8_t, 96>(resp.data(), 96)));
}

TEST(RelayHandshake, LowOrderRelayKeyIsUnusable) {
    Fixture f;
    std::array<std::uint8_t, kHandshakeRequestSize> req{};
    req.fill(0xAA);
    auto hs = create_client_handshake(f.client, PublicKey{}, f.rng, req);
    ASSERT_FALSE(hs) << "the all-zero key gives no shared key";
    EXPECT_EQ(hs.error(), HandshakeError::kUnusableKey);
    EXPECT_TRUE(std::all_of(req.begin(), req.end(), [](std::uint8_t b) { return b == 0; }))
        << "nothing may be left in the output on failure";
}

}  // namespace
}  // namespace netcrypto::relay
