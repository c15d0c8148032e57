// keygen, id, listen, connect and chat.
#include "cli/commands.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <iostream>
#include <memory>
#include <sys/epoll.h>
#include <unistd.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

namespace netcrypto::cli {

namespace {

/// Writes everything to a descriptor (blocking); false on error (e.g. a closed pipe).
bool write_all(int fd, std::span<const std::uint8_t> data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            // stdout is non-blocking (shared file description): wait until it drains.
            fd_set set;
            FD_ZERO(&set);
            FD_SET(fd, &set);
            ::select(fd + 1, nullptr, &set, nullptr, nullptr);
            continue;
        }
        if (n <= 0) return false;
        data = data.subspan(static_cast<std::size_t>(n));
    }
    return true;
}

/// One running endpoint with its loop, friend layer and reporter.
struct Node {
    explicit Node(bool json) : reporter(json) {}
    Reporter reporter;
    SodiumRng rng;
    std::unique_ptr<Endpoint> endpoint;
    runtime::Loop loop;
    std::unique_ptr<friends::FriendLayer> friends;
    Address local;
    std::function<void(const Event&)> on_event;  ///< command-specific handling

    /// Runs the loop once, including the friend layer's timers.
    void step(Duration max_wait) {
        const Instant now = runtime::monotonic_now();
        if (auto t = friends->next_timeout()) {
            if (*t <= now) friends->on_timeout(now);
            if (auto t2 = friends->next_timeout()) max_wait = std::min(max_wait, *t2 - now);
        }
        loop.run_once(std::max(max_wait, Duration::zero()));
    }
};

Outcome<std::unique_ptr<Node>> make_node(const PeerOptions& o, EndpointConfig cfg,
                                         friends::FriendCallbacks callbacks) {
    auto node = std::make_unique<Node>(o.json);
    auto secret = load_secret_key(o.key_file);
    if (!secret) return tl::unexpected(secret.error());
    KeyPair dht = KeyPair::generate(node->rng);
    if (!o.dht_key_file.empty()) {
        auto dht_secret = load_secret_key(o.dht_key_file);
        if (!dht_secret) return tl::unexpected(dht_secret.error());
        dht = KeyPair::from_secret(*dht_secret);
    }
    auto bind = parse_address(o.bind, "--bind");
    if (!bind) return tl::unexpected(bind.error());
    node->endpoint =
        std::make_unique<Endpoint>(KeyPair::from_secret(*secret), std::move(dht), node->rng,
                                   runtime::monotonic_now(), std::move(cfg));
    node->friends = std::make_unique<friends::FriendLayer>(*node->endpoint, std::move(callbacks));
    Node* raw = node.get();
    runtime::BindOptions bo;
    bo.drop_probability = o.loss_percent / 100.0;
    auto local = node->loop.attach(
        *node->endpoint, *bind,
        [raw](const Event& e) {
            if (const auto* s = e.get_if<StatusChanged>()) raw->reporter.status(*s);
            if (raw->on_event) raw->on_event(e);
            raw->friends->on_event(runtime::monotonic_now(), e);
        },
        bo);
    if (!local) return fail(local.error());
    node->local = *local;
    auto sig = node->loop.handle_signals([raw](int) {
        const Instant now = runtime::monotonic_now();
        for (auto id : raw->endpoint->connections()) (void)raw->endpoint->close(now, id);
    });
    if (!sig) return fail(sig.error());
    node->reporter.ready(node->endpoint->public_key(), node->endpoint->dht_public_key(),
                         node->local);
    return node;
}

}  // namespace

Outcome<void> run_keygen(const std::string& out) {
    SodiumRng rng;
    const KeyPair kp = KeyPair::generate(rng);
    if (auto r = write_secret_key(out, kp.secret_key); !r) return r;
    std::cout << kp.public_key.to_hex() << std::endl;
    return {};
}

Outcome<void> run_id(const std::string& key_file) {
    auto secret = load_secret_key(key_file);
    if (!secret) return tl::unexpected(secret.error());
    std::cout << KeyPair::from_secret(*secret).public_key.to_hex() << std::endl;
    return {};
}

