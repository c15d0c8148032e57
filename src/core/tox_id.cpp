// Tox IDs (docs/discovery.md): checksum, printing, parsing with errors that say what is wrong,
// and the nospam derived from a secret key.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <netcrypto/tox_id.hpp>

#include "core/crypto/crypto.hpp"

namespace netcrypto {
namespace {

constexpr std::string_view kUpperDigits = "0123456789ABCDEF";
constexpr std::string_view kNospamDomain = "netcrypto tox-id nospam v1";

std::optional<std::uint8_t> hex_value(char c) {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<std::uint8_t>(c - 'A' + 10);
    return std::nullopt;
}

std::string upper_hex(std::span<const std::uint8_t> bytes) {
    std::string out;
    out.reserve(2 * bytes.size());
    for (const std::uint8_t b : bytes) {
        out.push_back(kUpperDigits[b >> 4U]);
        out.push_back(kUpperDigits[b & 0x0FU]);
    }
    return out;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'; }

/// The text without surrounding whitespace, and the offset of its first character.
struct Trimmed {
    std::string_view text;
    std::size_t offset = 0;
};

Trimmed trim(std::string_view text) {
    std::size_t begin = 0;
    while (begin < text.size() && is_space(text[begin])) ++begin;
    std::size_t end = text.size();
    while (end > begin && is_space(text[end - 1])) --end;
    return {text.substr(begin, end - begin), begin};
}

/// Decodes t.text (2 * out.size() characters, checked by the caller) into `out`.
std::optional<ToxIdError> decode_hex(const Trimmed& t, std::span<std::uint8_t> out) {
    for (std::size_t i = 0; i < t.text.size(); ++i) {
        const auto v = hex_value(t.text[i]);
        if (!v) {
            ToxIdError e;
            e.kind = ToxIdError::Kind::kNotHex;
            e.position = t.offset + i + 1;
            e.character = t.text[i];
            return e;
        }
        auto& byte = out[i / 2];
        byte = (i % 2 == 0) ? static_cast<std::uint8_t>(*v << 4U)
                            : static_cast<std::uint8_t>(byte | *v);
    }
    return std::nullopt;
}

ToxIdError wrong_length(std::size_t length) {
    ToxIdError e;
    e.kind = ToxIdError::Kind::kWrongLength;
    e.length = length;
    return e;
}

tl::expected<ToxId, ToxIdError> parse_trimmed(const Trimmed& t) {
    if (t.text.size() != kToxIdHexSize) return tl::unexpected(wrong_length(t.text.size()));
    std::array<std::uint8_t, kToxIdSize> bytes{};
    if (auto err = decode_hex(t, bytes)) return tl::unexpected(*err);
    ToxId id;
    std::copy_n(bytes.begin(), kPublicKeySize, id.key.bytes.begin());
    std::copy_n(bytes.begin() + kPublicKeySize, kNospamSize, id.nospam.begin());
    ToxIdChecksum found{};
    std::copy_n(bytes.begin() + kPublicKeySize + kNospamSize, kToxIdChecksumSize, found.begin());
    if (found != id.checksum()) {
        ToxIdError e;
        e.kind = ToxIdError::Kind::kBadChecksum;
        e.expected = id.checksum();
        e.found = found;
        return tl::unexpected(e);
    }
    return id;
}

std::string describe_character(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7F) return std::string("'") + c + "'";
    const std::array<std::uint8_t, 1> b{u};
    return "byte 0x" + upper_hex(b);
}

}  // namespace

std::string to_string(const ToxIdError& e) {
    switch (e.kind) {
        case ToxIdError::Kind::kWrongLength:
            return "wrong length: " + std::to_string(e.length) +
                   " characters; a Tox ID is 76 hex digits, a bare public key 64";
        case ToxIdError::Kind::kNotHex:
            return "not hex: " + describe_character(e.character) + " at position " +
                   std::to_string(e.position) + " is not a hex digit";
        case ToxIdError::Kind::kBadChecksum:
            return "bad Tox ID checksum: expected " + upper_hex(e.expected) + ", found " +
                   upper_hex(e.found) + " (a mistyped digit?)";
    }
    return "invalid Tox ID";
}

ToxIdChecksum ToxId::checksum() const {
    ToxIdChecksum sum{};
    for (std::size_t i = 0; i < kPublicKeySize; ++i) sum[i % 2] ^= key.bytes[i];
    // kPublicKeySize is even, so nospam byte j sits at overall index 32 + j, parity j % 2.
    for (std::size_t j = 0; j < kNospamSize; ++j) sum[j % 2] ^= nospam[j];
    return sum;
}

std::array<std::uint8_t, kToxIdSize> ToxId::to_bytes() const {
    std::array<std::uint8_t, kToxIdSize> out{};
    const ToxIdChecksum sum = checksum();
    auto it = std::copy(key.bytes.begin(), key.bytes.end(), out.begin());
    it = std::copy(nospam.begin(), nospam.end(), it);
    std::copy(sum.begin(), sum.end(), it);
    return out;
}

std::string ToxId::to_string() const { return upper_hex(to_bytes()); }

tl::expected<ToxId, ToxIdError> ToxId::parse(std::string_view text) {
    return parse_trimmed(trim(text));
}

ToxId ToxId::for_key(const PublicKey& key, const Nospam& nospam) { return ToxId{key, nospam}; }

Nospam derive_nospam(const SecretKey& secret) {
    std::array<std::uint8_t, kNospamDomain.size() + 1 + kSecretKeySize> input{};
    auto it = std::copy(kNospamDomain.begin(), kNospamDomain.end(), input.begin());
    *it++ = 0;
    std::copy(secret.bytes().begin(), secret.bytes().end(), it);
    crypto::Sha512Digest digest = crypto::sha512(input);
    Nospam nospam{};
    std::copy_n(digest.begin(), kNospamSize, nospam.begin());
    crypto::wipe(input);
    crypto::wipe(digest);
    return nospam;
}

tl::expected<PublicKey, ToxIdError> parse_peer(std::string_view text) {
    const Trimmed t = trim(text);
    if (t.text.size() == kPublicKeyHexSize) {
        PublicKey key;
        if (auto err = decode_hex(t, key.bytes)) return tl::unexpected(*err);
        return key;
    }
    return parse_trimmed(t).map([](const ToxId& id) { return id.key; });
}

}  // namespace netcrypto
