# Shared by the CLI test scripts (sourced after NC is set): a scratch directory removed on exit
# with every process in PIDS killed, ok/bad counters, bounded waits, a JSON field reader.
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
passed=0
failed=0
ok() { echo "ok   - $1"; passed=$((passed + 1)); }
bad() { echo "FAIL - $1"; failed=$((failed + 1)); }

# wait_for FILE PATTERN SECONDS: wait until FILE contains PATTERN (a grep regex).
wait_for() {
    local deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        grep -q -e "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
# json_field FILE NAME: the first string value of NAME in FILE.
json_field() { grep -o "\"$2\":\"[^\"]*\"" "$1" | head -n 1 | cut -d'"' -f4; }

# realistic_loopback: inside a network namespace of our own, give loopback the segment sizes of
# an ordinary network path (MTU 1500, GSO segments of at most 4 KiB). On the default loopback
# (MTU 65536, 64 KiB GSO segments) a c-toxcore relay can wedge for good under a bulk upload: it
# reads a frame only once FIONREAD shows all of it, and a partly read 64 KiB segment plus a
# 64 KiB retransmission do not fit its receive buffer (docs/relay.md, "c-toxcore relays on
# loopback"). The host's loopback is never touched. Prints what it did.
realistic_loopback() {
    if [[ "$(readlink /proc/self/ns/net)" != "$(readlink /proc/1/ns/net 2>/dev/null)" ]] &&
        ip link set dev lo mtu 1500 gso_max_size 4096 2>/dev/null; then
        echo "# private network namespace: loopback MTU 1500, GSO segments of at most 4 KiB"
    else
        echo "# not in a private network namespace: loopback left as it is (bulk uploads may stall)"
    fi
}
