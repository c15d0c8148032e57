// The epoll event loop: UDP sockets with recvmmsg/sendmmsg batching, TCP connections to relays,
// a signalfd for clean shutdown, extra watched descriptors and timers, all on one thread.
//
// epoll tags: a UDP socket or a watched descriptor is registered with its descriptor number as
// the tag; a relay socket with kRelayTag | a serial number that is never reused, so an event
// still queued for a relay socket closed meanwhile (and a descriptor number reused) is ignored.
#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <netinet/in.h>
#include <optional>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include <netcrypto/posix.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

#include "runtime/relay_socket.hpp"
#include "runtime/udp_batch.hpp"

namespace netcrypto::runtime {

Instant monotonic_now() { return posix::steady_now(); }

namespace {

constexpr std::size_t kBatch = 128;  ///< datagrams polled from an endpoint per send
constexpr std::uint64_t kRelayTag = std::uint64_t{1} << 62U;
/// Bytes read from a relay socket at once, and reads per wake-up (so UDP is not starved).
constexpr std::size_t kRelayReadSize = std::size_t{64} * 1024;
constexpr int kRelayReadsPerWake = 8;

std::string errno_text(const char* what) {
    std::string s(what);
    s += ": ";
    s += std::strerror(errno);
    return s;
}

}  // namespace

class Loop::Impl {
  public:
    struct Bound {
        Endpoint* endpoint = nullptr;
        int fd = -1;
        int family = AF_INET;  ///< of the socket: to_sockaddr maps IPv4 peers for AF_INET6
        Address local;
        std::function<void(const Event&)> on_event;
        BindOptions options;
        SocketStats stats;
        detail::UdpOffload offload;
        bool want_write = false;
        // Datagrams polled from the endpoint but refused by the kernel (EAGAIN): kept in order.
        struct Pending {
            sockaddr_storage addr;
            socklen_t addr_len;
            std::vector<std::uint8_t> bytes;
        };
        std::vector<Pending> backlog;
    };

    /// The loop's TCP connection to one relay of a bound endpoint (Loop::add_relay).
    struct Relay {
        Bound* bound = nullptr;
        RelayId id;
        Address address;
        RelayOptions options;
        RelaySocketStats stats;
        detail::RelaySocket socket;
        std::uint64_t tag = 0;  ///< epoll tag of the current socket (0: none)
        bool opened = false;    ///< relay_opened() was called for the current socket
        bool want_write = false;
        bool removed = false;  ///< the endpoint removed the relay: forgotten after this step
        Duration backoff{};
        Instant connect_deadline = Instant::max();
        Instant reconnect_at = Instant::max();
    };

    Impl() : epfd(epoll_create1(EPOLL_CLOEXEC)) { send_bufs.resize(kBatch); }
    ~Impl() {
        for (auto& r : relays) r->socket.close();
        for (auto& b : bound) {
            if (b->fd >= 0) ::close(b->fd);
        }
        if (sigfd >= 0) ::close(sigfd);
        if (epfd >= 0) ::close(epfd);
    }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    bool injected_drop(Bound& b) {
        if (b.options.drop_probability <= 0.0) return false;
        const double u = static_cast<double>(rng.next_u64() >> 11U) * 0x1.0p-53;
        if (u < b.options.drop_probability) {
            ++b.stats.injected_drops;
            return true;
        }
        return false;
    }

    void receive(Bound& b) {
        // Bounded: at most 16 batches per wake-up so timers and sends are not starved.
        for (int round = 0; round < 16; ++round) {
            bool full = false;
            if (!receiver.receive(b.fd, b.offload, full)) return;
            const Instant now = monotonic_now();
            const sockaddr_storage* last_from = nullptr;
            std::optional<Address> from;
            for (const auto& d : receiver.datagrams()) {
                ++b.stats.datagrams_in;
                if (injected_drop(b)) continue;
                if (d.from != last_from) {  // segments of one GRO datagram share the sender
                    from = posix::from_sockaddr(*d.from, d.from_len);
                    last_from = d.from;
                }
                if (!from) continue;
                b.endpoint->handle_datagram(now, *from, d.bytes);
            }
            dispatch_events(b);
            if (!full) return;
        }
    }

