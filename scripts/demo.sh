#!/usr/bin/env bash
# Sets up the machine, builds netcrypto and runs `netcrypto demo` (arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec ./build/netcrypto demo "$@"
