#include <sodium.h>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>

#include "core/hex.hpp"

namespace netcrypto {

std::string PublicKey::to_hex() const { return core::hex_encode(bytes); }

std::optional<PublicKey> PublicKey::from_hex(std::string_view hex) {
    PublicKey k;
    if (!core::hex_decode(hex, k.bytes)) return std::nullopt;
    return k;
}

SecretKey::SecretKey(std::span<const std::uint8_t, kSecretKeySize> bytes) {
    std::copy(bytes.begin(), bytes.end(), bytes_.begin());
}
SecretKey::SecretKey(const SecretKey& other) : bytes_(other.bytes_) {}
SecretKey& SecretKey::operator=(const SecretKey& other) {
    if (this != &other) bytes_ = other.bytes_;
    return *this;
}
SecretKey::SecretKey(SecretKey&& other) noexcept : bytes_(other.bytes_) {
    sodium_memzero(other.bytes_.data(), other.bytes_.size());
}
SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
    if (this != &other) {
        bytes_ = other.bytes_;
        sodium_memzero(other.bytes_.data(), other.bytes_.size());
    }
    return *this;
}
SecretKey::~SecretKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

std::string SecretKey::to_hex() const { return core::hex_encode(bytes_); }

std::optional<SecretKey> SecretKey::from_hex(std::string_view hex) {
    std::array<std::uint8_t, kSecretKeySize> tmp{};
    if (!core::hex_decode(hex, tmp)) return std::nullopt;
    SecretKey k(tmp);
    sodium_memzero(tmp.data(), tmp.size());
    return k;
}

bool operator==(const SecretKey& a, const SecretKey& b) {
    return sodium_memcmp(a.bytes_.data(), b.bytes_.data(), kSecretKeySize) == 0;
}

KeyPair KeyPair::generate(Rng& rng) {
    std::array<std::uint8_t, kSecretKeySize> seed{};
    rng.fill(seed);
    KeyPair kp = from_secret(SecretKey(seed));
    sodium_memzero(seed.data(), seed.size());
    return kp;
}

KeyPair KeyPair::from_secret(const SecretKey& secret) {
    KeyPair kp;
    kp.secret_key = secret;
    // The public key of an X25519 secret (libsodium clamps the scalar internally).
    crypto_scalarmult_base(kp.public_key.bytes.data(), secret.bytes().data());
    return kp;
}

}  // namespace netcrypto
