// Tox IDs (docs/discovery.md): the checksum rule on hand-computed vectors, printing, parsing in
// either case with whitespace, every error and its message, bare keys and Tox IDs as peers, and
// the nospam derived from a secret key.
#include <array>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/tox_id.hpp>

namespace netcrypto {
namespace {

// Key FF 00 00 ... 00, nospam 01 02 04 08. Checksum byte 0 XORs the bytes at even offsets of
// the first 36: FF (offset 0), 01 (32), 04 (34) → FA. Byte 1 the odd ones: 02 (33), 08 (35) →
// 0A.
const std::string kVectorHex = "FF" + std::string(62, '0') + "01020408" + "FA0A";

// SHA-512("netcrypto tox-id nospam v1" || 00 || 32 zero bytes) starts with B6 10 E9 FF
// (computed with Python's hashlib, independently of the library).
const std::string kZeroKeyNospamHex = "B610E9FF";

ToxId vector_id() {
    ToxId id;
    id.key.bytes[0] = 0xFF;
    id.nospam = {0x01, 0x02, 0x04, 0x08};
    return id;
}

std::string lower(std::string s) {
    for (char& c : s) {
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    }
    return s;
}

TEST(ToxId, ChecksumMatchesHandComputedVector) {
    EXPECT_EQ(vector_id().checksum(), (ToxIdChecksum{0xFA, 0x0A}));
    // Second vector: byte k = k for k = 0..35. Even offsets pair up as (4j, 4j+2), each pair
    // XORing to 02; nine pairs give 02. Odd offsets pair up as (4j+1, 4j+3), also 02 each → 02.
    ToxId seq;
    for (std::uint8_t i = 0; i < 32; ++i) seq.key.bytes[i] = i;
    seq.nospam = {32, 33, 34, 35};
    const std::uint8_t even = 0x02;
    const std::uint8_t odd = 0x02;
    EXPECT_EQ(seq.checksum(), (ToxIdChecksum{even, odd}));
}

TEST(ToxId, PrintsSeventySixUpperCaseHexDigits) {
    EXPECT_EQ(vector_id().to_string(), kVectorHex);
    const auto bytes = vector_id().to_bytes();
    EXPECT_EQ(bytes[0], 0xFF);
    EXPECT_EQ(bytes[32], 0x01);
    EXPECT_EQ(bytes[36], 0xFA);
    EXPECT_EQ(bytes[37], 0x0A);
}

TEST(ToxId, RoundTripsThroughText) {
    SeededRng rng(7);
    for (int i = 0; i < 50; ++i) {
        const KeyPair kp = KeyPair::generate(rng);
        const ToxId id = ToxId::for_key(kp.public_key, derive_nospam(kp.secret_key));
        const std::string text = id.to_string();
        ASSERT_EQ(text.size(), kToxIdHexSize);
        const auto parsed = ToxId::parse(text);
        ASSERT_TRUE(parsed) << to_string(parsed.error());
        EXPECT_EQ(*parsed, id);
    }
}

TEST(ToxId, ParseAcceptsEitherCaseAndSurroundingWhitespace) {
    EXPECT_EQ(ToxId::parse(lower(kVectorHex)).value(), vector_id());
    EXPECT_EQ(ToxId::parse(std::string("  \t").append(kVectorHex).append("\r\n")).value(),
              vector_id());
    std::string mixed = kVectorHex;
    mixed[73] = 'a';  // the A of FA0A... checksum digits in lower case
    mixed[0] = 'f';
    EXPECT_EQ(ToxId::parse(mixed).value(), vector_id());
}

TEST(ToxId, WrongLengthNamesTheLengthAndBothForms) {
    const auto e = ToxId::parse("  0123456789 ");
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().kind, ToxIdError::Kind::kWrongLength);
    EXPECT_EQ(e.error().length, 10U);
    const std::string msg = to_string(e.error());
    EXPECT_NE(msg.find("10 characters"), std::string::npos) << msg;
    EXPECT_NE(msg.find("76"), std::string::npos) << msg;
    EXPECT_NE(msg.find("64"), std::string::npos) << msg;
    EXPECT_EQ(ToxId::parse(kVectorHex + "0").error().length, 77U);
    EXPECT_EQ(ToxId::parse(kVectorHex.substr(1)).error().length, 75U);
    EXPECT_EQ(ToxId::parse("").error().length, 0U);
    // A bare key is not a Tox ID.
    EXPECT_EQ(ToxId::parse(kVectorHex.substr(0, 64)).error().kind, ToxIdError::Kind::kWrongLength);
}

TEST(ToxId, NotHexNamesThePositionInTheInput) {
    std::string bad = kVectorHex;
    bad[10] = 'g';
    const auto e = ToxId::parse(std::string("  ").append(bad));
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().kind, ToxIdError::Kind::kNotHex);
    EXPECT_EQ(e.error().position, 13U);  // 1-based, counting the two spaces
    EXPECT_EQ(e.error().character, 'g');
    EXPECT_EQ(to_string(e.error()), "not hex: 'g' at position 13 is not a hex digit");
    bad[10] = ' ';
    EXPECT_EQ(to_string(ToxId::parse(bad).error()),
              "not hex: byte 0x20 at position 11 is not a hex digit");
}

