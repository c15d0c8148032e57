#!/usr/bin/env bash
# Two `netcrypto chat` processes on 127.0.0.1 given only each other's Tox ID and address (no
# DHT keys): they find each other, exchange messages with names and delivery receipts, and
# Alice's chat keeps Bob as a friend across Bob quitting and coming back (a new DHT key), with
# a line typed while Bob was away delivered on reconnection. Every wait is bounded.
# Usage: chat_test.sh PATH/TO/netcrypto
set -euo pipefail
NC=${1:?path to netcrypto}
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"
tox_id() { "$NC" --json id --key "$1" | sed 's/.*"tox_id":"\([0-9A-F]*\)".*/\1/'; }
# free_port: a UDP port in 20000-59999 that no socket on this machine is bound to (and not the
# one picked last), from /proc/net/udp (no python on a fresh machine).
last_port=0
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        ((p == last_port)) && continue
        if ! grep -qi ":$(printf '%04X' "$p") " /proc/net/udp /proc/net/udp6 2>/dev/null; then
            last_port=$p
            echo "$p"
            return 0
        fi
    done
    return 1
}

"$NC" keygen --out "$WORK/alice.key" >/dev/null
"$NC" keygen --out "$WORK/bob.key" >/dev/null
ALICE=$(tox_id "$WORK/alice.key")
BOB=$(tox_id "$WORK/bob.key")
free_port >"$WORK/pa"
free_port >"$WORK/pb"
PA=$(cat "$WORK/pa")
PB=$(cat "$WORK/pb")

# Alice's stdin is a FIFO the test writes to; it stays open until the end.
mkfifo "$WORK/alice.in"
"$NC" chat --json --key "$WORK/alice.key" --name Alice --bind "127.0.0.1:$PA" \
    --to "127.0.0.1:$PB" --peer "$BOB" <"$WORK/alice.in" >"$WORK/alice.out" 2>"$WORK/alice.err" &
PIDS+=($!)
ALICE_PID=$!
exec 3>"$WORK/alice.in"

# Bob, first run: says hello, stays 2 s, quits.
(echo "hello from bob"; sleep 2) | timeout 20 "$NC" chat --json --key "$WORK/bob.key" \
    --name Bob --status-message "at home" --bind "127.0.0.1:$PB" --to "127.0.0.1:$PA" \
    --peer "$ALICE" >"$WORK/bob1.out" 2>"$WORK/bob1.err" &
PIDS+=($!)
wait_for "$WORK/alice.err" '"event":"online"' 10 && ok "alice finds bob by Tox ID and address" ||
    bad "alice not online: $(cat "$WORK/alice.err")"
echo "hi from alice" >&3
wait_for "$WORK/alice.out" '^hello from bob$' 10 && ok "bob's message reaches alice" ||
    bad "alice.out: $(cat "$WORK/alice.out")"
wait_for "$WORK/bob1.out" '^hi from alice$' 10 && ok "alice's message reaches bob" ||
    bad "bob1.out: $(cat "$WORK/bob1.out")"
grep -q '"event":"name".*"value":"Bob"' "$WORK/alice.err" && ok "alice sees bob's name" ||
    bad "no name event: $(cat "$WORK/alice.err")"
grep -q '"event":"status_message".*"value":"at home"' "$WORK/alice.err" &&
    ok "alice sees bob's status message" || bad "no status message event"
wait_for "$WORK/alice.err" '"event":"delivered"' 10 && ok "alice gets a delivery receipt" ||
    bad "no delivered event"
# Whichever side learnt the other's DHT key first connects; the other adopts that connection.
cat "$WORK/alice.err" "$WORK/bob1.err" | grep -q '"event":"discovered"' &&
    ok "a DHT key was learnt, not given" || bad "no discovered event on either side"

# Bob quits; Alice reports him offline and keeps trying. A line typed meanwhile is queued.
wait_for "$WORK/alice.err" '"event":"offline"' 15 && ok "alice reports bob offline" ||
    bad "no offline event: $(tail -5 "$WORK/alice.err")"
echo "while you were away" >&3
wait_for "$WORK/alice.err" '"event":"queued"' 5 && ok "a line typed while offline is queued" ||
    bad "no queued event"
sleep 2
# Bob, second run: a new process (new DHT key), same key and port.
(sleep 4) | timeout 20 "$NC" chat --json --key "$WORK/bob.key" --name Bob \
    --bind "127.0.0.1:$PB" --to "127.0.0.1:$PA" --peer "$ALICE" \
    >"$WORK/bob2.out" 2>"$WORK/bob2.err" &
PIDS+=($!)
back=$SECONDS
if wait_for "$WORK/alice.err" '"event":"online".*"offline_ms"' 10; then
    ok "alice reconnects to bob within $((SECONDS - back)) s of his return (limit 10 s)"
else
    bad "alice did not reconnect: $(tail -5 "$WORK/alice.err")"
fi
wait_for "$WORK/bob2.out" '^while you were away$' 10 && ok "the queued line is delivered" ||
    bad "bob2.out: $(cat "$WORK/bob2.out")"

# Alice's stdin ends: she says OFFLINE and exits 0 with a stats event.
exec 3>&-
rc=0
for _ in $(seq 1 200); do
    kill -0 "$ALICE_PID" 2>/dev/null || break
    sleep 0.05
done
wait "$ALICE_PID" || rc=$?
((rc == 0)) && ok "alice exits 0 at the end of her input" || bad "alice exit status $rc"
grep -q '"event":"stats".*"undelivered_lines":0' "$WORK/alice.err" && ok "nothing undelivered" ||
    bad "stats: $(grep stats "$WORK/alice.err" || true)"

echo "$passed passed, $failed failed"
((failed == 0))
