// SPDX-License-Identifier: MIT
//
// interop_driver: live interoperability tests of netcrypto against an unmodified c-toxcore
// 0.2.18 (tests/interop/README.md). Each scenario runs our Endpoint + runtime::Loop +
// FriendLayer in this process and one or more `tox_harness` child processes (c-toxcore) that it
// talks to over 127.0.0.1 only, through the harness's JSON-lines protocol.
//
//   interop_driver SCENARIO --harness PATH [--runs N] [--stream-bytes N] [--seed N]
//
// Scenarios (one ctest each, label `interop`):
//   connect             we initiate (×runs, default 10): status sequence, "udp" on c-toxcore,
//                       one message each way; prints the median connect→Established time
//   stream_direct       8 MiB stream (custom lossless id 160) each way, SHA-256 compared
//   stream_lossy_relay  the same through an in-process UDP relay with 10 % loss + reordering
//   ctox_initiates      after our KILL, c-toxcore reconnects to us; we accept; messages
//   lossy_packets       lossy packets (ids 200+) each way: delivered or dropped, never corrupted
//   lossy_packets_relay the same through the lossy relay (some are dropped)
//   restart_new_key     we restart with a new DHT key and port; c-toxcore accepts the new
//                       session and sends KILL to the old address
//   keepalive           a 40 s idle session stays up on both sides
//   peer_silent         c-toxcore stops iterating: we leave Established within 34 s
//   relay_share         UDP off on both sides, c-toxcore's own TCP relay between us: after our
//                       KILL c-toxcore comes back through the relay only once we shared it
//                       (SHARE_RELAYS, tcp_relay.md §10 f4)
//
// Every wait is bounded; every scenario ends by asserting the harness's nonloopback_sends == 0.
// Exit status 0 = pass, 1 = fail, 2 = usage.

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <random>
#include <set>
#include <source_location>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/friend.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

#include "json_child.hpp"

