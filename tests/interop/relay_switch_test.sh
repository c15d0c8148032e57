#!/usr/bin/env bash
# A netcrypto session moving between paths under an 8 MiB stream, through c-toxcore 0.2.18's own
# TCP relay (tox_relay). Meant to run inside a fresh network namespace (ctest: run_in_netns.sh,
# loopback only). Every wait is bounded.
# Usage: relay_switch_test.sh NETCRYPTO TOX_RELAY UDP_FORWARD switch|failover
#   switch:   both peers have UDP and the same relay; connect reaches listen over UDP through
#             udp_forward. The stream starts over UDP, the forwarder is cut (it drops every
#             datagram) while the stream runs: the route events go to tcp_relay within about
#             8 s; it is restored: they come back to udp. The received bytes are the sent ones.
#   failover: no UDP, two relays; the relay the stream arrives through is killed (SIGKILL)
#             mid-stream: the relay event says it is disconnected, the route event names the
#             other relay, and the stream completes intact over it.
# ok and bad always succeed, so "CHECK && ok ... || bad ..." is an if-then-else here.
# shellcheck disable=SC2015
set -euo pipefail
NC=${1:?path to netcrypto}
RELAY=${2:?path to tox_relay}
UDP_FORWARD=${3:?path to udp_forward}
MODE=${4:?switch or failover}
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/../cli/lib.sh"

# Loopback with an ordinary path's segment sizes (lib.sh, realistic_loopback).
realistic_loopback

# Fixed ports (distinct per mode and from the other relay tests, for runs without namespaces).
if [[ "$MODE" == switch ]]; then BASE_PORT=33781; else BASE_PORT=33791; fi
SIZE=$((8 << 20))
CHUNK=$((256 << 10))

"$NC" keygen --out "$WORK/a.key" >/dev/null
pk_b=$("$NC" keygen --out "$WORK/b.key" | sed -n 's/^public key: //p')
"$NC" keygen --out "$WORK/b_dht.key" >/dev/null
dht_b=$("$NC" id --key "$WORK/b.key" --dht-key "$WORK/b_dht.key" | sed -n 's/^DHT key: *\([0-9a-f]*\).*/\1/p')
[[ "$dht_b" =~ ^[0-9a-f]{64}$ ]] || {
    bad "id --dht-key: '$dht_b'"
    exit 1
}

# The stream: SIZE random bytes in CHUNK-sized pieces chunk.0 ... fed to connect's stdin.
head -c "$SIZE" /dev/urandom >"$WORK/sent.bin"
split -b "$CHUNK" -d -a 2 "$WORK/sent.bin" "$WORK/chunk."
NCHUNKS=$((SIZE / CHUNK))

# now_ms: milliseconds on the wall clock, for the timings reported.
now_ms() { date +%s%3N; }
# size_of FILE: its size in bytes (0 while it does not exist).
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
# routes FILE [FROM_LINE]: the route events of FILE from line FROM_LINE on, one per line, as
# "udp" or "tcp_relay@HOST:PORT".
routes() {
    tail -n +"${2:-1}" "$1" | grep -o '"event":"route","kind":"[a-z_]*"[^}]*' |
        sed -e 's/.*"kind":"\([a-z_]*\)".*"relay":"\([^"]*\)".*/\1@\2/' \
            -e 's/.*"kind":"\([a-z_]*\)".*/\1/' || true
}
# mark_lines: lines[listen] and lines[connect], the number of lines in each one's events so far.
declare -A lines
mark_lines() {
    local who
    for who in listen connect; do lines[$who]=$(wc -l <"$WORK/$who.err"); done
}
# routes_since WHO LINES: WHO's (listen or connect) route events after its first LINES lines, on
# one line.
routes_since() { routes "$WORK/$1.err" $(($2 + 1)) | tr '\n' ' '; }
# last_route FILE: the latest route event of FILE, as routes prints it.
last_route() { routes "$1" | tail -n 1; }
# wait_route FILE WANT SECONDS [FROM_LINE]: wait until the latest route event of FILE (from
# line FROM_LINE on) is WANT (as routes prints it; a bare "tcp_relay" matches any relay).
wait_route() {
    local deadline=$((SECONDS + $3)) r
    while ((SECONDS < deadline)); do
        r=$(routes "$1" "${4:-1}" | tail -n 1)
        [[ "$r" == "$2" || ("$2" == tcp_relay && "$r" == tcp_relay@*) ]] && return 0
        sleep 0.05
    done
    return 1
}
# feed FIRST LAST PAUSE: chunks FIRST..LAST to fd 3 (connect's stdin), PAUSE seconds apart.
feed() {
    local i
    for ((i = $1; i <= $2; i++)); do
        cat "$WORK/$(printf 'chunk.%02d' "$i")" >&3
        ((i == $2)) || sleep "$3"
    done
}
# wait_pid PID SECONDS WHAT: wait for a process of ours to end; FAIL naming WHAT if it does not.
wait_pid() {
    timeout "$2" tail --pid="$1" -f /dev/null || {
        bad "$3 still running after $2 s"
        return 1
    }
}

