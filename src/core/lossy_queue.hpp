// Received lossy messages waiting for the application. Every connection's queue is a FIFO of
// slots taken from one pool the endpoint owns:
// - memory follows what is queued now, not what each connection once queued (per-connection
//   slot storage kept the largest burst a connection ever had: up to 256 × 1373 bytes each);
// - a slot freed by a read is the next one taken, so a push writes to a line still in cache
//   (one cold allocation per connection cost two dependent cache misses per packet);
// - steady-state traffic allocates nothing: the pool grows in chunks up to its high-water mark.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/wire/constants.hpp"

namespace netcrypto::core {

/// Fixed-size message slots shared by every connection's LossyQueue, at most `max_messages`
/// in use at once. Slots are linked through `next` into per-queue FIFOs and one free list.
class LossyPool {
  public:
    static constexpr std::uint32_t kNone = 0xFFFF'FFFFU;

    explicit LossyPool(std::size_t max_messages) : max_(max_messages) {}
    LossyPool(const LossyPool&) = delete;
    LossyPool& operator=(const LossyPool&) = delete;
    LossyPool(LossyPool&&) = delete;
    LossyPool& operator=(LossyPool&&) = delete;
    ~LossyPool() = default;

    /// Copies `message` (≤ kMaxMessageSize bytes) into a free slot; its index, or kNone when
    /// `max_messages` slots are in use.
    std::uint32_t store(std::span<const std::uint8_t> message);
    /// Copies slot `index` into `out` (truncated to out.size()); the number of bytes copied.
    std::size_t copy(std::uint32_t index, std::span<std::uint8_t> out) const;
    /// Returns slot `index` to the free list.
    void release(std::uint32_t index);

    [[nodiscard]] std::uint32_t next(std::uint32_t index) const { return slot(index).next; }
    void link(std::uint32_t index, std::uint32_t next) { slot(index).next = next; }
    /// Asks the CPU to load the slot the next store() writes.
    void prefetch_store() const {
        if (free_ != kNone) __builtin_prefetch(&slot(free_));
    }

    [[nodiscard]] std::size_t in_use() const { return in_use_; }
    /// Slots allocated so far (the high-water mark, rounded up to a chunk).
    [[nodiscard]] std::size_t capacity() const { return chunks_.size() * kChunkSlots; }

  private:
    static constexpr std::size_t kChunkSlots = 32;
    struct Slot {
        std::uint32_t next = kNone;
        std::uint16_t size = 0;
        std::array<std::uint8_t, wire::kMaxMessageSize> bytes{};
    };
    using Chunk = std::array<Slot, kChunkSlots>;

    Slot& slot(std::uint32_t i) { return (*chunks_[i / kChunkSlots])[i % kChunkSlots]; }
    [[nodiscard]] const Slot& slot(std::uint32_t i) const {
        return (*chunks_[i / kChunkSlots])[i % kChunkSlots];
    }

    std::vector<std::unique_ptr<Chunk>> chunks_;  ///< stable addresses: a chunk never moves
    std::uint32_t free_ = kNone;                  ///< most recently released first
    std::size_t in_use_ = 0;
    std::size_t max_;
};

/// One connection's bounded FIFO of lossy messages in a LossyPool. When it holds
/// `max_messages`, the oldest message makes room; when the pool is exhausted, the queue's own
/// oldest message does (or, if the queue is empty, the new one is dropped).
class LossyQueue {
  public:
    /// `pool` may be null only if `max_messages` is 0 (nothing is ever kept).
    LossyQueue(LossyPool* pool, std::size_t max_messages) : pool_(pool), max_(max_messages) {}
    LossyQueue(const LossyQueue&) = delete;
    LossyQueue& operator=(const LossyQueue&) = delete;
    LossyQueue(LossyQueue&& other) noexcept;
    LossyQueue& operator=(LossyQueue&& other) noexcept;
    ~LossyQueue() { clear(); }

    /// Appends a copy of `message`; false if a message (an older one, or this one) was dropped.
    bool push(std::span<const std::uint8_t> message);
    /// Copies the oldest message into `out` (truncated to out.size()) and removes it; 0 if empty.
    std::size_t pop(std::span<std::uint8_t> out);
    /// Gives every slot back to the pool.
    void clear();

    /// Asks the CPU to load the slot the next push() writes.
    void prefetch_push() const {
        if (pool_ != nullptr) pool_->prefetch_store();
    }

    [[nodiscard]] std::size_t size() const { return count_; }
    [[nodiscard]] bool empty() const { return count_ == 0; }

  private:
    void drop_oldest();

    LossyPool* pool_;
    std::uint32_t head_ = LossyPool::kNone;
    std::uint32_t tail_ = LossyPool::kNone;
    std::size_t count_ = 0;
    std::size_t max_;
};

}  // namespace netcrypto::core
