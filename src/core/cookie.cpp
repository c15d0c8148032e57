#include "core/cookie.hpp"

#include "core/wire/bytes.hpp"

namespace netcrypto::core {

std::string_view to_string(CookieError e) {
    switch (e) {
        case CookieError::kBadTag:
            return "cookie_bad_tag";
        case CookieError::kExpired:
            return "cookie_expired";
        case CookieError::kFromFuture:
            return "cookie_from_future";
    }
    return "cookie_unknown";
}

CookieJar::CookieJar(Rng& rng, Duration validity)
    : key_(crypto::SharedKey::random(rng)), validity_(validity) {}

void CookieJar::rotate(Rng& rng) {
    previous_ = std::move(key_);
    key_ = crypto::SharedKey::random(rng);
}

wire::Cookie CookieJar::issue(Instant now, const PublicKey& long_term_pk, const PublicKey& dht_pk,
                              Rng& rng) const {
    wire::CookieContents contents{static_cast<std::uint64_t>(to_ms(now)), long_term_pk, dht_pk};
    std::array<std::uint8_t, wire::kCookieContentsSize> plain{};
    wire::encode(contents, plain);

    // cookie = nonce(24) || Box(cookie key, nonce, contents)
    wire::Cookie cookie{};
    const auto nonce = crypto::Nonce::random(rng);
    wire::ByteWriter w(cookie);
    w.write(nonce.bytes);
    auto sealed = w.reserve(wire::kMacSize + wire::kCookieContentsSize);
    const bool ok = crypto::seal(key_, nonce, plain, sealed);
    crypto::wipe(plain);
    (void)ok;  // cannot fail: sizes are fixed and non-empty
    return cookie;
}

tl::expected<wire::CookieContents, CookieError> CookieJar::open(const wire::Cookie& cookie,
                                                                Instant now) const {
    wire::ByteReader r(cookie);
    crypto::Nonce nonce;
    std::span<const std::uint8_t> sealed;
    (void)r.read(nonce.bytes);
    (void)r.view(wire::kMacSize + wire::kCookieContentsSize, sealed);

    std::array<std::uint8_t, wire::kCookieContentsSize> plain{};
    const bool opened = crypto::open(key_, nonce, sealed, plain) ||
                        (previous_ && crypto::open(*previous_, nonce, sealed, plain));
    if (!opened) return tl::unexpected(CookieError::kBadTag);
    auto contents = wire::decode_cookie_contents(plain);
    crypto::wipe(plain);
    if (!contents) return tl::unexpected(CookieError::kBadTag);

    const auto created = static_cast<std::int64_t>(contents->time_ms);
    const std::int64_t now_ms = to_ms(now);
    if (created > now_ms) return tl::unexpected(CookieError::kFromFuture);
    const auto validity_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(validity_).count();
    if (now_ms - created > validity_ms) return tl::unexpected(CookieError::kExpired);
    return *contents;
}

}  // namespace netcrypto::core
