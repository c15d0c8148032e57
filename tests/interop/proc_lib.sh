# Process helpers shared by the interop scripts that drive several programs through FIFOs
# (lanchat_test.sh, relay_toxcore_test.sh). The caller declares WORK (a scratch directory),
# the associative arrays PID and FD, and now_ms (milliseconds, e.g. date +%s%3N).

# spawn NAME CMD... : runs CMD with stdin from a FIFO held open in FD[NAME], stdout NAME.out,
# stderr NAME.err. Restarting a NAME overwrites its logs (the old ones are kept as NAME.N.*).
spawn() {
    local name=$1 fd
    shift
    rm -f "$WORK/$name.in"
    for f in out err; do
        [[ -e $WORK/$name.$f ]] && mv "$WORK/$name.$f" "$WORK/$name.$(now_ms).$f.old"
    done
    mkfifo "$WORK/$name.in"
    # The child must not inherit the write ends of the other processes' stdin FIFOs (or closing
    # one would never give its reader EOF).
    (
        for fd in "${FD[@]}"; do exec {fd}>&-; done
        exec "$@"
    ) <"$WORK/$name.in" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PID[$name]=$!
    exec {fd}>"$WORK/$name.in"
    FD[$name]=$fd
}

send() { printf '%s\n' "$2" >&"${FD[$1]}"; }

close_stdin() {
    local fd=${FD[$1]:-}
    [[ -n $fd ]] || return 0
    exec {fd}>&-
    unset "FD[$1]"
}

# wait_exit NAME SECONDS : waits for NAME to exit; its status in EXIT_ST (124: timeout, killed).
wait_exit() {
    local name=$1 deadline=$((SECONDS + $2))
    while kill -0 "${PID[$name]}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    if kill -0 "${PID[$name]}" 2>/dev/null; then
        kill "${PID[$name]}" 2>/dev/null
        wait "${PID[$name]}" 2>/dev/null
        EXIT_ST=124
    else
        wait "${PID[$name]}"
        EXIT_ST=$?
    fi
    unset "PID[$name]"
}

nlines() { if [[ -e $1 ]]; then wc -l <"$1"; else echo 0; fi; }

# wait_line FILE ERE SECONDS [SKIP_LINES] [NAME] : prints the first line matching ERE after
# SKIP_LINES; fails after SECONDS, or early when process NAME has exited.
wait_line() {
    local file=$1 re=$2 secs=$3 skip=${4:-0} name=${5:-} line deadline
    deadline=$(($(now_ms) + secs * 1000))
    while (($(now_ms) < deadline)); do
        line=$(tail -n +"$((skip + 1))" "$file" 2>/dev/null | grep -a -E -m1 -- "$re")
        if [[ -n $line ]]; then
            printf '%s\n' "$line"
            return 0
        fi
        if [[ -n $name ]] && { [[ -z ${PID[$name]:-} ]] || ! kill -0 "${PID[$name]}" 2>/dev/null; }; then
            line=$(tail -n +"$((skip + 1))" "$file" 2>/dev/null | grep -a -E -m1 -- "$re")
            [[ -n $line ]] && {
                printf '%s\n' "$line"
                return 0
            }
            log "$name exited while waiting for /$re/ in $(basename "$file")"
            return 1
        fi
        sleep 0.05
    done
    log "timeout (${secs}s) waiting for /$re/ in $(basename "$file")"
    return 1
}
