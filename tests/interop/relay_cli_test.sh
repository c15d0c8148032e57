#!/usr/bin/env bash
# The netcrypto CLI through c-toxcore 0.2.18's own TCP relay (tox_relay), with no UDP at all.
# Meant to run inside a fresh network namespace (ctest: run_in_netns.sh, loopback only); the
# relay's loopback guard refuses anything else and the test checks it refused nothing.
# Every wait is bounded.
# Usage: relay_cli_test.sh NETCRYPTO TOX_RELAY TCP_FORWARD transfer|reconnect
#   transfer:  listen --no-udp --exec and connect --no-udp, both on the relay: Established,
#              route tcp_relay, 8 MiB each way compared by SHA-256.
#   reconnect: connect reaches the relay through tcp_forward; the forwarder is killed mid-session
#              (every TCP connection through it dies, as with a relay crash) and started again
#              on the same port: the relay event says disconnected then connected, and the
#              session carries on (data before and after the cut arrive intact).
set -euo pipefail
NC=${1:?path to netcrypto}
RELAY=${2:?path to tox_relay}
FORWARD=${3:?path to tcp_forward}
MODE=${4:?transfer or reconnect}
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/../cli/lib.sh"

# Loopback with an ordinary path's segment sizes (lib.sh, realistic_loopback).
realistic_loopback

# Fixed ports: the namespace is ours (without namespaces, distinct per mode for parallel runs).
if [[ "$MODE" == transfer ]]; then RELAY_PORT=33731; else RELAY_PORT=33733; fi
FORWARD_PORT=$((RELAY_PORT + 1))

"$NC" keygen --out "$WORK/a.key" >/dev/null
pk_b=$("$NC" keygen --out "$WORK/b.key" | sed -n 's/^public key: //p')
"$NC" keygen --out "$WORK/b_dht.key" >/dev/null
dht_b=$("$NC" id --key "$WORK/b.key" --dht-key "$WORK/b_dht.key" | sed -n 's/^DHT key: *\([0-9a-f]*\).*/\1/p')
[[ "$dht_b" =~ ^[0-9a-f]{64}$ ]] && ok "id --dht-key prints the DHT public key" || bad "id --dht-key: '$dht_b'"

"$RELAY" --port "$RELAY_PORT" --max-seconds 110 >"$WORK/relay.out" 2>"$WORK/relay.err" &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
wait_for "$WORK/relay.out" '"event":"ready"' 10 || {
    bad "tox_relay not ready: $(cat "$WORK/relay.out" "$WORK/relay.err")"
    exit 1
}
relay_key=$(json_field "$WORK/relay.out" relay_key)
RELAY_ARG="127.0.0.1:$RELAY_PORT:$relay_key"
ok "c-toxcore relay on 127.0.0.1:$RELAY_PORT (key ${relay_key:0:16}…)"

# start_listen ARGS...: a --json --no-udp listener on the relay (B's keys); sets LISTEN_PID.
start_listen() {
    "$NC" --json listen --no-udp --relay "$RELAY_ARG" --key "$WORK/b.key" \
        --dht-key "$WORK/b_dht.key" --once "$@" >"$WORK/listen.out" 2>"$WORK/listen.err" &
    LISTEN_PID=$!
    PIDS+=("$LISTEN_PID")
    if ! wait_for "$WORK/listen.err" '"event":"ready"' 10; then
        bad "listen not ready: $(cat "$WORK/listen.err")"
        exit 1
    fi
    [[ "$(json_field "$WORK/listen.err" dht_public_key)" == "$dht_b" ]] &&
        ok "listen --dht-key: the ready event's DHT key is the file's" ||
        bad "listen ready: DHT key $(json_field "$WORK/listen.err" dht_public_key), want $dht_b"
    grep '"event":"ready"' "$WORK/listen.err" | grep -q '"address"' &&
        bad "listen --no-udp reported a UDP address" || ok "listen --no-udp: no UDP address in ready"
    wait_for "$WORK/listen.err" '"event":"relay","relay":"127.0.0.1:'"$RELAY_PORT"'","state":"connected"' 15 &&
        ok "listen: relay connected" || bad "listen: relay not connected: $(grep relay "$WORK/listen.err")"
}

