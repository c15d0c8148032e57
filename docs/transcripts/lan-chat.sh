#!/usr/bin/env bash
# A user's session: c-toxcore (tox_harness, local discovery on) on 127.0.0.1:33500, netcrypto
# chat given only its Tox ID. Plain mode, as in a terminal.
# Usage: cd "$(mktemp -d)" && NC=/abs/build/netcrypto H=/abs/build/tests/interop/tox_harness bash lan-chat.sh
set -u
NC=${NC:-build/netcrypto}
H=${H:-build/tests/interop/tox_harness}
t0=$(date +%s%N); ts() { printf '[%6.2f s] ' "$(( ($(date +%s%N) - t0) / 10000000 ))e-2"; }
say() { ts; echo "$*"; }
say '$ netcrypto keygen --out me.key'
$NC keygen --out me.key | sed 's/^/    /'
ME=$($NC --json id --key me.key | sed 's/.*"public_key":"\([0-9a-f]*\)".*/\1/')
mkfifo h.in c.in
start_h() { $H --local-discovery --port 33500 --savedata h.tox --friend "$ME" --name "Tox Frank" --status-message "compiling" <h.in >h.out 2>/dev/null 3>&- & HP=$!; exec 4>h.in; }
start_h
sleep 1
TOX=$(grep -m1 '"ready"' h.out | sed 's/.*"tox_id":"\([0-9A-F]*\)".*/\1/')
say "c-toxcore client running: Tox ID $TOX, UDP 33500 (it added our Tox ID as a friend)"
say "\$ netcrypto chat --key me.key --name Alice --status-message 'on the LAN' --to 127.0.0.1:33500 --peer $TOX"
$NC chat --key me.key --name Alice --status-message 'on the LAN' --to 127.0.0.1:33500 --peer "$TOX" <c.in >c.out 2>c.err &
CP=$!
exec 3>c.in
sleep 2
say "--- chat's stdout/stderr so far:"; cat c.err c.out | sed 's/^/    /'
say '> (typed) hello Frank, this is netcrypto'
echo "hello Frank, this is netcrypto" >&3
sleep 1
say "--- c-toxcore received:"; grep friend_message h.out | sed 's/.*"text_hex":"\([0-9a-f]*\)".*/\1/' | xxd -r -p | sed 's/^/    /'; echo
say "c-toxcore sends: hi Alice!"
echo "send_message 0 0 $(printf 'hi Alice!' | xxd -p)" >&4
sleep 1
say "--- chat's stdout:"; cat c.out | sed 's/^/    /'
say "c-toxcore quits (tox_kill), and starts again on the same profile 3 s later (new DHT key)"
echo quit >&4; exec 4>&-; wait $HP
sleep 1
say "> (typed while Frank is away) are you there?"
echo "are you there?" >&3
sleep 2
restart=$(date +%s%N)
start_h
for i in $(seq 1 100); do grep -q "online again" c.err && break; sleep 0.1; done
say "--- chat's stderr (reconnected $(( ($(date +%s%N) - restart) / 1000000 )) ms after the restart):"; cat c.err | sed 's/^/    /'
sleep 1
say "--- c-toxcore (new instance) received:"; grep friend_message h.out | sed 's/.*"text_hex":"\([0-9a-f]*\)".*/\1/' | xxd -r -p | sed 's/^/    /'; echo
echo "send_message 0 0 $(printf 'back again' | xxd -p)" >&4
sleep 1
say "--- chat's stdout:"; cat c.out | sed 's/^/    /'
say "stdin ends (Ctrl-D)"
exec 3>&-
wait $CP; say "chat exit status $?"
echo quit >&4; exec 4>&-; wait $HP
grep '"exit"' h.out | sed 's/.*"nonloopback_sends":\([0-9]*\).*"refused_broadcast_sends":\([0-9]*\).*/    c-toxcore non-loopback sends refused: \1 (all broadcasts: \2)/'