# start_relay N PORT: tox_relay number N on PORT; sets RELAY_PIDS[N] and RELAY_ARGS[N].
RELAY_PIDS=()
RELAY_ARGS=()
start_relay() {
    "$RELAY" --port "$2" --max-seconds 80 >"$WORK/relay$1.out" 2>"$WORK/relay$1.err" &
    RELAY_PIDS[$1]=$!
    PIDS+=("$!")
    wait_for "$WORK/relay$1.out" '"event":"ready"' 10 || {
        bad "tox_relay $1 not ready: $(cat "$WORK/relay$1.out" "$WORK/relay$1.err")"
        exit 1
    }
    RELAY_ARGS[$1]="127.0.0.1:$2:$(json_field "$WORK/relay$1.out" relay_key)"
    echo "# c-toxcore relay $1 on 127.0.0.1:$2"
}

# check_relay_guard N: relay N (still running) refused no non-loopback send.
check_relay_guard() {
    kill "${RELAY_PIDS[$1]}" 2>/dev/null || true
    timeout 10 tail --pid="${RELAY_PIDS[$1]}" -f /dev/null || true
    if grep -q '"event":"exit".*"nonloopback_sends":0' "$WORK/relay$1.out"; then
        ok "relay $1: no non-loopback send attempted"
    else
        bad "relay $1 exit: $(grep exit "$WORK/relay$1.out" || echo none)"
    fi
}

