#!/usr/bin/env bash
# End-to-end checks of the netcrypto CLI on 127.0.0.1. Every wait is bounded.
# Usage: cli_test.sh PATH/TO/netcrypto
set -euo pipefail
NC=${1:?path to netcrypto}
# shellcheck source=tests/cli/lib.sh
source "$(dirname "$0")/lib.sh"

# --- keygen / id ------------------------------------------------------------------------------
keygen_a=$("$NC" keygen --out "$WORK/a.key")
pk_a=$(sed -n 's/^public key: //p' <<<"$keygen_a")
tox_a=$(sed -n 's/^Tox ID: *\([0-9A-F]*\).*/\1/p' <<<"$keygen_a")
pk_b=$("$NC" keygen --out "$WORK/b.key" | sed -n 's/^public key: //p')
[[ "$pk_a" =~ ^[0-9a-f]{64}$ ]] && ok "keygen prints a 64-hex public key" || bad "keygen output: $keygen_a"
[[ "$tox_a" =~ ^[0-9A-F]{76}$ && "${tox_a:0:64}" == "${pk_a^^}" ]] &&
    ok "keygen prints the Tox ID of that key" || bad "keygen Tox ID: $keygen_a"
[[ "$("$NC" --json id --key "$WORK/a.key")" == "{\"public_key\":\"$pk_a\",\"tox_id\":\"$tox_a\"}" ]] &&
    ok "id --json prints the same key and Tox ID" || bad "id --json: $("$NC" --json id --key "$WORK/a.key")"
