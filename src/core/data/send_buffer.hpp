// The send ring of the lossless layer (wire.md §6.1, §6.2, §6.4, §6.5): outgoing messages held by
// packet number until the peer acknowledges them.
//
// data::Stream (stream.cpp) push()es messages, takes next_to_send()/entry() when the congestion
// controller allows and mark_sent()s them, applies every packet's ack with ack_up_to() and
// every REQUEST with apply_request(), and trim()s the buffer when the stream goes idle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include <tl/expected.hpp>

#include <netcrypto/time.hpp>

#include "core/data/packet_number.hpp"
#include "core/data/request.hpp"

namespace netcrypto::data {

/// Why push() refused a message.
enum class PushError : std::uint8_t {
    kEmpty,     ///< zero-length message (a message always starts with its data id)
    kTooLarge,  ///< longer than kMaxMessageSize
    kFull,      ///< kMaxInFlight entries held, or the byte budget has no room for it
};

/// How an acknowledgement number related to the buffer.
enum class AckStatus : std::uint8_t {
    kAccepted,    ///< ack in [start, end]: everything below it is released
    kStale,       ///< ack behind start (an older packet arriving late): nothing changes
    kOutOfRange,  ///< ack ahead of end (never sent): nothing changes (c-toxcore drops the packet)
};

/// Outcome of ack_up_to().
struct AckResult {
    AckStatus status = AckStatus::kAccepted;
    /// Numbers [released_first, released_end) are now known delivered in order (read
    /// receipts); empty unless status is kAccepted.
    PacketNumber released_first = 0;
    PacketNumber released_end = 0;
    /// Entries of that range still held before this call (others were selectively acked).
    std::uint32_t released_count = 0;
    /// Message bytes of those entries.
    std::uint64_t released_bytes = 0;
    /// Karn's rule: latest send time among released entries sent exactly once; left empty
    /// when the range contains a resent entry (a repaired hole: entries after it may have
    /// arrived long before the REQUEST format could acknowledge them).
    std::optional<Instant> newest_sent_once;
    /// now - newest_sent_once, when that is not negative.
    std::optional<Duration> rtt_sample;
};

/// Outcome of apply_request().
struct RequestResult {
    /// Entries released by the REQUEST's selective acknowledgements.
    std::uint32_t acked_count = 0;
    /// Message bytes of those entries.
    std::uint64_t acked_bytes = 0;
    /// Karn's rule: latest send time among selectively acked entries sent exactly once.
    std::optional<Instant> newest_acked_sent_once;
    /// now - newest_acked_sent_once, when that is not negative.
    std::optional<Duration> rtt_sample;
    /// Requested numbers that are held by this buffer.
    std::uint32_t requested_count = 0;
    /// Entries newly scheduled for resend (sent, last send + rtt_guard < now, not already
    /// scheduled): the loss signal for congestion control.
    std::uint32_t marked_count = 0;
    /// Message bytes of those entries.
    std::uint64_t marked_bytes = 0;
    /// Latest last-send time among newly scheduled entries (for loss-episode bookkeeping).
    std::optional<Instant> newest_marked_sent;
};

/// Read-only view of a held entry; the span is valid until the next mutating call.
struct SendEntry {
    PacketNumber number = 0;
    std::span<const std::uint8_t> message;
    Instant last_sent{};           ///< meaningless while send_count == 0
    std::uint32_t send_count = 0;  ///< transmissions so far (saturates at 255)
    bool needs_send = false;       ///< first transmission or resend pending
};

/// Ring of outgoing lossless messages indexed by packet number, [start, end). Holds at most
/// kMaxInFlight entries and at most `max_bytes` of message bytes. Storage: a power-of-two
/// ring of 16-byte slots (grows to kMaxInFlight) and a circular byte arena (grows by doubling
/// up to max_bytes); both are allocated on first use, reused in steady state, and released by
/// trim() when empty. Entries released by a selective ack keep their arena bytes until the
/// cumulative ack passes them, and up to one message of arena space can be lost to
/// wrap-around, so push() may report kFull slightly before buffered_bytes() reaches
/// max_bytes.
class SendBuffer {
  public:
    /// Default byte budget.
    static constexpr std::size_t kDefaultMaxBytes = std::size_t{8} << 20U;

    /// An empty buffer whose first message gets number `first` (0 for a new connection, as
    /// the protocol requires; other values are for tests), with a budget of `max_bytes`
    /// message bytes (raised to kMaxMessageSize if smaller). Allocates nothing.
    explicit SendBuffer(std::size_t max_bytes = kDefaultMaxBytes, PacketNumber first = 0);
    SendBuffer(const SendBuffer&) = delete;
    SendBuffer& operator=(const SendBuffer&) = delete;
    SendBuffer(SendBuffer&&) noexcept = default;
    SendBuffer& operator=(SendBuffer&&) noexcept = default;
    ~SendBuffer() = default;

    /// Appends a message (data id first) at end() and marks it as needing its first send;
    /// returns its packet number, or kEmpty / kTooLarge / kFull.
    tl::expected<PacketNumber, PushError> push(std::span<const std::uint8_t> message);

    /// True when push() of a `length`-byte message would succeed now.
    [[nodiscard]] bool can_push(std::size_t length) const;

