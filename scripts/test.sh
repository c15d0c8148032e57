#!/usr/bin/env bash
# Sets up the machine and runs the whole test suite:
#   1. Release build with warnings as errors: unit, simulation, fuzz-corpus replay, interop, CLI tests;
#      then scripts/lint.sh (clang-format, clang-tidy).
#   2. ASan+UBSan build: unit and simulation tests (and fuzz-corpus replay).
#   3. libFuzzer smoke run of every fuzz target (clang), when clang is present.
#   4. Consumers of an installed netcrypto (scripts/consumer_test.sh): the Debian packages are
#      built (without their build-time tests, which stage 1 ran), checked with lintian and installed, two tiny projects outside
#      the tree build against them (find_package, pkg-config) and run; the packages are purged.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

echo "== release build (warnings are errors) =="
bash scripts/build.sh
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900)

echo "== static checks: clang-format, clang-tidy (warnings are errors) =="
bash scripts/lint.sh

echo "== sanitizer build (address,undefined): unit and simulation tests =="
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNETCRYPTO_WERROR=ON \
    -DNETCRYPTO_SANITIZE=ON -DNETCRYPTO_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j"$jobs" -L 'unit|sim|fuzz' --timeout 900)

if command -v clang++-14 >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1; then
    echo "== libFuzzer smoke run (clang, ASan+UBSan) =="
    # Short: every committed corpus was already replayed under ASan above; this checks that
    # each libFuzzer target builds and runs (long runs: scripts/fuzz.sh run TARGET SECONDS).
    FUZZ_SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-5} bash scripts/fuzz.sh smoke
fi
echo "== consumers of the installed packages (scripts/consumer_test.sh) =="
stage_start=$SECONDS
# The packages' build-time tests are the unit/sim/CLI tests stage 1 ran on this same tree.
NETCRYPTO_DEB_NOCHECK=1 bash scripts/consumer_test.sh
echo "consumer stage: $((SECONDS - stage_start)) s"
echo "== all test stages passed =="