Outcome<void> run_listen(const ListenOptions& o) {
    EndpointConfig cfg;
    for (const auto& hex : o.allow) {
        auto pk = parse_public_key(hex, "--allow");
        if (!pk) return tl::unexpected(pk.error());
        cfg.allowlist.push_back(*pk);
    }
    cfg.accept_all = cfg.allowlist.empty();
    bool stdout_ok = true;
    friends::FriendCallbacks cb;
    cb.on_stream = [&](ConnectionId, std::span<const std::uint8_t> bytes) {
        if (stdout_ok && !write_all(STDOUT_FILENO, bytes)) stdout_ok = false;
    };
    Reporter* rep = nullptr;
    cb.on_message = [&](ConnectionId, bool action, std::string_view text) {
        rep->note(action ? "action" : "message", text);
    };
    bool finished = false;
    // OFFLINE comes after all of the peer's data (lossless, in order) and, unlike its KILL,
    // is retransmitted: with --once it ends the run even when the KILL is lost.
    cb.on_presence = [&](ConnectionId, bool online) {
        if (!online && o.once) finished = true;
    };
    auto node = make_node(o, std::move(cfg), std::move(cb));
    if (!node) return tl::unexpected(node.error());
    Node& n = **node;
    rep = &n.reporter;
    n.on_event = [&](const Event& e) {
        if (const auto* in = e.get_if<IncomingRequest>()) {
            // Only peers outside the allowlist surface here: refuse them.
            (void)n.endpoint->reject(in->request);
            n.reporter.note("rejected", in->peer_key.to_hex());
        }
        const auto* s = e.get_if<StatusChanged>();
        if (s != nullptr && s->to == Status::kClosed && o.once) finished = true;
    };
    while (!finished && !n.loop.stopped() && stdout_ok) n.step(std::chrono::seconds{1});
    const Instant now = runtime::monotonic_now();
    for (auto id : n.endpoint->connections()) (void)n.endpoint->close(now, id);
    n.loop.flush();
    if (!stdout_ok) return fail("cannot write to stdout (closed pipe?)");
    return {};
}

