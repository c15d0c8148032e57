#!/usr/bin/env bash
# Measures how long a fresh clone takes to print the demo's first line: clones REPO at COMMIT
# into a temporary directory and runs its scripts/demo.sh (packages must already be installed,
# so this measures configure + build + start-up). The demo's output is its first line on
# stderr (setup.sh and the build print on stdout; the build has no warnings: -Werror).
# Usage: scripts/time_first_output.sh REPO COMMIT [demo args...]
set -euo pipefail
repo=${1:?repository}
commit=${2:?commit}
shift 2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
start=$(date +%s.%N)
git clone -q "$repo" "$dir/src"
git -C "$dir/src" checkout -q "$commit"
first=""
while IFS= read -r line; do
    if [[ -z "$first" ]]; then
        first=$(date +%s.%N)
        echo "first demo line: $line"
    fi
done < <(cd "$dir/src" && nice bash scripts/demo.sh "$@" 2>&1 >/dev/null)
[[ -n "$first" ]] || { echo "no demo output" >&2; exit 1; }
awk -v a="$start" -v b="$first" 'BEGIN { printf "clone to first demo line: %.1f s\n", b - a }'
