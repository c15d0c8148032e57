// Fuzz target: core::CookieJar::open. Raw mode opens arbitrary 112 bytes at an arbitrary time;
// issue mode issues a cookie, optionally rotates keys and tampers with one byte, then checks that
// open gives exactly the predicted outcome (see the layout in fuzz_common.hpp).
#include <chrono>
#include <cstddef>
#include <cstdint>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/cookie.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace netcrypto;

void raw_mode(std::span<const std::uint8_t> in) {
    if (in.size() < fuzz::kRawModeSize) return;
    SeededRng rng(fuzz::kJarSeed);
    const core::CookieJar jar(rng, std::chrono::milliseconds(fuzz::kJarValidityMs));
    const std::int64_t now = fuzz::time_ms_from(in.subspan(1, 8));
    wire::Cookie cookie{};
    std::copy_n(in.subspan(9).begin(), cookie.size(), cookie.begin());
    const auto r = jar.open(cookie, instant_from_ms(now));
    if (r) {
        // Only a cookie of this jar opens, and only within its validity.
        const auto created = static_cast<std::int64_t>(r->time_ms);
        NETCRYPTO_FUZZ_CHECK(created <= now);
        NETCRYPTO_FUZZ_CHECK(now - created <= fuzz::kJarValidityMs);
    }
}

void issue_mode(std::span<const std::uint8_t> in) {
    if (in.size() < fuzz::kIssueModeSize) return;
    SeededRng rng(fuzz::kJarSeed);
    core::CookieJar jar(rng, std::chrono::milliseconds(fuzz::kJarValidityMs));
    const std::int64_t issued = fuzz::time_ms_from(in.subspan(1, 8));
    const auto delta = static_cast<std::int32_t>(fuzz::read_le(in.subspan(9, 4)));
    const std::int64_t opened = issued + delta;
    PublicKey long_term_pk;
    PublicKey dht_pk;
    std::copy_n(in.subspan(13).begin(), long_term_pk.bytes.size(), long_term_pk.bytes.begin());
    std::copy_n(in.subspan(45).begin(), dht_pk.bytes.size(), dht_pk.bytes.begin());
    const unsigned rotations = in.size() > 77 ? in[77] % 4U : 0U;
    const std::size_t tamper_at = in.size() > 78 ? in[78] % wire::kCookieSize : 0;
    const std::uint8_t tamper_mask = in.size() > 79 ? in[79] : 0;

    auto cookie = jar.issue(instant_from_ms(issued), long_term_pk, dht_pk, rng);
    for (unsigned i = 0; i < rotations; ++i) jar.rotate(rng);
    cookie[tamper_at] ^= tamper_mask;
    const auto r = jar.open(cookie, instant_from_ms(opened));

    if (tamper_mask != 0 || rotations >= 2) {
        NETCRYPTO_FUZZ_CHECK(!r && r.error() == core::CookieError::kBadTag);
    } else if (opened < issued) {
        NETCRYPTO_FUZZ_CHECK(!r && r.error() == core::CookieError::kFromFuture);
    } else if (opened - issued > fuzz::kJarValidityMs) {
        NETCRYPTO_FUZZ_CHECK(!r && r.error() == core::CookieError::kExpired);
    } else {
        NETCRYPTO_FUZZ_CHECK(r.has_value());
        NETCRYPTO_FUZZ_CHECK(r->long_term_pk == long_term_pk);
        NETCRYPTO_FUZZ_CHECK(r->dht_pk == dht_pk);
        NETCRYPTO_FUZZ_CHECK(static_cast<std::int64_t>(r->time_ms) == issued);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto in = netcrypto::fuzz::input(data, size);
    if (in.empty()) return 0;
    if ((in[0] & 1U) == 0) {
        raw_mode(in);
    } else {
        issue_mode(in);
    }
    return 0;
}
