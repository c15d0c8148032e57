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
