#include <sodium.h>

#include <netcrypto/random.hpp>

namespace netcrypto {

void SodiumRng::fill(std::span<std::uint8_t> out) {
    if (!out.empty()) randombytes_buf(out.data(), out.size());
}

}  // namespace netcrypto
