#!/usr/bin/env bash
# libFuzzer runs of the decoders (fuzz/fuzz_<name>.cpp), built with clang into build-fuzz/
# (-fsanitize=fuzzer,address,undefined; the library with -fsanitize=fuzzer-no-link).
#
# Usage:
#   scripts/fuzz.sh smoke                 every target for FUZZ_SMOKE_SECONDS seconds (default: 20, or
#                                         less so that all targets share 200 s) on a scratch corpus
#                                         seeded from the committed one; fails on any crash
#   scripts/fuzz.sh run TARGET SECONDS    one target; new inputs go to build-fuzz/corpus/TARGET
#   scripts/fuzz.sh corpus [SECONDS]      regenerate fuzz/corpus/: seeds (netcrypto_fuzz_seeds),
#                                         grow each target for SECONDS (default 60), minimise with
#                                         -merge=1 (review and commit the result)
#   scripts/fuzz.sh identity TARGET SECONDS  like run, in build-fuzz-identity/ with the cipher
#                                         replaced by an identity transform
#                                         (-DNETCRYPTO_FUZZ_IDENTITY_CRYPTO=ON) so mutated packets
#                                         reach deep states; never installable
#   scripts/fuzz.sh list                  the target names
# Crash inputs are written to fuzz/artifacts/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir=build-fuzz
jobs=$(nproc 2>/dev/null || echo 2)

targets=()
for f in fuzz/fuzz_*.cpp; do
    n=$(basename "$f" .cpp)
    targets+=("${n#fuzz_}")
done

die() {
    echo "fuzz.sh: $*" >&2
    exit 1
}

pick_compiler() {
    if command -v clang++-14 >/dev/null 2>&1; then
        CC=clang-14 CXX=clang++-14
    elif command -v clang++ >/dev/null 2>&1; then
        CC=clang CXX=clang++
    else
        die "clang is needed for libFuzzer (apt-get install clang libclang-rt-14-dev)"
    fi
}

build_fuzzers() {
    pick_compiler
    CC=$CC CXX=$CXX cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DNETCRYPTO_FUZZ=ON -DNETCRYPTO_SANITIZE=ON -DNETCRYPTO_BUILD_TESTS=OFF \
        -DNETCRYPTO_BUILD_BENCH=OFF -DNETCRYPTO_BUILD_CLI=OFF \
        -DNETCRYPTO_FUZZ_IDENTITY_CRYPTO="${IDENTITY_CRYPTO:-OFF}" >/dev/null
    cmake --build "$build_dir" -j"$jobs" --target fuzzers
}

# The committed corpus directory of a target, if it has one.
committed() {
    [[ -d fuzz/corpus/$1 ]] && echo "fuzz/corpus/$1"
    return 0
}

is_target() {
    local t
    for t in "${targets[@]}"; do [[ $t == "$1" ]] && return 0; done
    return 1
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# run_target NAME SECONDS WORK_DIR [EXTRA_CORPUS_DIRS...]: new inputs go to WORK_DIR.
run_target() {
    local name=$1 seconds=$2 work=$3
    shift 3
    mkdir -p "$work" fuzz/artifacts
    # FUZZ_TIMEOUT: seconds one input may take (default 25); raise it on a loaded machine,
    # where a niced fuzzer can be starved long enough for a spurious timeout.
    "$build_dir/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-25}" \
        -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$root/fuzz/artifacts/$name-" \
        "$work" "$@"
}

mode=${1:-}
case "$mode" in
list)
    printf '%s\n' "${targets[@]}"
    ;;
smoke)
    default=$((200 / ${#targets[@]}))
    ((default <= 20)) || default=20
    ((default >= 5)) || default=5
    seconds=${FUZZ_SMOKE_SECONDS:-$default}
    start=$(date +%s)
    build_fuzzers
    logs=$build_dir/smoke-logs
    rm -rf "$build_dir/smoke-corpus" "$logs"
    mkdir -p "$logs"
    failed=()
    for t in "${targets[@]}"; do
        # shellcheck disable=SC2046 # no committed corpus: no argument
        if run_target "$t" "$seconds" "$build_dir/smoke-corpus/$t" $(committed "$t") \
            >"$logs/$t.log" 2>&1; then
            execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log")
            echo "fuzz smoke: $t ok (${execs:-?} runs in ${seconds}s)"
        else
            echo "fuzz smoke: $t FAILED (log: $logs/$t.log)"
            tail -n 40 "$logs/$t.log"
            failed+=("$t")
        fi
    done
    echo "fuzz smoke: $((${#targets[@]} - ${#failed[@]}))/${#targets[@]} targets passed in $(($(date +%s) - start))s"
    ((${#failed[@]} == 0)) || die "crashing targets: ${failed[*]} (inputs in fuzz/artifacts/)"
    ;;
run)
    [[ $# -eq 3 ]] || die "usage: scripts/fuzz.sh run TARGET SECONDS"
    is_target "$2" || die "unknown target '$2' (scripts/fuzz.sh list)"
    build_fuzzers
    # shellcheck disable=SC2046
    run_target "$2" "$3" "$build_dir/corpus/$2" $(committed "$2")
    ;;
identity)
    [[ $# -eq 3 ]] || die "usage: scripts/fuzz.sh identity TARGET SECONDS"
    is_target "$2" || die "unknown target '$2' (scripts/fuzz.sh list)"
    build_dir=build-fuzz-identity
    IDENTITY_CRYPTO=ON build_fuzzers
    # shellcheck disable=SC2046
    run_target "$2" "$3" "$build_dir/corpus/$2" $(committed "$2")
    ;;
corpus)
    seconds=${2:-60}
    build_fuzzers
    cmake --build "$build_dir" -j"$jobs" --target netcrypto_fuzz_seeds
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$build_dir/fuzz/netcrypto_fuzz_seeds" "$tmp/seeds" >/dev/null
    for t in "${targets[@]}"; do
        inputs=()
        if [[ -d $tmp/seeds/$t ]]; then inputs+=("$tmp/seeds/$t"); fi
        if [[ -d fuzz/corpus/$t ]]; then inputs+=("fuzz/corpus/$t"); fi
        if ((${#inputs[@]} == 0)); then
            echo "corpus $t: no seeds and no committed corpus; skipped" >&2
            continue
        fi
        run_target "$t" "$seconds" "$tmp/grow/$t" "${inputs[@]}" \
            >"$tmp/$t.grow.log" 2>&1 || { tail -n 40 "$tmp/$t.grow.log"; die "$t crashed"; }
        # Seeds are always kept; grown and previously committed inputs only if they add coverage.
        mkdir -p "$tmp/min/$t"
        if [[ -d $tmp/seeds/$t ]]; then cp "$tmp/seeds/$t"/* "$tmp/min/$t/"; fi
        "$build_dir/fuzz/fuzz_$t" -merge=1 "$tmp/min/$t" "$tmp/grow/$t" "${inputs[@]}" \
            >"$tmp/$t.merge.log" 2>&1 || { tail -n 20 "$tmp/$t.merge.log"; die "$t merge failed"; }
        rm -rf "fuzz/corpus/$t"
        mkdir -p fuzz/corpus
        cp -r "$tmp/min/$t" "fuzz/corpus/$t"
        files=$(find "fuzz/corpus/$t" -type f | wc -l)
        kib=$(du -sk "fuzz/corpus/$t" | cut -f1)
        echo "corpus $t: $files files, ${kib} KiB"
        ((files <= 200)) || echo "corpus $t: more than 200 files; consider fewer seconds" >&2
    done
    ;;
*)
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 2
    ;;
esac
