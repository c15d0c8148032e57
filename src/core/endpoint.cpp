#include <algorithm>
#include <limits>

#include <sodium.h>

#include "core/endpoint_impl.hpp"

namespace netcrypto {

using namespace std::chrono_literals;

namespace {
constexpr std::size_t kRateBuckets = 16384;
constexpr std::size_t kMaxDhtCache = 1024;

/// Asks the CPU to load every cache line of a connection at once. With thousands of
/// connections the one a datagram belongs to is usually not cached; handling the packet then
/// touches a dozen of its lines one after the other (status, session keys and nonces, receive
/// and send state, counters), each a dependent cache miss. Prefetching them together overlaps
/// those misses.
void prefetch_connection(const core::Connection& conn) {
    constexpr std::size_t kLine = 64;
    const auto* p = reinterpret_cast<const char*>(&conn);
    for (std::size_t off = 0; off < sizeof(core::Connection); off += kLine) {
        __builtin_prefetch(p + off);
    }
}
}  // namespace

// --- names -------------------------------------------------------------------------------------

std::string_view to_string(Status s) {
    switch (s) {
        case Status::kCookieRequesting:
            return "CookieRequesting";
        case Status::kHandshakeSending:
            return "HandshakeSending";
        case Status::kNotConfirmed:
            return "NotConfirmed";
        case Status::kEstablished:
            return "Established";
        case Status::kClosed:
            return "Closed";
    }
    return "Unknown";
}

std::string_view to_string(CloseReason r) {
    switch (r) {
        case CloseReason::kNone:
            return "none";
        case CloseReason::kTimedOut:
            return "timed_out";
        case CloseReason::kPeerSilent:
            return "peer_silent";
        case CloseReason::kKilledByPeer:
            return "killed_by_peer";
        case CloseReason::kClosedLocally:
            return "closed_locally";
        case CloseReason::kReplaced:
            return "replaced";
        case CloseReason::kRejected:
            return "rejected";
    }
    return "unknown";
}

std::string_view to_string(Error e) {
    switch (e) {
        case Error::kUnknownConnection:
            return "unknown connection";
        case Error::kWrongStatus:
            return "wrong connection status";
        case Error::kWouldBlock:
            return "send buffer full (would block)";
        case Error::kInvalidMessage:
            return "invalid message";
        case Error::kTooManyConnections:
            return "too many connections";
        case Error::kAlreadyConnected:
            return "already connected to that peer";
        case Error::kNoSuchRequest:
            return "no such incoming request";
        case Error::kInvalidKey:
            return "invalid public key";
    }
    return "unknown error";
}

std::string_view to_string(DropReason r) {
    static constexpr std::array<std::string_view, kDropReasonCount> kNames{
        "empty",
        "unknown_type",
        "bad_length",
        "bad_tag",
        "cookie_bad_tag",
        "cookie_expired",
        "cookie_from_future",
        "cookie_hash_mismatch",
        "wrong_peer_key",
        "unknown_connection",
        "wrong_status",
        "echo_id_mismatch",
        "rate_limited",
        "replayed_handshake",
        "replayed_data",
        "stale_nonce",
        "bad_ack",
        "only_padding",
        "invalid_data_id",
        "duplicate_lossless",
        "lossless_out_of_window",
        "receive_buffer_full",
        "bad_request",
        "invalid_key",
        "not_accepted",
        "duplicate_incoming",
        "lossy_queue_full",
        "under_load",
    };
    const auto i = static_cast<std::size_t>(r);
    return i < kNames.size() ? kNames[i] : "unknown";
}

// --- hashing -----------------------------------------------------------------------------------

std::size_t SaltedHash::operator()(const Address& a) const noexcept {
    std::array<std::uint8_t, 19> buf{};
    buf[0] = static_cast<std::uint8_t>(a.family);
    std::copy(a.ip.begin(), a.ip.end(), buf.begin() + 1);
    buf[17] = static_cast<std::uint8_t>(a.port >> 8U);
    buf[18] = static_cast<std::uint8_t>(a.port & 0xFFU);
    std::uint64_t h = 0;
    crypto_shorthash(reinterpret_cast<unsigned char*>(&h), buf.data(), buf.size(), key.data());
    return static_cast<std::size_t>(h);
}

std::size_t SaltedHash::operator()(const PublicKey& k) const noexcept {
    std::uint64_t h = 0;
    crypto_shorthash(reinterpret_cast<unsigned char*>(&h), k.bytes.data(), k.bytes.size(),
                     key.data());
    return static_cast<std::size_t>(h);
}

// --- the address table ------------------------------------------------------------------------

const std::uint32_t* AddressTable::find(const Address& a) const {
    if (entries_.empty()) return nullptr;
    const std::uint64_t h = hash_(a);
    for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
        const Entry& e = entries_[i];
        if (e.value == kEmpty) return nullptr;
        if (e.hash == h && e.address == a) return &e.value;
    }
}

