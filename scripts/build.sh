#!/usr/bin/env bash
# Configures and builds netcrypto in build/ (Release, warnings are errors).
# Usage: scripts/build.sh [extra cmake -D options]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DNETCRYPTO_WERROR=ON "$@" >/dev/null
cmake --build build -j"$jobs"
