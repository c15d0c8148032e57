// Fuzz target: the relay frame decoder and packet parser (src/core/relay/frame.hpp). Raw bytes
// must never be accepted as more than the stream allows, failures must be sticky, every accepted
// plaintext must re-encode to the same bytes; frames sealed from the input must come back
// exactly, whatever the chunking, and an overlong header must fail before its payload.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "core/relay/frame.hpp"
#include "fuzz_common.hpp"
#include "relay_fuzz.hpp"

namespace {

using namespace netcrypto;
using namespace netcrypto::relay;
using ByteVec = std::vector<std::uint8_t>;

/// parse_packet's property: accepted plaintexts re-encode byte for byte (except an empty routed
/// payload, which the encoder refuses on purpose); rejections are for a reason the bytes show.
void check_packet(Bytes plain) {
    const auto p = parse_packet(plain);
    if (!p) {
        NETCRYPTO_FUZZ_CHECK(p.error() == RelayDropReason::kWrongLength ||
                             p.error() == RelayDropReason::kUnknownId);
        if (p.error() == RelayDropReason::kUnknownId) {
            NETCRYPTO_FUZZ_CHECK(plain[0] >= 12 && plain[0] < 16);
        }
        return;
    }
    std::array<std::uint8_t, kMaxPacketSize> out{};
    const std::size_t n = encode_packet(*p, out);
    if (const auto* d = std::get_if<RoutedData>(&*p); d != nullptr && d->payload.empty()) {
        NETCRYPTO_FUZZ_CHECK(n == 0 && plain.size() == 1);
        return;
    }
    NETCRYPTO_FUZZ_CHECK(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n),
                                    plain.begin(), plain.end()));
}

/// Feeds `stream` in chunks of `chunk` bytes; returns the plaintexts and whether it failed.
std::vector<ByteVec> decode(Bytes stream, std::size_t chunk, bool& failed, RelayDropReason& error) {
    FrameDecoder dec(fuzz::relay::frame_key(), fuzz::relay::frame_nonce());
    std::vector<ByteVec> out;
    failed = false;
    while (!stream.empty()) {
        Bytes in = stream.first(std::min(chunk, stream.size()));
        stream = stream.subspan(in.size());
        for (;;) {
            const std::size_t before = in.size();
            const auto st = dec.next(in);
            if (st == FrameDecoder::Status::kFrame) {
                const Bytes p = dec.plaintext();
                NETCRYPTO_FUZZ_CHECK(!p.empty() && p.size() <= kMaxPacketSize);
                out.emplace_back(p.begin(), p.end());
                continue;
            }
            if (st == FrameDecoder::Status::kNeedMore) {
                NETCRYPTO_FUZZ_CHECK(in.empty());
                break;
            }
            NETCRYPTO_FUZZ_CHECK(dec.failed() && before - in.size() <= kMaxFrameSize);
            Bytes again = stream;
            NETCRYPTO_FUZZ_CHECK(dec.next(again) == FrameDecoder::Status::kFailed);
            NETCRYPTO_FUZZ_CHECK(again.size() == stream.size());
            failed = true;
            error = dec.error();
            return out;
        }
    }
    return out;
}

void raw_mode(Bytes rest, std::size_t chunk) {
    bool failed = false;
    RelayDropReason error = RelayDropReason::kCount;
    for (const ByteVec& p : decode(rest, chunk, failed, error)) check_packet(p);
    if (failed) {
        NETCRYPTO_FUZZ_CHECK(error == RelayDropReason::kFrameTooLong ||
                             error == RelayDropReason::kFrameTooShort ||
                             error == RelayDropReason::kBadTag);
    }
    if (!rest.empty()) check_packet(rest.first(std::min(rest.size(), kMaxPacketSize)));
}

void sealed_mode(Bytes rest, std::size_t chunk) {
    const SharedKey key = fuzz::relay::frame_key();
    Nonce nonce = fuzz::relay::frame_nonce();
    ByteVec stream;
    std::vector<ByteVec> expected;
    bool overlong = false;
    while (rest.size() >= 2 && !overlong) {
        const std::size_t len = ((std::size_t{rest[0]} << 8U) | rest[1]) % 2100;
        rest = rest.subspan(2);
        const Bytes plain = rest.first(std::min(len, rest.size()));
        rest = rest.subspan(plain.size());
        if (plain.empty() || len > kMaxPacketSize) {
            const std::size_t l = plain.empty() ? 0 : len + crypto::kMacSize;
            stream.push_back(static_cast<std::uint8_t>(l >> 8U));
            stream.push_back(static_cast<std::uint8_t>(l & 0xFFU));
            overlong = l != 0;
            continue;
        }
        std::array<std::uint8_t, kMaxFrameSize> f{};
        const std::size_t n = seal_frame(key, nonce, plain, f);
        NETCRYPTO_FUZZ_CHECK(n == plain.size() + kFrameHeaderSize + crypto::kMacSize);
        stream.insert(stream.end(), f.begin(), f.begin() + static_cast<std::ptrdiff_t>(n));
        expected.emplace_back(plain.begin(), plain.end());
    }
    bool failed = false;
    RelayDropReason error = RelayDropReason::kCount;
    const auto got = decode(stream, chunk, failed, error);
    NETCRYPTO_FUZZ_CHECK(got == expected);
    NETCRYPTO_FUZZ_CHECK(failed == overlong);
    if (failed) NETCRYPTO_FUZZ_CHECK(error == RelayDropReason::kFrameTooLong);
    for (const ByteVec& p : got) check_packet(p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const Bytes in = fuzz::input(data, size);
    if (in.empty()) return 0;
    const std::size_t chunk = 1 + (in[0] >> 1U);
    if ((in[0] & 1U) == 0) {
        raw_mode(in.subspan(1), chunk);
    } else {
        sealed_mode(in.subspan(1), chunk);
    }
    return 0;
}
