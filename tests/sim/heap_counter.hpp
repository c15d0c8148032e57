// The sim_tests binary counts its heap: scale_test.cpp replaces the global operator new/delete
// with counting versions (forwarding to malloc/free). Tests read the figure here.
#pragma once

#include <cstdint>

namespace netcrypto::sim {

/// Bytes currently allocated through operator new in this process (malloc_usable_size of each
/// live block), across all threads.
std::int64_t live_heap_bytes();

}  // namespace netcrypto::sim
