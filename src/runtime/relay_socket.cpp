#include "runtime/relay_socket.hpp"

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netcrypto/posix.hpp>

namespace netcrypto::runtime::detail {

namespace {

std::string describe(std::string_view what, const Address& to, int err) {
    std::string s(what);
    s += ' ';
    s += to.to_string();
    s += ": ";
    s += std::strerror(err);
    return s;
}

}  // namespace

std::optional<std::string> RelaySocket::start_connect(const Address& to) {
    close();
    sockaddr_storage ss{};
    const socklen_t len = posix::to_sockaddr(to, ss);
    if (len == 0) return "cannot connect to " + to.to_string() + ": unusable address";
    const int family = reinterpret_cast<const sockaddr*>(&ss)->sa_family;
    fd_ = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        const int err = errno;
        fd_ = -1;
        return describe("socket for", to, err);
    }
    // Relay frames are small and latency matters more than packing them.
    const int one = 1;
    (void)::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = 0;
    for (int tries = 0; tries < 8; ++tries) {
        rc = ::connect(fd_, reinterpret_cast<const sockaddr*>(&ss), len);
        if (rc == 0 || errno != EINTR) break;
    }
    if (rc != 0 && errno != EINPROGRESS) {
        const int err = errno;
        close();
        return describe("connect to", to, err);
    }
    state_ = State::kConnecting;
    return std::nullopt;
}

std::optional<std::string> RelaySocket::finish_connect(const Address& to) {
    if (state_ != State::kConnecting) return std::nullopt;
    int err = 0;
    socklen_t len = sizeof(err);
    if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) {
        // Writable without an error can still mean "not yet" on some kernels: ask the peer.
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof(peer);
        if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
            if (errno == ENOTCONN) return std::nullopt;  // still connecting
            err = errno;
        }
    }
    if (err == EINPROGRESS || err == EALREADY) return std::nullopt;
    if (err != 0) {
        close();
        return describe("connect to", to, err);
    }
    state_ = State::kOpen;
    return std::nullopt;
}

RelaySocket::ReadResult RelaySocket::read(std::span<std::uint8_t> buffer) {
    ReadResult r;
    for (int tries = 0; tries < 8; ++tries) {
        const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
        if (n > 0) {
            r.kind = ReadResult::Kind::kData;
            r.size = static_cast<std::size_t>(n);
            return r;
        }
        if (n == 0) {
            r.kind = ReadResult::Kind::kEndOfStream;
            return r;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return r;
        r.kind = ReadResult::Kind::kError;
        r.error = std::string("read: ") + std::strerror(errno);
        return r;
    }
    return r;
}

RelaySocket::WriteResult RelaySocket::write(std::span<const std::uint8_t> bytes, int max_calls) {
    WriteResult r;
    for (int call = 0; call < max_calls && r.written < bytes.size(); ++call) {
        const auto rest = bytes.subspan(r.written);
        const ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            r.written += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            r.blocked = true;
            return r;
        }
        r.error = std::string("write: ") + (n < 0 ? std::strerror(errno) : "no progress");
        return r;
    }
    // Stopped by max_calls with bytes left: let EPOLLOUT call again rather than spin here.
    if (r.written < bytes.size()) r.blocked = true;
    return r;
}

void RelaySocket::close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    state_ = State::kClosed;
}

}  // namespace netcrypto::runtime::detail
