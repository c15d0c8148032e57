#include "core/address_table.hpp"

#include <algorithm>

#include <sodium.h>

namespace netcrypto::core {

// --- hashing -----------------------------------------------------------------------------------

std::size_t SaltedHash::operator()(const Address& a) const noexcept {
    std::array<std::uint8_t, 19> buf{};
    buf[0] = static_cast<std::uint8_t>(a.family);
    std::copy(a.ip.begin(), a.ip.end(), buf.begin() + 1);
    buf[17] = static_cast<std::uint8_t>(a.port >> 8U);
    buf[18] = static_cast<std::uint8_t>(a.port & 0xFFU);
    std::uint64_t h = 0;
    crypto_shorthash(reinterpret_cast<unsigned char*>(&h), buf.data(), buf.size(), key.data());
    return static_cast<std::size_t>(h);
}

std::size_t SaltedHash::operator()(const PublicKey& k) const noexcept {
    std::uint64_t h = 0;
    crypto_shorthash(reinterpret_cast<unsigned char*>(&h), k.bytes.data(), k.bytes.size(),
                     key.data());
    return static_cast<std::size_t>(h);
}

// --- the address table ------------------------------------------------------------------------

const std::uint32_t* AddressTable::find(const Address& a) const {
    if (entries_.empty()) return nullptr;
    const std::uint64_t h = hash_(a);
    for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
        const Entry& e = entries_[i];
        if (e.value == kEmpty) return nullptr;
        if (e.hash == h && e.address == a) return &e.value;
    }
}

void AddressTable::assign(const Address& a, std::uint32_t value) {
    if (2 * (size_ + 1) > entries_.size()) grow();
    const std::uint64_t h = hash_(a);
    for (std::size_t i = h & mask();; i = (i + 1) & mask()) {
        Entry& e = entries_[i];
        if (e.value == kEmpty) {
            e = Entry{h, a, value};
            ++size_;
            return;
        }
        if (e.hash == h && e.address == a) {
            e.value = value;
            return;
        }
    }
}

void AddressTable::erase(const Address& a, std::uint32_t value) {
    if (entries_.empty()) return;
    const std::uint64_t h = hash_(a);
    std::size_t i = h & mask();
    for (;; i = (i + 1) & mask()) {
        const Entry& e = entries_[i];
        if (e.value == kEmpty) return;
        if (e.hash == h && e.address == a) break;
    }
    if (entries_[i].value != value) return;
    // Backward-shift deletion: move later entries of the probe run into the hole unless their
    // home slot lies cyclically in (hole, entry], so every key stays reachable without
    // tombstones.
    for (std::size_t j = (i + 1) & mask(); entries_[j].value != kEmpty; j = (j + 1) & mask()) {
        const std::size_t home = entries_[j].hash & mask();
        const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        entries_[i] = entries_[j];
        i = j;
    }
    entries_[i].value = kEmpty;
    --size_;
}

void AddressTable::grow() {
    std::vector<Entry> old = std::move(entries_);
    entries_.assign(old.empty() ? 16 : 2 * old.size(), Entry{});
    for (const Entry& e : old) {
        if (e.value == kEmpty) continue;
        std::size_t i = e.hash & mask();
        while (entries_[i].value != kEmpty) i = (i + 1) & mask();
        entries_[i] = e;
    }
}

}  // namespace netcrypto::core
