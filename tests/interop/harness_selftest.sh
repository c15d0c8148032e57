#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2317  # cleanup() is invoked through trap
#
# Self-test of tox_harness: two c-toxcore instances on 127.0.0.1 become friends, reach
# friend_connection "udp", exchange a message (with echo and read receipt), and a 1 MiB
# send_stream arrives (and is echoed back) with the same SHA-256. Also checks that the loopback
# guard saw no non-loopback send, that it refuses one when probed, and --savedata persistence.
#
# Usage: harness_selftest.sh /path/to/tox_harness      Exit status 0 = success.
# Environment: SELFTEST_TIMEOUT (seconds per wait, default 90), SELFTEST_KEEP=1 keeps the logs.

set -u
set -o pipefail

HARNESS=${1:?usage: $0 /path/to/tox_harness}
WAIT=${SELFTEST_TIMEOUT:-90}
STREAM_BYTES=1048576
STREAM_SEED=42
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tox_harness_selftest.XXXXXX")
declare -A PID FD
FAILED=0

log() { printf '[selftest %5ss] %s\n' "$SECONDS" "$*" >&2; }

cleanup() {
    local name
    for name in "${!PID[@]}"; do
        if kill -0 "${PID[$name]}" 2>/dev/null; then
            kill "${PID[$name]}" 2>/dev/null
        fi
    done
    wait 2>/dev/null
    if [[ $FAILED -ne 0 || ${SELFTEST_KEEP:-0} == 1 ]]; then
        log "logs kept in $WORK"
        for f in "$WORK"/*.out "$WORK"/*.err; do
            [[ -s $f ]] || continue
            echo "----- $f (last 40 lines)" >&2
            tail -n 40 "$f" >&2
        done
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

fail() {
    FAILED=1
    log "FAIL: $*"
    exit 1
}

# start NAME ARGS... : runs the harness with stdin from a FIFO kept open in FD[NAME].
start() {
    local name=$1
    shift
    mkfifo "$WORK/$name.in"
    "$HARNESS" "$@" <"$WORK/$name.in" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PID[$name]=$!
    local fd
    exec {fd}>"$WORK/$name.in"
    FD[$name]=$fd
}

send() { printf '%s\n' "$2" >&"${FD[$1]}"; }

lines() { wc -l <"$WORK/$1.out"; }

# wait_line NAME ERE [SKIP_LINES] : prints the first matching line after SKIP_LINES lines.
wait_line() {
    local name=$1 re=$2 skip=${3:-0} deadline=$((SECONDS + WAIT)) line
    while ((SECONDS < deadline)); do
        line=$(tail -n +"$((skip + 1))" "$WORK/$name.out" | grep -E -m1 -- "$re")
        if [[ -n $line ]]; then
            printf '%s\n' "$line"
            return 0
        fi
        if ! kill -0 "${PID[$name]}" 2>/dev/null; then
            line=$(tail -n +"$((skip + 1))" "$WORK/$name.out" | grep -E -m1 -- "$re")
            [[ -n $line ]] && { printf '%s\n' "$line"; return 0; }
            log "$name exited while waiting for /$re/"
            return 1
        fi
        sleep 0.05
    done
    log "timeout (${WAIT}s) waiting for /$re/ from $name"
    return 1
}

# field LINE KEY : value of a string or number field of a flat JSON line.
field() {
    local v
    v=$(printf '%s\n' "$1" | sed -n -E "s/.*\"$2\":(\"([^\"]*)\"|(-?[0-9]+|true|false)).*/\2\3/p")
    printf '%s\n' "$v"
}

# stats_until NAME BYTES : polls "stats" until stream_rx_bytes >= BYTES; prints the last line.
stats_until() {
    local name=$1 want=$2 deadline=$((SECONDS + WAIT)) n line got
    while ((SECONDS < deadline)); do
        n=$(lines "$name")
        send "$name" stats
        line=$(wait_line "$name" '"event":"stats"' "$n") || return 1
        got=$(field "$line" stream_rx_bytes)
        if ((got >= want)); then
            printf '%s\n' "$line"
            return 0
        fi
        sleep 0.2
    done
    log "timeout waiting for $name stream_rx_bytes >= $want (last: $got)"
    return 1
}

hex_of() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

[[ -x $HARNESS ]] || fail "harness not executable: $HARNESS"

