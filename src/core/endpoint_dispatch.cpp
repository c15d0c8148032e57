// Datagram dispatch: cookie requests (answered statelessly), handshakes (verified, then one
// decide_handshake outcome carried out), cookie responses and data (to the bound connection).
#include <algorithm>

#include "core/endpoint_impl.hpp"

namespace netcrypto {

namespace {

core::HandshakeFacts facts(const handshake::HandshakeInfo& hs) {
    return {hs.peer_dht_pk, hs.peer_session_pk, hs.peer_base_nonce};
}

}  // namespace

void Endpoint::Impl::handle_datagram(Instant now, const Address& from,
                                     std::span<const std::uint8_t> bytes) {
    ++stats_.datagrams_received;
    stats_.bytes_received += bytes.size();
    auto s = services();
    if (bytes.empty()) {
        s.drop(DropReason::kEmpty);
        return;
    }
    const std::uint8_t type = bytes[0];
    if (dht::Discovery::is_dht_packet(bytes)) {
        discovery_.handle_datagram(now, from, bytes);
        take_discovery_events();
        return;
    }
    if (type == wire::kCookieRequestType) {
        handle_cookie_request(now, from, bytes);
        return;
    }
    if (type != wire::kCookieResponseType && type != wire::kHandshakeType &&
        type != wire::kDataType) {
        s.drop(DropReason::kUnknownType);
        return;
    }
    if (bytes.size() <= wire::kMinCryptoPacketSize || bytes.size() > wire::kMaxPacketSize) {
        s.drop(DropReason::kBadLength);
        return;
    }
    const std::uint32_t* bound = by_addr_.find(from);
    if (type == wire::kHandshakeType) {
        ++stats_.handshakes_received;
        handle_handshake(now, from, bound, bytes, core::Via{});
        return;
    }
    if (type == wire::kDataType) ++stats_.data_packets_received;
    if (bound == nullptr) {
        s.drop(DropReason::kUnknownConnection);  // wire.md §4.4: only handshakes open a path
        return;
    }
    const std::uint32_t index = *bound;
    core::Connection& conn = *slots_[index].conn;
    conn.prefetch();
    const bool valid = type == wire::kCookieResponseType ? conn.on_cookie_response(s, now, bytes)
                                                         : conn.on_data(s, now, bytes);
    if (valid) conn.heard(s, now, core::Via{});
    after(index);
}

void Endpoint::Impl::handle_cookie_request(Instant now, const Address& from,
                                           std::span<const std::uint8_t> bytes) {
    ++stats_.cookie_requests_received;
    auto s = services();
    if (bytes.size() != wire::kCookieRequestSize) {
        s.drop(DropReason::kBadLength);
        return;
    }
    guard_.update(now);
    if (!guard_.take_cookie_token(now, from)) {
        s.drop(DropReason::kRateLimited);
        return;
    }
    if (const auto response = answer_cookie_request(now, bytes)) {
        transmit(from, *response);
        ++stats_.cookie_responses_sent;
    }
}

std::optional<handshake::CookieResponseBytes> Endpoint::Impl::answer_cookie_request(
    Instant now, std::span<const std::uint8_t> bytes) {
    auto s = services();
    bool over_budget = false;
    auto request = handshake::consume_cookie_request(
        bytes, [&](const PublicKey& pk) -> const crypto::SharedKey* {
            if (const auto* cached = guard_.cached_dht_shared(pk)) return cached;
            if (!guard_.take_key_agreement(now, stats_)) {
                over_budget = true;
                return nullptr;
            }
            return guard_.compute_dht_shared(pk, dht_.secret_key);
        });
    if (!request) {
        s.drop(over_budget ? DropReason::kUnderLoad : request.error());
        return std::nullopt;
    }
    return handshake::create_cookie_response(*request, jar_, now, rng_);
}

void Endpoint::Impl::handle_handshake(Instant now, const Address& from, const std::uint32_t* bound,
                                      std::span<const std::uint8_t> bytes, core::Via via) {
    auto s = services();
    // Verify (wire.md §2.4, §3.3 row 4). From a bound address only that connection's peer is
    // expected; from elsewhere any long-term key, which costs a stranger's key agreement unless
    // a connection to it exists.
    const core::Connection* bound_conn = bound != nullptr ? slots_[*bound].conn.get() : nullptr;
    crypto::SharedKey computed;
    bool over_budget = false;
    auto hs = handshake::consume_handshake(
        bytes, jar_, now, bound_conn != nullptr ? &bound_conn->peer_key() : nullptr,
        [&](const PublicKey& peer) -> const crypto::SharedKey* {
            if (bound_conn != nullptr) return &bound_conn->long_term_shared();
            if (auto it = by_key_.find(peer); it != by_key_.end()) {
                return &slots_[it->second].conn->long_term_shared();
            }
            if (!guard_.take_key_agreement(now, stats_)) {
                over_budget = true;
                return nullptr;
            }
            return computed.precompute(peer, long_term_.secret_key) ? &computed : nullptr;
        });
    if (!hs) {
        s.drop(over_budget ? DropReason::kUnderLoad : hs.error());
        return;
    }
    std::optional<std::uint32_t> index;
    if (bound != nullptr) {
        index = *bound;
    } else if (auto it = by_key_.find(hs->peer_long_term_pk); it != by_key_.end()) {
        index = it->second;
    }
    if (index && core::has_address(from) && !core::has_address(slots_[*index].conn->address())) {
        // A peer known only through relays sent an authentic handshake over UDP (often the UDP
        // copy of one the relay delivered first, so a replay below): learn its address. Data
        // over UDP is accepted from it, but the connection is direct only once one such packet
        // opened, which a replayed handshake cannot fake.
        slots_[*index].conn->learn_address(from);
        bind_address(*index, from);
    }
    std::optional<core::ExistingView> existing;
    if (index) existing = slots_[*index].conn->view();
    const auto arrival =
        bound != nullptr ? core::Arrival::kBoundAddress : core::Arrival::kNewAddress;
    const auto decision = core::decide_handshake(facts(*hs), existing, arrival,
                                                 guard_.seen_session(now, hs->peer_session_pk));
    if (core::adopts_session(decision.verdict)) guard_.remember_session(now, hs->peer_session_pk);
    if (!index) {
        apply_new(now, decision, *hs, from, computed);
    } else {
        apply(now, decision, *hs, from, *index, arrival, via);
    }
}

void Endpoint::Impl::apply_new(Instant now, const core::Decision& d,
                               const handshake::HandshakeInfo& hs, const Address& from,
                               const crypto::SharedKey& long_term_shared) {
    if (d.verdict == core::Verdict::kOffer) {
        offer_incoming(now, hs, from, long_term_shared);
    } else {
        services().drop(d.drop);
    }
}

void Endpoint::Impl::apply(Instant now, const core::Decision& d, const handshake::HandshakeInfo& hs,
                           const Address& from, std::uint32_t index, core::Arrival arrival,
                           core::Via via) {
    auto s = services();
    core::Connection& conn = *slots_[index].conn;
    switch (d.verdict) {
        case core::Verdict::kDrop:
        case core::Verdict::kOffer:  // not for an existing connection
            s.drop(d.drop);
            break;
        case core::Verdict::kReplace:
            replace(now, index, hs, from);
            return;
        case core::Verdict::kRekey:
            conn.rekey(hs);
            break;
        case core::Verdict::kRestart:
            conn.restart_with_dht_key(s, now, hs.peer_dht_pk);
            break;
        case core::Verdict::kAdopt:
            // Through a relay the connection keeps its UDP address (if any): the relay path is
            // the peer's DHT key, which the handshake names.
            if (arrival == core::Arrival::kBoundAddress || !core::has_address(from)) {
                conn.adopt(s, now, hs, std::nullopt);
            } else {
                by_addr_.erase(conn.address(), index);
                conn.adopt(s, now, hs, from);
                bind_address(index, from);
            }
            conn.heard(s, now, via);
            break;
    }
    after(index);
}

void Endpoint::Impl::replace(Instant now, std::uint32_t index, const handshake::HandshakeInfo& hs,
                             const Address& from) {
    // wire.md §4.4 (b): the peer restarted (new DHT key, new address). As in c-toxcore the old
    // connection ends (KILL if it has a session) and the handshake opens a new one; it is
    // accepted without asking, since the application already talks to this peer. The new
    // connection has a new id, so nothing of the old session (buffers, unread data, pending
    // notifications, stale ids held by the application) leaks into the new one.
    auto s = services();
    core::Connection& conn = *slots_[index].conn;
    const crypto::SharedKey long_term_shared = conn.long_term_shared();
    event(DhtKeyChanged{make_id(index, slots_[index].generation), hs.peer_long_term_pk,
                        hs.peer_dht_pk, from, conn.user_tag()});
    conn.close(s, now, CloseReason::kReplaced);
    after(index);  // removes the old connection and its bindings
    if (!create_incoming(now, hs, from, long_term_shared)) s.drop(DropReason::kNotAccepted);
}

bool Endpoint::Impl::auto_accepts(const PublicKey& peer) const {
    return cfg_.accept_all ||
           std::find(cfg_.allowlist.begin(), cfg_.allowlist.end(), peer) != cfg_.allowlist.end();
}

void Endpoint::Impl::offer_incoming(Instant now, const handshake::HandshakeInfo& hs,
                                    const Address& from,
                                    const crypto::SharedKey& long_term_shared) {
    auto s = services();
    if (auto_accepts(hs.peer_long_term_pk)) {
        if (!create_incoming(now, hs, from, long_term_shared)) s.drop(DropReason::kNotAccepted);
        return;
    }
    auto request = incoming_.add(now, hs, from, long_term_shared);
    if (!request) {
        s.drop(request.error());
        return;
    }
    event(IncomingRequest{RequestId{*request}, hs.peer_long_term_pk, hs.peer_dht_pk, from});
}

}  // namespace netcrypto
