// DHT packet codecs (docs/discovery.md): every decoder checks type and length first, opens the
// box into a stack temporary and parses the plaintext with the bounds-checked ByteReader.
#include "core/dht/packets.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/wire/bytes.hpp"

namespace netcrypto::dht {
namespace {

using Bytes = std::span<const std::uint8_t>;

/// Writes type || pk || nonce || Box(key, nonce, plain) into `out` (exactly that size).
void write_boxed(std::uint8_t type, const PublicKey& our_dht_pk, const SharedKey& key,
                 const Nonce& nonce, Bytes plain, std::span<std::uint8_t> out) {
    wire::ByteWriter w(out);
    w.write_u8(type);
    w.write(our_dht_pk.bytes);
    w.write(nonce.bytes);
    const auto sealed = w.reserve(kMacSize + plain.size());
    if (!w.ok() || !crypto::seal(key, nonce, plain, sealed)) {
        // Sizes are fixed by the callers' array types: this cannot happen. Leave no key bytes.
        std::fill(out.begin(), out.end(), std::uint8_t{0});
    }
}

/// The sender key and nonce of a boxed packet whose length the caller has checked, and the box
/// opened into `plain` (plain.size() = in.size() - 73).
tl::expected<PublicKey, DhtDropReason> open_boxed(Bytes in, const SharedKey& key,
                                                  std::span<std::uint8_t> plain) {
    wire::ByteReader r(in);
    std::uint8_t type = 0;
    PublicKey sender;
    Nonce nonce;
    if (!r.read_u8(type) || !r.read(sender.bytes) || !r.read(nonce.bytes)) {
        return tl::unexpected(DhtDropReason::kWrongLength);
    }
    const Bytes sealed = r.rest();
    if (sealed.size() != kMacSize + plain.size() || !crypto::open(key, nonce, sealed, plain)) {
        return tl::unexpected(DhtDropReason::kBadBox);
    }
    return sender;
}

/// Lengths a nodes response can have: 82 + 39·a + 51·b with a + b <= 4.
bool valid_nodes_response_size(std::size_t size) {
    if (size < kNodesResponseMinSize || size > kNodesResponseMaxSize) return false;
    const std::size_t extra = size - kNodesResponseMinSize;
    for (std::size_t v6 = 0; v6 <= kMaxNodes; ++v6) {
        for (std::size_t v4 = 0; v4 + v6 <= kMaxNodes; ++v4) {
            if (v4 * kPackedNodeV4Size + v6 * kPackedNodeV6Size == extra) return true;
        }
    }
    return false;
}

std::uint8_t family_byte(const PackedNode& n) {
    const bool v6 = n.address.family == Address::Family::kIPv6;
    if (n.tcp) return v6 ? kFamilyTcp6 : kFamilyTcp4;
    return v6 ? kFamilyUdp6 : kFamilyUdp4;
}

void write_node(wire::ByteWriter& w, const PackedNode& n) {
    w.write_u8(family_byte(n));
    const bool v6 = n.address.family == Address::Family::kIPv6;
    w.write(std::span(n.address.ip).first(v6 ? 16 : 4));
    w.write_be16(n.address.port);
    w.write(n.dht_pk.bytes);
}

bool read_node(wire::ByteReader& r, PackedNode& n) {
    std::uint8_t family = 0;
    if (!r.read_u8(family)) return false;
    bool v6 = false;
    switch (family) {
        case kFamilyUdp4:
            break;
        case kFamilyUdp6:
            v6 = true;
            break;
        case kFamilyTcp4:
            n.tcp = true;
            break;
        case kFamilyTcp6:
            n.tcp = true;
            v6 = true;
            break;
        default:
            return false;
    }
    n.address.family = v6 ? Address::Family::kIPv6 : Address::Family::kIPv4;
    return r.read(std::span(n.address.ip).first(v6 ? 16 : 4)) && r.read_be16(n.address.port) &&
           r.read(n.dht_pk.bytes);
}

void create_ping(std::uint8_t type, const PublicKey& our_dht_pk, const SharedKey& key,
                 const Nonce& nonce, const PingId& ping_id,
                 std::span<std::uint8_t, kPingSize> out) {
    std::array<std::uint8_t, kPingPlainSize> plain{};
    plain[0] = type;
    std::copy(ping_id.begin(), ping_id.end(), plain.begin() + 1);
    write_boxed(type, our_dht_pk, key, nonce, plain, out);
}

tl::expected<Ping, DhtDropReason> consume_ping(std::uint8_t type, Bytes in, const SharedKey& key) {
    if (in.empty() || in[0] != type) return tl::unexpected(DhtDropReason::kWrongType);
    if (in.size() != kPingSize) return tl::unexpected(DhtDropReason::kWrongLength);
    std::array<std::uint8_t, kPingPlainSize> plain{};
    const auto sender = open_boxed(in, key, plain);
    if (!sender) return tl::unexpected(sender.error());
    if (plain[0] != type) return tl::unexpected(DhtDropReason::kBadPlain);
    Ping p{*sender, {}};
    std::copy_n(plain.begin() + 1, kPingIdSize, p.ping_id.begin());
    return p;
}

}  // namespace

void create_lan_discovery(const PublicKey& our_dht_pk,
                          std::span<std::uint8_t, kLanDiscoverySize> out) {
    out[0] = kLanDiscoveryType;
    std::copy(our_dht_pk.bytes.begin(), our_dht_pk.bytes.end(), out.begin() + 1);
}

tl::expected<PublicKey, DhtDropReason> consume_lan_discovery(Bytes in) {
    if (in.empty() || in[0] != kLanDiscoveryType) return tl::unexpected(DhtDropReason::kWrongType);
    if (in.size() != kLanDiscoverySize) return tl::unexpected(DhtDropReason::kWrongLength);
    PublicKey pk;
    std::copy_n(in.begin() + 1, kKeySize, pk.bytes.begin());
    return pk;
}

tl::expected<PublicKey, DhtDropReason> boxed_sender(Bytes in) {
    if (in.empty()) return tl::unexpected(DhtDropReason::kWrongType);
    bool valid = false;
    switch (in[0]) {
        case kPingRequestType:
        case kPingResponseType:
            valid = in.size() == kPingSize;
            break;
        case kNodesRequestType:
            valid = in.size() == kNodesRequestSize;
            break;
        case kNodesResponseType:
            valid = valid_nodes_response_size(in.size());
            break;
        default:
            return tl::unexpected(DhtDropReason::kWrongType);
    }
    if (!valid) return tl::unexpected(DhtDropReason::kWrongLength);
    PublicKey pk;
    std::copy_n(in.begin() + 1, kKeySize, pk.bytes.begin());
    return pk;
}

void create_nodes_request(const PublicKey& our_dht_pk, const SharedKey& key, const Nonce& nonce,
                          const PublicKey& target, const Sendback& sendback,
                          std::span<std::uint8_t, kNodesRequestSize> out) {
    std::array<std::uint8_t, kNodesRequestPlainSize> plain{};
    auto it = std::copy(target.bytes.begin(), target.bytes.end(), plain.begin());
    std::copy(sendback.begin(), sendback.end(), it);
    write_boxed(kNodesRequestType, our_dht_pk, key, nonce, plain, out);
}

tl::expected<NodesRequest, DhtDropReason> consume_nodes_request(Bytes in, const SharedKey& key) {
    if (in.empty() || in[0] != kNodesRequestType) return tl::unexpected(DhtDropReason::kWrongType);
    if (in.size() != kNodesRequestSize) return tl::unexpected(DhtDropReason::kWrongLength);
    std::array<std::uint8_t, kNodesRequestPlainSize> plain{};
    const auto sender = open_boxed(in, key, plain);
    if (!sender) return tl::unexpected(sender.error());
    NodesRequest req{*sender, {}, {}};
    std::copy_n(plain.begin(), kKeySize, req.target.bytes.begin());
    std::copy_n(plain.begin() + kKeySize, kSendbackSize, req.sendback.begin());
    return req;
}

std::size_t create_nodes_response(const PublicKey& our_dht_pk, const SharedKey& key,
                                  const Nonce& nonce, std::span<const PackedNode> nodes,
                                  const Sendback& sendback,
                                  std::span<std::uint8_t, kNodesResponseMaxSize> out) {
    if (nodes.size() > kMaxNodes) return 0;
    std::array<std::uint8_t, kNodesResponseMaxPlainSize> plain{};
    wire::ByteWriter w(plain);
    w.write_u8(static_cast<std::uint8_t>(nodes.size()));
    for (const PackedNode& n : nodes) write_node(w, n);
    w.write(sendback);
    const std::size_t plain_size = w.written();
    const std::size_t total = kBoxedHeaderSize + kMacSize + plain_size;
    write_boxed(kNodesResponseType, our_dht_pk, key, nonce, std::span(plain).first(plain_size),
                out.first(total));
    return total;
}

tl::expected<NodesResponse, DhtDropReason> consume_nodes_response(Bytes in, const SharedKey& key) {
    if (in.empty() || in[0] != kNodesResponseType) {
        return tl::unexpected(DhtDropReason::kWrongType);
    }
    if (!valid_nodes_response_size(in.size())) return tl::unexpected(DhtDropReason::kWrongLength);
    std::array<std::uint8_t, kNodesResponseMaxPlainSize> buffer{};
    const auto plain = std::span(buffer).first(in.size() - kBoxedHeaderSize - kMacSize);
    const auto sender = open_boxed(in, key, plain);
    if (!sender) return tl::unexpected(sender.error());
    NodesResponse resp;
    resp.sender_dht_pk = *sender;
    wire::ByteReader r(plain);
    std::uint8_t n = 0;
    if (!r.read_u8(n) || n > kMaxNodes) return tl::unexpected(DhtDropReason::kBadPlain);
    for (std::size_t i = 0; i < n; ++i) {
        if (!read_node(r, resp.nodes[i])) return tl::unexpected(DhtDropReason::kBadPlain);
    }
    resp.node_count = n;
    if (r.remaining() != kSendbackSize || !r.read(resp.sendback)) {
        return tl::unexpected(DhtDropReason::kBadPlain);
    }
    return resp;
}

void create_ping_request(const PublicKey& our_dht_pk, const SharedKey& key, const Nonce& nonce,
                         const PingId& ping_id, std::span<std::uint8_t, kPingSize> out) {
    create_ping(kPingRequestType, our_dht_pk, key, nonce, ping_id, out);
}

void create_ping_response(const PublicKey& our_dht_pk, const SharedKey& key, const Nonce& nonce,
                          const PingId& ping_id, std::span<std::uint8_t, kPingSize> out) {
    create_ping(kPingResponseType, our_dht_pk, key, nonce, ping_id, out);
}

tl::expected<Ping, DhtDropReason> consume_ping_request(Bytes in, const SharedKey& key) {
    return consume_ping(kPingRequestType, in, key);
}

tl::expected<Ping, DhtDropReason> consume_ping_response(Bytes in, const SharedKey& key) {
    return consume_ping(kPingResponseType, in, key);
}

}  // namespace netcrypto::dht

namespace netcrypto {

std::string_view to_string(DhtDropReason r) {
    switch (r) {
        case DhtDropReason::kWrongType:
            return "wrong_type";
        case DhtDropReason::kWrongLength:
            return "wrong_length";
        case DhtDropReason::kBadBox:
            return "bad_box";
        case DhtDropReason::kBadPlain:
            return "bad_plain";
        case DhtDropReason::kUnusableKey:
            return "unusable_key";
        case DhtDropReason::kOwnKey:
            return "own_key";
        case DhtDropReason::kUnderLoad:
            return "under_load";
        case DhtDropReason::kRateLimited:
            return "rate_limited";
        case DhtDropReason::kAnswersOff:
            return "answers_off";
        case DhtDropReason::kUnsolicited:
            return "unsolicited";
        case DhtDropReason::kLanDiscovery:
            return "lan_discovery";
        case DhtDropReason::kQueueFull:
            return "queue_full";
        case DhtDropReason::kCount:
            break;
    }
    return "unknown";
}

}  // namespace netcrypto
