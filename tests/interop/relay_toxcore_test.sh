#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2317  # cleanup() is invoked through trap
#
# The netcrypto CLI and a c-toxcore 0.2.18 peer with UDP off, through c-toxcore's own TCP relay
# (tcp_relay.md §7.3, §10 c/f). Everything is a tox_harness or the CLI on 127.0.0.1; meant to run
# in a fresh network namespace (ctest: run_in_netns.sh, loopback only). The harnesses' loopback
# guard refuses any other destination and the test checks that nothing was refused.
#
# Usage: relay_toxcore_test.sh SCENARIO NETCRYPTO TOX_HARNESS
#   harness          (no CLI) the relay harness (--tcp-port) and a --no-udp peer with --relay:
#                    ready fields, tcp_relay accepted, the peer's TCP link to the relay is up,
#                    bad --relay values refused
#   chat             `chat --no-udp --relay R --peer TOXID --peer-dht DHT` to a --no-udp --echo
#                    c-toxcore peer: Established, route tcp_relay, c-toxcore says "tcp", a message
#                    and its echo, a delivered event, our name seen by c-toxcore
#   stream           `connect` likewise: 8 MiB of custom lossless id 160 to c-toxcore, which
#                    echoes every packet back: c-toxcore's received SHA-256 and ours (the echo)
#                    both equal the input's
#   share_reconnect  (§10 f4) chat with a fixed DHT key, then chat leaves (OFFLINE + KILL); a
#                    `listen` with the same keys on the same relay: c-toxcore comes back by
#                    itself through the relay it learnt from our SHARE_RELAYS. Needs a CLI that
#                    passes its --relay list to FriendLayer::set_shared_relays.
# Exit status 0 = pass. Every wait is bounded. RELAY_TOXCORE_KEEP=1 keeps the logs.

set -u
set -o pipefail

SCENARIO=${1:?usage: $0 SCENARIO NETCRYPTO TOX_HARNESS}
NC=${2:?netcrypto binary}
HARNESS=${3:?tox_harness binary}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/relay_toxcore_${SCENARIO}.XXXXXX")
declare -A PID FD
FAILED=0
T0=$(date +%s%3N)
# Fixed ports: the namespace is ours (without one, distinct per scenario for parallel runs).
case $SCENARIO in
    harness) RELAY_PORT=33741 ;;
    chat) RELAY_PORT=33742 ;;
    stream) RELAY_PORT=33743 ;;
    share_reconnect) RELAY_PORT=33744 ;;
    *)
        echo "unknown scenario $SCENARIO" >&2
        exit 2
        ;;
esac

now_ms() { date +%s%3N; }
log() { printf '[relay_toxcore %s %6sms] %s\n' "$SCENARIO" "$(($(now_ms) - T0))" "$*" >&2; }

# Loopback with an ordinary path's segment sizes, as in relay_cli_test.sh: on a default loopback
# (MTU 65536, 64 KiB GSO segments) a c-toxcore relay can wedge for good under a bulk upload
# (docs/relay.md, "c-toxcore relays on loopback"). Only in a namespace of our own.
if [[ "$(readlink /proc/self/ns/net)" != "$(readlink /proc/1/ns/net 2>/dev/null)" ]] &&
    ip link set dev lo mtu 1500 gso_max_size 4096 2>/dev/null; then
    log "private network namespace: loopback MTU 1500, GSO segments of at most 4 KiB"
else
    log "not in a private network namespace: loopback left as it is (bulk transfers may stall)"
fi

cleanup() {
    local name
    for name in "${!PID[@]}"; do
        kill -0 "${PID[$name]}" 2>/dev/null && kill "${PID[$name]}" 2>/dev/null
    done
    wait 2>/dev/null
    if [[ $FAILED -ne 0 || ${RELAY_TOXCORE_KEEP:-0} == 1 ]]; then
        log "logs kept in $WORK"
        for f in "$WORK"/*.out "$WORK"/*.err; do
            [[ -s $f ]] || continue
            [[ $f == */stream.out ]] && continue # binary
            echo "----- $f (last 30 lines)" >&2
            tail -n 30 "$f" | cut -c1-400 >&2
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