namespace {

using namespace netcrypto;
using namespace std::chrono_literals;
using json = nlohmann::json;

// --- small utilities ---------------------------------------------------------------------------

const Instant g_start = runtime::monotonic_now();

double seconds_since(Instant t0, Instant t1) {
    return std::chrono::duration<double>(t1 - t0).count();
}
double ms_between(Instant t0, Instant t1) {
    return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

template <class... Args>
void log(const Args&... args) {
    std::ostringstream os;
    os << "[" << std::fixed << std::setprecision(3)
       << seconds_since(g_start, runtime::monotonic_now()) << "] ";
    (os << ... << args);
    os << '\n';
    std::cout << os.str() << std::flush;
}

/// Concatenates anything printable (avoids GCC 12's -Wrestrict false positives on
/// `"literal" + std::string`).
template <class... Args>
std::string cat(const Args&... args) {
    std::ostringstream os;
    (os << ... << args);
    return os.str();
}

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void require(bool ok, std::string_view what,
             std::source_location where = std::source_location::current()) {
    if (!ok) {
        std::ostringstream os;
        os << what << " (interop_driver.cpp:" << where.line() << ")";
        throw Failure(os.str());
    }
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    s.reserve(bytes.size() * 2);
    for (auto b : bytes) {
        s.push_back(kDigits[b >> 4U]);
        s.push_back(kDigits[b & 0xFU]);
    }
    return s;
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// The harness's deterministic stream (README): ChaCha20-IETF keystream, key = LE64(seed) ‖ 0²⁴,
/// nonce "LibsodiumDRG", counter 0 — libsodium's randombytes_buf_deterministic.
std::vector<std::uint8_t> deterministic_stream(std::size_t n, std::uint64_t seed) {
    std::array<std::uint8_t, crypto_stream_chacha20_ietf_KEYBYTES> key{};
    for (std::size_t i = 0; i < 8; ++i) key[i] = static_cast<std::uint8_t>(seed >> (8U * i));
    static constexpr std::array<std::uint8_t, crypto_stream_chacha20_ietf_NONCEBYTES> kNonce{
        'L', 'i', 'b', 's', 'o', 'd', 'i', 'u', 'm', 'D', 'R', 'G'};
    std::vector<std::uint8_t> out(n);
    if (n > 0) crypto_stream_chacha20_ietf(out.data(), n, kNonce.data(), key.data());
    return out;
}

std::string sha256_hex(std::span<const std::uint8_t> data) {
    std::array<std::uint8_t, crypto_hash_sha256_BYTES> h{};
    crypto_hash_sha256(h.data(), data.data(), data.size());
    return to_hex(h);
}

std::string status_list(const std::vector<Status>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i > 0) s += "→";
        s += to_string(v[i]);
    }
    return s;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    if (v.empty()) return 0;
    const std::size_t m = v.size() / 2;
    return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

Address loopback(std::uint16_t port) { return Address::ipv4(127, 0, 0, 1, port); }

// --- the c-toxcore side: one tox_harness child process ------------------------------------------

class Harness {
  public:
    Harness(const std::string& exe, const std::vector<std::string>& args, std::string label)
        : label_(std::move(label)), proc_(exe, args) {
        log("[", label_, "] spawned pid ", proc_.pid(), ": ", proc_.command_line());
    }
    ~Harness() { kill(); }
    Harness(const Harness&) = delete;
    Harness& operator=(const Harness&) = delete;

    [[nodiscard]] int stdout_fd() const { return proc_.stdout_fd(); }
    [[nodiscard]] bool eof() const { return proc_.eof(); }
    [[nodiscard]] const std::string& label() const { return label_; }
    [[nodiscard]] const std::vector<json>& events() const { return events_; }
    [[nodiscard]] std::size_t mark() const { return events_.size(); }
    [[nodiscard]] const json& last_stats() const { return last_stats_; }
    [[nodiscard]] std::uint64_t stats_count() const { return stats_count_; }
    [[nodiscard]] Instant last_stats_time() const { return last_stats_time_; }
    [[nodiscard]] Instant event_time(std::size_t i) const { return times_.at(i); }

    /// Reads what the child printed; called by the loop when the pipe is readable.
    void on_readable() {
        proc_.read(
            [this](json&& j, const std::string& line) {
                if (j.value("event", "") == "stats") {
                    last_stats_ = j;
                    last_stats_time_ = runtime::monotonic_now();
                    ++stats_count_;
                } else {
                    log("[", label_, "] ",
                        line.size() > 400 ? cat(line.substr(0, 400), "…") : line);
                }
                events_.push_back(std::move(j));
                times_.push_back(runtime::monotonic_now());
            },
            [this](const std::string& line) { log("[", label_, "] unparsable line: ", line); });
    }

    void send(const std::string& line) {
        if (line.rfind("stats", 0) != 0) {
            log("[", label_, "] <- ", line.size() > 200 ? cat(line.substr(0, 200), "…") : line);
        }
        try {
            proc_.send(line);
        } catch (const std::runtime_error&) {
            require(false, "write to harness stdin (harness died?)");
        }
    }

    /// Index of the first event named `name` at or after `from` that satisfies `pred`.
    [[nodiscard]] std::optional<std::size_t> find(
        std::string_view name, std::size_t from = 0,
        const std::function<bool(const json&)>& pred = {}) const {
        return netcrypto::testing::find_event(events_, name, from, pred);
    }
    [[nodiscard]] std::size_t count(std::string_view name, std::size_t from = 0) const {
        std::size_t c = 0;
        for (std::size_t i = from; i < events_.size(); ++i) {
            if (events_[i].value("event", "") == name) ++c;
        }
        return c;
    }

    /// Called after the exit event (or on EOF): reaps the child within `timeout`, else kills it.
    void reap(Duration timeout) {
        if (auto status =
                proc_.wait_exit(std::chrono::duration_cast<std::chrono::milliseconds>(timeout))) {
            exit_status_ = *status;
            return;
        }
        log("[", label_, "] did not exit in time: SIGKILL");
        kill();
    }
    /// The status the harness exited with by itself (reap), or -1.
    [[nodiscard]] int exit_status() const { return exit_status_; }

  private:
    /// EOF on stdin (the harness quits cleanly), 3 s of grace, then SIGKILL.
    void kill() { proc_.stop(std::chrono::seconds{3}); }

    std::string label_;
    netcrypto::testing::JsonChild proc_;
    int exit_status_ = -1;
    std::vector<json> events_;
    std::vector<Instant> times_;
    json last_stats_;
    Instant last_stats_time_{};
    std::uint64_t stats_count_ = 0;
};

/// What the harness's `ready` line tells us.
struct HarnessInfo {
    PublicKey public_key;
    PublicKey dht_key;
    std::uint16_t port = 0;
    [[nodiscard]] Address address() const { return loopback(port); }
};

// --- our side: Endpoint + Loop + FriendLayer
// ------------------------------------------------------

struct StatusRecord {
    Instant at;
    StatusChanged event;
};

struct IncomingRecord {
    Instant at;
    IncomingRequest event;
};

struct Message {
    ConnectionId connection;
    bool action = false;
    std::string text;
};

class Peer {
  public:
    Peer(KeyPair long_term, EndpointConfig cfg, std::string label, runtime::BindOptions bind = {})
        : label_(std::move(label)) {
        KeyPair dht = KeyPair::generate(rng_);
        endpoint_ = std::make_unique<Endpoint>(std::move(long_term), std::move(dht), rng_,
                                               runtime::monotonic_now(), std::move(cfg));
        friends::FriendCallbacks cb;
        cb.on_message = [this](ConnectionId id, bool action, std::string_view text) {
            log("[", label_, "] message on #", id.value, ": \"", text, "\"");
            messages_.push_back(Message{id, action, std::string(text)});
        };
        cb.on_presence = [this](ConnectionId id, bool online) {
            log("[", label_, "] presence #", id.value, ": ", online ? "ONLINE" : "OFFLINE");
        };
        cb.on_stream = [this](ConnectionId, std::span<const std::uint8_t> bytes) {
            if (stream_rx_bytes_ == 0) stream_rx_started_ = runtime::monotonic_now();
            crypto_hash_sha256_update(&rx_sha_, bytes.data(), bytes.size());
            stream_rx_bytes_ += bytes.size();
            stream_rx_last_ = runtime::monotonic_now();
        };
        cb.on_lossy = [this](ConnectionId, std::span<const std::uint8_t> bytes) {
            lossy_.emplace_back(bytes.begin(), bytes.end());
        };
        cb.on_info = [this](ConnectionId, std::string_view what, std::string_view value) {
            log("[", label_, "] ", what, ": \"", value, "\"");
            info_.emplace_back(what, value);
        };
        cb.on_delivered = [this](ConnectionId, std::uint32_t n) { delivered_.push_back(n); };
        cb.on_gone = [this](ConnectionId id) {
            log("[", label_, "] friend layer: no ALIVE for 32 s on #", id.value, " → closing");
            gone_.push_back({runtime::monotonic_now(), id});
        };
        friends_ = std::make_unique<friends::FriendLayer>(*endpoint_, std::move(cb));
        crypto_hash_sha256_init(&rx_sha_);
        const bool no_udp = bind.no_udp;
        auto local = loop_.attach(
            *endpoint_, loopback(0), [this](const Event& e) { on_event(e); }, bind);
        require(local.has_value(), "bind our UDP socket on 127.0.0.1");
        local_ = *local;
        log("[", label_, "] ", no_udp ? "no UDP" : cat("bound ", local_.to_string()),
            ", long-term ", endpoint_->public_key().to_hex().substr(0, 16), "… DHT ",
            endpoint_->dht_public_key().to_hex().substr(0, 16), "…");
    }

    Endpoint& endpoint() { return *endpoint_; }
    friends::FriendLayer& friends() { return *friends_; }
    runtime::Loop& loop() { return loop_; }
    [[nodiscard]] const Address& local() const { return local_; }
    [[nodiscard]] const std::string& label() const { return label_; }
    [[nodiscard]] const std::vector<StatusRecord>& statuses() const { return statuses_; }
    [[nodiscard]] const std::vector<Message>& messages() const { return messages_; }
    [[nodiscard]] const std::vector<std::vector<std::uint8_t>>& lossy() const { return lossy_; }
    [[nodiscard]] const std::vector<IncomingRecord>& incoming() const { return incoming_; }
    /// (what, value) of every on_info: the peer's nickname and status message.
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& info() const {
        return info_;
    }
    /// Message numbers on_delivered reported, in order.
    [[nodiscard]] const std::vector<std::uint32_t>& delivered() const { return delivered_; }
    [[nodiscard]] const std::vector<std::pair<Instant, ConnectionId>>& gone() const {
        return gone_;
    }

    /// Peer keys whose incoming requests (Event::Kind::kIncoming) we accept.
    void accept_from(const PublicKey& pk) { accept_from_.insert(pk); }

    /// Runs one loop iteration, including the friend layer's timers.
    void step(Duration max_wait) {
        Instant now = runtime::monotonic_now();
        if (auto t = friends_->next_timeout(); t && *t <= now) friends_->on_timeout(now);
        if (auto t = friends_->next_timeout()) max_wait = std::min(max_wait, *t - now);
        pump_stream(now);
        loop_.run_once(std::max(max_wait, Duration::zero()));
        pump_stream(runtime::monotonic_now());
    }

    /// The statuses a connection went through (`to` of every status event, in order).
    [[nodiscard]] std::vector<Status> transitions(ConnectionId id) const {
        std::vector<Status> v;
        for (const auto& r : statuses_) {
            if (r.event.connection == id) v.push_back(r.event.to);
        }
        return v;
    }
    [[nodiscard]] const StatusRecord* reached(ConnectionId id, Status s) const {
        for (const auto& r : statuses_) {
            if (r.event.connection == id && r.event.to == s) return &r;
        }
        return nullptr;
    }
    [[nodiscard]] Status status(ConnectionId id) const {
        auto info = endpoint_->info(id);
        return info ? info->status : Status::kClosed;
    }

    // Byte stream (custom lossless id 160) in both directions.
    void start_stream(ConnectionId id, std::vector<std::uint8_t> bytes) {
        tx_ = std::move(bytes);
        tx_off_ = 0;
        tx_conn_ = id;
        tx_started_ = runtime::monotonic_now();
        pump_stream(tx_started_);
    }
    [[nodiscard]] std::size_t stream_tx_queued() const { return tx_off_; }
    [[nodiscard]] bool stream_tx_done() const { return tx_conn_ && tx_off_ == tx_.size(); }
    [[nodiscard]] Instant stream_tx_started() const { return tx_started_; }
    [[nodiscard]] std::size_t stream_rx_bytes() const { return stream_rx_bytes_; }
    [[nodiscard]] Instant stream_rx_started() const { return stream_rx_started_; }
    [[nodiscard]] Instant stream_rx_last() const { return stream_rx_last_; }
    [[nodiscard]] std::string stream_rx_sha256() const {
        crypto_hash_sha256_state copy = rx_sha_;
        std::array<std::uint8_t, crypto_hash_sha256_BYTES> h{};
        crypto_hash_sha256_final(&copy, h.data());
        return to_hex(h);
    }

  private:
    void on_event(const Event& e) {
        const Instant now = runtime::monotonic_now();
        if (const auto* s = e.get_if<StatusChanged>()) {
            statuses_.push_back({now, *s});
            std::string line = cat("[", label_, "] #", s->connection.value, " ", to_string(s->from),
                                   " → ", to_string(s->to));
            if (s->reason != CloseReason::kNone) line += cat(" (", to_string(s->reason), ")");
            log(line, " peer ", s->address.to_string());
        } else if (const auto* in = e.get_if<IncomingRequest>()) {
            incoming_.push_back({now, *in});
            const bool ok = accept_from_.contains(in->peer_key);
            log("[", label_, "] incoming request ", in->request.value, " from ",
                in->address.to_string(), " key ", in->peer_key.to_hex().substr(0, 16), "… DHT ",
                in->peer_dht_key.to_hex().substr(0, 16), "… → ", ok ? "accept" : "reject");
            if (ok) {
                auto r = endpoint_->accept(now, in->request);
                if (!r) log("[", label_, "] accept failed: ", to_string(r.error()));
            } else {
                (void)endpoint_->reject(in->request);
            }
        } else if (const auto* d = e.get_if<DhtKeyChanged>()) {
            log("[", label_, "] #", d->connection.value, " peer DHT key changed to ",
                d->peer_dht_key.to_hex().substr(0, 16), "…");
        } else if (const auto* r = e.get_if<RelayStatusChanged>()) {
            log("[", label_, "] relay ", r->relay.value, " (", r->relay_key.to_hex().substr(0, 16),
                "…) ", to_string(r->from), " → ", to_string(r->to),
                r->reason != RelayCloseReason::kNone ? cat(" (", to_string(r->reason), ")") : "");
        } else if (const auto* rc = e.get_if<RouteChanged>()) {
            log("[", label_, "] #", rc->connection.value, " route ",
                rc->route == RouteKind::kTcpRelay ? cat("relay ", rc->relay.value)
                                                  : cat("udp ", rc->address.to_string()));
        }
        friends_->on_event(now, e);
        if (e.is<Writable>() || e.is<Acked>()) pump_stream(now);
    }

    void pump_stream(Instant now) {
        if (!tx_conn_ || tx_off_ >= tx_.size()) return;
        if (status(*tx_conn_) != Status::kEstablished) return;
        auto r = friends_->send_stream(now, *tx_conn_,
                                       std::span<const std::uint8_t>(tx_).subspan(tx_off_));
        if (r) {
            tx_off_ += *r;
        } else {
            log("[", label_, "] send_stream: ", to_string(r.error()));
        }
    }

    std::string label_;
    SodiumRng rng_;
    std::unique_ptr<Endpoint> endpoint_;
    std::unique_ptr<friends::FriendLayer> friends_;
    std::vector<std::pair<std::string, std::string>> info_;
    std::vector<std::uint32_t> delivered_;
    runtime::Loop loop_;
    Address local_;
    std::set<PublicKey> accept_from_;
    std::vector<StatusRecord> statuses_;
    std::vector<IncomingRecord> incoming_;
    std::vector<std::pair<Instant, ConnectionId>> gone_;
    std::vector<Message> messages_;
    std::vector<std::vector<std::uint8_t>> lossy_;
    crypto_hash_sha256_state rx_sha_{};
    std::size_t stream_rx_bytes_ = 0;
    Instant stream_rx_started_{};
    Instant stream_rx_last_{};
    std::vector<std::uint8_t> tx_;
    std::size_t tx_off_ = 0;
    std::optional<ConnectionId> tx_conn_;
    Instant tx_started_{};
};

// --- a lossy, reordering UDP relay between us and c-toxcore --------------------------------------

class Relay {
  public:
    struct Direction {
        std::uint64_t received = 0;
        std::uint64_t dropped = 0;
        std::uint64_t delayed = 0;
        std::uint64_t sent = 0;
        std::uint64_t send_errors = 0;
    };

    /// Binds 127.0.0.1:0. Datagrams from `ours` go to `ctox` and back, all through this one
    /// socket (c-toxcore binds the address its handshake came from). Each datagram is dropped
    /// with probability `loss`; of the rest, a share `reorder` is held back 1–20 ms.
    Relay(runtime::Loop& loop, Address ours, Address ctox, double loss, double reorder,
          std::uint64_t seed)
        : loop_(loop), ours_(ours), ctox_(ctox), loss_(loss), reorder_(reorder), rng_(seed) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        require(fd_ >= 0, "relay socket");
        const int buf = 4 << 20;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        require(::bind(fd_, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) == 0, "relay bind");
        socklen_t len = sizeof(sin);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sin), &len);
        address_ = loopback(ntohs(sin.sin_port));
        require(loop_.watch(fd_, EPOLLIN, [this](std::uint32_t) { on_readable(); }).has_value(),
                "relay watch");
        log("[relay] ", address_.to_string(), ": ", ours_.to_string(), " ⇄ ", ctox_.to_string(),
            ", loss ", loss_ * 100, " %, reorder ", reorder_ * 100, " %, seed ", seed);
    }
    ~Relay() {
        loop_.unwatch(fd_);
        ::close(fd_);
        *alive_ = false;
    }
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;

    [[nodiscard]] const Address& address() const { return address_; }
    [[nodiscard]] const Direction& to_ctox() const { return to_ctox_; }
    [[nodiscard]] const Direction& to_ours() const { return to_ours_; }

  private:
    void on_readable() {
        std::array<std::uint8_t, 2048> buf{};
        for (int i = 0; i < 256; ++i) {
            sockaddr_in from{};
            socklen_t len = sizeof(from);
            const ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0,
                                         reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 0) return;
            Address src;
            src.family = Address::Family::kIPv4;
            std::memcpy(src.ip.data(), &from.sin_addr, 4);
            src.port = ntohs(from.sin_port);
            Direction* dir = nullptr;
            Address dst;
            if (src == ours_) {
                dir = &to_ctox_;
                dst = ctox_;
            } else if (src == ctox_) {
                dir = &to_ours_;
                dst = ours_;
            } else {
                continue;  // not part of this test
            }
            ++dir->received;
            if (uniform_(rng_) < loss_) {
                ++dir->dropped;
                continue;
            }
            std::vector<std::uint8_t> data(buf.begin(), buf.begin() + n);
            if (uniform_(rng_) < reorder_) {
                ++dir->delayed;
                const auto delay = std::chrono::microseconds{
                    std::uniform_int_distribution<std::int64_t>(1000, 20000)(rng_)};
                loop_.call_at(runtime::monotonic_now() + delay,
                              [this, alive = alive_, dir, dst, d = std::move(data)] {
                                  if (*alive) forward(*dir, dst, d);
                              });
            } else {
                forward(*dir, dst, data);
            }
        }
    }

    void forward(Direction& dir, const Address& to, const std::vector<std::uint8_t>& data) {
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        std::memcpy(&sin.sin_addr, to.ip.data(), 4);
        sin.sin_port = htons(to.port);
        const ssize_t r = ::sendto(fd_, data.data(), data.size(), 0,
                                   reinterpret_cast<const sockaddr*>(&sin), sizeof(sin));
        if (r < 0) {
            ++dir.send_errors;
        } else {
            ++dir.sent;
        }
    }

    runtime::Loop& loop_;
    Address ours_;
    Address ctox_;
    Address address_;
    double loss_;
    double reorder_;
    std::mt19937_64 rng_;
    std::uniform_real_distribution<double> uniform_{0.0, 1.0};
    int fd_ = -1;
    Direction to_ctox_;
    Direction to_ours_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// --- one test world: the active Peer and the harness ---------------------------------------------