void AddressTable::assign(const Address& a, std::uint32_t value) {
    if (2 * (size_ + 1) > entries_.size()) grow();
    const std::uint64_t h = hash_(a);
    for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
        Entry& e = entries_[i];
        if (e.value == kEmpty) {
            e = Entry{h, a, value};
            ++size_;
            return;
        }
        if (e.hash == h && e.address == a) {
            e.value = value;
            return;
        }
    }
}

void AddressTable::erase(const Address& a, std::uint32_t value) {
    if (entries_.empty()) return;
    const std::uint64_t h = hash_(a);
    std::size_t i = h & mask();
    for (;; i = (i + 1) & mask()) {
        const Entry& e = entries_[i];
        if (e.value == kEmpty) return;
        if (e.hash == h && e.address == a) break;
    }
    if (entries_[i].value != value) return;
    // Backward-shift deletion: move later entries of the probe run into the hole unless their
    // home slot lies cyclically in (hole, entry], so every key stays reachable without
    // tombstones.
    for (std::size_t j = (i + 1) & mask(); entries_[j].value != kEmpty; j = (j + 1) & mask()) {
        const std::size_t home = entries_[j].hash & mask();
        const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        entries_[i] = entries_[j];
        i = j;
    }
    entries_[i].value = kEmpty;
    --size_;
}

void AddressTable::grow() {
    std::vector<Entry> old = std::move(entries_);
    entries_.assign(old.empty() ? 16 : 2 * old.size(), Entry{});
    for (const Entry& e : old) {
        if (e.value == kEmpty) continue;
        std::size_t i = e.hash & mask();
        while (entries_[i].value != kEmpty) i = (i + 1) & mask();
        entries_[i] = e;
    }
}

// --- construction ------------------------------------------------------------------------------

Endpoint::Impl::Impl(KeyPair long_term, KeyPair dht, Rng& rng, Instant now, EndpointConfig config)
    : real_(std::move(long_term)),
      dht_(std::move(dht)),
      rng_(rng),
      cfg_(std::move(config)),
      jar_(rng, cfg_.cookie_validity),
      next_rotation_(now + cfg_.cookie_rotation),
      hash_([&rng] {
          SaltedHash h;
          rng.fill(h.key);
          return h;
      }()),
      by_addr_(hash_),
      by_key_(16, hash_),
      seen_sessions_(16, hash_),
      buckets_(kRateBuckets),
      dht_cache_(16, hash_) {}

// --- outputs -----------------------------------------------------------------------------------

void Endpoint::Impl::transmit(const Address& to, std::span<const std::uint8_t> bytes) {
    if (out_.size() >= kMaxQueuedDatagrams) {
        ++stats_.transmit_queue_full;  // the application has not polled for a long while
        return;
    }
    if (bytes.size() > kMaxDatagramSize) return;
    OutDatagram& d = out_.emplace_back();
    d.to = to;
    d.size = static_cast<std::uint16_t>(bytes.size());
    std::copy(bytes.begin(), bytes.end(), d.bytes.begin());
}

void Endpoint::Impl::event(const Event& e) { events_.push_back(e); }

