// REQUEST hole encoding and decoding (wire.md §6.4).
#include "core/data/request.hpp"

namespace netcrypto::data {

namespace {
constexpr std::uint32_t kRun = 255;  // numbers skipped by a 0 byte
}  // namespace

tl::expected<std::span<const std::uint8_t>, RequestError> request_holes(
    std::span<const std::uint8_t> message) {
    if (message.empty()) {
        return tl::make_unexpected(RequestError::kEmpty);
    }
    if (message[0] != kRequestId) {
        return tl::make_unexpected(RequestError::kWrongId);
    }
    return message.subspan(1);
}

RequestDecoder::RequestDecoder(std::span<const std::uint8_t> holes, PacketNumber base,
                               PacketNumber limit)
    : holes_(holes), next_number_(base), remaining_(distance(base, limit)) {}

std::optional<RequestStep> RequestDecoder::next() {
    if (pos_ >= holes_.size() || remaining_ == 0) {
        return std::nullopt;
    }
    const std::uint8_t b = holes_[pos_++];
    const std::uint32_t run = b == 0 ? kRun : static_cast<std::uint32_t>(b) - 1;
    RequestStep step;
    step.acked_first = next_number_;
    step.acked_count = run < remaining_ ? run : remaining_;
    next_number_ += step.acked_count;
    remaining_ -= step.acked_count;
    if (b != 0 && remaining_ > 0) {
        step.requested = true;
        step.requested_number = next_number_;
        ++next_number_;
        --remaining_;
    }
    return step;
}

RequestEncoder::RequestEncoder(std::span<std::uint8_t> out)
    : out_(out), cap_(out.size() < kMaxMessageSize ? out.size() : kMaxMessageSize) {
    if (cap_ > 0) {
        out_[0] = kRequestId;
        len_ = 1;
    }
}

bool RequestEncoder::emit(std::uint8_t b) {
    if (len_ >= cap_) {
        return false;
    }
    out_[len_++] = b;
    return true;
}

bool RequestEncoder::add_hole(std::uint32_t offset) {
    std::int64_t gap = static_cast<std::int64_t>(offset) - last_hole_;
    last_hole_ = offset;
    while (gap > kRun) {
        if (!emit(0)) {
            return false;
        }
        gap -= kRun;
    }
    return emit(static_cast<std::uint8_t>(gap));
}

std::size_t RequestEncoder::finish(std::uint32_t count) {
    // A run of received numbers after the last hole is acknowledged in steps of 255.
    std::int64_t tail = static_cast<std::int64_t>(count) - 1 - last_hole_;
    while (tail >= kRun && emit(0)) {
        tail -= kRun;
    }
    return len_;
}

}  // namespace netcrypto::data
