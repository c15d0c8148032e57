#!/usr/bin/env bash
# The opt-in scale benchmark (issue 15, point 4): bench/compare.sh's scale and idle measurements
# only, at 10 … 1,000,000 Established connections in one endpoint, with the same Markdown
# report (targets table included) written to bench/results/<date>-scale.md.
#
# Usage: bench/scale.sh [BUILD_DIR]
# Env:   SCALE_CONNECTIONS="10 1000 10000 100000 1000000"  the sizes (the largest must fit in
#        memory: about 3.5 KiB per connection, plus ~100 B per simulated peer)
# Time:  the setup runs one real handshake per connection (~0.3 ms of CPU each on a 2020s
#        x86 core: ~5 minutes for a million), then the packet and idle measurements.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export COMPARE_ONLY=scale
export COMPARE_SCALE=${SCALE_CONNECTIONS:-10 1000 10000 100000 1000000}
export COMPARE_OUT=${COMPARE_OUT:-$root/bench/results/$(date -u +%Y-%m-%d-%H%M)-scale.md}
exec "$root/bench/compare.sh" "$@"
