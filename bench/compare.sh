#!/usr/bin/env bash
# Benchmarks netcrypto against c-toxcore 0.2.18 and against the hardware (libsodium) limit, in
# one run on loopback, and writes a Markdown report with ratios to bench/results/<date>.md
# (also printed). Not part of CI: it takes about 5-10 minutes (bench/scale.sh: the opt-in
# million-connection run). Timings on a shared machine are
# noisy; the point is the side-by-side ratios of one run.
#
# Usage: bench/compare.sh [BUILD_DIR]      (default: build/, as made by scripts/build.sh)
# Env:   COMPARE_KEEP=1  keep the raw JSON results (their directory is printed)
#        COMPARE_OUT=FILE  write the report there instead of bench/results/<date>.md
#        COMPARE_SOURCE=TEXT  describes the sources in the report (default: git commit)
#        COMPARE_IMPAIR=1  also run bench/impair.sh (~10 min: wasted sends, GSO/GRO, impaired
#                          path vs c-toxcore) and append its sections to the report
#        COMPARE_SCALE="10 1000 10000 100000"  connection counts of the scale runs
#        COMPARE_ONLY=scale  only the scale and idle measurements (what bench/scale.sh uses)
#        COMPARE_ONLY=relay  only the idle and TCP relay measurements
#        COMPARE_EXTRA_JSON="FILE..."  earlier results to include (e.g. scale_1000000.json)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
bench="$build/bench/netcrypto_bench"
cmp="$build/bench/netcrypto_compare"
tox="$build/bench/tox_compare"
for exe in "$bench" "$cmp"; do
    [[ -x "$exe" ]] || { echo "compare.sh: $exe missing: run scripts/build.sh first" >&2; exit 1; }
done

work=$(mktemp -d)
log="$work/log.txt"
cleanup() { [[ -n "${COMPARE_KEEP:-}" ]] || rm -rf "$work"; }
trap cleanup EXIT
stamp=$(date -u +%Y-%m-%d-%H%M)
out=${COMPARE_OUT:-$root/bench/results/$stamp.md}
mkdir -p "$(dirname "$out")"

started=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
step() { echo "compare.sh: [$((SECONDS - started)) s] $*" >&2; }
# run NAME CMD...: stdout → $work/NAME.json, stderr → the log; a failure is reported, not fatal.
run() {
    local name=$1
    shift
    if ! "$@" >"$work/$name.json" 2>>"$log"; then
        echo "compare.sh: $name failed (see the log)" >&2
        rm -f "$work/$name.json"
    fi
}

# all: every measurement; scale: only the scale and idle ones (bench/scale.sh).
all() { [[ "${COMPARE_ONLY:-all}" == all ]]; }
if all; then
    step "microbenchmarks (netcrypto_bench, 3 repetitions each)"
    "$bench" \
        --benchmark_filter='^BM_(SealOpen1373|RawSecretbox1373|InMemoryThroughput|HandshakesPerSecond|X25519|X25519Base|DispatchWithConnections/.*)$' \
        --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_min_time=0.3 \
        --benchmark_out="$work/bench.json" --benchmark_out_format=json >>"$log" 2>&1 ||
        echo "compare.sh: netcrypto_bench failed (see the log)" >&2
    step "X25519 operations per handshake"
    run handshake_ops "$cmp" handshake-ops --runs 200
    step "netcrypto connect → Established (50 runs)"
    run nc_connect "$cmp" connect --runs 50
    for n in 1 1000 10000; do
        step "netcrypto memory with $n idle connections"
        run "nc_memory_$n" "$cmp" memory --connections "$n"
    done
fi
# Per-packet cost next to libsodium, at growing connection counts (issue 15 points 1 and 4);
# COMPARE_SCALE="10 1000 10000 100000" by default (bench/scale.sh adds 1000000).
for n in ${COMPARE_SCALE:-10 1000 10000 100000}; do
    step "netcrypto scale: $n Established connections (setup, packets, idle timers)"
    run "scale_$n" "$cmp" scale --connections "$n" --packets "${COMPARE_SCALE_PACKETS:-300000}" \
        --idle-seconds "${COMPARE_SCALE_IDLE_SECONDS:-20}"
done
step "netcrypto idle friend connection, 10 simulated minutes"
run nc_idle "$cmp" idle --minutes 10
if all; then
    step "netcrypto → netcrypto bulk transfer, 10 s"
    run nc_throughput "$cmp" throughput --seconds 10
