// The relay's own ceiling for bench/relay.sh (compare_relay.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <netcrypto/keys.hpp>

namespace netcrypto::bench {

/// Two bare relay clients on the relay at 127.0.0.1:`port` push routed frames of `payload`
/// bytes from A to B for `seconds`: what the relay forwards at most (MB/s, its CPU per GB).
nlohmann::json relay_ceiling(std::uint16_t port, const PublicKey& relay_key, double seconds,
                             std::size_t payload, pid_t relay_pid);

}  // namespace netcrypto::bench