    void dispatch_events(Bound& b) {
        for (int i = 0; i < 1'000'000; ++i) {
            auto e = b.endpoint->poll_event();
            if (!e) break;
            if (const auto* r = e->get_if<RelayStatusChanged>()) on_relay_status(b, *r);
            if (b.on_event) b.on_event(*e);
        }
    }

    /// Sends what the endpoint has; returns false if the socket is full (EPOLLOUT needed).
    bool send(Bound& b) {
        if (b.options.no_udp) {
            discard_datagrams(b);
            return true;
        }
        if (!send_backlog(b)) return false;
        std::array<sockaddr_storage, kBatch> addrs{};
        std::array<detail::OutDatagram, kBatch> out{};
        for (int round = 0; round < 1024; ++round) {
            const Instant now = monotonic_now();
            std::size_t count = 0;
            while (count < kBatch) {
                auto t = b.endpoint->poll_transmit(now, send_bufs[count]);
                if (!t) break;
                if (injected_drop(b)) continue;
                const socklen_t len = posix::to_sockaddr(t->destination, addrs[count], b.family);
                out[count] = {send_bufs[count].data(), t->size, &addrs[count], len};
                ++count;
            }
            if (count == 0) return true;
            const std::size_t done =
                detail::send_datagrams(b.fd, std::span(out.data(), count), b.offload);
            sync_stats(b);
            b.stats.datagrams_out += done;
            if (done < count) {
                for (std::size_t i = done; i < count; ++i) {
                    b.backlog.push_back(
                        {addrs[i], out[i].addr_len,
                         std::vector<std::uint8_t>(out[i].data, out[i].data + out[i].size)});
                }
                return false;
            }
            if (count < kBatch) return true;
        }
        return true;
    }

    /// BindOptions::no_udp: takes every datagram the endpoint has and counts it dropped.
    void discard_datagrams(Bound& b) {
        const Instant now = monotonic_now();
        for (std::size_t i = 0; i < kBatch * 1024; ++i) {
            if (!b.endpoint->poll_transmit(now, send_bufs[0])) return;
            ++b.stats.no_udp_drops;
        }
    }

    /// Sends the backlog left by an earlier EAGAIN; false if some of it is still waiting.
    bool send_backlog(Bound& b) {
        if (b.backlog.empty()) return true;
        std::vector<detail::OutDatagram> out;
        out.reserve(b.backlog.size());
        for (const auto& p : b.backlog)
            out.push_back({p.bytes.data(), p.bytes.size(), &p.addr, p.addr_len});
        const std::size_t done = detail::send_datagrams(b.fd, out, b.offload);
        sync_stats(b);
        b.stats.datagrams_out += done;
        b.backlog.erase(b.backlog.begin(), b.backlog.begin() + static_cast<std::ptrdiff_t>(done));
        return b.backlog.empty();
    }

    static void sync_stats(Bound& b) {
        b.stats.send_errors = b.offload.send_errors;
        b.stats.gso_fallbacks = b.offload.gso_fallbacks;
        b.stats.gso_messages = b.offload.gso_messages;
        b.stats.send_calls = b.offload.send_calls;
        b.stats.gso = b.offload.gso;
    }

    void flush_all() {
        for (auto& bp : bound) {
            Bound& b = *bp;
            dispatch_events(b);
            bool done = true;
            // A relay that takes bytes makes room in its queue, which lets connections waiting
            // for it produce more (through poll_transmit): repeat while relays take bytes.
            for (int round = 0; round < 16; ++round) {
                done = send(b);
                if (write_relays(b) == 0) break;
            }
            dispatch_events(b);
            if (b.fd >= 0 && !done != b.want_write) {
                b.want_write = !done;
                epoll_event ev{};
                ev.events = EPOLLIN | (b.want_write ? EPOLLOUT : 0U);
                ev.data.u64 = static_cast<std::uint64_t>(b.fd);
                epoll_ctl(epfd, EPOLL_CTL_MOD, b.fd, &ev);
            }
        }
        forget_removed_relays();
    }

    void run_timers(Instant now) {
        for (auto& bp : bound) {
            auto t = bp->endpoint->next_timeout();
            if (t && *t <= now) {
                bp->endpoint->handle_timeout(now);
                dispatch_events(*bp);
            }
        }
        run_relay_timers(now);
        while (!timers.empty() && timers.begin()->first <= now) {
            auto fn = std::move(timers.begin()->second);
            timers.erase(timers.begin());
            fn();
        }
    }