struct Options {
    std::string scenario;
    std::string harness;
    int runs = 10;
    std::size_t stream_bytes = std::size_t{8} << 20U;
    std::uint64_t seed = 20240601;
};

class World {
  public:
    World(const Options& o, std::string harness_label)
        : opt_(o), label_(std::move(harness_label)) {}

    /// Starts the harness with `--friend` = our key and waits for `ready`.
    HarnessInfo start_harness(Peer& peer, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--friend", peer.endpoint().public_key().to_hex(),
                                      "--max-seconds", "900"};
        args.insert(args.end(), extra.begin(), extra.end());
        harness_ = std::make_unique<Harness>(opt_.harness, args, label_);
        activate(peer);
        require_until([&] { return harness_->find("ready").has_value() || harness_->eof(); }, 20s,
                      "the harness's ready line");
        const auto i = harness_->find("ready");
        require(i.has_value(), "harness printed ready");
        const json& r = harness_->events()[*i];
        HarnessInfo info;
        auto pk = PublicKey::from_hex(r.value("public_key", ""));
        auto dht = PublicKey::from_hex(r.value("dht_public_key", ""));
        require(pk && dht, "ready carries both keys");
        info.public_key = *pk;
        info.dht_key = *dht;
        const int port = r.value("udp_port", 0);
        info.port = port > 0 ? static_cast<std::uint16_t>(port) : 0;
        require(info.port != 0 || !r.value("udp", true), "ready carries udp_port");
        return info;
    }

    /// Makes `peer` the one that is driven (and whose loop reads the harness's stdout).
    void activate(Peer& peer) {
        if (active_ != nullptr && harness_watched_) active_->loop().unwatch(harness_->stdout_fd());
        active_ = &peer;
        harness_watched_ = false;
        if (harness_ && !harness_->eof()) {
            Harness* h = harness_.get();
            Peer* p = &peer;
            harness_watched_ = p->loop()
                                   .watch(h->stdout_fd(), EPOLLIN,
                                          [this, h, p](std::uint32_t) {
                                              h->on_readable();
                                              if (h->eof() && harness_watched_) {
                                                  p->loop().unwatch(h->stdout_fd());
                                                  harness_watched_ = false;
                                              }
                                          })
                                   .has_value();
        }
    }

    Harness& harness() { return *harness_; }
    Peer& peer() { return *active_; }

    bool wait_until(const std::function<bool()>& pred, Duration timeout) {
        const Instant deadline = runtime::monotonic_now() + timeout;
        for (;;) {
            if (pred()) return true;
            const Instant now = runtime::monotonic_now();
            if (now >= deadline) return false;
            active_->step(std::min<Duration>(deadline - now, 100ms));
        }
    }
    void require_until(const std::function<bool()>& pred, Duration timeout, std::string_view what) {
        if (!wait_until(pred, timeout)) {
            std::ostringstream os;
            os << "timed out after " << std::chrono::duration<double>(timeout).count()
               << " s waiting for " << what;
            throw Failure(os.str());
        }
    }
    void run_for(Duration d) {
        (void)wait_until([] { return false; }, d);
    }

    /// Sends `stats` and waits for the answer.
    json stats() {
        const auto before = harness_->stats_count();
        harness_->send("stats");
        require_until([&] { return harness_->stats_count() > before || harness_->eof(); }, 10s,
                      "harness stats");
        return harness_->last_stats();
    }

    /// Quits the harness and checks the loopback guard: nonloopback_sends must be 0. A harness
    /// without UDP (`udp_sends` false) sends no datagram, so the guard sees none.
    void finish_harness(bool udp_sends = true) {
        if (!harness_) return;
        const json st = stats();
        const auto from_toxcore = st.value<std::uint64_t>("loopback_sendto_calls_from_toxcore", 0);
        log("[", label_, "] stats: nonloopback_sends ", st.value("nonloopback_sends", -1),
            ", loopback sendto calls from libtoxcore ", from_toxcore);
        require(!udp_sends || from_toxcore > 0, "the loopback guard saw c-toxcore's sends");
        const std::size_t m = harness_->mark();
        harness_->send("quit");
        require_until([&] { return harness_->find("exit", m).has_value() || harness_->eof(); }, 15s,
                      "the harness's exit line");
        const auto i = harness_->find("exit", m);
        require(i.has_value(), "harness printed exit");
        const json& ex = harness_->events()[*i];
        const auto nonloop = ex.value<std::int64_t>("nonloopback_sends", -1);
        require(nonloop == 0, cat("harness nonloopback_sends == 0 at exit (got ", nonloop, ")"));
        if (harness_watched_) {
            active_->loop().unwatch(harness_->stdout_fd());
            harness_watched_ = false;
        }
        harness_->reap(5s);
        require(harness_->exit_status() == 0, "harness exit status 0");
        log("[", label_, "] exited cleanly, nonloopback_sends 0");
    }

  private:
    const Options& opt_;
    std::string label_;
    std::unique_ptr<Harness> harness_;
    Peer* active_ = nullptr;
    bool harness_watched_ = false;
};

