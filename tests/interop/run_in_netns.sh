#!/usr/bin/env bash
# Runs a program in a fresh network namespace with only loopback up (unshare -rn), so that a
# test relay can bind fixed ports without meeting anything else on the machine. Where user
# namespaces are not allowed it runs the program directly, on the host's loopback (the
# program's loopback guard still refuses any other destination).
# Usage: run_in_netns.sh PROGRAM [ARGS...]
set -euo pipefail
PATH=$PATH:/usr/sbin:/sbin
if command -v unshare >/dev/null && command -v ip >/dev/null && unshare -rn true 2>/dev/null; then
    exec unshare -rn bash -c 'ip link set lo up && exec "$@"' bash "$@"
fi
echo "run_in_netns: no user namespaces here; running on the host's loopback" >&2
exec "$@"
