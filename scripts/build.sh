#!/usr/bin/env bash
# Configures and builds netcrypto in build/ (Release, warnings are errors).
# Usage: scripts/build.sh [extra cmake -D options]
# NETCRYPTO_BUILD_TARGET=T builds only target T (and what it needs), e.g. netcrypto_cli.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DNETCRYPTO_WERROR=ON "$@" >/dev/null
cmake --build build -j"$jobs" ${NETCRYPTO_BUILD_TARGET:+--target "$NETCRYPTO_BUILD_TARGET"}
