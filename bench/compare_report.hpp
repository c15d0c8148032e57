// The Markdown report of bench/compare.sh, built from the JSON results of one run.
#pragma once

#include "compare_common.hpp"

namespace netcrypto::bench {

/// `netcrypto_compare report --dir DIR`: reads DIR/*.json (bench.json from netcrypto_bench,
/// the others from netcrypto_compare and tox_compare), prints the tables and the targets.
int report(const Args& args);

}  // namespace netcrypto::bench
