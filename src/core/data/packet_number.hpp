// Packet numbers of the lossless layer (wire.md §6.1): 32-bit counters compared modulo 2^32, plus
// the limits shared by the send and receive buffers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace netcrypto::data {

/// A lossless packet number; every arithmetic operation on it is modulo 2^32.
using PacketNumber = std::uint32_t;

/// Entries a send or receive ring may hold at once (c-toxcore CRYPTO_PACKET_BUFFER_SIZE).
inline constexpr std::uint32_t kMaxInFlight = 32768;
/// Largest message (data id + payload) carried by one data packet (MAX_CRYPTO_DATA_SIZE).
inline constexpr std::size_t kMaxMessageSize = 1373;
/// Data id of the REQUEST control message (PACKET_ID_REQUEST).
inline constexpr std::uint8_t kRequestId = 1;

/// Steps from `from` forward to `to`, modulo 2^32 (so distance(0xffffffff, 1) == 2).
constexpr std::uint32_t distance(PacketNumber from, PacketNumber to) { return to - from; }

/// True when `x` lies in the half-open range [first, last) walked forward from `first`
/// modulo 2^32; an empty range (first == last) contains nothing.
constexpr bool in_range(PacketNumber x, PacketNumber first, PacketNumber last) {
    return distance(first, x) < distance(first, last);
}

/// True when `x` lies in the closed range [first, last] walked forward from `first` modulo
/// 2^32.
constexpr bool in_closed_range(PacketNumber x, PacketNumber first, PacketNumber last) {
    return distance(first, x) <= distance(first, last);
}

/// Serial-number order (RFC 1982 style): true when `a` comes strictly before `b`, i.e. `b` is
/// less than 2^31 steps ahead of `a`. Only meaningful for numbers less than 2^31 apart.
constexpr bool before(PacketNumber a, PacketNumber b) {
    const std::uint32_t d = distance(a, b);
    return d != 0 && d < 0x8000'0000U;
}

/// The later of two numbers in serial-number order.
constexpr PacketNumber later(PacketNumber a, PacketNumber b) { return before(a, b) ? b : a; }

}  // namespace netcrypto::data