// --- building blocks ---------------------------------------------------------------------------

const std::vector<Status> kInitiatorPath{Status::kCookieRequesting, Status::kHandshakeSending,
                                         Status::kNotConfirmed, Status::kEstablished};

/// Connects to c-toxcore (at `to`, normally its own port) and waits for Established; returns
/// the id and the connect→Established time in ms. Asserts the initiator status path.
std::pair<ConnectionId, double> connect_and_establish(World& w, Peer& p, const HarnessInfo& hi,
                                                      const Address& to, Duration timeout = 10s) {
    require(to.is_loopback(), "we only ever send to 127.0.0.1");
    const Instant t0 = runtime::monotonic_now();
    auto id = p.endpoint().connect(t0, hi.public_key, hi.dht_key, to);
    require(id.has_value(), "Endpoint::connect");
    w.require_until(
        [&] {
            return p.reached(*id, Status::kEstablished) != nullptr ||
                   p.reached(*id, Status::kClosed) != nullptr;
        },
        timeout, "our connection to reach Established");
    const StatusRecord* est = p.reached(*id, Status::kEstablished);
    require(est != nullptr, "our connection reached Established (not Closed)");
    const double ms = ms_between(t0, est->at);
    const auto path = p.transitions(*id);
    const StatusRecord* hs = p.reached(*id, Status::kHandshakeSending);
    log("[", p.label(), "] #", id->value, " status path ", status_list(path), " in ", ms,
        " ms (cookie request→response ", hs != nullptr ? ms_between(t0, hs->at) : -1.0,
        " ms, handshake→Established ", hs != nullptr ? ms_between(hs->at, est->at) : -1.0, " ms)");
    require(path == kInitiatorPath,
            cat("status path CookieRequesting→HandshakeSending→NotConfirmed→Established (got ",
                status_list(path), ")"));
    return {*id, ms};
}

/// Waits until c-toxcore reports our friend connection "udp" (an event at or after `from`).
void wait_ctox_udp(World& w, std::size_t from, Duration timeout = 10s) {
    auto& h = w.harness();
    w.require_until(
        [&] {
            return h
                .find("friend_connection", from,
                      [](const json& j) { return j.value("status", "") == "udp"; })
                .has_value();
        },
        timeout, "c-toxcore friend_connection \"udp\"");
}

/// One text message each way, compared byte for byte; nothing else may arrive in between.
void exchange_messages(World& w, Peer& p, ConnectionId id, const std::string& tag) {
    auto& h = w.harness();
    const std::string ours = cat("netcrypto → c-toxcore [", tag, "] ✓");
    const std::size_t m = h.mark();
    auto sent = p.friends().send_message(runtime::monotonic_now(), id, ours);
    require(sent.has_value(), "FriendLayer::send_message");
    w.require_until([&] { return h.find("friend_message", m).has_value(); }, 10s,
                    "c-toxcore's friend_message");
    const json& fm = h.events()[*h.find("friend_message", m)];
    require(
        fm.value("text_hex", "") == to_hex(as_bytes(ours)),
        cat("c-toxcore received exactly our text (got text_hex ", fm.value("text_hex", ""), ")"));
    require(fm.value("type", -1) == 0 && fm.value<std::size_t>("len", 0) == ours.size(),
            "message type NORMAL and length");

    const std::string theirs = cat("c-toxcore → netcrypto [", tag, "] ✓");
    const std::size_t before = p.messages().size();
    h.send(cat("send_message 0 0 ", to_hex(as_bytes(theirs))));
    w.require_until([&] { return p.messages().size() > before; }, 10s, "our on_message");
    const Message& got = p.messages()[before];
    require(got.connection == id && !got.action && got.text == theirs,
            cat("we received exactly c-toxcore's text (got \"", got.text, "\")"));
    w.require_until([&] { return h.find("message_sent", m).has_value(); }, 5s,
                    "the harness's message_sent");
    // Settle briefly: the message must not arrive twice on either side.
    w.run_for(200ms);
    std::size_t copies = 0;
    for (std::size_t i = m; i < h.events().size(); ++i) {
        if (h.events()[i].value("event", "") == "friend_message") ++copies;
    }
    require(copies == 1, "c-toxcore delivered our message exactly once");
    require(p.messages().size() == before + 1, "we delivered c-toxcore's message exactly once");
}

// --- scenarios -----------------------------------------------------------------------------------

/// Presence both ways and delivery receipts: c-toxcore shows our name and status message
/// (set_self), we get its own, and our message's receipt comes once c-toxcore acknowledged it.
void scenario_presence(const Options& o) {
    SodiumRng rng;
    Peer p(KeyPair::generate(rng), {}, "ours");
    require(
        p.friends().set_self(runtime::monotonic_now(), "netcrypto ✓", "presence test").has_value(),
        "FriendLayer::set_self");
    World w(o, "ctox");
    const HarnessInfo hi =
        w.start_harness(p, {"--name", "ctox-harness", "--status-message", "harness status"});
    auto& h = w.harness();
    const std::size_t m = h.mark();
    auto [id, ms] = connect_and_establish(w, p, hi, hi.address());
    wait_ctox_udp(w, m);
    const auto has = [&](const char* event, const char* field, const std::string& text) {
        return h
            .find(event, m,
                  [&](const json& j) { return j.value(field, "") == to_hex(as_bytes(text)); })
            .has_value();
    };
    w.require_until([&] { return has("friend_name", "name_hex", "netcrypto ✓"); }, 10s,
                    "c-toxcore's friend_name with our name");
    w.require_until([&] { return has("friend_status_message", "text_hex", "presence test"); }, 10s,
                    "c-toxcore's friend_status_message with ours");
    const std::pair<std::string, std::string> name{"nickname", "ctox-harness"};
    const std::pair<std::string, std::string> status{"status_message", "harness status"};
    w.require_until(
        [&] {
            const auto& i = p.info();
            return std::find(i.begin(), i.end(), name) != i.end() &&
                   std::find(i.begin(), i.end(), status) != i.end();
        },
        10s, "our on_info with c-toxcore's name and status message");
    auto sent = p.friends().send_message(runtime::monotonic_now(), id, "receipt please");
    require(sent.has_value(), "FriendLayer::send_message");
    w.require_until([&] { return !p.delivered().empty(); }, 10s, "our on_delivered");
    require(p.delivered() == std::vector<std::uint32_t>{*sent},
            "on_delivered reported our message's number once");
    w.require_until([&] { return h.find("friend_message", m).has_value(); }, 5s,
                    "c-toxcore's friend_message");
    const friends::FriendStats& st = p.friends().stats();
    log("RESULT presence: names both ways, receipt for #", *sent, "; ignored ", st.ignored(),
        ", malformed ", st.malformed());
    require(st.malformed() == 0, "c-toxcore sent no malformed presence packet");
    w.finish_harness();
}

