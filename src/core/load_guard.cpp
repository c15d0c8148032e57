#include "core/load_guard.hpp"

#include <algorithm>
#include <limits>

namespace netcrypto::core {

namespace {

constexpr std::size_t kRateBuckets = 16384;
constexpr std::size_t kMaxDhtCache = 1024;

/// Refills a token bucket for the time since its last use (a first use starts it full).
void refill(double& tokens, Instant& last, Instant now, double burst, double rate) {
    if (last == Instant{}) {
        tokens = burst;
    } else {
        const double elapsed = std::chrono::duration<double>(now - last).count();
        tokens = std::min(burst, tokens + std::max(0.0, elapsed) * rate);
    }
    last = now;
}

bool budget_enabled(double rate) { return rate < std::numeric_limits<double>::infinity(); }

}  // namespace

LoadGuard::LoadGuard(const EndpointConfig& cfg, const SaltedHash& hash)
    : cfg_(cfg),
      hash_(hash),
      buckets_(kRateBuckets),
      dht_cache_(16, hash_),
      seen_sessions_(16, hash_) {}

bool LoadGuard::take_cookie_token(Instant now, const Address& from) {
    Bucket& b = buckets_[hash_(from) % buckets_.size()];
    if (under_load_) {
        refill(b.tokens, b.last, now, cfg_.cookie_rate_burst_under_load,
               cfg_.cookie_rate_per_second_under_load);
    } else {
        refill(b.tokens, b.last, now, cfg_.cookie_rate_burst, cfg_.cookie_rate_per_second);
    }
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
}

void LoadGuard::update(Instant now) {
    const double rate = cfg_.key_agreements_per_second;
    if (!budget_enabled(rate)) return;
    refill(key_budget_.tokens, key_budget_.last, now, rate, rate);
    if (under_load_ && now - under_load_since_ >= cfg_.under_load_hold &&
        key_budget_.tokens >= rate / 2) {
        under_load_ = false;
    }
}

bool LoadGuard::take_key_agreement(Instant now, EndpointStats& stats) {
    if (budget_enabled(cfg_.key_agreements_per_second)) {
        update(now);
        if (key_budget_.tokens < 1.0) {
            if (!under_load_) ++stats.under_load_entries;
            under_load_ = true;
            under_load_since_ = now;  // held as long as strangers keep finding it empty
            return false;
        }
        key_budget_.tokens -= 1.0;
    }
    ++stats.key_agreements;
    return true;
}

const crypto::SharedKey* LoadGuard::cached_dht_shared(const PublicKey& peer_dht_pk) const {
    auto it = dht_cache_.find(peer_dht_pk);
    return it != dht_cache_.end() ? &it->second : nullptr;
}

const crypto::SharedKey* LoadGuard::compute_dht_shared(const PublicKey& peer_dht_pk,
                                                       const SecretKey& our_dht_sk) {
    crypto::SharedKey k;
    if (!k.precompute(peer_dht_pk, our_dht_sk)) return nullptr;
    if (dht_cache_.size() >= kMaxDhtCache) dht_cache_.clear();
    return &dht_cache_.emplace(peer_dht_pk, std::move(k)).first->second;
}

bool LoadGuard::seen_session(Instant now, const PublicKey& session_pk) const {
    auto it = seen_sessions_.find(session_pk);
    return it != seen_sessions_.end() && it->second > now;
}

void LoadGuard::remember_session(Instant now, const PublicKey& session_pk) {
    const std::size_t capacity = std::max<std::size_t>(cfg_.handshake_replay_cache, 1);
    if (seen_sessions_.size() >= capacity) {
        std::erase_if(seen_sessions_, [now](const auto& kv) { return kv.second <= now; });
    }
    if (seen_sessions_.size() >= capacity) {
        // Still full of live entries (more sessions within one cookie lifetime than the cache
        // holds): forget the older half, so memory stays bounded. A replay of a forgotten session
        // is still refused by every connection that is Established, and costs the attacker a
        // handshake.
        std::vector<Instant> expiries;
        expiries.reserve(seen_sessions_.size());
        for (const auto& kv : seen_sessions_) expiries.push_back(kv.second);
        auto middle = expiries.begin() + static_cast<std::ptrdiff_t>(expiries.size() / 2);
        std::nth_element(expiries.begin(), middle, expiries.end());
        const Instant cut = *middle;
        std::erase_if(seen_sessions_, [cut](const auto& kv) { return kv.second <= cut; });
    }
    // A handshake can only be replayed while the cookie inside it is valid.
    seen_sessions_[session_pk] = now + cfg_.cookie_validity + std::chrono::seconds{1};
}

}  // namespace netcrypto::core
