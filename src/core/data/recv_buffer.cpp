// Receive ring of the lossless layer.
#include "core/data/recv_buffer.hpp"

#include <cstring>

#include "core/data/request.hpp"

namespace netcrypto::data {

namespace {

constexpr std::uint32_t kMinRing = 8;

std::uint32_t ring_size_for(std::uint32_t offset) {
    std::uint32_t capacity = kMinRing;
    while (capacity <= offset) {
        capacity *= 2;
    }
    return capacity;
}

}  // namespace

RecvBuffer::RecvBuffer(std::size_t max_bytes, PacketNumber first)
    : max_bytes_(max_bytes), start_(first), end_(first) {}

std::size_t RecvBuffer::memory_bytes() const {
    return (std::size_t{ring_capacity_} * sizeof(BlockId)) + (blocks_.size() * kBlockSize);
}

bool RecvBuffer::contains(PacketNumber number) const { return slot(number) != 0; }

void RecvBuffer::grow_ring(std::uint32_t capacity) {
    auto ring = std::make_unique<BlockId[]>(capacity);  // zeroed: all slots empty
    for (std::uint32_t d = 0; d < ring_capacity_; ++d) {
        const PacketNumber n = start_ + d;
        ring[n & (capacity - 1)] = ring_[n & (ring_capacity_ - 1)];
    }
    ring_ = std::move(ring);
    ring_capacity_ = capacity;
}

AcceptResult RecvBuffer::accept(PacketNumber number, std::span<const std::uint8_t> message) {
    if (message.empty() || message.size() > kMaxMessageSize) {
        return AcceptResult::kInvalid;
    }
    const std::uint32_t offset = distance(start_, number);
    if (offset >= kMaxInFlight) {
        return distance(number, start_) <= kMaxInFlight ? AcceptResult::kDuplicate
                                                        : AcceptResult::kOutOfWindow;
    }
    if (slot(number) != 0) {
        return AcceptResult::kDuplicate;
    }
    const std::uint32_t ring_needed =
        offset < ring_capacity_ ? ring_capacity_ : ring_size_for(offset);
    const std::size_t blocks_needed = blocks_.size() + (free_blocks_.empty() ? 1U : 0U);
    const std::size_t memory_after =
        (std::size_t{ring_needed} * sizeof(BlockId)) + (blocks_needed * kBlockSize);
    // Out-of-order messages must leave room for one more block: the one at start.
    if (offset != 0 && memory_after + kBlockSize > max_bytes_) {
        return AcceptResult::kOverBudget;
    }
    if (ring_needed != ring_capacity_) {
        grow_ring(ring_needed);
    }
    if (free_blocks_.empty()) {
        blocks_.push_back(std::make_unique_for_overwrite<std::uint8_t[]>(kBlockSize));
        // Keep free_blocks_ able to hold every block so releasing never allocates.
        free_blocks_.reserve(blocks_.size());
        free_blocks_.push_back(static_cast<BlockId>(blocks_.size()));
    }
    const BlockId id = free_blocks_.back();
    free_blocks_.pop_back();
    std::uint8_t* b = block(id);
    b[0] = static_cast<std::uint8_t>(message.size() >> 8U);
    b[1] = static_cast<std::uint8_t>(message.size() & 0xffU);
    std::memcpy(b + 2, message.data(), message.size());
    ring_[number & (ring_capacity_ - 1)] = id;
    ++stored_count_;
    stored_bytes_ += message.size();
    if (offset >= distance(start_, end_)) {
        end_ = number + 1;
    }
    return AcceptResult::kAccepted;
}

bool RecvBuffer::extend_end(PacketNumber num) {
    if (distance(start_, num) > kMaxInFlight || distance(end_, num) > kMaxInFlight) {
        return false;
    }
    const bool moved = num != end_;
    end_ = num;
    return moved;
}

std::optional<std::span<const std::uint8_t>> RecvBuffer::pop_ready() {
    const BlockId id = slot(start_);
    if (id == 0) {
        return std::nullopt;
    }
    ring_[start_ & (ring_capacity_ - 1)] = 0;
    free_blocks_.push_back(id);  // capacity reserved when the block was created
    const std::uint8_t* b = block(id);
    const std::size_t length = (std::size_t{b[0]} << 8U) | b[1];
    --stored_count_;
    stored_bytes_ -= length;
    ++start_;
    return std::span<const std::uint8_t>(b + 2, length);
}

std::size_t RecvBuffer::encode_request(std::span<std::uint8_t> out) const {
    return encode_request(out, end_);
}

std::size_t RecvBuffer::encode_request(std::span<std::uint8_t> out, PacketNumber limit) const {
    RequestEncoder encoder(out);
    if (out.empty()) {
        return 0;
    }
    const std::uint32_t count =
        in_closed_range(limit, start_, end_) ? distance(start_, limit) : distance(start_, end_);
    for (std::uint32_t d = 0; d < count && !encoder.full(); ++d) {
        if (d >= ring_capacity_ || ring_[(start_ + d) & (ring_capacity_ - 1)] == 0) {
            encoder.add_hole(d);
        }
    }
    return encoder.finish(count);
}

void RecvBuffer::trim() {
    if (stored_count_ != 0) {
        return;
    }
    ring_.reset();
    ring_capacity_ = 0;
    std::vector<std::unique_ptr<std::uint8_t[]>>().swap(blocks_);
    std::vector<BlockId>().swap(free_blocks_);
}

}  // namespace netcrypto::data