Outcome<void> run_connect(const ConnectOptions& o, bool chat) {
    auto to = parse_address(o.to, "--to");
    if (!to) return tl::unexpected(to.error());
    auto peer = parse_public_key(o.peer, "--peer");
    if (!peer) return tl::unexpected(peer.error());
    auto peer_dht = parse_public_key(o.peer_dht, "--peer-dht");
    if (!peer_dht) return tl::unexpected(peer_dht.error());

    bool stdout_ok = true;
    friends::FriendCallbacks cb;
    cb.on_stream = [&](ConnectionId, std::span<const std::uint8_t> bytes) {
        if (!chat && stdout_ok && !write_all(STDOUT_FILENO, bytes)) stdout_ok = false;
    };
    cb.on_message = [&](ConnectionId, bool action, std::string_view text) {
        std::string line = action ? "* " : "";
        line.append(text);
        line.push_back('\n');
        if (stdout_ok &&
            !write_all(STDOUT_FILENO,
                       std::span<const std::uint8_t>(
                           reinterpret_cast<const std::uint8_t*>(line.data()), line.size()))) {
            stdout_ok = false;
        }
    };
    auto node = make_node(o, EndpointConfig{}, std::move(cb));
    if (!node) return tl::unexpected(node.error());
    Node& n = **node;

    const Instant started = runtime::monotonic_now();
    auto id = n.endpoint->connect(started, *peer, *peer_dht, *to);
    if (!id) return fail(fmt::format("cannot connect: {}", to_string(id.error())));

    // stdin: polled when it is a pipe/terminal/socket; read directly when it is a file.
    const int flags = ::fcntl(STDIN_FILENO, F_GETFL);
    bool established = false;
    bool eof = false;
    bool blocked = false;
    bool closed_by_us = false;
    bool offline_sent = false;
    bool peer_left = false;
    constexpr Duration offline_wait = std::chrono::seconds{5};
    Instant offline_deadline = Instant::max();
    std::optional<Failure> failure;
    std::vector<std::uint8_t> pending;  // read from stdin, not yet accepted by the endpoint
    std::size_t pending_off = 0;
    std::string line_buf;

    auto send_pending = [&](Instant now) {
        while (pending_off < pending.size()) {
            const auto rest = std::span<const std::uint8_t>(pending).subspan(pending_off);
            if (chat) {
                // One message per line, split at 1372 bytes.
                line_buf.append(reinterpret_cast<const char*>(rest.data()), rest.size());
                pending_off = pending.size();
                break;
            }
            auto r = n.friends->send_stream(now, *id, rest);
            if (!r) {
                failure = Failure{fmt::format("send failed: {}", to_string(r.error()))};
                return;
            }
            pending_off += *r;
            if (*r == 0) {
                blocked = true;
                return;
            }
        }
        if (chat) {
            std::size_t nl = 0;
            while ((nl = line_buf.find('\n')) != std::string::npos || (eof && !line_buf.empty())) {
                std::string line =
                    line_buf.substr(0, nl == std::string::npos ? line_buf.size() : nl);
                line_buf.erase(0, nl == std::string::npos ? line_buf.size() : nl + 1);
                for (std::size_t off = 0; off < line.size(); off += friends::kStreamChunk) {
                    auto part = std::string_view(line).substr(off, friends::kStreamChunk);
                    if (auto r = n.friends->send_message(now, *id, part); !r) {
                        failure =
                            Failure{fmt::format("cannot send message: {}", to_string(r.error()))};
                        return;
                    }
                }
            }
        }
        pending.clear();
        pending_off = 0;
        blocked = false;
    };

    auto read_stdin = [&](Instant now) {
        if (eof || blocked || !pending.empty()) return;
        pending.resize(std::size_t{256} * 1024);
        const ssize_t r = ::read(STDIN_FILENO, pending.data(), pending.size());
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            pending.clear();
            return;
        }
        if (r <= 0) {
            pending.clear();
            eof = true;
            if (chat) send_pending(now);
            return;
        }
        pending.resize(static_cast<std::size_t>(r));
        send_pending(now);
    };

    bool stdin_polled = false;
    auto start_stdin = [&] {
        ::fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK);
        stdin_polled = n.loop
                           .watch(STDIN_FILENO, EPOLLIN,
                                  [&](std::uint32_t) { read_stdin(runtime::monotonic_now()); })
                           .has_value();
    };

    n.on_event = [&](const Event& e) {
        if (e.connection() != *id) return;
        const Instant now = runtime::monotonic_now();
        const auto* s = e.get_if<StatusChanged>();
        if (s != nullptr && s->to == Status::kEstablished && !established) {
            established = true;
            n.reporter.note(
                "handshake_ms",
                fmt::format("{:.3f}",
                            std::chrono::duration<double, std::milli>(now - started).count()));
            start_stdin();
        }
        // send_stream stops at a full buffer (kWritable) or a full queue budget (kAcked).
        if ((e.is<Writable>() || e.is<Acked>()) && blocked) {
            blocked = false;
            send_pending(now);
        }
        if (s != nullptr && s->to == Status::kClosed && !closed_by_us) {
            if (offline_sent && s->reason == CloseReason::kKilledByPeer) {
                peer_left = true;  // all our data was acknowledged before OFFLINE went out
                return;
            }
            failure = Failure{fmt::format("connection to {} closed: {} while {}", o.to,
                                          to_string(s->reason), to_string(s->from))};
            if (s->reason == CloseReason::kTimedOut) {
                failure->message = fmt::format("peer {} did not answer: timed out in {}", o.to,
                                               to_string(s->from));
            }
        }
    };

    const Instant give_up = o.timeout > 0 ? started + std::chrono::duration_cast<Duration>(
                                                          std::chrono::duration<double>(o.timeout))
                                          : Instant::max();
    while (!failure && !peer_left && !n.loop.stopped() && stdout_ok) {
        const Instant now = runtime::monotonic_now();
        if (!established && now >= give_up) {
            auto info = n.endpoint->info(*id);
            failure = Failure{fmt::format("peer {} did not answer within {} s (status {})", o.to,
                                          o.timeout, info ? to_string(info->status) : "Closed")};
            break;
        }
        if (established && !stdin_polled) read_stdin(now);
        if (established && eof && pending.empty() && n.friends->all_acked(*id)) {
            // Everything arrived: say OFFLINE (reliable, unlike the KILL after it), wait for
            // its acknowledgement (at most offline_wait), then close.
            if (!offline_sent) {
                offline_sent = true;
                offline_deadline = now + offline_wait;
                if (n.friends->send_offline(now, *id)) continue;
            }
        }
        if (offline_sent && (now >= offline_deadline || n.friends->all_acked(*id))) {
            closed_by_us = true;
            (void)n.endpoint->close(now, *id);
            n.loop.flush();
            break;
        }
        const bool busy = established && !stdin_polled && !eof && !blocked;
        n.step(busy ? Duration::zero() : std::chrono::milliseconds{200});
    }
    ::fcntl(STDIN_FILENO, F_SETFL, flags);
    if (n.loop.stopped() && !closed_by_us) {
        const Instant now = runtime::monotonic_now();
        (void)n.endpoint->close(now, *id);
        n.loop.flush();
        return {};
    }
    if (failure) return tl::unexpected(*failure);
    if (!stdout_ok) return fail("cannot write to stdout (closed pipe?)");
    return {};
}

}  // namespace netcrypto::cli
