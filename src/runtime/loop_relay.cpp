// Loop::Impl's TCP connections to relays (Loop::add_relay): connect with a timeout, read into
// the endpoint, write what it has pending, reconnect with backoff.
#include "runtime/loop_impl.hpp"

namespace netcrypto::runtime {

Loop::Impl::Relay* Loop::Impl::find_relay(const Endpoint* endpoint, RelayId id) const {
    for (const auto& r : relays) {
        if (r->bound->endpoint == endpoint && r->id == id && !r->removed) return r.get();
    }
    return nullptr;
}

void Loop::Impl::epoll_relay(Relay& r, std::uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = r.tag;
    epoll_ctl(epfd, op, r.socket.fd(), &ev);
}

void Loop::Impl::connect_relay(Relay& r, Instant now) {
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

void Loop::Impl::schedule_reconnect(Relay& r, Instant now) {
    r.reconnect_at = now + r.backoff;
    r.backoff = std::min(r.backoff * 2, r.options.max_backoff);
}

void Loop::Impl::drop_relay_socket(Relay& r, Instant now, std::optional<std::string> error) {
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

void Loop::Impl::on_relay_status(Bound& b, const RelayStatusChanged& e) {
    Relay* r = find_relay(b.endpoint, e.relay);
    if (r == nullptr) return;
    const Instant now = monotonic_now();
    if (e.to == RelayState::kConnected) {
        r->backoff = r->options.first_backoff;
    } else if (e.to == RelayState::kDisconnected) {
        if (e.reason == RelayCloseReason::kRemoved) r->removed = true;
        r->opened = false;  // the endpoint already knows: no relay_closed()
        std::optional<std::string> why;
        if (e.reason != RelayCloseReason::kRemoved && e.reason != RelayCloseReason::kEndOfStream) {
            why = "relay session closed: " + std::string(to_string(e.reason));
        }
        drop_relay_socket(*r, now, std::move(why));
        if (r->removed) r->reconnect_at = Instant::max();
    }
}

void Loop::Impl::forget_removed_relays() {
    std::erase_if(relays, [](const std::unique_ptr<Relay>& r) {
        if (!r->removed) return false;
        r->socket.close();
        return true;
    });
}

void Loop::Impl::on_relay_ready(std::uint64_t tag, std::uint32_t events) {
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

void Loop::Impl::finish_relay_connect(Relay& r, Instant now) {
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

void Loop::Impl::read_relay(Relay& r) {
    const std::uint64_t tag = r.tag;
    for (int i = 0; i < kRelayReadsPerWake && r.tag == tag; ++i) {
        const auto res = r.socket.read(relay_buf);
        const Instant now = monotonic_now();
        using Kind = detail::RelaySocket::ReadResult::Kind;
        if (res.kind == Kind::kWouldBlock) return;
        if (res.kind == Kind::kEndOfStream || res.kind == Kind::kError) {
            drop_relay_socket(r, now, res.kind == Kind::kError ? res.error : "closed by the relay");
            return;
        }
        r.stats.bytes_in += res.size;
        r.bound->endpoint->handle_relay_bytes(now, r.id, std::span(relay_buf).first(res.size));
        // Events now: a session that broke closes the socket (and ends this loop).
        dispatch_events(*r.bound);
        if (res.size < relay_buf.size()) return;
    }
}

std::size_t Loop::Impl::write_relay(Relay& r) {
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

std::size_t Loop::Impl::write_relays(Bound& b) {
    std::size_t total = 0;
    for (auto& r : relays) {
        if (r->bound == &b && !r->removed) total += write_relay(*r);
    }
    return total;
}

void Loop::Impl::run_relay_timers(Instant now) {
    for (auto& rp : relays) {
        Relay& r = *rp;
        if (r.removed) continue;
        if (r.socket.state() == detail::RelaySocket::State::kConnecting &&
            now >= r.connect_deadline) {
            std::array<char, 32> secs{};
            std::snprintf(secs.data(), secs.size(), "%.1f",
                          std::chrono::duration<double>(r.options.connect_timeout).count());
            drop_relay_socket(
                r, now,
                "connect to " + r.address.to_string() + ": no answer within " + secs.data() + " s");
        } else if (r.socket.state() == detail::RelaySocket::State::kClosed &&
                   now >= r.reconnect_at) {
            connect_relay(r, now);
        }
    }
}

}  // namespace netcrypto::runtime
