// listen --exec: one child process per connection (see listen_exec.hpp).
#include "cli/listen_exec.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <optional>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <fmt/core.h>

#include <netcrypto/runtime.hpp>

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for posix_spawn

namespace netcrypto::cli {

namespace {
/// Peer bytes buffered for a child before the peer's messages are left unread.
constexpr std::size_t kMaxToChild = std::size_t{1} << 20U;
/// Bytes read from a child's stdout at once (and buffered at most).
constexpr std::size_t kReadSize = std::size_t{64} * 1024;
constexpr Duration kOfflineWait = std::chrono::seconds{5};
constexpr Duration kTermGrace = std::chrono::seconds{10};
constexpr Duration kKillGrace = std::chrono::seconds{5};

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}
}  // namespace

void report_event(const Reporter& reporter, const nlohmann::json& j, std::string_view plain) {
    if (reporter.json()) {
        std::cerr << j.dump() << std::endl;
    } else {
        std::cerr << plain << std::endl;
    }
}

struct ExecServer::Child {
    ConnectionId id;
    PublicKey peer;
    pid_t pid = -1;   ///< -1: not started yet (connection not established)
    int in_fd = -1;   ///< our end of the child's stdin
    int out_fd = -1;  ///< our end of the child's stdout
    bool in_watched = false;
    bool out_watched = false;
    std::vector<std::uint8_t> to_child;  ///< from the peer, not yet written to the child
    std::vector<std::uint8_t> to_peer;   ///< from the child, not yet taken by the friend layer
    std::size_t to_peer_off = 0;
    bool paused = false;     ///< the peer's messages are left unread (to_child full)
    bool peer_done = false;  ///< OFFLINE or closed: stdin closes once drained
    bool established = false;
    bool closed = false;  ///< the connection ended
    bool exited = false;  ///< reaped
    bool offline_sent = false;
    bool close_sent = false;
    Instant offline_deadline{};
    Instant closed_at{};
    std::optional<Instant> stdin_closed_at;
    bool term_sent = false;
};

ExecServer::ExecServer(Node& node, const ListenOptions& o) : node_(node), o_(o) {}

ExecServer::~ExecServer() { shutdown(); }

bool ExecServer::full() const { return children_.size() >= std::size_t{o_.max_peers}; }

void ExecServer::reserve(ConnectionId id) {
    auto c = std::make_unique<Child>();
    c->id = id;
    children_[id.value] = std::move(c);
}

ExecServer::Child* ExecServer::find(ConnectionId id) {
    auto it = children_.find(id.value);
    return it == children_.end() ? nullptr : it->second.get();
}

void ExecServer::on_event(const Event& e) {
    const auto id = e.connection();
    if (!id) return;
    const auto* s = e.get_if<StatusChanged>();
    Child* c = find(*id);
    if (c == nullptr && s != nullptr && s->to == Status::kEstablished) {
        // A connection that took over another one (the peer restarted): serve it too.
        if (full()) {
            (void)node_.endpoint->close(runtime::monotonic_now(), *id);
            return;
        }
        reserve(*id);
        c = find(*id);
    }
    if (c == nullptr) return;
    if (s != nullptr && s->to == Status::kEstablished && !c->established) {
        c->established = true;
        c->peer = s->peer_key;
        spawn(*c);
    } else if (s != nullptr && s->to == Status::kClosed) {
        on_closed(*c);
    } else if (e.is<Writable>() || e.is<Acked>()) {
        flush_to_peer(*c);
    }
}

