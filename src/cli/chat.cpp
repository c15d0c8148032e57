// chat: text messages with one friend, like a Tox client. Each stdin line is a message; what the
// friend says, its name, status and typing are shown (plain lines for a terminal, or JSON
// events). The friend is kept until stdin ends or Ctrl-C: when a session ends, chat reports the
// friend offline and reconnects (re-learning its DHT key) with a short backoff; lines typed
// meanwhile are queued (bounded) and sent on reconnection. --once exits when the session ends.
#include <algorithm>
#include <chrono>
#include <deque>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <string>
#include <sys/epoll.h>
#include <unistd.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <netcrypto/friend.hpp>
#include <netcrypto/runtime.hpp>

#include "cli/commands.hpp"
#include "cli/dialer.hpp"
#include "cli/node.hpp"

namespace netcrypto::cli {

namespace {

using namespace std::chrono_literals;

std::string_view user_status_name(friends::UserStatus s) {
    switch (s) {
        case friends::UserStatus::kAway:
            return "away";
        case friends::UserStatus::kBusy:
            return "busy";
        case friends::UserStatus::kNone:
            break;
    }
    return "available";
}

class ChatSession {
  public:
    enum class Phase {
        kConnecting,  ///< the first connection is being made (failures end the run)
        kOnline,      ///< Established
        kOffline,     ///< the session ended; reconnecting with backoff
        kLeaving,     ///< stdin ended and everything was delivered: OFFLINE sent, waiting
        kDone,
    };

    ChatSession(const ConnectOptions& o, const Target& target) : o_(o), target_(target) {}
    ChatSession(const ChatSession&) = delete;
    ChatSession& operator=(const ChatSession&) = delete;

    Outcome<void> run();

  private:
    static constexpr std::size_t kMaxQueuedLines = 1000;
    static constexpr std::size_t kMaxQueuedBytes = std::size_t{1} << 20U;
    static constexpr Duration kFirstRetry = 500ms;
    static constexpr Duration kMaxRetry = 4s;
    static constexpr Duration kLeaveWait = 5s;
    /// While online, when nothing arrived from the friend for this long, its address is asked
    /// for its DHT key again: a friend that crashed and started again (a new DHT key, same
    /// address) is noticed within seconds instead of after the 32 s silence timeout.
    static constexpr Duration kProbeAfterQuiet = 3s;

    friends::FriendCallbacks callbacks();
    void iterate();
    Outcome<void> finish();
    void on_event(const Event& e);
    void on_status(Instant now, const StatusChanged& s);
    void went_online(Instant now);
    void went_offline(Instant now, std::string_view why);
    void schedule_retry(Instant now);
    void retry(Instant now);
    void probe(Instant now);
    bool on_probe_result(Instant now, const Event& e);

    void start_stdin();
    void read_stdin(Instant now);
    void queue_line(std::string line);
    void flush_queue(Instant now);
    void maybe_leave(Instant now);

    void show_message(bool action, std::string_view text);
    void show(std::string_view event, nlohmann::json fields, const std::string& plain) const;
    [[nodiscard]] std::string peer_label() const;
    [[nodiscard]] std::optional<ConnectionId> connection() const { return dialer_->connection(); }

