// dht::Discovery (docs/discovery.md): LAN discovery sends and resends, learning a DHT key from
// a nodes request boxed to us, and bounded answers to nodes requests and pings.
#include "core/dht/discovery.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace netcrypto::dht {
namespace {

using Bytes = std::span<const std::uint8_t>;

/// Refills `b` (capacity `cap`, `rate` tokens per second) up to `now` and takes one token.
bool take_token(Instant now, double rate, double cap, double& tokens, Instant& last) {
    if (now > last) {
        const double elapsed = std::chrono::duration<double>(now - last).count();
        tokens = std::min(cap, tokens + elapsed * rate);
        last = now;
    }
    if (tokens < 1.0) return false;
    tokens -= 1.0;
    return true;
}

DiscoveryConfig sanitized(DiscoveryConfig cfg) {
    cfg.max_sends = std::max<std::uint32_t>(cfg.max_sends, 1);
    cfg.resend_interval = std::max(cfg.resend_interval, Duration{std::chrono::milliseconds(1)});
    cfg.answer_budget_slots = std::bit_ceil(std::max<std::size_t>(cfg.answer_budget_slots, 1));
    cfg.key_cache_size = std::max<std::size_t>(cfg.key_cache_size, 1);
    return cfg;
}

}  // namespace

std::string_view to_string(DiscoveryError e) {
    switch (e) {
        case DiscoveryError::kTooManyTargets:
            return "too many addresses being learnt";
        case DiscoveryError::kAlreadyLearning:
            return "already learning that address";
    }
    return "unknown discovery error";
}

Discovery::Discovery(KeyPair dht, Rng& rng, const DiscoveryConfig& cfg)
    : dht_(std::move(dht)),
      rng_(rng),
      cfg_(sanitized(cfg)),
      hash_([&rng] {
          core::SaltedHash h;
          rng.fill(h.key);
          return h;
      }()),
      answer_budget_(cfg_.answer_budget_slots,
                     Bucket{static_cast<double>(cfg_.answer_burst), Instant{}}),
      key_budget_{static_cast<double>(cfg_.key_agreements_per_second), Instant{}},
      key_cache_(0, hash_) {}

tl::expected<void, DiscoveryError> Discovery::start(Instant now, const Address& to) {
    if (learning(to)) return tl::unexpected(DiscoveryError::kAlreadyLearning);
    if (targets_.size() >= cfg_.max_targets) {
        return tl::unexpected(DiscoveryError::kTooManyTargets);
    }
    targets_.push_back(Target{to, now, 0, false});
    send_lan_discovery(now, targets_.back());
    return {};
}

bool Discovery::forget(const Address& to) {
    const auto it = find(to);
    if (it == targets_.end()) return false;
    targets_.erase(it);
    return true;
}

tl::expected<void, DiscoveryError> Discovery::restart(Instant now, const Address& to) {
    forget(to);
    return start(now, to);
}

bool Discovery::learning(const Address& to) const {
    return std::any_of(targets_.begin(), targets_.end(),
                       [&to](const Target& t) { return t.address == to; });
}

std::vector<Discovery::Target>::iterator Discovery::find(const Address& to) {
    return std::find_if(targets_.begin(), targets_.end(),
                        [&to](const Target& t) { return t.address == to; });
}

bool Discovery::is_dht_packet(Bytes bytes) {
    if (bytes.empty()) return false;
    switch (bytes[0]) {
        case kPingRequestType:
        case kPingResponseType:
        case kNodesRequestType:
        case kNodesResponseType:
        case kLanDiscoveryType:
            return true;
        default:
            return false;
    }
}

Discovery::Outgoing* Discovery::push(const Address& to, std::size_t size) {
    if (queue_.size() >= cfg_.max_queued) {
        drop(DhtDropReason::kQueueFull);
        return nullptr;
    }
    Outgoing& out = queue_.emplace_back();
    out.to = to;
    out.size = size;
    return &out;
}

void Discovery::send_lan_discovery(Instant now, Target& t) {
    ++t.sends;
    t.deadline = now + cfg_.resend_interval;
    Outgoing* out = push(t.address, kLanDiscoverySize);
    if (out == nullptr) return;
    create_lan_discovery(dht_.public_key, std::span(out->bytes).first<kLanDiscoverySize>());
    ++stats_.lan_discovery_sent;
}

void Discovery::handle_timeout(Instant now) {
    for (Target& t : targets_) {
        if (t.deadline > now) continue;
        if (t.sends >= cfg_.max_sends) {
            events_.emplace_back(NoAnswer{t.address, t.sends});
            ++stats_.failures;
            t.done = true;
        } else {
            send_lan_discovery(now, t);
        }
    }
    std::erase_if(targets_, [](const Target& t) { return t.done; });
}

std::optional<Instant> Discovery::next_timeout() const {
    std::optional<Instant> next;
    for (const Target& t : targets_) {
        if (!next || t.deadline < *next) next = t.deadline;
    }
    return next;
}

std::optional<Transmit> Discovery::poll_transmit(std::span<std::uint8_t> buffer) {
    if (queue_.empty() || buffer.size() < queue_.front().size) return std::nullopt;
    const Outgoing& out = queue_.front();
    std::copy_n(out.bytes.begin(), out.size, buffer.begin());
    Transmit t{out.to, out.size};
    queue_.pop_front();
    return t;
}

std::optional<DiscoveryEvent> Discovery::poll_event() {
    if (events_.empty()) return std::nullopt;
    DiscoveryEvent e = events_.front();
    events_.pop_front();
    return e;
}

