// Handshake phase of a connection: cookie request → cookie response → handshake → confirmation.
#include "core/connection.hpp"

namespace netcrypto::core {

namespace {

template <class... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};
// clang 14 has no class template argument deduction for aggregates yet.
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace

Connection::Connection(Services& s, ConnectionId id, Instant now, const PublicKey& peer_key,
                       const PublicKey& peer_dht_key, const Address& address,
                       const crypto::SharedKey& real_shared, const crypto::SharedKey& dht_shared)
    : id_(id),
      peer_key_(peer_key),
      peer_dht_key_(peer_dht_key),
      address_(address),
      real_shared_(real_shared),
      session_keys_(KeyPair::generate(s.rng)),
      base_nonce_(crypto::Nonce::random(s.rng)),
      state_(CookieRequesting{}),
      send_(s.config.send_buffer_bytes),
      recv_(s.config.recv_buffer_bytes),
      lossy_(s.config.lossy_queue_messages) {
    auto& st = std::get<CookieRequesting>(state_);
    s.rng.fill(st.echo_id);
    st.dht_shared = dht_shared;
    st.request.bytes = handshake::create_cookie_request(s.real.public_key, s.dht.public_key,
                                                        dht_shared, st.echo_id, s.rng);
    set_status(s, Status::kCookieRequesting, Status::kCookieRequesting);
    send_temp(s, now);
}

Connection::Connection(Services& s, ConnectionId id, Instant now,
                       const handshake::HandshakeInfo& hs, const Address& address,
                       const crypto::SharedKey& real_shared)
    : id_(id),
      peer_key_(hs.peer_real_pk),
      peer_dht_key_(hs.peer_dht_pk),
      address_(address),
      real_shared_(real_shared),
      session_keys_(KeyPair::generate(s.rng)),
      base_nonce_(crypto::Nonce::random(s.rng)),
      state_(Closed{}),
      send_(s.config.send_buffer_bytes),
      recv_(s.config.recv_buffer_bytes),
      lossy_(s.config.lossy_queue_messages) {
    TempPacket<wire::kHandshakeSize> temp;
    temp.bytes = build_handshake(s, now, hs.other_cookie);
    enter_not_confirmed(s, now, hs, temp);
    send_temp(s, now);
    send_request(s, now);
}

Status Connection::status() const {
    return std::visit(Overloaded{[](const CookieRequesting&) { return Status::kCookieRequesting; },
                                 [](const HandshakeSending&) { return Status::kHandshakeSending; },
                                 [](const NotConfirmed&) { return Status::kNotConfirmed; },
                                 [](const Established&) { return Status::kEstablished; },
                                 [](const Closed&) { return Status::kClosed; }},
                      state_);
}

CloseReason Connection::close_reason() const {
    const auto* c = std::get_if<Closed>(&state_);
    return c != nullptr ? c->reason : CloseReason::kNone;
}

void Connection::set_status(Services& s, Status from, Status to, CloseReason reason) {
    StatusChanged e;
    e.connection = id_;
    e.from = from;
    e.to = to;
    e.reason = reason;
    e.peer_key = peer_key_;
    e.peer_dht_key = peer_dht_key_;
    e.address = address_;
    e.user_tag = user_tag_;
    s.out.event(e);
}

Session* Connection::session() {
    if (auto* nc = std::get_if<NotConfirmed>(&state_)) return &nc->session;
    if (auto* est = std::get_if<Established>(&state_)) return &est->session;
    return nullptr;
}

const Session* Connection::session() const {
    if (const auto* nc = std::get_if<NotConfirmed>(&state_)) return &nc->session;
    if (const auto* est = std::get_if<Established>(&state_)) return &est->session;
    return nullptr;
}

// --- sending the temp packet -------------------------------------------------------------------

void Connection::send_temp(Services& s, Instant now) {
    auto send = [&](auto& temp, bool is_handshake) {
        s.out.transmit(address_, temp.bytes);
        temp.last_sent = now;
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

handshake::HandshakeBytes Connection::build_handshake(Services& s, Instant now,
                                                      const wire::Cookie& peer_cookie) {
    handshake::HandshakeParams p;
    p.peer_cookie = &peer_cookie;
    p.base_nonce = base_nonce_;
    p.session_pk = session_keys_->public_key;
    // Our cookie about the peer, which it must echo if it answers with its own handshake.
    p.other_cookie = s.jar.issue(now, peer_key_, peer_dht_key_, s.rng);
    return handshake::create_handshake(p, real_shared_, s.rng);
}

Session Connection::make_session(const handshake::HandshakeInfo& hs) const {
    Session ses;
    (void)ses.key.precompute(hs.peer_session_pk, session_keys_->secret_key);
    ses.peer_session_pk = hs.peer_session_pk;
    ses.peer_base_nonce = hs.peer_base_nonce;
    ses.send_nonce = base_nonce_;
    ses.recv_nonce = hs.peer_base_nonce;
    ses.recv_counter = 0;
    return ses;
}

void Connection::enter_not_confirmed(Services& s, Instant now, const handshake::HandshakeInfo& hs,
                                     std::optional<TempPacket<wire::kHandshakeSize>> temp) {
    const Status from = status();
    NotConfirmed nc;
    nc.handshake = *temp;
    nc.session = make_session(hs);
    state_ = std::move(nc);
    last_received_ = now;
    if (from == Status::kClosed) {
        // A brand-new incoming connection: it starts directly in NotConfirmed.
        set_status(s, Status::kNotConfirmed, Status::kNotConfirmed);
    } else {
        set_status(s, from, Status::kNotConfirmed);
    }
}

// --- inputs ------------------------------------------------------------------------------------

void Connection::on_cookie_response(Services& s, Instant now, std::span<const std::uint8_t> bytes) {
    auto* st = std::get_if<CookieRequesting>(&state_);
    if (st == nullptr) {
        s.drop(DropReason::kWrongStatus);  // e.g. a late duplicate after we moved on
        return;
    }
    auto cookie = handshake::consume_cookie_response(bytes, st->dht_shared, st->echo_id);
    if (!cookie) {
        s.drop(cookie.error());
        return;
    }
    HandshakeSending next;
    next.handshake.bytes = build_handshake(s, now, *cookie);
    state_ = next;  // the send counter restarts with the new temp packet
    set_status(s, Status::kCookieRequesting, Status::kHandshakeSending);
    send_temp(s, now);
}

void Connection::on_handshake(Services& s, Instant now, const handshake::HandshakeInfo& hs,
                              const Address& from, bool bound) {
    const Status st = status();
    if (st == Status::kEstablished || st == Status::kClosed) {
        s.drop(DropReason::kWrongStatus);  // spec §4.4 (c): ignored once established
        return;
    }
    if (hs.peer_dht_pk != peer_dht_key_) {
        // Spec §4.9 a; only reachable on the bound path (the endpoint handles unbound DHT-key
        // changes). Nothing is reported unless the new key is usable.
        crypto::SharedKey dht_shared;
        if (!dht_shared.precompute(hs.peer_dht_pk, s.dht.secret_key)) {
            s.drop(DropReason::kInvalidKey);
            return;
        }
        DhtKeyChanged e;
        e.connection = id_;
        e.peer_key = peer_key_;
        e.peer_dht_key = hs.peer_dht_pk;
        e.address = address_;
        e.user_tag = user_tag_;
        s.out.event(e);
        restart_with_dht_key(s, now, hs.peer_dht_pk, dht_shared);
        return;
    }
    if (auto* nc = std::get_if<NotConfirmed>(&state_)) {
        if (nc->session.peer_session_pk == hs.peer_session_pk &&
            nc->session.peer_base_nonce == hs.peer_base_nonce) {
            s.drop(DropReason::kReplayedHandshake);  // the peer's periodic resend
            return;
        }
        // A fresh, fully verified handshake: the peer started a new session; follow it (the
        // handshake we keep resending still carries our unchanged session key and nonce).
        nc->session = make_session(hs);
        return;
    }
    if (!bound) address_ = from;  // path B: the peer reached us from another address
    if (std::holds_alternative<CookieRequesting>(state_)) {
        // Handshake before the cookie response: take the peer's cookie from it, answer with our
        // handshake (HandshakeSending), and with the session known go on to NotConfirmed.
        TempPacket<wire::kHandshakeSize> temp;
        temp.bytes = build_handshake(s, now, hs.other_cookie);
        state_ = HandshakeSending{temp};
        set_status(s, Status::kCookieRequesting, Status::kHandshakeSending);
        enter_not_confirmed(s, now, hs, temp);
        send_temp(s, now);
        send_request(s, now);
        return;
    }
    auto& hsend = std::get<HandshakeSending>(state_);
    auto temp = hsend.handshake;
    if (!bound) {
        // Path B: answer the new address with a new handshake built from the peer's cookie.
        temp.bytes = build_handshake(s, now, hs.other_cookie);
        enter_not_confirmed(s, now, hs, temp);
        send_temp(s, now);
        send_request(s, now);
        return;
    }
    enter_not_confirmed(s, now, hs, temp);  // same send count, as c-toxcore
    send_request(s, now);
}

void Connection::restart_with_dht_key(Services& s, Instant now, const PublicKey& new_dht_key,
                                      const crypto::SharedKey& dht_shared) {
    const Status from = status();
    if (from == Status::kEstablished) send_kill(s, now);
    peer_dht_key_ = new_dht_key;
    session_keys_ = KeyPair::generate(s.rng);
    base_nonce_ = crypto::Nonce::random(s.rng);
    send_ = data::SendBuffer(s.config.send_buffer_bytes);
    recv_ = data::RecvBuffer(s.config.recv_buffer_bytes);
    lossy_ = LossyQueue(s.config.lossy_queue_messages);
    rtt_ = data::RttEstimator{};
    cc_ = data::CongestionController{};
    CookieRequesting st;
    s.rng.fill(st.echo_id);
    st.dht_shared = dht_shared;
    st.request.bytes = handshake::create_cookie_request(s.real.public_key, s.dht.public_key,
                                                        dht_shared, st.echo_id, s.rng);
    state_ = std::move(st);
    set_status(s, from, Status::kCookieRequesting, CloseReason::kReplaced);
    send_temp(s, now);
}

void Connection::close(Services& s, Instant now, CloseReason reason) {
    const Status from = status();
    if (from == Status::kClosed) return;
    // KILL whenever a session exists (NotConfirmed too, unlike c-toxcore, which only sends it
    // from ESTABLISHED but honours it in NOT_CONFIRMED): the peer may already be Established
    // (our last handshake or its first data packet got through, our data did not), and would
    // otherwise hold a dead connection until its silence timeout.
    if (session() != nullptr) send_kill(s, now);
    state_ = Closed{reason};
    session_keys_.reset();
    send_ = data::SendBuffer(0);
    recv_ = data::RecvBuffer(0);
    lossy_ = LossyQueue(0);
    set_status(s, from, Status::kClosed, reason);
}

}  // namespace netcrypto::core