void Endpoint::Impl::wants_to_send(ConnectionId id) {
    const auto index = index_of(id);
    if (index >= slots_.size() || slots_[index].generation != generation_of(id)) return;
    if (!slots_[index].ready) {
        slots_[index].ready = true;
        ready_.push_back(index);
    }
}

std::optional<Transmit> Endpoint::Impl::poll_transmit(Instant now, std::span<std::uint8_t> buffer) {
    if (buffer.size() < kMaxDatagramSize) return std::nullopt;
    if (!out_.empty()) {
        const OutDatagram& d = out_.front();
        std::copy_n(d.bytes.begin(), d.size, buffer.begin());
        Transmit t{d.to, d.size};
        out_.pop_front();
        ++stats_.datagrams_sent;
        stats_.bytes_sent += t.size;
        return t;
    }
    // Data packets are produced on demand, round robin over connections with something to send.
    for (std::size_t tries = ready_.size(); tries > 0 && !ready_.empty(); --tries) {
        const std::uint32_t index = ready_.front();
        ready_.pop_front();
        Slot& slot = slots_[index];
        slot.ready = false;
        if (!slot.conn) continue;
        auto s = services();
        std::optional<Instant> retry_at;
        const std::size_t n = slot.conn->produce(s, now, buffer, retry_at);
        if (n > 0) {
            slot.ready = true;
            ready_.push_back(index);
            ++stats_.datagrams_sent;
            stats_.bytes_sent += n;
            return Transmit{slot.conn->address(), n};
        }
        after(index);  // paced: its timer now includes the pacing deadline
    }
    return std::nullopt;
}

std::optional<Event> Endpoint::Impl::poll_event() {
    if (events_.empty()) return std::nullopt;
    Event e = events_.front();
    events_.pop_front();
    return e;
}

// --- slots, lookups, timers --------------------------------------------------------------------

core::Connection* Endpoint::Impl::get(ConnectionId id) {
    const auto index = index_of(id);
    if (index >= slots_.size()) return nullptr;
    Slot& s = slots_[index];
    if (!s.conn || s.generation != generation_of(id)) return nullptr;
    return s.conn.get();
}

const core::Connection* Endpoint::Impl::get(ConnectionId id) const {
    return const_cast<Impl*>(this)->get(id);
}

std::optional<std::uint32_t> Endpoint::Impl::allocate_slot() {
    if (live_ >= cfg_.max_connections) return std::nullopt;
    std::uint32_t index = 0;
    if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
    } else {
        index = static_cast<std::uint32_t>(slots_.size());
        slots_.emplace_back();
    }
    ++live_;
    return index;
}

void Endpoint::Impl::bind_address(std::uint32_t index, const Address& address) {
    by_addr_.assign(address, index);
}

void Endpoint::Impl::remove(std::uint32_t index) {
    Slot& slot = slots_[index];
    if (!slot.conn) return;
    by_addr_.erase(slot.conn->address(), index);
    if (auto it = by_key_.find(slot.conn->peer_key()); it != by_key_.end() && it->second == index) {
        by_key_.erase(it);
    }
    slot.conn.reset();
    slot.scheduled.reset();
    ++slot.generation;
    free_.push_back(index);
    --live_;
}

void Endpoint::Impl::after(std::uint32_t index) {
    Slot& slot = slots_[index];
    if (!slot.conn) return;
    if (slot.conn->closed()) {
        remove(index);
        prune_timers();
        return;
    }
    const auto deadline = slot.conn->next_deadline(cfg_);
    if (deadline != slot.scheduled) {
        slot.scheduled = deadline;
        if (deadline) timers_.push(TimerEntry{*deadline, index, slot.generation});
    }
    prune_timers();
}

void Endpoint::Impl::prune_timers() {
    while (!timers_.empty()) {
        const TimerEntry& t = timers_.top();
        const Slot& slot = slots_[t.index];
        if (slot.conn && slot.generation == t.generation && slot.scheduled == t.at) return;
        timers_.pop();
    }
}

