// netcrypto_compare scale (compare_scale.cpp): N Established connections with simulated peers.
#pragma once

#include "compare_common.hpp"

namespace netcrypto::bench {

/// `scale --connections N [--packets P] [--idle-seconds S] [--sodium-rounds R]`: one JSON object.
int scale(const Args& args);

/// `idle [--minutes M] [--delay-ms D]` (compare_idle.cpp): one idle friend connection.
int idle_cost(const Args& args);

}  // namespace netcrypto::bench