/// 1. We initiate, `runs` times against fresh c-toxcore instances.
void scenario_connect(const Options& o) {
    std::vector<double> times;
    for (int run = 0; run < o.runs; ++run) {
        log("=== run ", run + 1, " of ", o.runs);
        SodiumRng rng;
        Peer p(KeyPair::generate(rng), {}, "ours");
        World w(o, "ctox");
        const HarnessInfo hi = w.start_harness(p);
        const std::size_t m = w.harness().mark();
        auto [id, ms] = connect_and_establish(w, p, hi, hi.address());
        times.push_back(ms);
        wait_ctox_udp(w, m);
        exchange_messages(w, p, id, cat("run ", run + 1));
        require(p.status(id) == Status::kEstablished, "still Established after the exchange");
        w.finish_harness();
    }
    std::ostringstream os;
    os << std::fixed << std::setprecision(2);
    for (double t : times) os << " " << t;
    log("connect→Established times (ms):", os.str());
    const auto [mn, mx] = std::minmax_element(times.begin(), times.end());
    log("RESULT connect: ", times.size(), " runs, median connect→Established ", median(times),
        " ms (min ", *mn, ", max ", *mx, ")");
}

/// 2. 8 MiB each way as custom lossless id 160, direct or through the lossy relay.
void scenario_stream(const Options& o, bool relay) {
    SodiumRng rng;
    Peer p(KeyPair::generate(rng), {}, "ours");
    World w(o, "ctox");
    const HarnessInfo hi = w.start_harness(p);
    std::unique_ptr<Relay> r;
    Address to = hi.address();
    if (relay) {
        r = std::make_unique<Relay>(p.loop(), p.local(), hi.address(), 0.10, 0.20, o.seed);
        to = r->address();
    }
    const std::size_t m = w.harness().mark();
    auto [id, ms] = connect_and_establish(w, p, hi, to, relay ? 30s : 10s);
    log("connect→Established ", ms, " ms");
    wait_ctox_udp(w, m, relay ? 30s : 10s);

    const std::size_t n = o.stream_bytes;
    constexpr std::uint64_t kOurSeed = 7;
    constexpr std::uint64_t kTheirSeed = 42;
    std::vector<std::uint8_t> ours = deterministic_stream(n, kOurSeed);
    const std::string our_sha = sha256_hex(ours);
    const std::string their_sha = sha256_hex(deterministic_stream(n, kTheirSeed));
    log("streams: ", n, " bytes each way; ours (seed 7) sha256 ", our_sha,
        ", c-toxcore's (seed 42) sha256 ", their_sha);

    auto& h = w.harness();
    const std::size_t ms0 = h.mark();
    const Instant t0 = runtime::monotonic_now();
    h.send(cat("send_stream 0 ", n, " ", kTheirSeed));
    p.start_stream(id, std::move(ours));

    Instant next_stats = t0;
    std::optional<Instant> ctox_rx_done;
    std::optional<Instant> our_rx_done;
    std::uint64_t last_ctox_rx = 0;
    Instant last_progress_log = t0;
    const Duration limit = relay ? 420s : 240s;
    w.require_until(
        [&] {
            const Instant now = runtime::monotonic_now();
            if (h.eof()) return true;
            const json& st = h.last_stats();
            if (st.is_object()) {
                last_ctox_rx = st.value<std::uint64_t>("stream_rx_bytes", 0);
                if (!ctox_rx_done && last_ctox_rx >= n) ctox_rx_done = h.last_stats_time();
            }
            if (!our_rx_done && p.stream_rx_bytes() >= n) our_rx_done = p.stream_rx_last();
            if (now - last_progress_log >= 5s) {
                last_progress_log = now;
                auto info = p.endpoint().info(id);
                log("progress: c-toxcore received ", last_ctox_rx, " / ", n, ", we received ",
                    p.stream_rx_bytes(), " / ", n, ", we queued ", p.stream_tx_queued(),
                    info ? cat(", our send buffer ", info->send_buffered_bytes) : "");
            }
            if (ctox_rx_done && our_rx_done) return true;
            if (!ctox_rx_done && now >= next_stats) {
                next_stats = now + 250ms;
                h.send("stats");
            }
            return p.status(id) != Status::kEstablished;
        },
        limit, "both 8 MiB streams to complete");
    require(!h.eof(), "the harness is still running");
    require(p.status(id) == Status::kEstablished, "our connection stayed Established");
    require(our_rx_done && ctox_rx_done, "both streams completed");

    // c-toxcore's view of its own stream, our receive hash, and c-toxcore's receive hash.
    w.require_until([&] { return h.find("stream_sent", ms0).has_value(); }, 10s,
                    "c-toxcore's stream_sent");
    const json& ss = h.events()[*h.find("stream_sent", ms0)];
    require(ss.value("sha256", "") == their_sha,
            "c-toxcore's stream_sent sha256 matches our generator");
    require(p.stream_rx_bytes() == n, cat("we received exactly ", n, " bytes"));
    require(p.stream_rx_sha256() == their_sha,
            "our received SHA-256 equals c-toxcore's stream_sent (byte-exact, in order)");
    const json st = w.stats();
    require(st.value<std::uint64_t>("stream_rx_bytes", 0) == n,
            cat("c-toxcore received exactly ", n, " bytes"));
    require(st.value("stream_rx_sha256", "") == our_sha,
            "c-toxcore's stream_rx_sha256 equals our stream's SHA-256");

    const double up_s = seconds_since(t0, *ctox_rx_done);
    const double down_s = seconds_since(t0, *our_rx_done);
    const double mib = static_cast<double>(n) / (1 << 20);
    auto info = p.endpoint().info(id);
    require(info.has_value(), "connection info");
    log("RESULT ", relay ? "stream_lossy_relay" : "stream_direct", ": us→c-toxcore ", up_s, " s (",
        mib / up_s, " MiB/s), c-toxcore→us ", down_s, " s (", mib / down_s,
        " MiB/s), SHA-256 equal both ways; c-toxcore blocked_attempts ",
        ss.value("blocked_attempts", -1), "; our retransmissions ", info->stats.retransmissions,
        ", lossless sent ", info->stats.lossless_sent);
    {
        const EndpointStats& es = p.endpoint().stats();
        std::ostringstream drops;
        for (std::size_t i = 0; i < kDropReasonCount; ++i) {
            if (es.dropped[i] > 0) {
                drops << " " << to_string(static_cast<DropReason>(i)) << "=" << es.dropped[i];
            }
        }
        log("ours: data packets received ", es.data_packets_received, ", REQUESTs sent ",
            info->stats.requests_sent, ", REQUESTs received ", info->stats.requests_received,
            ", drops:", drops.str().empty() ? " none" : drops.str());
    }
    if (r) {
        log("relay us→c-toxcore: received ", r->to_ctox().received, ", dropped ",
            r->to_ctox().dropped, ", delayed ", r->to_ctox().delayed, ", send errors ",
            r->to_ctox().send_errors, "; c-toxcore→us: received ", r->to_ours().received,
            ", dropped ", r->to_ours().dropped, ", delayed ", r->to_ours().delayed,
            ", send errors ", r->to_ours().send_errors);
        require(r->to_ctox().dropped > 0 && r->to_ours().dropped > 0 && r->to_ctox().delayed > 0 &&
                    r->to_ours().delayed > 0,
                "the relay really dropped and reordered in both directions");
    }
    require(p.transitions(id) == kInitiatorPath, "no status change during the transfer");
    w.finish_harness();
}

