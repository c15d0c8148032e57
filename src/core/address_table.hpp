// Salted hashing of attacker-chosen keys, and the endpoint's address → slot table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <netcrypto/address.hpp>
#include <netcrypto/keys.hpp>

namespace netcrypto::core {

/// SipHash-2-4 (libsodium crypto_shorthash) keyed per endpoint: attackers choose addresses and
/// keys, so table hashes must not be predictable.
struct SaltedHash {
    std::array<std::uint8_t, 16> key{};
    std::size_t operator()(const Address& a) const noexcept;
    std::size_t operator()(const PublicKey& k) const noexcept;
};

/// Address → slot index: open addressing with linear probing (load ≤ 1/2) and backward-shift
/// deletion. Each entry keeps its salted hash next to the key, so a lookup compares hashes and
/// usually reads a single cache line; std::unordered_map walks two or three list nodes per
/// lookup and re-hashes every node it passes (it does not cache SipHash results), which costs
/// several cache misses per datagram once the table outgrows the caches.
class AddressTable {
  public:
    explicit AddressTable(const SaltedHash& hash) : hash_(hash) {}

    /// The index bound to `a`, or nullptr.
    [[nodiscard]] const std::uint32_t* find(const Address& a) const;
    /// Binds `a` to `value` (replacing an existing binding).
    void assign(const Address& a, std::uint32_t value);
    /// Removes the binding of `a` if it is `value`.
    void erase(const Address& a, std::uint32_t value);
    [[nodiscard]] std::size_t size() const { return size_; }

  private:
    static constexpr std::uint32_t kEmpty = 0xFFFF'FFFFU;
    struct Entry {
        std::uint64_t hash = 0;
        Address address;
        std::uint32_t value = kEmpty;
    };
    [[nodiscard]] std::size_t mask() const { return entries_.size() - 1; }
    void grow();

    SaltedHash hash_;
    std::vector<Entry> entries_;  ///< empty or a power of two
    std::size_t size_ = 0;
};

}  // namespace netcrypto::core
