#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# shellcheck disable=SC2317  # cleanup() is invoked through trap
#
# LAN chat interop tests (issue #13): the real `netcrypto chat` CLI against unmodified c-toxcore
# 0.2.18 (tox_harness with --local-discovery), all on 127.0.0.0/8. netcrypto is given only what a
# Tox client shows: its Tox ID (tox_self_get_address) and its UDP port -- never its DHT key.
#
# Usage: lanchat_test.sh SCENARIO NETCRYPTO TOX_HARNESS UDP_TOOL   (udp_tool.cpp)
#   harness        tox_harness alone: LAN discovery answered from loopback, broadcasts refused
#                  and counted, --savedata/--port restart keeps key + Tox ID (needs no CLI)
#   connect        Tox ID only -> Established; our name/status message seen by c-toxcore;
#                  a message each way; a delivered event
#   restart        c-toxcore exits, restarts on the same savedata and port (new DHT key): the same
#                  chat is Established again within 10 s; messages flow
#   crash_restart  c-toxcore SIGKILLed and restarted at once (same savedata/port, new DHT key):
#                  chat notices (silence) and reconnects
#   two_instances  two c-toxcore instances on ports P and P+1: each chat reaches its own
#   spoofed        spoofed 0x02 and malformed DHT packets to chat's port (from 127.0.0.2 and
#                  127.0.0.1) during discovery and while established change nothing
#   bad_input      malformed Tox ID, wrong checksum, nobody at the address: one line, exit != 0
# Exit status 0 = pass. Every wait is bounded.
# Environment: LANCHAT_KEEP=1 keeps the logs.

set -u
set -o pipefail

SCENARIO=${1:?usage: $0 SCENARIO NETCRYPTO TOX_HARNESS UDP_TOOL}
NC=${2:?netcrypto binary}
HARNESS=${3:?tox_harness binary}
UDP_TOOL=${4:?udp_tool binary}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lanchat_${SCENARIO}.XXXXXX")
declare -A PID FD
FAILED=0
T0=$(date +%s%3N)

log() { printf '[lanchat %s %6sms] %s\n' "$SCENARIO" "$(($(date +%s%3N) - T0))" "$*" >&2; }
now_ms() { date +%s%3N; }

cleanup() {
    local name
    for name in "${!PID[@]}"; do
        kill -0 "${PID[$name]}" 2>/dev/null && kill "${PID[$name]}" 2>/dev/null
    done
    wait 2>/dev/null
    if [[ $FAILED -ne 0 || ${LANCHAT_KEEP:-0} == 1 ]]; then
        log "logs kept in $WORK"
        for f in "$WORK"/*.out "$WORK"/*.err; do
            [[ -s $f ]] || continue
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

udp_tool() { "$UDP_TOOL" "$@"; }

# --- processes ------------------------------------------------------------------------------
# Processes and their output: spawn, send, close_stdin, wait_exit, nlines, wait_line.
source "$(dirname "${BASH_SOURCE[0]}")/proc_lib.sh"

# field LINE KEY : value of a string / number / bool field of a flat JSON line.
field() {
    printf '%s\n' "$1" | sed -n -E "s/.*\"$2\":(\"(([^\"\\\\]|\\\\.)*)\"|(-?[0-9]+|true|false|null)).*/\2\4/p" | head -n 1
}

hex_of() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

# --- tox_harness ----------------------------------------------------------------------------
# harness NAME ARGS... : starts a harness with local discovery; sets READY (the ready line).
harness() {
    local name=$1
    shift
    spawn "$name" "$HARNESS" --local-discovery --max-seconds 170 "$@"
    READY=$(wait_line "$WORK/$name.out" '"event":"(ready|error)"' 10 0 "$name") ||
        fail "$name: no ready line"
    [[ $READY == *'"event":"ready"'* ]] || fail "$name: $READY"
    [[ $(field "$READY" tox_id) =~ ^[0-9A-F]{76}$ ]] || fail "$name: bad tox_id in $READY"
    [[ $(field "$READY" local_discovery) == true ]] || fail "$name: local discovery off: $READY"
}

# harness_cmd NAME CMD EVENT : sends CMD, prints the next EVENT line.
harness_cmd() {
    local n
    n=$(nlines "$WORK/$1.out")
    send "$1" "$2"
    wait_line "$WORK/$1.out" "\"event\":\"$3\"" 10 "$n" "$1"
}

