// Batched UDP I/O with GSO/GRO: see udp_batch.hpp.
#include "runtime/udp_batch.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/uio.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

namespace netcrypto::runtime::detail {

namespace {

constexpr std::size_t kMaxMessages = 64;     ///< sendmmsg messages per call
constexpr std::size_t kMaxSegments = 64;     ///< UDP_MAX_SEGMENTS of older kernels
constexpr std::size_t kMaxGsoBytes = 65000;  ///< below 65535 minus IPv6/UDP headers
constexpr int kEnotsupp = 524;               ///< the kernel's ENOTSUPP, seen by user space

bool same_destination(const OutDatagram& a, const OutDatagram& b) {
    return a.addr_len == b.addr_len && std::memcmp(a.addr, b.addr, a.addr_len) == 0;
}

/// Errors that mean "this socket or path cannot do GSO": turn it off and resend.
bool gso_refusal(int err) {
    return err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP ||
           err == kEnotsupp || err == EMSGSIZE;
}

/// The messages of one sendmmsg call, each one datagram or a GSO group of several.
struct Batch {
    std::array<mmsghdr, kMaxMessages> msgs{};
    std::array<iovec, kMaxMessages * kMaxSegments> iov{};
    std::array<std::array<char, CMSG_SPACE(sizeof(std::uint16_t))>, kMaxMessages> control{};
    std::array<std::size_t, kMaxMessages> datagrams{};  ///< datagrams in each message
    std::array<bool, kMaxMessages> segmented{};
    std::size_t count = 0;

    /// Fills messages from out[first...]; returns how many datagrams they hold.
    std::size_t build(std::span<const OutDatagram> out, bool gso) {
        count = 0;
        std::size_t i = 0;
        std::size_t used_iov = 0;
        while (i < out.size() && count < kMaxMessages) {
            const OutDatagram& head = out[i];
            std::size_t n = 1;
            std::size_t bytes = head.size;
            if (gso) {
                // Followers of the same size join; a shorter one joins and closes the group.
                while (i + n < out.size() && n < kMaxSegments) {
                    const OutDatagram& d = out[i + n];
                    if (!same_destination(head, d) || d.size > head.size || d.size == 0 ||
                        bytes + d.size > kMaxGsoBytes)
                        break;
                    bytes += d.size;
                    ++n;
                    if (d.size < head.size) break;
                }
            }
            mmsghdr& m = msgs[count];
            m = {};
            for (std::size_t k = 0; k < n; ++k) {
                iov[used_iov + k] = {const_cast<std::uint8_t*>(out[i + k].data), out[i + k].size};
            }
            m.msg_hdr.msg_iov = &iov[used_iov];
            m.msg_hdr.msg_iovlen = n;
            m.msg_hdr.msg_name = const_cast<sockaddr_storage*>(head.addr);
            m.msg_hdr.msg_namelen = head.addr_len;
            segmented[count] = n > 1;
            if (n > 1) {
                m.msg_hdr.msg_control = control[count].data();
                m.msg_hdr.msg_controllen = control[count].size();
                cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr);
                c->cmsg_level = SOL_UDP;
                c->cmsg_type = UDP_SEGMENT;
                c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
                const auto seg = static_cast<std::uint16_t>(head.size);
                std::memcpy(CMSG_DATA(c), &seg, sizeof(seg));
            }
            datagrams[count] = n;
            used_iov += n;
            i += n;
            ++count;
        }
        return i;
    }
};

}  // namespace

void enable_offloads(int fd, bool want_gso, bool want_gro, UdpOffload& state) {
    if (want_gso) {
        int seg = 0;
        socklen_t len = sizeof(seg);
        state.gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, &len) == 0;
    }
    if (want_gro) {
        const int on = 1;
        state.gro = setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof(on)) == 0;
    }
}

std::pair<int, int> size_buffers(int fd, int bytes) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) != 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
    int rcv = 0;
    int snd = 0;
    socklen_t len = sizeof(rcv);
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len);
    len = sizeof(snd);
    getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, &len);
    return {rcv, snd};
}

