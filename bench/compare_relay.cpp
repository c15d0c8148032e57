// Throughput through one c-toxcore TCP relay (bench/relay.sh): what the relay itself can
// forward (two bare relay clients pushing routed frames as fast as it takes them: its
// ceiling), next to netcrypto ↔ netcrypto with both endpoints on UDP-less relays only, through
// the same relay process in the same run.
#include "compare_relay.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <fcntl.h>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netcrypto/random.hpp>
#include <netcrypto/runtime.hpp>

#include "compare_common.hpp"
#include "core/relay/client.hpp"

namespace netcrypto::bench {

namespace {

using namespace std::chrono_literals;

/// A non-blocking TCP connection to 127.0.0.1:port carrying one relay::Client session.
class BareRelayClient {
  public:
    BareRelayClient(std::uint16_t port, const PublicKey& relay_key, Rng& rng)
        : keys_(KeyPair::generate(rng)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw std::runtime_error("socket failed");
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
            ::close(fd_);
            throw std::runtime_error("cannot connect to the relay");
        }
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
        client_ = std::make_unique<relay::Client>(runtime::monotonic_now(), keys_, relay_key, rng);
    }
    ~BareRelayClient() {
        if (fd_ >= 0) ::close(fd_);
    }
    BareRelayClient(const BareRelayClient&) = delete;
    BareRelayClient& operator=(const BareRelayClient&) = delete;

    relay::Client& client() { return *client_; }
    const PublicKey& key() const { return keys_.public_key; }
    int fd() const { return fd_; }

    /// Writes what the session has queued and reads what arrived; false when the connection ended.
    bool pump() {
        const Instant now = runtime::monotonic_now();
        for (int i = 0; i < 64; ++i) {
            const auto pending = client_->pending_write();
            if (pending.empty()) break;
            const ssize_t n = ::send(fd_, pending.data(), pending.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                return false;
            }
            client_->consume_write(static_cast<std::size_t>(n));
        }
        std::array<std::uint8_t, 65536> buf{};
        for (int i = 0; i < 64; ++i) {
            const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
            if (n == 0) return false;
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return false;
            }
            client_->handle_bytes(
                now, std::span<const std::uint8_t>(buf).first(static_cast<std::size_t>(n)));
        }
        client_->handle_timeout(now);
        return client_->state() != relay::ClientState::kClosed;
    }

  private:
    KeyPair keys_;
    int fd_ = -1;
    std::unique_ptr<relay::Client> client_;
};

void wait_readable(BareRelayClient& a, BareRelayClient& b, int ms) {
    std::array<pollfd, 2> fds{pollfd{a.fd(), POLLIN, 0}, pollfd{b.fd(), POLLIN, 0}};
    ::poll(fds.data(), fds.size(), ms);
}

}  // namespace

json relay_ceiling(std::uint16_t port, const PublicKey& relay_key, double seconds,
                   std::size_t payload, pid_t relay_pid) {
    SodiumRng rng;
    BareRelayClient a(port, relay_key, rng);
    BareRelayClient b(port, relay_key, rng);
    bool a_online = false;
    bool b_online = false;
    bool requested = false;
    double rx_bytes = 0;
    auto drain = [&](BareRelayClient& c, bool& online) {
        while (auto e = c.client().poll_event()) {
            if (std::holds_alternative<relay::Connected>(*e)) online = true;
            if (const auto* d = std::get_if<relay::Data>(&*e))
                rx_bytes += static_cast<double>(d->bytes.size());
        }
    };
    const std::int64_t setup_end = mono_ns() + 10'000'000'000;
    while (!(a_online && b_online)) {
        if (mono_ns() > setup_end) throw std::runtime_error("relay ceiling: no route in 10 s");
        if (!a.pump() || !b.pump()) throw std::runtime_error("relay ceiling: relay closed");
        if (!requested && a.client().state() == relay::ClientState::kConfirmed &&
            b.client().state() == relay::ClientState::kConfirmed) {
            (void)a.client().route_request(b.key());
            (void)b.client().route_request(a.key());
            requested = true;
        }
        drain(a, a_online);
        drain(b, b_online);
        wait_readable(a, b, 5);
    }
    std::vector<std::uint8_t> data(payload, 0x5A);
    rx_bytes = 0;
    const double cpu_relay0 = proc_cpu_seconds(relay_pid);
    const double cpu_self0 = proc_cpu_seconds(::getpid());
    const std::int64_t t0 = mono_ns();
    const std::int64_t end = t0 + static_cast<std::int64_t>(seconds * 1e9);
    std::uint64_t sent = 0;
    std::uint64_t refused = 0;
    while (mono_ns() < end) {
        for (int i = 0; i < 64; ++i) {
            if (!a.client().send_data(b.key(), data)) {
                ++refused;
                break;
            }
            ++sent;
        }
        if (!a.pump() || !b.pump()) throw std::runtime_error("relay ceiling: relay closed");
        drain(a, a_online);
        drain(b, b_online);
    }
    const double dt = static_cast<double>(mono_ns() - t0) * 1e-9;
    const double cpu_relay = proc_cpu_seconds(relay_pid) - cpu_relay0;
    const double gb = rx_bytes / 1e9;
    return json{
        {"what", "two bare relay clients, routed frames A -> B as fast as the relay takes them"},
        {"payload_bytes", payload},
        {"seconds", dt},
        {"bytes", rx_bytes},
        {"mb_per_s", rx_bytes / dt / 1e6},
        {"frames_sent", sent},
        {"queue_full", refused},
        {"cpu_relay_s", cpu_relay},
        {"cpu_clients_s", proc_cpu_seconds(::getpid()) - cpu_self0},
        {"cpu_relay_s_per_gb", gb > 0 ? cpu_relay / gb : 0}};
}

}  // namespace netcrypto::bench
