// connect: one outgoing connection. stdin goes to the peer as a stream, what the peer sends
// goes to stdout (chat: chat.cpp).
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <memory>
#include <optional>
#include <string>
#include <sys/epoll.h>
#include <unistd.h>
#include <vector>

#include <fmt/core.h>

#include <netcrypto/friend.hpp>
#include <netcrypto/runtime.hpp>

#include "cli/commands.hpp"
#include "cli/dialer.hpp"
#include "cli/node.hpp"

namespace netcrypto::cli {

namespace {

/// One connect run. The phases follow each other in the order listed; a failure
/// (failure_) ends the run in any phase.
class ConnectSession {
  public:
    enum class Phase {
        kConnecting,         ///< the handshake is under way (--timeout counts)
        kStreaming,          ///< established: stdin is read and sent
        kBlocked,            ///< the send queue is full: wait for kWritable or kAcked
        kDraining,           ///< stdin ended: wait until the peer acknowledged everything
        kAnnouncingOffline,  ///< OFFLINE sent: wait for its acknowledgement (at most 5 s)
        kLingering,          ///< OFFLINE acknowledged: take the peer's last data (its answer)
        kClosing,            ///< we closed the connection (KILL); its kClosed event is ours
        kPeerLeft,           ///< the peer closed after our OFFLINE: a clean end
    };

    explicit ConnectSession(const ConnectOptions& o) : o_(o) {}
    ConnectSession(const ConnectSession&) = delete;
    ConnectSession& operator=(const ConnectSession&) = delete;

    Outcome<void> run(const Target& target);

  private:
    static constexpr Duration kOfflineWait = std::chrono::seconds{5};
    /// After our OFFLINE was acknowledged, the peer may still answer (e.g. a `listen --exec`
    /// command that needed all our input): we stay until it says OFFLINE or closes, or until it
    /// sent nothing for this long.
    static constexpr Duration kLinger = std::chrono::seconds{2};
    static constexpr std::size_t kReadSize = std::size_t{256} * 1024;

    friends::FriendCallbacks callbacks();
    [[nodiscard]] bool running() const;
    /// The peer as the user named it: --to, or "relays" without an address.
    [[nodiscard]] std::string where() const { return dialer_->target().where(); }
    void iterate();
    Outcome<void> finish();

    // Events of our connection.
    void on_event(const Event& e);
    void on_established(Instant now);
    void on_send_room(Instant now);
    void on_closed(CloseReason reason, Status last);

    // Phase steps of the main loop.
    void give_up();
    bool announce_offline(Instant now);
    void close(Instant now);

    // stdin to the peer.
    void start_stdin();
    void read_stdin(Instant now);
    void send_pending(Instant now);
    bool send_pending_stream(Instant now);

