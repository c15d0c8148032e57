// Codecs for the four net_crypto packets and their inner plaintexts (wire.md §2). Decoders take a
// whole datagram (or plaintext), accept exactly the lengths of the spec and report why they
// reject anything else. Encoders write into caller buffers of the exact size.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <tl/expected.hpp>

#include <netcrypto/keys.hpp>

#include "core/crypto/crypto.hpp"
#include "core/wire/constants.hpp"

namespace netcrypto::wire {

/// Why a decoder refused its input.
enum class DecodeError : std::uint8_t {
    kWrongType,    ///< first byte is not this packet's type
    kTooShort,     ///< fewer bytes than the format needs
    kTooLong,      ///< more bytes than the format allows
    kOnlyPadding,  ///< a data plaintext with no non-zero byte after its header
};

/// A short, stable name for logs and drop counters.
std::string_view to_string(DecodeError e);

using Cookie = std::array<std::uint8_t, kCookieSize>;
using EchoId = std::array<std::uint8_t, kEchoIdSize>;
using crypto::Nonce;

// ---------------------------------------------------------------------------------------------
// Cookie contents (72 bytes, private to the issuer; layout chosen to match c-toxcore's).
//   off len field
//     0   8 creation time (issuer's clock, milliseconds, little-endian)
//     8  32 long-term public key of the peer the cookie is about
//    40  32 DHT public key of that peer
struct CookieContents {
    std::uint64_t time_ms = 0;
    PublicKey long_term_pk;
    PublicKey dht_pk;
};
void encode(const CookieContents& c, std::span<std::uint8_t, kCookieContentsSize> out);
tl::expected<CookieContents, DecodeError> decode_cookie_contents(std::span<const std::uint8_t> in);

// ---------------------------------------------------------------------------------------------
// Cookie request 0x18, exactly 145 bytes.
//   off len field
//     0   1 0x18
//     1  32 sender's DHT public key
//    33  24 nonce
//    57  88 Box(DH(receiver DHT pk, sender DHT sk), nonce, CookieRequestPlain)
struct CookieRequest {
    PublicKey sender_dht_pk;
    Nonce nonce;
    std::array<std::uint8_t, kCookieRequestCipherSize> encrypted{};
};
void encode(const CookieRequest& p, std::span<std::uint8_t, kCookieRequestSize> out);
tl::expected<CookieRequest, DecodeError> decode_cookie_request(std::span<const std::uint8_t> in);

// Cookie request plaintext, 72 bytes.
//   off len field
//     0  32 sender's long-term public key
//    32  32 padding (zeros when we send; ignored on receipt)
//    64   8 echo id
struct CookieRequestPlain {
    PublicKey sender_long_term_pk;
    std::array<std::uint8_t, kKeySize> padding{};
    EchoId echo_id{};
};
void encode(const CookieRequestPlain& p, std::span<std::uint8_t, kCookieRequestPlainSize> out);
tl::expected<CookieRequestPlain, DecodeError> decode_cookie_request_plain(
    std::span<const std::uint8_t> in);

// ---------------------------------------------------------------------------------------------
// Cookie response 0x19, exactly 161 bytes.
//   off len field
//     0   1 0x19
//     1  24 nonce
//    25 136 Box(key of the request it answers, nonce, CookieResponsePlain)
struct CookieResponse {
    Nonce nonce;
    std::array<std::uint8_t, kCookieResponseCipherSize> encrypted{};
};
void encode(const CookieResponse& p, std::span<std::uint8_t, kCookieResponseSize> out);
tl::expected<CookieResponse, DecodeError> decode_cookie_response(std::span<const std::uint8_t> in);

// Cookie response plaintext, 120 bytes.
//   off len field
//     0 112 cookie (about the requester)
//   112   8 echo id copied from the request
struct CookieResponsePlain {
    Cookie cookie{};
    EchoId echo_id{};
};
void encode(const CookieResponsePlain& p, std::span<std::uint8_t, kCookieResponsePlainSize> out);
tl::expected<CookieResponsePlain, DecodeError> decode_cookie_response_plain(
    std::span<const std::uint8_t> in);

// ---------------------------------------------------------------------------------------------
// Crypto handshake 0x1a, exactly 385 bytes.
//   off len field
//     0   1 0x1a
//     1 112 cookie issued by the receiver of this handshake
//   113  24 nonce
//   137 248 Box(DH(receiver long-term pk, sender long-term sk), nonce, HandshakePlain)
struct Handshake {
    Cookie cookie{};
    Nonce nonce;
    std::array<std::uint8_t, kHandshakeCipherSize> encrypted{};
};
void encode(const Handshake& p, std::span<std::uint8_t, kHandshakeSize> out);
tl::expected<Handshake, DecodeError> decode_handshake(std::span<const std::uint8_t> in);

// Handshake plaintext, 232 bytes.
//   off len field
//     0  24 sender's base nonce for its data packets
//    24  32 sender's session public key
//    56  64 SHA-512 of the cookie at packet offset 1
//   120 112 "other cookie": issued by the sender, about the receiver
struct HandshakePlain {
    Nonce base_nonce;
    PublicKey session_pk;
    crypto::Sha512Digest cookie_hash{};
    Cookie other_cookie{};
};
void encode(const HandshakePlain& p, std::span<std::uint8_t, kHandshakePlainSize> out);
tl::expected<HandshakePlain, DecodeError> decode_handshake_plain(std::span<const std::uint8_t> in);

// ---------------------------------------------------------------------------------------------
// Crypto data 0x1b, 28..1400 bytes (zero-copy view).
//   off len field
//     0   1 0x1b
//     1   2 BE16 last two bytes of the 24-byte nonce
//     3  16+P Box(session key, full nonce, DataPlain of P bytes)
struct DataPacketView {
    std::uint16_t nonce_low = 0;
    std::span<const std::uint8_t> encrypted;  ///< tag || ciphertext, 17..1397 bytes
};
/// Writes type and nonce bytes; the caller encrypts into the `kDataHeaderSize..` region.
void encode_data_header(std::uint16_t nonce_low, std::span<std::uint8_t, kDataHeaderSize> out);
tl::expected<DataPacketView, DecodeError> decode_data_packet(std::span<const std::uint8_t> in);

// Data plaintext, 9..1381 bytes (zero-copy view).
//   off len field
//     0   4 BE32 buffer_start: every lossless packet below this number was received
//     4   4 BE32 packet number (lossless) or the sender's send-buffer end (others)
//     8 pad zero bytes (any number is accepted; c-toxcore sends (1373 - L) mod 8)
//  8+pad  L message: data id (non-zero) followed by L-1 payload bytes
struct DataPlainView {
    std::uint32_t buffer_start = 0;
    std::uint32_t packet_number = 0;
    std::span<const std::uint8_t> message;  ///< starts with the data id, never empty
};
/// c-toxcore's padding for a message of `message_len` bytes (makes datagrams multiples of 8).
constexpr std::size_t padding_for(std::size_t message_len) {
    return (kMaxMessageSize - message_len) % kMaxPadding;
}
/// Size of the plaintext encode_data_plain writes for a message of `message_len` bytes.
constexpr std::size_t data_plain_size(std::size_t message_len) {
    return kDataPlainHeaderSize + padding_for(message_len) + message_len;
}
/// Size of the whole datagram carrying a message of `message_len` bytes.
constexpr std::size_t data_packet_size(std::size_t message_len) {
    return kDataHeaderSize + kMacSize + data_plain_size(message_len);
}
/// Writes header, c-toxcore padding and message; returns bytes written, or 0 if the message is
/// empty, longer than 1373 bytes, starts with 0 or `out` is too small.
std::size_t encode_data_plain(std::uint32_t buffer_start, std::uint32_t packet_number,
                              std::span<const std::uint8_t> message, std::span<std::uint8_t> out);
tl::expected<DataPlainView, DecodeError> decode_data_plain(std::span<const std::uint8_t> in);

}  // namespace netcrypto::wire
