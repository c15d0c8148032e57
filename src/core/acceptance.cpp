#include "core/acceptance.hpp"

namespace netcrypto::core {

namespace {

constexpr Decision drop(DropReason r) { return Decision{Verdict::kDrop, r}; }
constexpr Decision outcome(Verdict v) { return Decision{v, DropReason::kCount_}; }

bool handshaking(Status s) {
    return s == Status::kCookieRequesting || s == Status::kHandshakeSending;
}

Decision from_bound_address(const HandshakeFacts& hs, const ExistingView& conn, bool session_seen) {
    if (conn.status == Status::kNotConfirmed && session_seen) {
        // A session we followed before must not come back (wire.md §8 items 4, 5).
        return drop(DropReason::kReplayedHandshake);
    }
    if (!handshaking(conn.status) && conn.status != Status::kNotConfirmed) {
        return drop(DropReason::kWrongStatus);  // ignored once established (wire.md §4.4)
    }
    if (hs.peer_dht_pk != conn.peer_dht_pk) return outcome(Verdict::kRestart);  // §4.9 (a)
    if (conn.status == Status::kNotConfirmed) {
        const bool same = conn.session && conn.session->peer_session_pk == hs.peer_session_pk &&
                          conn.session->peer_base_nonce == hs.peer_base_nonce;
        // The same session is the peer's periodic resend; a new one means the peer started a
        // new connection object: follow it.
        return same ? drop(DropReason::kReplayedHandshake) : outcome(Verdict::kRekey);
    }
    return outcome(Verdict::kAdopt);
}

Decision from_new_address(const HandshakeFacts& hs, const std::optional<ExistingView>& conn,
                          bool session_seen) {
    if (session_seen) return drop(DropReason::kReplayedHandshake);
    if (!conn) return outcome(Verdict::kOffer);
    // wire.md §4.4 (b): the peer restarted (new DHT key, new address), whatever our status.
    if (hs.peer_dht_pk != conn->peer_dht_pk) return outcome(Verdict::kReplace);
    if (handshaking(conn->status)) return outcome(Verdict::kAdopt);
    return drop(DropReason::kWrongStatus);
}

}  // namespace

Decision decide_handshake(const HandshakeFacts& hs, const std::optional<ExistingView>& existing,
                          Arrival arrival, bool session_seen) {
    if (arrival == Arrival::kBoundAddress && existing) {
        return from_bound_address(hs, *existing, session_seen);
    }
    return from_new_address(hs, existing, session_seen);
}

bool adopts_session(Verdict v) {
    return v == Verdict::kRekey || v == Verdict::kAdopt || v == Verdict::kReplace ||
           v == Verdict::kOffer;
}

}  // namespace netcrypto::core