    std::optional<Instant> next_deadline() const {
        std::optional<Instant> next;
        for (const auto& bp : bound) {
            auto t = bp->endpoint->next_timeout();
            if (t && (!next || *t < *next)) next = t;
        }
        if (!timers.empty() && (!next || timers.begin()->first < *next))
            next = timers.begin()->first;
        for (const auto& r : relays) {
            const Instant t = std::min(r->connect_deadline, r->reconnect_at);
            if (t != Instant::max() && (!next || t < *next)) next = t;
        }
        return next;
    }

    // --- relays (Loop::add_relay) ------------------------------------------------------------

    Relay* find_relay(const Endpoint* endpoint, RelayId id) const {
        for (const auto& r : relays) {
            if (r->bound->endpoint == endpoint && r->id == id && !r->removed) return r.get();
        }
        return nullptr;
    }

    void epoll_relay(Relay& r, std::uint32_t events, int op) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = r.tag;
        epoll_ctl(epfd, op, r.socket.fd(), &ev);
    }

    /// Starts a TCP connection to the relay; on an immediate failure schedules the next one.
    void connect_relay(Relay& r, Instant now) {
        r.reconnect_at = Instant::max();
        if (!r.bound->endpoint->relay_info(r.id)) {  // removed behind our back
            r.removed = true;
            return;
        }
        ++r.stats.connect_attempts;
        if (auto err = r.socket.start_connect(r.address)) {
            r.stats.last_error = *err;
            schedule_reconnect(r, now);
            return;
        }
        r.tag = kRelayTag | next_relay_serial++;
        r.opened = false;
        r.want_write = true;
        r.connect_deadline = now + r.options.connect_timeout;
        epoll_relay(r, EPOLLOUT, EPOLL_CTL_ADD);
    }

    void schedule_reconnect(Relay& r, Instant now) {
        r.reconnect_at = now + r.backoff;
        r.backoff = std::min(r.backoff * 2, r.options.max_backoff);
    }

    /// Closes the relay's socket; `error` (if any) becomes last_error. The endpoint is told
    /// (relay_closed) when it knew the socket. A reconnection follows unless the relay is gone.
    void drop_relay_socket(Relay& r, Instant now, std::optional<std::string> error) {
        if (r.socket.state() == detail::RelaySocket::State::kClosed) return;
        if (error) r.stats.last_error = std::move(*error);
        if (r.socket.state() == detail::RelaySocket::State::kOpen) ++r.stats.disconnects;
        r.socket.close();  // also leaves the epoll set
        r.tag = 0;
        r.want_write = false;
        r.connect_deadline = Instant::max();
        if (!r.removed) schedule_reconnect(r, now);
        if (std::exchange(r.opened, false) && !r.removed) {
            r.bound->endpoint->relay_closed(now, r.id);
        }
    }

    /// RelayStatusChanged, before the user sees it: a session that failed by itself closes its
    /// socket (then reconnects); a confirmed one resets the backoff; a removed relay is forgotten.
    void on_relay_status(Bound& b, const RelayStatusChanged& e) {
        Relay* r = find_relay(b.endpoint, e.relay);
        if (r == nullptr) return;
        const Instant now = monotonic_now();
        if (e.to == RelayState::kConnected) {
            r->backoff = r->options.first_backoff;
        } else if (e.to == RelayState::kDisconnected) {
            if (e.reason == RelayCloseReason::kRemoved) r->removed = true;
            r->opened = false;  // the endpoint already knows: no relay_closed()
            std::optional<std::string> why;
            if (e.reason != RelayCloseReason::kRemoved &&
                e.reason != RelayCloseReason::kEndOfStream) {
                why = "relay session closed: " + std::string(to_string(e.reason));
            }
            drop_relay_socket(*r, now, std::move(why));
            if (r->removed) r->reconnect_at = Instant::max();
        }
    }

    void forget_removed_relays() {
        std::erase_if(relays, [](const std::unique_ptr<Relay>& r) {
            if (!r->removed) return false;
            r->socket.close();
            return true;
        });
    }

