#!/usr/bin/env bash
# Static checks, run by scripts/test.sh after the release build:
#   1. clang-format: every C++ file git tracks matches .clang-format.
#   2. clang-tidy: bug-prone patterns, the clang static analyzer and performance checks on the
#      library and the CLI (src/), warnings are errors. The style checks of .clang-tidy stay
#      advisory (run clang-tidy-14 -p build FILE for the full set).
# Needs build/compile_commands.json (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
echo "lint: clang-format on ${#files[@]} files"
clang-format-14 --dry-run --Werror "${files[@]}"

[[ -f build/compile_commands.json ]] || { echo "lint: run scripts/build.sh first" >&2; exit 1; }
checks='-*,bugprone-*,clang-analyzer-*,performance-*,-bugprone-easily-swappable-parameters'
echo "lint: clang-tidy ($checks) on src/"
status=0
run-clang-tidy-14 -p build -quiet -j "$(nproc 2>/dev/null || echo 2)" -checks="$checks" \
    "$(pwd)/src/" >build/clang-tidy.log 2>&1 || status=$?
if ((status != 0)) || grep -qE '(warning|error): ' build/clang-tidy.log; then
    sed 's/\x1b\[[0-9;]*m//g' build/clang-tidy.log | grep -E '(warning|error): ' | sort -u
    echo "lint: clang-tidy found problems (full log: build/clang-tidy.log)" >&2
    exit 1
fi
echo "lint: clean"
