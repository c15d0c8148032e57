// Shared helpers of the libFuzzer targets (and of their corpus replay and seed generator).
// Each target decodes arbitrary bytes, checks that a rejection is justified by the input and that
// an accepted input re-encodes to exactly the same bytes. A failed check aborts, which libFuzzer
// (and the replay runner, under ctest) reports as a crash.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>

#include "core/wire/packets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

/// Aborts with the failed condition when `cond` is false (active in every build type).
#define NETCRYPTO_FUZZ_CHECK(cond)                                                             \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                      \
        }                                                                                      \
    } while (false)

/// Aborts with `msg` unconditionally.
#define NETCRYPTO_FUZZ_FAIL(msg)                                                         \
    do {                                                                                 \
        std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, msg); \
        std::abort();                                                                    \
    } while (false)

namespace netcrypto::fuzz {

/// The fuzzer's input as a span (libFuzzer may pass a null pointer with size 0).
inline std::span<const std::uint8_t> input(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return {};
    return {data, size};
}

/// Checks that `err` is the error a decoder of a fixed-size format (`size` bytes, first byte
/// `type` if it has one) must report for `in`.
inline void check_fixed_error(std::span<const std::uint8_t> in, std::size_t size,
                              std::optional<std::uint8_t> type, wire::DecodeError err) {
    using wire::DecodeError;
    if (type && (in.empty() || in[0] != *type)) {
        NETCRYPTO_FUZZ_CHECK(err == DecodeError::kWrongType);
    } else if (in.size() < size) {
        NETCRYPTO_FUZZ_CHECK(err == DecodeError::kTooShort);
    } else if (in.size() > size) {
        NETCRYPTO_FUZZ_CHECK(err == DecodeError::kTooLong);
    } else {
        NETCRYPTO_FUZZ_FAIL("a well-formed input of the exact size was rejected");
    }
}

/// The whole property of a fixed-size codec: decode; on rejection the error must match the
/// input; on success the input has the exact size and type and re-encodes byte for byte.
template <std::size_t Size, typename Decode>
void check_fixed_codec(std::span<const std::uint8_t> in, std::optional<std::uint8_t> type,
                       Decode decode) {
    const auto decoded = decode(in);
    if (!decoded) {
        check_fixed_error(in, Size, type, decoded.error());
        return;
    }
    NETCRYPTO_FUZZ_CHECK(in.size() == Size);
    NETCRYPTO_FUZZ_CHECK(!type || in[0] == *type);
    std::array<std::uint8_t, Size> out{};
    wire::encode(*decoded, std::span<std::uint8_t, Size>(out));
    NETCRYPTO_FUZZ_CHECK(std::equal(out.begin(), out.end(), in.begin(), in.end()));
}

// --- cookie_open input layout (shared by the target and the seed generator) --------------------
//
// byte 0, bit 0 = 0: "raw" mode: open arbitrary bytes.
//   1..9    open time, ms, int64 little-endian (reduced to +-2^42 ms)
//   9..121  the 112 cookie bytes
// byte 0, bit 0 = 1: "issue" mode: issue a cookie, then open it and predict the outcome.
//   1..9    issue time, ms, int64 little-endian (reduced to +-2^42 ms)
//   9..13   open time minus issue time, ms, int32 little-endian
//   13..45  real public key
//   45..77  DHT public key
//   77      (optional) number of key rotations between issue and open, modulo 4
//   78, 79  (optional) index (modulo 112) and xor mask of one byte to tamper with
inline constexpr std::uint64_t kJarSeed = 0x6A61722D66757A7AULL;  // the jar of every input
inline constexpr std::int64_t kJarValidityMs = 8000;
inline constexpr std::size_t kRawModeSize = 1 + 8 + wire::kCookieSize;  // 121
inline constexpr std::size_t kIssueModeSize = 1 + 8 + 4 + 32 + 32;      // 77

inline std::uint64_t read_le(std::span<const std::uint8_t> b) {
    std::uint64_t v = 0;
    for (std::size_t i = b.size(); i-- > 0;) v = (v << 8U) | b[i];
    return v;
}

/// A time in ms from 8 input bytes, kept within +-2^42 ms so conversions to ns cannot overflow.
inline std::int64_t time_ms_from(std::span<const std::uint8_t> b) {
    constexpr std::int64_t kRange = std::int64_t{1} << 42U;
    return static_cast<std::int64_t>(read_le(b)) % kRange;
}

}  // namespace netcrypto::fuzz