    /// An epoll event for the relay socket tagged `tag` (ignored if that socket is gone).
    void on_relay_ready(std::uint64_t tag, std::uint32_t events) {
        Relay* r = nullptr;
        for (auto& rp : relays) {
            if (rp->tag == tag) r = rp.get();
        }
        if (r == nullptr) return;
        const Instant now = monotonic_now();
        if (r->socket.state() == detail::RelaySocket::State::kConnecting) {
            finish_relay_connect(*r, now);
            return;
        }
        if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0U) read_relay(*r);
        if (r->tag == tag && (events & EPOLLOUT) != 0U) write_relay(*r);
        dispatch_events(*r->bound);
    }

    void finish_relay_connect(Relay& r, Instant now) {
        if (auto err = r.socket.finish_connect(r.address)) {
            r.stats.last_error = *err;
            r.tag = 0;
            r.connect_deadline = Instant::max();
            schedule_reconnect(r, now);
            return;
        }
        if (r.socket.state() != detail::RelaySocket::State::kOpen) return;  // not yet
        ++r.stats.connects;
        r.connect_deadline = Instant::max();
        r.want_write = false;
        epoll_relay(r, EPOLLIN, EPOLL_CTL_MOD);
        if (!r.bound->endpoint->relay_opened(now, r.id)) {  // removed behind our back
            r.removed = true;
            r.socket.close();
            r.tag = 0;
            return;
        }
        r.opened = true;
        write_relay(r);  // the handshake
        dispatch_events(*r.bound);
    }

    /// Reads what the relay sent (bounded per wake-up) into the endpoint.
    void read_relay(Relay& r) {
        const std::uint64_t tag = r.tag;
        for (int i = 0; i < kRelayReadsPerWake && r.tag == tag; ++i) {
            const auto res = r.socket.read(relay_buf);
            const Instant now = monotonic_now();
            using Kind = detail::RelaySocket::ReadResult::Kind;
            if (res.kind == Kind::kWouldBlock) return;
            if (res.kind == Kind::kEndOfStream || res.kind == Kind::kError) {
                drop_relay_socket(r, now,
                                  res.kind == Kind::kError ? res.error : "closed by the relay");
                return;
            }
            r.stats.bytes_in += res.size;
            r.bound->endpoint->handle_relay_bytes(now, r.id, std::span(relay_buf).first(res.size));
            // Events now: a session that broke closes the socket (and ends this loop).
            dispatch_events(*r.bound);
            if (res.size < relay_buf.size()) return;
        }
    }

    /// Writes the endpoint's pending relay bytes; EPOLLOUT stays armed while some remain.
    /// Returns the bytes the kernel took.
    std::size_t write_relay(Relay& r) {
        if (r.socket.state() != detail::RelaySocket::State::kOpen) return 0;
        Endpoint& ep = *r.bound->endpoint;
        bool blocked = false;
        std::size_t total = 0;
        // Bounded: each round consumes what the kernel took; the endpoint queue is bounded too.
        for (int round = 0; round < 64; ++round) {
            const auto pending = ep.relay_pending(r.id);
            if (pending.empty()) break;
            auto res = r.socket.write(pending);
            if (res.written > 0) {
                ep.consume_relay_bytes(r.id, res.written);
                r.stats.bytes_out += res.written;
                total += res.written;
            }
            if (res.error) {
                drop_relay_socket(r, monotonic_now(), std::move(res.error));
                return total;
            }
            if (res.blocked) {
                blocked = true;
                break;
            }
        }
        if (blocked != r.want_write) {
            r.want_write = blocked;
            epoll_relay(r, EPOLLIN | (blocked ? EPOLLOUT : 0U), EPOLL_CTL_MOD);
        }
        return total;
    }

    std::size_t write_relays(Bound& b) {
        std::size_t total = 0;
        for (auto& r : relays) {
            if (r->bound == &b && !r->removed) total += write_relay(*r);
        }
        return total;
    }

    /// Connect timeouts and due reconnections.
    void run_relay_timers(Instant now) {
        for (auto& rp : relays) {
            Relay& r = *rp;
            if (r.removed) continue;
            if (r.socket.state() == detail::RelaySocket::State::kConnecting &&
                now >= r.connect_deadline) {
                std::array<char, 32> secs{};
                std::snprintf(secs.data(), secs.size(), "%.1f",
                              std::chrono::duration<double>(r.options.connect_timeout).count());
                drop_relay_socket(r, now,
                                  "connect to " + r.address.to_string() + ": no answer within " +
                                      secs.data() + " s");
            } else if (r.socket.state() == detail::RelaySocket::State::kClosed &&
                       now >= r.reconnect_at) {
                connect_relay(r, now);
            }
        }
    }

    int epfd;
    int sigfd = -1;
    bool have_pwait2 = true;
    bool stopped = false;
    std::function<void(int)> on_signal;
    std::vector<std::unique_ptr<Bound>> bound;
    std::vector<std::unique_ptr<Relay>> relays;
    std::uint64_t next_relay_serial = 1;
    std::vector<std::uint8_t> relay_buf = std::vector<std::uint8_t>(kRelayReadSize);
    std::unordered_map<int, std::function<void(std::uint32_t)>> watchers;
    std::multimap<Instant, std::function<void()>> timers;
    detail::Receiver receiver;
    std::vector<std::array<std::uint8_t, kMaxDatagramSize>> send_bufs;
    SodiumRng rng;
};

