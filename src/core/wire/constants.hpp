// Named sizes and constants of the net_crypto wire format (wire.md §2, §3). Every length used by a
// codec is derived here from named parts, so no size is ever spelled twice.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/crypto/crypto.hpp"

namespace netcrypto::wire {

using crypto::kMacSize;
using crypto::kNonceSize;
using crypto::kSha512Size;

// Packet type bytes (first byte of the UDP payload).
inline constexpr std::uint8_t kCookieRequestType = 0x18;
inline constexpr std::uint8_t kCookieResponseType = 0x19;
inline constexpr std::uint8_t kHandshakeType = 0x1a;
inline constexpr std::uint8_t kDataType = 0x1b;

inline constexpr std::size_t kKeySize = 32;
inline constexpr std::size_t kEchoIdSize = 8;
inline constexpr std::size_t kTimestampSize = 8;

// Cookie: nonce(24) || Box(cookie key, contents(72)).
inline constexpr std::size_t kCookieContentsSize = kTimestampSize + kKeySize + kKeySize;  // 72
inline constexpr std::size_t kCookieSize = kNonceSize + kMacSize + kCookieContentsSize;   // 112

// Cookie request 0x18.
inline constexpr std::size_t kCookieRequestPlainSize = kKeySize + kKeySize + kEchoIdSize;    // 72
inline constexpr std::size_t kCookieRequestCipherSize = kMacSize + kCookieRequestPlainSize;  // 88
inline constexpr std::size_t kCookieRequestSize =
    1 + kKeySize + kNonceSize + kCookieRequestCipherSize;  // 145

// Cookie response 0x19.
inline constexpr std::size_t kCookieResponsePlainSize = kCookieSize + kEchoIdSize;  // 120
inline constexpr std::size_t kCookieResponseCipherSize =
    kMacSize + kCookieResponsePlainSize;  // 136
inline constexpr std::size_t kCookieResponseSize =
    1 + kNonceSize + kCookieResponseCipherSize;  // 161

// Crypto handshake 0x1a.
inline constexpr std::size_t kHandshakePlainSize =
    kNonceSize + kKeySize + kSha512Size + kCookieSize;                               // 232
inline constexpr std::size_t kHandshakeCipherSize = kMacSize + kHandshakePlainSize;  // 248
inline constexpr std::size_t kHandshakeSize =
    1 + kCookieSize + kNonceSize + kHandshakeCipherSize;  // 385

// Crypto data 0x1b.
inline constexpr std::size_t kMaxPacketSize = 1400;         // MAX_CRYPTO_PACKET_SIZE
inline constexpr std::size_t kDataHeaderSize = 1 + 2;       // type, nonce low 16 bits
inline constexpr std::size_t kDataPlainHeaderSize = 4 + 4;  // buffer_start, number
inline constexpr std::size_t kDataMinSize =
    kDataHeaderSize + kMacSize + kDataPlainHeaderSize;                                    // 27
inline constexpr std::size_t kMaxMessageSize = kMaxPacketSize - kDataMinSize;             // 1373
inline constexpr std::size_t kMaxDataPlainSize = kDataPlainHeaderSize + kMaxMessageSize;  // 1381
inline constexpr std::size_t kMaxPadding = 8;  // CRYPTO_MAX_PADDING
/// Datagrams of type 0x19..0x1b no longer than this are dropped before any parsing.
inline constexpr std::size_t kMinCryptoPacketSize = 1 + 2 + kMacSize;  // 19

// Data ids (first non-padding byte of a data plaintext).
inline constexpr std::uint8_t kIdPadding = 0;
inline constexpr std::uint8_t kIdRequest = 1;
inline constexpr std::uint8_t kIdKill = 2;
inline constexpr std::uint8_t kFirstLosslessId = 16;
inline constexpr std::uint8_t kLastLosslessId = 191;
inline constexpr std::uint8_t kFirstLossyId = 192;
inline constexpr std::uint8_t kLastLossyId = 254;

static_assert(kCookieSize == 112);
static_assert(kCookieRequestSize == 145);
static_assert(kCookieResponseSize == 161);
static_assert(kHandshakeSize == 385);
static_assert(kDataMinSize == 27);
static_assert(kMaxMessageSize == 1373);
static_assert(kMaxDataPlainSize == 1381);

/// What a data id means to the receiver.
enum class IdClass : std::uint8_t { kPadding, kRequest, kKill, kReserved, kLossless, kLossy };

/// Classifies a data id (0 padding, 1 REQUEST, 2 KILL, 3-15 and 255 reserved/invalid,
/// 16-191 lossless, 192-254 lossy).
constexpr IdClass classify_id(std::uint8_t id) {
    if (id == kIdPadding) return IdClass::kPadding;
    if (id == kIdRequest) return IdClass::kRequest;
    if (id == kIdKill) return IdClass::kKill;
    if (id >= kFirstLosslessId && id <= kLastLosslessId) return IdClass::kLossless;
    if (id >= kFirstLossyId && id <= kLastLossyId) return IdClass::kLossy;
    return IdClass::kReserved;
}

}  // namespace netcrypto::wire