    const ConnectOptions& o_;
    Target target_;
    std::unique_ptr<Node> node_;
    std::optional<Dialer> dialer_;
    Phase phase_ = Phase::kConnecting;
    std::optional<Failure> failure_;
    StdoutSink out_;
    bool ever_online_ = false;
    Duration backoff_ = kFirstRetry;
    Instant retry_at_ = Instant::max();
    Instant offline_since_{};
    Instant give_up_at_ = Instant::max();
    Instant leave_deadline_ = Instant::max();
    // stdin lines not yet accepted by the friend layer; front_off_: bytes of the front line sent
    std::deque<std::string> queue_;
    std::size_t queued_bytes_ = 0;
    std::size_t front_off_ = 0;
    std::uint64_t dropped_lines_ = 0;
    std::string line_buf_;
    bool stdin_eof_ = false;
    bool stdin_polled_ = false;
    int stdin_flags_ = 0;
    std::string peer_name_;
    Instant probe_check_at_ = Instant::max();
    std::uint64_t last_packets_received_ = 0;
    bool probing_ = false;
    std::string end_reason_;  ///< why the session is ending, when we know better than Closed
    // The peer's presence as last shown (a Tox peer repeats it on every connection).
    std::string status_message_;
    friends::UserStatus user_status_ = friends::UserStatus::kNone;
    bool typing_ = false;
};

Outcome<void> ChatSession::run() {
    EndpointConfig cfg;
    cfg.allowlist.push_back(target_.peer);  // the friend may connect to us first
    auto node = make_node(o_, std::move(cfg), callbacks());
    if (!node) return tl::unexpected(node.error());
    node_ = std::move(*node);
    node_->show_status = node_->reporter.json();
    dialer_.emplace(*node_, target_);
    node_->on_event = [this](const Event& e) { on_event(e); };
    const Instant now = runtime::monotonic_now();
    if (o_.timeout > 0) {
        give_up_at_ =
            now + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o_.timeout));
    }
    if (auto r = dialer_->start(now); !r) return r;
    stdin_flags_ = ::fcntl(STDIN_FILENO, F_GETFL);
    start_stdin();
    while (phase_ != Phase::kDone && !failure_ && !node_->loop.stopped() && out_.ok()) iterate();
    return finish();
}

friends::FriendCallbacks ChatSession::callbacks() {
    friends::FriendCallbacks cb;
    cb.on_message = [this](ConnectionId, bool action, std::string_view text) {
        show_message(action, text);
    };
    cb.on_info = [this](ConnectionId, std::string_view what, std::string_view value) {
        const std::string before = peer_label();
        if (what == "nickname") {
            if (value == peer_name_) return;
            peer_name_ = value;
            show("name", {{"value", value}}, fmt::format("* {} is now known as {}", before, value));
        } else if (value != status_message_) {
            status_message_ = value;
            show(what, {{"value", value}}, fmt::format("* {}'s status message: {}", before, value));
        }
    };
    cb.on_user_status = [this](ConnectionId, friends::UserStatus s) {
        if (s == user_status_) return;
        user_status_ = s;
        show("user_status", {{"value", user_status_name(s)}},
             fmt::format("* {} is {}", peer_label(), user_status_name(s)));
    };
    cb.on_typing = [this](ConnectionId, bool typing) {
        if (typing == typing_) return;
        typing_ = typing;
        show("typing", {{"value", typing}},
             fmt::format("* {} {}", peer_label(), typing ? "is typing…" : "stopped typing"));
    };
    cb.on_gone = [this](ConnectionId) { end_reason_ = "silent: nothing received for 32 s"; };
    cb.on_delivered = [this](ConnectionId, std::uint32_t message) {
        if (node_->reporter.json()) show("delivered", {{"message", message}}, "");
    };
    return cb;
}

void ChatSession::iterate() {
    const Instant now = runtime::monotonic_now();
    if (phase_ == Phase::kConnecting && now >= give_up_at_) {
        failure_ =
            Failure{fmt::format("peer {} did not answer within {} s", target_.where(), o_.timeout)};
        return;
    }
    if (phase_ == Phase::kOffline && now >= retry_at_) retry(now);
    if (phase_ == Phase::kOnline && now >= probe_check_at_) probe(now);
    if (!stdin_polled_ && !stdin_eof_) read_stdin(now);
    if (phase_ == Phase::kLeaving && connection() &&
        (now >= leave_deadline_ || node_->friends->all_acked(*connection()))) {
        (void)node_->endpoint->close(now, *connection());
        node_->loop.flush();
        phase_ = Phase::kDone;
        return;
    }
    Duration wait = (!stdin_polled_ && !stdin_eof_) ? Duration::zero() : Duration{200ms};
    if (retry_at_ != Instant::max()) wait = std::clamp(retry_at_ - now, Duration::zero(), wait);
    node_->step(wait);
}

