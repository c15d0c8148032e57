#!/usr/bin/env bash
# The manual page and the bash completion list exactly the subcommands and options that
# `netcrypto --help` and `netcrypto SUBCOMMAND --help` print; and the completion completes.
# Usage: doc_options_test.sh PATH/TO/netcrypto PATH/TO/netcrypto.1 PATH/TO/completion
set -euo pipefail
NC=${1:?path to netcrypto}
MAN=${2:?path to netcrypto.1}
COMPLETION=${3:?path to the bash completion}
failed=0
ok() { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; failed=1; }
# same NAME A B: two sorted word lists must be equal.
same() {
    if [[ "$2" == "$3" ]]; then ok "$1: $2"; else bad "$1: '$2' vs '$3'"; fi
}
sorted() { tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'; }

# --help of the tool or of a subcommand: its long options, --help left out (every command has
# it; the manual describes it once).
help_options() {
    "$NC" "$@" --help | sed -n 's/^ *\(-[A-Za-z],\)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' |
        grep -vx -- --help | sorted
}
help_subcommands() {
    "$NC" --help | sed -n '/^Subcommands:/,$p' | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p' | sorted
}
# The manual's option items: the .TP items of the section that starts at the heading line
# ($1, a regex) and ends at the next heading. roff's \- is a plain hyphen.
man_options() {
    awk -v start="$1" '
        $0 ~ /^\.S[HS]/ { insec = ($0 ~ start); next }
        insec && tp { print; tp = 0; next }
        insec && /^\.TP/ { tp = 1 }' "$MAN" |
        sed 's/\\-/-/g' | grep -o -- '--[a-z][a-z-]*' | grep -vx -- --help | sorted
}
man_subcommands() { sed -n 's/^\.SS \([a-z][a-z]*\)$/\1/p' "$MAN" | sorted; }
# complete WORDS...: COMPREPLY of the completion function for the words (the last one is being
# completed), one line.
complete_words() {
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
             COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
             _netcrypto netcrypto "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
             echo "${COMPREPLY[*]}"' _ "$COMPLETION" "$@"
}
completion_options() { complete_words netcrypto "$@" -- | tr ' ' '\n' | grep -vx -- --help | sorted; }

subcommands=$(help_subcommands)
[[ -n "$subcommands" ]] || bad "no subcommands found in netcrypto --help"
same "man page subcommands" "$subcommands" "$(man_subcommands)"
same "completion subcommands" "$subcommands" "$(complete_words netcrypto '' | sorted)"

global=$(help_options)
same "global options in the man page (OPTIONS)" "$global" "$(man_options '^\.SH OPTIONS')"
same "global options in the completion" "$global" "$(completion_options)"
for sub in $subcommands; do
    opts=$(help_options "$sub")
    [[ -n "$opts" ]] || bad "$sub: no options found in --help"
    same "$sub options in the man page" "$opts" "$(man_options "^\\.SS $sub\$")"
    same "$sub options in the completion" "$opts" "$(completion_options "$sub")"
done

# What a user sees at the prompt.
same "netcrypto l<TAB>" "listen" "$(complete_words netcrypto l)"
same "netcrypto listen --on<TAB>" "--once" "$(complete_words netcrypto listen --on)"
same "netcrypto connect --peer-<TAB>" "--peer-dht" "$(complete_words netcrypto connect --peer-)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
touch "$tmp/alice.key"
same "netcrypto id --key DIR/al<TAB>" "$tmp/alice.key" "$(complete_words netcrypto id --key "$tmp/al")"

# --version: name, version and libsodium, exit 0.
if v=$("$NC" --version) && [[ "$v" =~ ^netcrypto\ [0-9]+\.[0-9]+\.[0-9]+\ \(libsodium\ [0-9.]+\)$ ]]; then
    ok "--version: $v"
else
    bad "--version printed '${v:-}'"
fi
exit "$failed"