/// 3. After our KILL, c-toxcore reconnects to us (wire.md §4.7); we accept its handshake.
void scenario_ctox_initiates(const Options& o) {
    SodiumRng rng;
    EndpointConfig cfg;
    cfg.accept_all = false;  // exercise Event::Kind::kIncoming + accept()
    Peer p(KeyPair::generate(rng), cfg, "ours");
    World w(o, "ctox");
    const HarnessInfo hi = w.start_harness(p);
    p.accept_from(hi.public_key);
    std::size_t m = w.harness().mark();
    auto [id, ms] = connect_and_establish(w, p, hi, hi.address());
    wait_ctox_udp(w, m);
    exchange_messages(w, p, id, "first session");

    m = w.harness().mark();
    const Instant t_kill = runtime::monotonic_now();
    require(p.endpoint().close(t_kill, id).has_value(), "Endpoint::close");
    p.loop().flush();
    log("we closed #", id.value, " (KILL sent)");
    std::vector<Status> closed_path = kInitiatorPath;
    closed_path.push_back(Status::kClosed);
    require(p.transitions(id) == closed_path, "first connection ended Closed");
    require(p.statuses().back().event.reason == CloseReason::kClosedLocally,
            "close reason closed_locally");
    w.require_until(
        [&] {
            return w.harness()
                .find("friend_connection", m,
                      [](const json& j) { return j.value("status", "") == "none"; })
                .has_value();
        },
        5s, "c-toxcore to report our KILL (friend_connection none)");

    // c-toxcore still knows our DHT key and address: it starts a new connection to us.
    std::optional<ConnectionId> id2;
    w.require_until(
        [&] {
            for (const auto& r : p.statuses()) {
                if (r.event.connection != id && r.event.to == Status::kEstablished) {
                    id2 = r.event.connection;
                    return true;
                }
            }
            return false;
        },
        20s, "c-toxcore's new connection to reach Established on our side");
    require(!p.incoming().empty(), "the new connection surfaced as kIncoming");
    const IncomingRecord& inc = p.incoming().front();
    require(inc.event.peer_key == hi.public_key && inc.event.peer_dht_key == hi.dht_key,
            "incoming request carries c-toxcore's long-term and DHT keys");
    require(inc.event.address == hi.address(), "incoming request came from c-toxcore's port");
    const auto path2 = p.transitions(*id2);
    log("[ours] #", id2->value, " status path ", status_list(path2));
    require(
        path2 == std::vector<Status>{Status::kNotConfirmed, Status::kEstablished},
        cat("accepted connection path NotConfirmed→Established (got ", status_list(path2), ")"));
    const double incoming_s = seconds_since(t_kill, inc.at);
    const double est_s = seconds_since(t_kill, p.reached(*id2, Status::kEstablished)->at);
    wait_ctox_udp(w, m);
    exchange_messages(w, p, *id2, "second session, c-toxcore initiated");
    log("RESULT ctox_initiates: KILL→incoming handshake ", incoming_s, " s, KILL→Established ",
        est_s, " s; messages both ways on the new session");
    w.finish_harness();
}

/// tcp_relay.md §10 f4, with UDP off on both sides and c-toxcore's own TCP relay (a second
/// harness, --tcp-port) between us. After our KILL, c-toxcore can only come back through a relay
/// it stored for us, and it learns one from our SHARE_RELAYS alone (we do no onion/DHT
/// announcements). Session 1 shares nothing: after the KILL c-toxcore does not come back.
/// Session 2 shares the relay (FriendLayer::set_shared_relays): after the KILL c-toxcore
/// reconnects through it by itself, we accept, messages flow. Run in a network namespace (fixed
/// relay port).
void scenario_relay_share(const Options& o) {
    constexpr std::uint16_t kRelayPort = 33746;
    constexpr Duration kNoComeback = 12s;
    SodiumRng rng;
    EndpointConfig cfg;
    cfg.accept_all = false;  // c-toxcore's comeback surfaces as an IncomingRequest
    runtime::BindOptions bind;
    bind.no_udp = true;
    Peer p(KeyPair::generate(rng), cfg, "ours", bind);
    World w(o, "ctox");
    w.activate(p);

    Harness relay(o.harness, {"--tcp-port", std::to_string(kRelayPort), "--max-seconds", "900"},
                  "relay");
    bool relay_watched = false;
    auto unwatch_relay = [&] {
        if (relay_watched) p.loop().unwatch(relay.stdout_fd());
        relay_watched = false;
    };
    relay_watched = p.loop()
                        .watch(relay.stdout_fd(), EPOLLIN,
                               [&](std::uint32_t) {
                                   relay.on_readable();
                                   if (relay.eof()) unwatch_relay();
                               })
                        .has_value();
    require(relay_watched, "watch the relay harness");
    w.require_until([&] { return relay.find("ready").has_value() || relay.eof(); }, 20s,
                    "the relay harness's ready line");
    const auto ready = relay.find("ready");
    require(ready.has_value(), "relay harness printed ready");
    const auto relay_key = PublicKey::from_hex(relay.events()[*ready].value("relay_key", ""));
    require(relay_key.has_value(), "relay ready carries relay_key (started with --tcp-port)");
    require(relay.events()[*ready].value("tcp_port", 0) == kRelayPort,
            cat("the relay listens on ", kRelayPort));
    const Address relay_addr = loopback(kRelayPort);
    auto rid = p.loop().add_relay(p.endpoint(), relay_addr, *relay_key);
    require(rid.has_value(), cat("Loop::add_relay: ", rid ? "" : rid.error()));
    auto relay_connected = [&] {
        auto info = p.endpoint().relay_info(*rid);
        return info && info->state == RelayState::kConnected;
    };
    w.require_until(relay_connected, 10s, "our relay connection to be kConnected");
    log("[ours] relay ", relay_addr.to_string(), " connected");

    const std::string relay_arg = cat("127.0.0.1:", kRelayPort, ":", relay_key->to_hex());
    const HarnessInfo hi = w.start_harness(p, {"--no-udp", "--relay", relay_arg});
    auto& h = w.harness();
    auto ctox_status = [&](std::size_t from, const std::string& status) {
        return h
            .find("friend_connection", from,
                  [&](const json& j) { return j.value("status", "") == status; })
            .has_value();
    };
    auto session = [&](const std::string& tag) {
        const std::size_t m = h.mark();
        const Instant t0 = runtime::monotonic_now();
        auto id = p.endpoint().connect(t0, hi.public_key, hi.dht_key);
        require(id.has_value(), "Endpoint::connect through relays");
        w.require_until(
            [&] {
                return p.reached(*id, Status::kEstablished) != nullptr ||
                       p.reached(*id, Status::kClosed) != nullptr;
            },
            20s, cat("our connection (", tag, ") to reach Established through the relay"));
        require(p.reached(*id, Status::kEstablished) != nullptr,
                cat(tag, ": Established (not Closed)"));
        log("[ours] ", tag, ": Established in ",
            ms_between(t0, p.reached(*id, Status::kEstablished)->at), " ms");
        w.require_until([&] { return ctox_status(m, "tcp") || ctox_status(m, "udp"); }, 10s,
                        "c-toxcore friend_connection");
        require(ctox_status(m, "tcp"), "c-toxcore reports the friend connection as tcp");
        require(p.endpoint().info(*id)->route == RouteKind::kTcpRelay, "our route is the relay");
        exchange_messages(w, p, *id, tag);
        return *id;
    };
    auto kill = [&](ConnectionId id, const std::string& tag) {
        const std::size_t m = h.mark();
        require(p.endpoint().close(runtime::monotonic_now(), id).has_value(), "Endpoint::close");
        p.loop().flush();
        log("[ours] ", tag, ": closed #", id.value, " (KILL sent)");
        w.require_until([&] { return ctox_status(m, "none"); }, 10s,
                        cat("c-toxcore to report our KILL (", tag, ")"));
        return runtime::monotonic_now();
    };

    // Session 1: no SHARE_RELAYS. c-toxcore has no relay stored for us: it cannot come back.
    require(p.friends().shared_relays().empty(), "session 1 shares no relay");
    const ConnectionId id1 = session("session 1, nothing shared");
    kill(id1, "session 1");
    const std::size_t incoming_before = p.incoming().size();
    w.run_for(kNoComeback);
    require(p.incoming().size() == incoming_before,
            cat("without SHARE_RELAYS c-toxcore did not come back within ",
                std::chrono::duration<double>(kNoComeback).count(),
                " s (it did: ", p.incoming().size() - incoming_before, " incoming requests)"));
    log("[ours] session 1: no comeback from c-toxcore within ",
        std::chrono::duration<double>(kNoComeback).count(), " s, as expected");

    // Session 2: we share the relay; after the KILL c-toxcore reconnects by itself.
    p.friends().set_shared_relays(runtime::monotonic_now(),
                                  {friends::SharedRelay{relay_addr, *relay_key}});
    require(p.friends().shared_relays().size() == 1, "the connected relay is shared");
    p.accept_from(hi.public_key);
    const ConnectionId id2 = session("session 2, relay shared");
    w.run_for(1s);  // SHARE_RELAYS left right after ONLINE; let c-toxcore act on it
    const Instant t_kill = kill(id2, "session 2");
    std::optional<ConnectionId> id3;
    w.require_until(
        [&] {
            for (const auto& r : p.statuses()) {
                if (r.event.connection != id1 && r.event.connection != id2 &&
                    r.event.to == Status::kEstablished) {
                    id3 = r.event.connection;
                    return true;
                }
            }
            return false;
        },
        20s,
        "c-toxcore's own new connection through the shared relay to reach Established (did it "
        "get our SHARE_RELAYS?)");
    require(p.incoming().size() > incoming_before, "the comeback surfaced as an IncomingRequest");
    const IncomingRecord& inc = p.incoming().back();
    require(inc.event.peer_key == hi.public_key, "the incoming request is c-toxcore's");
    require(p.endpoint().info(*id3)->route == RouteKind::kTcpRelay, "it came through the relay");
    const double back_s = seconds_since(t_kill, p.reached(*id3, Status::kEstablished)->at);
    exchange_messages(w, p, *id3, "session 3, c-toxcore came back");
    log("RESULT relay_share: without SHARE_RELAYS no comeback in ",
        std::chrono::duration<double>(kNoComeback).count(),
        " s; with it c-toxcore reconnected through the relay, KILL→Established ", back_s, " s");
    w.finish_harness(/*udp_sends=*/false);
    const std::size_t rm = relay.mark();
    relay.send("quit");
    w.require_until([&] { return relay.find("exit", rm).has_value() || relay.eof(); }, 15s,
                    "the relay harness's exit line");
    const auto rex = relay.find("exit", rm);
    require(rex.has_value() && relay.events()[*rex].value("nonloopback_sends", -1) == 0,
            "relay harness nonloopback_sends == 0 at exit");
    unwatch_relay();
    relay.reap(5s);
    require(relay.exit_status() == 0, "relay harness exit status 0");
}

