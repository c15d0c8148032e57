// Relay frames and packets (src/core/relay/frame.hpp): packet layouts written by hand from the
// spec's table and compared with encode_packet, exact lengths (every length one off refused),
// and the streaming decoder: any split of the byte stream, length 0 skipped, the length limit
// enforced before any payload is buffered, bad tags and skipped nonces fatal and sticky.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>

#include "core/crypto/crypto.hpp"
#include "core/relay/frame.hpp"

namespace netcrypto::relay {
namespace {

using ByteVec = std::vector<std::uint8_t>;

PublicKey key_of(std::uint8_t seed) {
    PublicKey pk;
    for (std::size_t i = 0; i < pk.bytes.size(); ++i) {
        pk.bytes[i] = static_cast<std::uint8_t>(seed + i);
    }
    return pk;
}

ByteVec cat(std::initializer_list<std::span<const std::uint8_t>> parts) {
    ByteVec out;
    for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

ByteVec encode(const Packet& p) {
    std::array<std::uint8_t, kMaxPacketSize> out{};
    const std::size_t n = encode_packet(p, out);
    return ByteVec(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n));
}

TEST(RelayFrame, PacketLayoutsMatchTheSpecTable) {
    const PublicKey pk = key_of(7);
    const ByteVec data{9, 8, 7};
    const PingId ping{1, 2, 3, 4, 5, 6, 7, 8};
    EXPECT_EQ(encode(RoutingRequest{pk}), cat({ByteVec{0}, pk.bytes}));
    EXPECT_EQ(encode(RoutingResponse{17, pk}), cat({ByteVec{1, 17}, pk.bytes}));
    EXPECT_EQ(encode(ConnectNotification{18}), (ByteVec{2, 18}));
    EXPECT_EQ(encode(DisconnectNotification{19}), (ByteVec{3, 19}));
    EXPECT_EQ(encode(PingPacket{ping}), cat({ByteVec{4}, ping}));
    EXPECT_EQ(encode(PongPacket{ping}), cat({ByteVec{5}, ping}));
    EXPECT_EQ(encode(OobSend{pk, data}), cat({ByteVec{6}, pk.bytes, data}));
    EXPECT_EQ(encode(OobRecv{pk, data}), cat({ByteVec{7}, pk.bytes, data}));
    EXPECT_EQ(encode(RoutedData{200, data}), cat({ByteVec{200}, data}));
    EXPECT_EQ(kRoutingRequestSize, 33U);
    EXPECT_EQ(kRoutingResponseSize, 34U);
    EXPECT_EQ(kMaxOobPacketSize, 1057U);
    EXPECT_EQ(kMaxPacketSize, 2032U);
}

TEST(RelayFrame, ParseRoundTripsEveryPacket) {
    const PublicKey pk = key_of(3);
    const ByteVec data(1024, 0x5A);
    for (const Packet& p :
         std::vector<Packet>{RoutingRequest{pk}, RoutingResponse{0, pk}, ConnectNotification{16},
                             DisconnectNotification{255}, PingPacket{{0, 0, 0, 0, 0, 0, 0, 1}},
                             PongPacket{{9, 9, 9, 9, 9, 9, 9, 9}}, OobSend{pk, data},
                             OobRecv{pk, data}, RoutedData{16, std::span(data).first(1)}}) {
        const ByteVec bytes = encode(p);
        ASSERT_FALSE(bytes.empty()) << "packet index " << p.index() << " did not encode";
        const auto parsed = parse_packet(bytes);
        ASSERT_TRUE(parsed) << "packet index " << p.index() << ": " << to_string(parsed.error());
        EXPECT_EQ(parsed->index(), p.index());
        EXPECT_EQ(encode(*parsed), bytes) << "packet index " << p.index() << " re-encoded wrongly";
    }
}

TEST(RelayFrame, FixedSizePacketsRefuseEveryOtherLength) {
    const std::array<std::pair<std::uint8_t, std::size_t>, 6> fixed{
        {{0, 33}, {1, 34}, {2, 2}, {3, 2}, {4, 9}, {5, 9}}};
    for (const auto& [id, size] : fixed) {
        for (std::size_t n = 1; n <= 40; ++n) {
            ByteVec b(n, 0x11);
            b[0] = id;
            const auto parsed = parse_packet(b);
            if (n == size) {
                EXPECT_TRUE(parsed) << "id " << int{id} << " of its own length " << n;
            } else {
                ASSERT_FALSE(parsed) << "id " << int{id} << " accepted with length " << n;
                EXPECT_EQ(parsed.error(), DropReason::kWrongLength);
            }
        }
    }
}

TEST(RelayFrame, OobLengthsAndUnknownIds) {
    for (std::uint8_t id : {std::uint8_t{6}, std::uint8_t{7}}) {
        for (std::size_t n : {1UL, 33UL, 1058UL}) {
            ByteVec b(n, 0);
            b[0] = id;
            EXPECT_FALSE(parse_packet(b)) << "OOB id " << int{id} << " of " << n << " bytes";
        }
        for (std::size_t n : {34UL, 1057UL}) {
            ByteVec b(n, 0);
            b[0] = id;
            EXPECT_TRUE(parse_packet(b)) << "OOB id " << int{id} << " of " << n << " bytes";
        }
    }
    for (std::uint8_t id = 12; id < 16; ++id) {
        const auto parsed = parse_packet(ByteVec{id, 0, 0});
        ASSERT_FALSE(parsed);
        EXPECT_EQ(parsed.error(), DropReason::kUnknownId);
    }
    EXPECT_FALSE(parse_packet(ByteVec{})) << "an empty plaintext";
    const auto one = parse_packet(ByteVec{16});
    ASSERT_TRUE(one) << "a 1-byte routed packet parses (the client drops it, not the parser)";
    EXPECT_TRUE(std::get<RoutedData>(*one).payload.empty());
    EXPECT_TRUE(parse_packet(ByteVec(2032, 16)));
    EXPECT_FALSE(parse_packet(ByteVec(2033, 16)));
}

TEST(RelayFrame, EncoderRefusesWhatMustNeverBeSent) {
    const PublicKey pk = key_of(1);
    EXPECT_TRUE(encode(RoutedData{16, {}}).empty()) << "empty routed payload";
    EXPECT_TRUE(encode(RoutedData{15, ByteVec{1}}).empty()) << "routed id below 16";
    EXPECT_TRUE(encode(OobSend{pk, {}}).empty()) << "empty OOB data";
    EXPECT_TRUE(encode(OobSend{pk, ByteVec(1025, 1)}).empty()) << "OOB data over 1024";
    EXPECT_EQ(encode(RoutedData{16, ByteVec(2031, 1)}).size(), 2032U);
}

struct Session {
    SeededRng rng{5};
    SharedKey key = SharedKey::random(rng);
    Nonce first = Nonce::random(rng);
};

ByteVec frames_of(Session& s, const std::vector<ByteVec>& plains) {
    ByteVec stream;
    Nonce n = s.first;
    for (const ByteVec& p : plains) {
        std::array<std::uint8_t, kMaxFrameSize> f{};
        const std::size_t len = seal_frame(s.key, n, p, f);
        EXPECT_EQ(len, p.size() + 18);
        stream.insert(stream.end(), f.begin(), f.begin() + static_cast<std::ptrdiff_t>(len));
    }
    return stream;
}

std::vector<ByteVec> decode_in_chunks(Session& s, const ByteVec& stream,
                                      const std::vector<std::size_t>& cuts) {
    FrameDecoder dec(s.key, s.first);
    std::vector<ByteVec> out;
    std::size_t from = 0;
    for (std::size_t i = 0; i <= cuts.size(); ++i) {
        const std::size_t to = i < cuts.size() ? cuts[i] : stream.size();
        std::span<const std::uint8_t> in(stream.data() + from, to - from);
        for (;;) {
            const auto st = dec.next(in);
            if (st == FrameDecoder::Status::kFrame) {
                out.emplace_back(dec.plaintext().begin(), dec.plaintext().end());
                continue;
            }
            EXPECT_EQ(st, FrameDecoder::Status::kNeedMore) << to_string(dec.error());
            EXPECT_TRUE(in.empty()) << "kNeedMore left input unread";
            break;
        }
        from = to;
    }
    return out;
}

TEST(RelayFrame, SealFrameLayoutAndLimits) {
    Session s;
    Nonce n = s.first;
    std::array<std::uint8_t, kMaxFrameSize> f{};
    EXPECT_EQ(seal_frame(s.key, n, ByteVec{}, f), 0U) << "empty plaintext";
    EXPECT_EQ(seal_frame(s.key, n, ByteVec(2033, 1), f), 0U) << "plaintext over 2032";
    EXPECT_EQ(n, s.first) << "a refused frame must not use a nonce";
    ASSERT_EQ(seal_frame(s.key, n, ByteVec(2032, 1), f), 2050U);
    EXPECT_EQ(f[0], 0x08);
    EXPECT_EQ(f[1], 0x00) << "L = 2048 big-endian";
    Nonce expected = s.first;
    expected.increment();
    EXPECT_EQ(n, expected);
    std::array<std::uint8_t, 10> small{};
    EXPECT_EQ(seal_frame(s.key, n, ByteVec(9, 1), small), 0U) << "output too short";
}

TEST(RelayFrame, DecodesAnySplitOfTheStream) {
    Session s;
    const std::vector<ByteVec> plains{ByteVec{4, 1, 2, 3, 4, 5, 6, 7, 8}, ByteVec(2032, 0x33),
                                      ByteVec{16, 42}};
    const ByteVec stream = frames_of(s, plains);
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        ASSERT_EQ(decode_in_chunks(s, stream, {cut}), plains) << "split at byte " << cut;
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
    EXPECT_EQ(decode_in_chunks(s, stream, every), plains) << "fed one byte at a time";
}

TEST(RelayFrame, TruncatedFrameWaitsForTheRest) {
    Session s;
    const ByteVec stream = frames_of(s, {ByteVec(100, 7)});
    FrameDecoder dec(s.key, s.first);
    std::span<const std::uint8_t> in(stream.data(), stream.size() - 1);
    EXPECT_EQ(dec.next(in), FrameDecoder::Status::kNeedMore);
    EXPECT_TRUE(dec.plaintext().empty());
    std::span<const std::uint8_t> last(stream.data() + stream.size() - 1, 1);
    EXPECT_EQ(dec.next(last), FrameDecoder::Status::kFrame);
}

TEST(RelayFrame, LengthZeroIsSkippedWithoutUsingANonce) {
    Session s;
    ByteVec stream{0, 0, 0, 0};
    const ByteVec frame = frames_of(s, {ByteVec{5, 1, 1, 1, 1, 1, 1, 1, 1}});
    stream.insert(stream.end(), frame.begin(), frame.end());
    FrameDecoder dec(s.key, s.first);
    std::span<const std::uint8_t> in(stream);
    EXPECT_EQ(dec.next(in), FrameDecoder::Status::kFrame)
        << "a frame after two L = 0 headers must open with the first nonce";
    EXPECT_EQ(dec.empty_frames(), 2U);
}

TEST(RelayFrame, OverlongLengthFailsBeforeBuffering) {
    Session s;
    ByteVec stream{0x08, 0x01};  // L = 2049
    stream.resize(3000, 0xEE);
    FrameDecoder dec(s.key, s.first);
    std::span<const std::uint8_t> in(stream);
    EXPECT_EQ(dec.next(in), FrameDecoder::Status::kFailed);
    EXPECT_EQ(dec.error(), DropReason::kFrameTooLong);
    EXPECT_EQ(in.size(), stream.size() - 2) << "only the two length bytes may be consumed";
    std::span<const std::uint8_t> more(stream);
    EXPECT_EQ(dec.next(more), FrameDecoder::Status::kFailed) << "failure must be sticky";
    EXPECT_EQ(more.size(), stream.size()) << "a failed decoder consumes nothing";
    ByteVec max{0xFF, 0xFF};
    FrameDecoder dec2(s.key, s.first);
    std::span<const std::uint8_t> in2(max);
    EXPECT_EQ(dec2.next(in2), FrameDecoder::Status::kFailed);
}

TEST(RelayFrame, LengthsWithoutRoomForAPlaintextAreFatal) {
    Session s;
    for (std::uint8_t len : {std::uint8_t{1}, std::uint8_t{15}, std::uint8_t{16}}) {
        ByteVec stream{0, len};
        stream.resize(2 + len, 0);
        FrameDecoder dec(s.key, s.first);
        std::span<const std::uint8_t> in(stream);
        EXPECT_EQ(dec.next(in), FrameDecoder::Status::kFailed) << "L = " << int{len};
        EXPECT_EQ(dec.error(), DropReason::kFrameTooShort) << "L = " << int{len};
    }
}

TEST(RelayFrame, BadTagsAndSkippedNoncesAreFatal) {
    Session s;
    const ByteVec good = frames_of(s, {ByteVec{16, 1, 2, 3}});
    for (std::size_t pos = 2; pos < good.size(); pos += 5) {
        ByteVec bad(good);
        bad[pos] ^= 0x80;
        FrameDecoder dec(s.key, s.first);
        std::span<const std::uint8_t> in(bad);
        EXPECT_EQ(dec.next(in), FrameDecoder::Status::kFailed) << "byte " << pos << " flipped";
        EXPECT_EQ(dec.error(), DropReason::kBadTag);
    }
    Nonce second = s.first;
    second.increment();
    FrameDecoder skipped(s.key, second);
    std::span<const std::uint8_t> in(good);
    EXPECT_EQ(skipped.next(in), FrameDecoder::Status::kFailed) << "a frame under another nonce";
    SeededRng other(99);
    FrameDecoder wrong_key(SharedKey::random(other), s.first);
    std::span<const std::uint8_t> in2(good);
    EXPECT_EQ(wrong_key.next(in2), FrameDecoder::Status::kFailed) << "a frame under another key";
}

TEST(RelayFrame, NonceCarriesAcrossBytes) {
    Session s;
    s.first.bytes.fill(0);
    s.first.bytes[23] = 0xFF;
    s.first.bytes[22] = 0xFF;
    const std::vector<ByteVec> plains(3, ByteVec{4, 0, 0, 0, 0, 0, 0, 0, 1});
    EXPECT_EQ(decode_in_chunks(s, frames_of(s, plains), {}), plains);
}

}  // namespace
}  // namespace netcrypto::relay