void ExecServer::spawn(Child& c) {
    std::array<int, 2> in{-1, -1};
    std::array<int, 2> out{-1, -1};
    if (::pipe2(in.data(), O_CLOEXEC) != 0 || ::pipe2(out.data(), O_CLOEXEC) != 0) {
        for (int& fd : in) close_fd(fd);
        node_.reporter.note("exec_failed", "cannot create pipes");
        (void)node_.endpoint->close(runtime::monotonic_now(), c.id);
        return;
    }
    const auto info = node_.endpoint->info(c.id);
    std::vector<std::string> env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string_view kv(*e);
        if (!kv.starts_with("NETCRYPTO_PEER") && !kv.starts_with("NETCRYPTO_CONNECTION=")) {
            env.emplace_back(kv);
        }
    }
    env.push_back("NETCRYPTO_PEER=" + c.peer.to_hex());
    // Empty for a peer reached through a relay only (no UDP address known).
    env.push_back("NETCRYPTO_PEER_ADDRESS=" +
                  (info && info->address != Address{} ? info->address.to_string() : std::string()));
    env.push_back(fmt::format("NETCRYPTO_CONNECTION={}", c.id.value));
    std::vector<char*> envp;
    envp.reserve(env.size() + 1);
    for (auto& kv : env) envp.push_back(kv.data());
    envp.push_back(nullptr);
    std::string sh = "sh";
    std::string dash_c = "-c";
    std::string cmd = o_.exec;
    std::array<char*, 4> argv{sh.data(), dash_c.data(), cmd.data(), nullptr};

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Our signal mask blocks SIGINT/SIGTERM (signalfd) and we ignore SIGPIPE: not the child.
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGINT, SIGTERM}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    // Its own process group: SIGTERM reaches the command's children too (sh -c 'a | b').
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    const int rc = ::posix_spawn(&c.pid, "/bin/sh", &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close_fd(in[0]);
    close_fd(out[1]);
    c.in_fd = in[1];
    c.out_fd = out[0];
    if (rc != 0) {
        c.pid = -1;
        c.exited = true;
        close_fd(c.in_fd);
        close_fd(c.out_fd);
        node_.reporter.note("exec_failed", std::strerror(rc));
        (void)node_.endpoint->close(runtime::monotonic_now(), c.id);
        return;
    }
    ::fcntl(c.in_fd, F_SETFL, O_NONBLOCK);
    ::fcntl(c.out_fd, F_SETFL, O_NONBLOCK);
    report_event(
        node_.reporter,
        {{"event", "exec"}, {"peer", c.peer.to_hex()}, {"connection", c.id.value}, {"pid", c.pid}},
        fmt::format("exec: peer {}… connection {} pid {}", c.peer.to_hex().substr(0, 16),
                    c.id.value, c.pid));
    watch_stdout(c, true);
}

void ExecServer::on_closed(Child& c) {
    c.closed = true;
    c.closed_at = runtime::monotonic_now();
    c.peer_done = true;
    c.paused = false;
    c.to_peer.clear();
    c.to_peer_off = 0;
    close_stdout(c);  // nobody reads it any more: a writing child gets SIGPIPE
    if (c.to_child.empty()) close_stdin(c);
}

void ExecServer::on_stream(ConnectionId id, std::span<const std::uint8_t> bytes) {
    Child* c = find(id);
    if (c == nullptr || c->in_fd < 0) return;
    c->to_child.insert(c->to_child.end(), bytes.begin(), bytes.end());
    write_to_child(*c);
}

void ExecServer::on_message(ConnectionId id, std::string_view text) {
    Child* c = find(id);
    if (c == nullptr || c->in_fd < 0) return;
    c->to_child.insert(c->to_child.end(), text.begin(), text.end());
    c->to_child.push_back('\n');
    write_to_child(*c);
}

void ExecServer::on_peer_offline(ConnectionId id) {
    Child* c = find(id);
    if (c == nullptr) return;
    c->peer_done = true;
    if (c->to_child.empty()) close_stdin(*c);
}

void ExecServer::write_to_child(Child& c) {
    std::size_t off = 0;
    while (c.in_fd >= 0 && off < c.to_child.size()) {
        const ssize_t n = ::write(c.in_fd, c.to_child.data() + off, c.to_child.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        if (n <= 0) {        // the child closed its stdin (or exited): the rest has no reader
            close_stdin(c);  // drops what is buffered (to_child is empty afterwards)
            return;
        }
        off += static_cast<std::size_t>(n);
    }
    c.to_child.erase(c.to_child.begin(), c.to_child.begin() + static_cast<std::ptrdiff_t>(off));
    const bool want_out = c.in_fd >= 0 && !c.to_child.empty();
    if (want_out != c.in_watched) {
        if (want_out) {
            Child* raw = &c;
            c.in_watched =
                node_.loop
                    .watch(c.in_fd, EPOLLOUT, [this, raw](std::uint32_t) { write_to_child(*raw); })
                    .has_value();
        } else {
            node_.loop.unwatch(c.in_fd);
            c.in_watched = false;
        }
    }
    const bool pause = c.to_child.size() >= kMaxToChild && !c.closed;
    if (pause != c.paused) {
        c.paused = pause;
        node_.friends->pause_receive(runtime::monotonic_now(), c.id, pause);  // may re-enter
        return;
    }
    if (c.peer_done && c.to_child.empty()) close_stdin(c);
}

void ExecServer::close_stdin(Child& c) {
    if (c.in_fd < 0) return;
    if (c.in_watched) node_.loop.unwatch(c.in_fd);
    c.in_watched = false;
    close_fd(c.in_fd);
    c.to_child.clear();
    c.stdin_closed_at = runtime::monotonic_now();
    if (c.paused) {
        c.paused = false;
        node_.friends->pause_receive(runtime::monotonic_now(), c.id, false);
    }
}

void ExecServer::watch_stdout(Child& c, bool on) {
    if (c.out_fd < 0 || on == c.out_watched) return;
    if (on) {
        Child* raw = &c;
        c.out_watched =
            node_.loop
                .watch(c.out_fd, EPOLLIN, [this, raw](std::uint32_t) { read_from_child(*raw); })
                .has_value();
    } else {
        node_.loop.unwatch(c.out_fd);
        c.out_watched = false;
    }
}

void ExecServer::close_stdout(Child& c) {
    watch_stdout(c, false);
    close_fd(c.out_fd);
}

void ExecServer::read_from_child(Child& c) {
    if (c.out_fd < 0 || !c.to_peer.empty()) return;
    c.to_peer.resize(kReadSize);
    const ssize_t n = ::read(c.out_fd, c.to_peer.data(), c.to_peer.size());
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        c.to_peer.clear();
        return;
    }
    if (n <= 0) {  // end of the child's stdout
        c.to_peer.clear();
        close_stdout(c);
        return;
    }
    c.to_peer.resize(static_cast<std::size_t>(n));
    c.to_peer_off = 0;
    flush_to_peer(c);
}

