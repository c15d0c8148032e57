#include <sodium.h>

#include <netcrypto/version.hpp>

namespace netcrypto {

std::string_view version() noexcept { return NETCRYPTO_VERSION_STRING; }

std::string_view sodium_version() noexcept { return sodium_version_string(); }

}  // namespace netcrypto
