// Frames and packets of a Tox TCP relay connection (docs/relay.md; layouts from the relay spec,
// §3 and §4).
//
// Frame, after the handshake, in both directions:
//   off len field
//     0   2 BE16 L = plaintext length + 16
//     2   L Box(K, next nonce of this direction, plaintext)
// Each frame uses one nonce (base nonce, +1, +2, ... as a 192-bit big-endian counter); no nonce
// bits travel. L = 0 is skipped without using a nonce; L = 1..16 and a tag that does not verify
// are fatal; L > 2048 is fatal as soon as the two length bytes are read.
//
// Packet = frame plaintext, 1..2032 bytes; byte 0 is the packet id:
//   id  name              dir   layout                                size
//    0  routing request   c→r   [00][peer pk 32]                      33
//    1  routing response  r→c   [01][connection id][peer pk 32]       34 (id 0: refused)
//    2  connect notif.    r→c   [02][connection id]                   2
//    3  disconnect notif. both  [03][connection id]                   2
//    4  ping              both  [04][ping id 8]                       9
//    5  pong              both  [05][ping id 8]                       9
//    6  OOB send          c→r   [06][destination pk 32][data 1..1024] 34..1057
//    7  OOB receive       r→c   [07][sender pk 32][data 1..1024]      34..1057
//    8  onion request     c→r   [08][...]                             recognised, never sent
//    9  onion response    r→c   [09][...]                             recognised, ignored
//   10  forward request   c→r   [0a][...]                             recognised, never sent
//   11  forwarding        r→c   [0b][...]                             recognised, ignored
//  16+  routed data       both  [connection id][payload 0..2031]      1..2032
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

#include <tl/expected.hpp>

#include <netcrypto/keys.hpp>
#include <netcrypto/stats.hpp>

#include "core/crypto/crypto.hpp"

