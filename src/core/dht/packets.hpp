// Codecs for the few DHT packets that learning a peer's DHT key on a LAN involves
// (docs/discovery.md; layouts from the LAN discovery spec): LAN discovery 0x21, nodes request
// 0x02, nodes response 0x04, ping request 0x00 and ping response 0x01.
//
// create_* write a whole datagram into a caller array of the exact (or largest) size.
// consume_* take a whole datagram, check its type and exact length before anything else, open
// the box into temporaries and return a view or the reason for the drop. They never throw and
// never read outside the datagram.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <tl/expected.hpp>

#include <netcrypto/address.hpp>
#include <netcrypto/keys.hpp>
#include <netcrypto/stats.hpp>

#include "core/crypto/crypto.hpp"

namespace netcrypto::dht {

using crypto::kMacSize;
using crypto::kNonceSize;
using crypto::Nonce;
using crypto::SharedKey;

// Packet type bytes (first byte of the UDP payload).
inline constexpr std::uint8_t kPingRequestType = 0x00;
inline constexpr std::uint8_t kPingResponseType = 0x01;
inline constexpr std::uint8_t kNodesRequestType = 0x02;
inline constexpr std::uint8_t kNodesResponseType = 0x04;
inline constexpr std::uint8_t kLanDiscoveryType = 0x21;

inline constexpr std::size_t kKeySize = kPublicKeySize;
inline constexpr std::size_t kSendbackSize = 8;
inline constexpr std::size_t kPingIdSize = 8;
inline constexpr std::size_t kMaxNodes = 4;

/// type || sender DHT pk || nonce: the clear part of every boxed DHT packet.
inline constexpr std::size_t kBoxedHeaderSize = 1 + kKeySize + kNonceSize;  // 57

inline constexpr std::size_t kLanDiscoverySize = 1 + kKeySize;  // 33

inline constexpr std::size_t kNodesRequestPlainSize = kKeySize + kSendbackSize;  // 40
inline constexpr std::size_t kNodesRequestSize =
    kBoxedHeaderSize + kMacSize + kNodesRequestPlainSize;  // 113

// Packed node: family 1, ip 4 or 16, port BE16, DHT pk 32.
inline constexpr std::size_t kPackedNodeV4Size = 1 + 4 + 2 + kKeySize;   // 39
inline constexpr std::size_t kPackedNodeV6Size = 1 + 16 + 2 + kKeySize;  // 51
inline constexpr std::uint8_t kFamilyUdp4 = 2;
inline constexpr std::uint8_t kFamilyUdp6 = 10;
inline constexpr std::uint8_t kFamilyTcp4 = 130;
inline constexpr std::uint8_t kFamilyTcp6 = 138;

inline constexpr std::size_t kNodesResponseMinPlainSize = 1 + kSendbackSize;  // 9
inline constexpr std::size_t kNodesResponseMaxPlainSize =
    kNodesResponseMinPlainSize + kMaxNodes * kPackedNodeV6Size;  // 213
inline constexpr std::size_t kNodesResponseMinSize =
    kBoxedHeaderSize + kMacSize + kNodesResponseMinPlainSize;  // 82
inline constexpr std::size_t kNodesResponseMaxSize =
    kBoxedHeaderSize + kMacSize + kNodesResponseMaxPlainSize;  // 286

inline constexpr std::size_t kPingPlainSize = 1 + kPingIdSize;                          // 9
inline constexpr std::size_t kPingSize = kBoxedHeaderSize + kMacSize + kPingPlainSize;  // 82

static_assert(kLanDiscoverySize == 33);
static_assert(kNodesRequestSize == 113);
static_assert(kNodesResponseMinSize == 82);
static_assert(kNodesResponseMinSize + kMaxNodes * kPackedNodeV4Size == 82 + 4 * 39);
static_assert(kPingSize == 82);

using Sendback = std::array<std::uint8_t, kSendbackSize>;
using PingId = std::array<std::uint8_t, kPingIdSize>;

/// Why a DHT datagram was dropped (by a decoder or by dht::Discovery), or an answer not sent.
// DhtDropReason, kDhtDropReasonCount and to_string(DhtDropReason) are public: stats.hpp.
using ::netcrypto::DhtDropReason;
using ::netcrypto::kDhtDropReasonCount;
using ::netcrypto::to_string;

/// One entry of a nodes response. `tcp` distinguishes families 130/138 from 2/10.
struct PackedNode {
    bool tcp = false;
    Address address;
    PublicKey dht_pk;

