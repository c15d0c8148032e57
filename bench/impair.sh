#!/usr/bin/env bash
# Companion of bench/compare.sh for issue #15 points 2, 3 and 5, in one run, on this machine
# only (loopback, plus a veth pair in a network namespace this script creates when run as
# root and removes on exit). Prints Markdown sections with a Targets table on stdout:
#   1. wasted sends: the retransmitted share of the sender's packets on loss-free paths
#      (`netcrypto demo`, one process; netcrypto_compare throughput, two processes);
#   2. UDP GSO/GRO off and on: throughput and CPU per GB, sender and receiver, next to
#      libsodium's seal/open cost of the same bytes (netcrypto_offload), loopback and veth;
#   3. an impaired path (bench/impair.cpp: 25 ms one-way delay, 100 Mbit/s bottleneck with a
#      one-BDP drop-tail queue, random loss): goodput netcrypto ↔ netcrypto and c-toxcore ↔
#      c-toxcore at 0 %, 1 %, 5 % loss over the same 10 s window, and time to Established at
#      10 % loss (median, p99 of IMPAIR_CONNECT_RUNS; c-toxcore pairs run IMPAIR_PARALLEL at a
#      time, each with its own relay).
# Takes about 8-12 minutes. Needs jq.
#
# Usage: bench/impair.sh [BUILD_DIR]    (default: build/)
# Env:   IMPAIR_OUT=FILE (default bench/results/<date>-impair.md; the report is printed too),
#        IMPAIR_SECONDS (10), IMPAIR_CONNECT_RUNS (50), IMPAIR_PARALLEL (10),
#        IMPAIR_DEMO_RUNS (5), IMPAIR_SKIP_CTOX=1 (netcrypto rows only), IMPAIR_SKIP_VETH=1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
bin="$build/bench"
seconds=${IMPAIR_SECONDS:-10}
connect_runs=${IMPAIR_CONNECT_RUNS:-50}
parallel=${IMPAIR_PARALLEL:-10}
demo_runs=${IMPAIR_DEMO_RUNS:-5}
command -v jq >/dev/null || { echo "impair.sh: jq is needed" >&2; exit 1; }
for exe in "$bin/impair" "$bin/netcrypto_impair" "$bin/netcrypto_offload" "$bin/netcrypto_compare" "$build/netcrypto"; do
    [[ -x "$exe" ]] || { echo "impair.sh: $exe missing: run scripts/build.sh first" >&2; exit 1; }
done
have_ctox=1
[[ -x "$bin/tox_compare" && -z "${IMPAIR_SKIP_CTOX:-}" ]] || have_ctox=0