Outcome<void> ChatSession::finish() {
    ::fcntl(STDIN_FILENO, F_SETFL, stdin_flags_);
    if (node_->reporter.json()) {
        const DhtStats& d = node_->endpoint->dht_stats();
        nlohmann::json drops = nlohmann::json::object();
        for (std::size_t i = 0; i < kDhtDropReasonCount; ++i) {
            if (d.dropped[i] != 0)
                drops[std::string(to_string(static_cast<DhtDropReason>(i)))] = d.dropped[i];
        }
        show("stats",
             {{"dht",
               {{"lan_discovery_sent", d.lan_discovery_sent},
                {"lan_discovery_answered", d.lan_discovery_answered},
                {"keys_learnt", d.keys_learnt},
                {"requests_not_learnt", d.requests_not_learnt},
                {"nodes_answered", d.nodes_answered},
                {"pings_answered", d.pings_answered},
                {"dropped", drops}}},
              {"dropped", node_->endpoint->stats().total_drops()},
              {"undelivered_lines", queue_.size()},
              {"dropped_lines", dropped_lines_}},
             "");
    }
    if (node_->loop.stopped() && phase_ != Phase::kDone) {
        if (auto id = connection()) (void)node_->endpoint->close(runtime::monotonic_now(), *id);
        node_->loop.flush();
        return {};  // SIGINT/SIGTERM: an ordinary end
    }
    if (failure_) return tl::unexpected(*failure_);
    if (!out_.ok()) return fail("cannot write to stdout (closed pipe?)");
    return {};
}

void ChatSession::on_event(const Event& e) {
    const Instant now = runtime::monotonic_now();
    if (on_probe_result(now, e)) return;
    if (auto failed = dialer_->on_event(now, e)) {
        if (!ever_online_) {
            failure_ = Failure{*failed};
        } else {
            schedule_retry(now);  // still gone: try again later
        }
        return;
    }
    if (!connection() || e.connection() != connection()) return;
    if (const auto* s = e.get_if<StatusChanged>()) on_status(now, *s);
    // JSON mode: the node reports it (event "route"); here the line for a person.
    if (const auto* r = e.get_if<RouteChanged>(); r != nullptr && !node_->reporter.json()) {
        std::fprintf(stderr, "* route: %s\n",
                     describe_route(*r, node_->relay_label(r->relay)).c_str());
    }
    if (e.is<Writable>() || e.is<Acked>()) {
        flush_queue(now);
        maybe_leave(now);
    }
}

void ChatSession::on_status(Instant now, const StatusChanged& s) {
    if (s.to == Status::kEstablished) {
        went_online(now);
        return;
    }
    if (s.to != Status::kClosed) return;
    // Before the first session, a peer whose handshake named another DHT key than we dialled
    // (it restarted, or --peer-dht was stale) replaces our attempt with its connection, which
    // the dialer adopts: nothing failed.
    if (s.reason == CloseReason::kReplaced && !ever_online_) return;
    if (phase_ == Phase::kLeaving) {
        phase_ = Phase::kDone;
        return;
    }
    const std::string why = end_reason_.empty()
                                ? fmt::format("{} while {}", to_string(s.reason), to_string(s.from))
                                : std::exchange(end_reason_, {});
    if (!ever_online_) {
        failure_ = Failure{fmt::format("peer {} did not answer: {}", target_.where(), why)};
        return;
    }
    if (o_.once) {
        show("offline", {{"reason", to_string(s.reason)}}, fmt::format("* {} left", peer_label()));
        phase_ = Phase::kDone;
        return;
    }
    went_offline(now, why);
}