# check_guard LINE WHAT : the only non-loopback sends were the refused LAN broadcasts.
check_guard() {
    local line=$1 what=$2 total bcast other
    total=$(field "$line" nonloopback_sends)
    bcast=$(field "$line" refused_broadcast_sends)
    other=$(field "$line" refused_other_sends)
    [[ -n $total && -n $bcast && -n $other ]] || fail "$what: no guard counters: $line"
    ((other == 0)) || fail "$what: $other refused non-broadcast sends: $line"
    ((total == bcast)) || fail "$what: nonloopback_sends $total != refused broadcasts $bcast"
    log "$what: guard refused $bcast LAN broadcast sends, nothing else (nonloopback_sends=$total)"
}

# harness_quit NAME : quit, check the exit line and status.
harness_quit() {
    local name=$1 ex
    send "$name" quit
    ex=$(wait_line "$WORK/$name.out" '"event":"exit"' 10 0 "$name") || fail "$name: no exit line"
    check_guard "$ex" "$name exit"
    close_stdin "$name"
    wait_exit "$name" 10
    [[ $EXIT_ST == 0 ]] || fail "$name exit status $EXIT_ST"
}

# pick_ports N : prints a base port P with P..P+N-1 free (for --port / --bind).
pick_ports() {
    udp_tool free-port "$1" || fail "no free ports"
}

# --- netcrypto ------------------------------------------------------------------------------
# newkey NAME : keygen into NAME.key; sets KEY_PK and KEY_ID from its "public key:"/"Tox ID:" lines.
newkey() {
    local out
    out=$("$NC" keygen --out "$WORK/$1.key" 2>"$WORK/$1.keygen.err") ||
        fail "keygen failed: $(cat "$WORK/$1.keygen.err")"
    # "public key: <64 hex>" and "Tox ID: <76 hex>" (anything after the ID, e.g. a hint, is fine)
    KEY_PK=$(printf '%s\n' "$out" | sed -n -E 's/^public key: *([0-9a-fA-F]{64})( .*)?$/\1/p')
    KEY_ID=$(printf '%s\n' "$out" | sed -n -E 's/^Tox ID: *([0-9a-fA-F]{76})( .*)?$/\1/p')
    [[ -n $KEY_PK && -n $KEY_ID ]] ||
        fail "keygen output lacks 'public key: <64hex>' / 'Tox ID: <76hex>' lines: $out"
    [[ ${KEY_ID:0:64} == "${KEY_PK^^}" ]] ||
        fail "keygen: Tox ID is not the upper-case public key + nospam + checksum: $KEY_ID"
}

# chat NAME ARGS... : `netcrypto --json chat --key NAME.key ARGS...`
chat() {
    local name=$1
    shift
    spawn "$name" "$NC" --json chat --key "$WORK/$name.key" "$@"
}

# ev_re EVENT KEY VALUE : ERE for a JSON line with "event":"EVENT" and "KEY":"VALUE" in any order.
ev_re() {
    printf '("event":"%s".*"%s":"%s"|"%s":"%s".*"event":"%s")' "$1" "$2" "$3" "$2" "$3" "$1"
}

# established NAME SECONDS [SKIP] : waits for chat's status Established event.
established() {
    wait_line "$WORK/$1.err" "$(ev_re status status Established)" "$2" "${3:-0}" "$1"
}

# message_to_chat HARNESS FRIEND CHAT TEXT : c-toxcore -> chat (raw line on stdout + event).
message_to_chat() {
    local h=$1 fn=$2 c=$3 text=$4 n_out n_err sent
    n_out=$(nlines "$WORK/$c.out")
    n_err=$(nlines "$WORK/$c.err")
    sent=$(harness_cmd "$h" "send_message $fn 0 $(hex_of "$text")" '(message_sent|error)') ||
        fail "$h: send_message"
    [[ $sent == *message_sent* ]] || fail "$h send_message: $sent"
    wait_line "$WORK/$c.out" "^$text\$" 10 "$n_out" "$c" >/dev/null ||
        fail "$c did not print '$text' on stdout"
    wait_line "$WORK/$c.err" "$(ev_re message text "$text")" 10 "$n_err" "$c" >/dev/null ||
        fail "$c: no message event for '$text'"
    log "c-toxcore $h -> $c: '$text' arrived"
}

