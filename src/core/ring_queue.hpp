// A FIFO queue on one growable ring buffer. Unlike std::deque, which allocates and frees a
// chunk every few pushes as the queue moves through memory, it allocates only when it grows
// past its largest size so far, so a steady stream (an event or a datagram per packet) costs
// no allocation. `shrink()` gives the memory back when the queue is empty and large.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace netcrypto::core {

template <class T>
class RingQueue {
  public:
    [[nodiscard]] bool empty() const { return size_ == 0; }
    [[nodiscard]] std::size_t size() const { return size_; }

    template <class... Args>
    T& emplace_back(Args&&... args) {
        if (size_ == buf_.size()) grow();
        std::optional<T>& slot = buf_[(head_ + size_) & (buf_.size() - 1)];
        slot.emplace(std::forward<Args>(args)...);
        ++size_;
        return *slot;
    }
    void push_back(const T& v) { emplace_back(v); }
    /// Appends an element for the caller to overwrite: a slot's earlier element is reused as it
    /// is (for large elements whose every use overwrites what it reads, e.g. datagrams).
    T& reuse_back() {
        if (size_ == buf_.size()) grow();
        std::optional<T>& slot = buf_[(head_ + size_) & (buf_.size() - 1)];
        if (!slot) slot.emplace();
        ++size_;
        return *slot;
    }

    [[nodiscard]] T& front() { return *buf_[head_]; }
    [[nodiscard]] const T& front() const { return *buf_[head_]; }
    /// The i-th element from the front.
    [[nodiscard]] T& at(std::size_t i) { return *buf_[(head_ + i) & (buf_.size() - 1)]; }

    /// Removes the front element (its slot keeps it, destroyed when overwritten or freed).
    void pop_front() {
        head_ = (head_ + 1) & (buf_.size() - 1);
        --size_;
    }

    /// Removes the first element matching `pred` (keeping the order of the others).
    template <class Pred>
    bool erase_first(Pred&& pred) {
        for (std::size_t i = 0; i < size_; ++i) {
            if (!pred(at(i))) continue;
            for (std::size_t j = i; j + 1 < size_; ++j) {
                slot(j) = std::move(slot(j + 1));
            }
            slot(size_ - 1).reset();
            --size_;
            return true;
        }
        return false;
    }

    /// Frees the buffer if the queue is empty and holds more than `keep` slots.
    void shrink(std::size_t keep) {
        if (size_ == 0 && buf_.size() > keep) {
            std::vector<std::optional<T>>().swap(buf_);
            head_ = 0;
        }
    }

  private:
    std::optional<T>& slot(std::size_t i) { return buf_[(head_ + i) & (buf_.size() - 1)]; }

    void grow() {
        std::vector<std::optional<T>> bigger(std::max<std::size_t>(8, buf_.size() * 2));
        for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(slot(i));
        buf_.swap(bigger);
        head_ = 0;
    }

    std::vector<std::optional<T>> buf_;  ///< capacity: 0 or a power of two
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace netcrypto::core