void ChatSession::went_online(Instant now) {
    phase_ = Phase::kOnline;
    const bool again = ever_online_;
    ever_online_ = true;
    backoff_ = kFirstRetry;
    retry_at_ = Instant::max();
    probe_check_at_ = now + kProbeAfterQuiet;
    last_packets_received_ = 0;
    probing_ = false;
    nlohmann::json fields{{"address", dialer_->target().where()}};
    std::string plain = fmt::format("* {} is online", peer_label());
    if (again) {
        const double ms = std::chrono::duration<double, std::milli>(now - offline_since_).count();
        fields["offline_ms"] = ms;
        plain += fmt::format(" again (after {:.1f} s)", ms / 1000);
    }
    show("online", std::move(fields), plain);
    flush_queue(now);
    maybe_leave(now);
}

void ChatSession::went_offline(Instant now, std::string_view why) {
    if (phase_ == Phase::kOnline) {
        offline_since_ = now;
        show("offline", {{"reason", why}},
             fmt::format("* {} is offline ({}); reconnecting", peer_label(), why));
    }
    phase_ = Phase::kOffline;
    front_off_ = 0;  // a line cut by the end of the session is sent again whole
    if (stdin_eof_) {
        if (queue_.empty()) {
            phase_ = Phase::kDone;
        } else {
            failure_ = Failure{fmt::format("{} is offline: {} queued line(s) not delivered",
                                           peer_label(), queue_.size())};
        }
        return;
    }
    schedule_retry(now);
}

void ChatSession::schedule_retry(Instant now) {
    if (phase_ == Phase::kConnecting) phase_ = Phase::kOffline;
    retry_at_ = now + backoff_;
    if (node_->reporter.json()) {
        show("reconnecting",
             {{"in_ms", std::chrono::duration_cast<std::chrono::milliseconds>(backoff_).count()}},
             "");
    }
    backoff_ = std::min(backoff_ * 2, kMaxRetry);
}

/// Asks the friend's address for its DHT key when nothing arrived for kProbeAfterQuiet.
void ChatSession::probe(Instant now) {
    probe_check_at_ = now + kProbeAfterQuiet;
    if (!connection()) return;
    auto info = node_->endpoint->info(*connection());
    if (!info) return;
    const std::uint64_t received = info->stats.packets_received;
    if (received == last_packets_received_ && !probing_ && target_.address) {
        probing_ = node_->endpoint->discover(now, target_.peer, *target_.address).has_value();
    }
    last_packets_received_ = received;
}

/// The answer to probe(): a different DHT key at the friend's address means it started again;
/// this session is then dead (its packets go to a key nobody holds): end it and reconnect.
bool ChatSession::on_probe_result(Instant now, const Event& e) {
    if (!probing_) return false;
    if (const auto* failed = e.get_if<DiscoveryFailed>()) {
        if (failed->address != target_.address) return false;
        probing_ = false;
        return true;
    }
    const auto* learnt = e.get_if<DhtKeyLearned>();
    if (learnt == nullptr || learnt->address != target_.address) return false;
    probing_ = false;
    if (phase_ != Phase::kOnline || !connection()) return true;
    auto info = node_->endpoint->info(*connection());
    if (info && info->peer_dht_key != learnt->peer_dht_key) {
        end_reason_ = "it started again with a new DHT key";
        (void)node_->endpoint->close(now, *connection());
    }
    return true;
}

void ChatSession::retry(Instant now) {
    retry_at_ = Instant::max();
    if (auto r = dialer_->start(now); !r) failure_ = r.error();
}

// --- stdin -----------------------------------------------------------------------------------

void ChatSession::start_stdin() {
    ::fcntl(STDIN_FILENO, F_SETFL, stdin_flags_ | O_NONBLOCK);
    stdin_polled_ = node_->loop
                        .watch(STDIN_FILENO, EPOLLIN,
                               [this](std::uint32_t) { read_stdin(runtime::monotonic_now()); })
                        .has_value();
}

