// The system-call side of one TCP connection to a relay: a non-blocking connect, reads and
// writes that never block, and the error texts. It knows nothing of the endpoint or of epoll;
// Loop::Impl (loop.cpp) registers the descriptor and feeds the endpoint.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <netcrypto/address.hpp>

namespace netcrypto::runtime::detail {

class RelaySocket {
  public:
    enum class State : std::uint8_t {
        kClosed,      ///< no descriptor
        kConnecting,  ///< connect() under way: wait for writability, then finish_connect()
        kOpen,        ///< connected
    };

    RelaySocket() = default;
    ~RelaySocket() { close(); }
    RelaySocket(const RelaySocket&) = delete;
    RelaySocket& operator=(const RelaySocket&) = delete;

    /// Opens a non-blocking TCP socket (TCP_NODELAY) and starts connecting to `to`. On success
    /// the state is kConnecting (even when the kernel connected at once: writability reports
    /// it). On failure the socket is closed and the text names the cause.
    std::optional<std::string> start_connect(const Address& to);
    /// After writability (or an error) while kConnecting: kOpen, or closed with the cause.
    std::optional<std::string> finish_connect(const Address& to);

    struct ReadResult {
        enum class Kind : std::uint8_t { kData, kWouldBlock, kEndOfStream, kError };
        Kind kind = Kind::kWouldBlock;
        std::size_t size = 0;  ///< with kData
        std::string error;     ///< with kError
    };
    /// One read() into `buffer`.
    ReadResult read(std::span<std::uint8_t> buffer);

    struct WriteResult {
        std::size_t written = 0;
        bool blocked = false;  ///< the kernel took less than offered (EAGAIN)
        std::optional<std::string> error;
    };
    /// Writes as much of `bytes` as the kernel takes (at most `max_calls` system calls).
    WriteResult write(std::span<const std::uint8_t> bytes, int max_calls = 64);

    void close();
    [[nodiscard]] int fd() const { return fd_; }
    [[nodiscard]] State state() const { return state_; }

  private:
    int fd_ = -1;
    State state_ = State::kClosed;
};

}  // namespace netcrypto::runtime::detail
