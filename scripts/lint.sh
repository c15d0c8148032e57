#!/usr/bin/env bash
# Static checks, run by scripts/test.sh after the release build:
#   1. clang-format: every C++ file git tracks matches .clang-format.
#   2. Size limits on src/ (library and CLI): no tracked .cpp/.hpp over 600 lines, no function
#      over 80 lines (clang-tidy readability-function-size, LineThreshold in .clang-tidy).
#   3. clang-tidy: bug-prone patterns, the clang static analyzer, performance checks and the
#      function size limit on src/, warnings are errors. The other style checks of .clang-tidy
#      stay advisory (run clang-tidy-14 -p build FILE for the full set).
# The size check and clang-tidy report everything they find before the script fails.
# Needs build/compile_commands.json (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
echo "lint: clang-format on ${#files[@]} files"
clang-format-14 --dry-run --Werror "${files[@]}"

status=0
max_file_lines=600
echo "lint: source files under src/ at most $max_file_lines lines"
while IFS= read -r f; do
    lines=$(wc -l <"$f")
    if ((lines > max_file_lines)); then
        echo "lint: $f has $lines lines (limit $max_file_lines): split it" >&2
        status=1
    fi
done < <(git ls-files 'src/*.cpp' 'src/*.hpp')

[[ -f build/compile_commands.json ]] || { echo "lint: run scripts/build.sh first" >&2; exit 1; }
# readability-function-size takes its LineThreshold (80) from .clang-tidy.
checks='-*,bugprone-*,clang-analyzer-*,performance-*,-bugprone-easily-swappable-parameters'
checks+=',readability-function-size'
echo "lint: clang-tidy ($checks) on src/"
tidy_status=0
run-clang-tidy-14 -p build -quiet -j "$(nproc 2>/dev/null || echo 2)" -checks="$checks" \
    "$(pwd)/src/" >build/clang-tidy.log 2>&1 || tidy_status=$?
if ((tidy_status != 0)) || grep -qE '(warning|error): ' build/clang-tidy.log; then
    # The function size warning's length is on the note that follows it.
    sed 's/\x1b\[[0-9;]*m//g' build/clang-tidy.log |
        grep -E '(warning|error): |note: [0-9]+ lines including' | sort -u
    echo "lint: clang-tidy found problems (full log: build/clang-tidy.log)" >&2
    status=1
fi
((status == 0)) || exit 1
echo "lint: clean"