std::optional<Instant> Endpoint::Impl::next_timeout() const {
    std::optional<Instant> next = next_rotation_;
    if (!timers_.empty() && timers_.top().at < *next) next = timers_.top().at;
    return next;
}

void Endpoint::Impl::handle_timeout(Instant now) {
    update_load(now);
    if (now >= next_rotation_) {
        jar_.rotate(rng_);
        next_rotation_ = now + cfg_.cookie_rotation;
    }
    // Every due timer fires once per call; a connection re-armed for `now` waits for the next
    // call, so a misbehaving timer can never spin this loop.
    std::vector<TimerEntry> due;
    while (!timers_.empty() && timers_.top().at <= now) {
        due.push_back(timers_.top());
        timers_.pop();
    }
    for (const TimerEntry& t : due) {
        Slot& slot = slots_[t.index];
        if (!slot.conn || slot.generation != t.generation || slot.scheduled != t.at) continue;
        slot.scheduled.reset();
        auto s = services();
        slot.conn->on_timeout(s, now);
        after(t.index);
    }
    while (!pending_.empty() && pending_.front().expires <= now) drop_oldest_pending();
}

std::optional<ConnectionId> Endpoint::Impl::find(const PublicKey& peer_key) const {
    auto it = by_key_.find(peer_key);
    if (it == by_key_.end()) return std::nullopt;
    return make_id(it->second, slots_[it->second].generation);
}

std::vector<ConnectionId> Endpoint::Impl::connections() const {
    std::vector<ConnectionId> ids;
    for (std::uint32_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].conn) ids.push_back(make_id(i, slots_[i].generation));
    }
    return ids;
}

// --- datagram dispatch -------------------------------------------------------------------------

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
    if (type == wire::kHandshakeType) ++stats_.handshakes_received;
    if (type == wire::kDataType) ++stats_.data_packets_received;

    const std::uint32_t* bound = by_addr_.find(from);
    if (bound == nullptr) {
        if (type == wire::kHandshakeType) {
            handle_unbound_handshake(now, from, bytes);
        } else {
            s.drop(DropReason::kUnknownConnection);
        }
        return;
    }
    const std::uint32_t index = *bound;
    core::Connection& conn = *slots_[index].conn;
    prefetch_connection(conn);
    switch (type) {
        case wire::kCookieResponseType:
            conn.on_cookie_response(s, now, bytes);
            break;
        case wire::kDataType:
            conn.on_data(s, now, bytes);
            break;
        default: {
            auto hs = handshake::consume_handshake(
                bytes, jar_, now, &conn.peer_key(),
                [&conn](const PublicKey&) { return &conn.real_shared(); });
            if (!hs) {
                s.drop(hs.error());
                break;
            }
            // In NotConfirmed a handshake with a new session re-keys (the peer started a new
            // connection object); one seen before is a replay and must not switch back to an
            // old session (spec §8 items 4, 5). Every adopted session is remembered.
            if (conn.status() == Status::kNotConfirmed && seen_session(now, hs->peer_session_pk)) {
                s.drop(DropReason::kReplayedHandshake);
                break;
            }
            conn.on_handshake(s, now, *hs, from, /*bound=*/true);
            if (conn.status() == Status::kNotConfirmed) remember_session(now, hs->peer_session_pk);
            if (conn.address() != from) bind_address(index, conn.address());
            break;
        }
    }
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
    update_load(now);
    if (!take_cookie_token(now, from)) {
        s.drop(DropReason::kRateLimited);
        return;
    }
    bool over_budget = false;
    auto request = handshake::consume_cookie_request(
        bytes, [&](const PublicKey& pk) -> const crypto::SharedKey* {
            if (auto it = dht_cache_.find(pk); it != dht_cache_.end()) return &it->second;
            if (!take_key_agreement(now)) {
                over_budget = true;
                return nullptr;
            }
            return dht_shared_for(pk);
        });
    if (!request) {
        s.drop(over_budget ? DropReason::kUnderLoad : request.error());
        return;
    }
    const auto response = handshake::create_cookie_response(*request, jar_, now, rng_);
    transmit(from, response);
    ++stats_.cookie_responses_sent;
}

