// Relay frames and packets (frame.hpp): exact-length packet parsing, encoding, and the
// streaming frame decoder with fixed storage.
#include "core/relay/frame.hpp"

#include <algorithm>

#include "core/wire/bytes.hpp"

namespace netcrypto {

std::string_view to_string(RelayDropReason r) {
    static constexpr std::array<std::string_view, kRelayDropReasonCount> kNames{
        "frame_too_long",     "frame_too_short",    "bad_tag",          "empty_frame",
        "wrong_length",       "wrong_direction",    "unknown_id",       "bad_connection_id",
        "unknown_connection", "unsolicited_route",  "duplicate_route",  "slot_in_use",
        "empty_data",         "stale_notification", "unmatched_pong",   "onion",
        "forwarding",         "event_queue_full",   "write_queue_full", "route_queue_full",
    };
    const auto i = static_cast<std::size_t>(r);
    return i < kNames.size() ? kNames[i] : "unknown";
}

namespace relay {

namespace {

PublicKey key_at(Bytes plain, std::size_t offset) {
    PublicKey pk;
    std::copy_n(plain.begin() + static_cast<std::ptrdiff_t>(offset), kPublicKeySize,
                pk.bytes.begin());
    return pk;
}

PingId ping_at(Bytes plain) {
    PingId id{};
    std::copy_n(plain.begin() + 1, kPingIdSize, id.begin());
    return id;
}

tl::expected<Packet, DropReason> wrong_length() { return tl::unexpected(DropReason::kWrongLength); }

/// OOB packets carry a key and 1..1024 data bytes.
bool oob_size_ok(std::size_t n) { return n > kOobHeaderSize && n <= kMaxOobPacketSize; }

}  // namespace

tl::expected<Packet, DropReason> parse_packet(Bytes plain) {
    if (plain.empty() || plain.size() > kMaxPacketSize) return wrong_length();
    const std::uint8_t id = plain[0];
    const std::size_t n = plain.size();
    if (id >= kFirstConnectionId) return RoutedData{id, plain.subspan(1)};
    switch (id) {
        case kRoutingRequestId:
            if (n != kRoutingRequestSize) return wrong_length();
            return RoutingRequest{key_at(plain, 1)};
        case kRoutingResponseId:
            if (n != kRoutingResponseSize) return wrong_length();
            return RoutingResponse{plain[1], key_at(plain, 2)};
        case kConnectNotificationId:
            if (n != kNotificationSize) return wrong_length();
            return ConnectNotification{plain[1]};
        case kDisconnectNotificationId:
            if (n != kNotificationSize) return wrong_length();
            return DisconnectNotification{plain[1]};
        case kPingId:
            if (n != kPingPacketSize) return wrong_length();
            return PingPacket{ping_at(plain)};
        case kPongId:
            if (n != kPingPacketSize) return wrong_length();
            return PongPacket{ping_at(plain)};
        case kOobSendId:
            if (!oob_size_ok(n)) return wrong_length();
            return OobSend{key_at(plain, 1), plain.subspan(kOobHeaderSize)};
        case kOobRecvId:
            if (!oob_size_ok(n)) return wrong_length();
            return OobRecv{key_at(plain, 1), plain.subspan(kOobHeaderSize)};
        case kOnionRequestId:
        case kOnionResponseId:
        case kForwardRequestId:
        case kForwardingId:
            return Opaque{id, plain};
        default:
            return tl::unexpected(DropReason::kUnknownId);
    }
}

namespace {

std::size_t finish(const wire::ByteWriter& w) { return w.ok() ? w.written() : 0; }

struct Encoder {
    std::span<std::uint8_t, kMaxPacketSize> out;

    std::size_t operator()(const RoutingRequest& p) const {
        wire::ByteWriter w(out);
        w.write_u8(kRoutingRequestId);
        w.write(p.pk.bytes);
        return finish(w);
    }
    std::size_t operator()(const RoutingResponse& p) const {
        wire::ByteWriter w(out);
        w.write_u8(kRoutingResponseId);
        w.write_u8(p.connection_id);
        w.write(p.pk.bytes);
        return finish(w);
    }
    std::size_t operator()(const ConnectNotification& p) const {
        return notification(kConnectNotificationId, p.connection_id);
    }
    std::size_t operator()(const DisconnectNotification& p) const {
        return notification(kDisconnectNotificationId, p.connection_id);
    }
    std::size_t operator()(const PingPacket& p) const { return ping(kPingId, p.ping_id); }
    std::size_t operator()(const PongPacket& p) const { return ping(kPongId, p.ping_id); }
    std::size_t operator()(const OobSend& p) const { return oob(kOobSendId, p.pk, p.data); }
    std::size_t operator()(const OobRecv& p) const { return oob(kOobRecvId, p.pk, p.data); }
    std::size_t operator()(const Opaque& p) const {
        if (p.packet.empty() || p.packet[0] != p.id) return 0;
        wire::ByteWriter w(out);
        w.write(p.packet);
        return finish(w);
    }
    std::size_t operator()(const RoutedData& p) const {
        if (p.connection_id < kFirstConnectionId || p.payload.empty()) return 0;
        wire::ByteWriter w(out);
        w.write_u8(p.connection_id);
        w.write(p.payload);
        return finish(w);
    }