    const ConnectOptions& o_;
    std::optional<Dialer> dialer_;
    Phase phase_ = Phase::kConnecting;
    std::optional<Failure> failure_;
    StdoutSink out_;
    std::unique_ptr<Node> node_;
    ConnectionId id_;
    Instant started_;
    Instant give_up_at_ = Instant::max();
    Instant offline_deadline_ = Instant::max();
    Instant linger_deadline_ = Instant::max();
    bool peer_said_offline_ = false;  ///< the peer announced OFFLINE (its end of the stream)
    // stdin: polled when it is a pipe/terminal/socket; read directly when it is a file.
    int stdin_flags_ = 0;
    bool stdin_polled_ = false;
    std::vector<std::uint8_t> pending_;  ///< read from stdin, not yet accepted by the endpoint
    std::size_t pending_off_ = 0;
};

Outcome<void> ConnectSession::run(const Target& target) {
    EndpointConfig cfg;
    cfg.allowlist.push_back(target.peer);  // the peer may connect to us first
    auto node = make_node(o_, std::move(cfg), callbacks());
    if (!node) return tl::unexpected(node.error());
    node_ = std::move(*node);
    started_ = runtime::monotonic_now();
    dialer_.emplace(*node_, target);
    if (auto r = dialer_->start(started_); !r) return r;
    stdin_flags_ = ::fcntl(STDIN_FILENO, F_GETFL);
    node_->on_event = [this](const Event& e) { on_event(e); };
    if (o_.timeout > 0) {
        give_up_at_ = started_ + std::chrono::duration_cast<Duration>(
                                     std::chrono::duration<double>(o_.timeout));
    }
    while (running()) iterate();
    return finish();
}

friends::FriendCallbacks ConnectSession::callbacks() {
    friends::FriendCallbacks cb;
    cb.on_stream = [this](ConnectionId, std::span<const std::uint8_t> bytes) {
        out_.write(bytes);
        if (phase_ == Phase::kLingering) linger_deadline_ = runtime::monotonic_now() + kLinger;
    };
    cb.on_presence = [this](ConnectionId, bool online) {
        if (online) return;
        peer_said_offline_ = true;
        if (phase_ == Phase::kLingering) close(runtime::monotonic_now());
    };
    return cb;
}

bool ConnectSession::running() const {
    return !failure_ && phase_ < Phase::kClosing && !node_->loop.stopped() && out_.ok();
}

/// One turn of the main loop: the checks of the current phase, then one loop step.
void ConnectSession::iterate() {
    const Instant now = runtime::monotonic_now();
    if (phase_ == Phase::kConnecting && now >= give_up_at_) {
        give_up();
        return;
    }
    if (phase_ == Phase::kStreaming && !stdin_polled_) read_stdin(now);
    if (phase_ == Phase::kDraining && node_->friends->all_acked(id_) && announce_offline(now)) {
        return;
    }
    if (phase_ == Phase::kAnnouncingOffline &&
        (now >= offline_deadline_ || node_->friends->all_acked(id_))) {
        if (peer_said_offline_) {
            close(now);
        } else {
            phase_ = Phase::kLingering;
            linger_deadline_ = now + kLinger;
        }
        return;
    }
    if (phase_ == Phase::kLingering && now >= linger_deadline_) {
        close(now);
        return;
    }
    const bool busy = phase_ == Phase::kStreaming && !stdin_polled_;
    node_->step(busy ? Duration::zero() : std::chrono::milliseconds{200});
}

Outcome<void> ConnectSession::finish() {
    ::fcntl(STDIN_FILENO, F_SETFL, stdin_flags_);
    if (node_->loop.stopped() && phase_ != Phase::kClosing) {
        // SIGINT/SIGTERM: an ordinary end.
        (void)node_->endpoint->close(runtime::monotonic_now(), id_);
        node_->loop.flush();
        return {};
    }
    if (failure_) return tl::unexpected(*failure_);
    if (!out_.ok()) return fail("cannot write to stdout (closed pipe?)");
    return {};
}

/// The one place that reads the fields of an event.
void ConnectSession::on_event(const Event& e) {
    const Instant now = runtime::monotonic_now();
    if (auto failed = dialer_->on_event(now, e)) {
        failure_ = Failure{*failed};
        return;
    }
    if (!dialer_->connection() || e.connection() != dialer_->connection()) return;
    id_ = *dialer_->connection();
    const auto* s = e.get_if<StatusChanged>();
    if (s != nullptr && s->to == Status::kEstablished) on_established(now);
    // send_stream stops at a full buffer (Writable) or a full queue budget (Acked).
    if (e.is<Writable>() || e.is<Acked>()) on_send_room(now);
    // Replaced before Established: the peer's own connection took over (the dialer adopts it).
    const bool replaced_early =
        s != nullptr && s->reason == CloseReason::kReplaced && phase_ == Phase::kConnecting;
    if (s != nullptr && s->to == Status::kClosed && !replaced_early) on_closed(s->reason, s->from);
}

void ConnectSession::on_established(Instant now) {
    if (phase_ != Phase::kConnecting) return;
    phase_ = Phase::kStreaming;
    node_->reporter.note(
        "handshake_ms",
        fmt::format("{:.3f}", std::chrono::duration<double, std::milli>(now - started_).count()));
    start_stdin();
}

void ConnectSession::on_send_room(Instant now) {
    if (phase_ != Phase::kBlocked) return;
    phase_ = Phase::kStreaming;
    send_pending(now);
}

void ConnectSession::on_closed(CloseReason reason, Status last) {
    if (phase_ == Phase::kClosing) return;
    if (reason == CloseReason::kKilledByPeer &&
        (phase_ == Phase::kAnnouncingOffline || phase_ == Phase::kLingering ||
         peer_said_offline_)) {
        // All our data was acknowledged before our OFFLINE went out, or the peer announced
        // the end of its stream before closing: a clean end.
        phase_ = Phase::kPeerLeft;
        return;
    }
    if (reason == CloseReason::kTimedOut) {
        failure_ = Failure{
            fmt::format("peer {} did not answer: timed out in {}", where(), to_string(last))};
        return;
    }
    failure_ = Failure{fmt::format("connection to {} closed: {} while {}", where(),
                                   to_string(reason), to_string(last))};
}

void ConnectSession::give_up() {
    auto info = node_->endpoint->info(id_);
    failure_ = Failure{fmt::format("peer {} did not answer within {} s (status {})", where(),
                                   o_.timeout, info ? to_string(info->status) : "Closed")};
}

/// Everything arrived: say OFFLINE (reliable, unlike the KILL after it) and wait for its
/// acknowledgement (at most kOfflineWait). False if OFFLINE could not be queued.
bool ConnectSession::announce_offline(Instant now) {
    phase_ = Phase::kAnnouncingOffline;
    offline_deadline_ = now + kOfflineWait;
    return node_->friends->send_offline(now, id_).has_value();
}

void ConnectSession::close(Instant now) {
    phase_ = Phase::kClosing;
    (void)node_->endpoint->close(now, id_);
    node_->loop.flush();
}

void ConnectSession::start_stdin() {
    ::fcntl(STDIN_FILENO, F_SETFL, stdin_flags_ | O_NONBLOCK);
    stdin_polled_ = node_->loop
                        .watch(STDIN_FILENO, EPOLLIN,
                               [this](std::uint32_t) { read_stdin(runtime::monotonic_now()); })
                        .has_value();
}

void ConnectSession::read_stdin(Instant now) {
    if (phase_ != Phase::kStreaming || !pending_.empty()) return;
    pending_.resize(kReadSize);
    const ssize_t r = ::read(STDIN_FILENO, pending_.data(), pending_.size());
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        pending_.clear();
        return;
    }
    if (r <= 0) {
        pending_.clear();
        phase_ = Phase::kDraining;
        return;
    }
    pending_.resize(static_cast<std::size_t>(r));
    send_pending(now);
}

/// Hands what stdin gave to the friend layer; stops in kBlocked when the queue is full.
void ConnectSession::send_pending(Instant now) {
    if (!send_pending_stream(now)) return;
    pending_.clear();
    pending_off_ = 0;
}

bool ConnectSession::send_pending_stream(Instant now) {
    while (pending_off_ < pending_.size()) {
        const auto rest = std::span<const std::uint8_t>(pending_).subspan(pending_off_);
        auto r = node_->friends->send_stream(now, id_, rest);
        if (!r) {
            failure_ = Failure{fmt::format("send failed: {}", to_string(r.error()))};
            return false;
        }
        pending_off_ += *r;
        if (*r == 0) {
            phase_ = Phase::kBlocked;
            return false;
        }
    }
    return true;
}

}  // namespace

Outcome<void> run_connect(const ConnectOptions& o) {
    auto target = parse_target(o);
    if (!target) return tl::unexpected(target.error());
    ConnectSession session(o);
    return session.run(*target);
}

}  // namespace netcrypto::cli