bool Discovery::take_answer_token(Instant now, const Address& from) {
    Bucket& b = answer_budget_[hash_(from) & (answer_budget_.size() - 1)];
    return take_token(now, static_cast<double>(cfg_.answers_per_second),
                      static_cast<double>(cfg_.answer_burst), b.tokens, b.last);
}

const SharedKey* Discovery::shared_key(Instant now, const PublicKey& peer) {
    if (const auto it = key_cache_.find(peer); it != key_cache_.end()) return &it->second;
    const auto rate = static_cast<double>(cfg_.key_agreements_per_second);
    if (!take_token(now, rate, rate, key_budget_.tokens, key_budget_.last)) {
        drop(DhtDropReason::kUnderLoad);
        return nullptr;
    }
    ++stats_.key_agreements;
    SharedKey key;
    if (!key.precompute(peer, dht_.secret_key)) {
        drop(DhtDropReason::kUnusableKey);
        return nullptr;
    }
    if (key_cache_.size() >= cfg_.key_cache_size) key_cache_.clear();
    return &key_cache_.emplace(peer, std::move(key)).first->second;
}

void Discovery::handle_datagram(Instant now, const Address& from, Bytes bytes) {
    if (bytes.empty()) {
        drop(DhtDropReason::kWrongType);
        return;
    }
    switch (bytes[0]) {
        case kLanDiscoveryType:
            on_lan_discovery(now, from, bytes);
            return;
        case kNodesRequestType:
            on_nodes_request(now, from, bytes);
            return;
        case kPingRequestType:
            on_ping_request(now, from, bytes);
            return;
        case kPingResponseType:
        case kNodesResponseType:
            on_response(bytes);
            return;
        default:
            drop(DhtDropReason::kWrongType);
    }
}

void Discovery::on_lan_discovery(Instant now, const Address& from, Bytes bytes) {
    // Like c-toxcore, a LAN discovery packet from a LAN (or loopback) address is answered with a
    // nodes request to its sender, which tells the sender our DHT key: that is how a peer that
    // knows only our address learns it. Anything else is counted and ignored; the request is
    // 113 bytes for 33, so only LAN sources and within the per-source answer budget.
    const auto pk = consume_lan_discovery(bytes);
    if (!pk) return drop(pk.error());
    if (*pk == dht_.public_key) return drop(DhtDropReason::kOwnKey);
    if (!cfg_.answer) return drop(DhtDropReason::kAnswersOff);
    if (!from.is_lan()) return drop(DhtDropReason::kLanDiscovery);
    if (!take_answer_token(now, from)) return drop(DhtDropReason::kRateLimited);
    const SharedKey* key = shared_key(now, *pk);
    if (key == nullptr) return;
    Outgoing* out = push(from, kNodesRequestSize);
    if (out == nullptr) return;
    Sendback sendback{};
    rng_.fill(sendback);
    create_nodes_request(
        dht_.public_key, *key, Nonce::random(rng_), dht_.public_key, sendback,
        std::span<std::uint8_t, kNodesRequestSize>(out->bytes.data(), kNodesRequestSize));
    ++stats_.lan_discovery_answered;
}

void Discovery::on_response(Bytes bytes) {
    // Discovery never sends requests, so no response can be for us: no X25519 is spent on it.
    const auto sender = boxed_sender(bytes);
    drop(sender ? DhtDropReason::kUnsolicited : sender.error());
}

void Discovery::on_nodes_request(Instant now, const Address& from, Bytes bytes) {
    const auto sender = boxed_sender(bytes);
    if (!sender) return drop(sender.error());
    if (*sender == dht_.public_key) return drop(DhtDropReason::kOwnKey);
    const auto target = find(from);
    const bool is_target = target != targets_.end();
    const bool answer = cfg_.answer && take_answer_token(now, from);
    if (!is_target && !answer) {
        return drop(cfg_.answer ? DhtDropReason::kRateLimited : DhtDropReason::kAnswersOff);
    }
    const SharedKey* key = shared_key(now, *sender);
    if (key == nullptr) return;
    const auto req = consume_nodes_request(bytes, *key);
    if (!req) return drop(req.error());
    if (is_target) {
        events_.emplace_back(KeyLearned{from, req->sender_dht_pk});
        ++stats_.keys_learnt;
        targets_.erase(target);
    } else {
        ++stats_.requests_not_learnt;
    }
    if (!answer) return;
    Outgoing* out = push(from, kNodesResponseMinSize);
    if (out == nullptr) return;
    std::array<std::uint8_t, kNodesResponseMaxSize> packet{};
    const std::size_t n = create_nodes_response(dht_.public_key, *key, Nonce::random(rng_), {},
                                                req->sendback, packet);
    std::copy_n(packet.begin(), n, out->bytes.begin());
    ++stats_.nodes_answered;
}

void Discovery::on_ping_request(Instant now, const Address& from, Bytes bytes) {
    const auto sender = boxed_sender(bytes);
    if (!sender) return drop(sender.error());
    if (*sender == dht_.public_key) return drop(DhtDropReason::kOwnKey);
    if (!cfg_.answer) return drop(DhtDropReason::kAnswersOff);
    if (!take_answer_token(now, from)) return drop(DhtDropReason::kRateLimited);
    const SharedKey* key = shared_key(now, *sender);
    if (key == nullptr) return;
    const auto ping = consume_ping_request(bytes, *key);
    if (!ping) return drop(ping.error());
    Outgoing* out = push(from, kPingSize);
    if (out == nullptr) return;
    create_ping_response(dht_.public_key, *key, Nonce::random(rng_), ping->ping_id,
                         std::span(out->bytes).first<kPingSize>());
    ++stats_.pings_answered;
}

}  // namespace netcrypto::dht
