#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include <netcrypto/friend.hpp>

namespace netcrypto::friends {

std::uint64_t FriendStats::ignored() const {
    return std::accumulate(ignored_by_id.begin(), ignored_by_id.end(), std::uint64_t{0});
}

std::uint64_t FriendStats::malformed() const {
    return std::accumulate(malformed_by_id.begin(), malformed_by_id.end(), std::uint64_t{0});
}

namespace {
/// Packed-node sizes: family ‖ address ‖ port ‖ key.
constexpr std::size_t kNodeIPv4Size = 1 + 4 + 2 + kPublicKeySize;
constexpr std::size_t kNodeIPv6Size = 1 + 16 + 2 + kPublicKeySize;
}  // namespace

std::vector<std::uint8_t> encode_share_relays(std::span<const SharedRelay> relays) {
    std::vector<std::uint8_t> out{kShareRelays};
    const std::size_t n = std::min(relays.size(), kMaxSharedRelays);
    for (const SharedRelay& r : relays.first(n)) {
        const bool v4 = r.address.family == Address::Family::kIPv4;
        out.push_back(v4 ? kFamilyTcpIPv4 : kFamilyTcpIPv6);
        const std::size_t ip_len = v4 ? 4 : 16;
        out.insert(out.end(), r.address.ip.begin(),
                   r.address.ip.begin() + static_cast<std::ptrdiff_t>(ip_len));
        out.push_back(static_cast<std::uint8_t>(r.address.port >> 8U));
        out.push_back(static_cast<std::uint8_t>(r.address.port & 0xFFU));
        out.insert(out.end(), r.key.bytes.begin(), r.key.bytes.end());
    }
    return out;
}

std::optional<std::vector<SharedRelay>> decode_share_relays(std::span<const std::uint8_t> message) {
    if (message.empty() || message[0] != kShareRelays) return std::nullopt;
    auto rest = message.subspan(1);
    std::vector<SharedRelay> relays;
    // Like c-toxcore's unpack_nodes: read nodes while bytes remain, up to the maximum; a node
    // that does not parse spoils the whole packet, bytes after the last allowed node do not.
    while (!rest.empty() && relays.size() < kMaxSharedRelays) {
        SharedRelay r;
        std::size_t ip_len = 0;
        switch (rest[0]) {
            case kFamilyTcpIPv4:
            case kFamilyIPv4:
                r.address.family = Address::Family::kIPv4;
                ip_len = 4;
                break;
            case kFamilyTcpIPv6:
            case kFamilyIPv6:
                r.address.family = Address::Family::kIPv6;
                ip_len = 16;
                break;
            default:
                return std::nullopt;
        }
        const std::size_t size = ip_len == 4 ? kNodeIPv4Size : kNodeIPv6Size;
        if (rest.size() < size) return std::nullopt;
        std::copy_n(rest.begin() + 1, ip_len, r.address.ip.begin());
        const std::size_t at = 1 + ip_len;
        r.address.port = static_cast<std::uint16_t>((rest[at] << 8U) | rest[at + 1]);
        std::copy_n(rest.begin() + static_cast<std::ptrdiff_t>(at + 2), kPublicKeySize,
                    r.key.bytes.begin());
        relays.push_back(r);
        rest = rest.subspan(size);
    }
    return relays;
}

FriendLayer::FriendLayer(Endpoint& endpoint, FriendCallbacks callbacks, FriendConfig config)
    : endpoint_(endpoint), cb_(std::move(callbacks)), cfg_(config) {}

namespace {
/// Send-buffer bytes send_stream leaves free for control messages and texts.
constexpr std::size_t kControlReserve = 4 * kMaxMessageSize;
/// Retry period of an ALIVE the send buffer refused.
constexpr Duration kAliveRetry = std::chrono::milliseconds{100};
/// Ack samples closer together than this are merged.
constexpr Duration kAckSampleSpacing = std::chrono::milliseconds{10};
}  // namespace

bool FriendLayer::send_control(Instant now, ConnectionId id, std::uint8_t packet_id) {
    const std::array<std::uint8_t, 1> msg{packet_id};
    return endpoint_.send_lossless(now, id, msg).has_value();
}

void FriendLayer::try_alive(Instant now, ConnectionId id, State& st) {
    if (send_control(now, id, kAlive)) {
        st.last_alive_sent = now;
        st.alive_retry.reset();
    } else {
        st.alive_retry = now + kAliveRetry;  // send buffer full: not lost, retried
    }
}

void FriendLayer::record_ack(Instant now, State& st, std::uint32_t acked_up_to) const {
    if (!st.acks.empty() && now - st.acks.back().first < kAckSampleSpacing && st.acks.size() > 1) {
        st.acks.back().second = acked_up_to;
    } else {
        st.acks.emplace_back(now, acked_up_to);
    }
    // Keep one sample at or before the window start as the baseline.
    while (st.acks.size() > 2 && st.acks[1].first <= now - cfg_.stream_queue_delay) {
        st.acks.pop_front();
    }
}

std::uint32_t FriendLayer::stream_budget(ConnectionId id) const {
    std::uint32_t acked = 0;
    if (auto it = friends_.find(id.value); it != friends_.end() && it->second.acks.size() > 1) {
        acked = it->second.acks.back().second - it->second.acks.front().second;  // mod 2^32
    }
    return std::max(cfg_.stream_min_queue_packets, acked);
}

void FriendLayer::on_event(Instant now, const Event& e) {
    if (const auto* s = e.get_if<StatusChanged>()) {
        if (s->to == Status::kEstablished) {
            // ONLINE first: c-toxcore discards other Messenger packets until it has it.
            State st;
            st.last_alive_sent = now;
            st.last_alive_received = now;
            share_if_changed(now);  // the other peers first, if our relays changed unseen
            State& fresh = friends_[s->connection.value] = st;
            send_control(now, s->connection, kOnline);
            send_control(now, s->connection, kAlive);
            send_presence(now, s->connection);
            try_share(now, s->connection, fresh);
        } else if (s->to == Status::kClosed || s->from == Status::kEstablished) {
            friends_.erase(s->connection.value);
        }
    } else if (e.is<Acked>() || e.is<Writable>()) {
        const ConnectionId id = *e.connection();
        if (auto it = friends_.find(id.value); it != friends_.end()) {
            if (it->second.alive_retry) try_alive(now, id, it->second);
            if (const auto* a = e.get_if<Acked>()) {
                record_ack(now, it->second, a->acked_up_to);
                deliver(id, it->second, a->acked_up_to);
            }
        }
    } else if (const auto* r = e.get_if<Readable>()) {
        drain(now, r->connection);
    } else if (e.is<RelayStatusChanged>()) {
        share_if_changed(now);
    }
}

std::vector<SharedRelay> FriendLayer::shared_relays() const {
    std::vector<RelayInfo> ours;
    for (RelayId r : endpoint_.relays()) {
        if (auto info = endpoint_.relay_info(r)) ours.push_back(*info);
    }
    std::vector<SharedRelay> out;
    for (const SharedRelay& r : relays_) {
        if (out.size() == kMaxSharedRelays) break;
        bool known = false;
        bool connected = false;
        for (const RelayInfo& info : ours) {
            if (info.relay_key != r.key) continue;
            known = true;
            connected = connected || info.state == RelayState::kConnected;
        }
        if (!known || connected) out.push_back(r);
    }
    return out;
}

void FriendLayer::set_shared_relays(Instant now, std::vector<SharedRelay> relays) {
    relays_ = std::move(relays);
    share_if_changed(now);
}

/// Sends SHARE_RELAYS to every peer when what we share is no longer what we last shared.
void FriendLayer::share_if_changed(Instant now) {
    auto current = shared_relays();
    if (current == shared_) return;
    shared_ = std::move(current);
    for (auto& [key, st] : friends_) try_share(now, ConnectionId{key}, st);
}

void FriendLayer::try_share(Instant now, ConnectionId id, State& st) {
    if (shared_.empty()) {
        st.next_share.reset();
        return;
    }
    const std::vector<std::uint8_t> msg = encode_share_relays(shared_);
    if (endpoint_.send_lossless(now, id, msg)) {
        st.next_share = now + cfg_.share_relays_interval;
    } else {
        st.next_share = now + kAliveRetry;  // send buffer full: retried like ALIVE
    }
}

void FriendLayer::handle_share_relays(ConnectionId id, std::span<const std::uint8_t> message) {
    auto relays = decode_share_relays(message);
    if (!relays) {
        ++stats_.malformed_by_id[kShareRelays];
        return;
    }
    if (cb_.on_relays_shared) cb_.on_relays_shared(id, *relays);
}

/// Reads every waiting message of `id` (until paused).
void FriendLayer::drain(Instant now, ConnectionId id) {
    auto paused = [this, id] {
        auto it = friends_.find(id.value);
        return it != friends_.end() && it->second.receive_paused;
    };
    std::array<std::uint8_t, kMaxMessageSize> buf{};
    for (int i = 0; i < 1'000'000 && !paused(); ++i) {
        auto n = endpoint_.read_lossless(now, id, buf);
        if (!n || *n == 0) break;
        handle_message(now, id, std::span<const std::uint8_t>(buf).first(*n));
    }
    // Lossy packets go to the application if it wants them; otherwise they are
    // discarded so the queue stays short.
    for (int i = 0; i < 1'000'000 && !paused(); ++i) {
        auto n = endpoint_.read_lossy(id, buf);
        if (!n || *n == 0) break;
        if (cb_.on_lossy) cb_.on_lossy(id, std::span<const std::uint8_t>(buf).first(*n));
    }
}

void FriendLayer::pause_receive(Instant now, ConnectionId id, bool paused) {
    auto it = friends_.find(id.value);
    if (it == friends_.end() || it->second.receive_paused == paused) return;
    it->second.receive_paused = paused;
    if (paused) return;
    it->second.last_alive_received = now;  // ALIVEs waited unread: do not count the pause
    drain(now, id);
}

void FriendLayer::send_text(Instant now, ConnectionId id, std::uint8_t packet_id,
                            std::string_view text) {
    std::array<std::uint8_t, kMaxMessageSize> msg{};
    msg[0] = packet_id;
    const std::size_t n = std::min(text.size(), msg.size() - 1);
    std::copy_n(text.begin(), n, msg.begin() + 1);
    (void)endpoint_.send_lossless(now, id, std::span<const std::uint8_t>(msg).first(n + 1));
}

/// What c-toxcore sends once a friend is online: name, status message, user status, typing.
void FriendLayer::send_presence(Instant now, ConnectionId id) {
    send_text(now, id, kNickname, name_);
    send_text(now, id, kStatusMessage, status_message_);
    const std::array<std::uint8_t, 2> status{kUserStatus, 0};
    (void)endpoint_.send_lossless(now, id, status);
    const std::array<std::uint8_t, 2> typing{kTyping, 0};
    (void)endpoint_.send_lossless(now, id, typing);
}

Result<void> FriendLayer::set_self(Instant now, std::string name, std::string status_message) {
    if (name.size() > kMaxNameLength || status_message.size() > kMaxStatusMessageLength) {
        return tl::unexpected(Error::kInvalidMessage);
    }
    const bool name_changed = name != name_;
    const bool status_changed = status_message != status_message_;
    name_ = std::move(name);
    status_message_ = std::move(status_message);
    for (const auto& entry : friends_) {
        const ConnectionId id{entry.first};
        if (name_changed) send_text(now, id, kNickname, name_);
        if (status_changed) send_text(now, id, kStatusMessage, status_message_);
    }
    return {};
}

/// Reports, in send order, every message numbered below `acked_up_to` (mod 2^32).
void FriendLayer::deliver(ConnectionId id, State& st, std::uint32_t acked_up_to) {
    std::vector<std::uint32_t> done;
    while (!st.receipts.empty() &&
           static_cast<std::int32_t>(acked_up_to - st.receipts.front()) > 0) {
        done.push_back(st.receipts.front());
        st.receipts.pop_front();
    }
    if (!cb_.on_delivered) return;
    for (auto number : done) cb_.on_delivered(id, number);
}

void FriendLayer::handle_message(Instant now, ConnectionId id,
                                 std::span<const std::uint8_t> message) {
    auto it = friends_.find(id.value);
    if (it == friends_.end() || message.empty()) return;
    State& st = it->second;
    const std::uint8_t packet_id = message[0];
    const auto body = message.subspan(1);
    const auto text = std::string_view(reinterpret_cast<const char*>(body.data()), body.size());
    switch (packet_id) {
        case kAlive:
            st.last_alive_received = now;  // c-toxcore does not check the length either
            break;
        case kOnline:
        case kOffline:
            if (!body.empty()) {
                ++stats_.malformed_by_id[packet_id];
                break;
            }
            st.peer_online = packet_id == kOnline;
            if (cb_.on_presence) cb_.on_presence(id, st.peer_online);
            break;
        case kMessage:
        case kAction:
            if (body.empty()) {
                ++stats_.malformed_by_id[packet_id];  // c-toxcore ignores it too
            } else if (cb_.on_message) {
                cb_.on_message(id, packet_id == kAction, text);
            }
            break;
        case kNickname:
        case kStatusMessage:
        case kUserStatus:
        case kTyping:
            handle_presence(id, packet_id, body);
            break;
        case kShareRelays:
            handle_share_relays(id, message);
            break;
        case kStream:
            if (body.empty()) {
                ++stats_.malformed_by_id[packet_id];
            } else if (cb_.on_stream) {
                cb_.on_stream(id, body);
            }
            break;
        default:
            ++stats_.ignored_by_id[packet_id];  // requests, files, groups, A/V, ...
            break;
    }
}

/// NICKNAME, STATUSMESSAGE, USERSTATUS and TYPING, checked as c-toxcore checks them.
void FriendLayer::handle_presence(ConnectionId id, std::uint8_t packet_id,
                                  std::span<const std::uint8_t> body) {
    const auto text = std::string_view(reinterpret_cast<const char*>(body.data()), body.size());
    bool ok = false;
    switch (packet_id) {
        case kNickname:
            ok = body.size() <= kMaxNameLength;
            if (ok && cb_.on_info) cb_.on_info(id, "nickname", text);
            break;
        case kStatusMessage:
            ok = body.size() <= kMaxStatusMessageLength;
            if (ok && cb_.on_info) cb_.on_info(id, "status_message", text);
            break;
        case kUserStatus:
            ok = body.size() == 1 && body[0] <= static_cast<std::uint8_t>(UserStatus::kBusy);
            if (ok && cb_.on_user_status) cb_.on_user_status(id, static_cast<UserStatus>(body[0]));
            break;
        default:  // kTyping: any non-zero byte means typing, as in c-toxcore
            ok = body.size() == 1;
            if (ok && cb_.on_typing) cb_.on_typing(id, body[0] != 0);
            break;
    }
    if (!ok) ++stats_.malformed_by_id[packet_id];
}

void FriendLayer::on_timeout(Instant now) {
    std::vector<ConnectionId> gone;
    for (auto& [key, st] : friends_) {
        const ConnectionId id{key};
        if (st.receive_paused) {
            st.last_alive_received = now;  // unread ALIVEs may be waiting
        } else if (st.last_alive_received + cfg_.peer_timeout <= now) {
            gone.push_back(id);
            continue;
        }
        if (st.last_alive_sent + cfg_.alive_interval <= now &&
            (!st.alive_retry || *st.alive_retry <= now)) {
            try_alive(now, id, st);
        }
        if (st.next_share && *st.next_share <= now) try_share(now, id, st);
    }
    for (auto id : gone) {
        friends_.erase(id.value);
        (void)endpoint_.close(now, id);
        if (cb_.on_gone) cb_.on_gone(id);
    }
}

std::optional<Instant> FriendLayer::next_timeout() const {
    std::optional<Instant> next;
    for (const auto& [key, st] : friends_) {
        Instant alive = st.last_alive_sent + cfg_.alive_interval;
        if (st.alive_retry) alive = std::max(alive, *st.alive_retry);
        for (Instant t : {alive, st.last_alive_received + cfg_.peer_timeout}) {
            if (!next || t < *next) next = t;
        }
        if (st.next_share && (!next || *st.next_share < *next)) next = st.next_share;
    }
    return next;
}

Result<std::uint32_t> FriendLayer::send_message(Instant now, ConnectionId id, std::string_view text,
                                                bool action) {
    if (text.empty() || text.size() > kMaxMessageSize - 1) {
        return tl::unexpected(Error::kInvalidMessage);
    }
    std::array<std::uint8_t, kMaxMessageSize> msg{};
    msg[0] = action ? kAction : kMessage;
    std::copy(text.begin(), text.end(), msg.begin() + 1);
    auto number =
        endpoint_.send_lossless(now, id, std::span<const std::uint8_t>(msg).first(text.size() + 1));
    if (!number) return number;
    if (auto it = friends_.find(id.value); it != friends_.end()) {
        it->second.receipts.push_back(*number);
    }
    return number;
}

Result<void> FriendLayer::send_offline(Instant now, ConnectionId id) {
    const std::array<std::uint8_t, 1> msg{kOffline};
    auto r = endpoint_.send_lossless(now, id, msg);
    if (!r) return tl::unexpected(r.error());
    return {};
}

Result<std::size_t> FriendLayer::send_stream(Instant now, ConnectionId id,
                                             std::span<const std::uint8_t> bytes) {
    std::size_t consumed = 0;
    std::array<std::uint8_t, kMaxMessageSize> msg{};
    msg[0] = kStream;
    auto info = endpoint_.info(id);
    if (!info) return tl::unexpected(info.error());
    std::uint32_t queued = info->send_buffer_end - info->send_buffer_start;
    const std::uint32_t budget = stream_budget(id);
    while (consumed < bytes.size()) {
        const std::size_t n = std::min(kStreamChunk, bytes.size() - consumed);
        if (queued >= budget) break;  // more would delay ALIVE too long: wait for kAcked
        if (auto cap = endpoint_.send_capacity(id); cap && *cap < n + 1 + kControlReserve) {
            break;  // keep room for ALIVE and messages: wait for kAcked / kWritable
        }
        std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(consumed), n, msg.begin() + 1);
        auto r = endpoint_.send_lossless(now, id, std::span<const std::uint8_t>(msg).first(n + 1));
        if (!r) {
            if (r.error() == Error::kWouldBlock) break;
            if (consumed == 0) return tl::unexpected(r.error());
            break;
        }
        consumed += n;
        ++queued;
    }
    return consumed;
}

bool FriendLayer::peer_online(ConnectionId id) const {
    auto it = friends_.find(id.value);
    return it != friends_.end() && it->second.peer_online;
}

bool FriendLayer::all_acked(ConnectionId id) const {
    auto info = endpoint_.info(id);
    return info && info->send_buffer_start == info->send_buffer_end;
}

}  // namespace netcrypto::friends