/// 4. Lossy packets (ids 200..254) each way: each one arrives intact or not at all.
void scenario_lossy(const Options& o, bool relay) {
    SodiumRng rng;
    Peer p(KeyPair::generate(rng), {}, "ours");
    World w(o, "ctox");
    const HarnessInfo hi = w.start_harness(p);
    std::unique_ptr<Relay> r;
    Address to = hi.address();
    if (relay) {
        r = std::make_unique<Relay>(p.loop(), p.local(), hi.address(), 0.10, 0.20, o.seed);
        to = r->address();
    }
    const std::size_t m0 = w.harness().mark();
    auto [id, ms] = connect_and_establish(w, p, hi, to, relay ? 30s : 10s);
    wait_ctox_udp(w, m0, relay ? 30s : 10s);
    auto& h = w.harness();

    constexpr int kCount = 120;
    // Packet k: id 200 + k % 55, a tag, BE32(k), then a k-dependent pattern; sizes from 1 (id
    // only) up to the maximum of 1373 bytes.
    auto make = [](char tag, int k) {
        std::vector<std::uint8_t> v;
        v.push_back(static_cast<std::uint8_t>(200 + k % 55));
        if (k == 0) return v;  // the id byte alone
        const std::size_t size =
            k == 1 ? kMaxMessageSize : 6 + static_cast<std::size_t>((k * 97) % 1300);
        v.push_back(static_cast<std::uint8_t>(tag));
        for (int s = 24; s >= 0; s -= 8) {
            v.push_back(
                static_cast<std::uint8_t>(static_cast<unsigned>(k) >> static_cast<unsigned>(s)));
        }
        std::uint32_t x = 2166136261U ^ static_cast<std::uint32_t>(k);
        while (v.size() < size) {
            x = x * 16777619U + 0x9e3779b9U;
            v.push_back(static_cast<std::uint8_t>(x >> 24U));
        }
        return v;
    };
    std::map<std::string, int> ours_sent;
    std::map<std::string, int> theirs_sent;
    const std::size_t m = h.mark();
    const std::size_t lossy_before = p.lossy().size();
    for (int k = 0; k < kCount; ++k) {
        const auto a = make('N', k);
        ours_sent[to_hex(a)] = k;
        auto sent = p.endpoint().send_lossy(runtime::monotonic_now(), id, a);
        require(sent.has_value(), "Endpoint::send_lossy");
        const auto b = make('C', k);
        theirs_sent[to_hex(b)] = k;
        h.send(cat("send_lossy 0 ", to_hex(b)));
        if (k % 10 == 9) w.run_for(20ms);
    }
    // A lossy packet is never retransmitted: wait until everything is in or nothing moves.
    auto done = [&] {
        return h.count("lossy_packet", m) >= static_cast<std::size_t>(kCount) &&
               p.lossy().size() - lossy_before >= static_cast<std::size_t>(kCount);
    };
    (void)w.wait_until(done, 5s);
    w.run_for(300ms);

    // c-toxcore's side: every lossy_packet must be exactly one of ours.
    std::set<int> ctox_seen;
    std::size_t ctox_dup = 0;
    for (std::size_t i = m; i < h.events().size(); ++i) {
        const json& j = h.events()[i];
        const std::string ev = j.value("event", "");
        if (ev == "lossy_sent") {
            require(j.value("ok", false), cat("c-toxcore accepted send_lossy (", j.dump(), ")"));
        }
        if (ev != "lossy_packet") continue;
        const std::string data = j.value("data_hex", "");
        auto it = ours_sent.find(data);
        require(it != ours_sent.end(),
                cat("c-toxcore received a corrupted/unknown lossy packet: ", data.substr(0, 80)));
        require(j.value("id", -1) == 200 + it->second % 55 &&
                    j.value<std::size_t>("len", 0) == data.size() / 2,
                "lossy_packet id and len match");
        if (!ctox_seen.insert(it->second).second) ++ctox_dup;
    }
    // Our side.
    std::set<int> ours_seen;
    std::size_t our_dup = 0;
    for (std::size_t i = lossy_before; i < p.lossy().size(); ++i) {
        auto it = theirs_sent.find(to_hex(p.lossy()[i]));
        require(it != theirs_sent.end(), cat("we received a corrupted/unknown lossy packet: ",
                                             to_hex(p.lossy()[i]).substr(0, 80)));
        if (!ours_seen.insert(it->second).second) ++our_dup;
    }
    log("lossy us→c-toxcore: ", ctox_seen.size(), " / ", kCount, " distinct delivered (", ctox_dup,
        " duplicates); c-toxcore→us: ", ours_seen.size(), " / ", kCount, " distinct delivered (",
        our_dup, " duplicates)");
    require(!ctox_seen.empty() && !ours_seen.empty(), "lossy packets got through both ways");
    require(p.status(id) == Status::kEstablished, "still Established");
    // Lossless traffic is unaffected.
    exchange_messages(w, p, id, "after lossy");
    log("RESULT ", relay ? "lossy_packets_relay" : "lossy_packets", ": us→c-toxcore ",
        ctox_seen.size(), "/", kCount, ", c-toxcore→us ", ours_seen.size(), "/", kCount,
        ", 0 corrupted, duplicates ", ctox_dup, "/", our_dup);
    w.finish_harness();
}

/// 5. We restart with a new DHT key and a new port (wire.md §4.9): c-toxcore accepts the new
/// session and sends KILL to the old address.
void scenario_restart(const Options& o) {
    SodiumRng rng;
    const KeyPair identity = KeyPair::generate(rng);
    auto old_peer = std::make_unique<Peer>(identity, EndpointConfig{}, "ours-old");
    World w(o, "ctox");
    const HarnessInfo hi = w.start_harness(*old_peer);
    std::size_t m = w.harness().mark();
    auto [id1, ms1] = connect_and_establish(w, *old_peer, hi, hi.address());
    wait_ctox_udp(w, m);
    exchange_messages(w, *old_peer, id1, "before restart");

    // "Crash": the old instance stops sending anything (no KILL); it is kept only so that we
    // can later look at what c-toxcore sent to the old address.
    Peer fresh(identity, EndpointConfig{}, "ours-new");
    require(fresh.endpoint().dht_public_key() != old_peer->endpoint().dht_public_key(),
            "new DHT key");
    require(fresh.local().port != old_peer->local().port, "new UDP port");
    m = w.harness().mark();
    w.activate(fresh);
    const Instant t_restart = runtime::monotonic_now();
    auto [id2, ms2] = connect_and_establish(w, fresh, hi, hi.address());
    log("new session Established ", ms2, " ms after connect");
    // c-toxcore reports the old friend connection gone and the new one up (or stays udp).
    w.require_until(
        [&] {
            const json st = w.stats();
            const auto& fr = st.value("friends", json::array());
            return !fr.empty() && fr[0].value("status", "") == "udp";
        },
        10s, "c-toxcore friend status udp on the new session");
    exchange_messages(w, fresh, id2, "after restart");

    // The old instance now reads what reached the old port: c-toxcore's KILL (§4.9 b).
    std::size_t drained = 0;
    const Instant until = runtime::monotonic_now() + 500ms;
    while (runtime::monotonic_now() < until && old_peer->reached(id1, Status::kClosed) == nullptr) {
        old_peer->loop().run_once(20ms);
        ++drained;
    }
    const StatusRecord* closed = old_peer->reached(id1, Status::kClosed);
    require(closed != nullptr, "the old session received c-toxcore's KILL at the old address");
    require(closed->event.reason == CloseReason::kKilledByPeer,
            cat("old session closed with reason killed_by_peer (got ",
                to_string(closed->event.reason), ")"));
    std::string ctox_statuses;
    for (std::size_t i = m; i < w.harness().events().size(); ++i) {
        const json& j = w.harness().events()[i];
        if (j.value("event", "") == "friend_connection") {
            ctox_statuses += cat(" ", j.value("status", ""));
        }
    }
    log("RESULT restart_new_key: new session (new DHT key, port ", fresh.local().port,
        " instead of ", old_peer->local().port, ") Established ",
        seconds_since(t_restart, fresh.reached(id2, Status::kEstablished)->at) * 1000,
        " ms after restart; old address got KILL (killed_by_peer); c-toxcore friend_connection "
        "events:",
        ctox_statuses.empty() ? " (none, stayed udp)" : ctox_statuses);
    w.finish_harness();
}