namespace {

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

}  // namespace

bool Endpoint::Impl::take_cookie_token(Instant now, const Address& from) {
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

void Endpoint::Impl::update_load(Instant now) {
    const double rate = cfg_.key_agreements_per_second;
    if (!(rate < std::numeric_limits<double>::infinity())) return;  // budget disabled
    refill(key_budget_.tokens, key_budget_.last, now, rate, rate);
    if (under_load_ && now - under_load_since_ >= cfg_.under_load_hold &&
        key_budget_.tokens >= rate / 2) {
        under_load_ = false;
    }
}

bool Endpoint::Impl::take_key_agreement(Instant now) {
    const double rate = cfg_.key_agreements_per_second;
    if (rate < std::numeric_limits<double>::infinity()) {
        update_load(now);
        if (key_budget_.tokens < 1.0) {
            if (!under_load_) ++stats_.under_load_entries;
            under_load_ = true;
            under_load_since_ = now;  // held as long as strangers keep finding it empty
            return false;
        }
        key_budget_.tokens -= 1.0;
    }
    ++stats_.key_agreements;
    return true;
}

const crypto::SharedKey* Endpoint::Impl::dht_shared_for(const PublicKey& peer_dht_pk) {
    crypto::SharedKey k;
    if (!k.precompute(peer_dht_pk, dht_.secret_key)) return nullptr;
    if (dht_cache_.size() >= kMaxDhtCache) dht_cache_.clear();
    return &dht_cache_.emplace(peer_dht_pk, std::move(k)).first->second;
}

void Endpoint::Impl::drop_oldest_pending() {
    const std::uint64_t id = pending_.front().id;
    pending_.pop_front();
    // Its kIncoming event, if the application has not polled it yet, would only lead to
    // kNoSuchRequest: withdraw it, so unpolled events stay bounded by max_pending_incoming.
    auto it = std::find_if(events_.begin(), events_.end(), [id](const Event& e) {
        const auto* incoming = e.get_if<IncomingRequest>();
        return incoming != nullptr && incoming->request.value == id;
    });
    if (it != events_.end()) events_.erase(it);
}

bool Endpoint::Impl::seen_session(Instant now, const PublicKey& session_pk) {
    auto it = seen_sessions_.find(session_pk);
    return it != seen_sessions_.end() && it->second > now;
}

void Endpoint::Impl::remember_session(Instant now, const PublicKey& session_pk) {
    if (seen_sessions_.size() >= std::max<std::size_t>(cfg_.handshake_replay_cache, 1)) {
        std::erase_if(seen_sessions_, [now](const auto& kv) { return kv.second <= now; });
    }
    if (seen_sessions_.size() >= std::max<std::size_t>(cfg_.handshake_replay_cache, 1)) {
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
    seen_sessions_[session_pk] = now + cfg_.cookie_validity + 1s;
}

bool Endpoint::Impl::auto_accepts(const PublicKey& peer) const {
    return cfg_.accept_all ||
           std::find(cfg_.allowlist.begin(), cfg_.allowlist.end(), peer) != cfg_.allowlist.end();
}

void Endpoint::Impl::handle_unbound_handshake(Instant now, const Address& from,
                                              std::span<const std::uint8_t> bytes) {
    auto s = services();
    crypto::SharedKey computed;
    bool over_budget = false;
    auto hs = handshake::consume_handshake(
        bytes, jar_, now, nullptr, [&](const PublicKey& peer) -> const crypto::SharedKey* {
            if (auto it = by_key_.find(peer); it != by_key_.end()) {
                return &slots_[it->second].conn->real_shared();
            }
            if (!take_key_agreement(now)) {
                over_budget = true;
                return nullptr;
            }
            return computed.precompute(peer, real_.secret_key) ? &computed : nullptr;
        });
    if (!hs) {
        s.drop(over_budget ? DropReason::kUnderLoad : hs.error());
        return;
    }
    if (seen_session(now, hs->peer_session_pk)) {
        s.drop(DropReason::kReplayedHandshake);
        return;
    }
    auto existing = by_key_.find(hs->peer_real_pk);
    if (existing == by_key_.end()) {
        remember_session(now, hs->peer_session_pk);
        offer_incoming(now, *hs, from, computed);
        return;
    }
    const std::uint32_t index = existing->second;
    core::Connection& conn = *slots_[index].conn;
    const Status st = conn.status();
    if (hs->peer_dht_pk != conn.peer_dht_key()) {
        // Spec §4.4 (b): the peer restarted (new DHT key, new address). As in c-toxcore the old
        // connection ends (KILL if it was established) and the handshake opens a new one; it is
        // accepted without asking, since the application already talks to this peer. The new
        // connection has a new id, so nothing of the old session (buffers, unread data, pending
        // notifications, stale ids held by the application) leaks into the new one.
        remember_session(now, hs->peer_session_pk);
        const crypto::SharedKey real_shared = conn.real_shared();
        DhtKeyChanged e;
        e.connection = make_id(index, slots_[index].generation);
        e.peer_key = hs->peer_real_pk;
        e.peer_dht_key = hs->peer_dht_pk;
        e.address = from;
        e.user_tag = conn.user_tag();
        event(e);
        conn.close(s, now, CloseReason::kReplaced);
        after(index);  // removes the old connection and its bindings
        if (!create_incoming(now, *hs, from, real_shared)) s.drop(DropReason::kNotAccepted);
        return;
    }
    if (st == Status::kCookieRequesting || st == Status::kHandshakeSending) {
        // Path B: same peer and DHT key from a new address while we are still handshaking.
        remember_session(now, hs->peer_session_pk);
        by_addr_.erase(conn.address(), index);
        conn.on_handshake(s, now, *hs, from, /*bound=*/false);
        bind_address(index, conn.address());
    } else {
        s.drop(DropReason::kWrongStatus);
    }
    after(index);
}

void Endpoint::Impl::offer_incoming(Instant now, const handshake::HandshakeInfo& hs,
                                    const Address& from, const crypto::SharedKey& real_shared) {
    auto s = services();
    if (auto_accepts(hs.peer_real_pk)) {
        if (!create_incoming(now, hs, from, real_shared)) s.drop(DropReason::kNotAccepted);
        return;
    }
    for (const Pending& p : pending_) {
        if (p.hs.peer_real_pk == hs.peer_real_pk) {
            s.drop(DropReason::kDuplicateIncoming);
            return;
        }
    }
    while (pending_.size() >= cfg_.max_pending_incoming && !pending_.empty()) {
        drop_oldest_pending();
    }
    if (cfg_.max_pending_incoming == 0) {
        s.drop(DropReason::kNotAccepted);
        return;
    }
    Pending p;
    p.id = next_request_++;
    p.hs = hs;
    p.from = from;
    p.expires = now + cfg_.cookie_validity;
    p.real_shared = real_shared;
    IncomingRequest e;
    e.request = RequestId{p.id};
    e.peer_key = hs.peer_real_pk;
    e.peer_dht_key = hs.peer_dht_pk;
    e.address = from;
    pending_.push_back(std::move(p));
    event(e);
}

Result<ConnectionId> Endpoint::Impl::create_incoming(Instant now,
                                                     const handshake::HandshakeInfo& hs,
                                                     const Address& from,
                                                     const crypto::SharedKey& real_shared) {
    if (by_key_.contains(hs.peer_real_pk)) return tl::unexpected(Error::kAlreadyConnected);
    auto index = allocate_slot();
    if (!index) return tl::unexpected(Error::kTooManyConnections);
    Slot& slot = slots_[*index];
    const ConnectionId id = make_id(*index, slot.generation);
    auto s = services();
    slot.conn = std::make_unique<core::Connection>(s, id, now, hs, from, real_shared);
    by_key_[hs.peer_real_pk] = *index;
    bind_address(*index, from);
    after(*index);
    return id;
}

// --- commands ----------------------------------------------------------------------------------

Result<ConnectionId> Endpoint::Impl::connect(Instant now, const PublicKey& peer_key,
                                             const PublicKey& peer_dht_key,
                                             const Address& address) {
    if (by_key_.contains(peer_key)) return tl::unexpected(Error::kAlreadyConnected);
    crypto::SharedKey real_shared;
    crypto::SharedKey dht_shared;
    if (!real_shared.precompute(peer_key, real_.secret_key) ||
        !dht_shared.precompute(peer_dht_key, dht_.secret_key)) {
        return tl::unexpected(Error::kInvalidKey);
    }
    auto index = allocate_slot();
    if (!index) return tl::unexpected(Error::kTooManyConnections);
    Slot& slot = slots_[*index];
    const ConnectionId id = make_id(*index, slot.generation);
    auto s = services();
    slot.conn = std::make_unique<core::Connection>(s, id, now, peer_key, peer_dht_key, address,
                                                   real_shared, dht_shared);
    by_key_[peer_key] = *index;
    bind_address(*index, address);
    after(*index);
    return id;
}

Result<ConnectionId> Endpoint::Impl::accept(Instant now, std::uint64_t request) {
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [request](const Pending& p) { return p.id == request; });
    if (it == pending_.end() || it->expires <= now) return tl::unexpected(Error::kNoSuchRequest);
    Pending p = std::move(*it);
    pending_.erase(it);
    return create_incoming(now, p.hs, p.from, p.real_shared);
}

Result<void> Endpoint::Impl::reject(std::uint64_t request) {
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [request](const Pending& p) { return p.id == request; });
    if (it == pending_.end()) return tl::unexpected(Error::kNoSuchRequest);
    pending_.erase(it);
    return {};
}

