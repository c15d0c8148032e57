// Sliding-bitmap replay filter.
#include "core/data/replay_window.hpp"

#include <algorithm>

namespace netcrypto::data {

namespace {

constexpr std::uint32_t kMinBits = 128;
constexpr std::uint32_t kMaxBits = 65536;

std::uint32_t words_for(std::uint32_t bits) {
    std::uint32_t rounded = kMinBits;
    while (rounded < std::min(bits, kMaxBits)) {
        rounded *= 2;
    }
    return rounded / 64;
}

std::uint64_t bit(std::uint64_t counter) { return std::uint64_t{1} << (counter & 63U); }

}  // namespace

ReplayWindow::ReplayWindow(std::uint32_t bits) : words_count_(words_for(bits)) {}

ReplayWindow::Verdict ReplayWindow::check(std::uint64_t counter) const {
    if (!words_ || counter > highest_) {
        return Verdict::kFresh;
    }
    if (highest_ - counter > window()) {
        return Verdict::kTooOld;
    }
    return (word(counter) & bit(counter)) != 0 ? Verdict::kDuplicate : Verdict::kFresh;
}

void ReplayWindow::set(std::uint64_t counter) {
    if (!words_) {
        words_ = std::make_unique<std::uint64_t[]>(words_count_);  // zeroed
        highest_ = counter;
    } else if (counter > highest_) {
        // Clear the words the window slides over (all of them after a long jump).
        const std::uint64_t from = highest_ >> 6U;
        const std::uint64_t to = counter >> 6U;
        const std::uint64_t steps = std::min<std::uint64_t>(to - from, words_count_);
        for (std::uint64_t i = 1; i <= steps; ++i) {
            words_[(from + i) & (words_count_ - 1)] = 0;
        }
        highest_ = counter;
    } else if (highest_ - counter > window()) {
        return;
    }
    word(counter) |= bit(counter);
}

bool ReplayWindow::check_and_set(std::uint64_t counter) {
    if (check(counter) != Verdict::kFresh) {
        return false;
    }
    set(counter);
    return true;
}

void ReplayWindow::reset() {
    words_.reset();
    highest_ = 0;
}

}  // namespace netcrypto::data
