#!/usr/bin/env bash
# listen serves each peer on its own stream, on 127.0.0.1. Every wait is bounded.
# Usage: listen_exec_test.sh PATH/TO/netcrypto exec|busy
#   exec: 10 concurrent `connect` clients to one `listen --exec`; each peer's bytes reach its
#         own child (files named by $NETCRYPTO_PEER), and a child's output reaches its own peer;
#         --max-peers 1 refuses a second peer with an event; a command that outlives its peer
#         is terminated.
#   busy: without --exec a second peer is refused (with an event) while the first is served,
#         and is served once the first one has left.
set -euo pipefail
NC=${1:?path to netcrypto}
MODE=${2:?exec or busy}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
failed=0
ok() { echo "ok   - $1"; }
bad() {
    echo "FAIL - $1"
    failed=1
}
# wait_for FILE PATTERN SECONDS: wait until FILE contains PATTERN.
wait_for() {
    local deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
json_field() { grep -o "\"$2\":\"[^\"]*\"" "$1" | head -n 1 | cut -d'"' -f4; }

srv=$("$NC" keygen --out "$WORK/srv.key" | sed -n "s/^public key: //p")
N=10
for i in $(seq 1 $N); do
    "$NC" keygen --out "$WORK/c$i.key" | sed -n "s/^public key: //p" >"$WORK/c$i.pub"
    head -c $((100000 + i * 37001)) /dev/urandom >"$WORK/d$i"
done

# start_listen LOG ARGS...: a --json listener on an ephemeral port; sets LISTEN_PID and ADDR.
start_listen() {
    local log=$1
    shift
    "$NC" --json listen --key "$WORK/srv.key" --dht-key "$WORK/srv.key" --bind 127.0.0.1:0 "$@" \
        2>"$log" &
    LISTEN_PID=$!
    PIDS+=("$LISTEN_PID")
    wait_for "$log" '"event":"ready"' 10 || {
        bad "listener not ready: $(cat "$log")"
        exit 1
    }
    ADDR=$(json_field "$log" address)
}
# client I [connect options]: connect as client I (stdin: the caller's), bounded in time.
client() {
    local i=$1
    shift
    timeout 30 "$NC" connect --key "$WORK/c$i.key" --to "$ADDR" --peer "$srv" --peer-dht "$srv" "$@"
}
stop_listen() {
    kill "$LISTEN_PID" 2>/dev/null || true
    wait "$LISTEN_PID" 2>/dev/null || true
}

if [[ "$MODE" == exec ]]; then
    # 1. Peer → child: each child writes its stdin to a file named by its peer's key.
    mkdir "$WORK/out"
    export OUT="$WORK/out"
    start_listen "$WORK/l1.err" --exec \
        'cat >"$OUT/$NETCRYPTO_PEER"; echo "$NETCRYPTO_PEER_ADDRESS $NETCRYPTO_CONNECTION" >"$OUT/$NETCRYPTO_PEER.env"'
    pids=()
    for i in $(seq 1 $N); do
        client "$i" <"$WORK/d$i" >/dev/null 2>"$WORK/c$i.err" &
        pids+=($!)
    done
    for i in $(seq 1 $N); do
        wait "${pids[$((i - 1))]}" || bad "client $i exit status $?: $(tail -n 1 "$WORK/c$i.err")"
    done
    for i in $(seq 1 $N); do # the child may still be writing its file: bounded wait
        wait_for "$WORK/l1.err" "\"event\":\"exit\",\"peer\":\"$(cat "$WORK/c$i.pub")\"" 10 || true
    done
    same=0
    for i in $(seq 1 $N); do
        pk=$(cat "$WORK/c$i.pub")
        if cmp -s "$WORK/d$i" "$WORK/out/$pk"; then same=$((same + 1)); else bad "peer $i: child got other bytes"; fi
        grep -Eq '^127\.0\.0\.1:[0-9]+ [0-9]+$' "$WORK/out/$pk.env" 2>/dev/null ||
            bad "peer $i: environment $(cat "$WORK/out/$pk.env" 2>/dev/null)"
    done
    ((same == N)) && ok "$N concurrent peers: each child got exactly its own peer's bytes"
    [[ $(grep -c '"event":"exec"' "$WORK/l1.err") == "$N" ]] && ok "one exec event per peer" ||
        bad "exec events: $(grep -c '"event":"exec"' "$WORK/l1.err")"
    sleep 0.3
    zombies=$(ps -o stat= --ppid "$LISTEN_PID" | grep -c Z || true)
    [[ "$zombies" == 0 ]] && ok "every child reaped (no zombies)" || bad "$zombies zombie children"
    stop_listen

    # 2. Child → peer: each child answers its peer with the peer's key and a hash of its input.
    start_listen "$WORK/l2.err" --exec 'printf "%s\n" "$NETCRYPTO_PEER"; head -c 1000 | sha256sum'
    pids=()
    for i in $(seq 1 $N); do
        # stdin stays open until the answer came (the child ends the connection).
        (head -c 1000 "$WORK/d$i"; sleep 8) | client "$i" >"$WORK/r$i" 2>"$WORK/r$i.err" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || true; done # the listener ends each connection
    same=0
    for i in $(seq 1 $N); do
        want="$(cat "$WORK/c$i.pub")
$(head -c 1000 "$WORK/d$i" | sha256sum)"
        if [[ "$(cat "$WORK/r$i")" == "$want" ]]; then same=$((same + 1)); else bad "peer $i got: $(head -c 200 "$WORK/r$i")"; fi
    done
    ((same == N)) && ok "$N concurrent peers: each got its own child's output"
    stop_listen

    # 3. --max-peers 1: a second peer is refused while the first one is served.
    start_listen "$WORK/l3.err" --max-peers 1 --exec 'cat >/dev/null'
    (head -c 1000 "$WORK/d1"; sleep 4) | client 1 >/dev/null 2>&1 &
    first=$!
    wait_for "$WORK/l3.err" '"event":"exec"' 10 || bad "first peer not served"
    if client 2 --timeout 2 <"$WORK/d2" >/dev/null 2>&1; then bad "second peer was served beyond --max-peers 1"; fi
    grep -q "{\"event\":\"refused\",\"peer\":\"$(cat "$WORK/c2.pub")\",\"reason\":\"busy\"}" "$WORK/l3.err" &&
        ok "--max-peers 1: the second peer is refused with an event" || bad "no refused event: $(cat "$WORK/l3.err")"
    wait "$first" || true
    stop_listen

    # 4. The peer leaves while its command still runs: SIGTERM 10 s after its stdin closed.
    start_listen "$WORK/l4.err" --exec 'sleep 300 | cat'
    (sleep 1) | client 1 >/dev/null 2>&1 || true
    if wait_for "$WORK/l4.err" '"event":"exit".*"status":143' 20; then
        ok "a command outliving its peer gets SIGTERM (exit status 143)"
    else
        bad "no exit event after the peer left: $(tail -n 2 "$WORK/l4.err")"
    fi
    stop_listen

    # 5. A command that closes its stdin at once while its peer streams: what it does not read
    #    is dropped, the listener keeps running and the connection ends when the command does.
    start_listen "$WORK/l5.err" --exec 'exec 0<&-; sleep 1; echo done'
    head -c 2000000 /dev/urandom >"$WORK/big"
    client 1 <"$WORK/big" >"$WORK/r5" 2>"$WORK/r5.err" || true
    if kill -0 "$LISTEN_PID" 2>/dev/null; then
        ok "a command that closes its stdin early: the listener survives the broken pipe"
    else
        bad "the listener died when its command closed stdin: $(tail -n 2 "$WORK/l5.err")"
    fi
    [[ "$(cat "$WORK/r5")" == "done" ]] && ok "and the command's output still reached the peer" ||
        bad "peer got '$(head -c 100 "$WORK/r5")': $(tail -n 1 "$WORK/r5.err")"
    stop_listen
else
    # Without --exec: one peer's stream on stdout at a time.
    start_listen "$WORK/l.err" >"$WORK/stdout"
    (cat "$WORK/d1"; sleep 4) | client 1 >/dev/null 2>"$WORK/c1.err" &
    first=$!
    wait_for "$WORK/l.err" '"status":"Established"' 10 || bad "first peer not established"
    if client 2 --timeout 2 <"$WORK/d2" >/dev/null 2>"$WORK/c2.err"; then
        bad "a second peer was served while the first one was"
    else
        ok "the second peer is not served while the first one is: $(tail -n 1 "$WORK/c2.err")"
    fi
    grep -q "{\"event\":\"refused\",\"peer\":\"$(cat "$WORK/c2.pub")\",\"reason\":\"busy\"}" "$WORK/l.err" &&
        ok "a refused event names the second peer" || bad "no refused event: $(cat "$WORK/l.err")"
    [[ $(grep -c '"event":"refused"' "$WORK/l.err") == 1 ]] && ok "refused reported once (not per handshake resend)" ||
        bad "refused events: $(grep -c '"event":"refused"' "$WORK/l.err")"
    wait "$first" || bad "first client: $(tail -n 1 "$WORK/c1.err")"
    # The first peer left: the second one is served now, after the first one's bytes.
    client 2 <"$WORK/d2" >/dev/null 2>"$WORK/c2.err" || bad "second peer after the first: $(tail -n 1 "$WORK/c2.err")"
    sleep 0.3
    cat "$WORK/d1" "$WORK/d2" >"$WORK/both"
    cmp -s "$WORK/both" "$WORK/stdout" && ok "stdout holds the first peer's bytes, then the second's, unmixed" ||
        bad "stdout: $(wc -c <"$WORK/stdout") bytes, expected $(wc -c <"$WORK/both")"
    stop_listen
fi
exit $failed
