// Timers and data path of a connection: data packets in both directions, acknowledgements,
// REQUEST packets, retransmission, congestion control, pacing and KILL.
#include <algorithm>

#include "core/connection.hpp"

namespace netcrypto::core {

using namespace std::chrono_literals;

namespace {

/// A REQUEST goes out at once after this many new in-order lossless packets.
constexpr std::uint32_t kAckEveryPackets = 8;
/// ... or after this many messages read while more are ready (see read_lossless).
constexpr std::uint32_t kAckEveryReads = 64;
/// ... and at the latest a quarter of our RTT estimate after the first packet it has not
/// acknowledged yet, within these bounds (the upper one applies until an estimate exists). A
/// fixed delay would dominate the sender's RTT samples on a fast path, and its window would
/// shrink to what one delay carries.
constexpr Duration kMinAckDelay = 100us;
constexpr Duration kMaxAckDelay = 5ms;
/// Bounds of the REQUEST repeat interval while something needs repair.
constexpr Duration kMinRepairInterval = 5ms;
constexpr Duration kMaxRepairInterval = 100ms;
/// Buffers of a connection that moved no data for this long are released.
constexpr Duration kIdleTrim = 2s;
/// Spec §5: the receive window advances by a third of the 16-bit nonce space.
constexpr std::uint32_t kNonceWindowStep = 21845;
constexpr std::uint32_t kNonceAdvanceThreshold = 2 * kNonceWindowStep;
/// Datagram-queue slots lossy sends leave free for control packets.
constexpr std::size_t kControlMargin = 64;
/// Wire bytes a data packet adds to its message (type, nonce, tag, ack, number).
constexpr std::size_t kDataOverhead = wire::kDataMinSize;

/// Datagram bytes of `count` data packets carrying `message_bytes` in total.
std::uint64_t wire_bytes(std::uint64_t message_bytes, std::uint64_t count) {
    return message_bytes + count * kDataOverhead;
}

}  // namespace

std::uint64_t Connection::in_flight_bytes() const {
    return wire_bytes(send_.outstanding_bytes(), send_.outstanding_count());
}

// --- timers ------------------------------------------------------------------------------------

std::optional<Instant> Connection::next_deadline(const EndpointConfig& cfg) const {
    std::optional<Instant> next;
    auto consider = [&next](Instant t) {
        if (!next || t < *next) next = t;
    };
    if (const auto* st = std::get_if<CookieRequesting>(&state_)) {
        consider(st->request.last_sent + cfg.resend_interval);
    } else if (const auto* hs = std::get_if<HandshakeSending>(&state_)) {
        consider(hs->handshake.last_sent + cfg.resend_interval);
    } else if (const auto* nc = std::get_if<NotConfirmed>(&state_)) {
        consider(nc->handshake.last_sent + cfg.resend_interval);
        consider(request_deadline(cfg));
    } else if (std::holds_alternative<Established>(state_)) {
        consider(request_deadline(cfg));
        consider(last_received_ + cfg.silence_timeout);
        if (pacing_at_) consider(*pacing_at_);
    }
    return next;
}

Instant Connection::request_deadline(const EndpointConfig& cfg) const {
    Instant t = last_request_ + cfg.request_interval;
    if (unacked_received_ > 0) t = std::min(t, first_unacked_at_ + ack_delay());
    // While packets we know of are missing, keep asking for them about once per RTT (a lost
    // REQUEST or a lost resend must not cost a whole second). While our own data is
    // unacknowledged, do the same: the REQUEST's `num` tells the peer where our stream ends,
    // so it can ask for a lost tail (a tail-loss probe).
    const bool missing = data::distance(recv_.start(), recv_.end()) > recv_.stored_count();
    if (missing || send_.outstanding_count() > 0) {
        t = std::min(t, last_request_ + repair_interval());
    }
    return t;
}

void Connection::on_timeout(Services& s, Instant now) {
    const auto& cfg = s.config;
    auto temp_due = [&](auto& temp) {
        if (temp.last_sent + cfg.resend_interval > now) return;
        if (temp.sends >= cfg.max_handshake_sends) {
            close(s, now, CloseReason::kTimedOut);
            return;
        }
        send_temp(s, now);
    };
    if (auto* st = std::get_if<CookieRequesting>(&state_)) {
        temp_due(st->request);
        return;
    }
    if (auto* hs = std::get_if<HandshakeSending>(&state_)) {
        temp_due(hs->handshake);
        return;
    }
    if (auto* nc = std::get_if<NotConfirmed>(&state_)) {
        temp_due(nc->handshake);
        if (closed()) return;
    }
    if (std::holds_alternative<Established>(state_) &&
        last_received_ + cfg.silence_timeout <= now) {
        close(s, now, CloseReason::kPeerSilent);
        return;
    }
    if (session() != nullptr && request_deadline(cfg) <= now) send_request(s, now);
    if (pacing_at_ && *pacing_at_ <= now) {
        pacing_at_.reset();
        s.out.wants_to_send(id_);
    }
}

// --- sealing and sending -----------------------------------------------------------------------

std::size_t Connection::seal_data(Session& ses, std::uint32_t number,
                                  std::span<const std::uint8_t> message,
                                  std::span<std::uint8_t> out) {
    std::array<std::uint8_t, wire::kMaxDataPlainSize> plain{};
    const std::size_t n = wire::encode_data_plain(recv_.start(), number, message, plain);
    const std::size_t total = wire::kDataHeaderSize + wire::kMacSize + n;
    if (n == 0 || out.size() < total) return 0;
    wire::encode_data_header(ses.send_nonce.low16(), out.first<wire::kDataHeaderSize>());
    if (!crypto::seal(ses.key, ses.send_nonce, std::span<const std::uint8_t>(plain).first(n),
                      out.subspan(wire::kDataHeaderSize, wire::kMacSize + n))) {
        return 0;
    }
    ses.send_nonce.increment();
    ++stats_.packets_sent;
    unacked_received_ = 0;  // every data packet carries our cumulative ack
    return total;
}

void Connection::transmit_data(Services& s, std::uint32_t number,
                               std::span<const std::uint8_t> message) {
    Session* ses = session();
    if (ses == nullptr) return;
    std::array<std::uint8_t, wire::kMaxPacketSize> packet{};
    const std::size_t n = seal_data(*ses, number, message, packet);
    if (n > 0) s.out.transmit(address_, std::span<const std::uint8_t>(packet).first(n));
}

void Connection::send_request(Services& s, Instant now) {
    std::array<std::uint8_t, wire::kMaxMessageSize> message{};
    // Numbers past the highest one received are probably still in flight: ask for them only
    // once nothing new has arrived for a repair interval (then they are a lost tail).
    const bool tail_quiet = now - last_lossless_at_ >= repair_interval();
    const std::uint32_t limit = tail_quiet ? recv_.end() : highest_received_end_;
    const std::size_t n = recv_.encode_request(message, limit);
    transmit_data(s, send_.end(), std::span<const std::uint8_t>(message).first(n));
    last_request_ = now;
    // Time the repair of the head-of-line hole (named by this REQUEST when it is missing).
    if (recv_.start() != limit && !recv_.contains(recv_.start())) {
        repair_probe_ = recv_.start();
        repair_probe_sent_ = now;
    }
    ++stats_.requests_sent;
    // The REQUEST timer doubles as the idle timer: give back buffer memory nobody uses.
    if (send_.held_count() == 0 && now - last_lossless_at_ > kIdleTrim) {
        send_.trim();
        cc_.trim(now);
    }
    if (recv_.stored_count() == 0) recv_.trim();
}

void Connection::send_kill(Services& s, Instant /*now*/) {
    const std::array<std::uint8_t, 1> kill{wire::kIdKill};
    transmit_data(s, send_.end(), kill);
}

std::size_t Connection::produce(Services& /*s*/, Instant now, std::span<std::uint8_t> buffer,
                                std::optional<Instant>& retry_at) {
    auto* est = std::get_if<Established>(&state_);
    if (est == nullptr) return 0;
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
    const std::size_t n = seal_data(est->session, *next, entry->message, buffer);
    if (n == 0) return 0;
    if (entry->send_count == 0) {
        ++stats_.lossless_sent;
    } else {
        ++stats_.retransmissions;
    }
    send_.mark_sent(*next, now);
    cc_.on_packet_sent(now, n);
    return n;
}

Result<std::uint32_t> Connection::send_lossless(Services& s, Instant /*now*/,
                                                std::span<const std::uint8_t> message) {
    if (!std::holds_alternative<Established>(state_)) return tl::unexpected(Error::kWrongStatus);
    if (message.empty() || message.size() > wire::kMaxMessageSize ||
        wire::classify_id(message[0]) != wire::IdClass::kLossless) {
        return tl::unexpected(Error::kInvalidMessage);
    }
    auto number = send_.push(message);
    if (!number) {
        want_writable_ = true;
        return tl::unexpected(Error::kWouldBlock);
    }
    s.out.wants_to_send(id_);
    return *number;
}

Result<void> Connection::send_lossy(Services& s, Instant /*now*/,
                                    std::span<const std::uint8_t> message) {
    if (!std::holds_alternative<Established>(state_)) return tl::unexpected(Error::kWrongStatus);
    if (message.empty() || message.size() > wire::kMaxMessageSize ||
        wire::classify_id(message[0]) != wire::IdClass::kLossy) {
        return tl::unexpected(Error::kInvalidMessage);
    }
    // Lossy data bypasses the congestion window but not the bounded datagram queue; keep a
    // margin so REQUEST and KILL packets always find room.
    if (s.out.transmit_room() <= kControlMargin) return tl::unexpected(Error::kWouldBlock);
    transmit_data(s, send_.end(), message);
    ++stats_.lossy_sent;
    return {};
}

std::size_t Connection::send_capacity() const {
    if (!std::holds_alternative<Established>(state_)) return 0;
    if (send_.free_slots() == 0) return 0;
    return std::min<std::size_t>(send_.free_bytes(), send_.max_bytes());
}

std::size_t Connection::read_lossless(Services& s, Instant now, std::span<std::uint8_t> out) {
    auto message = recv_.pop_ready();
    if (!message) {
        readable_notified_ = false;
        return 0;
    }
    const std::size_t n = std::min(message->size(), out.size());
    std::copy_n(message->begin(), n, out.begin());
    ++stats_.lossless_delivered;
    stats_.bytes_delivered += n;
    // Reading frees receive space: count it like a new packet for the ack schedule, so the
    // sender learns about the freed window soon. An application reading a long in-order run
    // (a repaired hole releases hundreds of messages) would otherwise send a REQUEST every
    // few reads; acknowledge when it has read what was ready, or every kAckEveryReads.
    if (unacked_received_++ == 0) first_unacked_at_ = now;
    const bool drained = !recv_.contains(recv_.start());
    if (session() != nullptr && (unacked_received_ >= kAckEveryReads ||
                                 (drained && unacked_received_ >= kAckEveryPackets))) {
        send_request(s, now);
    }
    return n;
}

std::size_t Connection::read_lossy(std::span<std::uint8_t> out) {
    const std::size_t n = lossy_.pop(out);
    if (n > 0) {
        ++stats_.lossy_received;
    } else {
        readable_notified_ = false;  // told again when the next message arrives
    }
    return n;
}

// --- receiving ---------------------------------------------------------------------------------

void Connection::on_data(Services& s, Instant now, std::span<const std::uint8_t> bytes) {
    Session* ses = session();
    if (ses == nullptr) {
        s.drop(DropReason::kWrongStatus);
        return;
    }
    auto packet = wire::decode_data_packet(bytes);
    if (!packet) {
        s.drop(DropReason::kBadLength);
        return;
    }
    // Rebuild the full nonce from its low 16 bits (spec §5).
    const auto diff = static_cast<std::uint16_t>(packet->nonce_low - ses->recv_nonce.low16());
    const std::uint64_t counter = ses->recv_counter + diff;
    switch (ses->replay.check(counter)) {
        case data::ReplayWindow::Verdict::kFresh:
            break;
        case data::ReplayWindow::Verdict::kDuplicate:
            s.drop(DropReason::kReplayedData);
            return;
        case data::ReplayWindow::Verdict::kTooOld:
            s.drop(DropReason::kStaleNonce);
            return;
    }
    crypto::Nonce nonce = ses->recv_nonce;
    nonce.add(diff);
    std::array<std::uint8_t, wire::kMaxDataPlainSize> plain_buf{};
    const auto plain_span =
        std::span<std::uint8_t>(plain_buf).first(packet->encrypted.size() - wire::kMacSize);
    if (!crypto::open(ses->key, nonce, packet->encrypted, plain_span)) {
        s.drop(DropReason::kBadTag);
        return;
    }
    ses->replay.set(counter);
    if (diff > kNonceAdvanceThreshold) {
        ses->recv_nonce.add(kNonceWindowStep);
        ses->recv_counter += kNonceWindowStep;
    }
    auto plain = wire::decode_data_plain(plain_span);
    if (!plain) {
        s.drop(plain.error() == wire::DecodeError::kOnlyPadding ? DropReason::kOnlyPadding
                                                                : DropReason::kBadLength);
        return;
    }
    last_received_ = now;
    ++stats_.packets_received;
    handle_ack(s, now, plain->buffer_start);
    const std::uint8_t id = plain->message[0];
    if (id == wire::kIdKill) {
        // The peer tore the session down; no KILL goes back.
        const Status from = status();
        state_ = Closed{CloseReason::kKilledByPeer};
        session_keys_.reset();
        set_status(s, from, Status::kClosed, CloseReason::kKilledByPeer);
        return;
    }
    if (std::holds_alternative<NotConfirmed>(state_)) establish(s, now);
    handle_message(s, now, plain->packet_number, plain->buffer_start, plain->message);
}

void Connection::establish(Services& s, Instant now) {
    auto& nc = std::get<NotConfirmed>(state_);
    Established est{std::move(nc.session)};
    state_ = std::move(est);
    session_keys_.reset();  // the session secret is no longer needed: wipe it
    last_received_ = now;
    set_status(s, Status::kNotConfirmed, Status::kEstablished);
    // Confirm the peer at once: if our earlier REQUEST reached it before our handshake (and was
    // dropped), it would otherwise wait for the next periodic one.
    send_request(s, now);
}

void Connection::handle_ack(Services& s, Instant now, std::uint32_t ack) {
    const auto before = send_.start();
    const auto r = send_.ack_up_to(ack, now);
    if (r.status == data::AckStatus::kOutOfRange) {
        s.drop(DropReason::kBadAck);  // ignore the ack, keep the message (spec §8 item 8)
        return;
    }
    if (r.status != data::AckStatus::kAccepted) return;
    if (r.rtt_sample) rtt_.on_sample(*r.rtt_sample);
    if (r.released_count > 0) {
        cc_.on_ack(now, wire_bytes(r.released_bytes, r.released_count), rtt_);
    }
    if (send_.start() != before) {
        Acked e;
        e.connection = id_;
        e.peer_key = peer_key_;
        e.user_tag = user_tag_;
        e.acked_up_to = send_.start();
        s.out.event(e);
        after_send_progress(s);
    }
}

void Connection::after_send_progress(Services& s) {
    if (want_writable_ && send_capacity() > 0) {
        want_writable_ = false;
        Writable e;
        e.connection = id_;
        e.peer_key = peer_key_;
        e.user_tag = user_tag_;
        s.out.event(e);
    }
    if (send_.pending_send_count() > 0) s.out.wants_to_send(id_);
}

void Connection::handle_request(Services& s, Instant now, std::uint32_t ack,
                                std::span<const std::uint8_t> message) {
    ++stats_.requests_received;
    // A packet is resent only if its last send is older than the controller's guard (about
    // one recent RTT plus the ack gap), so a REQUEST written before a resend arrived does not
    // trigger a duplicate or a false loss signal.
    const Duration guard = cc_.resend_guard();
    auto r = send_.apply_request(message, ack, now, guard);
    if (!r) {
        s.drop(DropReason::kBadRequest);
        return;
    }
    if (r->rtt_sample) rtt_.on_sample(*r->rtt_sample);
    if (r->acked_count > 0) {
        cc_.on_ack(now, wire_bytes(r->acked_bytes, r->acked_count), rtt_);
    }
    if (r->marked_count > 0 && r->newest_marked_sent) {
        cc_.on_loss(now, wire_bytes(r->marked_bytes, r->marked_count), *r->newest_marked_sent);
    }
    after_send_progress(s);
}

void Connection::handle_message(Services& s, Instant now, std::uint32_t number, std::uint32_t ack,
                                std::span<const std::uint8_t> message) {
    switch (wire::classify_id(message[0])) {
        case wire::IdClass::kRequest:
            handle_request(s, now, ack, message);
            recv_.extend_end(number);
            break;
        case wire::IdClass::kLossless:
            receive_lossless(s, now, number, message);
            break;
        case wire::IdClass::kLossy:
            recv_.extend_end(number);
            if (!lossy_.push(message)) s.drop(DropReason::kLossyQueueFull);
            notify_readable(s);
            break;
        default:
            s.drop(DropReason::kInvalidDataId);
            break;
    }
}

std::optional<Duration> Connection::receiver_rtt() const {
    // Our own samples need our own lossless data; a pure receiver times its repairs instead.
    std::optional<Duration> rtt;
    if (rtt_.has_samples()) rtt = rtt_.srtt();
    if (repair_rtt_.has_samples())
        rtt = std::min(rtt.value_or(Duration::max()), repair_rtt_.srtt());
    return rtt;
}

Duration Connection::repair_interval() const {
    return std::clamp<Duration>(receiver_rtt().value_or(rtt_.srtt()), kMinRepairInterval,
                                kMaxRepairInterval);
}

Duration Connection::ack_delay() const {
    const auto rtt = receiver_rtt();
    return rtt ? std::clamp<Duration>(*rtt / 4, kMinAckDelay, kMaxAckDelay) : kMaxAckDelay;
}

void Connection::receive_lossless(Services& s, Instant now, std::uint32_t number,
                                  std::span<const std::uint8_t> message) {
    const bool gap = data::before(highest_received_end_, number);
    switch (recv_.accept(number, message)) {
        case data::AcceptResult::kAccepted:
            break;
        case data::AcceptResult::kDuplicate:
            s.drop(DropReason::kDuplicateLossless);
            return;
        case data::AcceptResult::kOutOfWindow:
            s.drop(DropReason::kLosslessOutOfWindow);
            return;
        case data::AcceptResult::kOverBudget:
            s.drop(DropReason::kReceiveBufferFull);
            return;
        case data::AcceptResult::kInvalid:
            s.drop(DropReason::kInvalidDataId);
            return;
    }
    if (!data::before(number, highest_received_end_)) highest_received_end_ = number + 1;
    last_lossless_at_ = now;
    if (repair_probe_ && *repair_probe_ == number) {
        // Measured from the latest REQUEST naming it: never longer than the real repair time.
        repair_rtt_.on_sample(now - repair_probe_sent_);
        repair_probe_.reset();
    }
    if (recv_.contains(recv_.start())) notify_readable(s);
    if (unacked_received_++ == 0) first_unacked_at_ = now;
    // A gap (a packet beyond the next expected one) is reported at once, so the sender can
    // repair it; otherwise acknowledge every few packets.
    if (gap || unacked_received_ >= kAckEveryPackets) send_request(s, now);
}

void Connection::notify_readable(Services& s) {
    if (readable_notified_) return;
    readable_notified_ = true;
    Readable e;
    e.connection = id_;
    e.peer_key = peer_key_;
    e.user_tag = user_tag_;
    s.out.event(e);
}

ConnectionInfo Connection::info() const {
    ConnectionInfo i;
    i.status = status();
    i.peer_key = peer_key_;
    i.peer_dht_key = peer_dht_key_;
    i.address = address_;
    if (const auto* st = std::get_if<CookieRequesting>(&state_))
        i.handshake_sends = st->request.sends;
    if (const auto* hs = std::get_if<HandshakeSending>(&state_))
        i.handshake_sends = hs->handshake.sends;
    if (const auto* nc = std::get_if<NotConfirmed>(&state_))
        i.handshake_sends = nc->handshake.sends;
    i.send_buffer_start = send_.start();
    i.send_buffer_end = send_.end();
    i.send_buffered_bytes = static_cast<std::size_t>(send_.buffered_bytes());
    i.recv_buffered_bytes = recv_.stored_bytes();
    i.smoothed_rtt = rtt_.srtt();
    i.congestion_window = cc_.window();
    i.stats = stats_;
    return i;
}

}  // namespace netcrypto::core