/// Hands the child's output to the friend layer; while it refuses, the child's stdout is not
/// read (the pipe fills and the child blocks).
void ExecServer::flush_to_peer(Child& c) {
    if (c.to_peer.empty() || c.closed) return;
    const auto rest = std::span<const std::uint8_t>(c.to_peer).subspan(c.to_peer_off);
    auto r = node_.friends->send_stream(runtime::monotonic_now(), c.id, rest);
    if (!r) {
        (void)node_.endpoint->close(runtime::monotonic_now(), c.id);
        return;
    }
    c.to_peer_off += *r;
    if (c.to_peer_off < c.to_peer.size()) {
        watch_stdout(c, false);  // wait for Acked / Writable (or the next tick)
        return;
    }
    c.to_peer.clear();
    c.to_peer_off = 0;
    watch_stdout(c, true);
}

void ExecServer::reap(Child& c) {
    if (c.pid < 0 || c.exited) return;
    int status = 0;
    const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
    if (r != c.pid) return;
    c.exited = true;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    report_event(
        node_.reporter,
        {{"event", "exit"}, {"peer", c.peer.to_hex()}, {"pid", c.pid}, {"status", code}},
        fmt::format("exit: peer {}… pid {} status {}", c.peer.to_hex().substr(0, 16), c.pid, code));
}

/// One child's timers; true when its entry can go (child reaped, connection ended).
bool ExecServer::step_child(Instant now, Child& c) {
    reap(c);
    if (!c.to_peer.empty()) flush_to_peer(c);
    if (c.closed) {
        if (c.pid < 0 || c.exited) {
            close_stdin(c);
            return true;
        }
        // The grace period runs from the end of its stdin (or from the end of the connection
        // when the child never read its stdin to the end).
        const Instant since = c.stdin_closed_at.value_or(c.closed_at + kTermGrace);
        if (now >= since + kTermGrace) {
            if (!c.term_sent) {
                ::kill(-c.pid, SIGTERM);
                c.term_sent = true;
            } else if (now >= since + kTermGrace + kKillGrace) {
                ::kill(-c.pid, SIGKILL);
            }
        }
        return false;
    }
    // The child is done and everything it wrote was handed over: OFFLINE, then close.
    if (c.exited && c.out_fd < 0 && c.to_peer.empty() && c.established && !c.offline_sent) {
        c.offline_sent = node_.friends->send_offline(now, c.id).has_value();
        c.offline_deadline = now + kOfflineWait;
    }
    if (c.offline_sent && !c.close_sent &&
        (now >= c.offline_deadline || node_.friends->all_acked(c.id))) {
        c.close_sent = true;
        (void)node_.endpoint->close(now, c.id);
    }
    return false;
}

void ExecServer::tick(Instant now) {
    for (auto it = children_.begin(); it != children_.end();) {
        if (step_child(now, *it->second)) {
            ++finished_;
            it = children_.erase(it);
        } else {
            ++it;
        }
    }
}

void ExecServer::shutdown() {
    for (auto& [key, c] : children_) {
        if (c->in_watched) node_.loop.unwatch(c->in_fd);
        c->in_watched = false;
        close_fd(c->in_fd);
        close_stdout(*c);
        if (c->pid > 0 && !c->exited) ::kill(-c->pid, SIGTERM);
    }
    for (int i = 0; i < 200; ++i) {  // at most 2 s
        bool running = false;
        for (auto& [key, c] : children_) {
            reap(*c);
            running = running || (c->pid > 0 && !c->exited);
        }
        if (!running) break;
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    for (auto& [key, c] : children_) {
        if (c->pid > 0 && !c->exited) {
            ::kill(-c->pid, SIGKILL);
            ::waitpid(c->pid, nullptr, 0);
        }
    }
    children_.clear();
}

}  // namespace netcrypto::cli
