// The epoll event loop: UDP sockets with recvmmsg/sendmmsg batching, a signalfd for clean
// shutdown, extra watched descriptors and timers, all on one thread.
#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <chrono>
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

#include "runtime/udp_batch.hpp"

namespace netcrypto::runtime {

Instant monotonic_now() { return posix::steady_now(); }

namespace {

constexpr std::size_t kBatch = 128;  ///< datagrams polled from an endpoint per send

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

    Impl() : epfd(epoll_create1(EPOLL_CLOEXEC)) { send_bufs.resize(kBatch); }
    ~Impl() {
        for (auto& b : bound) ::close(b->fd);
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
            if (b.on_event) b.on_event(*e);
        }
    }

    /// Sends what the endpoint has; returns false if the socket is full (EPOLLOUT needed).
    bool send(Bound& b) {
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
            const bool done = send(b);
            dispatch_events(b);
            if (!done != b.want_write) {
                b.want_write = !done;
                epoll_event ev{};
                ev.events = EPOLLIN | (b.want_write ? EPOLLOUT : 0U);
                ev.data.fd = b.fd;
                epoll_ctl(epfd, EPOLL_CTL_MOD, b.fd, &ev);
            }
        }
    }

    void run_timers(Instant now) {
        for (auto& bp : bound) {
            auto t = bp->endpoint->next_timeout();
            if (t && *t <= now) {
                bp->endpoint->handle_timeout(now);
                dispatch_events(*bp);
            }
        }
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
        return next;
    }

    int epfd;
    int sigfd = -1;
    bool have_pwait2 = true;
    bool stopped = false;
    std::function<void(int)> on_signal;
    std::vector<std::unique_ptr<Bound>> bound;
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
    ev.data.fd = fd;
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

tl::expected<void, std::string> Loop::watch(int fd, std::uint32_t events,
                                            std::function<void(std::uint32_t)> callback) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(impl_->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        return tl::unexpected(errno_text("epoll_ctl"));
    }
    impl_->watchers[fd] = std::move(callback);
    return {};
}

void Loop::modify(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
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
        const int fd = ev.data.fd;
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
