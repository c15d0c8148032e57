// libsodium wrappers used by the protocol: precomputed box keys, tag-first XSalsa20-Poly1305,
// SHA-512 and the 192-bit big-endian nonce arithmetic of wire.md §5.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <netcrypto/keys.hpp>

namespace netcrypto::crypto {

inline constexpr std::size_t kSharedKeySize = 32;
inline constexpr std::size_t kNonceSize = 24;
inline constexpr std::size_t kMacSize = 16;
inline constexpr std::size_t kSha512Size = 64;

/// True when libsodium initialised (it is initialised when this library is loaded).
bool ready();

/// A 32-byte symmetric key: either a precomputed box key DH(their pk, my sk) or a random
/// secretbox key (the cookie key). Wiped on destruction, compared in constant time.
class SharedKey {
  public:
    SharedKey() = default;
    explicit SharedKey(std::span<const std::uint8_t, kSharedKeySize> bytes);
    SharedKey(const SharedKey& other);
    SharedKey& operator=(const SharedKey& other);
    SharedKey(SharedKey&& other) noexcept;
    SharedKey& operator=(SharedKey&& other) noexcept;
    ~SharedKey();

    /// crypto_box_beforenm(their, mine) = HSalsa20(X25519(mine, their)). Returns false (and
    /// leaves the key zero) when the shared point is degenerate (low-order public key).
    [[nodiscard]] bool precompute(const PublicKey& their, const SecretKey& mine);
    /// A fresh random key from `rng` (used for the cookie key).
    static SharedKey random(Rng& rng);

    [[nodiscard]] std::span<const std::uint8_t, kSharedKeySize> bytes() const { return bytes_; }
    friend bool operator==(const SharedKey& a, const SharedKey& b);

  private:
    std::array<std::uint8_t, kSharedKeySize> bytes_{};
};

/// A 24-byte nonce. Data-packet nonces are a 192-bit big-endian counter.
struct Nonce {
    std::array<std::uint8_t, kNonceSize> bytes{};

    friend bool operator==(const Nonce&, const Nonce&) = default;

    /// Adds one, carrying through all 24 bytes (big-endian).
    void increment();
    /// Adds a 32-bit number to the low four bytes (20..23, big-endian) and carries upward.
    void add(std::uint32_t n);
    /// Adds a 64-bit number (big-endian, carrying upward).
    void add64(std::uint64_t n);
    /// The last two bytes (22, 23) as a big-endian 16-bit number: what travels in 0x1b packets.
    [[nodiscard]] std::uint16_t low16() const;
    /// A random nonce from `rng`.
    static Nonce random(Rng& rng);
};

/// Box with a precomputed key: out = tag(16) || ciphertext(len(plain)); out.size() must equal
/// plain.size() + 16. Empty plaintext is refused (false), as in c-toxcore. `out` may alias
/// `plain` only if out.data() + 16 == plain.data() is NOT assumed; pass disjoint buffers.
[[nodiscard]] bool seal(const SharedKey& key, const Nonce& nonce,
                        std::span<const std::uint8_t> plain, std::span<std::uint8_t> out);

/// Inverse of seal: cipher = tag || ciphertext (> 16 bytes); out.size() must equal
/// cipher.size() - 16. Returns false on a bad tag or wrong sizes; `out` is then zeroed.
[[nodiscard]] bool open(const SharedKey& key, const Nonce& nonce,
                        std::span<const std::uint8_t> cipher, std::span<std::uint8_t> out);

using Sha512Digest = std::array<std::uint8_t, kSha512Size>;

/// SHA-512 of `data`.
Sha512Digest sha512(std::span<const std::uint8_t> data);

/// Constant-time comparison of two equal-length byte ranges (false when lengths differ).
bool equal_ct(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

/// Wipes a byte range with sodium_memzero.
void wipe(std::span<std::uint8_t> bytes);

}  // namespace netcrypto::crypto
