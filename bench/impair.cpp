// impair: a fast, deterministic path impairment relay for benchmarks, on loopback UDP.
//
//   impair --port-a PA --port-b PB [--to-a PORT] [--to-b PORT] [--delay-ms 25]
//          [--rate-mbit 100] [--queue-bytes N] [--loss 0.01] [--seed S]
//
// Peer A talks to 127.0.0.1:PA and peer B to 127.0.0.1:PB; what arrives on PA leaves from PB
// to B and the other way round (each side's peer address is --to-a/--to-b, or learnt from the
// latest datagram on its socket). Each direction: random loss (a seeded generator, the same
// sequence every run), then a drop-tail queue of --queue-bytes (default one bandwidth-delay
// product: rate × 2 × delay) in front of a --rate-mbit bottleneck (IPv4+UDP headers counted,
// 28 bytes), then --delay-ms of propagation. Single-threaded: recvmmsg, sleeps until the next
// delivery with nanosecond timeouts (epoll_pwait2).
//
// Prints {"event":"ready","port_a":..,"port_b":..} on stdout; on stdin `stats` prints the
// counters as JSON, `quit` or EOF ends it.
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <vector>

namespace {

std::int64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// splitmix64: small, fast and the same on every machine.
struct Rng {
    std::uint64_t s;
    std::uint64_t next() {
        std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31U);
    }
    double uniform() { return static_cast<double>(next() >> 11U) * 0x1.0p-53; }
};

struct Packet {
    std::int64_t deliver_at;
    std::vector<std::uint8_t> bytes;
};

/// One direction: loss, drop-tail queue, bottleneck, delay.
struct Direction {
    Rng rng;
    double loss = 0;
    double ns_per_byte = 0;
    std::int64_t delay_ns = 0;
    std::int64_t queue_bytes = 0;
    std::int64_t link_free_at = 0;  ///< when the bottleneck finishes the last accepted packet
    std::deque<Packet> line;        ///< accepted packets, in delivery order
    std::vector<std::vector<std::uint8_t>> spare;  ///< reused buffers: no steady allocation
    std::uint64_t in = 0, out = 0, lost = 0, overflow = 0, bytes_out = 0, hairpin = 0;

    void offer(std::int64_t now, const std::uint8_t* data, std::size_t size) {
        ++in;
        if (loss > 0 && rng.uniform() < loss) {
            ++lost;
            return;
        }
        const auto wire = static_cast<double>(size + 28);
        const std::int64_t start = std::max(now, link_free_at);
        const auto backlog =
            static_cast<std::int64_t>(static_cast<double>(start - now) / ns_per_byte);
        if (backlog + static_cast<std::int64_t>(wire) > queue_bytes) {
            ++overflow;
            return;
        }
        link_free_at = start + static_cast<std::int64_t>(wire * ns_per_byte);
        std::vector<std::uint8_t> buf;
        if (!spare.empty()) {
            buf = std::move(spare.back());
            spare.pop_back();
        }
        buf.assign(data, data + size);
        line.push_back({link_free_at + delay_ns, std::move(buf)});
    }
};

struct Side {
    int fd = -1;
    std::uint16_t port = 0;
    std::optional<sockaddr_in> peer;
    bool fixed = false;  ///< set by --to-a/--to-b; otherwise the latest sender is the peer
};

int bind_port(std::uint16_t port, std::uint16_t& bound) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(port);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0) {
        std::perror("impair: bind");
        std::exit(1);
    }
    const int buf = 16 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf));
    socklen_t len = sizeof(sin);
    getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
    bound = ntohs(sin.sin_port);
    return fd;
}

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(port);
    return sin;
}

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (name == argv[i]) return argv[i + 1];
    }
    return def;
}

bool same(const sockaddr_in& x, const sockaddr_in& y) {
    return x.sin_addr.s_addr == y.sin_addr.s_addr && x.sin_port == y.sin_port;
}

