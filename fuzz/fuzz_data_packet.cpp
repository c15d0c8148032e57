// Fuzz target: crypto data packet 0x1b (28..1400 bytes). Decode; a rejection must match the
// input; an accepted packet is a zero-copy view whose header re-encodes to the same bytes.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "core/wire/packets.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace netcrypto;
    using wire::DecodeError;
    const auto in = fuzz::input(data, size);
    const auto v = wire::decode_data_packet(in);
    if (!v) {
        if (in.empty() || in[0] != wire::kDataType) {
            NETCRYPTO_FUZZ_CHECK(v.error() == DecodeError::kWrongType);
        } else if (in.size() <= wire::kDataMinSize) {
            NETCRYPTO_FUZZ_CHECK(v.error() == DecodeError::kTooShort);
        } else if (in.size() > wire::kMaxPacketSize) {
            NETCRYPTO_FUZZ_CHECK(v.error() == DecodeError::kTooLong);
        } else {
            NETCRYPTO_FUZZ_FAIL("a well-formed data packet was rejected");
        }
        return 0;
    }
    NETCRYPTO_FUZZ_CHECK(in.size() > wire::kDataMinSize && in.size() <= wire::kMaxPacketSize);
    NETCRYPTO_FUZZ_CHECK(in[0] == wire::kDataType);
    NETCRYPTO_FUZZ_CHECK(v->encrypted.data() == in.data() + wire::kDataHeaderSize);
    NETCRYPTO_FUZZ_CHECK(v->encrypted.size() == in.size() - wire::kDataHeaderSize);
    NETCRYPTO_FUZZ_CHECK(v->encrypted.size() > wire::kMacSize + wire::kDataPlainHeaderSize);

    std::array<std::uint8_t, wire::kDataHeaderSize> header{};
    wire::encode_data_header(v->nonce_low, header);
    NETCRYPTO_FUZZ_CHECK(std::equal(header.begin(), header.end(), in.begin()));
    return 0;
}
