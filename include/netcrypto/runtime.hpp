// The UDP runtime: the only part of netcrypto that touches sockets and the real clock. A
// single-threaded epoll loop drives one or more Endpoints, each bound to its own UDP socket,
// batching with recvmmsg/sendmmsg and sleeping exactly until the next timer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <tl/expected.hpp>

#include <netcrypto/address.hpp>
#include <netcrypto/endpoint.hpp>
#include <netcrypto/export.hpp>
#include <netcrypto/time.hpp>

namespace netcrypto::runtime {

/// The monotonic clock as an Instant.
NETCRYPTO_EXPORT Instant monotonic_now();

/// Options of one bound endpoint.
struct BindOptions {
    /// Drop this share of datagrams (both directions) at random, to demonstrate recovery.
    double drop_probability = 0.0;
    /// SO_RCVBUF / SO_SNDBUF request in bytes (with CAP_NET_ADMIN through the *FORCE
    /// options, past net.core.rmem_max/wmem_max; SocketStats tells what was granted).
    int socket_buffer_bytes = 8 << 20;
    /// UDP generic segmentation offload (Linux UDP_SEGMENT): consecutive datagrams of one size
    /// to one peer leave in one system call as one super-datagram. Turned off for the socket
    /// (and counted in SocketStats::gso_fallbacks) the first time the kernel refuses it.
    bool udp_gso = true;
    /// UDP generic receive offload (Linux UDP_GRO): the kernel may hand over coalesced
    /// datagrams, split here by their segment size.
    bool udp_gro = true;
};

/// Counters of the runtime for one bound endpoint.
struct SocketStats {
    std::uint64_t datagrams_in = 0;
    std::uint64_t datagrams_out = 0;
    std::uint64_t injected_drops = 0;  ///< datagrams dropped on purpose (BindOptions)
    std::uint64_t send_errors = 0;     ///< sendmmsg failures other than "try again"
    std::uint64_t send_calls = 0;      ///< sendmmsg system calls
    std::uint64_t receive_calls = 0;   ///< recvmmsg system calls that returned datagrams
    std::uint64_t gso_messages = 0;    ///< super-datagrams sent (UDP_SEGMENT, 2+ datagrams)
    std::uint64_t gro_messages = 0;    ///< coalesced datagrams received (UDP_GRO, 2+)
    std::uint64_t gso_fallbacks = 0;   ///< sends the kernel refused with GSO (then GSO is off)
    int receive_buffer_bytes = 0;      ///< SO_RCVBUF granted (as getsockopt reports it)
    int send_buffer_bytes = 0;         ///< SO_SNDBUF granted
    bool gso = false;                  ///< GSO in use now
    bool gro = false;                  ///< GRO in use
};

/// Event loop. Not thread-safe; callbacks run on the loop's thread between I/O steps, never
/// while the endpoint is handling a packet.
class NETCRYPTO_EXPORT Loop {
  public:
    Loop();
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    /// Binds a UDP socket to `address` (port 0 = ephemeral) and drives `endpoint` with it.
    /// `on_event` gets every event of that endpoint. Returns the bound address or a message
    /// naming the cause (e.g. "address already in use").
    tl::expected<Address, std::string> attach(Endpoint& endpoint, const Address& address,
                                              std::function<void(const Event&)> on_event,
                                              BindOptions options = {});

    /// Watches a file descriptor (EPOLLIN/EPOLLOUT mask); `callback` gets the ready mask.
    tl::expected<void, std::string> watch(int fd, std::uint32_t events,
                                          std::function<void(std::uint32_t)> callback);
    /// Changes the mask of a watched descriptor.
    void modify(int fd, std::uint32_t events);
    /// Stops watching a descriptor.
    void unwatch(int fd);

    /// Calls `fn` at (or soon after) `when`; used by layers above the endpoint.
    void call_at(Instant when, std::function<void()> fn);

    /// Runs one iteration: waits for I/O or the next timer (at most `max_wait`), handles
    /// everything that is ready, flushes every endpoint's datagrams.
    void run_once(Duration max_wait);
    /// Runs until stop() is called, SIGINT/SIGTERM arrives (if handle_signals was called) or
    /// `deadline` passes.
    void run(Instant deadline = Instant::max());
    void stop();
    [[nodiscard]] bool stopped() const;
    /// Makes SIGINT/SIGTERM stop the loop (through a signalfd); `on_signal` runs first.
    tl::expected<void, std::string> handle_signals(std::function<void(int)> on_signal);
    /// Sends every queued datagram of every endpoint now (call after commands such as close()).
    void flush();

    [[nodiscard]] SocketStats stats(const Endpoint& endpoint) const;

  private:
    class NETCRYPTO_NO_EXPORT Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace netcrypto::runtime
