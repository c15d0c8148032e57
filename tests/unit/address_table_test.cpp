// The endpoint's open-addressing address table against std::map: random binds, rebinds and
// conditional erases (backward-shift deletion, including probe runs that wrap around the end
// of the table), with few distinct addresses so runs collide and grow long.
#include "core/address_table.hpp"

#include <map>
#include <random>

#include <gtest/gtest.h>

namespace netcrypto {
namespace {

core::SaltedHash salted(std::uint8_t seed) {
    core::SaltedHash h;
    h.key.fill(seed);
    return h;
}

Address addr(std::uint32_t i) {
    return Address::ipv4(10, static_cast<std::uint8_t>(i >> 16U),
                         static_cast<std::uint8_t>((i >> 8U) & 0xFFU),
                         static_cast<std::uint8_t>(i & 0xFFU), static_cast<std::uint16_t>(i));
}

void expect_same(const core::AddressTable& t, const std::map<std::uint32_t, std::uint32_t>& ref,
                 std::uint32_t universe) {
    ASSERT_EQ(t.size(), ref.size());
    for (std::uint32_t a = 0; a < universe; ++a) {
        const std::uint32_t* v = t.find(addr(a));
        auto it = ref.find(a);
        if (it == ref.end()) {
            EXPECT_EQ(v, nullptr) << "address " << a << " should be unbound";
        } else {
            ASSERT_NE(v, nullptr) << "address " << a << " lost";
            EXPECT_EQ(*v, it->second);
        }
    }
}

TEST(AddressTableTest, EmptyTableFindsNothingAndEraseIsHarmless) {
    core::AddressTable t(salted(1));
    EXPECT_EQ(t.find(addr(1)), nullptr);
    t.erase(addr(1), 0);
    EXPECT_EQ(t.size(), 0U);
}

TEST(AddressTableTest, EraseOnlyRemovesTheGivenBinding) {
    core::AddressTable t(salted(2));
    t.assign(addr(7), 3);
    t.erase(addr(7), 4);  // bound to 3, not 4: kept
    ASSERT_NE(t.find(addr(7)), nullptr);
    t.assign(addr(7), 4);  // rebinding replaces
    EXPECT_EQ(*t.find(addr(7)), 4U);
    EXPECT_EQ(t.size(), 1U);
    t.erase(addr(7), 4);
    EXPECT_EQ(t.find(addr(7)), nullptr);
    EXPECT_EQ(t.size(), 0U);
}

TEST(AddressTableTest, RandomOperationsMatchAReferenceMap) {
    for (std::uint8_t seed = 1; seed <= 8; ++seed) {
        std::mt19937 gen(seed);
        auto rng = [&gen] { return static_cast<std::uint32_t>(gen()); };
        const std::uint32_t universe = 40U * seed;  // small: long collision runs, many wraps
        core::AddressTable t(salted(seed));
        std::map<std::uint32_t, std::uint32_t> ref;
        for (int op = 0; op < 20000; ++op) {
            const std::uint32_t a = rng() % universe;
            const std::uint32_t v = rng() % 8;
            if (rng() % 3 != 0) {
                t.assign(addr(a), v);
                ref[a] = v;
            } else {
                t.erase(addr(a), v);
                if (auto it = ref.find(a); it != ref.end() && it->second == v) ref.erase(it);
            }
            if (op % 997 == 0) expect_same(t, ref, universe);
        }
        expect_same(t, ref, universe);
        // Drain completely: every remaining key must still be reachable and removable.
        for (const auto& [a, v] : std::map<std::uint32_t, std::uint32_t>(ref)) {
            t.erase(addr(a), v);
            ref.erase(a);
        }
        expect_same(t, ref, universe);
    }
}

}  // namespace
}  // namespace netcrypto