# message_from_chat CHAT HARNESS FRIEND TEXT : a stdin line of chat -> c-toxcore; delivered event.
message_from_chat() {
    local c=$1 h=$2 fn=$3 text=$4 n_h n_err
    n_h=$(nlines "$WORK/$h.out")
    n_err=$(nlines "$WORK/$c.err")
    send "$c" "$text"
    wait_line "$WORK/$h.out" \
        "\"event\":\"friend_message\",\"friend\":$fn,\"type\":0,\"text_hex\":\"$(hex_of "$text")\"" \
        10 "$n_h" "$h" >/dev/null || fail "$h did not receive '$text' from $c"
    wait_line "$WORK/$c.err" '"event":"delivered"' 10 "$n_err" "$c" >/dev/null ||
        fail "$c: no delivered event for '$text'"
    log "$c -> c-toxcore $h: '$text' arrived, delivered event seen"
}

# chat_end NAME : closes stdin, expects exit status 0 within 10 s.
chat_end() {
    close_stdin "$1"
    wait_exit "$1" 10
    [[ $EXIT_ST == 0 ]] || fail "$1: exit status $EXIT_ST after stdin ended"
}

# no_line FILE ERE SKIP WHAT : fails if FILE has a line matching ERE after SKIP lines.
no_line() {
    local bad
    bad=$(tail -n +"$(($3 + 1))" "$1" | grep -E -m1 -- "$2")
    [[ -z $bad ]] || fail "$4: $bad"
}

# ============================================================================================
scenario_harness() {
    local pk dht port id probe st ex r2
    harness H --savedata "$WORK/h.tox" --port "$(pick_ports 1)" --name ctox
    pk=$(field "$READY" public_key)
    dht=$(field "$READY" dht_public_key)
    port=$(field "$READY" udp_port)
    id=$(field "$READY" tox_id)
    [[ ${id:0:64} == "${pk^^}" ]] || fail "tox_id does not start with the public key"
    ((port > 0)) || fail "no udp_port: $READY"
    log "H ready: port $port, Tox ID $id"

    probe=$(udp_tool lan-probe "$port" 5) || fail "lan-probe"
    [[ $(field "$probe" answered) == true ]] || fail "no answer to LAN discovery: $probe"
    [[ $(field "$probe" id) == 02 && $(field "$probe" len) == 113 ]] ||
        fail "answer is not a 113-byte nodes request: $probe"
    [[ $(field "$probe" from) == "127.0.0.1:$port" ]] || fail "answer from elsewhere: $probe"
    [[ $(field "$probe" dht_key) == "$dht" ]] || fail "answer carries another DHT key: $probe"
    log "LAN discovery from 127.0.0.2 answered by a 113-byte 0x02 carrying the DHT key"

    st=$(harness_cmd H stats stats) || fail "stats"
    (($(field "$st" refused_broadcast_sends) > 0)) || fail "no LAN broadcast seen by the guard: $st"
    (($(field "$st" loopback_sendto_calls_from_toxcore) > 0)) || fail "guard not interposed: $st"
    check_guard "$st" "H stats"
    harness_quit H

    harness H --savedata "$WORK/h.tox" --port "$port"
    r2=$READY
    [[ $(field "$r2" public_key) == "$pk" ]] || fail "restart: long-term key changed"
    [[ $(field "$r2" tox_id) == "$id" ]] || fail "restart: Tox ID changed"
    [[ $(field "$r2" udp_port) == "$port" ]] || fail "restart: port $(field "$r2" udp_port)"
    [[ $(field "$r2" dht_public_key) != "$dht" ]] || fail "restart: DHT key did not change"
    log "restart on --savedata + --port $port: same key and Tox ID, new DHT key"
    harness_quit H

    # Contrast: without --local-discovery c-toxcore ignores LAN discovery and sends no broadcast.
    spawn Q "$HARNESS" --max-seconds 30
    READY=$(wait_line "$WORK/Q.out" '"event":"ready"' 10 0 Q) || fail "Q not ready"
    [[ $(field "$READY" local_discovery) == false ]] || fail "Q: $READY"
    probe=$(udp_tool lan-probe "$(field "$READY" udp_port)" 2) || fail "lan-probe"
    [[ $(field "$probe" answered) == false ]] || fail "answered with local discovery off: $probe"
    send Q quit
    ex=$(wait_line "$WORK/Q.out" '"event":"exit"' 10 0 Q) || fail "Q exit"
    [[ $(field "$ex" nonloopback_sends) == 0 ]] || fail "Q: $ex"
    close_stdin Q
    log "without --local-discovery: no answer, no refused send"
}

