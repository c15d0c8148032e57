// Embedding the endpoint in your own event loop, with nothing but poll(2) and the installed
// headers (no netcrypto runtime). Two endpoints, each on its own UDP socket on 127.0.0.1: the
// client connects, the server accepts the IncomingRequest, the client sends a few lossless
// messages, the server echoes each one, the client checks the echoes and closes. Exits 0 and
// prints "poll_loop: ok" on success; gives up after 10 s.
//
// The four calls, after every input (a datagram, a due timer, a command):
//   handle_datagram / handle_timeout  →  poll_transmit until empty (send each datagram)
//   →  poll_event until empty (event handlers may issue commands: repeat)  →  poll() no longer
//   than until next_timeout().
#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <span>
#include <string>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/posix.hpp>
#include <netcrypto/random.hpp>

namespace {

using namespace netcrypto;

constexpr int kMessages = 5;
constexpr std::uint8_t kChatId = 160;  // a lossless data id (16..191) of our own

/// One endpoint on its own non-blocking UDP socket.
struct Node {
    const char* name;
    Endpoint endpoint;
    int fd = -1;
    Address local;
    std::uint64_t send_failures = 0;

    Node(const char* n, Rng& rng, EndpointConfig cfg)
        : name(n),
          endpoint(KeyPair::generate(rng), KeyPair::generate(rng), rng, posix::steady_now(),
                   std::move(cfg)) {}
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;
    Node(Node&&) = delete;
    Node& operator=(Node&&) = delete;
    ~Node() {
        if (fd >= 0) ::close(fd);
    }

    bool bind_loopback() {
        fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return false;
        sockaddr_storage ss{};
        const socklen_t len = posix::to_sockaddr(Address::ipv4(127, 0, 0, 1, 0), ss, AF_INET);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0) return false;
        socklen_t got = sizeof(ss);
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &got) != 0) return false;
        auto a = posix::from_sockaddr(ss, got);
        if (!a) return false;
        local = *a;
        return true;
    }

    /// Input: every datagram waiting on the socket.
    void receive(Instant now) {
        std::array<std::uint8_t, 2048> buf{};
        for (;;) {
            sockaddr_storage from{};
            socklen_t from_len = sizeof(from);
            const ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT,
                                         reinterpret_cast<sockaddr*>(&from), &from_len);
            if (n < 0) return;  // EAGAIN: drained (other errors: nothing to read either)
            const auto address = posix::from_sockaddr(from, from_len);
            if (!address) continue;
            endpoint.handle_datagram(
                now, *address, std::span<const std::uint8_t>(buf.data(), static_cast<size_t>(n)));
        }
    }

    /// Output: every datagram the endpoint wants to send. A real application would keep a
    /// datagram refused with EAGAIN and wait for POLLOUT; on loopback with this little traffic
    /// we only count it (the endpoint recovers from lost datagrams anyway).
    void transmit(Instant now) {
        std::array<std::uint8_t, kMaxDatagramSize> buf{};
        while (auto t = endpoint.poll_transmit(now, buf)) {
            sockaddr_storage to{};
            const socklen_t len = posix::to_sockaddr(t->destination, to, AF_INET);
            if (len == 0 || ::sendto(fd, buf.data(), t->size, 0,
                                     reinterpret_cast<const sockaddr*>(&to), len) < 0) {
                ++send_failures;
            }
        }
    }
};

std::vector<std::uint8_t> chat(int i) {
    const std::string text = "message " + std::to_string(i);
    std::vector<std::uint8_t> m(text.size() + 1, kChatId);
    std::copy(text.begin(), text.end(), m.begin() + 1);
    return m;
}

}  // namespace