namespace netcrypto::relay {

using crypto::Nonce;
using crypto::SharedKey;

inline constexpr std::size_t kFrameHeaderSize = 2;
inline constexpr std::size_t kMaxFrameBoxSize = 2048;                               // largest L
inline constexpr std::size_t kMaxPacketSize = kMaxFrameBoxSize - crypto::kMacSize;  // 2032
inline constexpr std::size_t kMaxFrameSize = kFrameHeaderSize + kMaxFrameBoxSize;   // 2050

inline constexpr std::uint8_t kRoutingRequestId = 0;
inline constexpr std::uint8_t kRoutingResponseId = 1;
inline constexpr std::uint8_t kConnectNotificationId = 2;
inline constexpr std::uint8_t kDisconnectNotificationId = 3;
inline constexpr std::uint8_t kPingId = 4;
inline constexpr std::uint8_t kPongId = 5;
inline constexpr std::uint8_t kOobSendId = 6;
inline constexpr std::uint8_t kOobRecvId = 7;
inline constexpr std::uint8_t kOnionRequestId = 8;
inline constexpr std::uint8_t kOnionResponseId = 9;
inline constexpr std::uint8_t kForwardRequestId = 10;
inline constexpr std::uint8_t kForwardingId = 11;
inline constexpr std::uint8_t kFirstConnectionId = 16;  ///< ids 16..255 are routed data

inline constexpr std::size_t kPingIdSize = 8;
inline constexpr std::size_t kRoutingRequestSize = 1 + kPublicKeySize;   // 33
inline constexpr std::size_t kRoutingResponseSize = 2 + kPublicKeySize;  // 34
inline constexpr std::size_t kNotificationSize = 2;                      // 2
inline constexpr std::size_t kPingPacketSize = 1 + kPingIdSize;          // 9
inline constexpr std::size_t kOobHeaderSize = 1 + kPublicKeySize;        // 33
inline constexpr std::size_t kMaxOobDataSize = 1024;
inline constexpr std::size_t kMaxOobPacketSize = kOobHeaderSize + kMaxOobDataSize;  // 1057
inline constexpr std::size_t kMaxRoutedPayloadSize = kMaxPacketSize - 1;            // 2031

using PingId = std::array<std::uint8_t, kPingIdSize>;
using Bytes = std::span<const std::uint8_t>;

/// Why a frame or packet from the relay was not used, or an outgoing packet refused. The frame
/// errors (kFrameTooLong, kFrameTooShort, kBadTag) are fatal to the connection; the others are
/// counted and the connection goes on (docs/relay.md, "dropped or fatal").
/// Why a frame or packet was dropped (public, in stats.hpp).
using DropReason = RelayDropReason;
inline constexpr std::size_t kDropReasonCount = kRelayDropReasonCount;
using netcrypto::to_string;

// --- packets --------------------------------------------------------------------------------
// Views (`data`) point into the plaintext the packet was parsed from.
struct RoutingRequest {
    PublicKey pk;
};
struct RoutingResponse {
    std::uint8_t connection_id = 0;
    PublicKey pk;
};
struct ConnectNotification {
    std::uint8_t connection_id = 0;
};
struct DisconnectNotification {
    std::uint8_t connection_id = 0;
};
struct PingPacket {
    PingId ping_id{};
};
struct PongPacket {
    PingId ping_id{};
};
struct OobSend {
    PublicKey pk;
    Bytes data;
};
struct OobRecv {
    PublicKey pk;
    Bytes data;
};
/// Ids 8..11: kept whole (id byte included), never interpreted.
struct Opaque {
    std::uint8_t id = 0;
    Bytes packet;
};
struct RoutedData {
    std::uint8_t connection_id = 0;
    Bytes payload;
};
using Packet =
    std::variant<RoutingRequest, RoutingResponse, ConnectNotification, DisconnectNotification,
                 PingPacket, PongPacket, OobSend, OobRecv, Opaque, RoutedData>;

/// Parses one plaintext by its id and exact length, whichever direction the id belongs to.
/// Errors: kWrongLength (empty, or a length the id does not allow), kUnknownId (12..15).
/// Routed data of length 1 parses (empty payload); opaque ids accept any length >= 1.
tl::expected<Packet, DropReason> parse_packet(Bytes plain);

/// Writes `p` into `out`; returns the length, or 0 when `p` cannot be sent (OOB data empty or
/// over 1024 bytes, routed payload empty or over 2031 bytes, connection id < 16 for data).
std::size_t encode_packet(const Packet& p, std::span<std::uint8_t, kMaxPacketSize> out);

// --- frames ---------------------------------------------------------------------------------

/// Seals `plain` (1..2032 bytes) as one frame into `out` (>= plain.size() + 18 bytes) with
/// `nonce`, then increments `nonce`. Returns the frame length, or 0 (nothing written, nonce
/// unchanged) for an empty or too long plaintext or a short `out`.
std::size_t seal_frame(const crypto::SharedKey& key, crypto::Nonce& nonce, Bytes plain,
                       std::span<std::uint8_t> out);

/// Streaming frame decoder: fed arbitrary chunks of the TCP byte stream. It buffers at most
/// one frame (2050 bytes, fixed storage) and refuses a length above 2048 before buffering any
/// of it. After a fatal error it stays failed.
class FrameDecoder {
  public:
    enum class Status : std::uint8_t {
        kFrame,     ///< one plaintext is ready: plaintext()
        kNeedMore,  ///< all input consumed, no complete frame
        kFailed,    ///< fatal: error()
    };

    FrameDecoder() = default;
    FrameDecoder(const crypto::SharedKey& key, const crypto::Nonce& first_nonce);

    /// Consumes bytes from the front of `in` (advancing it) up to the end of the next frame.
    Status next(Bytes& in);
    /// The plaintext of the last kFrame (valid until the next call).
    [[nodiscard]] Bytes plaintext() const { return std::span(plain_).first(plain_size_); }
    [[nodiscard]] DropReason error() const { return error_; }
    [[nodiscard]] bool failed() const { return failed_; }
    /// L = 0 frames skipped so far.
    [[nodiscard]] std::uint64_t empty_frames() const { return empty_frames_; }
    [[nodiscard]] const crypto::Nonce& next_nonce() const { return nonce_; }

  private:
    Status fail(DropReason r);

    crypto::SharedKey key_;
    crypto::Nonce nonce_;
    std::array<std::uint8_t, kFrameHeaderSize> header_{};
    std::size_t header_have_ = 0;
    std::size_t box_size_ = 0;  ///< L of the frame being read (valid when header_have_ == 2)
    std::size_t box_have_ = 0;
    std::array<std::uint8_t, kMaxFrameBoxSize> box_{};
    std::array<std::uint8_t, kMaxPacketSize> plain_{};
    std::size_t plain_size_ = 0;
    std::uint64_t empty_frames_ = 0;
    DropReason error_ = DropReason::kCount;
    bool failed_ = false;
};

}  // namespace netcrypto::relay