# ============================================================================================
scenario_connect() {
    local id port dht st disc info jid t_start t_est
    newkey me
    local me_pk=$KEY_PK me_id=$KEY_ID
    jid=$("$NC" --json id --key "$WORK/me.key") || fail "id --json failed"
    [[ $(field "$jid" public_key) == "$me_pk" ]] || fail "id --json public_key: $jid"
    [[ $(field "$jid" tox_id) == "$me_id" ]] || fail "id --json tox_id: $jid (keygen said $me_id)"
    log "keygen / id --json: public key $me_pk, Tox ID $me_id"

    harness H --friend "$me_pk" --name ctox-alice --status-message "alice via c-toxcore"
    id=$(field "$READY" tox_id)
    port=$(field "$READY" udp_port)
    dht=$(field "$READY" dht_public_key)
    log "H ready: port $port, Tox ID $id"

    t_start=$(now_ms)
    chat me --peer "$id" --to "127.0.0.1:$port" --bind 127.0.0.1:0 \
        --name "netcrypto-bob" --status-message "bob via netcrypto"
    wait_line "$WORK/me.err" '"event":"ready"' 10 0 me >/dev/null || fail "chat: no ready event"
    st=$(established me 20) || fail "chat did not reach Established"
    t_est=$(now_ms)
    log "chat Established $((t_est - t_start)) ms after start (Tox ID + port only): $st"
    disc=$(wait_line "$WORK/me.err" '"event":"discovered"' 1 0 me) ||
        fail "no discovered event before Established"
    [[ $(field "$disc" address) == "127.0.0.1:$port" ]] || fail "discovered: $disc"
    [[ $(field "$disc" dht_public_key) == "$dht" ]] || fail "discovered a wrong DHT key: $disc"
    wait_line "$WORK/H.out" '"event":"friend_connection","friend":0,"status":"udp"' 10 0 H >/dev/null ||
        fail "c-toxcore never saw us over UDP"

    # Our presence, as c-toxcore's public API reports it.
    wait_line "$WORK/H.out" "\"event\":\"friend_name\",\"friend\":0,\"name_hex\":\"$(hex_of netcrypto-bob)\"" \
        10 0 H >/dev/null || fail "c-toxcore got no friend_name netcrypto-bob"
    wait_line "$WORK/H.out" "\"event\":\"friend_status_message\",\"friend\":0,\"text_hex\":\"$(hex_of "bob via netcrypto")\"" \
        10 0 H >/dev/null || fail "c-toxcore got no friend_status_message"
    info=$(harness_cmd H "friend_info 0" friend_info) || fail "friend_info"
    [[ $(field "$info" name) == netcrypto-bob ]] || fail "tox_friend_get_name: $info"
    [[ $(field "$info" status_message) == "bob via netcrypto" ]] ||
        fail "tox_friend_get_status_message: $info"
    [[ $(field "$info" public_key) == "$me_pk" ]] || fail "friend_info key: $info"
    log "c-toxcore: tox_friend_get_name='netcrypto-bob', status message='bob via netcrypto'"
    # c-toxcore's presence, as chat reports it.
    wait_line "$WORK/me.err" "$(ev_re name value ctox-alice)" 10 0 me >/dev/null ||
        fail "chat: no name event ctox-alice"
    wait_line "$WORK/me.err" "$(ev_re status_message value "alice via c-toxcore")" 10 0 me \
        >/dev/null || fail "chat: no status_message event"

    message_from_chat me H 0 "hello c-toxcore, this is netcrypto"
    message_to_chat H 0 me "hello netcrypto, this is c-toxcore"
    wait_line "$WORK/H.out" '"event":"read_receipt"' 10 0 H >/dev/null ||
        fail "c-toxcore got no read receipt from netcrypto"

    chat_end me
    wait_line "$WORK/H.out" '"event":"friend_connection","friend":0,"status":"none"' 10 0 H \
        >/dev/null || fail "c-toxcore did not see chat leave"
    harness_quit H
}