int main() {
    SodiumRng rng;
    EndpointConfig server_cfg;
    server_cfg.accept_all = false;  // incoming requests surface as IncomingRequest events
    Node server("server", rng, server_cfg);
    Node client("client", rng, EndpointConfig{});
    if (!server.bind_loopback() || !client.bind_loopback()) {
        std::perror("poll_loop: socket");
        return 1;
    }

    // Application state. The user tag of each server-side connection indexes `echoed`.
    std::vector<int> echoed;  // messages echoed per server-side connection
    std::optional<ConnectionId> conn;
    int sent = 0;
    int verified = 0;
    bool client_closed = false;
    bool server_saw_close = false;
    std::string failure;
    std::array<std::uint8_t, kMaxMessageSize> msg{};

    auto on_server_event = [&](Instant now, const Event& e) {
        if (const auto* in = e.get_if<IncomingRequest>()) {
            const bool known = in->peer_key == client.endpoint.public_key();
            if (!known) {
                (void)server.endpoint.reject(in->request);
                return;
            }
            auto id = server.endpoint.accept(now, in->request);
            if (!id) {
                failure = "accept failed: " + std::string(to_string(id.error()));
                return;
            }
            echoed.push_back(0);
            (void)server.endpoint.set_user_tag(*id, echoed.size() - 1);
        } else if (const auto* r = e.get_if<Readable>()) {
            int& count = echoed.at(r->user_tag);
            while (auto n = server.endpoint.read_lossless(now, r->connection, msg)) {
                if (*n == 0) break;
                if (!server.endpoint.send_lossless(now, r->connection, std::span(msg).first(*n))) {
                    failure = "echo would block";  // 5 short messages never fill the buffer
                }
                ++count;
            }
            while (auto n = server.endpoint.read_lossy(r->connection, msg)) {
                if (*n == 0) break;  // drained: Readable re-armed for both kinds
            }
        } else if (const auto* s = e.get_if<StatusChanged>()) {
            if (s->to == Status::kClosed) {
                server_saw_close = s->reason == CloseReason::kKilledByPeer;
                if (!server_saw_close)
                    failure = "server closed: " + std::string(to_string(s->reason));
            }
        }
    };
    auto on_client_event = [&](Instant now, const Event& e) {
        if (const auto* s = e.get_if<StatusChanged>()) {
            if (s->to == Status::kEstablished) {
                for (; sent < kMessages; ++sent) {
                    if (!client.endpoint.send_lossless(now, s->connection, chat(sent))) {
                        failure = "send failed";
                        return;
                    }
                }
            } else if (s->to == Status::kClosed && !client_closed) {
                failure = "client connection closed: " + std::string(to_string(s->reason));
            }
        } else if (const auto* r = e.get_if<Readable>()) {
            while (auto n = client.endpoint.read_lossless(now, r->connection, msg)) {
                if (*n == 0) break;
                const auto want = chat(verified);
                if (want.size() != *n || !std::equal(want.begin(), want.end(), msg.begin())) {
                    failure = "echo " + std::to_string(verified) + " differs";
                    return;
                }
                ++verified;
            }
            if (verified == kMessages && !client_closed) {
                client_closed = true;
                (void)client.endpoint.close(now, r->connection);  // KILL goes out
            }
        }
    };

    // After any input: transmit, then events; handlers may have issued commands, so repeat
    // until both queues stay empty.
    auto settle = [&](Node& node, auto& on_event, Instant now) {
        for (int round = 0; round < 1000; ++round) {
            node.transmit(now);
            bool any = false;
            while (auto e = node.endpoint.poll_event()) {
                any = true;
                on_event(now, *e);
            }
            if (!any) return;
        }
    };

    {
        const Instant now = posix::steady_now();
        auto id = client.endpoint.connect(now, server.endpoint.public_key(),
                                          server.endpoint.dht_public_key(), server.local);
        if (!id) {
            std::fprintf(stderr, "poll_loop: connect: %s\n",
                         std::string(to_string(id.error())).c_str());
            return 1;
        }
        conn = *id;
        (void)client.endpoint.set_user_tag(*conn, 1);
        settle(client, on_client_event, now);
    }

    const Instant deadline = posix::steady_now() + std::chrono::seconds{10};
    for (int iteration = 0; iteration < 100'000 && failure.empty(); ++iteration) {
        if (client_closed && server_saw_close) break;
        Instant now = posix::steady_now();
        if (now >= deadline) {
            failure = "timed out";
            break;
        }
        // Sleep until a datagram arrives or the earliest endpoint timer (or our deadline).
        Instant wake = deadline;
        for (const Node* n : {&server, &client}) {
            if (auto t = n->endpoint.next_timeout()) wake = std::min(wake, *t);
        }
        const auto wait =
            std::chrono::ceil<std::chrono::milliseconds>(std::max(wake - now, Duration::zero()));
        std::array<pollfd, 2> fds{pollfd{server.fd, POLLIN, 0}, pollfd{client.fd, POLLIN, 0}};
        if (::poll(fds.data(), fds.size(), static_cast<int>(wait.count())) < 0 && errno != EINTR) {
            failure = std::string("poll: ") + std::strerror(errno);
            break;
        }
        now = posix::steady_now();
        if ((fds[0].revents & POLLIN) != 0) server.receive(now);
        if ((fds[1].revents & POLLIN) != 0) client.receive(now);
        for (Node* n : {&server, &client}) {
            if (auto t = n->endpoint.next_timeout(); t && *t <= now)
                n->endpoint.handle_timeout(now);
        }
        settle(server, on_server_event, now);
        settle(client, on_client_event, now);
    }

    if (failure.empty() && !(client_closed && server_saw_close)) failure = "did not finish";
    if (!failure.empty()) {
        std::fprintf(stderr, "poll_loop: FAILED: %s (sent %d, verified %d)\n", failure.c_str(),
                     sent, verified);
        return 1;
    }
    std::printf("poll_loop: ok: %d messages echoed and verified, closed (send failures %llu)\n",
                verified,
                static_cast<unsigned long long>(server.send_failures + client.send_failures));
    return 0;
}
