// The endpoint's defences against floods (design.md "Anti-abuse"): per-source cookie-request
// budgets, the endpoint-wide X25519 budget for strangers and the under-load mode it drives,
// the cache of DHT shared keys, and the cache of handshake sessions seen (replay refusal).
// Every table is bounded, whatever the number of (spoofed) sources.
#pragma once

#include <cstddef>
#include <unordered_map>
#include <vector>

#include <netcrypto/endpoint.hpp>

#include "core/address_table.hpp"
#include "core/crypto/crypto.hpp"

namespace netcrypto::core {

class LoadGuard {
  public:
    LoadGuard(const EndpointConfig& cfg, const SaltedHash& hash);

    /// Takes one cookie response from `from`'s budget; false when it is empty.
    bool take_cookie_token(Instant now, const Address& from);
    /// Takes one key agreement from the strangers' budget; false (and under load) when empty.
    bool take_key_agreement(Instant now, EndpointStats& stats);
    /// Refills the strangers' budget and leaves the under-load mode when it may.
    void update(Instant now);
    [[nodiscard]] bool under_load() const { return under_load_; }

    /// The cached shared key with a DHT key, or nullptr.
    [[nodiscard]] const crypto::SharedKey* cached_dht_shared(const PublicKey& peer_dht_pk) const;
    /// Computes (one X25519) and caches the shared key with a DHT key; nullptr if unusable.
    const crypto::SharedKey* compute_dht_shared(const PublicKey& peer_dht_pk,
                                                const SecretKey& our_dht_sk);

    /// True while a handshake with this session key was accepted within one cookie lifetime.
    [[nodiscard]] bool seen_session(Instant now, const PublicKey& session_pk) const;
    /// Remembers an accepted session (for one cookie lifetime).
    void remember_session(Instant now, const PublicKey& session_pk);

  private:
    struct Bucket {
        double tokens = 0;
        Instant last{};
    };

    const EndpointConfig& cfg_;
    SaltedHash hash_;
    /// Cookie-request budgets: a fixed table indexed by the salted address hash, so memory
    /// and work stay bounded whatever the number of (spoofed) sources; colliding sources
    /// share a budget.
    std::vector<Bucket> buckets_;
    /// The strangers' key-agreement budget (EndpointConfig::key_agreements_per_second) and
    /// the under-load mode it drives.
    Bucket key_budget_;
    bool under_load_ = false;
    Instant under_load_since_{};
    std::unordered_map<PublicKey, crypto::SharedKey, SaltedHash> dht_cache_;
    std::unordered_map<PublicKey, Instant, SaltedHash> seen_sessions_;
};

}  // namespace netcrypto::core