Loop::Loop() : impl_(std::make_unique<Impl>()) {}
Loop::~Loop() = default;

tl::expected<Address, std::string> Loop::attach(Endpoint& endpoint, const Address& address,
                                                std::function<void(const Event&)> on_event,
                                                BindOptions options) {
    if (impl_->epfd < 0) return tl::unexpected(errno_text("epoll_create1"));
    if (options.no_udp) {
        auto b = std::make_unique<Impl::Bound>();
        b->endpoint = &endpoint;
        b->local = address;
        b->on_event = std::move(on_event);
        b->options = options;
        impl_->bound.push_back(std::move(b));
        return address;
    }
    const int family = address.family == Address::Family::kIPv4 ? AF_INET : AF_INET6;
    const int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return tl::unexpected(errno_text("socket"));
    if (family == AF_INET6) {
        const int off = 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    }
    const auto [rcvbuf, sndbuf] = detail::size_buffers(fd, options.socket_buffer_bytes);
    sockaddr_storage ss{};
    const socklen_t len = posix::to_sockaddr(address, ss, family);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        std::string msg = "cannot bind " + address.to_string() + ": " + std::strerror(errno);
        ::close(fd);
        return tl::unexpected(msg);
    }
    sockaddr_storage local{};
    socklen_t local_len = sizeof(local);
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(fd);
    if (epoll_ctl(impl_->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        std::string msg = errno_text("epoll_ctl");
        ::close(fd);
        return tl::unexpected(msg);
    }
    auto b = std::make_unique<Impl::Bound>();
    b->endpoint = &endpoint;
    b->fd = fd;
    b->family = family;
    b->local = posix::from_sockaddr(local, local_len).value_or(address);
    b->on_event = std::move(on_event);
    b->options = options;
    b->stats.receive_buffer_bytes = rcvbuf;
    b->stats.send_buffer_bytes = sndbuf;
    detail::enable_offloads(fd, options.udp_gso, options.udp_gro, b->offload);
    b->stats.gso = b->offload.gso;
    b->stats.gro = b->offload.gro;
    const Address bound_address = b->local;
    impl_->bound.push_back(std::move(b));
    return bound_address;
}

tl::expected<RelayId, std::string> Loop::add_relay(Endpoint& endpoint, const Address& address,
                                                   const PublicKey& relay_key,
                                                   RelayOptions options) {
    Impl::Bound* b = nullptr;
    for (auto& bp : impl_->bound) {
        if (bp->endpoint == &endpoint) b = bp.get();
    }
    if (b == nullptr) return tl::unexpected(std::string("add_relay: the endpoint is not attached"));
    const Instant now = monotonic_now();
    auto id = endpoint.add_relay(now, relay_key);
    if (!id) {
        return tl::unexpected("cannot add relay " + address.to_string() + ": " +
                              std::string(to_string(id.error())));
    }
    if (options.first_backoff <= Duration::zero()) options.first_backoff = Duration{1};
    options.max_backoff = std::max(options.max_backoff, options.first_backoff);
    auto r = std::make_unique<Impl::Relay>();
    r->bound = b;
    r->id = *id;
    r->address = address;
    r->options = options;
    r->backoff = options.first_backoff;
    Impl::Relay& relay = *r;
    impl_->relays.push_back(std::move(r));
    impl_->connect_relay(relay, now);
    return *id;
}

RelaySocketStats Loop::relay_stats(const Endpoint& endpoint, RelayId relay) const {
    if (const auto* r = impl_->find_relay(&endpoint, relay)) return r->stats;
    return {};
}

