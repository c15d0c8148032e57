// The UDP runtime: the only part of netcrypto that touches sockets and the real clock. A
// single-threaded epoll loop drives one or more Endpoints, each bound to its own UDP socket,
// batching with recvmmsg/sendmmsg and sleeping exactly until the next timer.
#pragma once

#include <chrono>
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
    /// No UDP socket at all (relays only): `address` is ignored, nothing is bound, and
    /// datagrams the endpoint produces are discarded and counted in SocketStats::no_udp_drops.
    bool no_udp = false;
};

/// How the loop keeps a TCP connection to one relay (Loop::add_relay).
struct RelayOptions {
    /// Wait before the first reconnection after a failure; doubles after each failed attempt
    /// up to max_backoff, and starts over once the relay confirmed a session.
    Duration first_backoff = std::chrono::seconds{1};
    Duration max_backoff = std::chrono::seconds{30};
    /// A TCP connect that has not completed after this long is abandoned (and retried).
    Duration connect_timeout = std::chrono::seconds{10};
};

/// Counters of the loop's TCP connection to one relay.
struct RelaySocketStats {
    std::uint64_t connect_attempts = 0;
    std::uint64_t connects = 0;     ///< TCP connections that opened
    std::uint64_t disconnects = 0;  ///< TCP connections that ended (any reason)
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::string last_error;  ///< the last connect/read/write error, if any
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
    std::uint64_t no_udp_drops = 0;    ///< datagrams discarded because of BindOptions::no_udp
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

    /// Adds a TCP relay to an attached endpoint (Endpoint::add_relay) and keeps a TCP
    /// connection to it at `address`: connects without blocking, feeds the relay session,
    /// and after any failure or RelayStatusChanged to kDisconnected closes the socket and
    /// reconnects with backoff (RelayOptions). The endpoint's events still reach `on_event`.
    /// Errors: the endpoint is not attached, or add_relay failed (the message says why).
    tl::expected<RelayId, std::string> add_relay(Endpoint& endpoint, const Address& address,
                                                 const PublicKey& relay_key,
                                                 RelayOptions options = {});
    /// Counters of the TCP connection to a relay added with add_relay (zero when unknown).
    [[nodiscard]] RelaySocketStats relay_stats(const Endpoint& endpoint, RelayId relay) const;

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
