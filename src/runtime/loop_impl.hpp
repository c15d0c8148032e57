// Loop::Impl: the epoll event loop's state, shared by loop.cpp (UDP sockets, timers, the
// public facade) and loop_relay.cpp (TCP connections to relays). Internal to the runtime.
//
// epoll tags: a UDP socket or a watched descriptor is registered with its descriptor number as
// the tag; a relay socket with kRelayTag | a serial number that is never reused, so an event
// still queued for a relay socket closed meanwhile (and a descriptor number reused) is ignored.
#pragma once

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

namespace loop_detail {

constexpr std::size_t kBatch = 128;  ///< datagrams polled from an endpoint per send
constexpr std::uint64_t kRelayTag = std::uint64_t{1} << 62U;
/// Bytes read from a relay socket at once, and reads per wake-up (so UDP is not starved).
constexpr std::size_t kRelayReadSize = std::size_t{64} * 1024;
constexpr int kRelayReadsPerWake = 8;

inline std::string errno_text(const char* what) {
    std::string s(what);
    s += ": ";
    s += std::strerror(errno);
    return s;
}

}  // namespace loop_detail

using loop_detail::errno_text;
using loop_detail::kBatch;
using loop_detail::kRelayReadSize;
using loop_detail::kRelayReadsPerWake;
using loop_detail::kRelayTag;

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
    Relay* find_relay(const Endpoint* endpoint, RelayId id) const;

    void epoll_relay(Relay& r, std::uint32_t events, int op);

    /// Starts a TCP connection to the relay; on an immediate failure schedules the next one.
    void connect_relay(Relay& r, Instant now);

    void schedule_reconnect(Relay& r, Instant now);

    /// Closes the relay's socket; `error` (if any) becomes last_error. The endpoint is told
    /// (relay_closed) when it knew the socket. A reconnection follows unless the relay is gone.
    void drop_relay_socket(Relay& r, Instant now, std::optional<std::string> error);

    /// RelayStatusChanged, before the user sees it: a session that failed by itself closes its
    /// socket (then reconnects); a confirmed one resets the backoff; a removed relay is forgotten.
    void on_relay_status(Bound& b, const RelayStatusChanged& e);

    void forget_removed_relays();

    /// An epoll event for the relay socket tagged `tag` (ignored if that socket is gone).
    void on_relay_ready(std::uint64_t tag, std::uint32_t events);

    void finish_relay_connect(Relay& r, Instant now);

    /// Reads what the relay sent (bounded per wake-up) into the endpoint.
    void read_relay(Relay& r);

    /// Writes the endpoint's pending relay bytes; EPOLLOUT stays armed while some remain.
    /// Returns the bytes the kernel took.
    std::size_t write_relay(Relay& r);

    std::size_t write_relays(Bound& b);

    /// Connect timeouts and due reconnections.
    void run_relay_timers(Instant now);

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

}  // namespace netcrypto::runtime