# check_relay_guard: the relay refused no non-loopback send (read after it exits).
check_relay_guard() {
    kill "$RELAY_PID" 2>/dev/null || true
    timeout 10 tail --pid="$RELAY_PID" -f /dev/null || true
    if grep -q '"event":"exit".*"nonloopback_sends":0' "$WORK/relay.out"; then
        ok "relay: no non-loopback send attempted"
    else
        bad "relay exit: $(grep exit "$WORK/relay.out" || echo none)"
    fi
}

if [[ "$MODE" == transfer ]]; then
    SIZE=$((8 << 20))
    head -c "$SIZE" /dev/urandom >"$WORK/a_src.bin"
    head -c "$SIZE" /dev/urandom >"$WORK/b_src.bin"
    export OUT="$WORK"
    # The sender in the background: an asynchronous command's stdin is /dev/null in sh.
    start_listen --exec 'cat "$OUT/b_src.bin" & cat >"$OUT/b_in.bin"; wait'
    start=$SECONDS
    if ! timeout 90 "$NC" --json connect --no-udp --relay "$RELAY_ARG" --key "$WORK/a.key" \
        --peer "$pk_b" --peer-dht "$dht_b" <"$WORK/a_src.bin" >"$WORK/a_in.bin" 2>"$WORK/connect.err"; then
        bad "connect failed: $(tail -n 3 "$WORK/connect.err")"
    fi
    took=$((SECONDS - start))
    grep -q '"status":"Established"' "$WORK/connect.err" && ok "connect: Established through the relay" ||
        bad "connect: never Established: $(tail -n 5 "$WORK/connect.err")"
    grep -q '"event":"route","kind":"tcp_relay"[^}]*"relay":"127.0.0.1:'"$RELAY_PORT"'"' "$WORK/connect.err" &&
        ok "connect: route event says tcp_relay 127.0.0.1:$RELAY_PORT" ||
        bad "connect: no tcp_relay route event: $(grep route "$WORK/connect.err" || echo none)"
    grep -q '"event":"route","kind":"tcp_relay"' "$WORK/listen.err" && ok "listen: route event says tcp_relay" ||
        bad "listen: no tcp_relay route event"
    grep -q '"event":"route","kind":"udp"' "$WORK/connect.err" "$WORK/listen.err" &&
        bad "a route over UDP with --no-udp" || true
    timeout 20 tail --pid="$LISTEN_PID" -f /dev/null || bad "listen --once did not exit"
    for dir in "a_src b_in A→B" "b_src a_in B→A"; do
        set -- $dir
        want=$(sha256sum <"$WORK/$1.bin" | cut -d' ' -f1)
        got=$(sha256sum <"$WORK/$2.bin" 2>/dev/null | cut -d' ' -f1)
        if [[ "$want" == "$got" ]]; then
            ok "$3: $SIZE bytes intact through the relay (sha256 ${got:0:16}…)"
        else
            bad "$3: sha256 mismatch: $(stat -c %s "$WORK/$2.bin" 2>/dev/null || echo 0) of $SIZE bytes arrived"
        fi
    done
    echo "# transfer took $took s"
    check_relay_guard