Result<void> Endpoint::Impl::close(Instant now, ConnectionId id) {
    core::Connection* conn = get(id);
    if (conn == nullptr) return tl::unexpected(Error::kUnknownConnection);
    auto s = services();
    conn->close(s, now, CloseReason::kClosedLocally);
    after(index_of(id));
    return {};
}

// --- the public facade -------------------------------------------------------------------------

Endpoint::Endpoint(KeyPair long_term, KeyPair dht, Rng& rng, Instant now, EndpointConfig config)
    : impl_(std::make_unique<Impl>(std::move(long_term), std::move(dht), rng, now,
                                   std::move(config))) {}
Endpoint::~Endpoint() = default;
Endpoint::Endpoint(Endpoint&&) noexcept = default;
Endpoint& Endpoint::operator=(Endpoint&&) noexcept = default;

const PublicKey& Endpoint::public_key() const { return impl_->real_.public_key; }
const PublicKey& Endpoint::dht_public_key() const { return impl_->dht_.public_key; }

void Endpoint::handle_datagram(Instant now, const Address& from,
                               std::span<const std::uint8_t> bytes) {
    impl_->handle_datagram(now, from, bytes);
}
void Endpoint::handle_timeout(Instant now) { impl_->handle_timeout(now); }
std::optional<Instant> Endpoint::next_timeout() const { return impl_->next_timeout(); }
std::optional<Transmit> Endpoint::poll_transmit(Instant now, std::span<std::uint8_t> buffer) {
    return impl_->poll_transmit(now, buffer);
}
std::optional<Event> Endpoint::poll_event() { return impl_->poll_event(); }

Result<ConnectionId> Endpoint::connect(Instant now, const PublicKey& peer_key,
                                       const PublicKey& peer_dht_key, const Address& address) {
    return impl_->connect(now, peer_key, peer_dht_key, address);
}
Result<ConnectionId> Endpoint::accept(Instant now, RequestId request) {
    return impl_->accept(now, request.value);
}
Result<void> Endpoint::reject(RequestId request) { return impl_->reject(request.value); }
Result<void> Endpoint::close(Instant now, ConnectionId id) { return impl_->close(now, id); }

}  // namespace netcrypto
