// Fuzz target: Handshake plaintext codec. Decode; a rejection must match the input; an accepted
// input must re-encode to exactly the same bytes.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/wire/packets.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace netcrypto;
    fuzz::check_fixed_codec<wire::kHandshakePlainSize>(fuzz::input(data, size), std::nullopt,
                                                       wire::decode_handshake_plain);
    return 0;
}