void ChatSession::read_stdin(Instant now) {
    if (stdin_eof_) return;
    std::array<char, 4096> buf{};
    const ssize_t r = ::read(STDIN_FILENO, buf.data(), buf.size());
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) {
        stdin_eof_ = true;
        if (stdin_polled_) node_->loop.unwatch(STDIN_FILENO);
        if (!line_buf_.empty()) queue_line(std::exchange(line_buf_, {}));
        if (phase_ == Phase::kOffline) {
            went_offline(now, "");
        } else {
            flush_queue(now);
            maybe_leave(now);
        }
        return;
    }
    line_buf_.append(buf.data(), static_cast<std::size_t>(r));
    std::size_t nl = 0;
    while ((nl = line_buf_.find('\n')) != std::string::npos) {
        queue_line(line_buf_.substr(0, nl));
        line_buf_.erase(0, nl + 1);
    }
    flush_queue(now);
}

void ChatSession::queue_line(std::string line) {
    if (line.empty()) return;  // Tox messages are never empty
    if (queue_.size() >= kMaxQueuedLines || queued_bytes_ + line.size() > kMaxQueuedBytes) {
        ++dropped_lines_;
        show("dropped", {{"lines", dropped_lines_}},
             fmt::format("* queue full ({} lines): line dropped", queue_.size()));
        return;
    }
    queued_bytes_ += line.size();
    queue_.push_back(std::move(line));
    if (phase_ != Phase::kOnline) {
        show("queued", {{"lines", queue_.size()}},
             fmt::format("* {} is not online: {} line(s) queued", peer_label(), queue_.size()));
    }
}

/// Sends queued lines while online, as text messages of at most kStreamChunk bytes each.
void ChatSession::flush_queue(Instant now) {
    if (phase_ != Phase::kOnline || !connection()) return;
    while (!queue_.empty()) {
        const std::string& line = queue_.front();
        while (front_off_ < line.size()) {
            const auto part = std::string_view(line).substr(front_off_, friends::kStreamChunk);
            auto r = node_->friends->send_message(now, *connection(), part);
            if (!r) {
                if (r.error() != Error::kWouldBlock) {
                    failure_ =
                        Failure{fmt::format("cannot send message: {}", to_string(r.error()))};
                }
                return;  // retried on Writable / Acked
            }
            front_off_ += part.size();
        }
        queued_bytes_ -= line.size();
        queue_.pop_front();
        front_off_ = 0;
    }
}

/// After stdin ended: once every line was sent and acknowledged, say OFFLINE and leave.
void ChatSession::maybe_leave(Instant now) {
    if (!stdin_eof_ || phase_ != Phase::kOnline || !queue_.empty() || !connection()) return;
    if (!node_->friends->all_acked(*connection())) return;
    phase_ = Phase::kLeaving;
    leave_deadline_ = now + kLeaveWait;
    if (!node_->friends->send_offline(now, *connection())) leave_deadline_ = now;
}

// --- output ----------------------------------------------------------------------------------

std::string ChatSession::peer_label() const {
    if (!peer_name_.empty()) return peer_name_;
    return target_.peer.to_hex().substr(0, 8);
}

void ChatSession::show_message(bool action, std::string_view text) {
    if (node_->reporter.json()) {
        out_.write(fmt::format("{}{}\n", action ? "* " : "", text));
        show("message", {{"text", text}, {"action", action}}, "");
        return;
    }
    out_.write(action ? fmt::format("* {} {}\n", peer_label(), text)
                      : fmt::format("{}: {}\n", peer_label(), text));
}

void ChatSession::show(std::string_view event, nlohmann::json fields,
                       const std::string& plain) const {
    if (node_->reporter.json()) {
        fields["event"] = event;
        fields["peer"] = target_.peer.to_hex();
        node_->reporter.line(fields);
    } else if (!plain.empty()) {
        std::fprintf(stderr, "%s\n", plain.c_str());
    }
}

}  // namespace

Outcome<void> run_chat(const ConnectOptions& o) {
    auto target = parse_target(o);
    if (!target) return tl::unexpected(target.error());
    ChatSession session(o, *target);
    return session.run();
}

}  // namespace netcrypto::cli
