#!/usr/bin/env bash
# Sets up the machine, builds netcrypto and runs `netcrypto demo` (arguments are passed on).
# Only the tool and the libraries it links are built (in build/, like scripts/build.sh): the
# tests, benchmarks and fuzz replays follow when scripts/test.sh or scripts/build.sh runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
NETCRYPTO_BUILD_TARGET=netcrypto_cli bash scripts/build.sh
exec ./build/netcrypto demo "$@"
