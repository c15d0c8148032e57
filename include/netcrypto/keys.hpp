// Curve25519 public and secret keys (long-term, DHT and session keys all share these types).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <netcrypto/export.hpp>

namespace netcrypto {

class Rng;

inline constexpr std::size_t kPublicKeySize = 32;
inline constexpr std::size_t kSecretKeySize = 32;

/// A 32-byte X25519 public key. Public data: compared and hashed normally.
struct NETCRYPTO_EXPORT PublicKey {
    std::array<std::uint8_t, kPublicKeySize> bytes{};

    friend auto operator<=>(const PublicKey&, const PublicKey&) = default;

    /// Lower-case hex, 64 characters.
    [[nodiscard]] std::string to_hex() const;
    /// Parses exactly 64 hex digits (either case); nullopt on any other input.
    static std::optional<PublicKey> from_hex(std::string_view hex);
};

/// A 32-byte X25519 secret key. Wiped with sodium_memzero when destroyed or overwritten;
/// compared in constant time; never printed.
class NETCRYPTO_EXPORT SecretKey {
  public:
    SecretKey() = default;
    explicit SecretKey(std::span<const std::uint8_t, kSecretKeySize> bytes);
    SecretKey(const SecretKey& other);
    SecretKey& operator=(const SecretKey& other);
    SecretKey(SecretKey&& other) noexcept;
    SecretKey& operator=(SecretKey&& other) noexcept;
    ~SecretKey();

    /// The raw bytes, for handing to libsodium.
    [[nodiscard]] std::span<const std::uint8_t, kSecretKeySize> bytes() const { return bytes_; }
    /// Hex form for writing key files; the caller must wipe the string after use.
    [[nodiscard]] std::string to_hex() const;
    /// Parses exactly 64 hex digits; nullopt on any other input.
    static std::optional<SecretKey> from_hex(std::string_view hex);

    /// Constant-time equality.
    friend NETCRYPTO_EXPORT bool operator==(const SecretKey& a, const SecretKey& b);

  private:
    std::array<std::uint8_t, kSecretKeySize> bytes_{};
};

/// A public key with the secret key it belongs to.
struct NETCRYPTO_EXPORT KeyPair {
    PublicKey public_key;
    SecretKey secret_key;

    /// A fresh key pair whose secret comes from `rng` (X25519 clamping is done by libsodium).
    static KeyPair generate(Rng& rng);
    /// The key pair of an existing secret key (public = X25519 base-point multiple).
    static KeyPair from_secret(const SecretKey& secret);
};

}  // namespace netcrypto

template <>
struct std::hash<netcrypto::PublicKey> {
    std::size_t operator()(const netcrypto::PublicKey& k) const noexcept {
        // Keys are uniformly random: the first bytes are a good hash already.
        std::size_t h = 0;
        for (std::size_t i = 0; i < sizeof(std::size_t); ++i) {
            h = (h << 8U) | k.bytes[i];
        }
        return h;
    }
};
