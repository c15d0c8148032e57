// Batched UDP I/O for the runtime: sendmmsg with UDP generic segmentation offload (GSO,
// the UDP_SEGMENT control message: consecutive datagrams to one destination with one size go
// to the kernel as one super-datagram) and recvmmsg with generic receive offload (GRO, the
// UDP_GRO socket option: the kernel hands over coalesced datagrams and their segment size,
// split here). Both fall back to one datagram per message where the kernel refuses.
// Linux only, like the rest of the runtime. Internal to src/runtime (and its tests).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <sys/socket.h>
#include <vector>

namespace netcrypto::runtime::detail {

/// Offloads in use on one socket, and what happened to them.
struct UdpOffload {
    bool gso = false;                 ///< UDP_SEGMENT on sends
    bool gro = false;                 ///< UDP_GRO on receives
    std::uint64_t gso_fallbacks = 0;  ///< sends refused with GSO, redone without (GSO off)
    std::uint64_t gso_messages = 0;   ///< super-datagrams sent (two or more segments)
    std::uint64_t gro_messages = 0;   ///< coalesced datagrams received (two or more)
    std::uint64_t send_errors = 0;    ///< datagrams refused for other reasons (dropped)
    std::uint64_t send_calls = 0;     ///< sendmmsg system calls
    std::uint64_t receive_calls = 0;  ///< recvmmsg system calls that returned data
};

/// Turns on what is asked for and the kernel supports (GRO is probed with setsockopt; GSO
/// with getsockopt of UDP_SEGMENT, and for real on the first send).
void enable_offloads(int fd, bool want_gso, bool want_gro, UdpOffload& state);

/// Asks for `bytes` of receive and send buffer: SO_RCVBUFFORCE/SO_SNDBUFFORCE first (they
/// pass net.core.rmem_max/wmem_max with CAP_NET_ADMIN), then SO_RCVBUF/SO_SNDBUF. Returns the
/// sizes granted (as getsockopt reports them: the kernel doubles the request).
std::pair<int, int> size_buffers(int fd, int bytes);

/// One datagram to send: bytes and the destination (a filled sockaddr of `addr_len`).
struct OutDatagram {
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
    const sockaddr_storage* addr = nullptr;
    socklen_t addr_len = 0;
};

/// Sends `out` in order with as few system calls as possible. Returns how many datagrams
/// (from the front) are done, sent or dropped as refused; the rest met EAGAIN and should be
/// retried when the socket is writable.
std::size_t send_datagrams(int fd, std::span<const OutDatagram> out, UdpOffload& state);

/// Receives up to a batch of datagrams, splitting GRO super-datagrams into their segments.
class Receiver {
  public:
    /// A received datagram: its bytes (valid until the next receive) and the sender.
    struct Datagram {
        std::span<const std::uint8_t> bytes;
        const sockaddr_storage* from = nullptr;
        socklen_t from_len = 0;
    };

    Receiver();
    /// One recvmmsg (MSG_DONTWAIT). Returns false when nothing was waiting or on error; the
    /// datagrams are in datagrams(). `full` tells whether the batch was full (more may wait).
    bool receive(int fd, UdpOffload& state, bool& full);
    [[nodiscard]] std::span<const Datagram> datagrams() const {
        return {datagrams_.data(), count_};
    }

  private:
    // Without GRO: many small buffers; with it: fewer that each hold a super-datagram.
    static constexpr std::size_t kPlainMessages = 128;
    static constexpr std::size_t kPlainBufferSize = 2048;
    static constexpr std::size_t kGroMessages = 32;
    static constexpr std::size_t kGroBufferSize = 65536;
    std::vector<std::uint8_t> area_;
    std::array<sockaddr_storage, kPlainMessages> addrs_{};
    std::array<std::array<char, 64>, kGroMessages> control_{};
    std::vector<Datagram> datagrams_;
    std::size_t count_ = 0;
};

}  // namespace netcrypto::runtime::detail
