#include "core/hex.hpp"

#include <array>

namespace netcrypto::core {

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::string hex_encode(std::span<const std::uint8_t> bytes) {
    static constexpr std::array<char, 16> kDigits{'0', '1', '2', '3', '4', '5', '6', '7',
                                                  '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
    std::string s;
    s.reserve(bytes.size() * 2);
    for (auto b : bytes) {
        s.push_back(kDigits[b >> 4U]);
        s.push_back(kDigits[b & 0x0FU]);
    }
    return s;
}

bool hex_decode(std::string_view hex, std::span<std::uint8_t> out) {
    if (hex.size() != out.size() * 2) return false;
    for (char c : hex) {
        if (hex_value(c) < 0) return false;
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] =
            static_cast<std::uint8_t>((hex_value(hex[2 * i]) << 4) | hex_value(hex[2 * i + 1]));
    }
    return true;
}

}  // namespace netcrypto::core
