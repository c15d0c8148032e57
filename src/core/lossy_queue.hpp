// Received lossy messages waiting for the application: a bounded FIFO whose slots keep their
// storage, so steady-state traffic allocates nothing. When full, the oldest message is dropped.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace netcrypto::core {

/// A bounded FIFO of byte messages (each ≤ 1373 bytes).
class LossyQueue {
  public:
    explicit LossyQueue(std::size_t max_messages) : max_(max_messages) {}

    /// Appends a copy of `message`; returns false if the oldest message had to be dropped.
    bool push(std::span<const std::uint8_t> message) {
        if (max_ == 0) return false;
        bool dropped = false;
        if (count_ == max_) {
            head_ = (head_ + 1) % slots_.size();
            --count_;
            dropped = true;
        }
        if (count_ == slots_.size()) {
            // Full ring that may still grow: add a slot where the tail goes, keeping FIFO order.
            if (head_ == 0) {
                slots_.emplace_back();
            } else {
                slots_.insert(slots_.begin() + static_cast<std::ptrdiff_t>(head_),
                              std::vector<std::uint8_t>{});
                ++head_;
            }
        }
        auto& slot = slots_[(head_ + count_) % slots_.size()];
        slot.assign(message.begin(), message.end());
        ++count_;
        return !dropped;
    }

    /// Copies the oldest message into `out` (truncated to out.size()) and removes it; 0 if empty.
    std::size_t pop(std::span<std::uint8_t> out) {
        if (count_ == 0) return 0;
        auto& slot = slots_[head_];
        const std::size_t n = std::min(slot.size(), out.size());
        std::copy_n(slot.begin(), n, out.begin());
        head_ = (head_ + 1) % slots_.size();
        --count_;
        return n;
    }

    /// Asks the CPU to load the slot the next push() writes.
    void prefetch_push() const {
        if (!slots_.empty()) __builtin_prefetch(&slots_[(head_ + count_) % slots_.size()]);
    }

    [[nodiscard]] std::size_t size() const { return count_; }
    [[nodiscard]] bool empty() const { return count_ == 0; }

  private:
    std::vector<std::vector<std::uint8_t>> slots_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
    std::size_t max_;
};

}  // namespace netcrypto::core