    std::size_t notification(std::uint8_t id, std::uint8_t connection_id) const {
        wire::ByteWriter w(out);
        w.write_u8(id);
        w.write_u8(connection_id);
        return finish(w);
    }
    std::size_t ping(std::uint8_t id, const PingId& ping_id) const {
        wire::ByteWriter w(out);
        w.write_u8(id);
        w.write(ping_id);
        return finish(w);
    }
    std::size_t oob(std::uint8_t id, const PublicKey& pk, Bytes data) const {
        if (data.empty() || data.size() > kMaxOobDataSize) return 0;
        wire::ByteWriter w(out);
        w.write_u8(id);
        w.write(pk.bytes);
        w.write(data);
        return finish(w);
    }
};

}  // namespace

std::size_t encode_packet(const Packet& p, std::span<std::uint8_t, kMaxPacketSize> out) {
    return std::visit(Encoder{out}, p);
}

std::size_t seal_frame(const crypto::SharedKey& key, crypto::Nonce& nonce, Bytes plain,
                       std::span<std::uint8_t> out) {
    if (plain.empty() || plain.size() > kMaxPacketSize) return 0;
    const std::size_t box_size = plain.size() + crypto::kMacSize;
    const std::size_t frame_size = kFrameHeaderSize + box_size;
    if (out.size() < frame_size) return 0;
    wire::ByteWriter w(out.first(frame_size));
    w.write_be16(static_cast<std::uint16_t>(box_size));
    const auto box = w.reserve(box_size);
    if (!w.ok() || !crypto::seal(key, nonce, plain, box)) {
        std::fill_n(out.begin(), frame_size, std::uint8_t{0});
        return 0;
    }
    nonce.increment();
    return frame_size;
}

// --- FrameDecoder -----------------------------------------------------------------------------

FrameDecoder::FrameDecoder(const crypto::SharedKey& key, const crypto::Nonce& first_nonce)
    : key_(key), nonce_(first_nonce) {}

FrameDecoder::Status FrameDecoder::fail(DropReason r) {
    failed_ = true;
    error_ = r;
    plain_size_ = 0;
    return Status::kFailed;
}

FrameDecoder::Status FrameDecoder::next(Bytes& in) {
    plain_size_ = 0;
    while (!failed_) {
        if (header_have_ < kFrameHeaderSize) {
            const std::size_t take = std::min(kFrameHeaderSize - header_have_, in.size());
            std::copy_n(in.begin(), take,
                        header_.begin() + static_cast<std::ptrdiff_t>(header_have_));
            header_have_ += take;
            in = in.subspan(take);
            if (header_have_ < kFrameHeaderSize) return Status::kNeedMore;
            box_size_ = (std::size_t{header_[0]} << 8U) | header_[1];
            box_have_ = 0;
            // The length is judged before a single byte of the box is buffered.
            if (box_size_ > kMaxFrameBoxSize) return fail(DropReason::kFrameTooLong);
            if (box_size_ == 0) {
                ++empty_frames_;
                header_have_ = 0;
                continue;
            }
            if (box_size_ <= crypto::kMacSize) return fail(DropReason::kFrameTooShort);
        }
        const std::size_t take = std::min(box_size_ - box_have_, in.size());
        std::copy_n(in.begin(), take, box_.begin() + static_cast<std::ptrdiff_t>(box_have_));
        box_have_ += take;
        in = in.subspan(take);
        if (box_have_ < box_size_) return Status::kNeedMore;
        header_have_ = 0;
        const std::size_t plain_size = box_size_ - crypto::kMacSize;
        if (!crypto::open(key_, nonce_, std::span(box_).first(box_size_),
                          std::span(plain_).first(plain_size))) {
            return fail(DropReason::kBadTag);
        }
        nonce_.increment();
        plain_size_ = plain_size;
        return Status::kFrame;
    }
    return Status::kFailed;
}

}  // namespace relay
}  // namespace netcrypto
