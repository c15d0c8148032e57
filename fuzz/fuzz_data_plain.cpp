// Fuzz target: data plaintext (9..1381 bytes). Decode; a rejection must match the input; an
// accepted plaintext re-encoded with c-toxcore padding must decode to the same fields and message
// (the padding itself may differ: any amount is accepted on decode).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/wire/packets.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace netcrypto;
    using wire::DecodeError;
    const auto in = fuzz::input(data, size);
    const auto v = wire::decode_data_plain(in);
    if (!v) {
        if (in.size() <= wire::kDataPlainHeaderSize) {
            NETCRYPTO_FUZZ_CHECK(v.error() == DecodeError::kTooShort);
        } else if (in.size() > wire::kMaxDataPlainSize) {
            NETCRYPTO_FUZZ_CHECK(v.error() == DecodeError::kTooLong);
        } else {
            const auto body = in.subspan(wire::kDataPlainHeaderSize);
            NETCRYPTO_FUZZ_CHECK(v.error() == DecodeError::kOnlyPadding);
            NETCRYPTO_FUZZ_CHECK(
                std::all_of(body.begin(), body.end(), [](std::uint8_t b) { return b == 0; }));
        }
        return 0;
    }
    // The message is a non-empty suffix of the input that starts at the first non-zero byte
    // after the 8-byte header.
    const auto& msg = v->message;
    NETCRYPTO_FUZZ_CHECK(!msg.empty() && msg[0] != wire::kIdPadding);
    NETCRYPTO_FUZZ_CHECK(msg.size() <= wire::kMaxMessageSize);
    NETCRYPTO_FUZZ_CHECK(msg.data() + msg.size() == in.data() + in.size());
    NETCRYPTO_FUZZ_CHECK(msg.data() >= in.data() + wire::kDataPlainHeaderSize);
    const auto pad =
        in.subspan(wire::kDataPlainHeaderSize,
                   static_cast<std::size_t>(msg.data() - in.data()) - wire::kDataPlainHeaderSize);
    NETCRYPTO_FUZZ_CHECK(
        std::all_of(pad.begin(), pad.end(), [](std::uint8_t b) { return b == 0; }));

    std::array<std::uint8_t, wire::kMaxDataPlainSize> out{};
    const std::size_t n = wire::encode_data_plain(v->buffer_start, v->packet_number, msg, out);
    NETCRYPTO_FUZZ_CHECK(n == wire::data_plain_size(msg.size()));
    NETCRYPTO_FUZZ_CHECK(wire::data_packet_size(msg.size()) % wire::kMaxPadding == 0);
    const auto again = wire::decode_data_plain(std::span(out).first(n));
    NETCRYPTO_FUZZ_CHECK(again.has_value());
    NETCRYPTO_FUZZ_CHECK(again->buffer_start == v->buffer_start);
    NETCRYPTO_FUZZ_CHECK(again->packet_number == v->packet_number);
    NETCRYPTO_FUZZ_CHECK(
        std::equal(again->message.begin(), again->message.end(), msg.begin(), msg.end()));
    return 0;
}
