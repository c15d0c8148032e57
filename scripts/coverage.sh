#!/usr/bin/env bash
# Line coverage of src/core by the committed fuzz corpora (fuzz/corpus/<target>/).
#
# Builds every fuzz_replay_<target> (the fuzz target linked with fuzz/replay_main.cpp, the same
# programs the fuzz_replay_* ctests run) with clang's source-based coverage
# (-fprofile-instr-generate -fcoverage-mapping), replays each corpus once, merges the profiles
# and prints llvm-cov's per-file table for src/core and its total line.
#
# Usage:
#   scripts/coverage.sh              real crypto (the build CI tests), into build-cov/
#   scripts/coverage.sh --identity   the endpoint and conversation corpora only, with
#                                    -DNETCRYPTO_FUZZ_IDENTITY_CRYPTO=ON, into
#                                    build-cov-identity/ (what the stateful targets reach when
#                                    mutated packets still decrypt; never a shipped build)
# Output: the table on stdout, also in <build>/coverage.txt; an HTML report in <build>/html/.
set -euo pipefail
cd "$(dirname "$0")/.."

identity=OFF
build_dir=build-cov
if [[ ${1:-} == --identity ]]; then
    identity=ON
    build_dir=build-cov-identity
elif [[ $# -gt 0 ]]; then
    sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
fi

die() {
    echo "coverage.sh: $*" >&2
    exit 1
}
for tool in clang++-14 llvm-profdata-14 llvm-cov-14; do
    command -v "$tool" >/dev/null || die "$tool is needed (apt-get install clang-14 llvm-14)"
done

flags="-fprofile-instr-generate -fcoverage-mapping"
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" \
    -DNETCRYPTO_BUILD_TESTS=ON -DNETCRYPTO_BUILD_BENCH=OFF -DNETCRYPTO_BUILD_CLI=OFF \
    -DNETCRYPTO_FUZZ_IDENTITY_CRYPTO="$identity" >/dev/null

targets=()
if [[ $identity == ON ]]; then
    # The decoder targets assert that tampered packets fail to open, which an identity cipher
    # cannot honour; the two stateful targets are what this build is for.
    targets=(endpoint conversation)
else
    for dir in fuzz/corpus/*/; do
        name=$(basename "$dir")
        [[ -f fuzz/fuzz_$name.cpp ]] && targets+=("$name")
    done
fi
((${#targets[@]} > 0)) || die "no corpora in fuzz/corpus"
cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]/#/fuzz_replay_}"

profiles=$build_dir/profiles
rm -rf "$profiles"
mkdir -p "$profiles"
objects=()
for t in "${targets[@]}"; do
    bin=$build_dir/fuzz/fuzz_replay_$t
    LLVM_PROFILE_FILE="$profiles/$t.profraw" "$bin" "fuzz/corpus/$t" >"$profiles/$t.log" 2>&1 ||
        {
            tail -n 20 "$profiles/$t.log"
            die "replay of $t failed"
        }
    objects+=(-object "$bin")
    echo "coverage: replayed fuzz/corpus/$t ($(find "fuzz/corpus/$t" -type f | wc -l) inputs)"
done
llvm-profdata-14 merge -sparse "$profiles"/*.profraw -o "$profiles/merged.profdata"

# The first -object is passed as the positional binary.
report_args=("${objects[@]:1}" -instr-profile="$profiles/merged.profdata")
llvm-cov-14 report "${report_args[@]}" src/core | tee "$build_dir/coverage.txt"
llvm-cov-14 show "${report_args[@]}" -format=html -output-dir="$build_dir/html" src/core
total=$(awk '/^TOTAL/ { print $(NF-3) " of lines (" $(NF-5) - $(NF-4) " / " $(NF-5) ")" }' \
    "$build_dir/coverage.txt")
echo "coverage: src/core lines covered by the fuzz corpora (crypto identity=$identity): $total"