# start_peers LISTEN_ARGS -- CONNECT_ARGS: listen --once (B, output to listen.out) and connect
# (A, stdin the fifo "in", opened as fd 3 here); both --json, the given options added. Waits
# for listen's relays and connect's Established; sets LISTEN_PID and CONNECT_PID.
start_peers() {
    local listen_args=() relay_count=${#RELAY_ARGS[@]}
    while [[ "$1" != -- ]]; do
        listen_args+=("$1")
        shift
    done
    shift
    "$NC" --json listen --key "$WORK/b.key" --dht-key "$WORK/b_dht.key" --once "${listen_args[@]}" \
        >"$WORK/listen.out" 2>"$WORK/listen.err" &
    LISTEN_PID=$!
    PIDS+=("$LISTEN_PID")
    wait_for "$WORK/listen.err" '"event":"ready"' 10 || {
        bad "listen not ready: $(cat "$WORK/listen.err")"
        exit 1
    }
    wait_relays "$WORK/listen.err" "$relay_count" listen
    mkfifo "$WORK/in"
    "$NC" --json connect --key "$WORK/a.key" --peer "$pk_b" --peer-dht "$dht_b" "$@" \
        <"$WORK/in" >/dev/null 2>"$WORK/connect.err" &
    CONNECT_PID=$!
    PIDS+=("$CONNECT_PID")
    exec 3>"$WORK/in"
    wait_for "$WORK/connect.err" '"status":"Established"' 20 && ok "connect: Established" || {
        bad "connect: not Established: $(tail -n 5 "$WORK/connect.err")"
        exit 1
    }
    wait_relays "$WORK/connect.err" "$relay_count" connect
}
# wait_relays FILE COUNT WHO: wait until COUNT relays are connected in FILE.
wait_relays() {
    local deadline=$((SECONDS + 15)) n=0
    while ((SECONDS < deadline)); do
        n=$(grep -c '"event":"relay","relay":"[^"]*","state":"connected"' "$1" || true)
        ((n >= $2)) && break
        sleep 0.05
    done
    ((n >= $2)) && ok "$3: $2 relay(s) connected" ||
        bad "$3: $n of $2 relays connected: $(grep '"event":"relay"' "$1" || echo no relay event)"
}

# finish WHAT: ends connect's input, waits for both peers and compares what arrived.
finish() {
    exec 3>&-
    if wait_pid "$CONNECT_PID" 30 "connect (after its input ended)"; then
        wait "$CONNECT_PID" && ok "connect exited cleanly" ||
            bad "connect exit status: $(tail -n 3 "$WORK/connect.err")"
    else
        echo "# connect's last events:"
        tail -n 8 "$WORK/connect.err" | sed 's/^/#   /'
        echo "# listen's last events:"
        tail -n 8 "$WORK/listen.err" | sed 's/^/#   /'
    fi
    wait_pid "$LISTEN_PID" 20 "listen --once (after the session ended)" || true
    local want got
    want=$(sha256sum <"$WORK/sent.bin" | cut -d' ' -f1)
    got=$(sha256sum <"$WORK/listen.out" | cut -d' ' -f1)
    if [[ "$want" == "$got" ]]; then
        ok "$1: all $SIZE bytes arrived intact and in order (sha256 ${got:0:16}…)"
    else
        got=$(size_of "$WORK/listen.out")
        bad "$1: sha256 mismatch: $got of $SIZE bytes arrived ($(cmp "$WORK/sent.bin" "$WORK/listen.out" 2>&1 | head -n 1))"
    fi
}

# show_routes: the route and relay events of both peers, for the log.
show_routes() {
    local who
    for who in listen connect; do
        echo "# $who route events: $(routes "$WORK/$who.err" | tr '\n' ' ')"
        echo "# $who relay events: $(grep -o '"event":"relay"[^}]*' "$WORK/$who.err" |
            sed 's/"event":"relay",//' | tr '\n' ' ')"
    done
}