/// 6. Keepalive: a 40 s idle session stays up on both sides.
void scenario_keepalive(const Options& o) {
    SodiumRng rng;
    Peer p(KeyPair::generate(rng), {}, "ours");
    World w(o, "ctox");
    const HarnessInfo hi = w.start_harness(p);
    std::size_t m = w.harness().mark();
    auto [id, ms] = connect_and_establish(w, p, hi, hi.address());
    wait_ctox_udp(w, m);
    w.run_for(300ms);  // let c-toxcore's post-connect packets settle
    m = w.harness().mark();
    const std::size_t statuses_before = p.statuses().size();
    auto info0 = p.endpoint().info(id);
    require(info0.has_value(), "info");
    log("idle for 40 s …");
    const Instant t0 = runtime::monotonic_now();
    (void)w.wait_until(
        [&] {
            return p.status(id) != Status::kEstablished ||
                   w.harness().find("friend_connection", m).has_value() || w.harness().eof();
        },
        40s);
    const double idle_s = seconds_since(t0, runtime::monotonic_now());
    require(p.status(id) == Status::kEstablished && p.statuses().size() == statuses_before,
            "our connection stayed Established with no status change");
    require(!w.harness().find("friend_connection", m).has_value(),
            "c-toxcore reported no friend_connection change while idle");
    require(idle_s >= 39.9, "idled the full 40 s");
    const json st = w.stats();
    const auto& fr = st.value("friends", json::array());
    require(!fr.empty() && fr[0].value("status", "") == "udp",
            "c-toxcore still reports our friend connection udp");
    auto info1 = p.endpoint().info(id);
    require(info1.has_value(), "info");
    exchange_messages(w, p, id, "after 40 s idle");
    log("RESULT keepalive: idle ", idle_s,
        " s, ours Established throughout, c-toxcore udp "
        "throughout; during idle we sent ",
        info1->stats.packets_sent - info0->stats.packets_sent, " data packets (REQUESTs ",
        info1->stats.requests_sent - info0->stats.requests_sent, ") and received ",
        info1->stats.packets_received - info0->stats.packets_received);
    w.finish_harness();
}

/// 7. c-toxcore stops answering: we leave Established within the documented bound.
void scenario_peer_silent(const Options& o) {
    SodiumRng rng;
    Peer p(KeyPair::generate(rng), {}, "ours");
    World w(o, "ctox");
    const HarnessInfo hi = w.start_harness(p);
    std::size_t m = w.harness().mark();
    auto [id, ms] = connect_and_establish(w, p, hi, hi.address());
    wait_ctox_udp(w, m);
    exchange_messages(w, p, id, "before silence");
    m = w.harness().mark();
    w.harness().send("stop_iterating");
    w.require_until([&] { return w.harness().find("stopped_iterating", m).has_value(); }, 5s,
                    "stopped_iterating");
    const Instant t_stop = w.harness().event_time(*w.harness().find("stopped_iterating", m));
    w.require_until([&] { return p.status(id) != Status::kEstablished; }, 40s,
                    "our connection to leave Established");
    const StatusRecord& last = p.statuses().back();
    require(last.event.connection == id && last.event.from == Status::kEstablished,
            "the last status event is our connection leaving Established");
    const double dt = seconds_since(t_stop, last.at);
    const bool by_friend_layer = !p.gone().empty() && p.gone().front().second == id;
    const std::string why =
        by_friend_layer
            ? cat("friend layer ALIVE timeout (32 s) → close() → ", to_string(last.event.reason))
            : cat("endpoint ", to_string(last.event.reason), " (silence_timeout 32 s)");
    log("left Established ", dt, " s after c-toxcore stopped: ", to_string(last.event.to), ", ",
        why);
    require(last.event.to == Status::kClosed, "closed");
    require(last.event.reason == CloseReason::kPeerSilent ||
                (by_friend_layer && last.event.reason == CloseReason::kClosedLocally),
            "reason is peer silence");
    require(dt <= 34.0, "left Established within 34 s");
    std::vector<Status> path = kInitiatorPath;
    path.push_back(Status::kClosed);
    require(p.transitions(id) == path, "status path …→Established→Closed");
    log("RESULT peer_silent: Established→Closed after ", dt, " s (bound 34 s), reason: ", why);
    w.finish_harness();
}

int usage() {
    std::cerr << "usage: interop_driver "
                 "{connect|stream_direct|stream_lossy_relay|ctox_initiates|lossy_packets|"
                 "lossy_packets_relay|"
                 "restart_new_key|keepalive|peer_silent|presence|relay_share} --harness PATH "
                 "[--runs N] "
                 "[--stream-bytes N] [--seed N]\n";
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0) return 1;
    Options o;
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) throw std::invalid_argument(cat(args[i], " needs a value"));
            return args[++i];
        };
        try {
            if (args[i] == "--harness") {
                o.harness = value();
            } else if (args[i] == "--runs") {
                o.runs = std::stoi(value());
            } else if (args[i] == "--stream-bytes") {
                o.stream_bytes = std::stoull(value());
            } else if (args[i] == "--seed") {
                o.seed = std::stoull(value());
            } else if (o.scenario.empty() && args[i].rfind("--", 0) != 0) {
                o.scenario = args[i];
            } else {
                return usage();
            }
        } catch (const std::exception& e) {
            std::cerr << e.what() << "\n";
            return usage();
        }
    }
    if (o.scenario.empty() || o.harness.empty() || o.runs < 1) return usage();

    // Self-check of the stream generator against the README's vectors.
    if (to_hex(deterministic_stream(16, 42)) != "5daf1d44ef0620792ac7f2550e2db161" ||
        sha256_hex(deterministic_stream(1000, 1)) !=
            "a13fda44c803e442e2b1651eff89bdd2235a968ea5afcc1fdf5222bd7c584159") {
        std::cerr << "stream generator does not match the harness README vectors\n";
        return 1;
    }

    const std::map<std::string, std::function<void()>> scenarios{
        {"connect", [&] { scenario_connect(o); }},
        {"stream_direct", [&] { scenario_stream(o, false); }},
        {"stream_lossy_relay", [&] { scenario_stream(o, true); }},
        {"ctox_initiates", [&] { scenario_ctox_initiates(o); }},
        {"lossy_packets", [&] { scenario_lossy(o, false); }},
        {"lossy_packets_relay", [&] { scenario_lossy(o, true); }},
        {"restart_new_key", [&] { scenario_restart(o); }},
        {"keepalive", [&] { scenario_keepalive(o); }},
        {"peer_silent", [&] { scenario_peer_silent(o); }},
        {"presence", [&] { scenario_presence(o); }},
        {"relay_share", [&] { scenario_relay_share(o); }},
    };
    auto it = scenarios.find(o.scenario);
    if (it == scenarios.end()) return usage();
    const Instant t0 = runtime::monotonic_now();
    try {
        it->second();
    } catch (const std::exception& e) {
        log("FAIL ", o.scenario, ": ", e.what());
        return 1;
    }
    log("PASS ", o.scenario, " in ", seconds_since(t0, runtime::monotonic_now()), " s");
    return 0;
}
