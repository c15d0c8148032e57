// The REQUEST control message (data id 1, wire.md §6.4): a selective acknowledgement that lists
// the holes of the requester's receive ring. Pure encoding and decoding, no buffer state.
//
// Serialized form (the message part of a data packet; the packet's `ack` field is the base):
//
//   | off | len | field                                                                   |
//   |-----|-----|-------------------------------------------------------------------------|
//   | 0   | 1   | 0x01 (kRequestId)                                                       |
//   | 1   | k   | hole bytes, 0 <= k <= 1372                                              |
//
// Reading the hole bytes: start with p = ack - 1; a byte b != 0 means "p += b, the numbers
// strictly between the old and the new p were received, the new p is missing"; a byte 0 means
// "p += 255, all 255 numbers passed over were received". Numbers after the last byte are
// unknown (neither received nor missing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include <tl/expected.hpp>

#include "core/data/packet_number.hpp"

namespace netcrypto::data {

/// Why a REQUEST message was refused (the caller drops it and counts the reason).
enum class RequestError : std::uint8_t {
    kEmpty,          ///< zero-length message
    kWrongId,        ///< first byte is not kRequestId
    kAckOutOfRange,  ///< the packet's ack lies ahead of the send end (cannot be ours)
};

/// What the requester says about one packet number.
enum class Decision : std::uint8_t {
    kAcked,      ///< received by the requester (selective acknowledgement)
    kRequested,  ///< missing at the requester, to be sent again
};

/// Checks the id byte of a REQUEST message and returns its hole bytes (the rest of the
/// message); fails with kEmpty or kWrongId.
tl::expected<std::span<const std::uint8_t>, RequestError> request_holes(
    std::span<const std::uint8_t> message);

/// One decoded hole byte: a run of acknowledged numbers, then possibly one requested number.
struct RequestStep {
    PacketNumber acked_first = 0;       ///< first number of the acknowledged run
    std::uint32_t acked_count = 0;      ///< length of the acknowledged run (0..255)
    bool requested = false;             ///< whether `requested_number` is asked for
    PacketNumber requested_number = 0;  ///< acked_first + acked_count when `requested`
};

/// Walks the hole bytes of a REQUEST without allocating. Numbers start at `base` (the
/// packet's ack field) and stop before `limit` (the sender's send end): bytes describing
/// numbers at or past `limit` are ignored, as c-toxcore does.
///
/// Note on malformed input: c-toxcore's loop form rejects a body where a run of 255 received
/// numbers is not followed by a 0 byte. In this run form that case cannot occur: after every
/// consumed byte the run counter restarts at 1 and visits every value 1..255, so any pending
/// non-zero byte is matched before the counter reaches 255. Every byte string is therefore a
/// valid hole encoding; only the id byte can be wrong (see request_holes).
class RequestDecoder {
  public:
    /// Decodes `holes` (the message without its id byte) for numbers in [base, limit).
    RequestDecoder(std::span<const std::uint8_t> holes, PacketNumber base, PacketNumber limit);

    /// The next step, or nullopt when the bytes or the number range are exhausted.
    std::optional<RequestStep> next();

  private:
    std::span<const std::uint8_t> holes_;
    std::size_t pos_ = 0;
    PacketNumber next_number_ = 0;
    std::uint32_t remaining_ = 0;
};

/// Calls `visit(PacketNumber, Decision)` for every number described by `holes`, in increasing
/// order, for numbers in [base, limit).
template <class Visitor>
void for_each_decision(std::span<const std::uint8_t> holes, PacketNumber base, PacketNumber limit,
                       Visitor&& visit) {
    RequestDecoder decoder(holes, base, limit);
    while (const auto step = decoder.next()) {
        for (std::uint32_t i = 0; i < step->acked_count; ++i) {
            visit(static_cast<PacketNumber>(step->acked_first + i), Decision::kAcked);
        }
        if (step->requested) {
            visit(step->requested_number, Decision::kRequested);
        }
    }
}

/// Builds a REQUEST message incrementally from hole offsets (offset 0 = the requester's
/// receive start), writing into a caller buffer; the result is truncated at
/// min(out.size(), kMaxMessageSize) bytes exactly like c-toxcore truncates its own.
class RequestEncoder {
  public:
    /// Starts a message in `out` (writes the id byte when `out` is not empty).
    explicit RequestEncoder(std::span<std::uint8_t> out);

    /// Records a missing number at `offset` from the receive start; offsets must strictly
    /// increase. Returns false once the buffer is full (later calls are ignored).
    bool add_hole(std::uint32_t offset);

    /// Closes the message for a receive range of `count` numbers (end - start): appends the
    /// 0 bytes that acknowledge runs of 255 received numbers after the last hole. Returns the
    /// message length.
    std::size_t finish(std::uint32_t count);

    /// Bytes written so far (including the id byte).
    [[nodiscard]] std::size_t size() const { return len_; }
    /// True when no further byte fits.
    [[nodiscard]] bool full() const { return len_ >= cap_; }

  private:
    bool emit(std::uint8_t b);

    std::span<std::uint8_t> out_;
    std::size_t cap_ = 0;
    std::size_t len_ = 0;
    std::int64_t last_hole_ =
        -1;  // the last hole written (wire.md §6.4), relative to the receive start
};

/// Encodes a REQUEST message for a receive range of `count` numbers where `is_missing(i)`
/// says whether offset i (0 = receive start) is a hole: the encoding of wire.md §6.4.
/// Returns the length written (0 when `out` is empty).
template <class IsMissing>
std::size_t encode_request(std::span<std::uint8_t> out, std::uint32_t count,
                           IsMissing&& is_missing) {
    const std::size_t cap = out.size() < kMaxMessageSize ? out.size() : kMaxMessageSize;
    if (cap == 0) {
        return 0;
    }
    out[0] = kRequestId;
    std::size_t len = 1;
    std::uint32_t n = 1;
    for (std::uint32_t i = 0; i < count && len < cap; ++i) {
        if (is_missing(i)) {
            out[len++] = static_cast<std::uint8_t>(n);
            n = 0;
        } else if (n == 255) {
            out[len++] = 0;
            n = 0;
        }
        ++n;
    }
    return len;
}

}  // namespace netcrypto::data
