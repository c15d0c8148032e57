// Fuzz target: Cookie response 0x19 codec. Decode; a rejection must match the input; an accepted
// input must re-encode to exactly the same bytes.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/wire/packets.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace netcrypto;
    fuzz::check_fixed_codec<wire::kCookieResponseSize>(
        fuzz::input(data, size), wire::kCookieResponseType, wire::decode_cookie_response);
    return 0;
}
