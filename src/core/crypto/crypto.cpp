#include "core/crypto/crypto.hpp"

#include <algorithm>

#include <sodium.h>

#include <netcrypto/random.hpp>

namespace netcrypto::crypto {

static_assert(crypto_box_BEFORENMBYTES == kSharedKeySize);
static_assert(crypto_box_NONCEBYTES == kNonceSize);
static_assert(crypto_box_MACBYTES == kMacSize);
static_assert(crypto_secretbox_KEYBYTES == kSharedKeySize);
static_assert(crypto_hash_sha512_BYTES == kSha512Size);

namespace {
// libsodium selects its fastest implementations in sodium_init(); it is idempotent and
// thread-safe, so running it once at load time is enough for every user of this library.
const int kSodiumReady = sodium_init();
}  // namespace

bool ready() { return kSodiumReady >= 0; }

// --- SharedKey ---------------------------------------------------------------------------------

SharedKey::SharedKey(std::span<const std::uint8_t, kSharedKeySize> bytes) {
    std::copy(bytes.begin(), bytes.end(), bytes_.begin());
}
SharedKey::SharedKey(const SharedKey& other) : bytes_(other.bytes_) {}
SharedKey& SharedKey::operator=(const SharedKey& other) {
    if (this != &other) bytes_ = other.bytes_;
    return *this;
}
SharedKey::SharedKey(SharedKey&& other) noexcept : bytes_(other.bytes_) {
    sodium_memzero(other.bytes_.data(), other.bytes_.size());
}
SharedKey& SharedKey::operator=(SharedKey&& other) noexcept {
    if (this != &other) {
        bytes_ = other.bytes_;
        sodium_memzero(other.bytes_.data(), other.bytes_.size());
    }
    return *this;
}
SharedKey::~SharedKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

bool SharedKey::precompute(const PublicKey& their, const SecretKey& mine) {
    if (crypto_box_beforenm(bytes_.data(), their.bytes.data(), mine.bytes().data()) != 0) {
        sodium_memzero(bytes_.data(), bytes_.size());
        return false;
    }
    return true;
}

SharedKey SharedKey::random(Rng& rng) {
    SharedKey k;
    rng.fill(k.bytes_);
    return k;
}

bool operator==(const SharedKey& a, const SharedKey& b) {
    return sodium_memcmp(a.bytes_.data(), b.bytes_.data(), kSharedKeySize) == 0;
}

// --- Nonce -------------------------------------------------------------------------------------

void Nonce::increment() {
    for (std::size_t i = kNonceSize; i-- > 0;) {
        if (++bytes[i] != 0) return;
    }
}

void Nonce::add(std::uint32_t n) { add64(n); }

void Nonce::add64(std::uint64_t n) {
    unsigned carry = 0;
    for (std::size_t i = kNonceSize; i-- > 0;) {
        const unsigned sum = unsigned{bytes[i]} + static_cast<unsigned>(n & 0xFFU) + carry;
        bytes[i] = static_cast<std::uint8_t>(sum & 0xFFU);
        carry = sum >> 8U;
        n >>= 8U;
        if (n == 0 && carry == 0) return;
    }
}

std::uint16_t Nonce::low16() const {
    return static_cast<std::uint16_t>((unsigned{bytes[kNonceSize - 2]} << 8U) |
                                      bytes[kNonceSize - 1]);
}

Nonce Nonce::random(Rng& rng) {
    Nonce n;
    rng.fill(n.bytes);
    return n;
}

// --- Box ---------------------------------------------------------------------------------------

#ifdef NETCRYPTO_FUZZ_IDENTITY_CRYPTO
// Fuzzing only (the build refuses Release and install): "encryption" is a copy behind an
// all-zero tag, so a fuzzer's mutations of plaintext fields still authenticate.
bool seal(const SharedKey& /*key*/, const Nonce& /*nonce*/, std::span<const std::uint8_t> plain,
          std::span<std::uint8_t> out) {
    if (plain.empty() || out.size() != plain.size() + kMacSize) return false;
    std::fill_n(out.begin(), kMacSize, std::uint8_t{0});
    std::copy(plain.begin(), plain.end(), out.begin() + kMacSize);
    return true;
}

bool open(const SharedKey& /*key*/, const Nonce& /*nonce*/, std::span<const std::uint8_t> cipher,
          std::span<std::uint8_t> out) {
    if (cipher.size() <= kMacSize || out.size() != cipher.size() - kMacSize) return false;
    if (std::any_of(cipher.begin(), cipher.begin() + kMacSize,
                    [](std::uint8_t b) { return b != 0; })) {
        return false;
    }
    std::copy(cipher.begin() + kMacSize, cipher.end(), out.begin());
    return true;
}
#else
bool seal(const SharedKey& key, const Nonce& nonce, std::span<const std::uint8_t> plain,
          std::span<std::uint8_t> out) {
    if (plain.empty() || out.size() != plain.size() + kMacSize) return false;
    // crypto_box_easy_afternm lays out tag || ciphertext, the layout of wire.md §0.
    return crypto_box_easy_afternm(out.data(), plain.data(), plain.size(), nonce.bytes.data(),
                                   key.bytes().data()) == 0;
}

bool open(const SharedKey& key, const Nonce& nonce, std::span<const std::uint8_t> cipher,
          std::span<std::uint8_t> out) {
    if (cipher.size() <= kMacSize || out.size() != cipher.size() - kMacSize) return false;
    if (crypto_box_open_easy_afternm(out.data(), cipher.data(), cipher.size(), nonce.bytes.data(),
                                     key.bytes().data()) != 0) {
        sodium_memzero(out.data(), out.size());
        return false;
    }
    return true;
}
#endif

Sha512Digest sha512(std::span<const std::uint8_t> data) {
    Sha512Digest d{};
    crypto_hash_sha512(d.data(), data.data(), data.size());
    return d;
}

bool equal_ct(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
    if (a.size() != b.size()) return false;
    if (a.empty()) return true;
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void wipe(std::span<std::uint8_t> bytes) {
    if (!bytes.empty()) sodium_memzero(bytes.data(), bytes.size());
}

}  // namespace netcrypto::crypto
