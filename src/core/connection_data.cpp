// A connection's session in use: sealing and opening data packets (wire.md §2.5, §5),
// confirmation, KILL, timers, and the application's data calls, which go to the data stream.
#include <algorithm>

#include "core/connection.hpp"
#include "core/connection_io.hpp"

namespace netcrypto::core {

namespace {

/// wire.md §5: the receive window advances by a third of the 16-bit nonce space.
constexpr std::uint32_t kNonceWindowStep = 21845;
constexpr std::uint32_t kNonceAdvanceThreshold = 2 * kNonceWindowStep;

/// The session and stream of a connection that has them (NotConfirmed, Established).
struct Live {
    Session* session = nullptr;
    data::Stream* stream = nullptr;
};

Live live(State& state) {
    if (auto* nc = std::get_if<NotConfirmed>(&state)) return {&nc->session, &nc->stream};
    if (auto* est = std::get_if<Established>(&state)) return {&est->session, &est->stream};
    return {};
}

const data::Stream* live_stream(const State& state) {
    if (const auto* nc = std::get_if<NotConfirmed>(&state)) return &nc->stream;
    if (const auto* est = std::get_if<Established>(&state)) return &est->stream;
    return nullptr;
}

bool valid_message(std::span<const std::uint8_t> message, wire::IdClass kind) {
    return !message.empty() && message.size() <= wire::kMaxMessageSize &&
           wire::classify_id(message[0]) == kind;
}

}  // namespace

void Connection::notify(Services& s, Event::Kind kind, std::uint32_t acked_up_to) const {
    switch (kind) {
        case Event::Kind::kReadable:
            event(s, Readable{id_, peer_.long_term_pk, user_tag_});
            break;
        case Event::Kind::kWritable:
            event(s, Writable{id_, peer_.long_term_pk, user_tag_});
            break;
        default:
            event(s, Acked{id_, peer_.long_term_pk, user_tag_, acked_up_to});
            break;
    }
}

// --- timers ------------------------------------------------------------------------------------

std::optional<Instant> Connection::next_deadline(const EndpointConfig& cfg) const {
    return std::visit(
        [&cfg](const auto& st) -> std::optional<Instant> {
            using T = std::decay_t<decltype(st)>;
            if constexpr (std::is_same_v<T, CookieRequesting>) {
                return st.request.last_sent + cfg.resend_interval;
            } else if constexpr (std::is_same_v<T, HandshakeSending>) {
                return st.handshake.last_sent + cfg.resend_interval;
            } else if constexpr (std::is_same_v<T, NotConfirmed>) {
                const Instant resend = st.handshake.last_sent + cfg.resend_interval;
                return std::min(resend, st.stream.next_deadline(cfg).value_or(resend));
            } else if constexpr (std::is_same_v<T, Established>) {
                const Instant silence = st.last_received + cfg.silence_timeout;
                return std::min(silence, st.stream.next_deadline(cfg).value_or(silence));
            } else {
                return std::nullopt;
            }
        },
        state_);
}

void Connection::on_timeout(Services& s, Instant now) {
    const auto& cfg = s.config;
    // The direct state (route.hpp) is refreshed on every timer: at least once per resend or
    // REQUEST interval, so UDP silence moves packets to the relays within about a second of
    // udp_direct_timeout.
    if (paths_.direct && (!paths_.udp_heard || *paths_.udp_heard + cfg.udp_direct_timeout <= now)) {
        paths_.direct = false;
    }
    if (!paths_.direct && paths_.udp_probed + cfg.udp_probe_interval <= now) {
        paths_.udp_probed = now;
        paths_.probe_due = true;
    }
    // The temp packet: resent every resend_interval, the attempt ends after the last send.
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
        const std::uint32_t sends = nc->handshake.sends;
        temp_due(nc->handshake);
        if (closed()) return;
        if (nc->handshake.sends != sends) {
            // With each handshake resend also a REQUEST: the data packet that confirms the
            // session to the peer goes out once per resend_interval, whatever the (idle)
            // request_interval.
            Io io(*this, s, nc->session);
            nc->stream.send_request(io, now);
        }
    }
    if (auto* est = std::get_if<Established>(&state_);
        est != nullptr && est->last_received + cfg.silence_timeout <= now) {
        close(s, now, CloseReason::kPeerSilent);
        return;
    }
    const Live l = live(state_);
    if (l.stream == nullptr) return;
    Io io(*this, s, *l.session);
    l.stream->on_timeout(io, now, cfg);
}

