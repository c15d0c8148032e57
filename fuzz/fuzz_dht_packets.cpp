// Fuzz target: every DHT decoder (LAN discovery, nodes request and response, ping request and
// response, boxed_sender) on the same input, boxes opened with a fixed key. A rejection must be
// the one the type byte and the length call for (wrong type, then wrong length, then only box
// or plaintext errors); an accepted input must re-encode, with its own nonce, to the same bytes.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/dht/packets.hpp"
#include "dht_fuzz.hpp"
#include "fuzz_common.hpp"

namespace {

using namespace netcrypto;
using namespace netcrypto::dht;
using Bytes = std::span<const std::uint8_t>;

bool nodes_response_size(std::size_t n) {
    if (n < kNodesResponseMinSize) return false;
    for (std::size_t v6 = 0; v6 <= kMaxNodes; ++v6) {
        for (std::size_t v4 = 0; v4 + v6 <= kMaxNodes; ++v4) {
            if (n == kNodesResponseMinSize + v4 * kPackedNodeV4Size + v6 * kPackedNodeV6Size) {
                return true;
            }
        }
    }
    return false;
}

/// The error a decoder for `type` with valid length predicate `size_ok` must give, if it is
/// one the input alone decides; `boxed` decoders may also say kBadBox / kBadPlain.
void check_error(Bytes in, std::uint8_t type, bool size_ok, DhtDropReason err, bool boxed) {
    if (in.empty() || in[0] != type) {
        NETCRYPTO_FUZZ_CHECK(err == DhtDropReason::kWrongType);
    } else if (!size_ok) {
        NETCRYPTO_FUZZ_CHECK(err == DhtDropReason::kWrongLength);
    } else {
        NETCRYPTO_FUZZ_CHECK(boxed);
        NETCRYPTO_FUZZ_CHECK(err == DhtDropReason::kBadBox || err == DhtDropReason::kBadPlain);
    }
}

Nonce nonce_of(Bytes in) {
    Nonce n;
    std::copy_n(in.begin() + 1 + kKeySize, kNonceSize, n.bytes.begin());
    return n;
}

template <std::size_t N>
bool same(const std::array<std::uint8_t, N>& out, Bytes in) {
    return std::equal(out.begin(), out.end(), in.begin(), in.end());
}

void lan(Bytes in) {
    const auto pk = consume_lan_discovery(in);
    if (!pk)
        return check_error(in, kLanDiscoveryType, in.size() == kLanDiscoverySize, pk.error(),
                           false);
    std::array<std::uint8_t, kLanDiscoverySize> out{};
    create_lan_discovery(*pk, out);
    NETCRYPTO_FUZZ_CHECK(same(out, in));
}

void nodes_request(Bytes in, const SharedKey& key) {
    const auto req = consume_nodes_request(in, key);
    if (!req) {
        return check_error(in, kNodesRequestType, in.size() == kNodesRequestSize, req.error(),
                           true);
    }
    std::array<std::uint8_t, kNodesRequestSize> out{};
    create_nodes_request(req->sender_dht_pk, key, nonce_of(in), req->target, req->sendback, out);
    NETCRYPTO_FUZZ_CHECK(same(out, in));
}

void nodes_response(Bytes in, const SharedKey& key) {
    const auto resp = consume_nodes_response(in, key);
    if (!resp) {
        return check_error(in, kNodesResponseType, nodes_response_size(in.size()), resp.error(),
                           true);
    }
    NETCRYPTO_FUZZ_CHECK(resp->node_count <= kMaxNodes);
    std::array<std::uint8_t, kNodesResponseMaxSize> out{};
    const std::size_t n = create_nodes_response(resp->sender_dht_pk, key, nonce_of(in),
                                                resp->node_list(), resp->sendback, out);
    NETCRYPTO_FUZZ_CHECK(std::equal(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n),
                                    in.begin(), in.end()));
}

void ping(Bytes in, const SharedKey& key, std::uint8_t type) {
    const auto p =
        type == kPingRequestType ? consume_ping_request(in, key) : consume_ping_response(in, key);
    if (!p) return check_error(in, type, in.size() == kPingSize, p.error(), true);
    std::array<std::uint8_t, kPingSize> out{};
    if (type == kPingRequestType) {
        create_ping_request(p->sender_dht_pk, key, nonce_of(in), p->ping_id, out);
    } else {
        create_ping_response(p->sender_dht_pk, key, nonce_of(in), p->ping_id, out);
    }
    NETCRYPTO_FUZZ_CHECK(same(out, in));
}

void sender(Bytes in) {
    const auto pk = boxed_sender(in);
    if (!pk) {
        const bool boxed_type =
            !in.empty() && (in[0] == kPingRequestType || in[0] == kPingResponseType ||
                            in[0] == kNodesRequestType || in[0] == kNodesResponseType);
        NETCRYPTO_FUZZ_CHECK(
            pk.error() == (boxed_type ? DhtDropReason::kWrongLength : DhtDropReason::kWrongType));
        return;
    }
    NETCRYPTO_FUZZ_CHECK(in.size() >= kPingSize && in[0] != kLanDiscoveryType);
    NETCRYPTO_FUZZ_CHECK(std::equal(pk->bytes.begin(), pk->bytes.end(), in.begin() + 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const SharedKey key = fuzz::dht::packets_key();
    const Bytes in = fuzz::input(data, size);
    lan(in);
    sender(in);
    nodes_request(in, key);
    nodes_response(in, key);
    ping(in, key, kPingRequestType);
    ping(in, key, kPingResponseType);
    return 0;
}