# ============================================================================================
scenario_restart() {
    local port id pk dht1 dht2 n_err t_quit t_up t_est off
    newkey me
    local me_pk=$KEY_PK
    port=$(pick_ports 1)
    harness H --savedata "$WORK/h.tox" --port "$port" --friend "$me_pk" --name ctox-carol
    id=$(field "$READY" tox_id)
    pk=$(field "$READY" public_key)
    dht1=$(field "$READY" dht_public_key)
    chat me --peer "$id" --to "127.0.0.1:$port" --bind 127.0.0.1:0 --name netcrypto-dave
    established me 20 >/dev/null || fail "chat did not reach Established (first run)"
    message_from_chat me H 0 "before restart"
    message_to_chat H 0 me "before restart from c-toxcore"

    # c-toxcore exits (tox_kill sends KILL) ...
    n_err=$(nlines "$WORK/me.err")
    harness_quit H
    t_quit=$(now_ms)
    off=$(wait_line "$WORK/me.err" '"event":"offline"' 10 "$n_err" me) ||
        fail "chat reported no offline event after c-toxcore quit"
    log "chat: $off"
    wait_line "$WORK/me.err" '"event":"reconnecting"' 10 "$n_err" me >/dev/null ||
        fail "chat: no reconnecting event"
    kill -0 "${PID[me]}" 2>/dev/null || fail "chat exited after the peer went away (without --once)"
    # Stay away long enough for chat's retry backoff to grow (and a discovery round to fail).
    sleep 6
    # A line typed while offline: queued and sent on reconnect.
    send me "typed while offline"

    # ... and starts again on the same savedata and port, with a new DHT key.
    n_err=$(nlines "$WORK/me.err")
    harness H --savedata "$WORK/h.tox" --port "$port" --friend "$me_pk" --name ctox-carol
    t_up=$(now_ms)
    dht2=$(field "$READY" dht_public_key)
    [[ $(field "$READY" public_key) == "$pk" && $(field "$READY" tox_id) == "$id" ]] ||
        fail "restarted c-toxcore has another key/Tox ID"
    [[ $dht2 != "$dht1" && $(field "$READY" udp_port) == "$port" ]] ||
        fail "restart: expected a new DHT key on the same port: $READY"
    established me 10 "$n_err" >/dev/null ||
        fail "chat not Established again within 10 s of the restart (gone $((t_up - t_quit)) ms)"
    t_est=$(now_ms)
    log "RECONNECTION: Established again $((t_est - t_up)) ms after c-toxcore restarted (offline for $((t_up - t_quit)) ms before)"
    wait_line "$WORK/me.err" "\"dht_public_key\":\"$dht2\"" 1 "$n_err" me >/dev/null ||
        fail "chat did not re-learn the new DHT key (no discovered event with $dht2)"
    wait_line "$WORK/H.out" "\"event\":\"friend_name\",\"friend\":0,\"name_hex\":\"$(hex_of netcrypto-dave)\"" \
        10 0 H >/dev/null || fail "name not sent again on reconnection"
    wait_line "$WORK/H.out" "\"text_hex\":\"$(hex_of "typed while offline")\"" 10 0 H >/dev/null ||
        fail "the line typed while offline was not delivered after reconnecting"
    log "line typed while offline delivered after reconnection"
    message_from_chat me H 0 "after restart"
    message_to_chat H 0 me "after restart from c-toxcore"
    chat_end me
    harness_quit H
}

