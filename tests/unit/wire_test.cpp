// Wire codecs (wire.md §2, §3): exact sizes, field offsets laid out by hand from the spec's byte
// tables, round trips, length and type rejection, the data-plaintext padding rule, data id
// classification and the bounds-checked ByteReader/ByteWriter.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>

#include "core/hex.hpp"
#include "core/wire/bytes.hpp"
#include "core/wire/constants.hpp"
#include "core/wire/packets.hpp"

namespace netcrypto::wire {
namespace {

using Bytes = std::vector<std::uint8_t>;

std::string hex(std::span<const std::uint8_t> b) { return core::hex_encode(b); }

/// EXPECT that `actual` holds exactly `expected`, naming `what` on failure.
void expect_bytes(std::span<const std::uint8_t> actual, std::span<const std::uint8_t> expected,
                  const std::string& what) {
    EXPECT_TRUE(std::equal(actual.begin(), actual.end(), expected.begin(), expected.end()))
        << what << " differs\n  got:  " << hex(actual) << "\n  want: " << hex(expected);
}

/// One row of a spec byte table.
struct Field {
    const char* name;
    std::size_t offset;
    std::size_t size;
};

/// The distinct pattern of field number `k` (1-based): byte j is (k << 5) | (j & 0x1F), so no two
/// fields share a byte value and a field shifted or reversed inside itself is noticed.
Bytes field_pattern(std::size_t k, std::size_t size) {
    Bytes b(size);
    for (std::size_t j = 0; j < size; ++j)
        b[j] = static_cast<std::uint8_t>((k << 5U) | (j & 0x1FU));
    return b;
}

/// Lays out a packet of `total` bytes by hand from a spec table. Fields must tile
/// [first field offset, total) exactly (checked: this also checks the table against the size
/// constants). If `type` is given it is written at offset 0 and the first field starts at 1.
Bytes lay_out(std::size_t total, const std::vector<Field>& fields,
              std::optional<std::uint8_t> type) {
    Bytes out(total, 0xEE);
    std::size_t expected_offset = 0;
    if (type) {
        out[0] = *type;
        expected_offset = 1;
    }
    for (std::size_t k = 0; k < fields.size(); ++k) {
        const Field& f = fields[k];
        EXPECT_EQ(f.offset, expected_offset)
            << "spec table: field '" << f.name << "' does not start where the previous one ends";
        const Bytes p = field_pattern(k + 1, f.size);
        std::copy(p.begin(), p.end(), out.begin() + static_cast<std::ptrdiff_t>(f.offset));
        expected_offset = f.offset + f.size;
    }
    EXPECT_EQ(expected_offset, total) << "spec table: fields do not add up to the packet size";
    return out;
}

/// The bytes of field number `index` (0-based) of a hand-laid packet.
Bytes expected_field(const std::vector<Field>& fields, std::size_t index) {
    return field_pattern(index + 1, fields[index].size);
}

template <std::size_t N>
std::array<std::uint8_t, N> random_array(Rng& rng) {
    std::array<std::uint8_t, N> a{};
    rng.fill(a);
    return a;
}

PublicKey random_pk(Rng& rng) { return PublicKey{random_array<kKeySize>(rng)}; }
crypto::Nonce random_nonce(Rng& rng) { return crypto::Nonce{random_array<kNonceSize>(rng)}; }

// ---------------------------------------------------------------------------------------------
// Sizes

TEST(WireSizes, MatchTheSpec) {
    EXPECT_EQ(kCookieSize, 112U) << "COOKIE_LENGTH";
    EXPECT_EQ(kCookieContentsSize, 72U) << "cookie contents";
    EXPECT_EQ(kCookieRequestSize, 145U) << "COOKIE_REQUEST_LENGTH";
    EXPECT_EQ(kCookieRequestPlainSize, 72U) << "cookie request plaintext";
    EXPECT_EQ(kCookieResponseSize, 161U) << "COOKIE_RESPONSE_LENGTH";
    EXPECT_EQ(kCookieResponsePlainSize, 120U) << "cookie response plaintext";
    EXPECT_EQ(kHandshakeSize, 385U) << "HANDSHAKE_PACKET_LENGTH";
    EXPECT_EQ(kHandshakePlainSize, 232U) << "handshake plaintext";
    EXPECT_EQ(kMaxPacketSize, 1400U) << "MAX_CRYPTO_PACKET_SIZE";
    EXPECT_EQ(kDataMinSize, 27U) << "CRYPTO_DATA_PACKET_MIN_SIZE";
    EXPECT_EQ(kMaxMessageSize, 1373U) << "MAX_CRYPTO_DATA_SIZE";
    EXPECT_EQ(kMaxDataPlainSize, 1381U) << "MAX_DATA_DATA_PACKET_SIZE";
    EXPECT_EQ(kMinCryptoPacketSize, 19U) << "CRYPTO_MIN_PACKET_SIZE";
    EXPECT_EQ(kMaxPadding, 8U) << "CRYPTO_MAX_PADDING";
}

TEST(WireSizes, TypeBytes) {
    EXPECT_EQ(kCookieRequestType, 0x18);
    EXPECT_EQ(kCookieResponseType, 0x19);
    EXPECT_EQ(kHandshakeType, 0x1a);
    EXPECT_EQ(kDataType, 0x1b);
}

TEST(WireSizes, DecodeErrorNamesAreDistinct) {
    const std::vector<std::string_view> names{
        to_string(DecodeError::kWrongType), to_string(DecodeError::kTooShort),
        to_string(DecodeError::kTooLong), to_string(DecodeError::kOnlyPadding)};
    for (std::size_t i = 0; i < names.size(); ++i) {
        EXPECT_FALSE(names[i].empty()) << "DecodeError " << i << " has no name";
        for (std::size_t j = i + 1; j < names.size(); ++j) {
            EXPECT_NE(names[i], names[j]) << "DecodeError " << i << " and " << j << " share a name";
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Length and type rejection of every fixed-size codec, table driven.

/// A decoder reduced to "accepted" (nullopt) or the error it reported.
using DecodeFn = std::function<std::optional<DecodeError>(std::span<const std::uint8_t>)>;

template <typename F>
DecodeFn reduce(F f) {
    return [f](std::span<const std::uint8_t> in) -> std::optional<DecodeError> {
        auto r = f(in);
        if (r) return std::nullopt;
        return r.error();
    };
}

struct FixedCodec {
    std::string name;
    std::size_t size;
    std::optional<std::uint8_t> type;  ///< nullopt for plaintexts (no type byte)
    DecodeFn decode;
};

std::vector<FixedCodec> fixed_codecs() {
    return {
        {"cookie_request", kCookieRequestSize, kCookieRequestType, reduce(decode_cookie_request)},
        {"cookie_request_plain", kCookieRequestPlainSize, std::nullopt,
         reduce(decode_cookie_request_plain)},
        {"cookie_response", kCookieResponseSize, kCookieResponseType,
         reduce(decode_cookie_response)},
        {"cookie_response_plain", kCookieResponsePlainSize, std::nullopt,
         reduce(decode_cookie_response_plain)},
        {"handshake", kHandshakeSize, kHandshakeType, reduce(decode_handshake)},
        {"handshake_plain", kHandshakePlainSize, std::nullopt, reduce(decode_handshake_plain)},
        {"cookie_contents", kCookieContentsSize, std::nullopt, reduce(decode_cookie_contents)},
    };
}

class FixedCodecTest : public ::testing::TestWithParam<FixedCodec> {};

Bytes valid_input(const FixedCodec& c, std::size_t size) {
    Bytes b(size, 0x5A);
    if (c.type && size > 0) b[0] = *c.type;
    return b;
}

TEST_P(FixedCodecTest, AcceptsExactSize) {
    const auto& c = GetParam();
    const auto r = c.decode(valid_input(c, c.size));
    EXPECT_FALSE(r.has_value()) << c.name << ": a well-formed " << c.size
                                << "-byte input was rejected as " << to_string(*r);
}

TEST_P(FixedCodecTest, RejectsOneByteShort) {
    const auto& c = GetParam();
    const auto r = c.decode(valid_input(c, c.size - 1));
    ASSERT_TRUE(r.has_value()) << c.name << ": " << c.size - 1 << " bytes were accepted";
    EXPECT_EQ(*r, DecodeError::kTooShort)
        << c.name << ": one byte short reported as " << to_string(*r);
}

TEST_P(FixedCodecTest, RejectsOneByteLong) {
    const auto& c = GetParam();
    const auto r = c.decode(valid_input(c, c.size + 1));
    ASSERT_TRUE(r.has_value()) << c.name << ": " << c.size + 1 << " bytes were accepted";
    EXPECT_EQ(*r, DecodeError::kTooLong)
        << c.name << ": one byte long reported as " << to_string(*r);
}

TEST_P(FixedCodecTest, RejectsEveryOtherLength) {
    const auto& c = GetParam();
    for (std::size_t n = 0; n <= kMaxPacketSize + 1; ++n) {
        if (n == c.size) continue;
        const auto r = c.decode(valid_input(c, n));
        ASSERT_TRUE(r.has_value()) << c.name << ": length " << n << " was accepted";
        if (n == 0 && c.type) {
            EXPECT_EQ(*r, DecodeError::kWrongType) << c.name << ": empty input";
        } else {
            EXPECT_EQ(*r, n < c.size ? DecodeError::kTooShort : DecodeError::kTooLong)
                << c.name << ": length " << n << " reported as " << to_string(*r);
        }
    }
}

/// Packets reject every type byte but their own; plaintexts have no type byte and accept any
/// first byte.
TEST_P(FixedCodecTest, TypeByteChecks) {
    const auto& c = GetParam();
    for (unsigned t = 0; t < 256; ++t) {
        Bytes b{static_cast<std::uint8_t>(t)};
        b.resize(c.size, 0x5A);
        const auto r = c.decode(b);
        if (!c.type) {
            EXPECT_FALSE(r.has_value()) << c.name << ": plaintext with first byte " << t
                                        << " rejected as " << to_string(*r);
        } else if (t == *c.type) {
            EXPECT_FALSE(r.has_value()) << c.name << ": its own type byte rejected";
        } else {
            ASSERT_TRUE(r.has_value()) << c.name << ": type byte " << t << " was accepted";
            EXPECT_EQ(*r, DecodeError::kWrongType)
                << c.name << ": type byte " << t << " reported as " << to_string(*r);
        }
    }
}

TEST_P(FixedCodecTest, AcceptsAnyContentOfTheRightSize) {
    const auto& c = GetParam();
    SeededRng rng(0xC0DEC);
    for (int i = 0; i < 50; ++i) {
        Bytes b(c.size);
        rng.fill(b);
        if (c.type) b[0] = *c.type;
        const auto r = c.decode(b);
        EXPECT_FALSE(r.has_value()) << c.name << ": random content rejected as " << to_string(*r);
    }
}

INSTANTIATE_TEST_SUITE_P(Wire, FixedCodecTest, ::testing::ValuesIn(fixed_codecs()),
                         [](const ::testing::TestParamInfo<FixedCodec>& param_info) {
                             return param_info.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// Cookie contents (72 bytes)

const std::vector<Field> kCookieContentsTable{
    {"creation time", 0, 8}, {"real pk", 8, 32}, {"dht pk", 40, 32}};

TEST(CookieContents, EveryFieldAtItsOffset) {
    const Bytes in = lay_out(kCookieContentsSize, kCookieContentsTable, std::nullopt);
    const auto c = decode_cookie_contents(in);
    ASSERT_TRUE(c) << to_string(c.error());
    // Bytes 0..7 are 0x20..0x27: read as little-endian, byte 0 is the least significant.
    EXPECT_EQ(c->time_ms, 0x2726252423222120ULL) << "creation time is not little-endian at 0..8";
    expect_bytes(c->long_term_pk.bytes, expected_field(kCookieContentsTable, 1),
                 "real pk (offset 8)");
    expect_bytes(c->dht_pk.bytes, expected_field(kCookieContentsTable, 2), "dht pk (offset 40)");

    std::array<std::uint8_t, kCookieContentsSize> out{};
    encode(*c, out);
    expect_bytes(out, in, "re-encoded cookie contents");
}

TEST(CookieContents, RoundTrip) {
    SeededRng rng(1);
    for (int i = 0; i < 20; ++i) {
        CookieContents c{rng.next_u64(), random_pk(rng), random_pk(rng)};
        std::array<std::uint8_t, kCookieContentsSize> out{};
        encode(c, out);
        const auto d = decode_cookie_contents(out);
        ASSERT_TRUE(d) << to_string(d.error());
        EXPECT_EQ(d->time_ms, c.time_ms) << "creation time";
        EXPECT_EQ(d->long_term_pk, c.long_term_pk) << "real pk";
        EXPECT_EQ(d->dht_pk, c.dht_pk) << "dht pk";
    }
}

// ---------------------------------------------------------------------------------------------
// Cookie request 0x18 (145 bytes) and its 72-byte plaintext

const std::vector<Field> kCookieRequestTable{
    {"sender dht pk", 1, 32}, {"nonce", 33, 24}, {"encrypted", 57, 88}};
const std::vector<Field> kCookieRequestPlainTable{
    {"sender real pk", 0, 32}, {"padding", 32, 32}, {"echo id", 64, 8}};

TEST(CookieRequest, EveryFieldAtItsOffset) {
    const Bytes in = lay_out(kCookieRequestSize, kCookieRequestTable, kCookieRequestType);
    const auto p = decode_cookie_request(in);
    ASSERT_TRUE(p) << to_string(p.error());
    expect_bytes(p->sender_dht_pk.bytes, expected_field(kCookieRequestTable, 0),
                 "sender dht pk (offset 1)");
    expect_bytes(p->nonce.bytes, expected_field(kCookieRequestTable, 1), "nonce (offset 33)");
    expect_bytes(p->encrypted, expected_field(kCookieRequestTable, 2), "encrypted (offset 57)");

    std::array<std::uint8_t, kCookieRequestSize> out{};
    encode(*p, out);
    expect_bytes(out, in, "re-encoded cookie request");
}

TEST(CookieRequest, RoundTrip) {
    SeededRng rng(2);
    for (int i = 0; i < 20; ++i) {
        CookieRequest p{random_pk(rng), random_nonce(rng),
                        random_array<kCookieRequestCipherSize>(rng)};
        std::array<std::uint8_t, kCookieRequestSize> out{};
        encode(p, out);
        EXPECT_EQ(out[0], kCookieRequestType) << "type byte";
        const auto d = decode_cookie_request(out);
        ASSERT_TRUE(d) << to_string(d.error());
        EXPECT_EQ(d->sender_dht_pk, p.sender_dht_pk) << "sender dht pk";
        EXPECT_EQ(d->nonce, p.nonce) << "nonce";
        EXPECT_EQ(d->encrypted, p.encrypted) << "encrypted part";
    }
}

TEST(CookieRequestPlain, EveryFieldAtItsOffset) {
    const Bytes in = lay_out(kCookieRequestPlainSize, kCookieRequestPlainTable, std::nullopt);
    const auto p = decode_cookie_request_plain(in);
    ASSERT_TRUE(p) << to_string(p.error());
    expect_bytes(p->sender_long_term_pk.bytes, expected_field(kCookieRequestPlainTable, 0),
                 "sender real pk (offset 0)");
    expect_bytes(p->padding, expected_field(kCookieRequestPlainTable, 1), "padding (offset 32)");
    expect_bytes(p->echo_id, expected_field(kCookieRequestPlainTable, 2), "echo id (offset 64)");

    std::array<std::uint8_t, kCookieRequestPlainSize> out{};
    encode(*p, out);
    expect_bytes(out, in, "re-encoded cookie request plaintext");
}

TEST(CookieRequestPlain, RoundTripAndZeroPaddingByDefault) {
    SeededRng rng(3);
    CookieRequestPlain p;
    p.sender_long_term_pk = random_pk(rng);
    p.echo_id = random_array<kEchoIdSize>(rng);
    std::array<std::uint8_t, kCookieRequestPlainSize> out{};
    encode(p, out);
    EXPECT_TRUE(std::all_of(out.begin() + 32, out.begin() + 64, [](auto b) { return b == 0; }))
        << "a default request plaintext must carry 32 zero padding bytes, got "
        << hex(std::span(out).subspan(32, 32));
    const auto d = decode_cookie_request_plain(out);
    ASSERT_TRUE(d) << to_string(d.error());
    EXPECT_EQ(d->sender_long_term_pk, p.sender_long_term_pk) << "sender real pk";
    EXPECT_EQ(d->padding, p.padding) << "padding";
    EXPECT_EQ(d->echo_id, p.echo_id) << "echo id";
}

// ---------------------------------------------------------------------------------------------
// Cookie response 0x19 (161 bytes) and its 120-byte plaintext

const std::vector<Field> kCookieResponseTable{{"nonce", 1, 24}, {"encrypted", 25, 136}};
const std::vector<Field> kCookieResponsePlainTable{{"cookie", 0, 112}, {"echo id", 112, 8}};

TEST(CookieResponse, EveryFieldAtItsOffset) {
    const Bytes in = lay_out(kCookieResponseSize, kCookieResponseTable, kCookieResponseType);
    const auto p = decode_cookie_response(in);
    ASSERT_TRUE(p) << to_string(p.error());
    expect_bytes(p->nonce.bytes, expected_field(kCookieResponseTable, 0), "nonce (offset 1)");
    expect_bytes(p->encrypted, expected_field(kCookieResponseTable, 1), "encrypted (offset 25)");

    std::array<std::uint8_t, kCookieResponseSize> out{};
    encode(*p, out);
    expect_bytes(out, in, "re-encoded cookie response");
}

TEST(CookieResponse, RoundTrip) {
    SeededRng rng(4);
    for (int i = 0; i < 20; ++i) {
        CookieResponse p{random_nonce(rng), random_array<kCookieResponseCipherSize>(rng)};
        std::array<std::uint8_t, kCookieResponseSize> out{};
        encode(p, out);
        EXPECT_EQ(out[0], kCookieResponseType) << "type byte";
        const auto d = decode_cookie_response(out);
        ASSERT_TRUE(d) << to_string(d.error());
        EXPECT_EQ(d->nonce, p.nonce) << "nonce";
        EXPECT_EQ(d->encrypted, p.encrypted) << "encrypted part";
    }
}

TEST(CookieResponsePlain, EveryFieldAtItsOffset) {
    const Bytes in = lay_out(kCookieResponsePlainSize, kCookieResponsePlainTable, std::nullopt);
    const auto p = decode_cookie_response_plain(in);
    ASSERT_TRUE(p) << to_string(p.error());
    expect_bytes(p->cookie, expected_field(kCookieResponsePlainTable, 0), "cookie (offset 0)");
    expect_bytes(p->echo_id, expected_field(kCookieResponsePlainTable, 1), "echo id (offset 112)");

    std::array<std::uint8_t, kCookieResponsePlainSize> out{};
    encode(*p, out);
    expect_bytes(out, in, "re-encoded cookie response plaintext");
}

TEST(CookieResponsePlain, RoundTrip) {
    SeededRng rng(5);
    for (int i = 0; i < 20; ++i) {
        CookieResponsePlain p{random_array<kCookieSize>(rng), random_array<kEchoIdSize>(rng)};
        std::array<std::uint8_t, kCookieResponsePlainSize> out{};
        encode(p, out);
        const auto d = decode_cookie_response_plain(out);
        ASSERT_TRUE(d) << to_string(d.error());
        EXPECT_EQ(d->cookie, p.cookie) << "cookie";
        EXPECT_EQ(d->echo_id, p.echo_id) << "echo id";
    }
}

// ---------------------------------------------------------------------------------------------
// Handshake 0x1a (385 bytes) and its 232-byte plaintext

const std::vector<Field> kHandshakeTable{
    {"cookie", 1, 112}, {"nonce", 113, 24}, {"encrypted", 137, 248}};
const std::vector<Field> kHandshakePlainTable{{"base nonce", 0, 24},
                                              {"session pk", 24, 32},
                                              {"cookie hash", 56, 64},
                                              {"other cookie", 120, 112}};

TEST(HandshakePacket, EveryFieldAtItsOffset) {
    const Bytes in = lay_out(kHandshakeSize, kHandshakeTable, kHandshakeType);
    const auto p = decode_handshake(in);
    ASSERT_TRUE(p) << to_string(p.error());
    expect_bytes(p->cookie, expected_field(kHandshakeTable, 0), "cookie (offset 1)");
    expect_bytes(p->nonce.bytes, expected_field(kHandshakeTable, 1), "nonce (offset 113)");
    expect_bytes(p->encrypted, expected_field(kHandshakeTable, 2), "encrypted (offset 137)");

    std::array<std::uint8_t, kHandshakeSize> out{};
    encode(*p, out);
    expect_bytes(out, in, "re-encoded handshake");
}

TEST(HandshakePacket, RoundTrip) {
    SeededRng rng(6);
    for (int i = 0; i < 20; ++i) {
        Handshake p{random_array<kCookieSize>(rng), random_nonce(rng),
                    random_array<kHandshakeCipherSize>(rng)};
        std::array<std::uint8_t, kHandshakeSize> out{};
        encode(p, out);
        EXPECT_EQ(out[0], kHandshakeType) << "type byte";
        const auto d = decode_handshake(out);
        ASSERT_TRUE(d) << to_string(d.error());
        EXPECT_EQ(d->cookie, p.cookie) << "cookie";
        EXPECT_EQ(d->nonce, p.nonce) << "nonce";
        EXPECT_EQ(d->encrypted, p.encrypted) << "encrypted part";
    }
}

TEST(HandshakePlain, EveryFieldAtItsOffset) {
    const Bytes in = lay_out(kHandshakePlainSize, kHandshakePlainTable, std::nullopt);
    const auto p = decode_handshake_plain(in);
    ASSERT_TRUE(p) << to_string(p.error());
    expect_bytes(p->base_nonce.bytes, expected_field(kHandshakePlainTable, 0),
                 "base nonce (offset 0)");
    expect_bytes(p->session_pk.bytes, expected_field(kHandshakePlainTable, 1),
                 "session pk (offset 24)");
    expect_bytes(p->cookie_hash, expected_field(kHandshakePlainTable, 2),
                 "cookie hash (offset 56)");
    expect_bytes(p->other_cookie, expected_field(kHandshakePlainTable, 3),
                 "other cookie (offset 120)");

    std::array<std::uint8_t, kHandshakePlainSize> out{};
    encode(*p, out);
    expect_bytes(out, in, "re-encoded handshake plaintext");
}

TEST(HandshakePlain, RoundTrip) {
    SeededRng rng(7);
    for (int i = 0; i < 20; ++i) {
        HandshakePlain p{random_nonce(rng), random_pk(rng), random_array<kSha512Size>(rng),
                         random_array<kCookieSize>(rng)};
        std::array<std::uint8_t, kHandshakePlainSize> out{};
        encode(p, out);
        const auto d = decode_handshake_plain(out);
        ASSERT_TRUE(d) << to_string(d.error());
        EXPECT_EQ(d->base_nonce, p.base_nonce) << "base nonce";
        EXPECT_EQ(d->session_pk, p.session_pk) << "session pk";
        EXPECT_EQ(d->cookie_hash, p.cookie_hash) << "cookie hash";
        EXPECT_EQ(d->other_cookie, p.other_cookie) << "other cookie";
    }
}

// ---------------------------------------------------------------------------------------------
// Data packet 0x1b (28..1400 bytes)

TEST(DataPacket, EveryFieldAtItsOffset) {
    // 0x1b | BE16 nonce low = AB CD | 40 bytes of tag+ciphertext
    Bytes in{kDataType, 0xAB, 0xCD};
    const Bytes body = field_pattern(3, 40);
    in.insert(in.end(), body.begin(), body.end());
    const auto v = decode_data_packet(in);
    ASSERT_TRUE(v) << to_string(v.error());
    EXPECT_EQ(v->nonce_low, 0xABCD) << "nonce low bytes 1..3 are not read big-endian";
    expect_bytes(v->encrypted, body, "encrypted part (offset 3)");
    EXPECT_EQ(v->encrypted.data(), in.data() + 3) << "the view must point into the datagram";

    std::array<std::uint8_t, kDataHeaderSize> header{};
    encode_data_header(0xABCD, header);
    expect_bytes(header, std::span(in).first(kDataHeaderSize), "encoded data header");
}

TEST(DataPacket, RoundTrip) {
    SeededRng rng(8);
    for (std::size_t n : {28U, 29U, 32U, 100U, 1399U, 1400U}) {
        Bytes pkt(n);
        rng.fill(pkt);
        const auto low = static_cast<std::uint16_t>(rng.uniform(65536));
        encode_data_header(low, std::span<std::uint8_t, kDataHeaderSize>(pkt.data(), 3));
        const auto v = decode_data_packet(pkt);
        ASSERT_TRUE(v) << n << " bytes: " << to_string(v.error());
        EXPECT_EQ(v->nonce_low, low) << n << " bytes: nonce low";
        EXPECT_EQ(v->encrypted.size(), n - kDataHeaderSize) << n << " bytes: encrypted size";
        Bytes again(kDataHeaderSize);
        encode_data_header(v->nonce_low, std::span<std::uint8_t, kDataHeaderSize>(again.data(), 3));
        again.insert(again.end(), v->encrypted.begin(), v->encrypted.end());
        expect_bytes(again, pkt, "re-encoded data packet of " + std::to_string(n) + " bytes");
    }
}

TEST(DataPacket, Bounds) {
    auto packet = [](std::size_t n) {
        Bytes b(n, 0x77);
        if (n > 0) b[0] = kDataType;
        return b;
    };
    const auto r27 = decode_data_packet(packet(27));
    ASSERT_FALSE(r27) << "a 27-byte data packet (no message byte) was accepted";
    EXPECT_EQ(r27.error(), DecodeError::kTooShort) << "27 bytes: " << to_string(r27.error());
    EXPECT_TRUE(decode_data_packet(packet(28))) << "the smallest data packet (28) was rejected";
    EXPECT_TRUE(decode_data_packet(packet(1400))) << "the largest data packet (1400) was rejected";
    const auto r1401 = decode_data_packet(packet(1401));
    ASSERT_FALSE(r1401) << "a 1401-byte data packet was accepted";
    EXPECT_EQ(r1401.error(), DecodeError::kTooLong) << "1401 bytes: " << to_string(r1401.error());

    for (std::size_t n = 1; n <= 1410; ++n) {
        const auto r = decode_data_packet(packet(n));
        const bool should_accept = n >= 28 && n <= 1400;
        EXPECT_EQ(r.has_value(), should_accept) << "data packet of " << n << " bytes";
        if (!r) {
            EXPECT_EQ(r.error(), n < 28 ? DecodeError::kTooShort : DecodeError::kTooLong)
                << "data packet of " << n << " bytes reported as " << to_string(r.error());
        }
    }
    const auto empty = decode_data_packet({});
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error(), DecodeError::kWrongType) << "empty datagram";
}

TEST(DataPacket, RejectsWrongTypeByte) {
    for (unsigned t = 0; t < 256; ++t) {
        if (t == kDataType) continue;
        Bytes b(40, 0x11);
        b[0] = static_cast<std::uint8_t>(t);
        const auto r = decode_data_packet(b);
        ASSERT_FALSE(r) << "type byte " << t << " accepted as a data packet";
        EXPECT_EQ(r.error(), DecodeError::kWrongType) << "type byte " << t;
    }
}

// ---------------------------------------------------------------------------------------------
// Data plaintext (9..1381 bytes)

Bytes message_of(std::size_t len, std::uint8_t id = 0x40) {
    Bytes m(len);
    for (std::size_t i = 0; i < len; ++i) m[i] = static_cast<std::uint8_t>(i * 7 + 1);
    if (len > 0) m[0] = id;
    return m;
}

TEST(DataPlain, EveryFieldAtItsOffset) {
    // BE32 01 02 03 04 | BE32 A1 A2 A3 A4 | 3 zero bytes | message 10 EE 00 FF
    const Bytes in{0x01, 0x02, 0x03, 0x04, 0xA1, 0xA2, 0xA3, 0xA4,
                   0x00, 0x00, 0x00, 0x10, 0xEE, 0x00, 0xFF};
    const auto v = decode_data_plain(in);
    ASSERT_TRUE(v) << to_string(v.error());
    EXPECT_EQ(v->buffer_start, 0x01020304U) << "buffer_start (BE32 at offset 0)";
    EXPECT_EQ(v->packet_number, 0xA1A2A3A4U) << "packet number (BE32 at offset 4)";
    const Bytes msg{0x10, 0xEE, 0x00, 0xFF};
    expect_bytes(v->message, msg, "message after padding (offset 11)");
    EXPECT_EQ(v->message.data(), in.data() + 11) << "the message view must point into the input";
}

TEST(DataPlain, EncoderLayout) {
    const Bytes msg{0x10, 0x20, 0x30};
    std::array<std::uint8_t, kMaxDataPlainSize> out{};
    const std::size_t n = encode_data_plain(0x01020304, 0xA1A2A3A4, msg, out);
    const std::size_t pad = (1373 - 3) % 8;  // 2
    ASSERT_EQ(n, 8 + pad + 3) << "encoded plaintext size";
    const Bytes want{0x01, 0x02, 0x03, 0x04, 0xA1, 0xA2, 0xA3, 0xA4, 0x00, 0x00, 0x10, 0x20, 0x30};
    expect_bytes(std::span(out).first(n), want, "encoded data plaintext");
}

TEST(DataPlain, PaddingRuleMakesDatagramsMultiplesOfEight) {
    EXPECT_EQ(data_packet_size(1), 32U) << "L=1 (REQUEST/KILL/ALIVE/ONLINE)";
    EXPECT_EQ(data_packet_size(13), 40U) << "L=13";
    EXPECT_EQ(data_packet_size(20), 48U) << "L=20";
    EXPECT_EQ(data_packet_size(1373), 1400U) << "L=1373";
    EXPECT_EQ(padding_for(1), 4U);
    EXPECT_EQ(padding_for(13), 0U);
    EXPECT_EQ(padding_for(20), 1U);
    EXPECT_EQ(padding_for(1373), 0U);

    std::array<std::uint8_t, kMaxDataPlainSize> out{};
    for (std::size_t len = 1; len <= kMaxMessageSize; ++len) {
        const std::size_t pad = (1373 - len) % 8;
        EXPECT_EQ(padding_for(len), pad) << "padding for L=" << len;
        EXPECT_EQ(data_packet_size(len) % 8, 0U) << "datagram for L=" << len;
        EXPECT_LE(data_packet_size(len), kMaxPacketSize) << "datagram for L=" << len;
        const Bytes msg = message_of(len);
        out.fill(0xCC);
        const std::size_t n = encode_data_plain(7, 9, msg, out);
        ASSERT_EQ(n, 8 + pad + len) << "encoded plaintext size for L=" << len;
        EXPECT_EQ(n, data_plain_size(len)) << "data_plain_size(" << len << ")";
        EXPECT_EQ(kDataHeaderSize + kMacSize + n, data_packet_size(len)) << "L=" << len;
        for (std::size_t i = 8; i < 8 + pad; ++i) {
            ASSERT_EQ(out[i], 0) << "padding byte " << i << " for L=" << len << " is not zero";
        }
        const auto v = decode_data_plain(std::span(out).first(n));
        ASSERT_TRUE(v) << "L=" << len << ": " << to_string(v.error());
        EXPECT_EQ(v->buffer_start, 7U);
        EXPECT_EQ(v->packet_number, 9U);
        ASSERT_EQ(v->message.size(), len) << "decoded message length for L=" << len;
        ASSERT_TRUE(std::equal(msg.begin(), msg.end(), v->message.begin()))
            << "decoded message differs for L=" << len;
    }
}

TEST(DataPlain, AcceptsAnyAmountOfPadding) {
    const Bytes msg{0x10, 0x01, 0x00};  // inner and trailing zeros belong to the message
    for (std::size_t pad : {0U, 1U, 4U, 7U, 8U, 100U}) {
        Bytes in{0, 0, 0, 5, 0, 0, 0, 6};
        in.insert(in.end(), pad, 0x00);
        in.insert(in.end(), msg.begin(), msg.end());
        const auto v = decode_data_plain(in);
        ASSERT_TRUE(v) << pad << " padding bytes rejected: " << to_string(v.error());
        EXPECT_EQ(v->buffer_start, 5U) << "pad " << pad;
        EXPECT_EQ(v->packet_number, 6U) << "pad " << pad;
        expect_bytes(v->message, msg, "message after " + std::to_string(pad) + " padding bytes");
    }
    // The most padding that fits: a 1-byte message at the very end of a 1381-byte plaintext.
    Bytes big(kMaxDataPlainSize, 0);
    big.back() = 0x10;
    const auto v = decode_data_plain(big);
    ASSERT_TRUE(v) << to_string(v.error());
    EXPECT_EQ(v->message.size(), 1U);
}

TEST(DataPlain, RejectsAllZeroBody) {
    for (const std::size_t body :
         {std::size_t{1}, std::size_t{8}, std::size_t{100}, kMaxMessageSize}) {
        Bytes in{0, 0, 0, 1, 0, 0, 0, 2};
        in.insert(in.end(), body, 0x00);
        const auto r = decode_data_plain(in);
        ASSERT_FALSE(r) << "a plaintext of " << body << " zero bytes after the header was accepted";
        EXPECT_EQ(r.error(), DecodeError::kOnlyPadding)
            << body << " zero bytes reported as " << to_string(r.error());
    }
}

TEST(DataPlain, LengthBounds) {
    for (std::size_t n = 0; n <= kDataPlainHeaderSize; ++n) {
        const auto r = decode_data_plain(Bytes(n, 0x33));
        ASSERT_FALSE(r) << n << "-byte plaintext (no message) accepted";
        EXPECT_EQ(r.error(), DecodeError::kTooShort) << n << " bytes: " << to_string(r.error());
    }
    EXPECT_TRUE(decode_data_plain(Bytes(9, 0x33))) << "9-byte plaintext rejected";
    EXPECT_TRUE(decode_data_plain(Bytes(kMaxDataPlainSize, 0x33)))
        << "1381-byte plaintext rejected";
    const auto r = decode_data_plain(Bytes(kMaxDataPlainSize + 1, 0x33));
    ASSERT_FALSE(r) << "1382-byte plaintext accepted";
    EXPECT_EQ(r.error(), DecodeError::kTooLong) << to_string(r.error());
}

TEST(DataPlain, EncoderRefusesBadMessages) {
    std::array<std::uint8_t, kMaxDataPlainSize + 16> out{};
    EXPECT_EQ(encode_data_plain(0, 0, message_of(kMaxMessageSize + 1), out), 0U)
        << "a 1374-byte message must be refused";
    EXPECT_EQ(encode_data_plain(0, 0, message_of(kMaxMessageSize), out), kMaxDataPlainSize)
        << "a 1373-byte message must fit exactly";
    EXPECT_EQ(encode_data_plain(0, 0, Bytes{}, out), 0U) << "an empty message must be refused";
    EXPECT_EQ(encode_data_plain(0, 0, message_of(5, 0x00), out), 0U)
        << "a message starting with the padding id 0 must be refused";
    Bytes small(data_plain_size(20) - 1);
    EXPECT_EQ(encode_data_plain(0, 0, message_of(20), small), 0U)
        << "an output buffer one byte too small must be refused";
    Bytes exact(data_plain_size(20));
    EXPECT_EQ(encode_data_plain(0, 0, message_of(20), exact), exact.size())
        << "an output buffer of exactly the right size must be accepted";
}

// ---------------------------------------------------------------------------------------------
// Data id classification

TEST(ClassifyId, AllIdsPerSpec) {
    std::array<int, 6> counts{};
    for (unsigned id = 0; id < 256; ++id) {
        IdClass want = IdClass::kReserved;
        if (id == 0) {
            want = IdClass::kPadding;
        } else if (id == 1) {
            want = IdClass::kRequest;
        } else if (id == 2) {
            want = IdClass::kKill;
        } else if (id >= 3 && id <= 15) {
            want = IdClass::kReserved;
        } else if (id >= 16 && id <= 191) {
            want = IdClass::kLossless;
        } else if (id >= 192 && id <= 254) {
            want = IdClass::kLossy;
        } else {  // 255
            want = IdClass::kReserved;
        }
        const IdClass got = classify_id(static_cast<std::uint8_t>(id));
        EXPECT_EQ(static_cast<int>(got), static_cast<int>(want)) << "data id " << id;
        ++counts[static_cast<std::size_t>(got)];
    }
    EXPECT_EQ(counts[static_cast<std::size_t>(IdClass::kPadding)], 1);
    EXPECT_EQ(counts[static_cast<std::size_t>(IdClass::kRequest)], 1);
    EXPECT_EQ(counts[static_cast<std::size_t>(IdClass::kKill)], 1);
    EXPECT_EQ(counts[static_cast<std::size_t>(IdClass::kReserved)], 14) << "3..15 and 255";
    EXPECT_EQ(counts[static_cast<std::size_t>(IdClass::kLossless)], 176) << "16..191";
    EXPECT_EQ(counts[static_cast<std::size_t>(IdClass::kLossy)], 63) << "192..254";
    static_assert(classify_id(255) == IdClass::kReserved, "255 is rejected by c-toxcore 0.2.18");
}

// ---------------------------------------------------------------------------------------------
// ByteReader / ByteWriter

TEST(ByteReader, ReadsBigEndianIntegers) {
    const Bytes in{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    ByteReader r(in);
    std::uint8_t u8 = 0;
    std::uint16_t u16 = 0;
    std::uint32_t u32 = 0;
    ASSERT_TRUE(r.read_u8(u8));
    EXPECT_EQ(u8, 0x01);
    ASSERT_TRUE(r.read_be16(u16));
    EXPECT_EQ(u16, 0x0203) << "read_be16 byte order";
    ASSERT_TRUE(r.read_be32(u32));
    EXPECT_EQ(u32, 0x04050607U) << "read_be32 byte order";
    EXPECT_EQ(r.remaining(), 0U);
}

TEST(ByteReader, ShortReadsFailAndConsumeNothing) {
    const Bytes in{0xA0, 0xA1, 0xA2};
    ByteReader r(in);
    std::uint32_t u32 = 0xDEADBEEF;
    EXPECT_FALSE(r.read_be32(u32)) << "read_be32 from 3 bytes";
    EXPECT_EQ(u32, 0xDEADBEEFU) << "a failed read must not touch its output";
    EXPECT_EQ(r.remaining(), 3U) << "a failed read must not consume";

    std::array<std::uint8_t, 4> four{9, 9, 9, 9};
    EXPECT_FALSE(r.read(four)) << "read of 4 bytes from 3";
    EXPECT_EQ(four, (std::array<std::uint8_t, 4>{9, 9, 9, 9})) << "failed read wrote output";
    EXPECT_EQ(r.remaining(), 3U);

    std::span<const std::uint8_t> v;
    EXPECT_FALSE(r.view(4, v)) << "view of 4 bytes from 3";
    EXPECT_TRUE(v.empty());
    EXPECT_EQ(r.remaining(), 3U);

    std::uint16_t u16 = 0;
    ASSERT_TRUE(r.read_be16(u16));
    EXPECT_EQ(u16, 0xA0A1);
    EXPECT_FALSE(r.read_be16(u16)) << "read_be16 from 1 byte";
    EXPECT_EQ(r.remaining(), 1U);
    std::uint8_t u8 = 0;
    ASSERT_TRUE(r.read_u8(u8));
    EXPECT_EQ(u8, 0xA2);
    EXPECT_FALSE(r.read_u8(u8)) << "read_u8 from an exhausted reader";
    EXPECT_EQ(r.remaining(), 0U);
    std::array<std::uint8_t, 0> none{};
    EXPECT_TRUE(r.read(none)) << "a zero-length read always succeeds";
}

TEST(ByteReader, ViewAndRest) {
    const Bytes in{1, 2, 3, 4, 5, 6};
    ByteReader r(in);
    std::span<const std::uint8_t> v;
    ASSERT_TRUE(r.view(2, v));
    EXPECT_EQ(v.data(), in.data()) << "view must not copy";
    EXPECT_EQ(v.size(), 2U);
    EXPECT_EQ(r.remaining(), 4U);
    const auto rest = r.rest();
    EXPECT_EQ(rest.data(), in.data() + 2);
    EXPECT_EQ(rest.size(), 4U);
    EXPECT_EQ(r.remaining(), 0U) << "rest() consumes everything";
    EXPECT_TRUE(r.rest().empty());
}

TEST(ByteWriter, WritesBigEndianAndCounts) {
    std::array<std::uint8_t, 9> buf{};
    ByteWriter w(buf);
    w.write_u8(0x11);
    w.write_be16(0x2233);
    w.write_be32(0x44556677);
    w.write_zeros(1);
    auto r = w.reserve(1);
    ASSERT_EQ(r.size(), 1U);
    r[0] = 0x99;
    EXPECT_TRUE(w.ok());
    EXPECT_EQ(w.written(), 9U);
    EXPECT_EQ(w.remaining(), 0U);
    EXPECT_EQ(buf, (std::array<std::uint8_t, 9>{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0, 0x99}))
        << hex(buf);
}

TEST(ByteWriter, OverflowFailsWritesNothingAndSticks) {
    std::array<std::uint8_t, 4> buf{0xEE, 0xEE, 0xEE, 0xEE};
    ByteWriter w(buf);
    w.write_be16(0x0102);
    EXPECT_TRUE(w.ok());
    w.write_be32(0x03040506);  // 4 bytes into 2 remaining
    EXPECT_FALSE(w.ok()) << "an overflowing write must set the failed flag";
    EXPECT_EQ(w.written(), 2U) << "an overflowing write must write nothing";
    EXPECT_EQ(buf, (std::array<std::uint8_t, 4>{0x01, 0x02, 0xEE, 0xEE})) << hex(buf);
    w.write_u8(0x07);  // would fit, but the writer has failed
    EXPECT_FALSE(w.ok());
    EXPECT_EQ(buf[2], 0xEE) << "a failed writer must not write any more";
    EXPECT_TRUE(w.reserve(1).empty()) << "a failed writer must not reserve";

    std::array<std::uint8_t, 2> small{0xEE, 0xEE};
    ByteWriter z(small);
    z.write_zeros(3);
    EXPECT_FALSE(z.ok()) << "write_zeros beyond the end";
    EXPECT_EQ(small, (std::array<std::uint8_t, 2>{0xEE, 0xEE}));
    ByteWriter q(small);
    EXPECT_TRUE(q.reserve(3).empty()) << "reserve beyond the end";
    EXPECT_FALSE(q.ok());
}

}  // namespace
}  // namespace netcrypto::wire
