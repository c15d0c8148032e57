// Hex encoding for keys (lower-case out, either case in).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace netcrypto::core {

/// Lower-case hex of `bytes`.
std::string hex_encode(std::span<const std::uint8_t> bytes);
/// Decodes exactly 2*out.size() hex digits into `out`; false (out untouched) otherwise.
bool hex_decode(std::string_view hex, std::span<std::uint8_t> out);

}  // namespace netcrypto::core
