#include <sodium.h>

#include <netcrypto/random.hpp>

namespace netcrypto {

std::uint64_t Rng::next_u64() {
    std::array<std::uint8_t, 8> b{};
    fill(b);
    std::uint64_t v = 0;
    for (auto x : b) v = (v << 8U) | x;
    return v;
}

std::uint64_t Rng::uniform(std::uint64_t bound) {
    if (bound <= 1) return 0;
    // Rejection sampling: no modulo bias.
    const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
    for (;;) {
        const std::uint64_t v = next_u64();
        if (v < limit) return v % bound;
    }
}

SeededRng::SeededRng(std::uint64_t seed) {
    for (std::size_t i = 0; i < 8; ++i) key_[i] = static_cast<std::uint8_t>(seed >> (8U * i));
    key_[31] = 0x5E;  // domain separation from an all-zero key
}

SeededRng::~SeededRng() { sodium_memzero(key_.data(), key_.size()); }

void SeededRng::fill(std::span<std::uint8_t> out) {
    if (out.empty()) return;
    std::array<std::uint8_t, crypto_stream_chacha20_NONCEBYTES> nonce{};
    for (std::size_t i = 0; i < nonce.size(); ++i) {
        nonce[i] = static_cast<std::uint8_t>(counter_ >> (8U * i));
    }
    ++counter_;
    crypto_stream_chacha20(out.data(), out.size(), nonce.data(), key_.data());
}

}  // namespace netcrypto
