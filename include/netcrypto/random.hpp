// Injected randomness: the core never reads OS randomness itself.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include <netcrypto/export.hpp>

namespace netcrypto {

/// A source of random bytes handed to the core. Implementations must be cryptographically
/// strong outside of tests.
class NETCRYPTO_EXPORT Rng {
  public:
    Rng() = default;
    Rng(const Rng&) = delete;
    Rng& operator=(const Rng&) = delete;
    Rng(Rng&&) = delete;
    Rng& operator=(Rng&&) = delete;
    virtual ~Rng() = default;

    /// Fills `out` with random bytes.
    virtual void fill(std::span<std::uint8_t> out) = 0;

    /// A random 64-bit value.
    std::uint64_t next_u64();
    /// A uniformly distributed value in [0, bound) (bound > 0).
    std::uint64_t uniform(std::uint64_t bound);
};

/// libsodium's randombytes_buf (the OS CSPRNG): for production use.
class NETCRYPTO_EXPORT SodiumRng final : public Rng {
  public:
    void fill(std::span<std::uint8_t> out) override;
};

/// A deterministic stream (ChaCha20 keyed by a 32-byte seed): the same seed always gives the
/// same bytes, so a test run replays exactly. Never use it for real keys.
class NETCRYPTO_EXPORT SeededRng final : public Rng {
  public:
    explicit SeededRng(std::uint64_t seed);
    ~SeededRng() override;
    void fill(std::span<std::uint8_t> out) override;

  private:
    std::array<std::uint8_t, 32> key_{};
    std::uint64_t counter_ = 0;
};

}  // namespace netcrypto