else
    "$FORWARD" "$FORWARD_PORT" "$RELAY_PORT" 100 >"$WORK/fwd1.out" &
    FWD_PID=$!
    PIDS+=("$FWD_PID")
    wait_for "$WORK/fwd1.out" '"event":"ready"' 5 || bad "tcp_forward not ready"
    start_listen
    mkfifo "$WORK/in"
    "$NC" --json connect --no-udp --relay "127.0.0.1:$FORWARD_PORT:$relay_key" --key "$WORK/a.key" \
        --peer "$pk_b" --peer-dht "$dht_b" <"$WORK/in" >/dev/null 2>"$WORK/connect.err" &
    CONNECT_PID=$!
    PIDS+=("$CONNECT_PID")
    exec 3>"$WORK/in"
    FWD_LABEL="127.0.0.1:$FORWARD_PORT"
    wait_for "$WORK/connect.err" '"status":"Established"' 20 && ok "connect: Established through the forwarder" ||
        bad "connect: not Established: $(tail -n 5 "$WORK/connect.err")"
    head -c 100000 /dev/urandom >"$WORK/part1"
    head -c 100000 /dev/urandom >"$WORK/part2"
    cat "$WORK/part1" >&3
    deadline=$((SECONDS + 20))
    while (($(stat -c %s "$WORK/listen.out") < 100000 && SECONDS < deadline)); do sleep 0.1; done
    cmp -s "$WORK/part1" "$WORK/listen.out" && ok "first 100000 bytes arrived before the cut" ||
        bad "before the cut: $(stat -c %s "$WORK/listen.out") bytes arrived"

    kill -9 "$FWD_PID"
    wait "$FWD_PID" 2>/dev/null || true
    wait_for "$WORK/connect.err" '"event":"relay","reason":"end_of_stream","relay":"'"$FWD_LABEL"'","state":"disconnected"' 10 &&
        ok "connect: relay disconnected (end_of_stream) when the forwarder died" ||
        bad "connect: no relay disconnected event: $(grep '"relay"' "$WORK/connect.err")"
    sleep 1.5 # a few refused reconnections meanwhile (backoff 1 s, 2 s, ...)
    # 3>&-: the forwarder must not hold connect's stdin open (its end would never come).
    "$FORWARD" "$FORWARD_PORT" "$RELAY_PORT" 100 >"$WORK/fwd2.out" 3>&- &
    PIDS+=($!)
    wait_for "$WORK/fwd2.out" '"event":"ready"' 5 || bad "tcp_forward did not start again"
    cut_at=$SECONDS
    # The second "connected" of the forwarder's relay (the first was before the cut).
    connected_count() { grep -c '"relay":"'"$FWD_LABEL"'","state":"connected"' "$WORK/connect.err" || true; }
    deadline=$((SECONDS + 15))
    while (($(connected_count) < 2 && SECONDS < deadline)); do sleep 0.1; done
    (($(connected_count) >= 2)) &&
        ok "connect: relay connected again $((SECONDS - cut_at)) s after the forwarder came back" ||
        bad "connect: relay not connected again: $(grep '"relay"' "$WORK/connect.err")"
    cat "$WORK/part2" >&3
    exec 3>&-
    cat "$WORK/part1" "$WORK/part2" >"$WORK/want"
    if timeout 40 tail --pid="$CONNECT_PID" -f /dev/null; then
        wait "$CONNECT_PID" && ok "connect exited cleanly after the cut" ||
            bad "connect exit status: $(tail -n 3 "$WORK/connect.err")"
    else
        bad "connect did not finish within 40 s of its input ending"
        echo "# connect's last events:"
        tail -n 8 "$WORK/connect.err" | sed 's/^/#   /'
        echo "# listen's last events:"
        tail -n 8 "$WORK/listen.err" | sed 's/^/#   /'
    fi
    timeout 20 tail --pid="$LISTEN_PID" -f /dev/null || bad "listen --once did not exit"
    cmp -s "$WORK/want" "$WORK/listen.out" && ok "all 200000 bytes arrived intact across the cut" ||
        bad "across the cut: $(stat -c %s "$WORK/listen.out") of 200000 bytes, content $(cmp "$WORK/want" "$WORK/listen.out" 2>&1 | head -n 1)"
    check_relay_guard
fi

echo "$passed passed, $failed failed"
((failed == 0))
