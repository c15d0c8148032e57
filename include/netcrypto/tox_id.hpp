// Tox IDs: what a Tox client shows its user (a long-term public key, a nospam and a checksum),
// and the parsing of a peer given as a Tox ID or as a bare public key (docs/discovery.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include <netcrypto/export.hpp>
#include <netcrypto/keys.hpp>

namespace netcrypto {

inline constexpr std::size_t kNospamSize = 4;
inline constexpr std::size_t kToxIdChecksumSize = 2;
/// Bytes of a Tox ID: public key, nospam, checksum.
inline constexpr std::size_t kToxIdSize = kPublicKeySize + kNospamSize + kToxIdChecksumSize;
/// Hex digits of a Tox ID (76) and of a bare public key (64).
inline constexpr std::size_t kToxIdHexSize = 2 * kToxIdSize;
inline constexpr std::size_t kPublicKeyHexSize = 2 * kPublicKeySize;

using Nospam = std::array<std::uint8_t, kNospamSize>;
using ToxIdChecksum = std::array<std::uint8_t, kToxIdChecksumSize>;

/// Why a Tox ID or peer key did not parse, with the details its one-line message names.
struct NETCRYPTO_EXPORT ToxIdError {
    enum class Kind : std::uint8_t {
        kWrongLength,  ///< not 76 hex digits (nor 64, where a bare key is allowed)
        kNotHex,       ///< a character that is no hex digit
        kBadChecksum,  ///< the last two bytes are not the checksum of the first 36
    };
    Kind kind = Kind::kWrongLength;
    std::size_t length = 0;    ///< kWrongLength: characters after trimming whitespace
    std::size_t position = 0;  ///< kNotHex: 1-based position in the input as given
    char character = 0;        ///< kNotHex: the offending character
    ToxIdChecksum expected{};  ///< kBadChecksum: computed from the first 36 bytes
    ToxIdChecksum found{};     ///< kBadChecksum: the last two bytes of the input

    friend bool operator==(const ToxIdError&, const ToxIdError&) = default;
};

/// One line for the user, e.g. "bad Tox ID checksum: expected 1A2B, found 1A2C".
NETCRYPTO_EXPORT std::string to_string(const ToxIdError& e);

/// A Tox ID: [public key 32][nospam 4][checksum 2], printed as 76 upper-case hex digits.
struct NETCRYPTO_EXPORT ToxId {
    PublicKey key;
    Nospam nospam{};

    friend bool operator==(const ToxId&, const ToxId&) = default;

    /// Checksum byte i (0, 1) = XOR of bytes i, i+2, i+4, ... of key || nospam.
    [[nodiscard]] ToxIdChecksum checksum() const;
    /// The 38 bytes: key, nospam, checksum.
    [[nodiscard]] std::array<std::uint8_t, kToxIdSize> to_bytes() const;
    /// 76 upper-case hex digits, as Tox clients print them.
    [[nodiscard]] std::string to_string() const;

    /// Parses 76 hex digits (either case; leading and trailing whitespace ignored) and checks
    /// the checksum.
    static tl::expected<ToxId, ToxIdError> parse(std::string_view text);
    /// The Tox ID of `key` with the given nospam.
    static ToxId for_key(const PublicKey& key, const Nospam& nospam);
};

/// A nospam that stays the same for a secret key, so the printed Tox ID is stable without
/// storing anything besides the key: the first 4 bytes of SHA-512("netcrypto tox-id nospam v1"
/// || 0x00 || secret key). The secret cannot be recovered from it (docs/discovery.md).
NETCRYPTO_EXPORT Nospam derive_nospam(const SecretKey& secret);

/// A peer's long-term public key from 64 hex digits (a bare key) or a 76-digit Tox ID (its
/// checksum checked, its nospam ignored); either case, surrounding whitespace ignored.
NETCRYPTO_EXPORT tl::expected<PublicKey, ToxIdError> parse_peer(std::string_view text);

}  // namespace netcrypto