tl::expected<void, std::string> Loop::watch(int fd, std::uint32_t events,
                                            std::function<void(std::uint32_t)> callback) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = static_cast<std::uint64_t>(fd);
    if (epoll_ctl(impl_->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return tl::unexpected(errno_text("epoll_ctl"));
    }
    impl_->watchers[fd] = std::move(callback);
    return {};
}

void Loop::modify(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = static_cast<std::uint64_t>(fd);
    epoll_ctl(impl_->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void Loop::unwatch(int fd) {
    epoll_ctl(impl_->epfd, EPOLL_CTL_DEL, fd, nullptr);
    impl_->watchers.erase(fd);
}

void Loop::call_at(Instant when, std::function<void()> fn) {
    impl_->timers.emplace(when, std::move(fn));
}

void Loop::stop() { impl_->stopped = true; }
bool Loop::stopped() const { return impl_->stopped; }

tl::expected<void, std::string> Loop::handle_signals(std::function<void(int)> on_signal) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0)
        return tl::unexpected(errno_text("sigprocmask"));
    impl_->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (impl_->sigfd < 0) return tl::unexpected(errno_text("signalfd"));
    impl_->on_signal = std::move(on_signal);
    return watch(impl_->sigfd, EPOLLIN, [this](std::uint32_t) {
        signalfd_siginfo info{};
        while (::read(impl_->sigfd, &info, sizeof(info)) == sizeof(info)) {
            if (impl_->on_signal) impl_->on_signal(static_cast<int>(info.ssi_signo));
            impl_->stopped = true;
        }
    });
}

void Loop::flush() { impl_->flush_all(); }

void Loop::run_once(Duration max_wait) {
    impl_->flush_all();
    Instant now = monotonic_now();
    Duration wait = max_wait;
    if (auto next = impl_->next_deadline()) wait = std::min(wait, *next - now);
    if (wait < Duration::zero()) wait = Duration::zero();
    // Nanosecond timeout (epoll_pwait2) so pacing below one millisecond works; kernels before
    // 5.11 lack it and fall back to epoll_wait, rounding up so we never wake early and spin.
    wait = std::min<Duration>(wait, std::chrono::seconds{60});
    std::array<epoll_event, 32> evs{};
    const auto ns = wait.count();
    const timespec ts{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
    int n = impl_->have_pwait2
                ? epoll_pwait2(impl_->epfd, evs.data(), static_cast<int>(evs.size()), &ts, nullptr)
                : -1;
    if (n < 0 && errno == ENOSYS) impl_->have_pwait2 = false;
    if (!impl_->have_pwait2) {
        const auto wait_ms = std::chrono::ceil<std::chrono::milliseconds>(wait).count();
        n = epoll_wait(impl_->epfd, evs.data(), static_cast<int>(evs.size()),
                       static_cast<int>(wait_ms));
    }
    for (int i = 0; i < n; ++i) {
        const auto& ev = evs[static_cast<std::size_t>(i)];
        if ((ev.data.u64 & kRelayTag) != 0U) {
            impl_->on_relay_ready(ev.data.u64, ev.events);
            continue;
        }
        const int fd = static_cast<int>(ev.data.u64);
        bool handled = false;
        for (auto& bp : impl_->bound) {
            if (bp->fd != fd) continue;
            handled = true;
            if ((ev.events & EPOLLIN) != 0U) impl_->receive(*bp);
        }
        if (!handled) {
            auto it = impl_->watchers.find(fd);
            if (it != impl_->watchers.end()) {
                auto cb = it->second;  // the callback may unwatch itself
                cb(ev.events);
            }
        }
    }
    now = monotonic_now();
    impl_->run_timers(now);
    impl_->flush_all();
}

void Loop::run(Instant deadline) {
    while (!impl_->stopped && monotonic_now() < deadline) {
        run_once(std::min<Duration>(deadline - monotonic_now(), std::chrono::seconds{1}));
    }
    impl_->flush_all();
}

SocketStats Loop::stats(const Endpoint& endpoint) const {
    for (const auto& bp : impl_->bound) {
        if (bp->endpoint != &endpoint) continue;
        SocketStats s = bp->stats;
        s.gro_messages = bp->offload.gro_messages;
        s.receive_calls = bp->offload.receive_calls;
        return s;
    }
    return {};
}

}  // namespace netcrypto::runtime
