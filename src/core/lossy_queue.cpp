// The lossy message pool and the per-connection queues in it (lossy_queue.hpp).
#include "core/lossy_queue.hpp"

#include <algorithm>

namespace netcrypto::core {

std::uint32_t LossyPool::store(std::span<const std::uint8_t> message) {
    if (message.size() > wire::kMaxMessageSize || in_use_ >= max_) return kNone;
    if (free_ == kNone) {
        // Grow by one chunk, its slots chained into the free list in index order.
        const auto first = static_cast<std::uint32_t>(capacity());
        if (first > kNone - kChunkSlots) return kNone;
        chunks_.push_back(std::make_unique<Chunk>());
        for (std::uint32_t k = kChunkSlots; k-- > 0;) {
            slot(first + k).next = free_;
            free_ = first + k;
        }
    }
    const std::uint32_t index = free_;
    Slot& s = slot(index);
    free_ = s.next;
    s.next = kNone;
    s.size = static_cast<std::uint16_t>(message.size());
    std::copy(message.begin(), message.end(), s.bytes.begin());
    ++in_use_;
    return index;
}

std::size_t LossyPool::copy(std::uint32_t index, std::span<std::uint8_t> out) const {
    const Slot& s = slot(index);
    const std::size_t n = std::min<std::size_t>(s.size, out.size());
    std::copy_n(s.bytes.begin(), n, out.begin());
    return n;
}

void LossyPool::release(std::uint32_t index) {
    Slot& s = slot(index);
    s.next = free_;
    free_ = index;
    --in_use_;
}

LossyQueue::LossyQueue(LossyQueue&& other) noexcept
    : pool_(other.pool_),
      head_(other.head_),
      tail_(other.tail_),
      count_(other.count_),
      max_(other.max_) {
    other.head_ = other.tail_ = LossyPool::kNone;
    other.count_ = 0;
}

LossyQueue& LossyQueue::operator=(LossyQueue&& other) noexcept {
    if (this != &other) {
        clear();
        pool_ = other.pool_;
        head_ = other.head_;
        tail_ = other.tail_;
        count_ = other.count_;
        max_ = other.max_;
        other.head_ = other.tail_ = LossyPool::kNone;
        other.count_ = 0;
    }
    return *this;
}

void LossyQueue::drop_oldest() {
    const std::uint32_t old = head_;
    head_ = pool_->next(old);
    if (head_ == LossyPool::kNone) tail_ = LossyPool::kNone;
    pool_->release(old);
    --count_;
}

bool LossyQueue::push(std::span<const std::uint8_t> message) {
    if (max_ == 0 || pool_ == nullptr || message.size() > wire::kMaxMessageSize) return false;
    bool dropped = false;
    if (count_ >= max_) {
        drop_oldest();
        dropped = true;
    }
    std::uint32_t index = pool_->store(message);
    if (index == LossyPool::kNone && count_ > 0 && !dropped) {
        // The pool is exhausted (other connections hold it): our newest beats our oldest.
        drop_oldest();
        dropped = true;
        index = pool_->store(message);
    }
    if (index == LossyPool::kNone) return false;
    if (tail_ == LossyPool::kNone) {
        head_ = index;
    } else {
        pool_->link(tail_, index);
    }
    tail_ = index;
    ++count_;
    return !dropped;
}

std::size_t LossyQueue::pop(std::span<std::uint8_t> out) {
    if (count_ == 0) return 0;
    const std::size_t n = pool_->copy(head_, out);
    drop_oldest();
    return n;
}

void LossyQueue::clear() {
    while (count_ > 0) drop_oldest();
}

}  // namespace netcrypto::core