# --- processes ------------------------------------------------------------------------------
# Processes and their output: spawn, send, close_stdin, wait_exit, nlines, wait_line.
source "$(dirname "${BASH_SOURCE[0]}")/proc_lib.sh"

# field LINE KEY : value of a string / number / bool field of a flat JSON line.
field() {
    printf '%s\n' "$1" | sed -n -E "s/.*\"$2\":(\"(([^\"\\\\]|\\\\.)*)\"|(-?[0-9]+|true|false|null)).*/\2\4/p" | head -n 1
}

hex_of() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# ev_re EVENT KEY VALUE : ERE for a JSON line with "event":"EVENT" and "KEY":"VALUE" in any order.
ev_re() {
    printf '("event":"%s".*"%s":"%s"|"%s":"%s".*"event":"%s")' "$1" "$2" "$3" "$2" "$3" "$1"
}

# --- tox_harness ----------------------------------------------------------------------------
# harness NAME ARGS... : starts a harness; sets READY (its ready line).
harness() {
    local name=$1
    shift
    spawn "$name" "$HARNESS" --max-seconds 170 "$@"
    READY=$(wait_line "$WORK/$name.out" '"event":"(ready|error)"' 10 0 "$name") ||
        fail "$name: no ready line"
    [[ $READY == *'"event":"ready"'* ]] || fail "$name: $READY"
}

# harness_cmd NAME CMD EVENT : sends CMD, prints the next EVENT line.
harness_cmd() {
    local n
    n=$(nlines "$WORK/$1.out")
    send "$1" "$2"
    wait_line "$WORK/$1.out" "\"event\":\"$3\"" 10 "$n" "$1"
}

# harness_quit NAME : quit; the guard refused nothing; exit status 0.
harness_quit() {
    local name=$1 ex
    send "$name" quit
    ex=$(wait_line "$WORK/$name.out" '"event":"exit"' 10 0 "$name") || fail "$name: no exit line"
    [[ $(field "$ex" nonloopback_sends) == 0 ]] || fail "$name: the guard refused sends: $ex"
    close_stdin "$name"
    wait_exit "$name" 10
    [[ $EXIT_ST == 0 ]] || fail "$name exit status $EXIT_ST"
    log "$name: quit, exit 0, no non-loopback send attempted"
}

# start_relay : the c-toxcore relay (UDP on, TCP relay on RELAY_PORT); sets RELAY_KEY, RELAY_ARG.
start_relay() {
    harness R --tcp-port "$RELAY_PORT"
    RELAY_KEY=$(field "$READY" relay_key)
    [[ $RELAY_KEY =~ ^[0-9a-f]{64}$ ]] || fail "relay: no relay_key in $READY"
    [[ $RELAY_KEY == "$(field "$READY" dht_public_key)" ]] ||
        fail "relay: relay_key is not the DHT key: $READY"
    [[ $(field "$READY" tcp_port) == "$RELAY_PORT" ]] || fail "relay: tcp_port: $READY"
    RELAY_ARG="127.0.0.1:$RELAY_PORT:$RELAY_KEY"
    log "c-toxcore relay on 127.0.0.1:$RELAY_PORT, key ${RELAY_KEY:0:16}…"
}

# start_peer NAME ARGS... : a --no-udp c-toxcore on the relay; sets PEER_ID, PEER_PK, PEER_DHT.
start_peer() {
    local name=$1 rl
    shift
    harness "$name" --no-udp --relay "$RELAY_ARG" "$@"
    [[ $(field "$READY" udp) == false && $(field "$READY" udp_port) == -1 ]] ||
        fail "$name: UDP not off: $READY"
    PEER_ID=$(field "$READY" tox_id)
    PEER_PK=$(field "$READY" public_key)
    PEER_DHT=$(field "$READY" dht_public_key)
    [[ $PEER_ID =~ ^[0-9A-F]{76}$ && $PEER_DHT =~ ^[0-9a-f]{64}$ ]] || fail "$name: $READY"
    rl=$(wait_line "$WORK/$name.out" '"event":"tcp_relay"' 5 0 "$name") || fail "$name: no tcp_relay"
    [[ $(field "$rl" ok) == true ]] || fail "$name: tox_add_tcp_relay refused: $rl"
    log "c-toxcore peer $name (no UDP) on the relay: Tox ID ${PEER_ID:0:16}…, DHT ${PEER_DHT:0:16}…"
}