// --- sealing and opening -----------------------------------------------------------------------

std::size_t Connection::seal(Session& ses, std::span<const std::uint8_t> plain,
                             std::span<std::uint8_t> out) {
    const std::size_t total = wire::kDataHeaderSize + wire::kMacSize + plain.size();
    if (plain.empty() || out.size() < total) return 0;
    wire::encode_data_header(ses.send_nonce.low16(), out.first<wire::kDataHeaderSize>());
    if (!crypto::seal(ses.key, ses.send_nonce, plain,
                      out.subspan(wire::kDataHeaderSize, wire::kMacSize + plain.size()))) {
        return 0;
    }
    ses.send_nonce.increment();
    ++stats_.packets_sent;
    return total;
}

std::size_t Connection::open(Services& s, Session& ses, std::span<const std::uint8_t> bytes,
                             std::span<std::uint8_t> plain) {
    auto packet = wire::decode_data_packet(bytes);
    if (!packet) {
        s.drop(DropReason::kBadLength);
        return 0;
    }
    // Rebuild the full nonce from its low 16 bits (wire.md §5).
    const auto diff = static_cast<std::uint16_t>(packet->nonce_low - ses.recv_nonce.low16());
    const std::uint64_t counter = ses.recv_counter + diff;
    ses.replay.prefetch(counter);
    switch (ses.replay.check(counter)) {
        case data::ReplayWindow::Verdict::kFresh:
            break;
        case data::ReplayWindow::Verdict::kDuplicate:
            s.drop(DropReason::kReplayedData);
            return 0;
        case data::ReplayWindow::Verdict::kTooOld:
            s.drop(DropReason::kStaleNonce);
            return 0;
    }
    crypto::Nonce nonce = ses.recv_nonce;
    nonce.add(diff);
    const std::size_t n = packet->encrypted.size() - wire::kMacSize;
    if (!crypto::open(ses.key, nonce, packet->encrypted, plain.first(n))) {
        s.drop(DropReason::kBadTag);
        return 0;
    }
    ses.replay.set(counter);
    if (diff > kNonceAdvanceThreshold) {
        ses.recv_nonce.add(kNonceWindowStep);
        ses.recv_counter += kNonceWindowStep;
    }
    return n;
}

// --- receiving ---------------------------------------------------------------------------------

bool Connection::on_data(Services& s, Instant now, std::span<const std::uint8_t> bytes) {
    const Live l = live(state_);
    if (l.session == nullptr) {
        s.drop(DropReason::kWrongStatus);
        return false;
    }
    l.stream->prefetch_receive();  // loads overlap the decryption
    // Not zeroed (1.4 KB per packet): open() writes the first n bytes, or zeroes them on failure,
    // and nothing reads past n.
    std::array<std::uint8_t, wire::kMaxDataPlainSize> plain_buf;  // NOLINT(*-member-init)
    const std::size_t n = open(s, *l.session, bytes, plain_buf);
    if (n == 0) return false;
    auto plain = wire::decode_data_plain(std::span<const std::uint8_t>(plain_buf).first(n));
    if (!plain) {
        s.drop(plain.error() == wire::DecodeError::kOnlyPadding ? DropReason::kOnlyPadding
                                                                : DropReason::kBadLength);
        return false;
    }
    if (auto* est = std::get_if<Established>(&state_)) est->last_received = now;
    ++stats_.packets_received;
    {
        Io io(*this, s, *l.session);
        l.stream->on_ack(io, now, plain->buffer_start);
    }
    if (plain->message[0] == wire::kIdKill) {
        transition(s, Closed{CloseReason::kKilledByPeer}, CloseReason::kKilledByPeer);
        return true;  // the peer tore the session down; no KILL goes back
    }
    if (std::holds_alternative<NotConfirmed>(state_)) establish(s, now);
    auto& est = std::get<Established>(state_);
    Io io(*this, s, est.session);
    est.stream.on_message(io, now, plain->packet_number, plain->buffer_start, plain->message);
    return true;
}