work=$(mktemp -d)
netns=""
cleanup() {
    if [[ -n "$netns" ]]; then
        ip link del nci-veth0 2>/dev/null || true
        ip netns del "$netns" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
started=$SECONDS
step() { echo "impair.sh: [$((SECONDS - started)) s] $*" >&2; }
targets=()
# target NAME MEASURED MET(0/1)
target() { targets+=("| $1 | $2 | $([[ $3 == 1 ]] && echo met || echo '**missed**') |"); }
ratio_met() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

wasted_sends() {
    step "wasted sends: netcrypto demo x$demo_runs (one process, 256 MiB)"
    echo "## Wasted sends on loss-free loopback (issue #15 point 2)"
    echo
    echo "| Run | Path | MiB/s | packets sent (≈) | retransmitted | share |"
    echo "|---|---|---|---|---|---|"
    local worst=0 i r
    for ((i = 1; i <= demo_runs; i++)); do
        r=$("$build/netcrypto" --json demo 2>/dev/null | jq -c 'select(.event == "result")')
        local re mib
        re=$(jq -r .retransmissions <<<"$r")
        mib=$(jq -r .mib_per_s <<<"$r")
        # About one 1373-byte message per packet: the 256 MiB are ≈ 195,500 first sends.
        local sent=$(((256 << 20) / 1373 + 1))
        local share
        share=$(awk -v a="$re" -v b="$sent" 'BEGIN { printf "%.3f", 100 * a / (a + b) }')
        worst=$(awk -v a="$share" -v b="$worst" 'BEGIN { print (a > b) ? a : b }')
        printf '| %d | demo, one process | %.1f | %d | %d | %s %% |\n' "$i" "$mib" "$sent" "$re" "$share"
    done
    echo "$worst" >"$work/demo_worst"
    echo
}

offload_section() {
    step "GSO/GRO off and on, loopback (2 x ${seconds} s)"
    echo "## Bulk CPU per GB with UDP GSO/GRO off and on (issue #15 point 3)"
    echo
    echo "Two processes (netcrypto_compare throughput), custom lossless 1373-byte messages as"
    echo "fast as accepted, CPU time of each process over the window. Each row also shows the"
    echo "sender's retransmitted share (point 2, two processes)."
    echo
    "$bin/netcrypto_offload" --seconds "$seconds" --label loopback | tee "$work/offload_lo.md"
    echo
    if [[ $(id -u) -eq 0 && -z "${IMPAIR_SKIP_VETH:-}" ]]; then
        step "GSO/GRO off and on, veth pair into a network namespace (2 x ${seconds} s)"
        netns="nci-$$"
        ip netns add "$netns"
        ip link add nci-veth0 type veth peer name nci-veth1
        ip link set nci-veth1 netns "$netns"
        ip addr add 10.231.0.1/24 dev nci-veth0
        ip link set nci-veth0 up
        ip -n "$netns" addr add 10.231.0.2/24 dev nci-veth1
        ip -n "$netns" link set nci-veth1 up
        ip -n "$netns" link set lo up
        "$bin/netcrypto_offload" --seconds "$seconds" --label "veth (netns)" --netns "$netns" \
            --send-ip 10.231.0.1 --recv-ip 10.231.0.2 | tee "$work/offload_veth.md"
        echo
    else
        echo "(veth rows skipped: not root or IMPAIR_SKIP_VETH set)"
        echo
    fi
}

# offload_targets FILE LABEL
offload_targets() {
    local j
    j=$(sed -n 's/^<!-- json \(.*\) -->$/\1/p' "$1")
    [[ -n "$j" ]] || return 0
    local seal open s r share
    seal=$(jq .seal_s_per_gb <<<"$j")
    open=$(jq .open_s_per_gb <<<"$j")
    s=$(jq '.on.cpu_s_per_gb_sender // 0' <<<"$j")
    r=$(jq '.on.cpu_s_per_gb_receiver // 0' <<<"$j")
    s=$(awk -v a="$s" -v b="$seal" 'BEGIN { printf "%.2f", a / b }')
    r=$(awk -v a="$r" -v b="$open" 'BEGIN { printf "%.2f", a / b }')
    target "$2: sender CPU/GB ≤ 1.5× libsodium seal (GSO on)" "${s}×" "$(ratio_met "$s" 1.5 && echo 1 || echo 0)"
    target "$2: receiver CPU/GB ≤ 1.5× libsodium open (GRO on)" "${r}×" "$(ratio_met "$r" 1.5 && echo 1 || echo 0)"
    for mode in off on; do
        share=$(jq -r ".${mode}.sender_stats | if .lossless_sent then 100 * .retransmissions / (.lossless_sent + .retransmissions) else 0 end" <<<"$j")
        share=$(awk -v a="$share" 'BEGIN { printf "%.3f", a }')
        target "$2, two processes, offload $mode: retransmitted ≤ 1 %" "$share %" "$(ratio_met "$share" 1 && echo 1 || echo 0)"
    done
}

impair_section() {
    echo "## Impaired path: goodput and connect time vs c-toxcore (issue #15 point 5)"
    echo
    echo "bench/impair.cpp between the peers: 25 ms one-way delay each way, 100 Mbit/s bottleneck"
    echo "(IPv4+UDP headers counted) behind a one-BDP (625,000-byte) drop-tail queue, random loss"
    echo "from a seeded generator (seed 1). A → B custom lossless packets (id 160, 1373 bytes) as"
    echo "fast as the sender accepts them, receiver-side goodput over $seconds s from Established"
    echo "(c-toxcore: from the UDP friend connection). Payload ceiling of the bottleneck for"
    echo "netcrypto: 100 × 1373 / (1400 + 28) = 96.1 Mbit/s (a 1373-byte message makes a"
    echo "1400-byte datagram, plus 28 bytes of IPv4 and UDP header); c-toxcore's is about the same."
    echo
    echo "| Loss | netcrypto Mbit/s | c-toxcore Mbit/s | ratio | netcrypto retransmitted | relay queue drops (nc / c-toxcore) |"
    echo "|---|---|---|---|---|---|"
    local loss nc ct
    for loss in 0 0.01 0.05; do
        step "impaired path, loss $loss: netcrypto goodput ${seconds} s"
        nc=$("$bin/netcrypto_impair" goodput --impl nc --loss "$loss" --seconds "$seconds" 2>>"$work/log" || echo '{}')
        ct='{}'
        if [[ $have_ctox == 1 ]]; then
            step "impaired path, loss $loss: c-toxcore connect + goodput ${seconds} s"
            ct=$("$bin/netcrypto_impair" goodput --impl ctox --loss "$loss" --seconds "$seconds" 2>>"$work/log" || echo '{}')
        fi
        local a b ratio re
        a=$(jq '.goodput.mbit_per_s // 0' <<<"$nc")
        b=$(jq '.goodput.mbit_per_s // 0' <<<"$ct")
        ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "n/a" }')
        re=$(jq -r '.goodput.sender | if .lossless_sent then 100 * .retransmissions / (.lossless_sent + .retransmissions) else 0 end' <<<"$nc")
        printf '| %s %% | %.2f | %.3f | %s× | %.2f %% | %s / %s |\n' "$(awk -v l="$loss" 'BEGIN { print 100 * l }')" \
            "$a" "$b" "$ratio" "$re" "$(jq '.goodput.relay.a_to_b.overflow // "n/a"' <<<"$nc")" \
            "$(jq '.goodput.relay.a_to_b.overflow // "n/a"' <<<"$ct")"
        if [[ $ratio == n/a ]]; then
            target "impaired, $(awk -v l="$loss" 'BEGIN { print 100 * l }') % loss: goodput ≥ 20× c-toxcore" "n/a (c-toxcore not measured)" 0
        else
            target "impaired, $(awk -v l="$loss" 'BEGIN { print 100 * l }') % loss: goodput ≥ 20× c-toxcore" "${ratio}×" "$(ratio_met 20 "$ratio" && echo 1 || echo 0)"
        fi
        if [[ $loss == 0.01 ]]; then
            local pct
            pct=$(awk -v a="$a" 'BEGIN { printf "%.1f", a }')
            target "impaired, 1 % loss: netcrypto goodput ≥ 70 % of the 100 Mbit/s bottleneck" "${pct} %" "$(ratio_met 70 "$pct" && echo 1 || echo 0)"
        fi
    done
    echo
    echo "Without random loss the 20× target also needs c-toxcore below 1/20 of what the bottleneck"
    echo "lets netcrypto reach (96.1 / 20 = 4.8 Mbit/s): c-toxcore's own rate decides that row."
    echo
    step "impaired path, 10 % loss: netcrypto connect x$connect_runs"
    local cn cc
    cn=$("$bin/netcrypto_impair" connect --impl nc --loss 0.1 --runs "$connect_runs" 2>>"$work/log" || echo '{}')
    cc='{}'
    if [[ $have_ctox == 1 ]]; then
        step "impaired path, 10 % loss: c-toxcore connect x$connect_runs ($parallel at a time)"
        cc=$("$bin/netcrypto_impair" connect --impl ctox --loss 0.1 --runs "$connect_runs" --parallel "$parallel" 2>>"$work/log" || echo '{}')
    fi
    echo "Time to Established through the relay at 10 % loss (netcrypto: connect() → Established at"
    echo "the initiator, one new process per run; c-toxcore: friend added → UDP friend connection"
    echo "on both sides, DHT discovery included, as c-toxcore has no direct connect):"
    echo
    echo "| | runs | connected | median ms | p99 ms | slowest connected, ms | timeout s |"
    echo "|---|---|---|---|---|---|---|"
    local q='if type == "number" then (. * 10 | round / 10 | tostring) else "> timeout" end'
    for pair in "netcrypto:$cn" "c-toxcore:$cc"; do
        local name=${pair%%:*} j=${pair#*:}
        if [[ $(jq 'has("connect")' <<<"$j") != true ]]; then
            printf '| %s | n/a | | | | | |\n' "$name"
            continue
        fi
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$(jq .connect.runs <<<"$j")" \
            "$(jq .connect.connected <<<"$j")" "$(jq -r ".connect.median_ms | $q" <<<"$j")" \
            "$(jq -r ".connect.p99_ms | $q" <<<"$j")" \
            "$(jq -r '.connect.max_connected_ms // "n/a" | if type == "number" then (. * 10 | round / 10) else . end' <<<"$j")" \
            "$(jq .connect.timeout_s <<<"$j")"
    done
    echo
}

report() {
    echo "# netcrypto: wasted sends, GSO/GRO and an impaired path — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Generated by \`bench/impair.sh\` in one run. CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"
    echo "$(nproc) cores, kernel $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg),"
    echo "netcrypto $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), build $(basename "$build")."
    echo "net.core.rmem_max $(cat /proc/sys/net/core/rmem_max), wmem_max $(cat /proc/sys/net/core/wmem_max)"
    echo "(the runtime asks for 8 MiB with SO_RCVBUFFORCE, so as root it gets it past rmem_max)."
    echo "On a shared machine (other builds and benchmarks may run at the same time: see the load"
    echo "average) absolute figures are noisy; compare the rows of one run with each other."
    echo
    wasted_sends
    offload_section
    impair_section
    echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "## Targets"
    echo
    echo "| Target | Measured | |"
    echo "|---|---|---|"
    local w
    w=$(cat "$work/demo_worst")
    target "demo (one process): retransmitted ≤ 1 % of packets, worst of $demo_runs" "$w %" "$(ratio_met "$w" 1 && echo 1 || echo 0)"
    offload_targets "$work/offload_lo.md" loopback
    [[ -f "$work/offload_veth.md" ]] && offload_targets "$work/offload_veth.md" veth
    printf '%s\n' "${targets[@]}"
}

# `report` runs in this shell (a redirected function is no subshell), so target() adds up.
out=${IMPAIR_OUT:-$root/bench/results/$(date -u +%Y-%m-%d-%H%M)-impair.md}
mkdir -p "$(dirname "$out")"
report >"$work/report.md"
cp "$work/report.md" "$out"
cat "$out"
echo "impair.sh: wrote $out" >&2