# --- netcrypto ------------------------------------------------------------------------------
# newkey NAME : keygen into NAME.key; sets KEY_PK.
newkey() {
    local out
    out=$("$NC" keygen --out "$WORK/$1.key" 2>"$WORK/$1.keygen.err") ||
        fail "keygen failed: $(cat "$WORK/$1.keygen.err")"
    KEY_PK=$(printf '%s\n' "$out" | sed -n -E 's/^public key: *([0-9a-fA-F]{64})( .*)?$/\1/p')
    [[ -n $KEY_PK ]] || fail "keygen printed no public key: $out"
}

# established NAME SECONDS [SKIP] : chat/connect/listen NAME reported status Established.
established() {
    wait_line "$WORK/$1.err" "$(ev_re status status Established)" "$2" "${3:-0}" "$1"
}

# on_relay_route NAME : NAME's route event says tcp_relay through our relay, never udp.
on_relay_route() {
    local r
    r=$(wait_line "$WORK/$1.err" "$(ev_re route kind tcp_relay)" 5 0 "$1") ||
        fail "$1: no route event of kind tcp_relay"
    [[ $(field "$r" relay) == "127.0.0.1:$RELAY_PORT" ]] || fail "$1: route through another relay: $r"
    ! grep -q -E "$(ev_re route kind udp)" "$WORK/$1.err" || fail "$1: a UDP route with --no-udp"
}

# ctox_tcp NAME SECONDS [SKIP] : the harness reports its friend connected over "tcp".
ctox_tcp() {
    local c
    c=$(wait_line "$WORK/$1.out" '"event":"friend_connection".*"status":"(tcp|udp)"' "$2" "${3:-0}" "$1") ||
        fail "$1: c-toxcore never reported us connected"
    [[ $(field "$c" status) == tcp ]] || fail "$1: c-toxcore says $(field "$c" status), not tcp: $c"
}

# ============================================================================================
scenario_harness() {
    start_relay
    start_peer P
    # The peer's TCP link to the relay (ss, where installed).
    if command -v ss >/dev/null; then
        local deadline=$((SECONDS + 10)) links=0
        while ((SECONDS < deadline)); do
            links=$(ss -Htn state established "( sport = :$RELAY_PORT )" 2>/dev/null | wc -l)
            ((links > 0)) && break
            sleep 0.1
        done
        ((links > 0)) || fail "no TCP connection to the relay port $RELAY_PORT within 10 s"
        log "the no-UDP peer holds $links TCP link(s) to the relay"
    else
        log "ss not installed: TCP link to the relay not checked"
    fi
    local st
    st=$(harness_cmd P stats stats) || fail "P stats"
    [[ $(field "$st" loopback_sendto_calls_from_toxcore) == 0 ]] ||
        fail "P sent UDP datagrams with --no-udp: $st"
    log "the no-UDP peer sent no datagram"
    harness_quit P
    harness_quit R
    local bad
    for bad in "10.0.0.1:$RELAY_PORT:$RELAY_KEY" "127.0.0.1:0:$RELAY_KEY" "127.0.0.1:$RELAY_PORT:abc" \
        "127.0.0.1:$RELAY_PORT"; do
        "$HARNESS" --relay "$bad" >"$WORK/bad.out" 2>&1 && fail "--relay $bad accepted"
        grep -q '"what":"--relay' "$WORK/bad.out" || fail "--relay $bad: $(cat "$WORK/bad.out")"
    done
    "$HARNESS" --tcp-port 0 >"$WORK/bad.out" 2>&1 && fail "--tcp-port 0 accepted"
    log "bad --relay / --tcp-port values refused"
}

