// A TCP forwarder for the CLI relay tests: listens on 127.0.0.1:LISTEN and joins every
// connection to 127.0.0.1:TARGET, byte for byte both ways. Killing it cuts every connection
// through it at once, as if the relay behind it had died, while the relay (and its key) stays.
//
// Usage: tcp_forward LISTEN_PORT TARGET_PORT [MAX_SECONDS]
// Prints {"event":"ready","port":N} on stdout once listening; runs until SIGTERM/SIGKILL or
// MAX_SECONDS (default 120). Loopback only: both ends are 127.0.0.1 by construction.
#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

struct Pair {
    int a = -1;  ///< accepted client
    int b = -1;  ///< to the target
};

void close_pair(Pair& p) {
    if (p.a >= 0) ::close(p.a);
    if (p.b >= 0) ::close(p.b);
    p.a = p.b = -1;
}

/// Moves what `from` has to `to` (blocking write: the peers are local and read quickly).
bool pump(int from, int to) {
    std::array<char, 65536> buf{};
    const ssize_t n = ::read(from, buf.data(), buf.size());
    if (n <= 0) return n < 0 && (errno == EAGAIN || errno == EINTR);
    for (ssize_t off = 0; off < n;) {
        const ssize_t w =
            ::send(to, buf.data() + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        off += w;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: tcp_forward LISTEN_PORT TARGET_PORT [MAX_SECONDS]\n");
        return 2;
    }
    const auto listen_port = static_cast<std::uint16_t>(std::strtol(argv[1], nullptr, 10));
    const auto target_port = static_cast<std::uint16_t>(std::strtol(argv[2], nullptr, 10));
    const long max_seconds = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 120;
    std::signal(SIGPIPE, SIG_IGN);
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in la = loopback(listen_port);
    if (lfd < 0 || ::bind(lfd, reinterpret_cast<sockaddr*>(&la), sizeof(la)) != 0 ||
        ::listen(lfd, 16) != 0) {
        std::perror("tcp_forward: listen");
        return 1;
    }
    std::printf("{\"event\":\"ready\",\"port\":%u}\n", static_cast<unsigned>(listen_port));
    std::fflush(stdout);
    std::vector<Pair> pairs;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        std::vector<pollfd> fds{{lfd, POLLIN, 0}};
        for (const auto& p : pairs) {
            fds.push_back({p.a, POLLIN, 0});
            fds.push_back({p.b, POLLIN, 0});
        }
        if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) break;
        if ((fds[0].revents & POLLIN) != 0) {
            Pair p;
            p.a = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
            p.b = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in ta = loopback(target_port);
            if (p.a < 0 || p.b < 0 ||
                ::connect(p.b, reinterpret_cast<sockaddr*>(&ta), sizeof(ta)) != 0) {
                close_pair(p);
            } else {
                ::setsockopt(p.a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                ::setsockopt(p.b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                pairs.push_back(p);
            }
        }
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            const short ra = fds[1 + 2 * i].revents;
            const short rb = fds[2 + 2 * i].revents;
            bool ok = true;
            if ((ra & (POLLIN | POLLHUP | POLLERR)) != 0) ok = pump(pairs[i].a, pairs[i].b);
            if (ok && (rb & (POLLIN | POLLHUP | POLLERR)) != 0) ok = pump(pairs[i].b, pairs[i].a);
            if (!ok) close_pair(pairs[i]);
        }
        std::erase_if(pairs, [](const Pair& p) { return p.a < 0; });
    }
    for (auto& p : pairs) close_pair(p);
    ::close(lfd);
    return 0;
}