# ============================================================================================
# crash_restart: c-toxcore is SIGKILLed (no KILL packet, chat is not told) and a new instance
# comes up at once on the same savedata and port: chat must notice (its probe of the address
# finds a new DHT key) and be Established again with it within 10 s.
scenario_crash_restart() {
    local port id me_pk n_err t_crash t_est off
    newkey me
    me_pk=$KEY_PK
    port=$(pick_ports 1)
    harness H --savedata "$WORK/h.tox" --port "$port" --friend "$me_pk" --name ctox-frank
    id=$(field "$READY" tox_id)
    chat me --peer "$id" --to "127.0.0.1:$port" --bind 127.0.0.1:0 --name netcrypto-gina
    established me 20 >/dev/null || fail "chat did not reach Established (first run)"
    message_from_chat me H 0 "before crash"
    n_err=$(nlines "$WORK/me.err")
    kill -KILL "${PID[H]}"
    wait "${PID[H]}" 2>/dev/null
    unset "PID[H]"
    close_stdin H
    t_crash=$(now_ms)
    harness H --savedata "$WORK/h.tox" --port "$port" --friend "$me_pk" --name ctox-frank
    log "c-toxcore SIGKILLed and restarted at once on :$port (new DHT key)"
    off=$(wait_line "$WORK/me.err" '"event":"offline"' 45 "$n_err" me) ||
        fail "chat never noticed the crashed peer"
    log "chat offline $(($(now_ms) - t_crash)) ms after the crash: $off"
    established me 15 "$n_err" >/dev/null || fail "chat not Established again after the crash"
    t_est=$(now_ms)
    log "CRASH RECONNECTION: Established again $((t_est - t_crash)) ms after crash + restart"
    # chat asks the address for its DHT key after 3 s without a packet: the new key shows the
    # restart long before the 32 s silence timeout.
    ((t_est - t_crash < 10000)) || fail "crash reconnection took $((t_est - t_crash)) ms (limit 10 s)"
    [[ $off == *'new DHT key'* ]] || fail "offline reason does not name the restart: $off"
    message_from_chat me H 0 "after crash"
    message_to_chat H 0 me "after crash from c-toxcore"
    chat_end me
    harness_quit H
}

# ============================================================================================
scenario_two_instances() {
    local p1 p2 id1 id2 dht1 dht2 d1 d2
    newkey a
    local a_pk=$KEY_PK
    newkey b
    local b_pk=$KEY_PK
    p1=$(pick_ports 2)
    p2=$((p1 + 1))
    # Both instances know both netcrypto users, so a mix-up would connect, to the wrong one.
    harness H1 --port "$p1" --friend "$a_pk" --friend "$b_pk" --name ctox-one
    id1=$(field "$READY" tox_id)
    dht1=$(field "$READY" dht_public_key)
    harness H2 --port "$p2" --friend "$a_pk" --friend "$b_pk" --name ctox-two
    id2=$(field "$READY" tox_id)
    dht2=$(field "$READY" dht_public_key)
    log "H1 on $p1, H2 on $p2"

    chat a --peer "$id1" --to "127.0.0.1:$p1" --bind 127.0.0.1:0 --name nc-a
    chat b --peer "$id2" --to "127.0.0.1:$p2" --bind 127.0.0.1:0 --name nc-b
    established a 20 >/dev/null || fail "chat a (-> :$p1) did not reach Established"
    established b 20 >/dev/null || fail "chat b (-> :$p2) did not reach Established"
    d1=$(wait_line "$WORK/a.err" '"event":"discovered"' 1 0 a) || fail "a: no discovered event"
    d2=$(wait_line "$WORK/b.err" '"event":"discovered"' 1 0 b) || fail "b: no discovered event"
    [[ $(field "$d1" dht_public_key) == "$dht1" && $(field "$d1" address) == "127.0.0.1:$p1" ]] ||
        fail "a discovered the wrong instance: $d1"
    [[ $(field "$d2" dht_public_key) == "$dht2" && $(field "$d2" address) == "127.0.0.1:$p2" ]] ||
        fail "b discovered the wrong instance: $d2"
    wait_line "$WORK/a.err" "$(ev_re name value ctox-one)" 10 0 a >/dev/null ||
        fail "a does not see ctox-one"
    wait_line "$WORK/b.err" "$(ev_re name value ctox-two)" 10 0 b >/dev/null ||
        fail "b does not see ctox-two"
    wait_line "$WORK/H1.out" '"event":"friend_connection","friend":0,"status":"udp"' 10 0 H1 >/dev/null ||
        fail "H1 did not see a (friend 0)"
    wait_line "$WORK/H2.out" '"event":"friend_connection","friend":1,"status":"udp"' 10 0 H2 >/dev/null ||
        fail "H2 did not see b (friend 1)"
    no_line "$WORK/H1.out" '"event":"friend_connection","friend":1,"status":"(udp|tcp)"' 0 \
        "H1 connected to b"
    no_line "$WORK/H2.out" '"event":"friend_connection","friend":0,"status":"(udp|tcp)"' 0 \
        "H2 connected to a"
    message_from_chat a H1 0 "a to one"
    message_from_chat b H2 1 "b to two"
    message_to_chat H1 0 a "one to a"
    message_to_chat H2 1 b "two to b"
    log "each --to reached the instance at that port (by DHT key, name and friend number)"
    chat_end a
    chat_end b
    harness_quit H1
    harness_quit H2
}