# ============================================================================================
scenario_chat() {
    start_relay
    newkey me
    local me_pk=$KEY_PK t0 n_h m
    start_peer P --friend "$me_pk" --echo --name ctox-relay
    t0=$(now_ms)
    spawn C "$NC" --json chat --no-udp --relay "$RELAY_ARG" --key "$WORK/me.key" \
        --peer "$PEER_ID" --peer-dht "$PEER_DHT" --name nc-over-tcp
    established C 20 >/dev/null || fail "chat: not Established through the relay within 20 s"
    log "chat: Established $(($(now_ms) - t0)) ms after start"
    on_relay_route C
    ctox_tcp P 10
    log "c-toxcore: friend_connection tcp; our route: tcp_relay 127.0.0.1:$RELAY_PORT"
    wait_line "$WORK/P.out" "\"event\":\"friend_name\",\"friend\":0,\"name_hex\":\"$(hex_of nc-over-tcp)\"" \
        10 0 P >/dev/null || fail "c-toxcore did not get our name"
    wait_line "$WORK/C.err" "$(ev_re name value ctox-relay)" 10 0 C >/dev/null ||
        fail "chat did not show c-toxcore's name"
    log "names both ways: c-toxcore saw nc-over-tcp, chat saw ctox-relay"

    n_h=$(nlines "$WORK/P.out")
    send C "hello over the relay"
    wait_line "$WORK/P.out" \
        "\"event\":\"friend_message\",\"friend\":0,\"type\":0,\"text_hex\":\"$(hex_of "hello over the relay")\"" \
        10 "$n_h" P >/dev/null || fail "c-toxcore did not receive our message"
    wait_line "$WORK/C.out" '^echo: hello over the relay$' 10 0 C >/dev/null ||
        fail "chat did not print c-toxcore's echo"
    wait_line "$WORK/C.err" "$(ev_re message text "echo: hello over the relay")" 10 0 C >/dev/null ||
        fail "chat: no message event for the echo"
    wait_line "$WORK/C.err" '"event":"delivered"' 10 0 C >/dev/null || fail "chat: no delivered event"
    log "message → c-toxcore, its echo → chat, delivered event"

    m=$(harness_cmd P "send_message 0 1 $(hex_of "waves")" '(message_sent|error)') || fail "send_message"
    [[ $m == *message_sent* ]] || fail "c-toxcore send_message: $m"
    wait_line "$WORK/C.err" "$(ev_re message text waves)" 10 0 C >/dev/null ||
        fail "chat did not get c-toxcore's action message"
    log "c-toxcore → chat: an action message"

    close_stdin C
    wait_exit C 15
    [[ $EXIT_ST == 0 ]] || fail "chat exit status $EXIT_ST after stdin ended"
    wait_line "$WORK/P.out" '"event":"friend_connection","friend":0,"status":"none"' 10 0 P >/dev/null ||
        fail "c-toxcore did not see us leave"
    log "chat left (exit 0); c-toxcore saw it"
    harness_quit P
    harness_quit R
}

# ============================================================================================
scenario_stream() {
    local size=$((8 << 20)) want got st t0 deadline n
    start_relay
    newkey me
    start_peer P --friend "$KEY_PK" --echo
    head -c "$size" /dev/urandom >"$WORK/stream_src.bin"
    want=$(sha256sum <"$WORK/stream_src.bin" | cut -d' ' -f1)
    t0=$(now_ms)
    # stdin stays open until the echo is back: at EOF connect announces OFFLINE, after which
    # c-toxcore no longer sends (its echo would stop).
    spawn stream "$NC" --json connect --no-udp --relay "$RELAY_ARG" --key "$WORK/me.key" \
        --peer "$PEER_ID" --peer-dht "$PEER_DHT"
    wait_line "$WORK/stream.err" "$(ev_re status status Established)" 20 0 stream >/dev/null ||
        fail "connect: not Established through the relay within 20 s"
    log "connect: Established $(($(now_ms) - t0)) ms after start"
    wait_line "$WORK/stream.err" "$(ev_re route kind tcp_relay)" 5 0 stream >/dev/null ||
        fail "connect: no tcp_relay route event"
    ctox_tcp P 10
    timeout 120 cat "$WORK/stream_src.bin" >"$WORK/stream.in" ||
        fail "connect did not take the 8 MiB within 120 s"
    log "connect took the input in $(($(now_ms) - t0)) ms"
    deadline=$((SECONDS + 120))
    n=0
    while ((SECONDS < deadline)); do
        n=$(stat -c %s "$WORK/stream.out")
        ((n >= size)) && break
        kill -0 "${PID[stream]}" 2>/dev/null || break
        sleep 0.1
    done
    ((n >= size)) || fail "c-toxcore's echo: $n of $size bytes back within 120 s"
    log "c-toxcore's echo complete $(($(now_ms) - t0)) ms after start"
    close_stdin stream
    wait_exit stream 30
    [[ $EXIT_ST == 0 ]] || fail "connect exit status $EXIT_ST: $(tail -n 3 "$WORK/stream.err")"
    ! grep -q -E "$(ev_re route kind udp)" "$WORK/stream.err" || fail "connect: a UDP route"

    st=$(harness_cmd P stats stats) || fail "P stats"
    [[ $(field "$st" stream_rx_bytes) == "$size" ]] ||
        fail "c-toxcore received $(field "$st" stream_rx_bytes) of $size stream bytes"
    [[ $(field "$st" stream_rx_sha256) == "$want" ]] ||
        fail "c-toxcore's stream_rx_sha256 differs from our input's"
    log "us → c-toxcore: $size bytes, SHA-256 equal (${want:0:16}…)"
    got=$(sha256sum <"$WORK/stream.out" | cut -d' ' -f1)
    [[ $got == "$want" && $(stat -c %s "$WORK/stream.out") == "$size" ]] ||
        fail "c-toxcore → us (echo): $(stat -c %s "$WORK/stream.out") of $size bytes, SHA-256 differs"
    log "c-toxcore → us (its echo): $size bytes, SHA-256 equal"
    harness_quit P
    harness_quit R
}