    /// Releases every entry below `ack` when ack is in [start, end] and moves start to ack;
    /// otherwise changes nothing (status kStale or kOutOfRange).
    AckResult ack_up_to(PacketNumber ack, Instant now);

    /// Applies a REQUEST message (`message` includes the id byte; `ack` is the ack field of
    /// the same packet, on which the hole encoding is based). Numbers reported received are
    /// released; requested entries are scheduled for resend if last send + rtt_guard < now.
    /// Call ack_up_to() first. A stale `ack` (behind start) is decoded from `ack` and numbers
    /// below start are skipped. Fails with kEmpty, kWrongId or kAckOutOfRange (ack ahead of
    /// end), in which case nothing changes.
    tl::expected<RequestResult, RequestError> apply_request(std::span<const std::uint8_t> message,
                                                            PacketNumber ack, Instant now,
                                                            Duration rtt_guard);

    /// First held number >= `from` (in [start, end)) that needs a first send or a resend, in
    /// packet-number order; `from` outside [start, end] is treated as start.
    [[nodiscard]] std::optional<PacketNumber> next_to_send(PacketNumber from) const;

    /// Records a transmission of entry `n` at `now` (clears its needs-send flag, counts the
    /// send); false if `n` is not held.
    bool mark_sent(PacketNumber n, Instant now);

    /// Schedules entry `n` for resend (e.g. the transmission failed locally); false if `n` is
    /// not held.
    bool mark_for_resend(PacketNumber n);

    /// The held entry `n`, or nullopt when `n` is outside [start, end) or already
    /// acknowledged.
    [[nodiscard]] std::optional<SendEntry> entry(PacketNumber n) const;

    /// Lowest number not yet cumulatively acknowledged (the ring's start).
    [[nodiscard]] PacketNumber start() const { return start_; }
    /// Number the next pushed message gets (the `num` field of REQUEST/KILL/lossy packets).
    [[nodiscard]] PacketNumber end() const { return end_; }
    /// end - start: numbers the ring spans (what counts against kMaxInFlight).
    [[nodiscard]] std::uint32_t in_flight() const { return distance(start_, end_); }
    /// Entries still held (not acknowledged, cumulatively or selectively).
    [[nodiscard]] std::uint32_t held_count() const { return live_count_; }
    /// Message bytes of held entries.
    [[nodiscard]] std::uint64_t buffered_bytes() const { return live_bytes_; }
    /// Entries sent at least once, not acknowledged and not scheduled for resend.
    [[nodiscard]] std::uint32_t outstanding_count() const { return outstanding_count_; }
    /// Message bytes of those entries (add per-packet overhead for bytes on the wire).
    [[nodiscard]] std::uint64_t outstanding_bytes() const { return outstanding_bytes_; }
    /// Entries waiting for a first send or a resend.
    [[nodiscard]] std::uint32_t pending_send_count() const { return needs_send_count_; }
    /// Numbers that can still be pushed before kMaxInFlight is reached.
    [[nodiscard]] std::uint32_t free_slots() const { return kMaxInFlight - in_flight(); }
    /// Arena bytes not in use (an upper bound on what can still be pushed; see the class note).
    [[nodiscard]] std::size_t free_bytes() const { return max_bytes_ - arena_used_; }
    /// The byte budget.
    [[nodiscard]] std::size_t max_bytes() const { return max_bytes_; }
    /// Heap bytes owned right now (slot ring + arena).
    [[nodiscard]] std::size_t memory_bytes() const;

    /// Frees all storage if nothing is held in [start, end); call from an idle timer.
    void trim();

  private:
    struct Slot {
        Instant last_sent{};
        std::uint32_t offset = 0;
        std::uint16_t length = 0;
        std::uint8_t send_count = 0;
        std::uint8_t flags = 0;
    };

    [[nodiscard]] Slot& slot(PacketNumber n) { return slots_[n & (slot_capacity_ - 1)]; }
    [[nodiscard]] const Slot& slot(PacketNumber n) const {
        return slots_[n & (slot_capacity_ - 1)];
    }
    [[nodiscard]] bool holds(PacketNumber n) const;
    [[nodiscard]] std::optional<std::size_t> find_place(std::size_t length) const;
    bool grow_slots();
    bool grow_arena(std::size_t length);
    void release(Slot& s);
    void set_needs_send(Slot& s, PacketNumber n);

    std::unique_ptr<Slot[]> slots_;
    std::unique_ptr<std::uint8_t[]> arena_;
    std::size_t arena_capacity_ = 0;
    std::size_t arena_used_ = 0;  // bytes of all entries in [start, end), released or not
    std::size_t head_ = 0;        // arena offset of the next write
    std::size_t max_bytes_;
    std::uint64_t live_bytes_ = 0;
    std::uint64_t outstanding_bytes_ = 0;
    std::uint32_t slot_capacity_ = 0;
    PacketNumber start_ = 0;
    PacketNumber end_ = 0;
    PacketNumber hint_ = 0;  // no entry in [start, hint) needs a send
    std::uint32_t live_count_ = 0;
    std::uint32_t outstanding_count_ = 0;
    std::uint32_t needs_send_count_ = 0;
};

}  // namespace netcrypto::data
