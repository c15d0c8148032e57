// Live check of relay::Client (src/core/relay) against c-toxcore 0.2.18's own TCP relay.
//
// One process: a c-toxcore instance with a TCP relay port (loopback policy of tox_policy.hpp,
// LAN discovery off) iterates on its own thread; two relay::Clients, each on a blocking-style
// poll() loop over a real TCP socket to 127.0.0.1, connect to it with fresh keys, route to each
// other, exchange routed data both ways and OOB, and one disconnects. Every step has a deadline
// and prints PASS or FAIL with what was expected. Meant to run inside a network namespace
// (ctest runs it under `unshare -rn`); the loopback guard refuses anything but loopback anyway.
#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <variant>
#include <vector>

#include <tox/tox.h>

#include <netcrypto/keys.hpp>
#include <netcrypto/random.hpp>
#include <netcrypto/time.hpp>

#include "core/relay/client.hpp"
#include "tox_policy.hpp"

namespace {

using namespace netcrypto;
using namespace netcrypto::relay;
using Clock = std::chrono::steady_clock;
using ByteVec = std::vector<std::uint8_t>;

constexpr std::uint16_t kRelayPort = 33720;

Instant now_instant() {
    return Instant{std::chrono::duration_cast<Duration>(Clock::now().time_since_epoch())};
}

/// One relay::Client and its socket.
struct Peer {
    Peer(const char* n, KeyPair k) : name(n), keys(std::move(k)) {}
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    const char* name;
    KeyPair keys;
    int fd = -1;
    std::optional<Client> client;
    std::vector<ClientEvent> events;

    ~Peer() {
        if (fd >= 0) ::close(fd);
    }

    bool connect_to(const PublicKey& relay_pk, Rng& rng) {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(kRelayPort);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
            std::printf("FAIL %s: connect to 127.0.0.1:%u: %s\n", name, kRelayPort,
                        std::strerror(errno));
            return false;
        }
        const int one = 1;
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        (void)::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        client.emplace(now_instant(), keys, relay_pk, rng);
        return true;
    }

    /// Moves bytes both ways, runs the timers and collects events.
    void step() {
        Client& c = *client;
        while (!c.pending_write().empty()) {
            const auto out = c.pending_write();
            const ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
            if (n <= 0) break;
            c.consume_write(static_cast<std::size_t>(n));
        }
        std::array<std::uint8_t, 4096> buf{};
        for (;;) {
            const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n > 0) {
                c.handle_bytes(now_instant(), std::span(buf).first(static_cast<std::size_t>(n)));
                continue;
            }
            if (n == 0) c.handle_eof(now_instant());
            break;
        }
        c.handle_timeout(now_instant());
        while (auto e = c.poll_event()) events.push_back(std::move(*e));
    }

    template <typename T>
    std::optional<T> take() {
        for (auto it = events.begin(); it != events.end(); ++it) {
            if (auto* t = std::get_if<T>(&*it)) {
                T copy = *t;
                events.erase(it);
                return copy;
            }
        }
        return std::nullopt;
    }
};

/// Steps both peers until `done` or the deadline.
bool run_until(Peer& a, Peer& b, std::chrono::milliseconds limit,
               const std::function<bool()>& done) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        a.step();
        b.step();
        if (done()) return true;
        std::array<pollfd, 2> fds{pollfd{a.fd, POLLIN, 0}, pollfd{b.fd, POLLIN, 0}};
        (void)::poll(fds.data(), fds.size(), 10);
    }
    return false;
}

int failures = 0;
void check(bool ok, const char* what) {
    std::printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    if (!ok) ++failures;
}

template <typename T>
bool wait_event(Peer& a, Peer& b, Peer& who, std::optional<T>& out) {
    return run_until(a, b, std::chrono::seconds(5), [&] {
        out = who.take<T>();
        return out.has_value();
    });
}