# ============================================================================================
scenario_share_reconnect() {
    local n_h t_kill l
    start_relay
    newkey me
    local me_pk=$KEY_PK
    "$NC" keygen --out "$WORK/me_dht.key" >/dev/null || fail "keygen (DHT key)"
    start_peer P --friend "$me_pk" --echo
    spawn C "$NC" --json chat --no-udp --relay "$RELAY_ARG" --key "$WORK/me.key" \
        --dht-key "$WORK/me_dht.key" --peer "$PEER_ID" --peer-dht "$PEER_DHT" --once
    established C 20 >/dev/null || fail "chat: not Established through the relay"
    ctox_tcp P 10
    send C "before the KILL"
    wait_line "$WORK/C.out" '^echo: before the KILL$' 10 0 C >/dev/null || fail "no echo"
    log "chat Established, echo seen; waiting 2 s for our SHARE_RELAYS to be acted on"
    sleep 2

    # We leave: OFFLINE, then KILL (chat ends when stdin does).
    n_h=$(nlines "$WORK/P.out")
    close_stdin C
    wait_exit C 15
    [[ $EXIT_ST == 0 ]] || fail "chat exit status $EXIT_ST"
    wait_line "$WORK/P.out" '"event":"friend_connection","friend":0,"status":"none"' 10 "$n_h" P >/dev/null ||
        fail "c-toxcore did not see us leave"
    t_kill=$(now_ms)
    log "chat left (KILL); c-toxcore reports none"

    # The same keys wait as a responder on the same relay; c-toxcore must come to us.
    n_h=$(nlines "$WORK/P.out")
    spawn L "$NC" --json listen --no-udp --relay "$RELAY_ARG" --key "$WORK/me.key" \
        --dht-key "$WORK/me_dht.key" --allow "$PEER_PK" --once
    established L 30 >/dev/null ||
        fail "c-toxcore did not reconnect to us through the relay within 30 s of our KILL (it only can through a relay it learnt from our SHARE_RELAYS: does the CLI pass --relay to FriendLayer::set_shared_relays?)"
    log "c-toxcore reconnected: listen Established $(($(now_ms) - t_kill)) ms after our KILL"
    ctox_tcp P 10 "$n_h"
    harness_cmd P "send_lossless 0 a0$(hex_of "after the reconnect")" lossless_sent >/dev/null ||
        fail "send_lossless"
    l=$(wait_line "$WORK/L.out" 'after the reconnect' 10 0 L) || fail "listen: no data after the reconnect"
    log "c-toxcore → listen after the reconnect: '$l'"
    harness_quit P
    wait_exit L 15
    harness_quit R
}

"scenario_$SCENARIO"
log "PASS"