if [[ "$MODE" == switch ]]; then
    LISTEN_PORT=$((BASE_PORT + 2))
    FORWARD_PORT=$((BASE_PORT + 3))
    start_relay 1 "$BASE_PORT"
    "$UDP_FORWARD" "$FORWARD_PORT" "$LISTEN_PORT" 80 >"$WORK/fwd.out" &
    FWD_PID=$!
    PIDS+=("$FWD_PID")
    wait_for "$WORK/fwd.out" '"event":"ready"' 5 || {
        bad "udp_forward not ready"
        exit 1
    }
    start_peers --bind "127.0.0.1:$LISTEN_PORT" --relay "${RELAY_ARGS[1]}" -- \
        --to "127.0.0.1:$FORWARD_PORT" --relay "${RELAY_ARGS[1]}"

    # Phase 1, over UDP: the first 2 MiB.
    feed 0 7 0
    deadline=$((SECONDS + 15))
    while (($(size_of "$WORK/listen.out") < (1 << 20) && SECONDS < deadline)); do sleep 0.05; done
    for who in listen connect; do
        [[ "$(last_route "$WORK/$who.err")" == udp ]] && ok "$who: route udp before the cut" ||
            bad "$who: route before the cut is '$(last_route "$WORK/$who.err")', not udp"
    done
    got=$(size_of "$WORK/listen.out")
    ((got >= (1 << 20))) && ok "$got bytes arrived over UDP before the cut" ||
        bad "only $got bytes arrived over UDP in 15 s"

    # Phase 2, UDP cut: 2 MiB more, a chunk every 1.5 s, in the background (the writes block
    # while nothing gets through).
    mark_lines
    kill -USR1 "$FWD_PID"
    wait_for "$WORK/fwd.out" '"event":"cut"' 5 || bad "udp_forward did not acknowledge the cut"
    cut_ms=$(now_ms)
    at_cut=$(size_of "$WORK/listen.out")
    feed 8 15 1.5 &
    FEED_PID=$!
    PIDS+=("$FEED_PID")
    relay_label="${RELAY_ARGS[1]%:*}"
    for who in listen connect; do
        if wait_route "$WORK/$who.err" "tcp_relay@$relay_label" 14 $((lines[$who] + 1)); then
            took=$(($(now_ms) - cut_ms))
            # The core's rule: direct while a UDP packet arrived within 8 s (checked at least
            # once a second), so not much before 8 s of silence.
            ((took >= 6000)) && ok "$who: route tcp_relay $relay_label $took ms after the cut" ||
                bad "$who: route tcp_relay only $took ms after the cut: UDP was given up too early"
        else
            bad "$who: no route tcp_relay within 14 s of the cut (since: $(routes_since "$who" "${lines[$who]}"))"
        fi
    done
    at_relay=$(size_of "$WORK/listen.out")
    # Restore 12 s after the cut, or once 256 KiB came through the relay if that is later.
    deadline=$((SECONDS + 20))
    while (($(now_ms) - cut_ms < 12000 ||
        $(size_of "$WORK/listen.out") - at_relay < CHUNK)) && ((SECONDS < deadline)); do
        sleep 0.1
    done
    at_restore=$(size_of "$WORK/listen.out")
    ((at_restore - at_relay >= CHUNK)) &&
        ok "$((at_restore - at_relay)) bytes arrived through the relay while UDP was cut" ||
        bad "only $((at_restore - at_relay)) bytes arrived through the relay while UDP was cut"
    echo "# bytes received: $at_cut at the cut, $at_relay when on the relay, $at_restore at the restore"

    # Phase 3, UDP back: the route returns to udp; the last 4 MiB.
    mark_lines
    kill -USR2 "$FWD_PID"
    wait_for "$WORK/fwd.out" '"event":"restored"' 5 || bad "udp_forward did not acknowledge the restore"
    restore_ms=$(now_ms)
    for who in listen connect; do
        if wait_route "$WORK/$who.err" udp 10 $((lines[$who] + 1)); then
            ok "$who: route udp again $(($(now_ms) - restore_ms)) ms after the restore"
        else
            bad "$who: no route udp within 10 s of the restore (since: $(routes_since "$who" "${lines[$who]}"))"
        fi
    done
    wait_pid "$FEED_PID" 20 "the feeder of the cut phase" || true
    feed 16 $((NCHUNKS - 1)) 0
    finish "UDP → relay → UDP"
    grep -q '"event":"relay","reason"' "$WORK/listen.err" "$WORK/connect.err" &&
        bad "a relay disconnected: $(grep -h '"event":"relay","reason"' "$WORK"/{listen,connect}.err)" ||
        ok "the relay stayed connected throughout"
    grep -o '"event":"[a-z]*"[^}]*' "$WORK/fwd.out" | sed 's/^/# udp_forward: /'
    show_routes
    check_relay_guard 1
