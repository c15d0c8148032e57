// The receive ring of the lossless layer (wire.md §6.1, §6.3, §6.4): messages received out of
// order wait here until the gap below them is filled, then leave in packet-number order.
//
// data::Stream (stream.cpp) calls accept() for each lossless message, extend_end() for REQUEST
// and lossy ones, pop_ready() when the application reads, encode_request() for its REQUESTs
// and start() as the ack field of every data packet; trim() returns memory while it is empty.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "core/data/packet_number.hpp"

namespace netcrypto::data {

/// What accept() did with a lossless message.
enum class AcceptResult : std::uint8_t {
    kAccepted,     ///< stored; pop_ready() may now yield messages
    kDuplicate,    ///< already stored, or already delivered (number below start)
    kOutOfWindow,  ///< number not in [start, start + kMaxInFlight) nor recently delivered
    kOverBudget,   ///< out-of-order message dropped to respect the byte budget (re-requested later)
    kInvalid,      ///< empty message or longer than kMaxMessageSize
};

/// Receive ring [start, end) with a memory budget. Messages are copied into fixed blocks of
/// kBlockSize bytes taken from a pool that grows on demand and is reused (steady state does
/// not allocate); slots are a power-of-two ring of 16-bit block ids covering only as far as
/// the farthest stored message. memory_bytes() (pool + ring) never exceeds max_bytes, except
/// that the message numbered exactly start() is always accepted so progress is guaranteed:
/// out-of-order messages are admitted only while one more block would still fit.
class RecvBuffer {
  public:
    /// Default memory budget.
    static constexpr std::size_t kDefaultMaxBytes = std::size_t{4} << 20U;
    /// Bytes of one pool block: 2 length bytes + the largest message.
    static constexpr std::size_t kBlockSize = 2 + kMaxMessageSize;

    /// An empty ring expecting number `first` next (0 for a new connection; other values
    /// are for tests) with a memory budget of `max_bytes`. Allocates nothing.
    explicit RecvBuffer(std::size_t max_bytes = kDefaultMaxBytes, PacketNumber first = 0);
    RecvBuffer(const RecvBuffer&) = delete;
    RecvBuffer& operator=(const RecvBuffer&) = delete;
    RecvBuffer(RecvBuffer&&) noexcept = default;
    RecvBuffer& operator=(RecvBuffer&&) noexcept = default;
    ~RecvBuffer() = default;

    /// Stores lossless message `number` (data id first) if number - start < kMaxInFlight, its
    /// slot is empty and the budget allows; moves end past it. See AcceptResult.
    AcceptResult accept(PacketNumber number, std::span<const std::uint8_t> message);

    /// Moves end to `num` (the `num` field of a REQUEST or lossy packet) when
    /// num - start <= kMaxInFlight and num - end <= kMaxInFlight; returns whether it moved.
    bool extend_end(PacketNumber num);

    /// Removes and returns the message numbered start() if it is stored, advancing start.
    /// The span stays valid until the next accept(), trim() or destruction.
    std::optional<std::span<const std::uint8_t>> pop_ready();

    /// Calls `deliver(std::span<const std::uint8_t>)` for each consecutive message from
    /// start (advancing start) and returns how many were delivered. `deliver` must not call
    /// back into this buffer.
    template <class Deliver>
    std::size_t deliver_ready(Deliver&& deliver) {
        std::size_t count = 0;
        while (const auto message = pop_ready()) {
            deliver(*message);
            ++count;
        }
        return count;
    }

    /// Writes the REQUEST message (id byte 0x01, then the hole encoding of [start, end),
    /// truncated to min(out.size(), kMaxMessageSize) bytes) and returns its length (0 only
    /// when `out` is empty).
    std::size_t encode_request(std::span<std::uint8_t> out) const;
    /// The same, describing only [start, limit) when `limit` lies in [start, end]: numbers from
    /// `limit` on are left unmentioned (neither acknowledged nor requested).
    std::size_t encode_request(std::span<std::uint8_t> out, PacketNumber limit) const;

    /// True when message `number` is stored (received, not yet delivered).
    [[nodiscard]] bool contains(PacketNumber number) const;
    /// Lowest number not yet delivered: the `ack` field of every data packet we send.
    [[nodiscard]] PacketNumber start() const { return start_; }
    /// One past the highest number known to exist.
    [[nodiscard]] PacketNumber end() const { return end_; }
    /// Messages stored (waiting for delivery).
    /// Asks the CPU to load the ring entry of the next expected message.
    void prefetch_next() const {
        if (ring_capacity_ != 0) __builtin_prefetch(&ring_[start_ & (ring_capacity_ - 1)]);
    }
    [[nodiscard]] std::uint32_t stored_count() const { return stored_count_; }
    /// Message bytes stored.
    [[nodiscard]] std::size_t stored_bytes() const { return stored_bytes_; }
    /// Heap bytes owned right now (block pool + slot ring; bookkeeping vectors excluded).
    [[nodiscard]] std::size_t memory_bytes() const;
    /// The memory budget.
    [[nodiscard]] std::size_t max_bytes() const { return max_bytes_; }

    /// Frees the block pool and the slot ring when nothing is stored; call from an idle timer.
    void trim();

  private:
    using BlockId = std::uint16_t;  // 1-based; 0 marks an empty slot

    [[nodiscard]] BlockId slot(PacketNumber n) const {
        return distance(start_, n) < ring_capacity_ ? ring_[n & (ring_capacity_ - 1)] : 0;
    }
    [[nodiscard]] std::uint8_t* block(BlockId id) { return blocks_[id - 1U].get(); }
    void grow_ring(std::uint32_t capacity);

    std::unique_ptr<BlockId[]> ring_;
    std::vector<std::unique_ptr<std::uint8_t[]>> blocks_;
    std::vector<BlockId> free_blocks_;
    std::size_t max_bytes_;
    std::size_t stored_bytes_ = 0;
    std::uint32_t ring_capacity_ = 0;
    std::uint32_t stored_count_ = 0;
    PacketNumber start_ = 0;
    PacketNumber end_ = 0;
};

}  // namespace netcrypto::data
