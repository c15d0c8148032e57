// Time as the sans-I/O core sees it: a point on a clock that cannot be read.
#pragma once

#include <chrono>
#include <cstdint>

namespace netcrypto {

/// A clock type with no now(): the core only ever receives time points from its caller (the
/// runtime reads the monotonic clock, the simulator a virtual one).
struct CoreClock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::duration<rep, period>;
    using time_point = std::chrono::time_point<CoreClock>;
    static constexpr bool is_steady = true;
};

/// A point in time passed into every mutating call of the core.
using Instant = CoreClock::time_point;
/// A span of time with nanosecond resolution.
using Duration = CoreClock::duration;

/// Builds an instant from milliseconds since the clock's (arbitrary) epoch.
constexpr Instant instant_from_ms(std::int64_t ms) {
    return Instant{std::chrono::milliseconds{ms}};
}

/// Milliseconds since the clock's epoch (truncated).
constexpr std::int64_t to_ms(Instant t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace netcrypto
