#include "core/handshake.hpp"

namespace netcrypto::handshake {

DropReason drop_reason_for(core::CookieError e) {
    switch (e) {
        case core::CookieError::kBadTag:
            return DropReason::kCookieBadTag;
        case core::CookieError::kExpired:
            return DropReason::kCookieExpired;
        case core::CookieError::kFromFuture:
            return DropReason::kCookieFromFuture;
    }
    return DropReason::kCookieBadTag;
}

bool usable_public_key(const PublicKey& pk) {
    // X25519 of a small-order point with any (clamped) scalar is the all-zero point, which
    // crypto_box_beforenm refuses; for every other point it succeeds.
    static const SecretKey probe = [] {
        std::array<std::uint8_t, kSecretKeySize> b{};
        b.fill(0x5A);
        return SecretKey(b);
    }();
    crypto::SharedKey k;
    return k.precompute(pk, probe);
}

CookieRequestBytes create_cookie_request(const PublicKey& our_long_term_pk,
                                         const PublicKey& our_dht_pk,
                                         const crypto::SharedKey& dht_shared,
                                         const wire::EchoId& echo_id, Rng& rng) {
    wire::CookieRequestPlain plain;
    plain.sender_long_term_pk = our_long_term_pk;
    plain.echo_id = echo_id;  // padding stays zero, as c-toxcore sends it
    std::array<std::uint8_t, wire::kCookieRequestPlainSize> plain_bytes{};
    wire::encode(plain, plain_bytes);

    wire::CookieRequest packet;
    packet.sender_dht_pk = our_dht_pk;
    packet.nonce = crypto::Nonce::random(rng);
    (void)crypto::seal(dht_shared, packet.nonce, plain_bytes, packet.encrypted);
    CookieRequestBytes out{};
    wire::encode(packet, out);
    return out;
}

CookieResponseBytes create_cookie_response(const CookieRequestInfo& request,
                                           const core::CookieJar& jar, Instant now, Rng& rng) {
    wire::CookieResponsePlain plain;
    // The cookie is about the requester: its long-term key from the plaintext, DHT key from the
    // header.
    plain.cookie = jar.issue(now, request.requester_long_term_pk, request.requester_dht_pk, rng);
    plain.echo_id = request.echo_id;
    std::array<std::uint8_t, wire::kCookieResponsePlainSize> plain_bytes{};
    wire::encode(plain, plain_bytes);

    wire::CookieResponse packet;
    packet.nonce = crypto::Nonce::random(rng);
    (void)crypto::seal(request.shared, packet.nonce, plain_bytes, packet.encrypted);
    CookieResponseBytes out{};
    wire::encode(packet, out);
    return out;
}

tl::expected<wire::Cookie, DropReason> consume_cookie_response(std::span<const std::uint8_t> bytes,
                                                               const crypto::SharedKey& dht_shared,
                                                               const wire::EchoId& echo_id) {
    auto packet = wire::decode_cookie_response(bytes);
    if (!packet) return tl::unexpected(DropReason::kBadLength);
    std::array<std::uint8_t, wire::kCookieResponsePlainSize> plain{};
    if (!crypto::open(dht_shared, packet->nonce, packet->encrypted, plain)) {
        return tl::unexpected(DropReason::kBadTag);
    }
    auto parsed = wire::decode_cookie_response_plain(plain);
    if (!crypto::equal_ct(parsed->echo_id, echo_id)) {
        return tl::unexpected(DropReason::kEchoIdMismatch);
    }
    return parsed->cookie;
}

HandshakeBytes create_handshake(const HandshakeParams& params,
                                const crypto::SharedKey& long_term_shared, Rng& rng) {
    wire::HandshakePlain plain;
    plain.base_nonce = params.base_nonce;                     // base nonce
    plain.session_pk = params.session_pk;                     // session pk
    plain.cookie_hash = crypto::sha512(*params.peer_cookie);  // sha512(cookie)
    plain.other_cookie = params.other_cookie;                 // our cookie about the peer
    std::array<std::uint8_t, wire::kHandshakePlainSize> plain_bytes{};
    wire::encode(plain, plain_bytes);

    wire::Handshake packet;
    packet.cookie = *params.peer_cookie;
    packet.nonce = crypto::Nonce::random(rng);
    (void)crypto::seal(long_term_shared, packet.nonce, plain_bytes, packet.encrypted);
    crypto::wipe(plain_bytes);
    HandshakeBytes out{};
    wire::encode(packet, out);
    return out;
}

}  // namespace netcrypto::handshake
