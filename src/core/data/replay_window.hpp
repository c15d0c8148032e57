// Replay filter for data packets (wire.md §5, §8 item 6): remembers which nonce counters were
// accepted so a captured packet cannot be processed twice. Local behaviour only; the wire is
// unchanged.
//
// Why the default window is 8128 counters and not the 65536 that decryption allows: c-toxcore
// peers take a fresh nonce for every transmission (retransmissions included) and never move
// backwards, so a counter below the newest one only arrives through network reordering. A
// window of 8128 tolerates reordering by 8128 packets (hundreds of milliseconds even at
// 100 Mbit/s); a packet older than that is refused like a lost one: lossless messages are
// requested again by REQUEST, lossy ones are lost. The bitmap is then 1 KiB, allocated on the
// first set(). Callers wanting the full decryptable range construct it with 65536 bits (8 KiB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace netcrypto::data {

/// Sliding bitmap over 64-bit nonce counters (counter = nonces after the peer's base nonce).
/// check() is pure so it can run before the decryption cost; set() records a counter once the
/// packet authenticated.
class ReplayWindow {
  public:
    /// Default bitmap size in bits (window() = bits - 64).
    static constexpr std::uint32_t kDefaultBits = 8192;

    /// The verdict of check().
    enum class Verdict : std::uint8_t {
        kFresh,      ///< never seen and not too old: may be accepted
        kDuplicate,  ///< already accepted
        kTooOld,     ///< more than window() below the highest accepted counter
    };

    /// An empty window over a bitmap of `bits` bits, rounded up to a power of two in
    /// [128, 65536]. Allocates nothing.
    explicit ReplayWindow(std::uint32_t bits = kDefaultBits);

    /// Classifies `counter` without changing anything.
    [[nodiscard]] Verdict check(std::uint64_t counter) const;
    /// Records `counter` as accepted, sliding the window forward if it is the new highest.
    /// A counter that check() would call kTooOld is ignored.
    void set(std::uint64_t counter);
    /// check() then set(); true when the counter was fresh.
    bool check_and_set(std::uint64_t counter);

    /// Counters below highest() by more than this are kTooOld.
    [[nodiscard]] std::uint64_t window() const { return std::uint64_t{words_count_} * 64 - 64; }
    /// Highest counter set so far (0 when empty()).
    [[nodiscard]] std::uint64_t highest() const { return highest_; }
    /// True until the first set().
    [[nodiscard]] bool empty() const { return !words_; }
    /// Heap bytes owned (0 until the first set()).
    [[nodiscard]] std::size_t memory_bytes() const {
        return words_ ? std::size_t{words_count_} * sizeof(std::uint64_t) : 0;
    }
    /// Asks the CPU to load the bitmap word of `counter` (no effect on the window).
    void prefetch(std::uint64_t counter) const {
        if (words_) __builtin_prefetch(&word(counter));
    }
    /// Forgets everything (e.g. when a new handshake resets the peer's base nonce).
    void reset();

  private:
    [[nodiscard]] std::uint64_t& word(std::uint64_t counter) {
        return words_[(counter >> 6U) & (words_count_ - 1)];
    }
    [[nodiscard]] const std::uint64_t& word(std::uint64_t counter) const {
        return words_[(counter >> 6U) & (words_count_ - 1)];
    }

    std::unique_ptr<std::uint64_t[]> words_;
    std::uint64_t highest_ = 0;
    std::uint32_t words_count_;
};

}  // namespace netcrypto::data
