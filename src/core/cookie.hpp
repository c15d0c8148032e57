// Cookies this node issues (wire.md §2.1): 112-byte tokens only this node can open. Contents are
// the creation time and the peer's long-term and DHT keys, sealed with the node's cookie key.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include <tl/expected.hpp>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/crypto/crypto.hpp"
#include "core/wire/packets.hpp"

namespace netcrypto::core {

/// Why a cookie was refused.
enum class CookieError : std::uint8_t {
    kBadTag,      ///< not sealed with our current or previous cookie key (tampered or foreign)
    kExpired,     ///< older than the validity period
    kFromFuture,  ///< creation time after `now`
};

/// A stable name for counters and logs.
std::string_view to_string(CookieError e);

/// Issues and opens cookies with a symmetric key that can be rotated; after a rotation the
/// previous key is still accepted, so cookies stay valid for their whole lifetime.
class CookieJar {
  public:
    /// `validity`: a cookie is accepted while its age is at most this (default 8 s).
    CookieJar(Rng& rng, Duration validity);

    /// A fresh cookie about (long_term_pk, dht_pk), stamped with `now`.
    [[nodiscard]] wire::Cookie issue(Instant now, const PublicKey& long_term_pk,
                                     const PublicKey& dht_pk, Rng& rng) const;

    /// Opens a cookie issued by this jar; errors: kBadTag, kExpired, kFromFuture.
    [[nodiscard]] tl::expected<wire::CookieContents, CookieError> open(const wire::Cookie& cookie,
                                                                       Instant now) const;

    /// Replaces the cookie key with a fresh one; the old key is kept as "previous".
    void rotate(Rng& rng);

    [[nodiscard]] Duration validity() const { return validity_; }

  private:
    crypto::SharedKey key_;
    std::optional<crypto::SharedKey> previous_;
    Duration validity_;
};

}  // namespace netcrypto::core