fi
if [[ -x "$tox" ]]; then
    if all; then
        step "c-toxcore ↔ c-toxcore: DHT connect (~10 s), lossless 10 s, file 10 s"
        run ctox "$tox" ctox --seconds 10 --file-bytes $((64 << 20))
        step "netcrypto → c-toxcore connect (20 runs, then 20 with c-toxcore polled every 1 ms)"
        run nc_ctox_connect "$tox" nc-connect --runs 20
        run nc_ctox_connect_fast "$tox" nc-connect --runs 20 --max-interval-ms 1
    fi
    if all || [[ "${COMPARE_ONLY:-}" == relay ]]; then
        step "through one c-toxcore TCP relay: its ceiling, then netcrypto ↔ netcrypto (10 s each)"
        # In a private network namespace whose loopback behaves like a real link (MTU 1500,
        # 4 KiB GSO segments): on the host's 64 KiB loopback a bulk upload can wedge a
        # c-toxcore relay (docs/relay.md, "c-toxcore relays on loopback").
        if unshare -rn true 2>/dev/null; then
            run relay unshare -rn bash -c 'ip link set lo up &&
                ip link set dev lo mtu 1500 gso_max_size 4096 && exec "$@"' relay "$cmp" \
                relay-throughput --tox "$tox" --seconds 10
        else
            echo "compare.sh: no unshare -rn: relay measured on the host loopback" >&2
            run relay "$cmp" relay-throughput --tox "$tox" --seconds 10
        fi
    fi
    step "c-toxcore idle friend connection (~10 s connect, 60 s idle)"
    run ctox_idle "$tox" idle --seconds "${COMPARE_IDLE_SECONDS:-60}"
    if all; then
        step "c-toxcore memory with 1..32 connected friends"
        run ctox_memory "$tox" memory --max-friends 32
    fi
else
    echo "compare.sh: $tox not built (toxcore not found): c-toxcore rows will be n/a" >&2
fi
# Results of an earlier opt-in run to include (e.g. a scale_1000000.json from bench/scale.sh).
for extra in ${COMPARE_EXTRA_JSON:-}; do
    [[ -f "$extra" && ! -e "$work/$(basename "$extra")" ]] && cp "$extra" "$work/"
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
step "report"

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo " (uncommitted changes)" || true)
{
    echo "# netcrypto vs c-toxcore and the hardware limit — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Generated by \`bench/compare.sh\` in one run ($((SECONDS - started)) s), loopback only."
    echo
    echo "| Machine | |"
    echo "|---|---|"
    echo "| CPU | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') |"
    echo "| nproc | $(nproc) |"
    echo "| Kernel | $(uname -srm) |"
    echo "| Load average (1/5/15 min) at start | $load_start |"
    echo "| Load average at end | $load_end |"
    echo "| c-toxcore | $(pkg-config --modversion toxcore 2>/dev/null || echo 'not found') (Debian libtoxcore) |"
    echo "| libsodium | $(pkg-config --modversion libsodium 2>/dev/null || echo '?') |"
    echo "| netcrypto | ${COMPARE_SOURCE:-$commit$dirty}, build $(basename "$build") |"
    echo
    echo "Microbenchmarks are medians of 3 repetitions, rates per CPU second (Google Benchmark);"
    echo "transfers and connects are wall-clock on loopback UDP. With a load average above nproc"
    echo "the processes share cores with other work: compare rows of this run with each other."
    echo
    "$cmp" report --dir "$work"
} >"$out"
cat "$out"
echo >&2
echo "compare.sh: wrote $out" >&2
if [[ -n "${COMPARE_KEEP:-}" ]]; then echo "compare.sh: raw results in $work" >&2; fi

# --- companion: bench/impair.sh (issue #15 points 2, 3, 5), opt-in because it takes ~10 min ---
impair_companion() {
    [[ -n "${COMPARE_IMPAIR:-}" ]] || return 0
    echo "compare.sh: running bench/impair.sh (COMPARE_IMPAIR=1)" >&2
    local part="$work/impair.md"
    if IMPAIR_OUT="$part" bash "$root/bench/impair.sh" "$build" >/dev/null; then
        { echo; cat "$part"; } >>"$out"
        echo "compare.sh: appended bench/impair.sh's report to $out" >&2
    else
        echo "compare.sh: bench/impair.sh failed" >&2
    fi
}
impair_companion