    friend bool operator==(const PackedNode&, const PackedNode&) = default;
};

// ---------------------------------------------------------------------------------------------
// LAN discovery 0x21, exactly 33 bytes, clear.
//   off len field
//     0   1 0x21
//     1  32 sender's DHT public key
void create_lan_discovery(const PublicKey& our_dht_pk,
                          std::span<std::uint8_t, kLanDiscoverySize> out);
tl::expected<PublicKey, DhtDropReason> consume_lan_discovery(std::span<const std::uint8_t> in);

// ---------------------------------------------------------------------------------------------
// The clear sender key of a boxed DHT packet (0x00, 0x01, 0x02, 0x04) whose length is valid for
// its type: what a receiver needs to find the shared key before calling consume_*.
tl::expected<PublicKey, DhtDropReason> boxed_sender(std::span<const std::uint8_t> in);

// ---------------------------------------------------------------------------------------------
// Nodes request 0x02, exactly 113 bytes.
//   off len field
//     0   1 0x02
//     1  32 sender's DHT public key (clear)
//    33  24 nonce
//    57  56 Box(DH(receiver DHT pk, sender DHT sk), nonce, plain)
// plain, exactly 40 bytes:
//     0  32 target public key (whose close nodes are asked for)
//    32   8 sendback (opaque; echoed in the response)
struct NodesRequest {
    PublicKey sender_dht_pk;
    PublicKey target;
    Sendback sendback{};
};
/// `key` = DH(receiver DHT pk, our DHT sk).
void create_nodes_request(const PublicKey& our_dht_pk, const SharedKey& key, const Nonce& nonce,
                          const PublicKey& target, const Sendback& sendback,
                          std::span<std::uint8_t, kNodesRequestSize> out);
/// `key` = DH(sender DHT pk (bytes 1..32), our DHT sk).
tl::expected<NodesRequest, DhtDropReason> consume_nodes_request(std::span<const std::uint8_t> in,
                                                                const SharedKey& key);

// ---------------------------------------------------------------------------------------------
// Nodes response 0x04, 82 + the packed nodes' sizes (82 + 39·n for IPv4 nodes), n <= 4.
//   off len field
//     0   1 0x04
//     1  32 sender's DHT public key
//    33  24 nonce
//    57  16+P Box(DH(receiver DHT pk, sender DHT sk), nonce, plain of P bytes)
// plain, 9..213 bytes:
//     0   1 n, the number of packed nodes (0..4)
//     1   … n packed nodes, each:
//             0  1 family: 2 UDP/IPv4, 10 UDP/IPv6, 130 TCP/IPv4, 138 TCP/IPv6
//             1  4 or 16 IP address (network order)
//           5/17 2 BE16 port
//           7/19 32 DHT public key
//   P-8   8 sendback of the request this answers
struct NodesResponse {
    PublicKey sender_dht_pk;
    std::array<PackedNode, kMaxNodes> nodes{};
    std::size_t node_count = 0;
    Sendback sendback{};

    [[nodiscard]] std::span<const PackedNode> node_list() const {
        return std::span(nodes).first(node_count);
    }
};
/// Writes the response; returns its size, or 0 (nothing written) when there are more than
/// kMaxNodes nodes.
std::size_t create_nodes_response(const PublicKey& our_dht_pk, const SharedKey& key,
                                  const Nonce& nonce, std::span<const PackedNode> nodes,
                                  const Sendback& sendback,
                                  std::span<std::uint8_t, kNodesResponseMaxSize> out);
tl::expected<NodesResponse, DhtDropReason> consume_nodes_response(std::span<const std::uint8_t> in,
                                                                  const SharedKey& key);

// ---------------------------------------------------------------------------------------------
// Ping request 0x00 / ping response 0x01, exactly 82 bytes each.
//   off len field
//     0   1 0x00 (request) or 0x01 (response)
//     1  32 sender's DHT public key
//    33  24 nonce
//    57  25 Box(DH(receiver DHT pk, sender DHT sk), nonce, plain)
// plain, exactly 9 bytes:
//     0   1 the outer type again (0x00 or 0x01)
//     1   8 ping id (a response carries the request's)
struct Ping {
    PublicKey sender_dht_pk;
    PingId ping_id{};
};
void create_ping_request(const PublicKey& our_dht_pk, const SharedKey& key, const Nonce& nonce,
                         const PingId& ping_id, std::span<std::uint8_t, kPingSize> out);
void create_ping_response(const PublicKey& our_dht_pk, const SharedKey& key, const Nonce& nonce,
                          const PingId& ping_id, std::span<std::uint8_t, kPingSize> out);
tl::expected<Ping, DhtDropReason> consume_ping_request(std::span<const std::uint8_t> in,
                                                       const SharedKey& key);
tl::expected<Ping, DhtDropReason> consume_ping_response(std::span<const std::uint8_t> in,
                                                        const SharedKey& key);

}  // namespace netcrypto::dht