else
    start_relay 1 "$BASE_PORT"
    start_relay 2 $((BASE_PORT + 1))
    start_peers --no-udp --relay "${RELAY_ARGS[1]}" --relay "${RELAY_ARGS[2]}" -- \
        --no-udp --relay "${RELAY_ARGS[1]}" --relay "${RELAY_ARGS[2]}"
    # The whole stream in the background, a chunk every 0.25 s (at least 8 s in all).
    start_ms=$(now_ms)
    feed 0 $((NCHUNKS - 1)) 0.25 &
    FEED_PID=$!
    PIDS+=("$FEED_PID")
    deadline=$((SECONDS + 20))
    while (($(size_of "$WORK/listen.out") < (2 << 20) && SECONDS < deadline)); do sleep 0.05; done
    before_kill=$(size_of "$WORK/listen.out")
    carrier=$(last_route "$WORK/listen.err")
    carrier=${carrier#tcp_relay@}
    case "$carrier" in
        "${RELAY_ARGS[1]%:*}") killed=1 survivor=2 ;;
        "${RELAY_ARGS[2]%:*}") killed=2 survivor=1 ;;
        *)
            bad "listen: the stream's route is '$carrier', not one of the relays"
            show_routes
            exit 1
            ;;
    esac
    ((before_kill >= (2 << 20) && before_kill < SIZE)) &&
        ok "stream running through relay $killed ($carrier): $before_kill of $SIZE bytes" ||
        bad "stream not mid-way at the kill: $before_kill of $SIZE bytes"
    killed_label=${RELAY_ARGS[$killed]%:*}
    survivor_label=${RELAY_ARGS[$survivor]%:*}
    echo "# connect's route before the kill: $(last_route "$WORK/connect.err")"

    lines_listen=$(wc -l <"$WORK/listen.err")
    kill -9 "${RELAY_PIDS[$killed]}"
    wait "${RELAY_PIDS[$killed]}" 2>/dev/null || true
    kill_ms=$(now_ms)
    down='"reason":"[a-z_]*","relay":"'"$killed_label"'","state":"disconnected"'
    for who in listen connect; do
        if wait_for "$WORK/$who.err" "$down" 10; then
            why=$(grep -o "$down" "$WORK/$who.err" | head -n 1 | cut -d'"' -f4)
            ok "$who: relay $killed_label disconnected ($why) $(($(now_ms) - kill_ms)) ms after the kill"
        else
            bad "$who: no disconnected event for relay $killed_label: $(grep '"event":"relay"' "$WORK/$who.err")"
        fi
    done
    # The receiver's route moves to the survivor; the sender's is there afterwards too (it may
    # have been there all along: each side picks its own relay).
    if wait_route "$WORK/listen.err" "tcp_relay@$survivor_label" 15 $((lines_listen + 1)); then
        ok "listen: route tcp_relay $survivor_label $(($(now_ms) - kill_ms)) ms after the kill"
    else
        bad "listen: no route to $survivor_label after the kill (since: $(routes_since listen "$lines_listen"))"
    fi
    wait_route "$WORK/connect.err" "tcp_relay@$survivor_label" 15 &&
        ok "connect: route tcp_relay $survivor_label after the kill" ||
        bad "connect: latest route is '$(last_route "$WORK/connect.err")', not $survivor_label"
    wait_pid "$FEED_PID" 25 "the feeder" || true
    echo "# the feeder ended $(($(now_ms) - start_ms)) ms after the stream started"
    finish "relay $killed killed mid-stream"
    # Bytes the killed relay had sent before it died may still be read after the kill; nothing
    # can come through it once its end of stream was seen.
    gone=$(grep -n '"relay":"'"$killed_label"'","state":"disconnected"' "$WORK/listen.err" |
        head -n 1 | cut -d: -f1)
    [[ -n "$gone" ]] && routes "$WORK/listen.err" "$gone" | grep -q "@$killed_label" &&
        bad "listen: a route through relay $killed_label after its disconnection" || true
    grep -q '"relay":"'"$survivor_label"'","state":"disconnected"' "$WORK/listen.err" "$WORK/connect.err" &&
        bad "relay $survivor_label disconnected too: $(grep -h '"reason"' "$WORK"/{listen,connect}.err)" ||
        ok "relay $survivor_label stayed connected on both sides"
    show_routes
    check_relay_guard "$survivor"
fi

echo "$passed passed, $failed failed"
((failed == 0))
