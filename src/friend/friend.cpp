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
            friends_[s->connection.value] = st;
            send_control(now, s->connection, kOnline);
            send_control(now, s->connection, kAlive);
            send_presence(now, s->connection);
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
    }
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
        case kStream:
            if (body.empty()) {
                ++stats_.malformed_by_id[packet_id];
            } else if (cb_.on_stream) {
                cb_.on_stream(id, body);
            }
            break;
        default:
            ++stats_.ignored_by_id[packet_id];  // relays, requests, files, groups, A/V, ...
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
