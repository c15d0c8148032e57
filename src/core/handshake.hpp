// Creating and consuming the three handshake-phase packets (wire.md §2.2–§2.4): cookie request,
// cookie response and crypto handshake. Every consume_* function checks the exact length,
// decrypts into temporaries and returns either the parsed result or the drop reason; none of
// them changes any state.
#pragma once

#include <array>
#include <span>

#include <tl/expected.hpp>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/stats.hpp>
#include <netcrypto/time.hpp>

#include "core/cookie.hpp"
#include "core/crypto/crypto.hpp"
#include "core/wire/packets.hpp"

namespace netcrypto::handshake {

using CookieRequestBytes = std::array<std::uint8_t, wire::kCookieRequestSize>;
using CookieResponseBytes = std::array<std::uint8_t, wire::kCookieResponseSize>;
using HandshakeBytes = std::array<std::uint8_t, wire::kHandshakeSize>;

/// Builds a cookie request from us (long-term pk, DHT pk) to a peer's DHT key. `dht_shared` is
/// DH(peer DHT pk, our DHT sk).
CookieRequestBytes create_cookie_request(const PublicKey& our_long_term_pk,
                                         const PublicKey& our_dht_pk,
                                         const crypto::SharedKey& dht_shared,
                                         const wire::EchoId& echo_id, Rng& rng);

/// What a valid cookie request tells the responder.
struct CookieRequestInfo {
    PublicKey requester_long_term_pk;
    PublicKey requester_dht_pk;
    wire::EchoId echo_id{};
    crypto::SharedKey shared;  ///< DH(requester DHT pk, our DHT sk): seals the response
};

/// Step 1 of answering a cookie request: decode (exactly 145 bytes), derive the shared key
/// with `shared_for` (which may use a cache) and decrypt. Drop reasons: kBadLength, kBadTag,
/// kInvalidKey.
template <class SharedFor>
tl::expected<CookieRequestInfo, DropReason> consume_cookie_request(
    std::span<const std::uint8_t> bytes, SharedFor&& shared_for);

/// Builds the cookie response for a consumed request: a fresh cookie about the requester,
/// sealed with the request's shared key.
CookieResponseBytes create_cookie_response(const CookieRequestInfo& request,
                                           const core::CookieJar& jar, Instant now, Rng& rng);

/// Decrypts a cookie response with the shared key of our request and checks its echo id.
/// Drop reasons: kBadLength, kBadTag, kEchoIdMismatch.
tl::expected<wire::Cookie, DropReason> consume_cookie_response(std::span<const std::uint8_t> bytes,
                                                               const crypto::SharedKey& dht_shared,
                                                               const wire::EchoId& echo_id);

/// Our side of a handshake: what we announce to the peer.
struct HandshakeParams {
    const wire::Cookie* peer_cookie = nullptr;  ///< cookie issued by the peer (offset 1)
    crypto::Nonce base_nonce;                   ///< our first data nonce
    PublicKey session_pk;                       ///< our session public key
    wire::Cookie other_cookie{};                ///< our cookie about the peer
};

/// Builds a 385-byte handshake sealed with `long_term_shared` = DH(peer long-term pk, our long-term
/// sk).
HandshakeBytes create_handshake(const HandshakeParams& params,
                                const crypto::SharedKey& long_term_shared, Rng& rng);

/// What a valid handshake tells its receiver.
struct HandshakeInfo {
    PublicKey peer_long_term_pk;  ///< from our cookie
    PublicKey peer_dht_pk;        ///< from our cookie
    crypto::Nonce peer_base_nonce;
    PublicKey peer_session_pk;
    wire::Cookie other_cookie{};  ///< the peer's cookie about us, to echo in our handshake
};

/// Validates a handshake in the order of wire.md §3.3: open our cookie (tag, age, not future) →
/// for a known connection the cookie's long-term key must be `expected_peer` → SHA-512 of
/// the cookie → open the payload with DH(cookie's long-term key, our sk) via `long_term_shared_for`
/// → compare the inner hash in constant time → the peer's session key must not be of small
/// order. Drop reasons: kBadLength, kCookieBadTag,
/// kCookieExpired, kCookieFromFuture, kWrongPeerKey, kBadTag, kCookieHashMismatch, kInvalidKey.
template <class LongTermSharedFor>
tl::expected<HandshakeInfo, DropReason> consume_handshake(std::span<const std::uint8_t> bytes,
                                                          const core::CookieJar& jar, Instant now,
                                                          const PublicKey* expected_peer,
                                                          LongTermSharedFor&& long_term_shared_for);

// --- template definitions ---------------------------------------------------------------------

/// Maps a cookie-open failure to its drop reason.
DropReason drop_reason_for(core::CookieError e);

/// False for a public key of small order (X25519 with it yields the all-zero secret): such a
/// peer session key would make the session key public.
bool usable_public_key(const PublicKey& pk);

template <class SharedFor>
tl::expected<CookieRequestInfo, DropReason> consume_cookie_request(
    std::span<const std::uint8_t> bytes, SharedFor&& shared_for) {
    auto packet = wire::decode_cookie_request(bytes);
    if (!packet) return tl::unexpected(DropReason::kBadLength);
    CookieRequestInfo info;
    info.requester_dht_pk = packet->sender_dht_pk;
    const crypto::SharedKey* shared = shared_for(packet->sender_dht_pk);
    if (shared == nullptr) return tl::unexpected(DropReason::kInvalidKey);
    std::array<std::uint8_t, wire::kCookieRequestPlainSize> plain{};
    if (!crypto::open(*shared, packet->nonce, packet->encrypted, plain)) {
        return tl::unexpected(DropReason::kBadTag);
    }
    auto parsed = wire::decode_cookie_request_plain(plain);
    info.requester_long_term_pk = parsed->sender_long_term_pk;
    info.echo_id = parsed->echo_id;
    info.shared = *shared;
    return info;
}

template <class LongTermSharedFor>
tl::expected<HandshakeInfo, DropReason> consume_handshake(
    std::span<const std::uint8_t> bytes, const core::CookieJar& jar, Instant now,
    const PublicKey* expected_peer, LongTermSharedFor&& long_term_shared_for) {
    auto packet = wire::decode_handshake(bytes);
    if (!packet) return tl::unexpected(DropReason::kBadLength);
    // our cookie: tag, age, not from the future
    auto contents = jar.open(packet->cookie, now);
    if (!contents) return tl::unexpected(drop_reason_for(contents.error()));
    // long-term key of a known connection
    if (expected_peer != nullptr && contents->long_term_pk != *expected_peer) {
        return tl::unexpected(DropReason::kWrongPeerKey);
    }
    // sha512(cookie)
    const auto cookie_hash = crypto::sha512(packet->cookie);
    // payload, sealed with DH(peer long-term pk, our long-term sk)
    const crypto::SharedKey* shared = long_term_shared_for(contents->long_term_pk);
    if (shared == nullptr) return tl::unexpected(DropReason::kInvalidKey);
    std::array<std::uint8_t, wire::kHandshakePlainSize> plain{};
    if (!crypto::open(*shared, packet->nonce, packet->encrypted, plain)) {
        return tl::unexpected(DropReason::kBadTag);
    }
    auto parsed = wire::decode_handshake_plain(plain);
    crypto::wipe(plain);
    // inner hash == sha512(cookie)
    if (!crypto::equal_ct(parsed->cookie_hash, cookie_hash)) {
        return tl::unexpected(DropReason::kCookieHashMismatch);
    }
    // session pk usable (else every data packet would be sealed with a known key)
    if (!usable_public_key(parsed->session_pk)) return tl::unexpected(DropReason::kInvalidKey);
    HandshakeInfo info;
    info.peer_long_term_pk = contents->long_term_pk;
    info.peer_dht_pk = contents->dht_pk;
    info.peer_base_nonce = parsed->base_nonce;
    info.peer_session_pk = parsed->session_pk;
    info.other_cookie = parsed->other_cookie;
    return info;
}

}  // namespace netcrypto::handshake
