#include "core/wire/packets.hpp"

#include "core/wire/bytes.hpp"

namespace netcrypto::wire {

namespace {

/// Rejects anything whose length is not exactly `expected`.
tl::expected<void, DecodeError> check_exact(std::span<const std::uint8_t> in,
                                            std::size_t expected) {
    if (in.size() < expected) return tl::unexpected(DecodeError::kTooShort);
    if (in.size() > expected) return tl::unexpected(DecodeError::kTooLong);
    return {};
}

/// Checks the type byte and exact length of a fixed-size packet; returns a reader past the type.
tl::expected<ByteReader, DecodeError> open_fixed(std::span<const std::uint8_t> in,
                                                 std::uint8_t type, std::size_t expected) {
    if (in.empty() || in[0] != type) return tl::unexpected(DecodeError::kWrongType);
    if (auto ok = check_exact(in, expected); !ok) return tl::unexpected(ok.error());
    return ByteReader(in.subspan(1));
}

void write_u64_le(ByteWriter& w, std::uint64_t v) {
    std::array<std::uint8_t, 8> b{};
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(v >> (8U * i));
    w.write(b);
}

std::uint64_t read_u64_le(const std::array<std::uint8_t, 8>& b) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < b.size(); ++i) v |= std::uint64_t{b[i]} << (8U * i);
    return v;
}

}  // namespace

std::string_view to_string(DecodeError e) {
    switch (e) {
        case DecodeError::kWrongType:
            return "wrong_type";
        case DecodeError::kTooShort:
            return "too_short";
        case DecodeError::kTooLong:
            return "too_long";
        case DecodeError::kOnlyPadding:
            return "only_padding";
    }
    return "unknown";
}

// --- cookie contents ---------------------------------------------------------------------------

void encode(const CookieContents& c, std::span<std::uint8_t, kCookieContentsSize> out) {
    ByteWriter w(out);
    write_u64_le(w, c.time_ms);
    w.write(c.long_term_pk.bytes);
    w.write(c.dht_pk.bytes);
}

tl::expected<CookieContents, DecodeError> decode_cookie_contents(std::span<const std::uint8_t> in) {
    if (auto ok = check_exact(in, kCookieContentsSize); !ok) return tl::unexpected(ok.error());
    ByteReader r(in);
    CookieContents c;
    std::array<std::uint8_t, kTimestampSize> t{};
    (void)r.read(t);
    (void)r.read(c.long_term_pk.bytes);
    (void)r.read(c.dht_pk.bytes);
    c.time_ms = read_u64_le(t);
    return c;
}

// --- cookie request ----------------------------------------------------------------------------

void encode(const CookieRequest& p, std::span<std::uint8_t, kCookieRequestSize> out) {
    ByteWriter w(out);
    w.write_u8(kCookieRequestType);
    w.write(p.sender_dht_pk.bytes);
    w.write(p.nonce.bytes);
    w.write(p.encrypted);
}

tl::expected<CookieRequest, DecodeError> decode_cookie_request(std::span<const std::uint8_t> in) {
    auto r = open_fixed(in, kCookieRequestType, kCookieRequestSize);
    if (!r) return tl::unexpected(r.error());
    CookieRequest p;
    (void)r->read(p.sender_dht_pk.bytes);
    (void)r->read(p.nonce.bytes);
    (void)r->read(p.encrypted);
    return p;
}

void encode(const CookieRequestPlain& p, std::span<std::uint8_t, kCookieRequestPlainSize> out) {
    ByteWriter w(out);
    w.write(p.sender_long_term_pk.bytes);
    w.write(p.padding);
    w.write(p.echo_id);
}

tl::expected<CookieRequestPlain, DecodeError> decode_cookie_request_plain(
    std::span<const std::uint8_t> in) {
    if (auto ok = check_exact(in, kCookieRequestPlainSize); !ok) return tl::unexpected(ok.error());
    ByteReader r(in);
    CookieRequestPlain p;
    (void)r.read(p.sender_long_term_pk.bytes);
    (void)r.read(p.padding);
    (void)r.read(p.echo_id);
    return p;
}

// --- cookie response ---------------------------------------------------------------------------

void encode(const CookieResponse& p, std::span<std::uint8_t, kCookieResponseSize> out) {
    ByteWriter w(out);
    w.write_u8(kCookieResponseType);
    w.write(p.nonce.bytes);
    w.write(p.encrypted);
}

tl::expected<CookieResponse, DecodeError> decode_cookie_response(std::span<const std::uint8_t> in) {
    auto r = open_fixed(in, kCookieResponseType, kCookieResponseSize);
    if (!r) return tl::unexpected(r.error());
    CookieResponse p;
    (void)r->read(p.nonce.bytes);
    (void)r->read(p.encrypted);
    return p;
}