int run_checks(const PublicKey& relay_pk) {
    SodiumRng rng;
    Peer a("A", KeyPair::generate(rng));
    Peer b("B", KeyPair::generate(rng));
    if (!a.connect_to(relay_pk, rng) || !b.connect_to(relay_pk, rng)) return 1;

    check(run_until(a, b, std::chrono::seconds(5),
                    [&] {
                        return a.client->state() == ClientState::kConfirmed &&
                               b.client->state() == ClientState::kConfirmed;
                    }),
          "handshake: both clients confirmed (relay answered their first PING)");

    (void)a.client->route_request(b.keys.public_key);
    std::optional<RouteResponse> ra;
    check(wait_event(a, b, a, ra) && ra->pk == b.keys.public_key && ra->connection_id >= 16,
          "routing: A gets a routing response for B's key with an id >= 16");
    (void)b.client->route_request(a.keys.public_key);
    std::optional<Connected> ca;
    std::optional<Connected> cb;
    check(wait_event(a, b, a, ca) && wait_event(a, b, b, cb),
          "routing: both get CONNECT once B routes back");

    const ByteVec hello{'h', 'e', 'l', 'l', 'o'};
    const ByteVec big(2031, 0xA5);
    check(a.client->send_data(b.keys.public_key, hello).has_value() &&
              b.client->send_data(a.keys.public_key, big).has_value(),
          "data: both sends accepted");
    std::optional<Data> da;
    std::optional<Data> db;
    check(wait_event(a, b, b, db) && db->bytes == hello && db->pk == a.keys.public_key,
          "data: B receives A's 5 bytes");
    check(wait_event(a, b, a, da) && da->bytes == big, "data: A receives B's 2031 bytes");

    const ByteVec oob(1024, 0x3C);
    check(a.client->send_oob(b.keys.public_key, oob).has_value(), "oob: send accepted");
    std::optional<OobReceived> ob;
    check(wait_event(a, b, b, ob) && ob->bytes == oob && ob->pk == a.keys.public_key,
          "oob: B receives 1024 bytes naming A's key");

    (void)a.client->disconnect(b.keys.public_key);
    std::optional<Disconnected> xb;
    check(wait_event(a, b, b, xb), "disconnect: B gets DISCONNECT when A leaves the route");

    // Keep-alive both ways: the relay pings each client 30 s after its first frame and closes it
    // if the PONG does not come within 10 s; the clients ping the relay every 30 s.
    std::printf("keep-alive: idling 35 s\n");
    (void)run_until(a, b, std::chrono::seconds(35), [] { return false; });
    for (const Peer* p : {&a, &b}) {
        const ClientStats& st = p->client->stats();
        std::printf("%s: pings sent %llu, pongs received %llu, relay pings answered %llu\n",
                    p->name, static_cast<unsigned long long>(st.pings_sent),
                    static_cast<unsigned long long>(st.pongs_received),
                    static_cast<unsigned long long>(st.pings_answered));
        check(st.pings_answered >= 1 && st.pongs_received >= 2 &&
                  p->client->state() == ClientState::kConfirmed,
              "keep-alive: relay ping answered, our second ping answered, still open");
    }

    std::uint64_t drops = 0;
    for (const Peer* p : {&a, &b}) {
        for (std::size_t r = 0; r < kRelayDropReasonCount; ++r) {
            if (p->client->stats().dropped[r] != 0) {
                std::printf("note %s dropped %llu x %s\n", p->name,
                            static_cast<unsigned long long>(p->client->stats().dropped[r]),
                            std::string(to_string(static_cast<RelayDropReason>(r))).c_str());
            }
            drops += p->client->stats().dropped[r];
        }
    }
    check(drops == 0, "nothing from the real relay was dropped");
    check(a.client->state() == ClientState::kConfirmed &&
              b.client->state() == ClientState::kConfirmed,
          "both connections still open");
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main() {
    auto opts = testing::loopback_tox_options();
    if (!opts) return 2;
    tox_options_set_tcp_port(opts.get(), kRelayPort);
    Tox_Err_New err{};
    testing::ToxPtr tox(tox_new(opts.get(), &err));
    if (!tox) {
        std::printf("FAIL c-toxcore relay did not start (tox_new error %d)\n",
                    static_cast<int>(err));
        return 2;
    }
    PublicKey relay_pk;
    tox_self_get_dht_id(tox.get(), relay_pk.bytes.data());
    std::printf("relay: c-toxcore %u.%u.%u on 127.0.0.1:%u, key %s\n", tox_version_major(),
                tox_version_minor(), tox_version_patch(), kRelayPort, relay_pk.to_hex().c_str());
    std::atomic<bool> stop{false};
    std::thread loop([&] {
        while (!stop) {
            tox_iterate(tox.get(), nullptr);
            std::this_thread::sleep_for(
                std::chrono::milliseconds(tox_iteration_interval(tox.get())));
        }
    });
    const int rc = run_checks(relay_pk);
    stop = true;
    loop.join();
    std::printf("%s\n", rc == 0 ? "relay_live: all checks passed" : "relay_live: FAILED");
    return rc;
}