void Connection::establish(Services& s, Instant now) {
    auto& nc = std::get<NotConfirmed>(state_);
    // Our half of the session (its secret) is no longer needed: destroying NotConfirmed
    // wipes it, and the temp packet goes with it.
    transition(s, Established{std::move(nc.session), std::move(nc.stream), now});
    // Confirm the peer at once: if our earlier REQUEST reached it before our handshake (and was
    // dropped), it would otherwise wait for the next periodic one.
    auto& est = std::get<Established>(state_);
    // The peer may still be NotConfirmed, waiting for a data packet of ours, for as long as its
    // handshake attempt lasts: until then idle REQUESTs keep the handshake's resend pace.
    est.stream.keep_requests_fast(now + s.config.resend_interval * s.config.max_handshake_sends,
                                  s.config.resend_interval);
    Io io(*this, s, est.session);
    est.stream.send_request(io, now);
}

// --- application data --------------------------------------------------------------------------

std::size_t Connection::produce(Services& s, Instant now, std::span<std::uint8_t> buffer,
                                std::optional<Instant>& retry_at) {
    auto* est = std::get_if<Established>(&state_);
    if (est == nullptr) return 0;
    Io io(*this, s, est->session);
    est->stream.set_relayed(relayed(s));
    std::array<std::uint8_t, wire::kMaxDataPlainSize> plain{};
    const std::size_t n = est->stream.produce(io, now, plain, retry_at);
    if (n == 0) return 0;
    return seal(est->session, std::span<const std::uint8_t>(plain).first(n), buffer);
}

Result<std::uint32_t> Connection::send_lossless(Services& s, Instant /*now*/,
                                                std::span<const std::uint8_t> message) {
    auto* est = std::get_if<Established>(&state_);
    if (est == nullptr) return tl::unexpected(Error::kWrongStatus);
    if (!valid_message(message, wire::IdClass::kLossless)) {
        return tl::unexpected(Error::kInvalidMessage);
    }
    Io io(*this, s, est->session);
    return est->stream.queue_lossless(io, message);
}

Result<void> Connection::send_lossy(Services& s, Instant /*now*/,
                                    std::span<const std::uint8_t> message) {
    auto* est = std::get_if<Established>(&state_);
    if (est == nullptr) return tl::unexpected(Error::kWrongStatus);
    if (!valid_message(message, wire::IdClass::kLossy)) {
        return tl::unexpected(Error::kInvalidMessage);
    }
    Io io(*this, s, est->session);
    return est->stream.send_lossy(io, message);
}

std::size_t Connection::send_capacity() const {
    const auto* est = std::get_if<Established>(&state_);
    return est != nullptr ? est->stream.send_capacity() : 0;
}

std::size_t Connection::read_lossless(Services& s, Instant now, std::span<std::uint8_t> out) {
    const Live l = live(state_);
    if (l.stream == nullptr) return 0;
    Io io(*this, s, *l.session);
    return l.stream->read_lossless(io, now, out);
}

std::size_t Connection::read_lossy(Services& s, std::span<std::uint8_t> out) {
    const Live l = live(state_);
    if (l.stream == nullptr) return 0;
    Io io(*this, s, *l.session);
    return l.stream->read_lossy(io, out);
}

ConnectionInfo Connection::info() const {
    ConnectionInfo i;
    i.status = status();
    i.peer_key = peer_.long_term_pk;
    i.peer_dht_key = peer_.dht_pk;
    i.address = address();
    i.route = paths_.reported;
    i.relay = paths_.reported_relay;
    i.direct = paths_.direct;
    if (const auto* st = std::get_if<CookieRequesting>(&state_)) {
        i.handshake_sends = st->request.sends;
    }
    if (const auto* hs = std::get_if<HandshakeSending>(&state_)) {
        i.handshake_sends = hs->handshake.sends;
    }
    if (const auto* nc = std::get_if<NotConfirmed>(&state_)) {
        i.handshake_sends = nc->handshake.sends;
    }
    if (const data::Stream* stream = live_stream(state_)) stream->describe(i);
    i.stats = stats_;
    return i;
}

}  // namespace netcrypto::core
