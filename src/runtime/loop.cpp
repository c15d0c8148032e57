// The epoll event loop: UDP sockets with recvmmsg/sendmmsg batching, TCP connections to relays,
// a signalfd for clean shutdown, extra watched descriptors and timers, all on one thread.
#include "runtime/loop_impl.hpp"

namespace netcrypto::runtime {

Instant monotonic_now() { return posix::steady_now(); }

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