# --- A: first node, no friends yet -----------------------------------------------------------
start A --name alice --status-message "selftest A" --max-seconds 280
ready_a=$(wait_line A '"event":"ready"') || fail "A not ready"
pk_a=$(field "$ready_a" public_key)
dht_a=$(field "$ready_a" dht_public_key)
port_a=$(field "$ready_a" udp_port)
[[ ${#pk_a} -eq 64 && ${#dht_a} -eq 64 && $port_a -gt 0 ]] || fail "bad ready line: $ready_a"
log "A ready: pk=${pk_a:0:16}.. port=$port_a"

# --- B: friend of A, bootstrapped to A, echoes ----------------------------------------------
start B --name bob --echo --friend "$pk_a" --bootstrap "127.0.0.1:$port_a:$dht_a" --max-seconds 280
ready_b=$(wait_line B '"event":"ready"') || fail "B not ready"
pk_b=$(field "$ready_b" public_key)
port_b=$(field "$ready_b" udp_port)
log "B ready: pk=${pk_b:0:16}.. port=$port_b"
wait_line B '"event":"friend_added","friend":0' >/dev/null || fail "B did not add A"
send A "add_friend $pk_b"
wait_line A '"event":"friend_added","friend":0' >/dev/null || fail "A did not add B"

# --- both reach UDP ---------------------------------------------------------------------------
conn_a=$(wait_line A '"event":"friend_connection","friend":0,"status":"udp"') ||
    fail "A never saw B over UDP"
conn_b=$(wait_line B '"event":"friend_connection","friend":0,"status":"udp"') ||
    fail "B never saw A over UDP"
log "friend_connection udp: A at t_ms=$(field "$conn_a" t_ms), B at t_ms=$(field "$conn_b" t_ms)"

# --- message, echo, read receipt ---------------------------------------------------------------
text="hello from A"
send A "send_message 0 0 $(hex_of "$text")"
sent=$(wait_line A '"event":"message_sent"') || fail "A send_message failed"
mid=$(field "$sent" message_id)
got=$(wait_line B '"event":"friend_message"') || fail "B got no message"
[[ $(field "$got" text_hex) == "$(hex_of "$text")" ]] || fail "B got wrong text: $got"
echo_line=$(wait_line A '"event":"friend_message"') || fail "A got no echo"
[[ $(field "$echo_line" text_hex) == "$(hex_of "echo: $text")" ]] || fail "bad echo: $echo_line"
wait_line A "\"event\":\"read_receipt\",\"friend\":0,\"message_id\":$mid" >/dev/null ||
    fail "no read receipt for message $mid"
log "message delivered, echoed and receipted"

# --- custom lossless / lossy packets ------------------------------------------------------------
send A "send_lossless 0 a1cafe"
wait_line A '"event":"lossless_sent","ok":true' >/dev/null || fail "send_lossless failed"
wait_line B '"event":"lossless_packet","friend":0,"id":161,"len":3,"data_hex":"a1cafe"' \
    >/dev/null || fail "B did not receive lossless a1cafe"
send A "send_lossy 0 c8beef"
wait_line A '"event":"lossy_sent","ok":true' >/dev/null || fail "send_lossy failed"
# lossy may be lost in principle; on loopback it arrives. Give it a short chance only.
WAIT_SAVE=$WAIT
WAIT=10
if wait_line B '"event":"lossy_packet","friend":0,"id":200,"len":3,"data_hex":"c8beef"' \
    >/dev/null; then
    log "custom lossless and lossy packets delivered"
else
    log "note: lossy packet not seen (allowed)"
fi
WAIT=$WAIT_SAVE

# --- 1 MiB stream A -> B (B echoes it back) --------------------------------------------------
send A "send_stream 0 $STREAM_BYTES $STREAM_SEED"
ssent=$(wait_line A '"event":"stream_sent"') || fail "stream not sent"
sha_tx=$(field "$ssent" sha256)
log "A stream_sent: $(field "$ssent" bytes) bytes sha256=$sha_tx at t_ms=$(field "$ssent" t_ms)"
if command -v openssl >/dev/null; then
    # Independent regeneration: ChaCha20 (IETF) keystream, key = LE64(seed) || 24 zero bytes,
    # nonce = "LibsodiumDRG", counter 0. openssl's -iv is counter(4 bytes LE) || nonce(12).
    key=$(printf '%016x' "$STREAM_SEED" | sed -E 's/(..)(..)(..)(..)(..)(..)(..)(..)/\8\7\6\5\4\3\2\1/')
    key="${key}$(printf '0%.0s' {1..48})"
    iv="00000000$(hex_of LibsodiumDRG)"
    sha_ref=$(head -c "$STREAM_BYTES" /dev/zero |
        openssl enc -chacha20 -K "$key" -iv "$iv" 2>/dev/null | sha256sum | cut -d' ' -f1)
    [[ $sha_ref == "$sha_tx" ]] || fail "generator mismatch: openssl $sha_ref vs harness $sha_tx"
    log "stream generator matches the documented ChaCha20 definition (openssl)"
fi
st_b=$(stats_until B "$STREAM_BYTES") || fail "B did not receive the stream"
t_rx=$(field "$st_b" t_ms)
[[ $(field "$st_b" stream_rx_bytes) -eq $STREAM_BYTES ]] || fail "B got too many bytes: $st_b"
[[ $(field "$st_b" stream_rx_sha256) == "$sha_tx" ]] || fail "B stream hash mismatch: $st_b"
log "B received $STREAM_BYTES bytes, sha256 matches (B stats at t_ms=$t_rx)"
st_a=$(stats_until A "$STREAM_BYTES") || fail "A did not receive the echoed stream"
[[ $(field "$st_a" stream_rx_bytes) -eq $STREAM_BYTES ]] || fail "A got too many bytes: $st_a"
[[ $(field "$st_a" stream_rx_sha256) == "$sha_tx" ]] || fail "echoed stream hash mismatch"
log "A received the echoed stream, sha256 matches (A stats at t_ms=$(field "$st_a" t_ms))"

# --- pause / resume -----------------------------------------------------------------------------
n=$(lines B)
send B "pause 300"
wait_line B '"event":"paused"' "$n" >/dev/null || fail "no paused"
wait_line B '"event":"resumed"' "$n" >/dev/null || fail "no resumed"

# --- loopback guard ------------------------------------------------------------------------------
for name in A B; do
    n=$(lines "$name")
    send "$name" stats
    st=$(wait_line "$name" '"event":"stats"' "$n") || fail "$name stats"
    [[ $(field "$st" nonloopback_sends) -eq 0 ]] || fail "$name non-loopback sends: $st"
    calls=$(field "$st" loopback_sendto_calls_from_toxcore)
    ((calls > 0)) || fail "$name: toxcore sendto calls did not pass through the guard"
    log "$name: nonloopback_sends=0, $calls toxcore sendto calls went through the guard"
done

# Probe instance: bootstrapped to A (so toxcore's own sends are seen going through the guard),
# then asked to send to 10.0.0.1 itself and via toxcore; both must be refused before the syscall.
start P --max-seconds 60 --bootstrap "127.0.0.1:$port_a:$dht_a"
wait_line P '"event":"ready"' >/dev/null || fail "P not ready"
sleep 2
send P debug_guard_selfcheck
gc=$(wait_line P '"event":"guard_selfcheck"') || fail "no guard selfcheck"
[[ $(field "$gc" ok) == true ]] || fail "guard classifier: $gc"
send P debug_probe_nonloopback
probe=$(wait_line P '"event":"probe_nonloopback"') || fail "no probe result"
[[ $(field "$probe" own_sendto_refused) == true ]] || fail "own sendto not refused: $probe"
[[ $(field "$probe" toxcore_probe_run) == true ]] || fail "toxcore probe not run: $probe"
(($(field "$probe" toxcore_refused) > 0)) || fail "toxcore probe not refused: $probe"
log "probe: $probe"
send P quit
exit_p=$(wait_line P '"event":"exit"') || fail "P no exit"
(($(field "$exit_p" nonloopback_sends) > 0)) || fail "P exit count: $exit_p"
grep -h 'REFUSED' "$WORK/P.err" | sed 's/^/    /' >&2

# --- orderly exit ------------------------------------------------------------------------------
send A quit
exit_a=$(wait_line A '"event":"exit"') || fail "A did not exit"
[[ $(field "$exit_a" nonloopback_sends) -eq 0 ]] || fail "A exit: $exit_a"
wait_line B '"event":"friend_connection","friend":0,"status":"none"' >/dev/null ||
    fail "B did not notice A leaving"
send B quit
exit_b=$(wait_line B '"event":"exit"') || fail "B did not exit"
[[ $(field "$exit_b" nonloopback_sends) -eq 0 ]] || fail "B exit: $exit_b"
wait "${PID[A]}" || fail "A exit status $?"
wait "${PID[B]}" || fail "B exit status $?"
log "A and B exited cleanly with nonloopback_sends=0"

# --- savedata persistence --------------------------------------------------------------------------
r1=$("$HARNESS" --savedata "$WORK/profile.tox" --max-seconds 5 </dev/null | head -n 1)
[[ -s $WORK/profile.tox ]] || fail "savedata file not created"
r2=$("$HARNESS" --savedata "$WORK/profile.tox" --max-seconds 5 </dev/null | head -n 1)
[[ $(field "$r1" public_key) == "$(field "$r2" public_key)" ]] || fail "savedata: key changed"
log "savedata: long-term key persisted across runs"

log "PASS"
exit 0