TEST(ToxId, BadChecksumNamesExpectedAndFound) {
    std::string bad = kVectorHex;
    bad[75] = 'B';  // FA0A → FA0B
    const auto e = ToxId::parse(bad);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().kind, ToxIdError::Kind::kBadChecksum);
    EXPECT_EQ(e.error().expected, (ToxIdChecksum{0xFA, 0x0A}));
    EXPECT_EQ(e.error().found, (ToxIdChecksum{0xFA, 0x0B}));
    EXPECT_EQ(to_string(e.error()),
              "bad Tox ID checksum: expected FA0A, found FA0B (a mistyped digit?)");
    // A typo in the key changes the expected checksum.
    std::string typo = kVectorHex;
    typo[1] = 'E';  // key byte 0 FF → FE
    EXPECT_EQ(ToxId::parse(typo).error().expected, (ToxIdChecksum{0xFB, 0x0A}));
}

TEST(ToxId, ParsePeerTakesABareKeyOrAToxId) {
    const PublicKey key = vector_id().key;
    EXPECT_EQ(parse_peer(kVectorHex).value(), key);
    EXPECT_EQ(parse_peer(std::string(" ").append(lower(kVectorHex)).append("\n")).value(), key);
    EXPECT_EQ(parse_peer(kVectorHex.substr(0, 64)).value(), key);
    EXPECT_EQ(parse_peer(lower(kVectorHex.substr(0, 64))).value(), key);
    // Any nospam names the same peer.
    const ToxId other = ToxId::for_key(key, {9, 9, 9, 9});
    EXPECT_EQ(parse_peer(other.to_string()).value(), key);
}

TEST(ToxId, ParsePeerErrorsAreTheSameOneLiners) {
    const auto short_key = parse_peer(kVectorHex.substr(0, 63));
    ASSERT_FALSE(short_key);
    EXPECT_EQ(to_string(short_key.error()),
              "wrong length: 63 characters; a Tox ID is 76 hex digits, a bare public key 64");
    std::string bad_key = kVectorHex.substr(0, 64);
    bad_key[63] = 'x';
    EXPECT_EQ(to_string(parse_peer(bad_key).error()),
              "not hex: 'x' at position 64 is not a hex digit");
    std::string bad_sum = kVectorHex;
    bad_sum[74] = '1';
    EXPECT_EQ(parse_peer(bad_sum).error().kind, ToxIdError::Kind::kBadChecksum);
}

TEST(ToxId, DerivedNospamIsStablePerKeyAndDiffersBetweenKeys) {
    SeededRng rng(11);
    const KeyPair a = KeyPair::generate(rng);
    const KeyPair b = KeyPair::generate(rng);
    EXPECT_EQ(derive_nospam(a.secret_key), derive_nospam(SecretKey(a.secret_key.bytes())));
    EXPECT_NE(derive_nospam(a.secret_key), derive_nospam(b.secret_key));
    // Known answer: a change of the derivation would change every user's printed Tox ID.
    std::array<std::uint8_t, 32> zero{};
    const Nospam n = derive_nospam(SecretKey(zero));
    EXPECT_EQ(ToxId::for_key(PublicKey{}, n).to_string().substr(64, 8), kZeroKeyNospamHex);
}

}  // namespace
}  // namespace netcrypto
