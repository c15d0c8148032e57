// A UDP forwarder for the relay switch test: the UDP path between two netcrypto peers, which
// the test can cut and restore without touching either peer.
//
// It listens on 127.0.0.1:LISTEN. Datagrams arriving there are sent on to 127.0.0.1:TARGET
// from a second socket of its own; datagrams the target sends back to that socket go to the
// last address heard on LISTEN. So one client (the dialling peer) reaches the target through
// it, and the target sees the forwarder's second socket as that client's address.
//
// SIGUSR1 cuts the path: from then on every datagram is read and dropped, both ways, as on a
// link that went dead (nothing is held back to be delivered late). SIGUSR2 restores it.
// Each change is acknowledged on stdout once in effect: {"event":"cut",...} or
// {"event":"restored",...} with the counts so far.
//
// Usage: udp_forward LISTEN_PORT TARGET_PORT [MAX_SECONDS]
// Prints {"event":"ready","port":N} on stdout once bound; runs until SIGTERM/SIGKILL or
// MAX_SECONDS (default 120). Loopback only: it sends to 127.0.0.1 and to the address of a
// datagram that arrived on its 127.0.0.1 socket, nowhere else.
#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

std::atomic<bool> g_cut{false};
std::atomic<bool> g_stop{false};

void on_cut(int) { g_cut = true; }
void on_restore(int) { g_cut = false; }
void on_stop(int) { g_stop = true; }

sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

int bound_socket(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    const sockaddr_in a = loopback(port);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

void install(int sig, void (*handler)(int)) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: poll() returns at once and the change is acknowledged
    ::sigaction(sig, &sa, nullptr);
}

struct Counts {
    unsigned long forwarded = 0;
    unsigned long dropped = 0;
};

void report(const char* event, const Counts& c) {
    std::printf("{\"event\":\"%s\",\"forwarded\":%lu,\"dropped\":%lu}\n", event, c.forwarded,
                c.dropped);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: udp_forward LISTEN_PORT TARGET_PORT [MAX_SECONDS]\n");
        return 2;
    }
    const auto listen_port = static_cast<std::uint16_t>(std::strtol(argv[1], nullptr, 10));
    const auto target_port = static_cast<std::uint16_t>(std::strtol(argv[2], nullptr, 10));
    const long max_seconds = argc > 3 ? std::strtol(argv[3], nullptr, 10) : 120;
    install(SIGUSR1, on_cut);
    install(SIGUSR2, on_restore);
    install(SIGTERM, on_stop);
    install(SIGINT, on_stop);
    const int outer = bound_socket(listen_port);  // the client's side
    const int inner = bound_socket(0);            // the target's side
    if (outer < 0 || inner < 0) {
        std::perror("udp_forward: bind");
        return 1;
    }
    std::printf("{\"event\":\"ready\",\"port\":%u}\n", static_cast<unsigned>(listen_port));
    std::fflush(stdout);

    const sockaddr_in target = loopback(target_port);
    sockaddr_in client{};
    bool have_client = false;
    bool cut = false;
    Counts counts;
    std::array<unsigned char, 65536> buf{};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(max_seconds);
    while (!g_stop && std::chrono::steady_clock::now() < deadline) {
        if (g_cut != cut) {
            cut = g_cut;
            report(cut ? "cut" : "restored", counts);
        }
        std::array<pollfd, 2> fds{{{outer, POLLIN, 0}, {inner, POLLIN, 0}}};
        if (::poll(fds.data(), fds.size(), 100) < 0) {
            if (errno == EINTR) continue;
            std::perror("udp_forward: poll");
            return 1;
        }
        // Drain both sockets: a datagram read while cut is gone for good.
        for (int side = 0; side < 2; ++side) {
            if ((fds[static_cast<std::size_t>(side)].revents & POLLIN) == 0) continue;
            const int from_fd = side == 0 ? outer : inner;
            for (;;) {
                sockaddr_in from{};
                socklen_t from_len = sizeof(from);
                const ssize_t n = ::recvfrom(from_fd, buf.data(), buf.size(), 0,
                                             reinterpret_cast<sockaddr*>(&from), &from_len);
                if (n < 0) break;  // EAGAIN (drained) or a transient error
                if (side == 0) {
                    client = from;
                    have_client = true;
                }
                if (g_cut || (side == 1 && !have_client)) {
                    ++counts.dropped;
                    continue;
                }
                const int to_fd = side == 0 ? inner : outer;
                const sockaddr_in& to = side == 0 ? target : client;
                if (::sendto(to_fd, buf.data(), static_cast<std::size_t>(n), 0,
                             reinterpret_cast<const sockaddr*>(&to), sizeof(to)) == n) {
                    ++counts.forwarded;
                } else {
                    ++counts.dropped;
                }
            }
        }
    }
    report("exit", counts);
    ::close(outer);
    ::close(inner);
    return 0;
}