/// Reads everything waiting on `from` (learning its peer) into `dir`. A datagram from the
/// other side's own peer is a hairpin (c-toxcore's onion routes through the node itself, at
/// the address the far peer knows it by): it goes straight back to that peer out of the same
/// socket, unimpaired, as a hairpinning NAT would send it, so replies find their way.
void pump(Side& from, const Side& other, Direction& dir) {
    constexpr std::size_t kBatch = 64;
    static std::array<std::array<std::uint8_t, 2048>, kBatch> bufs{};
    std::array<mmsghdr, kBatch> msgs{};
    std::array<iovec, kBatch> iov{};
    std::array<sockaddr_in, kBatch> addrs{};
    for (int round = 0; round < 64; ++round) {
        for (std::size_t i = 0; i < kBatch; ++i) {
            iov[i] = {bufs[i].data(), bufs[i].size()};
            msgs[i].msg_hdr = {};
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &addrs[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
        }
        const int n = recvmmsg(from.fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
        if (n <= 0) return;
        const std::int64_t now = now_ns();
        for (int i = 0; i < n; ++i) {
            const auto k = static_cast<std::size_t>(i);
            if (other.peer && same(*other.peer, addrs[k])) {
                ::sendto(from.fd, bufs[k].data(), msgs[k].msg_len, MSG_DONTWAIT,
                         reinterpret_cast<const sockaddr*>(&*other.peer), sizeof(sockaddr_in));
                ++dir.hairpin;
                continue;
            }
            if (!from.fixed) from.peer = addrs[k];
            dir.offer(now, bufs[k].data(), msgs[k].msg_len);
        }
        if (n < static_cast<int>(kBatch)) return;
    }
}

/// Sends what is due in `dir` out of `to`'s socket to its peer.
void deliver(Direction& dir, Side& to, std::int64_t now) {
    while (!dir.line.empty() && dir.line.front().deliver_at <= now) {
        Packet& p = dir.line.front();
        if (to.peer) {
            ::sendto(to.fd, p.bytes.data(), p.bytes.size(), MSG_DONTWAIT,
                     reinterpret_cast<const sockaddr*>(&*to.peer), sizeof(sockaddr_in));
            ++dir.out;
            dir.bytes_out += p.bytes.size();
        }
        dir.spare.push_back(std::move(p.bytes));
        dir.line.pop_front();
    }
}

void print_stats(const Direction& ab, const Direction& ba) {
    auto one = [](const Direction& d) {
        return "{\"in\":" + std::to_string(d.in) + ",\"out\":" + std::to_string(d.out) +
               ",\"lost\":" + std::to_string(d.lost) +
               ",\"overflow\":" + std::to_string(d.overflow) +
               ",\"hairpin\":" + std::to_string(d.hairpin) +
               ",\"bytes_out\":" + std::to_string(d.bytes_out) + "}";
    };
    std::cout << "{\"event\":\"stats\",\"a_to_b\":" << one(ab) << ",\"b_to_a\":" << one(ba)
              << ",\"t_ns\":" << now_ns() << "}" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
    const double delay_ms = std::stod(arg(argc, argv, "--delay-ms", "25"));
    const double rate_mbit = std::stod(arg(argc, argv, "--rate-mbit", "100"));
    const double bdp = rate_mbit * 1e6 / 8 * 2 * delay_ms / 1e3;
    const auto queue = static_cast<std::int64_t>(
        std::stod(arg(argc, argv, "--queue-bytes", std::to_string(static_cast<long>(bdp)))));
    const double loss = std::stod(arg(argc, argv, "--loss", "0"));
    const auto seed = std::stoull(arg(argc, argv, "--seed", "1"));
    Side a;
    Side b;
    a.fd =
        bind_port(static_cast<std::uint16_t>(std::stoi(arg(argc, argv, "--port-a", "0"))), a.port);
    b.fd =
        bind_port(static_cast<std::uint16_t>(std::stoi(arg(argc, argv, "--port-b", "0"))), b.port);
    if (const int p = std::stoi(arg(argc, argv, "--to-a", "0")); p > 0) {
        a.peer = loopback(static_cast<std::uint16_t>(p));
        a.fixed = true;
    }
    if (const int p = std::stoi(arg(argc, argv, "--to-b", "0")); p > 0) {
        b.peer = loopback(static_cast<std::uint16_t>(p));
        b.fixed = true;
    }
    Direction ab;
    Direction ba;
    for (auto* d : {&ab, &ba}) {
        d->loss = loss;
        d->ns_per_byte = 8e3 / rate_mbit;  // 1e9 ns / (rate_mbit * 1e6 / 8 bytes)
        d->delay_ns = static_cast<std::int64_t>(delay_ms * 1e6);
        d->queue_bytes = queue;
    }
    ab.rng.s = seed;
    ba.rng.s = seed ^ 0x5DEECE66DULL;

    const int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int fd : {a.fd, b.fd, STDIN_FILENO}) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    std::cout << "{\"event\":\"ready\",\"port_a\":" << a.port << ",\"port_b\":" << b.port
              << ",\"queue_bytes\":" << queue << ",\"t_ns\":" << now_ns() << "}" << std::endl;
    std::string pending;
    for (;;) {
        std::int64_t now = now_ns();
        std::int64_t next = now + 1'000'000'000;
        for (const Direction* d : {&ab, &ba}) {
            if (!d->line.empty()) next = std::min(next, d->line.front().deliver_at);
        }
        const std::int64_t wait = std::max<std::int64_t>(0, next - now);
        const timespec ts{static_cast<time_t>(wait / 1'000'000'000),
                          static_cast<long>(wait % 1'000'000'000)};
        std::array<epoll_event, 8> evs{};
        const int n = epoll_pwait2(ep, evs.data(), static_cast<int>(evs.size()), &ts, nullptr);
        for (int i = 0; i < n; ++i) {
            const int fd = evs[static_cast<std::size_t>(i)].data.fd;
            if (fd == a.fd) pump(a, b, ab);
            if (fd == b.fd) pump(b, a, ba);
            if (fd == STDIN_FILENO) {
                std::array<char, 256> buf{};
                const ssize_t r = ::read(STDIN_FILENO, buf.data(), buf.size());
                if (r <= 0) return 0;
                pending.append(buf.data(), static_cast<std::size_t>(r));
                for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
                    const std::string line = pending.substr(0, nl);
                    pending.erase(0, nl + 1);
                    if (line == "stats") print_stats(ab, ba);
                    if (line == "quit") return 0;
                }
            }
        }
        now = now_ns();
        deliver(ab, b, now);
        deliver(ba, a, now);
    }
}