std::size_t send_datagrams(int fd, std::span<const OutDatagram> out, UdpOffload& state) {
    static thread_local Batch batch;
    std::size_t done = 0;
    while (done < out.size()) {
        const std::size_t covered = batch.build(out.subspan(done), state.gso);
        std::size_t sent_msgs = 0;
        bool blocked = false;
        bool rebuild = false;
        while (sent_msgs < batch.count) {
            ++state.send_calls;
            const int r = sendmmsg(fd, batch.msgs.data() + sent_msgs,
                                   static_cast<unsigned>(batch.count - sent_msgs), MSG_DONTWAIT);
            if (r > 0) {
                for (std::size_t k = sent_msgs; k < sent_msgs + static_cast<std::size_t>(r); ++k) {
                    done += batch.datagrams[k];
                    if (batch.segmented[k]) ++state.gso_messages;
                }
                sent_msgs += static_cast<std::size_t>(r);
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                blocked = true;
                break;
            }
            if (errno == EINTR) continue;
            if (batch.segmented[sent_msgs] && gso_refusal(errno)) {
                // The kernel (or this path) will not segment: off for good on this socket,
                // and this message and the rest are rebuilt as single datagrams.
                state.gso = false;
                ++state.gso_fallbacks;
                rebuild = true;
                break;
            }
            // A datagram the kernel refuses (e.g. unreachable) is lost like on a link.
            state.send_errors += batch.datagrams[sent_msgs];
            done += batch.datagrams[sent_msgs];
            ++sent_msgs;
        }
        if (blocked) return done;
        if (!rebuild && covered == 0) break;
    }
    return done;
}

Receiver::Receiver() : area_(kGroMessages * kGroBufferSize) { datagrams_.reserve(4096); }

bool Receiver::receive(int fd, UdpOffload& state, bool& full) {
    static thread_local std::array<mmsghdr, kPlainMessages> msgs{};
    static thread_local std::array<iovec, kPlainMessages> iov{};
    const std::size_t count = state.gro ? kGroMessages : kPlainMessages;
    const std::size_t size = state.gro ? kGroBufferSize : kPlainBufferSize;
    for (std::size_t i = 0; i < count; ++i) {
        iov[i] = {area_.data() + i * size, size};
        msgs[i].msg_hdr = {};
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &addrs_[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
        if (state.gro) {
            msgs[i].msg_hdr.msg_control = control_[i].data();
            msgs[i].msg_hdr.msg_controllen = control_[i].size();
        }
    }
    datagrams_.clear();
    count_ = 0;
    full = false;
    const int n = recvmmsg(fd, msgs.data(), static_cast<unsigned>(count), MSG_DONTWAIT, nullptr);
    if (n <= 0) return false;
    ++state.receive_calls;
    full = static_cast<std::size_t>(n) == count;
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
        const msghdr& h = msgs[i].msg_hdr;
        const std::size_t len = msgs[i].msg_len;
        std::size_t seg = len;
        if (state.gro) {
            for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr;
                 c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
                if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                    int v = 0;
                    std::memcpy(&v, CMSG_DATA(c), sizeof(v));
                    if (v > 0) seg = static_cast<std::size_t>(v);
                }
            }
        }
        const std::uint8_t* base = area_.data() + i * size;
        if (len == 0) {  // an empty datagram is a datagram too
            datagrams_.push_back({{}, &addrs_[i], h.msg_namelen});
            continue;
        }
        if (seg < len) ++state.gro_messages;
        for (std::size_t off = 0; off < len; off += seg) {
            datagrams_.push_back(
                {std::span<const std::uint8_t>(base + off, std::min(seg, len - off)), &addrs_[i],
                 h.msg_namelen});
        }
    }
    count_ = datagrams_.size();
    return true;
}

}  // namespace netcrypto::runtime::detail
