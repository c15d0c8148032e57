// What to do with a handshake that passed every cryptographic check (wire.md §2.4): one pure
// decision over the handshake, the connection that already exists for its long-term key (if
// any), whether it came from that connection's bound address, and whether its session was seen
// before. The endpoint and the connection only carry the outcome out. The rules are wire.md
// §4.4 (demultiplexing), §4.8 (simultaneous open), §4.9 (DHT key change) and §8 (replays),
// checked in this order:
//
//   from the bound address (path A)              | from a new address (path B)
//   ---------------------------------------------+-----------------------------------------
//   1. NotConfirmed and session seen → replay    | 1. session seen → replay
//   2. Established or Closed → wrong status      | 2. no connection → offer to the application
//   3. other DHT key → restart (cookie request)  | 3. other DHT key → replace the connection
//   4. NotConfirmed: same session → replay,      | 4. CookieRequesting/HandshakeSending → adopt
//      new session → rekey                       |    it at the new address
//   5. CookieRequesting/HandshakeSending → adopt | 5. NotConfirmed/Established → wrong status
#pragma once

#include <cstdint>
#include <optional>

#include <netcrypto/endpoint.hpp>

#include "core/crypto/crypto.hpp"

namespace netcrypto::core {

/// The facts of a verified handshake the decision needs.
struct HandshakeFacts {
    PublicKey peer_dht_pk;
    PublicKey peer_session_pk;
    crypto::Nonce peer_base_nonce;
};

/// What the decision may know of the existing connection to the handshake's long-term key.
struct ExistingView {
    Status status = Status::kClosed;
    PublicKey peer_dht_pk;
    /// The peer's session (key and base nonce) a NotConfirmed connection follows.
    std::optional<HandshakeFacts> session;
};

/// Where the handshake came from.
enum class Arrival : std::uint8_t {
    kBoundAddress,  ///< the address bound to the existing connection (path A)
    kNewAddress,    ///< any other address (path B)
};

/// The outcomes.
enum class Verdict : std::uint8_t {
    kDrop,     ///< count `drop` and ignore the handshake
    kRekey,    ///< NotConfirmed: follow the peer's new session (no status change)
    kAdopt,    ///< CookieRequesting/HandshakeSending → NotConfirmed with this session
    kRestart,  ///< the peer's DHT key changed: start over with a cookie request to it
    kReplace,  ///< close the existing connection, open a new one from this handshake
    kOffer,    ///< no connection: a new incoming request (auto-accepted or to the application)
};

struct Decision {
    Verdict verdict = Verdict::kDrop;
    DropReason drop = DropReason::kCount_;  ///< set with kDrop only

    friend bool operator==(const Decision&, const Decision&) = default;
};

/// The one place the acceptance rules live. `existing` is nullopt when no connection has the
/// handshake's long-term key (only possible with Arrival::kNewAddress).
[[nodiscard]] Decision decide_handshake(const HandshakeFacts& hs,
                                        const std::optional<ExistingView>& existing,
                                        Arrival arrival, bool session_seen);

/// True when the outcome makes the connection follow (or be created from) this session, which
/// must then be remembered so that a replay of it is refused.
[[nodiscard]] bool adopts_session(Verdict v);

}  // namespace netcrypto::core
