// Send ring of the lossless layer.
#include "core/data/send_buffer.hpp"

#include <algorithm>
#include <cstring>

namespace netcrypto::data {

namespace {

constexpr std::uint8_t kLive = 1U << 0U;       // held: not acknowledged yet
constexpr std::uint8_t kNeedsSend = 1U << 1U;  // first send or resend pending
constexpr std::uint32_t kInitialSlots = 16;
constexpr std::size_t kInitialArena = 4096;

bool is_live(std::uint8_t flags) { return (flags & kLive) != 0; }
bool needs_send(std::uint8_t flags) { return (flags & kNeedsSend) != 0; }
// Sent at least once, still held and not scheduled for resend: in flight on the network.
bool outstanding(std::uint8_t flags, std::uint8_t send_count) {
    return is_live(flags) && !needs_send(flags) && send_count > 0;
}

void keep_latest(std::optional<Instant>& slot, Instant t) {
    if (!slot || *slot < t) {
        slot = t;
    }
}

std::optional<Duration> sample_since(const std::optional<Instant>& sent, Instant now) {
    if (sent && *sent <= now) {
        return now - *sent;
    }
    return std::nullopt;
}

}  // namespace

SendBuffer::SendBuffer(std::size_t max_bytes, PacketNumber first)
    : max_bytes_(std::max(max_bytes, kMaxMessageSize)), start_(first), end_(first), hint_(first) {}

std::size_t SendBuffer::memory_bytes() const {
    return (std::size_t{slot_capacity_} * sizeof(Slot)) + arena_capacity_;
}

bool SendBuffer::holds(PacketNumber n) const {
    return in_range(n, start_, end_) && is_live(slot(n).flags);
}

std::optional<std::size_t> SendBuffer::find_place(std::size_t length) const {
    if (start_ == end_) {
        if (length <= arena_capacity_) {
            return 0;
        }
        return std::nullopt;
    }
    const std::size_t tail = slot(start_).offset;
    if (head_ > tail) {  // live bytes in [tail, head): free space at both ends
        if (arena_capacity_ - head_ >= length) {
            return head_;
        }
        if (tail >= length) {
            return 0;
        }
    } else if (tail - head_ >= length) {  // wrapped: free space in [head, tail)
        return head_;
    }
    return std::nullopt;
}

bool SendBuffer::can_push(std::size_t length) const {
    if (length == 0 || length > kMaxMessageSize || in_flight() >= kMaxInFlight) {
        return false;
    }
    if (find_place(length)) {
        return true;
    }
    return arena_capacity_ < max_bytes_ && arena_used_ + length <= max_bytes_;
}

bool SendBuffer::grow_slots() {
    if (slot_capacity_ >= kMaxInFlight) {
        return false;
    }
    const std::uint32_t capacity = slot_capacity_ == 0 ? kInitialSlots : slot_capacity_ * 2;
    auto slots = std::make_unique<Slot[]>(capacity);
    for (PacketNumber n = start_; n != end_; ++n) {
        slots[n & (capacity - 1)] = slot(n);
    }
    slots_ = std::move(slots);
    slot_capacity_ = capacity;
    return true;
}

bool SendBuffer::grow_arena(std::size_t length) {
    const std::size_t needed = arena_used_ + length;
    if (arena_capacity_ >= max_bytes_ || needed > max_bytes_) {
        return false;
    }
    std::size_t capacity = arena_capacity_ == 0 ? kInitialArena : arena_capacity_ * 2;
    while (capacity < needed) {
        capacity *= 2;
    }
    capacity = std::min(capacity, max_bytes_);
    auto arena = std::make_unique_for_overwrite<std::uint8_t[]>(capacity);
    // Compact every entry of [start, end) (acknowledged ones too: they still own their
    // bytes until start passes them) to the front, in packet-number order.
    std::size_t offset = 0;
    for (PacketNumber n = start_; n != end_; ++n) {
        Slot& s = slot(n);
        if (s.length > 0) {
            std::memcpy(arena.get() + offset, arena_.get() + s.offset, s.length);
        }
        s.offset = static_cast<std::uint32_t>(offset);
        offset += s.length;
    }
    arena_ = std::move(arena);
    arena_capacity_ = capacity;
    head_ = offset;
    return true;
}

tl::expected<PacketNumber, PushError> SendBuffer::push(std::span<const std::uint8_t> message) {
    if (message.empty()) {
        return tl::make_unexpected(PushError::kEmpty);
    }
    if (message.size() > kMaxMessageSize) {
        return tl::make_unexpected(PushError::kTooLarge);
    }
    if (!can_push(message.size())) {
        return tl::make_unexpected(PushError::kFull);
    }
    if (in_flight() >= slot_capacity_ && !grow_slots()) {
        return tl::make_unexpected(PushError::kFull);
    }
    auto place = find_place(message.size());
    if (!place) {
        if (!grow_arena(message.size())) {
            return tl::make_unexpected(PushError::kFull);
        }
        place = find_place(message.size());
        if (!place) {
            return tl::make_unexpected(PushError::kFull);
        }
    }
    std::memcpy(arena_.get() + *place, message.data(), message.size());
    head_ = *place + message.size();
    arena_used_ += message.size();

    const PacketNumber n = end_;
    Slot& s = slot(n);
    s.last_sent = Instant{};
    s.offset = static_cast<std::uint32_t>(*place);
    s.length = static_cast<std::uint16_t>(message.size());
    s.send_count = 0;
    s.flags = kLive | kNeedsSend;
    ++end_;
    ++live_count_;
    live_bytes_ += message.size();
    ++needs_send_count_;
    return n;
}

void SendBuffer::release(Slot& s) {
    if (!is_live(s.flags)) {
        return;
    }
    if (outstanding(s.flags, s.send_count)) {
        --outstanding_count_;
        outstanding_bytes_ -= s.length;
    }
    if (needs_send(s.flags)) {
        --needs_send_count_;
    }
    s.flags = 0;
    --live_count_;
    live_bytes_ -= s.length;
}

AckResult SendBuffer::ack_up_to(PacketNumber ack, Instant now) {
    AckResult result;
    if (!in_closed_range(ack, start_, end_)) {
        result.status = before(ack, start_) ? AckStatus::kStale : AckStatus::kOutOfRange;
        return result;
    }
    result.released_first = start_;
    result.released_end = ack;
    bool repaired = false;  // the range contains a resent entry (a repaired hole)
    for (PacketNumber n = start_; n != ack; ++n) {
        Slot& s = slot(n);
        repaired = repaired || s.send_count > 1;
        if (is_live(s.flags)) {
            ++result.released_count;
            result.released_bytes += s.length;
            if (s.send_count == 1) {
                keep_latest(result.newest_sent_once, s.last_sent);
            }
            release(s);
        }
        arena_used_ -= s.length;
        s.length = 0;
    }
    if (repaired) {
        // Entries after a repaired hole may have arrived long ago: the REQUEST format could
        // not acknowledge them earlier, so their send time says nothing about the RTT.
        result.newest_sent_once.reset();
    }
    start_ = ack;
    if (!in_closed_range(hint_, start_, end_)) {
        hint_ = start_;
    }
    if (start_ == end_) {
        head_ = 0;
    }
    result.rtt_sample = sample_since(result.newest_sent_once, now);
    return result;
}

void SendBuffer::set_needs_send(Slot& s, PacketNumber n) {
    if (outstanding(s.flags, s.send_count)) {
        --outstanding_count_;
        outstanding_bytes_ -= s.length;
    }
    if (!needs_send(s.flags)) {
        s.flags |= kNeedsSend;
        ++needs_send_count_;
    }
    if (before(n, hint_)) {
        hint_ = n;
    }
}

tl::expected<RequestResult, RequestError> SendBuffer::apply_request(
    std::span<const std::uint8_t> message, PacketNumber ack, Instant now, Duration rtt_guard) {
    const auto holes = request_holes(message);
    if (!holes) {
        return tl::make_unexpected(holes.error());
    }
    if (!in_closed_range(ack, start_, end_) && !before(ack, start_)) {
        return tl::make_unexpected(RequestError::kAckOutOfRange);
    }
    // Everything is validated: from here on the request is applied.
    RequestResult result;
    RequestDecoder decoder(*holes, ack, end_);
    while (const auto step = decoder.next()) {
        PacketNumber first = step->acked_first;
        std::uint32_t count = step->acked_count;
        if (before(first, start_)) {  // a stale base: skip numbers already released
            const std::uint32_t skip = std::min(count, distance(first, start_));
            first += skip;
            count -= skip;
        }
        for (std::uint32_t i = 0; i < count; ++i) {
            Slot& s = slot(first + i);
            if (!is_live(s.flags)) {
                continue;
            }
            ++result.acked_count;
            result.acked_bytes += s.length;
            if (s.send_count == 1) {
                keep_latest(result.newest_acked_sent_once, s.last_sent);
            }
            release(s);
        }
        if (!step->requested || !holds(step->requested_number)) {
            continue;
        }
        ++result.requested_count;
        Slot& s = slot(step->requested_number);
        if (needs_send(s.flags) || s.send_count == 0 || !(s.last_sent + rtt_guard < now)) {
            continue;  // already scheduled, never sent, or sent too recently to be lost
        }
        ++result.marked_count;
        result.marked_bytes += s.length;
        keep_latest(result.newest_marked_sent, s.last_sent);
        set_needs_send(s, step->requested_number);
    }
    result.rtt_sample = sample_since(result.newest_acked_sent_once, now);
    return result;
}

std::optional<PacketNumber> SendBuffer::next_to_send(PacketNumber from) const {
    if (needs_send_count_ == 0) {
        return std::nullopt;
    }
    if (!in_closed_range(from, start_, end_)) {
        from = start_;
    }
    PacketNumber n = distance(start_, from) < distance(start_, hint_) ? hint_ : from;
    for (; n != end_; ++n) {
        if (needs_send(slot(n).flags)) {
            return n;
        }
    }
    return std::nullopt;
}

bool SendBuffer::mark_sent(PacketNumber n, Instant now) {
    if (!holds(n)) {
        return false;
    }
    Slot& s = slot(n);
    const bool was_outstanding = outstanding(s.flags, s.send_count);
    if (needs_send(s.flags)) {
        s.flags &= static_cast<std::uint8_t>(~kNeedsSend);
        --needs_send_count_;
    }
    s.last_sent = now;
    if (s.send_count < 255) {
        ++s.send_count;
    }
    if (!was_outstanding) {
        ++outstanding_count_;
        outstanding_bytes_ += s.length;
    }
    if (n == hint_) {
        while (hint_ != end_ && !needs_send(slot(hint_).flags)) {
            ++hint_;
        }
    }
    return true;
}

bool SendBuffer::mark_for_resend(PacketNumber n) {
    if (!holds(n)) {
        return false;
    }
    set_needs_send(slot(n), n);
    return true;
}

std::optional<SendEntry> SendBuffer::entry(PacketNumber n) const {
    if (!holds(n)) {
        return std::nullopt;
    }
    const Slot& s = slot(n);
    SendEntry e;
    e.number = n;
    e.message = std::span<const std::uint8_t>(arena_.get() + s.offset, s.length);
    e.last_sent = s.last_sent;
    e.send_count = s.send_count;
    e.needs_send = needs_send(s.flags);
    return e;
}

void SendBuffer::trim() {
    if (start_ != end_) {
        return;
    }
    slots_.reset();
    arena_.reset();
    slot_capacity_ = 0;
    arena_capacity_ = 0;
    arena_used_ = 0;
    head_ = 0;
}

}  // namespace netcrypto::data
