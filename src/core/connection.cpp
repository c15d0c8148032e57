// The status machine of a connection: cookie request → cookie response → handshake →
// confirmation, restarts, and the end of a connection (wire.md §4).
#include "core/connection.hpp"

#include "core/connection_io.hpp"

namespace netcrypto::core {

namespace {

data::StreamLimits stream_limits(const Services& s) {
    return {s.config.send_buffer_bytes, s.config.recv_buffer_bytes, s.config.lossy_queue_messages,
            s.lossy_pool};
}

template <class... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};
// clang 14 has no class template argument deduction for aggregates yet.
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace

OurHalf OurHalf::generate(Rng& rng) {
    OurHalf h{KeyPair::generate(rng), {}};
    h.base_nonce = crypto::Nonce::random(rng);
    return h;
}

Session Session::agree(const OurHalf& ours, const handshake::HandshakeInfo& hs) {
    Session ses;
    (void)ses.key.precompute(hs.peer_session_pk, ours.session_keys.secret_key);
    ses.peer_session_pk = hs.peer_session_pk;
    ses.peer_base_nonce = hs.peer_base_nonce;
    ses.send_nonce = ours.base_nonce;
    ses.recv_nonce = hs.peer_base_nonce;
    ses.recv_counter = 0;
    return ses;
}

Connection::Connection(Services& s, ConnectionId id, Instant now, Peer peer, const Address& address,
                       const crypto::SharedKey& dht_shared)
    : id_(id),
      peer_(std::move(peer)),
      paths_(address),
      state_(make_cookie_requesting(s, OurHalf::generate(s.rng), dht_shared)) {
    announce(s, Status::kCookieRequesting, CloseReason::kNone);
    send_temp(s, now);
}

Connection::Connection(Services& s, ConnectionId id, Instant now,
                       const handshake::HandshakeInfo& hs, const Address& address, Via via,
                       const crypto::SharedKey& long_term_shared)
    : id_(id),
      peer_{hs.peer_long_term_pk, hs.peer_dht_pk, long_term_shared},
      paths_(address),
      state_(make_incoming(s, now, hs)) {
    announce(s, Status::kNotConfirmed, CloseReason::kNone);  // a new connection's first status
    if (via.kind == RouteKind::kUdp) heard(s, now, via);     // relays: with the first data packet
    send_temp(s, now);
    auto& nc = std::get<NotConfirmed>(state_);
    Io io(*this, s, nc.session);
    nc.stream.send_request(io, now);
}

Status Connection::status() const {
    return std::visit(Overloaded{[](const CookieRequesting&) { return Status::kCookieRequesting; },
                                 [](const HandshakeSending&) { return Status::kHandshakeSending; },
                                 [](const NotConfirmed&) { return Status::kNotConfirmed; },
                                 [](const Established&) { return Status::kEstablished; },
                                 [](const Closed&) { return Status::kClosed; }},
                      state_);
}

ExistingView Connection::view() const {
    ExistingView v;
    v.status = status();
    v.peer_dht_pk = peer_.dht_pk;
    if (const auto* nc = std::get_if<NotConfirmed>(&state_)) {
        v.session =
            HandshakeFacts{peer_.dht_pk, nc->session.peer_session_pk, nc->session.peer_base_nonce};
    }
    return v;
}

// --- the transition and its event --------------------------------------------------------------

void Connection::transition(Services& s, State next, CloseReason reason) {
    const Status from = status();
    state_ = std::move(next);
    announce(s, from, reason);
}

void Connection::announce(Services& s, Status from, CloseReason reason) const {
    event(s, StatusChanged{id_, from, status(), reason, peer_.long_term_pk, peer_.dht_pk, address(),
                           user_tag_});
}

void Connection::event(Services& s, const Event& e) const { s.out.event(e); }

// --- building and sending the temp packet ------------------------------------------------------

CookieRequesting Connection::make_cookie_requesting(Services& s, OurHalf ours,
                                                    const crypto::SharedKey& dht_shared) {
    CookieRequesting st{std::move(ours), {}, {}, dht_shared};
    s.rng.fill(st.echo_id);
    st.request.bytes = handshake::create_cookie_request(s.long_term.public_key, s.dht.public_key,
                                                        dht_shared, st.echo_id, s.rng);
    return st;
}

handshake::HandshakeBytes Connection::build_handshake(Services& s, Instant now, const OurHalf& ours,
                                                      const wire::Cookie& peer_cookie) {
    handshake::HandshakeParams p;
    p.peer_cookie = &peer_cookie;
    p.base_nonce = ours.base_nonce;
    p.session_pk = ours.session_keys.public_key;
    // Our cookie about the peer, which it must echo if it answers with its own handshake.
    p.other_cookie = s.jar.issue(now, peer_.long_term_pk, peer_.dht_pk, s.rng);
    return handshake::create_handshake(p, peer_.long_term_shared, s.rng);
}

// --- paths (route.hpp) -------------------------------------------------------------------------

bool Connection::send_over_route(Services& s, std::span<const std::uint8_t> bytes, bool handshake) {
    Delivery d{has_address(paths_.udp), has_address(paths_.udp)};
    if (relayed(s)) d = deliver_relayed(s, bytes, handshake);
    if (d.udp) s.out.transmit(paths_.udp, bytes);
    return d.sent;
}

Connection::Delivery Connection::deliver_relayed(Services& s, std::span<const std::uint8_t> packet,
                                                 bool handshake) {
    const bool relayed = s.out.relay_send(peer_.dht_pk, packet);
    Delivery d{false, relayed};
    if (!has_address(paths_.udp)) return d;
    // Handshake packets always try UDP as well; so does the first packet after each probe
    // interval (c-toxcore probes only with packets under 96 bytes, which a bulk stream may not
    // send for a long time), and anything the relays could not take.
    if (handshake || !relayed) {
        d.udp = true;
    } else if (paths_.probe_due) {
        paths_.probe_due = false;
        d.udp = true;
    }
    d.sent = d.sent || d.udp;
    return d;
}

void Connection::heard(Services& s, Instant now, Via via) {
    if (via.kind == RouteKind::kUdp) {
        paths_.udp_heard = now;
        paths_.direct = true;
        if (paths_.reported != RouteKind::kUdp) report_route(s, RouteKind::kUdp, {});
        return;
    }
    if (paths_.direct) return;  // UDP works: relay copies change nothing
    if (paths_.reported != RouteKind::kTcpRelay || paths_.reported_relay != via.relay) {
        report_route(s, RouteKind::kTcpRelay, via.relay);
    }
}

void Connection::report_route(Services& s, RouteKind kind, RelayId relay) {
    // Only a connection with a session has a path worth reporting; before that the change is
    // reported with the first packet after the session exists. Without relays there is only
    // one kind of path: nothing to report.
    if (!s.relays_added) return;
    if (!std::holds_alternative<NotConfirmed>(state_) &&
        !std::holds_alternative<Established>(state_)) {
        return;
    }
    paths_.reported = kind;
    paths_.reported_relay = relay;
    event(s, RouteChanged{id_, peer_.long_term_pk, kind,
                          kind == RouteKind::kTcpRelay ? relay : RelayId{},
                          kind == RouteKind::kUdp ? paths_.udp : Address{}, user_tag_});
}

void Connection::send_temp(Services& s, Instant now) {
    auto send = [&](auto& temp, bool is_handshake) {
        const bool sent = send_over_route(s, temp.bytes, true);
        temp.last_sent = now;
        // A packet no path took (relays only, none connected yet) is retried on schedule but
        // does not count towards max_handshake_sends (as in c-toxcore).
        if (!sent) return;
        ++temp.sends;
        ++stats_.packets_sent;
        if (is_handshake) {
            ++stats_.handshakes_sent;
        } else {
            ++stats_.cookie_requests_sent;
        }
    };
    std::visit(Overloaded{[&](CookieRequesting& st) { send(st.request, false); },
                          [&](HandshakeSending& st) { send(st.handshake, true); },
                          [&](NotConfirmed& st) { send(st.handshake, true); }, [](auto&) {}},
               state_);
}

// --- the handshake phase -----------------------------------------------------------------------

bool Connection::on_cookie_response(Services& s, Instant now, std::span<const std::uint8_t> bytes) {
    auto* st = std::get_if<CookieRequesting>(&state_);
    if (st == nullptr) {
        s.drop(DropReason::kWrongStatus);  // e.g. a late duplicate after we moved on
        return false;
    }
    auto cookie = handshake::consume_cookie_response(bytes, st->dht_shared, st->echo_id);
    if (!cookie) {
        s.drop(cookie.error());
        return false;
    }
    HandshakeSending next{std::move(st->ours), {}};
    next.handshake.bytes = build_handshake(s, now, next.ours, *cookie);
    transition(s, std::move(next));  // the send counter restarts with the new temp packet
    send_temp(s, now);
    return true;
}

NotConfirmed Connection::not_confirmed(const Services& s, OurHalf ours,
                                       const TempPacket<wire::kHandshakeSize>& handshake,
                                       const handshake::HandshakeInfo& hs) {
    Session session = Session::agree(ours, hs);
    return NotConfirmed{std::move(ours), handshake, std::move(session),
                        data::Stream(stream_limits(s))};
}

NotConfirmed Connection::make_incoming(Services& s, Instant now,
                                       const handshake::HandshakeInfo& hs) {
    OurHalf ours = OurHalf::generate(s.rng);
    TempPacket<wire::kHandshakeSize> temp;
    temp.bytes = build_handshake(s, now, ours, hs.other_cookie);
    return not_confirmed(s, std::move(ours), temp, hs);
}

void Connection::adopt(Services& s, Instant now, const handshake::HandshakeInfo& hs,
                       std::optional<Address> new_address) {
    bool answer = false;  // send our (new) handshake at once
    if (new_address) {
        paths_.udp = *new_address;  // path B: the peer reached us from another address
        answer = true;
    }
    if (auto* cr = std::get_if<CookieRequesting>(&state_)) {
        // Handshake before the cookie response: take the peer's cookie from it, answer with our
        // handshake (HandshakeSending), and with the session known go on to NotConfirmed.
        HandshakeSending next{std::move(cr->ours), {}};
        next.handshake.bytes = build_handshake(s, now, next.ours, hs.other_cookie);
        transition(s, std::move(next));
        answer = true;
    } else if (answer) {
        // Path B: answer the new address with a new handshake built from the peer's cookie
        // (the send count goes on, as in c-toxcore).
        auto& hsend = std::get<HandshakeSending>(state_);
        hsend.handshake.bytes = build_handshake(s, now, hsend.ours, hs.other_cookie);
    }
    auto& hsend = std::get<HandshakeSending>(state_);
    transition(s, not_confirmed(s, std::move(hsend.ours), hsend.handshake, hs));
    if (answer) send_temp(s, now);
    auto& nc = std::get<NotConfirmed>(state_);
    Io io(*this, s, nc.session);
    nc.stream.send_request(io, now);
}

void Connection::rekey(const handshake::HandshakeInfo& hs) {
    // The handshake we keep resending still carries our unchanged session key and nonce.
    auto& nc = std::get<NotConfirmed>(state_);
    nc.session = Session::agree(nc.ours, hs);
}

void Connection::restart_with_dht_key(Services& s, Instant now, const PublicKey& new_dht_key) {
    crypto::SharedKey dht_shared;
    if (!dht_shared.precompute(new_dht_key, s.dht.secret_key)) {
        s.drop(DropReason::kInvalidKey);  // nothing is reported unless the new key is usable
        return;
    }
    event(s, DhtKeyChanged{id_, peer_.long_term_pk, new_dht_key, address(), user_tag_});
    peer_.dht_pk = new_dht_key;
    // Not established (decide_handshake restarts only before that), so no KILL.
    transition(s, make_cookie_requesting(s, OurHalf::generate(s.rng), dht_shared),
               CloseReason::kReplaced);
    send_temp(s, now);
}

void Connection::close(Services& s, Instant /*now*/, CloseReason reason) {
    if (closed()) return;
    // KILL whenever a session exists (NotConfirmed too, unlike c-toxcore, which only sends it
    // from ESTABLISHED but honours it in NOT_CONFIRMED): the peer may already be Established
    // (our last handshake or its first data packet got through, our data did not), and would
    // otherwise hold a dead connection until its silence timeout.
    auto kill = [&](Session& ses, data::Stream& stream) {
        const std::array<std::uint8_t, 1> message{wire::kIdKill};
        Io io(*this, s, ses);
        stream.send_now(io, message);
    };
    if (auto* nc = std::get_if<NotConfirmed>(&state_)) kill(nc->session, nc->stream);
    if (auto* est = std::get_if<Established>(&state_)) kill(est->session, est->stream);
    transition(s, Closed{reason}, reason);
}

}  // namespace netcrypto::core