# inject PORT COUNT : spoofed + malformed packets to chat's port; totals in INJ_SENT / INJ_DHT.
INJ_SENT=0
INJ_DHT=0
inject() {
    INJ=$(udp_tool inject "$1" all "$2") || fail "udp_tool inject"
    INJ_SENT=$((INJ_SENT + $(field "$INJ" sent)))
    INJ_DHT=$((INJ_DHT + $(field "$INJ" dht)))
}

# ============================================================================================
scenario_spoofed() {
    local port my n_err n_h d stats id dht
    newkey me
    local me_pk=$KEY_PK
    port=$(pick_ports 1)
    my=$(pick_ports 1)
    [[ $my != "$port" ]] || fail "port picking"
    # Create c-toxcore's profile first (so its Tox ID is known), then start chat while nobody
    # answers at the address and spoofed / malformed DHT packets arrive from elsewhere.
    harness H --savedata "$WORK/h.tox" --port "$port" --friend "$me_pk" --name ctox-erin
    id=$(field "$READY" tox_id)
    harness_quit H

    chat me --peer "$id" --to "127.0.0.1:$port" --bind "127.0.0.1:$my" --name nc-spoofed
    wait_line "$WORK/me.err" '"event":"ready"' 10 0 me >/dev/null || fail "chat: no ready event"
    inject "$my" 200
    log "during discovery (nobody at :$port yet): $INJ from 127.0.0.2 and 127.0.0.1"
    no_line "$WORK/me.err" '"event":"discovered"' 0 "chat took a spoofed packet for the peer"
    harness H --savedata "$WORK/h.tox" --port "$port" --friend "$me_pk" --name ctox-erin
    dht=$(field "$READY" dht_public_key)
    inject "$my" 100
    established me 20 >/dev/null || fail "chat did not reach Established after the spoofing"
    d=$(wait_line "$WORK/me.err" '"event":"discovered"' 1 0 me) || fail "no discovered event"
    [[ $(field "$d" dht_public_key) == "$dht" ]] || fail "chat learned a spoofed DHT key: $d"
    message_from_chat me H 0 "first"

    # Established: more spoofed and malformed packets; nothing may change.
    n_err=$(nlines "$WORK/me.err")
    n_h=$(nlines "$WORK/H.out")
    inject "$my" 400
    log "while established: $INJ"
    sleep 1
    message_from_chat me H 0 "still here"
    message_to_chat H 0 me "still here too"
    no_line "$WORK/me.err" '"event":"(offline|reconnecting|discovered)"' "$n_err" \
        "the session changed after spoofed packets"
    no_line "$WORK/me.err" '"event":"status"[,}]' "$n_err" "status changed after spoofed packets"
    no_line "$WORK/H.out" '"event":"friend_connection"' "$n_h" "c-toxcore saw a connection change"
    chat_end me
    stats=$(grep -m1 '"event":"stats"' "$WORK/me.err")
    [[ -n $stats ]] || fail "chat printed no stats event on exit"
    log "chat stats: $stats"
    # The DHT module's drops ({"dht":{...,"dropped":{"reason":N,...},"requests_not_learnt":N}})
    # must account for every DHT/LAN packet injected from elsewhere (plus c-toxcore's own DHT
    # traffic, hence >=).
    local dht_drops=0 v endpoint_drops not_learnt
    for v in $(printf '%s\n' "$stats" | grep -oE '"dropped":\{[^}]*\}' | grep -oE ':[0-9]+' | tr -d :); do
        dht_drops=$((dht_drops + v))
    done
    not_learnt=$(field "$stats" requests_not_learnt)
    endpoint_drops=$(printf '%s\n' "$stats" | grep -oE '"dropped":[0-9]+' | head -n 1 | cut -d: -f2)
    log "injected $INJ_SENT packets ($INJ_DHT DHT/LAN); counted: DHT dropped $dht_drops," \
        "requests_not_learnt ${not_learnt:-?}, endpoint dropped ${endpoint_drops:-?}"
    ((dht_drops + ${not_learnt:-0} >= INJ_DHT)) ||
        fail "only $((dht_drops + ${not_learnt:-0})) DHT drops counted for $INJ_DHT injected DHT packets"
    ((dht_drops + ${not_learnt:-0} + ${endpoint_drops:-0} >= INJ_SENT)) ||
        fail "only $((dht_drops + ${not_learnt:-0} + ${endpoint_drops:-0})) drops counted for $INJ_SENT injected packets"
    harness_quit H
}