[[ "$(stat -c %a "$WORK/a.key")" == 600 ]] && ok "key file mode is 0600" || bad "key file mode $(stat -c %a "$WORK/a.key")"
[[ "$(tr -d '\n' <"$WORK/a.key" | wc -c)" == 64 ]] && ok "key file holds 64 hex digits" || bad "key file size"
[[ "$("$NC" id --key "$WORK/a.key" | sed -n "s/^public key: //p")" == "$pk_a" ]] && ok "id prints the same public key" || bad "id mismatch"
if "$NC" keygen --out "$WORK/a.key" 2>"$WORK/err"; then bad "keygen overwrote a key file"; else
    grep -q "cannot create key file" "$WORK/err" && ok "keygen refuses to overwrite" || bad "keygen overwrite message: $(cat "$WORK/err")"
fi

# --- --version: the tool's and libsodium's version, exit 0 -----------------------------------
if version=$("$NC" --version) && [[ "$version" =~ ^netcrypto\ [0-9]+\.[0-9]+\.[0-9]+\ \(libsodium\ [0-9.]+\)$ ]]; then
    ok "--version prints $version"
else
    bad "--version output: ${version:-}"
fi
expect_usage_error() {
    local name=$1
    shift
    if "$@" >/dev/null 2>&1; then bad "$name: succeeded"; else ok "$name: exit status $?"; fi
}
expect_usage_error "no subcommand is a usage error" "$NC"
expect_usage_error "--json alone is a usage error" "$NC" --json

# --- streaming: listen | connect, compare hashes ----------------------------------------------
# transfer NAME BYTES LOSS: pipe BYTES random bytes from connect to listen, compare SHA-256.
transfer() {
    local name=$1 bytes=$2 loss=$3
    head -c "$bytes" /dev/urandom >"$WORK/src.bin"
    # The listener truncates its log only once it runs: never read the previous run's.
    rm -f "$WORK/listen.err" "$WORK/out.bin"
    "$NC" --json listen --key "$WORK/b.key" --bind 127.0.0.1:0 --allow "$pk_a" --once --loss "$loss" \
        >"$WORK/out.bin" 2>"$WORK/listen.err" &
    local lpid=$!
    PIDS+=("$lpid")
    if ! wait_for "$WORK/listen.err" '"event":"ready"' 10; then bad "$name: listen not ready"; return; fi
    local addr dht
    addr=$(json_field "$WORK/listen.err" address)
    dht=$(json_field "$WORK/listen.err" dht_public_key)
    local start=$SECONDS
    if ! timeout 300 "$NC" --json connect --key "$WORK/a.key" --to "$addr" --peer "$pk_b" --peer-dht "$dht" \
        --loss "$loss" <"$WORK/src.bin" >/dev/null 2>"$WORK/connect.err"; then
        bad "$name: connect failed: $(tail -n 3 "$WORK/connect.err")"
        kill "$lpid" 2>/dev/null || true
        return
    fi
    if ! timeout 60 tail --pid="$lpid" -f /dev/null; then bad "$name: listen --once did not exit"; return; fi
    wait "$lpid" || { bad "$name: listen exited non-zero: $(tail -n 3 "$WORK/listen.err")"; return; }
    local want got
    want=$(sha256sum <"$WORK/src.bin" | cut -d' ' -f1)
    got=$(sha256sum <"$WORK/out.bin" | cut -d' ' -f1)
    if [[ "$want" == "$got" ]]; then
        ok "$name: $bytes bytes arrived intact in $((SECONDS - start)) s (sha256 $got)"
    else
        bad "$name: hash mismatch ($(stat -c %s "$WORK/out.bin") of $bytes bytes arrived)"
    fi
    grep -q '"status":"Established"' "$WORK/connect.err" && ok "$name: connect reported Established" || bad "$name: no Established event"
}
[[ -z "${ONLY_LOSS:-}" ]] && transfer "clean" $((64 << 20)) 0
transfer "10% loss" $((64 << 20)) 10

# --- bad input: one clear line, non-zero exit -------------------------------------------------
# expect_fail NAME PATTERN CMD...: the command must fail and stderr must match PATTERN.
expect_fail() {
    local name=$1 pattern=$2
    shift 2
    if timeout 60 "$@" </dev/null >/dev/null 2>"$WORK/err"; then
        bad "$name: succeeded"
    elif grep -q -e "$pattern" "$WORK/err"; then
        ok "$name: $(grep -m1 -e "$pattern" "$WORK/err")"
    else
        bad "$name: unexpected message: $(cat "$WORK/err")"
    fi
}
printf 'not a key\n' >"$WORK/bad.key"
expect_fail "missing key file" "cannot read key file" "$NC" id --key "$WORK/none.key"
expect_fail "malformed key file" "is malformed" "$NC" id --key "$WORK/bad.key"
expect_fail "bad hex peer key" "--peer: wrong length: 3 characters" "$NC" connect --key "$WORK/a.key" \
    --to 127.0.0.1:9 --peer xyz --peer-dht "$pk_b"
bad_sum="${tox_a:0:72}$(printf '%04X' $(((16#${tox_a:72:4} + 1) % 65536)))"
expect_fail "Tox ID with a wrong checksum" "--peer: bad Tox ID checksum" "$NC" chat \
    --key "$WORK/b.key" --to 127.0.0.1:9 --peer "$bad_sum"
expect_fail "not hex Tox ID" "--peer:" "$NC" chat --key "$WORK/b.key" --to 127.0.0.1:9 \
    --peer "${tox_a:0:75}G"
expect_fail "bad address" "is not HOST or HOST:PORT" "$NC" connect --key "$WORK/a.key" \
    --to nowhere --peer "$pk_b" --peer-dht "$pk_b"
# Nobody at the address: discovery (no --peer-dht) gives up after 10 LAN discovery packets.
expect_fail "nobody at the address" "no Tox peer answered at 127.0.0.1:9 after 5 s" "$NC" chat \
    --key "$WORK/b.key" --to 127.0.0.1:9 --peer "$tox_a"
# --relay HOST:PORT:KEY and --no-udp: one line naming the mistake, before any socket.
key64=$(printf 'ab%.0s' {1..32})
for bad_relay in "127.0.0.1:33445|expected HOST:PORT:KEY (a part is missing)" ":33445:$key64|HOST is missing" \
    "127.0.0.1::$key64|PORT is missing" "127.0.0.1:33445:|KEY is missing" \
    "127.0.0.1:99999:$key64|bad port \"99999\"" "127.0.0.1:x1:$key64|bad port \"x1\"" \
    "127.0.0.1:33445:abcd|KEY must be 64 hex digits, got 4 characters" \
    "127.0.0.1:33445:${key64:0:62}zz|KEY is not hexadecimal" \
    "[::1]:0:$key64|bad port \"0\""; do
    expect_fail "--relay ${bad_relay%%|*}" "--relay \".*\": ${bad_relay#*|}" "$NC" listen \
        --key "$WORK/b.key" --bind 127.0.0.1:0 --relay "${bad_relay%%|*}"
done
expect_fail "listen --no-udp without --relay" "--no-udp needs at least one --relay" "$NC" listen \
    --key "$WORK/b.key" --no-udp
expect_fail "connect --no-udp without --relay" "--no-udp needs at least one --relay" "$NC" connect \
    --key "$WORK/a.key" --no-udp --peer "$pk_b" --peer-dht "$pk_b"
expect_fail "listen without --bind or --no-udp" "listen needs --bind" "$NC" listen --key "$WORK/b.key"
expect_fail "connect without --to or --relay" "--to HOST\[:PORT\] is required" "$NC" connect \
    --key "$WORK/a.key" --peer "$pk_b" --peer-dht "$pk_b"
expect_fail "connect over relays without --peer-dht" "--peer-dht is required" "$NC" chat \
    --key "$WORK/a.key" --no-udp --relay "127.0.0.1:9:$key64" --peer "$pk_b"
expect_fail "one relay twice" "the same relay key as --relay 127.0.0.1:9" "$NC" listen \
    --key "$WORK/b.key" --bind 127.0.0.1:0 --relay "127.0.0.1:9:$key64" --relay "[::1]:9:$key64"
# id --dht-key: the DHT key file's public key, as the listener's ready event shows it.
"$NC" keygen --out "$WORK/dht.key" >/dev/null
dht_pk=$("$NC" id --key "$WORK/dht.key" | sed -n 's/^public key: //p')
[[ "$("$NC" --json id --key "$WORK/a.key" --dht-key "$WORK/dht.key")" == *"\"dht_public_key\":\"$dht_pk\""* ]] &&
    ok "id --dht-key prints the DHT key file's public key" || bad "id --dht-key: $("$NC" --json id --key "$WORK/a.key" --dht-key "$WORK/dht.key")"
rm -f "$WORK/busy.err"
"$NC" --json listen --key "$WORK/b.key" --bind 127.0.0.1:0 >/dev/null 2>"$WORK/busy.err" &
PIDS+=($!)
wait_for "$WORK/busy.err" '"event":"ready"' 10 || bad "listen for port-in-use not ready"
busy=$(json_field "$WORK/busy.err" address)
expect_fail "port in use" "cannot bind" "$NC" listen --key "$WORK/b.key" --bind "$busy"
# A UDP port where nothing answers: the connection times out in CookieRequesting after 8 tries.
expect_fail "peer never answers" "did not answer: timed out in CookieRequesting" "$NC" connect \
    --key "$WORK/a.key" --to 127.0.0.1:9 --peer "$pk_b" --peer-dht "$pk_b"

echo "$passed passed, $failed failed"
((failed == 0))
