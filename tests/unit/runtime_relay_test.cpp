// The runtime's TCP relay sockets (Loop::add_relay, BindOptions::no_udp) on loopback, against
// tests/support/relay_server.hpp's MiniRelay served over real TCP from a thread: a session
// comes up, survives a relay restart on the same port (reconnection with backoff), a connect
// that never completes is abandoned after connect_timeout, a relay whose answer does not open
// makes the loop close and reconnect by itself, and two relay-only endpoints reach each other
// through the relay. Every wait has a deadline.
#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include <netcrypto/endpoint.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

#include "support/relay_server.hpp"

namespace netcrypto::runtime {
namespace {

using namespace std::chrono_literals;

/// A listening TCP socket on 127.0.0.1 or ::1 (port 0: any); -1 on failure.
int listen_on(std::uint16_t port, int backlog, bool v6 = false) {
    const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (v6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        a.sin6_addr = in6addr_loopback;
        std::memcpy(&ss, &a, sizeof(a));
        len = sizeof(a);
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        std::memcpy(&ss, &a, sizeof(a));
        len = sizeof(a);
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, backlog) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::uint16_t port_of(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (ss.ss_family == AF_INET6) {
        sockaddr_in6 a{};
        std::memcpy(&a, &ss, sizeof(a));
        return ntohs(a.sin6_port);
    }
    sockaddr_in a{};
    std::memcpy(&a, &ss, sizeof(a));
    return ntohs(a.sin_port);
}

/// A TCP server on its own thread. Mode kMiniRelay serves the MiniRelay protocol (a fresh
/// relay state per start, the same key); kBadAnswer answers every 128-byte handshake with 96
/// zero bytes (a box that does not open).
class TcpRelay {
  public:
    enum class Mode { kMiniRelay, kBadAnswer };

    explicit TcpRelay(Mode mode) : mode_(mode) { keys_ = KeyPair::generate(key_rng_); }
    ~TcpRelay() { stop(); }
    TcpRelay(const TcpRelay&) = delete;
    TcpRelay& operator=(const TcpRelay&) = delete;

    bool start(std::uint16_t port, bool v6 = false) {
        listen_fd_ = listen_on(port, 16, v6);
        v6_ = v6;
        if (listen_fd_ < 0) return false;
        port_ = port_of(listen_fd_);
        stop_ = false;
        thread_ = std::thread([this] { run(); });
        return true;
    }
    /// Closes the listener and every connection (what a relay process that dies does).
    void stop() {
        if (!thread_.joinable()) return;
        stop_ = true;
        thread_.join();
    }
    /// Closes (from the relay's side) the connections of the client whose key is `client`;
    /// the listener stays.
    void cut(const PublicKey& client) {
        cut_key_ = client;
        cut_requested_ = true;
    }
    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] const PublicKey& key() const { return keys_.public_key; }
    [[nodiscard]] Address address() const {
        if (!v6_) return Address::ipv4(127, 0, 0, 1, port_);
        Address a;
        a.family = Address::Family::kIPv6;
        a.ip[15] = 1;  // ::1
        a.port = port_;
        return a;
    }
    std::atomic<int> accepted{0};
    std::atomic<int> closed_by_client{0};  ///< connections that ended with the client's EOF

  private:
    struct Conn {
        int fd = -1;
        std::size_t relay_index = 0;
        testing::ByteVec out;
        testing::ByteVec in;  ///< kBadAnswer: handshake bytes so far
        bool answered = false;
    };

    void run() {
        SodiumRng rng;
        testing::MiniRelay relay(keys_, rng);
        std::vector<Conn> conns;
        std::array<std::uint8_t, 65536> buf{};
        // Bounded: the test's deadlines stop it long before; 20 ms per round at most.
        for (int round = 0; round < 3'000'000 && !stop_; ++round) {
            std::vector<pollfd> fds;
            fds.push_back({listen_fd_, POLLIN, 0});
            for (const auto& c : conns)
                fds.push_back(
                    {c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
            ::poll(fds.data(), fds.size(), 20);
            if ((fds[0].revents & POLLIN) != 0) {
                const int fd =
                    ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd >= 0) {
                    ++accepted;
                    conns.push_back(Conn{fd, relay.add_connection(), {}, {}, false});
                }
            }
            for (std::size_t i = 0; i < conns.size(); ++i) {
                Conn& c = conns[i];
                bool dead = false;
                for (int r = 0; r < 16; ++r) {
                    const ssize_t n = ::recv(c.fd, buf.data(), buf.size(), 0);
                    if (n == 0) {
                        ++closed_by_client;
                        dead = true;
                        break;
                    }
                    if (n < 0) {
                        dead = errno != EAGAIN && errno != EWOULDBLOCK;
                        break;
                    }
                    const auto bytes = std::span(buf).first(static_cast<std::size_t>(n));
                    if (mode_ == Mode::kBadAnswer) {
                        c.in.insert(c.in.end(), bytes.begin(), bytes.end());
                        if (!c.answered && c.in.size() >= 128) {
                            c.answered = true;
                            c.out.assign(96, 0);
                        }
                    } else if (!relay.receive(c.relay_index, bytes)) {
                        dead = true;
                        break;
                    }
                }
                if (mode_ == Mode::kMiniRelay) {
                    for (std::size_t k = 0; k < conns.size(); ++k) {
                        auto more = relay.conn(conns[k].relay_index).take_output();
                        conns[k].out.insert(conns[k].out.end(), more.begin(), more.end());
                    }
                }
                if (!dead && !c.out.empty()) {
                    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
                    if (n > 0) {
                        c.out.erase(c.out.begin(), c.out.begin() + n);
                    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                        dead = true;
                    }
                }
                if (dead) {
                    if (mode_ == Mode::kMiniRelay) relay.close(c.relay_index);
                    ::close(c.fd);
                    c.fd = -1;
                }
            }
            if (cut_requested_.exchange(false) && mode_ == Mode::kMiniRelay) {
                for (auto& c : conns) {
                    if (c.fd >= 0 && relay.conn(c.relay_index).client_pk() == cut_key_) {
                        relay.close(c.relay_index);
                        ::close(c.fd);
                        c.fd = -1;
                    }
                }
            }
            std::erase_if(conns, [](const Conn& c) { return c.fd < 0; });
        }
        for (auto& c : conns) ::close(c.fd);
        ::close(listen_fd_);
        listen_fd_ = -1;
    }

    Mode mode_;
    SodiumRng key_rng_;
    KeyPair keys_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    bool v6_ = false;
    std::atomic<bool> stop_{false};
    PublicKey cut_key_;  ///< written before cut_requested_ is set
    std::atomic<bool> cut_requested_{false};
    std::thread thread_;
};

/// An endpoint on a Loop without UDP, recording its events.
struct Node {
    explicit Node(EndpointConfig cfg = {})
        : endpoint(KeyPair::generate(rng), KeyPair::generate(rng), rng, monotonic_now(),
                   std::move(cfg)) {
        BindOptions bo;
        bo.no_udp = true;
        auto r = loop.attach(
            endpoint, Address::ipv4(127, 0, 0, 1, 0),
            [this](const Event& e) { events.push_back(e); }, bo);
        EXPECT_TRUE(r.has_value()) << "attach with no_udp: " << (r ? "" : r.error());
    }
    SodiumRng rng;
    Endpoint endpoint;
    Loop loop;
    std::vector<Event> events;

    /// Index of the first RelayStatusChanged to `to` at or after event `from`.
    std::optional<std::size_t> relay_event(RelayState to, std::size_t from = 0) const {
        for (std::size_t i = from; i < events.size(); ++i) {
            const auto* r = events[i].get_if<RelayStatusChanged>();
            if (r != nullptr && r->to == to) return i;
        }
        return std::nullopt;
    }
};

/// Runs the loops until `done` or `limit` passes; true if done.
bool run_until(std::vector<Loop*> loops, Duration limit, const std::function<bool()>& done) {
    const Instant deadline = monotonic_now() + limit;
    while (monotonic_now() < deadline) {
        if (done()) return true;
        for (Loop* l : loops) l->run_once(5ms);
    }
    return done();
}

RelayOptions fast_options() {
    RelayOptions o;
    o.first_backoff = 100ms;
    o.max_backoff = 400ms;
    o.connect_timeout = 2s;
    return o;
}

TEST(RuntimeRelay, ConnectsAndReconnectsAfterTheRelayRestarts) {
    TcpRelay server(TcpRelay::Mode::kMiniRelay);
    ASSERT_TRUE(server.start(0)) << "cannot listen on 127.0.0.1";
    Node n;
    auto id = n.loop.add_relay(n.endpoint, server.address(), server.key(), fast_options());
    ASSERT_TRUE(id.has_value()) << id.error();
    ASSERT_TRUE(
        run_until({&n.loop}, 5s, [&] { return n.relay_event(RelayState::kConnected).has_value(); }))
        << "no RelayStatusChanged to kConnected within 5 s; last error: "
        << n.loop.relay_stats(n.endpoint, *id).last_error;
    auto s = n.loop.relay_stats(n.endpoint, *id);
    EXPECT_EQ(s.connect_attempts, 1U);
    EXPECT_EQ(s.connects, 1U);
    EXPECT_GT(s.bytes_out, 128U) << "handshake and first frame written";
    EXPECT_GE(s.bytes_in, 96U) << "the relay's answer read";

    // The relay dies: the endpoint hears of it, and reconnections are refused meanwhile.
    server.stop();
    const std::size_t mark = n.events.size();
    ASSERT_TRUE(run_until({&n.loop}, 5s, [&] {
        return n.relay_event(RelayState::kDisconnected, mark).has_value();
    })) << "no RelayStatusChanged to kDisconnected within 5 s of the relay closing";
    run_until({&n.loop}, 600ms, [] { return false; });
    s = n.loop.relay_stats(n.endpoint, *id);
    EXPECT_EQ(s.disconnects, 1U);
    EXPECT_GE(s.connect_attempts, 2U) << "reconnection attempts with a 100 ms backoff";
    EXPECT_NE(s.last_error.find(server.address().to_string()), std::string::npos)
        << "last_error names the relay: " << s.last_error;

    // It comes back on the same port with the same key: the session comes back by itself.
    ASSERT_TRUE(server.start(server.port())) << "cannot listen again on port " << server.port();
    const std::size_t mark2 = n.events.size();
    ASSERT_TRUE(run_until({&n.loop}, 5s,
                          [&] { return n.relay_event(RelayState::kConnected, mark2).has_value(); }))
        << "not connected again within 5 s of the relay restarting; last error: "
        << n.loop.relay_stats(n.endpoint, *id).last_error;
    s = n.loop.relay_stats(n.endpoint, *id);
    EXPECT_EQ(s.connects, 2U);
    auto info = n.endpoint.relay_info(*id);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->state, RelayState::kConnected);
}

TEST(RuntimeRelay, ConnectsOverIPv6) {
    TcpRelay server(TcpRelay::Mode::kMiniRelay);
    if (!server.start(0, true)) GTEST_SKIP() << "no IPv6 loopback here";
    Node n;
    auto id = n.loop.add_relay(n.endpoint, server.address(), server.key(), fast_options());
    ASSERT_TRUE(id.has_value()) << id.error();
    ASSERT_TRUE(
        run_until({&n.loop}, 5s, [&] { return n.relay_event(RelayState::kConnected).has_value(); }))
        << "no session with the relay at " << server.address().to_string() << ": "
        << n.loop.relay_stats(n.endpoint, *id).last_error;
}

TEST(RuntimeRelay, AbandonsAConnectThatNeverCompletes) {
    // A listener whose accept queue is full drops further SYNs: connect() hangs.
    const int lfd = listen_on(0, 0);
    ASSERT_GE(lfd, 0);
    const std::uint16_t port = port_of(lfd);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
        fillers.push_back(fd);
    }
    std::this_thread::sleep_for(50ms);
    Node n;
    SodiumRng rng;
    RelayOptions o = fast_options();
    o.connect_timeout = 200ms;
    auto id = n.loop.add_relay(n.endpoint, Address::ipv4(127, 0, 0, 1, port),
                               KeyPair::generate(rng).public_key, o);
    ASSERT_TRUE(id.has_value()) << id.error();
    const bool retried = run_until(
        {&n.loop}, 3s, [&] { return n.loop.relay_stats(n.endpoint, *id).connect_attempts >= 3; });
    const auto s = n.loop.relay_stats(n.endpoint, *id);
    for (int fd : fillers) ::close(fd);
    ::close(lfd);
    ASSERT_TRUE(retried) << "only " << s.connect_attempts << " connect attempts in 3 s; "
                         << s.last_error;
    EXPECT_EQ(s.connects, 0U) << "a connect to a full accept queue completed";
    EXPECT_NE(s.last_error.find("no answer within 0.2 s"), std::string::npos) << s.last_error;
    EXPECT_FALSE(n.relay_event(RelayState::kHandshaking)) << "relay_opened without a connection";
}

TEST(RuntimeRelay, ClosesAndReconnectsWhenTheSessionFailsByItself) {
    TcpRelay server(TcpRelay::Mode::kBadAnswer);
    ASSERT_TRUE(server.start(0));
    Node n;
    auto id = n.loop.add_relay(n.endpoint, server.address(), server.key(), fast_options());
    ASSERT_TRUE(id.has_value()) << id.error();
    ASSERT_TRUE(run_until({&n.loop}, 5s, [&] { return server.accepted.load() >= 3; }))
        << "the loop did not reconnect after a bad handshake answer (" << server.accepted.load()
        << " connections)";
    const auto bad = std::count_if(n.events.begin(), n.events.end(), [](const Event& e) {
        const auto* r = e.get_if<RelayStatusChanged>();
        return r != nullptr && r->reason == RelayCloseReason::kBadHandshake;
    });
    EXPECT_GE(bad, 2) << "RelayStatusChanged(kDisconnected, kBadHandshake) forwarded to on_event";
    run_until({&n.loop}, 300ms, [] { return false; });
    EXPECT_GE(server.closed_by_client.load(), 2) << "the loop closed its sockets";
    EXPECT_FALSE(n.relay_event(RelayState::kConnected));
}

TEST(RuntimeRelay, TwoRelayOnlyEndpointsConnectThroughTheRelay) {
    TcpRelay server(TcpRelay::Mode::kMiniRelay);
    ASSERT_TRUE(server.start(0));
    EndpointConfig cfg;
    cfg.accept_all = true;
    Node a(cfg);
    Node b;
    auto ra = a.loop.add_relay(a.endpoint, server.address(), server.key(), fast_options());
    auto rb = b.loop.add_relay(b.endpoint, server.address(), server.key(), fast_options());
    ASSERT_TRUE(ra && rb);
    ASSERT_TRUE(run_until({&a.loop, &b.loop}, 5s, [&] {
        return a.relay_event(RelayState::kConnected) && b.relay_event(RelayState::kConnected);
    })) << "relays not connected within 5 s";
    auto id =
        b.endpoint.connect(monotonic_now(), a.endpoint.public_key(), a.endpoint.dht_public_key());
    ASSERT_TRUE(id.has_value()) << "address-less connect: " << to_string(id.error());
    const auto established = [](const Node& n) {
        for (const auto& e : n.events) {
            const auto* s = e.get_if<StatusChanged>();
            if (s != nullptr && s->to == Status::kEstablished) return true;
        }
        return false;
    };
    ASSERT_TRUE(run_until({&a.loop, &b.loop}, 10s, [&] {
        return established(a) && established(b);
    })) << "not Established through the relay within 10 s";
    bool routed = false;
    for (const auto& e : b.events) {
        const auto* r = e.get_if<RouteChanged>();
        if (r != nullptr && r->route == RouteKind::kTcpRelay && r->relay == *rb) routed = true;
    }
    EXPECT_TRUE(routed) << "no RouteChanged to kTcpRelay on the connecting side";
    EXPECT_EQ(a.loop.stats(a.endpoint).datagrams_out, 0U) << "no_udp sent a datagram";
}

/// Sends one lossless message `from` → `to` on their connections and waits until it is read.
bool message_arrives(Node& from, ConnectionId from_id, Node& to, ConnectionId to_id,
                     std::uint8_t tag) {
    const std::array<std::uint8_t, 3> msg{160, tag, 0x55};
    if (!from.endpoint.send_lossless(monotonic_now(), from_id, msg)) return false;
    std::array<std::uint8_t, 1400> buf{};
    return run_until({&from.loop, &to.loop}, 10s, [&] {
        auto n = to.endpoint.read_lossless(monotonic_now(), to_id, buf);
        return n && *n == msg.size() && buf[1] == tag;
    });
}

TEST(RuntimeRelay, SessionSurvivesACutOfOneSidesRelayLink) {
    TcpRelay server(TcpRelay::Mode::kMiniRelay);
    ASSERT_TRUE(server.start(0));
    EndpointConfig cfg;
    cfg.accept_all = true;
    Node a(cfg);
    Node b;
    auto ra = a.loop.add_relay(a.endpoint, server.address(), server.key(), fast_options());
    auto rb = b.loop.add_relay(b.endpoint, server.address(), server.key(), fast_options());
    ASSERT_TRUE(ra && rb);
    ASSERT_TRUE(run_until({&a.loop, &b.loop}, 5s, [&] {
        return a.relay_event(RelayState::kConnected) && b.relay_event(RelayState::kConnected);
    })) << "relays not connected within 5 s";
    auto bid =
        b.endpoint.connect(monotonic_now(), a.endpoint.public_key(), a.endpoint.dht_public_key());
    ASSERT_TRUE(bid.has_value());
    std::optional<ConnectionId> aid;
    ASSERT_TRUE(run_until({&a.loop, &b.loop}, 10s, [&] {
        for (const auto& e : a.events) {
            const auto* s = e.get_if<StatusChanged>();
            if (s != nullptr && s->to == Status::kEstablished) aid = s->connection;
        }
        auto info = b.endpoint.info(*bid);
        return aid && info && info->status == Status::kEstablished;
    })) << "not Established through the relay within 10 s";
    ASSERT_TRUE(message_arrives(b, *bid, a, *aid, 1)) << "B → A before the cut";
    ASSERT_TRUE(message_arrives(a, *aid, b, *bid, 2)) << "A → B before the cut";

    server.cut(b.endpoint.dht_public_key());
    const std::size_t mark = b.events.size();
    ASSERT_TRUE(run_until({&a.loop, &b.loop}, 5s, [&] {
        const auto down = b.relay_event(RelayState::kDisconnected, mark);
        return down && b.relay_event(RelayState::kConnected, *down);
    })) << "B's relay link not back within 5 s of the cut";
    EXPECT_TRUE(message_arrives(b, *bid, a, *aid, 3)) << "B → A after B's link came back";
    EXPECT_TRUE(message_arrives(a, *aid, b, *bid, 4)) << "A → B after B's link came back";
    EXPECT_EQ(b.loop.relay_stats(b.endpoint, *rb).connects, 2U);
}

TEST(RuntimeRelay, NoUdpDiscardsAndCountsDatagrams) {
    Node n;
    SodiumRng rng;
    auto id = n.endpoint.connect(monotonic_now(), KeyPair::generate(rng).public_key,
                                 KeyPair::generate(rng).public_key, Address::ipv4(127, 0, 0, 1, 9));
    ASSERT_TRUE(id.has_value());
    ASSERT_TRUE(run_until({&n.loop}, 3s, [&] {
        return n.loop.stats(n.endpoint).no_udp_drops >= 2;
    })) << "cookie requests not discarded as no_udp_drops (timers not driven?)";
    EXPECT_EQ(n.loop.stats(n.endpoint).datagrams_out, 0U);
}

TEST(RuntimeRelay, AddRelayNeedsAnAttachedEndpoint) {
    SodiumRng rng;
    Endpoint e(KeyPair::generate(rng), KeyPair::generate(rng), rng, monotonic_now());
    Loop loop;
    auto r = loop.add_relay(e, Address::ipv4(127, 0, 0, 1, 9), KeyPair::generate(rng).public_key);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("not attached"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace netcrypto::runtime