# ============================================================================================
scenario_bad_input() {
    local id bad st port t0 t1 line
    newkey me
    newkey other
    id=$KEY_ID
    # expect_error NAME WORD ARGS... : non-zero exit, exactly one stderr line, naming WORD.
    expect_error() {
        local name=$1 word=$2
        shift 2
        "$NC" chat --key "$WORK/me.key" --bind 127.0.0.1:0 "$@" </dev/null >"$WORK/$name.out" \
            2>"$WORK/$name.err"
        st=$?
        ((st != 0)) || fail "$name: exit status 0"
        (($(nlines "$WORK/$name.err") == 1)) ||
            fail "$name: $(nlines "$WORK/$name.err") lines on stderr: $(cat "$WORK/$name.err")"
        grep -qiE -- "$word" "$WORK/$name.err" || fail "$name: message lacks '$word': $(cat "$WORK/$name.err")"
        log "$name: exit $st, '$(cat "$WORK/$name.err")'"
    }
    port=$(pick_ports 1)
    expect_error short_id 'length|long|short|76|64|hex|tox id' --peer "${id:0:75}" --to "127.0.0.1:$port"
    bad="${id:0:10}G${id:11}"
    expect_error nonhex_id 'hex|invalid|tox id' --peer "$bad" --to "127.0.0.1:$port"
    # wrong checksum: flip the last hex digit
    local last=${id:75:1}
    local flip=0
    [[ $last == 0 ]] && flip=1
    expect_error checksum 'checksum' --peer "${id:0:75}$flip" --to "127.0.0.1:$port"
    # nobody at the address (nothing bound to the port)
    t0=$(now_ms)
    "$NC" chat --key "$WORK/me.key" --peer "$id" --to "127.0.0.1:$port" --bind 127.0.0.1:0 </dev/null \
        >"$WORK/nobody.out" 2>"$WORK/nobody.err" &
    PID[nobody]=$!
    wait_exit nobody 60
    st=$EXIT_ST
    t1=$(now_ms)
    [[ $st != 124 ]] || fail "nobody at the address: still running after 60 s"
    ((st != 0)) || fail "nobody at the address: exit status 0"
    line=$(grep -E '^netcrypto: error: ' "$WORK/nobody.err")
    (($(grep -c -E '^netcrypto: error: ' "$WORK/nobody.err") == 1)) ||
        fail "nobody: expected one error line: $(cat "$WORK/nobody.err")"
    [[ $line == "netcrypto: error: no Tox peer answered at 127.0.0.1:$port after"* ]] ||
        fail "nobody: unexpected message: $line"
    [[ $(tail -n 1 "$WORK/nobody.err") == "$line" ]] || fail "nobody: the error is not the last line"
    # Besides the error, only chat's informational "ready: ..." line may be there.
    ! grep -q -v -E '^(netcrypto: error: |ready: )' "$WORK/nobody.err" ||
        fail "nobody: unexpected stderr lines: $(cat "$WORK/nobody.err")"
    log "nobody at 127.0.0.1:$port: exit $st after $((t1 - t0)) ms: '$line'"
}

case $SCENARIO in
    harness | connect | restart | crash_restart | two_instances | spoofed | bad_input) ;;
    *) fail "unknown scenario $SCENARIO" ;;
esac
[[ -x $HARNESS && -x $UDP_TOOL ]] || fail "not executable: $HARNESS / $UDP_TOOL"
[[ $SCENARIO == harness || -x $NC ]] || fail "netcrypto not executable: $NC"
"scenario_$SCENARIO"
log "PASS ($(($(now_ms) - T0)) ms)"
exit 0