void encode(const CookieResponsePlain& p, std::span<std::uint8_t, kCookieResponsePlainSize> out) {
    ByteWriter w(out);
    w.write(p.cookie);
    w.write(p.echo_id);
}

tl::expected<CookieResponsePlain, DecodeError> decode_cookie_response_plain(
    std::span<const std::uint8_t> in) {
    if (auto ok = check_exact(in, kCookieResponsePlainSize); !ok) {
        return tl::unexpected(ok.error());
    }
    ByteReader r(in);
    CookieResponsePlain p;
    (void)r.read(p.cookie);
    (void)r.read(p.echo_id);
    return p;
}

// --- handshake ---------------------------------------------------------------------------------

void encode(const Handshake& p, std::span<std::uint8_t, kHandshakeSize> out) {
    ByteWriter w(out);
    w.write_u8(kHandshakeType);
    w.write(p.cookie);
    w.write(p.nonce.bytes);
    w.write(p.encrypted);
}

tl::expected<Handshake, DecodeError> decode_handshake(std::span<const std::uint8_t> in) {
    auto r = open_fixed(in, kHandshakeType, kHandshakeSize);
    if (!r) return tl::unexpected(r.error());
    Handshake p;
    (void)r->read(p.cookie);
    (void)r->read(p.nonce.bytes);
    (void)r->read(p.encrypted);
    return p;
}

void encode(const HandshakePlain& p, std::span<std::uint8_t, kHandshakePlainSize> out) {
    ByteWriter w(out);
    w.write(p.base_nonce.bytes);
    w.write(p.session_pk.bytes);
    w.write(p.cookie_hash);
    w.write(p.other_cookie);
}

tl::expected<HandshakePlain, DecodeError> decode_handshake_plain(std::span<const std::uint8_t> in) {
    if (auto ok = check_exact(in, kHandshakePlainSize); !ok) return tl::unexpected(ok.error());
    ByteReader r(in);
    HandshakePlain p;
    (void)r.read(p.base_nonce.bytes);
    (void)r.read(p.session_pk.bytes);
    (void)r.read(p.cookie_hash);
    (void)r.read(p.other_cookie);
    return p;
}

// --- data --------------------------------------------------------------------------------------

void encode_data_header(std::uint16_t nonce_low, std::span<std::uint8_t, kDataHeaderSize> out) {
    ByteWriter w(out);
    w.write_u8(kDataType);
    w.write_be16(nonce_low);
}

tl::expected<DataPacketView, DecodeError> decode_data_packet(std::span<const std::uint8_t> in) {
    if (in.empty() || in[0] != kDataType) return tl::unexpected(DecodeError::kWrongType);
    // A data packet must carry at least one message byte beyond the 27-byte minimum.
    if (in.size() <= kDataMinSize) return tl::unexpected(DecodeError::kTooShort);
    if (in.size() > kMaxPacketSize) return tl::unexpected(DecodeError::kTooLong);
    ByteReader r(in.subspan(1));
    DataPacketView v;
    (void)r.read_be16(v.nonce_low);
    v.encrypted = r.rest();
    return v;
}

std::size_t encode_data_plain(std::uint32_t buffer_start, std::uint32_t packet_number,
                              std::span<const std::uint8_t> message, std::span<std::uint8_t> out) {
    if (message.empty() || message.size() > kMaxMessageSize || message[0] == kIdPadding) return 0;
    ByteWriter w(out);
    w.write_be32(buffer_start);
    w.write_be32(packet_number);
    w.write_zeros(padding_for(message.size()));
    w.write(message);
    return w.ok() ? w.written() : 0;
}

tl::expected<DataPlainView, DecodeError> decode_data_plain(std::span<const std::uint8_t> in) {
    if (in.size() <= kDataPlainHeaderSize) return tl::unexpected(DecodeError::kTooShort);
    if (in.size() > kMaxDataPlainSize) return tl::unexpected(DecodeError::kTooLong);
    ByteReader r(in);
    DataPlainView v;
    (void)r.read_be32(v.buffer_start);
    (void)r.read_be32(v.packet_number);
    auto rest = r.rest();
    std::size_t skip = 0;
    while (skip < rest.size() && rest[skip] == kIdPadding) ++skip;
    if (skip == rest.size()) return tl::unexpected(DecodeError::kOnlyPadding);
    v.message = rest.subspan(skip);
    return v;
}

}  // namespace netcrypto::wire
