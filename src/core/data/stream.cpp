// The data stream: acknowledgements, REQUEST packets, retransmission, congestion control,
// pacing, lossless and lossy delivery (wire.md §6).
#include "core/data/stream.hpp"

#include <algorithm>

#include "core/wire/packets.hpp"

namespace netcrypto::data {

namespace {

/// A REQUEST goes out at once after this many new in-order lossless packets.
constexpr std::uint32_t kAckEveryPackets = 8;
/// ... or after this many messages read while more are ready (see read_lossless).
constexpr std::uint32_t kAckEveryReads = 64;
/// ... and at the latest a quarter of our RTT estimate after the first packet it has not
/// acknowledged yet, within these bounds (the upper one applies until an estimate exists). A
/// fixed delay would dominate the sender's RTT samples on a fast path, and its window would
/// shrink to what one delay carries.
constexpr Duration kMinAckDelay = std::chrono::microseconds{100};
constexpr Duration kMaxAckDelay = std::chrono::milliseconds{5};
/// Bounds of the REQUEST repeat interval while something needs repair.
constexpr Duration kMinRepairInterval = std::chrono::milliseconds{5};
constexpr Duration kMaxRepairInterval = std::chrono::milliseconds{100};
/// Buffers of a stream that moved no data for this long are released.
constexpr Duration kIdleTrim = std::chrono::seconds{2};
/// The periodic (idle) REQUEST of every connection falls on one grid of absolute time, so an
/// endpoint with many idle connections wakes once per grain, not once per connection (1,000
/// idle connections: at most 8 wake-ups a second instead of 1,000). It delays that REQUEST by
/// less than one grain; acknowledgements and repairs keep their own, exact deadlines.
constexpr Duration kIdleGrain = std::chrono::milliseconds{125};

Instant on_idle_grid(Instant t) {
    const Duration r = t.time_since_epoch() % kIdleGrain;
    return r == Duration::zero() ? t : t + (kIdleGrain - r);
}

/// Datagram-queue slots lossy sends leave free for control packets.
constexpr std::size_t kControlMargin = 64;
/// Wire bytes a data packet adds to its message (type, nonce, tag, ack, number).
constexpr std::size_t kDataOverhead = wire::kDataMinSize;

/// Datagram bytes of `count` data packets carrying `message_bytes` in total.
std::uint64_t wire_bytes(std::uint64_t message_bytes, std::uint64_t count) {
    return message_bytes + count * kDataOverhead;
}

}  // namespace

Stream::Stream(const StreamLimits& limits)
    : send_(limits.send_buffer_bytes),
      recv_(limits.recv_buffer_bytes),
      lossy_(limits.lossy_pool, limits.lossy_queue_messages) {}

std::uint64_t Stream::in_flight_bytes() const {
    return wire_bytes(send_.outstanding_bytes(), send_.outstanding_count());
}

// --- timers ------------------------------------------------------------------------------------

std::optional<Instant> Stream::next_deadline(const EndpointConfig& cfg) const {
    Instant next = request_deadline(cfg);
    if (pacing_at_) next = std::min(next, *pacing_at_);
    return next;
}

Instant Stream::request_deadline(const EndpointConfig& cfg) const {
    const Duration idle = last_request_ < fast_until_
                              ? std::min(cfg.request_interval, fast_interval_)
                              : cfg.request_interval;
    Instant t = on_idle_grid(last_request_ + idle);
    if (unacked_received_ > 0) t = std::min(t, first_unacked_at_ + ack_delay());
    // While packets we know of are missing, keep asking for them about once per RTT (a lost
    // REQUEST or a lost resend must not cost a whole second). While our own data is
    // unacknowledged, do the same: the REQUEST's `num` tells the peer where our stream ends,
    // so it can ask for a lost tail (a tail-loss probe).
    const bool missing = distance(recv_.start(), recv_.end()) > recv_.stored_count();
    if (missing || send_.outstanding_count() > 0) {
        t = std::min(t, last_request_ + repair_interval());
    }
    return t;
}

void Stream::on_timeout(StreamIo& io, Instant now, const EndpointConfig& cfg) {
    if (request_deadline(cfg) <= now) send_request(io, now);
    if (pacing_at_ && *pacing_at_ <= now) {
        pacing_at_.reset();
        io.wants_to_send();
    }
}

// --- sending -----------------------------------------------------------------------------------

std::size_t Stream::encode(std::uint32_t number, std::span<const std::uint8_t> message,
                           std::span<std::uint8_t> plain) {
    const std::size_t n = wire::encode_data_plain(recv_.start(), number, message, plain);
    if (n > 0) unacked_received_ = 0;  // every data packet carries our cumulative ack
    return n;
}

void Stream::send_message(StreamIo& io, std::uint32_t number,
                          std::span<const std::uint8_t> message) {
    std::array<std::uint8_t, wire::kMaxDataPlainSize> plain{};
    const std::size_t n = encode(number, message, plain);
    if (n > 0) io.send_plain(std::span<const std::uint8_t>(plain).first(n));
}

void Stream::send_now(StreamIo& io, std::span<const std::uint8_t> message) {
    send_message(io, send_.end(), message);
}

void Stream::send_request(StreamIo& io, Instant now) {
    std::array<std::uint8_t, wire::kMaxMessageSize> message{};
    // Numbers past the highest one received are probably still in flight: ask for them only
    // once nothing new has arrived for a repair interval (then they are a lost tail).
    const bool tail_quiet = now - last_lossless_at_ >= repair_interval();
    const std::uint32_t limit = tail_quiet ? recv_.end() : highest_received_end_;
    const std::size_t n = recv_.encode_request(message, limit);
    send_message(io, send_.end(), std::span<const std::uint8_t>(message).first(n));
    last_request_ = now;
    // Time the repair of the head-of-line hole (named by this REQUEST when it is missing).
    if (recv_.start() != limit && !recv_.contains(recv_.start())) {
        repair_probe_ = recv_.start();
        repair_probe_sent_ = now;
    }
    ++io.stats().requests_sent;
    // The REQUEST timer doubles as the idle timer: give back buffer memory nobody uses.
    if (send_.held_count() == 0 && now - last_lossless_at_ > kIdleTrim) {
        send_.trim();
        cc_.trim(now);
    }
    // The receive blocks only once the stream has been quiet as long: trimming whenever the
    // buffer is momentarily empty made a fast receiver free and reallocate its blocks every
    // few REQUESTs (malloc/free were ~10 % of a bulk receiver's CPU).
    if (recv_.stored_count() == 0 && now - last_lossless_at_ > kIdleTrim) recv_.trim();
}

std::size_t Stream::produce(StreamIo& io, Instant now, std::span<std::uint8_t> plain,
                            std::optional<Instant>& retry_at) {
    const auto next = send_.next_to_send(send_.start());
    if (!next) return 0;
    const auto entry = send_.entry(*next);
    if (!entry) return 0;
    const bool resend = entry->send_count > 0;
    const bool window_open = resend ? cc_.can_resend(now) : cc_.can_send(now, in_flight_bytes());
    if (!window_open) {
        // Wake when the in-flight estimate ages out (an ack may open the window earlier).
        const Instant at = std::max(cc_.next_window_time(now), now + std::chrono::milliseconds{1});
        pacing_at_ = at;
        retry_at = at;
        return 0;
    }
    if (const Instant at = cc_.next_send_time(now); at > now) {
        pacing_at_ = at;
        retry_at = at;
        return 0;
    }
    const std::size_t n = encode(*next, entry->message, plain);
    if (n == 0) return 0;
    if (resend) {
        ++io.stats().retransmissions;
    } else {
        ++io.stats().lossless_sent;
    }
    send_.mark_sent(*next, now);
    cc_.on_packet_sent(now, wire::kDataHeaderSize + wire::kMacSize + n);
    return n;
}

Result<std::uint32_t> Stream::queue_lossless(StreamIo& io, std::span<const std::uint8_t> message) {
    auto number = send_.push(message);
    if (!number) {
        want_writable_ = true;
        return tl::unexpected(Error::kWouldBlock);
    }
    io.wants_to_send();
    return *number;
}

Result<void> Stream::send_lossy(StreamIo& io, std::span<const std::uint8_t> message) {
    // Lossy data bypasses the congestion window but not the bounded datagram queue; keep a
    // margin so REQUEST and KILL packets always find room.
    if (io.transmit_room() <= kControlMargin) return tl::unexpected(Error::kWouldBlock);
    send_now(io, message);
    ++io.stats().lossy_sent;
    return {};
}

std::size_t Stream::send_capacity() const {
    if (send_.free_slots() == 0) return 0;
    return std::min<std::size_t>(send_.free_bytes(), send_.max_bytes());
}

// --- the application reads ---------------------------------------------------------------------

std::size_t Stream::read_lossless(StreamIo& io, Instant now, std::span<std::uint8_t> out) {
    auto message = recv_.pop_ready();
    if (!message) {
        readable_notified_ = false;
        return 0;
    }
    const std::size_t n = std::min(message->size(), out.size());
    std::copy_n(message->begin(), n, out.begin());
    ++io.stats().lossless_delivered;
    io.stats().bytes_delivered += n;
    // Reading frees receive space: count it like a new packet for the ack schedule, so the
    // sender learns about the freed window soon. An application reading a long in-order run
    // (a repaired hole releases hundreds of messages) would otherwise send a REQUEST every
    // few reads; acknowledge when it has read what was ready, or every kAckEveryReads.
    if (unacked_received_++ == 0) first_unacked_at_ = now;
    const bool drained = !recv_.contains(recv_.start());
    if (unacked_received_ >= kAckEveryReads || (drained && unacked_received_ >= kAckEveryPackets)) {
        send_request(io, now);
    }
    return n;
}

std::size_t Stream::read_lossy(StreamIo& io, std::span<std::uint8_t> out) {
    const std::size_t n = lossy_.pop(out);
    if (n > 0) {
        ++io.stats().lossy_received;
    } else {
        readable_notified_ = false;  // told again when the next message arrives
    }
    return n;
}

// --- receiving ---------------------------------------------------------------------------------

void Stream::on_ack(StreamIo& io, Instant now, std::uint32_t ack) {
    const auto before = send_.start();
    const auto r = send_.ack_up_to(ack, now);
    if (r.status == AckStatus::kOutOfRange) {
        io.drop(DropReason::kBadAck);  // ignore the ack, keep the message (wire.md §8 item 8)
        return;
    }
    if (r.status != AckStatus::kAccepted) return;
    if (r.rtt_sample) rtt_.on_sample(*r.rtt_sample);
    if (r.released_count > 0) {
        cc_.on_ack(now, wire_bytes(r.released_bytes, r.released_count), rtt_);
    }
    if (send_.start() != before) {
        io.acked(send_.start());
        after_send_progress(io);
    }
}

void Stream::after_send_progress(StreamIo& io) {
    if (want_writable_ && send_capacity() > 0) {
        want_writable_ = false;
        io.writable();
    }
    if (send_.pending_send_count() > 0) io.wants_to_send();
}

void Stream::handle_request(StreamIo& io, Instant now, std::uint32_t ack,
                            std::span<const std::uint8_t> message) {
    ++io.stats().requests_received;
    // A packet is resent only if its last send is older than the controller's guard (about
    // one recent RTT plus the ack gap), so a REQUEST written before a resend arrived does not
    // trigger a duplicate or a false loss signal.
    const Duration guard = cc_.resend_guard();
    auto r = send_.apply_request(message, ack, now, guard);
    if (!r) {
        io.drop(DropReason::kBadRequest);
        return;
    }
    if (r->rtt_sample) rtt_.on_sample(*r->rtt_sample);
    if (r->acked_count > 0) {
        cc_.on_ack(now, wire_bytes(r->acked_bytes, r->acked_count), rtt_);
    }
    if (r->marked_count > 0 && r->newest_marked_sent) {
        cc_.on_loss(now, wire_bytes(r->marked_bytes, r->marked_count), *r->newest_marked_sent);
    }
    after_send_progress(io);
}

void Stream::on_message(StreamIo& io, Instant now, std::uint32_t number, std::uint32_t ack,
                        std::span<const std::uint8_t> message) {
    switch (wire::classify_id(message[0])) {
        case wire::IdClass::kRequest:
            handle_request(io, now, ack, message);
            recv_.extend_end(number);
            break;
        case wire::IdClass::kLossless:
            receive_lossless(io, now, number, message);
            break;
        case wire::IdClass::kLossy:
            recv_.extend_end(number);
            if (!lossy_.push(message)) io.drop(DropReason::kLossyQueueFull);
            notify_readable(io);
            break;
        default:
            io.drop(DropReason::kInvalidDataId);
            break;
    }
}

std::optional<Duration> Stream::receiver_rtt() const {
    // Our own samples need our own lossless data; a pure receiver times its repairs instead.
    std::optional<Duration> rtt;
    if (rtt_.has_samples()) rtt = rtt_.srtt();
    if (repair_rtt_.has_samples())
        rtt = std::min(rtt.value_or(Duration::max()), repair_rtt_.srtt());
    return rtt;
}

Duration Stream::repair_interval() const {
    return std::clamp<Duration>(receiver_rtt().value_or(rtt_.srtt()), kMinRepairInterval,
                                kMaxRepairInterval);
}

Duration Stream::ack_delay() const {
    const auto rtt = receiver_rtt();
    return rtt ? std::clamp<Duration>(*rtt / 4, kMinAckDelay, kMaxAckDelay) : kMaxAckDelay;
}

void Stream::receive_lossless(StreamIo& io, Instant now, std::uint32_t number,
                              std::span<const std::uint8_t> message) {
    const bool gap = before(highest_received_end_, number);
    switch (recv_.accept(number, message)) {
        case AcceptResult::kAccepted:
            break;
        case AcceptResult::kDuplicate:
            io.drop(DropReason::kDuplicateLossless);
            return;
        case AcceptResult::kOutOfWindow:
            io.drop(DropReason::kLosslessOutOfWindow);
            return;
        case AcceptResult::kOverBudget:
            io.drop(DropReason::kReceiveBufferFull);
            return;
        case AcceptResult::kInvalid:
            io.drop(DropReason::kInvalidDataId);
            return;
    }
    if (!before(number, highest_received_end_)) highest_received_end_ = number + 1;
    last_lossless_at_ = now;
    if (repair_probe_ && *repair_probe_ == number) {
        // Measured from the latest REQUEST naming it: never longer than the real repair time.
        repair_rtt_.on_sample(now - repair_probe_sent_);
        repair_probe_.reset();
    }
    if (recv_.contains(recv_.start())) notify_readable(io);
    if (unacked_received_++ == 0) first_unacked_at_ = now;
    // A gap (a packet beyond the next expected one) is reported at once, so the sender can
    // repair it; otherwise acknowledge every few packets.
    if (gap || unacked_received_ >= kAckEveryPackets) send_request(io, now);
}

void Stream::notify_readable(StreamIo& io) {
    if (readable_notified_) return;
    readable_notified_ = true;
    io.readable();
}

void Stream::describe(ConnectionInfo& info) const {
    info.send_buffer_start = send_.start();
    info.send_buffer_end = send_.end();
    info.send_buffered_bytes = static_cast<std::size_t>(send_.buffered_bytes());
    info.recv_buffered_bytes = recv_.stored_bytes();
    info.smoothed_rtt = rtt_.srtt();
    info.congestion_window = cc_.window();
}

}  // namespace netcrypto::data
