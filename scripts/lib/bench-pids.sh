# Stops, at exit, every server a benchmark driver started: the drivers append each PID they
# start to $BENCH_PIDFILE; at exit each one still running is killed by PID, and only if it is
# still one of our servers (ringcached, memcached, valgrind, nutcracker).
# Usage: source scripts/lib/bench-pids.sh; bench_stop_servers_on_exit PIDFILE [PATH_TO_REMOVE...]
bench_stop_servers_on_exit() {
    export BENCH_PIDFILE="$1"
    shift
    BENCH_CLEANUP_PATHS=("$@")
    : > "$BENCH_PIDFILE"
    trap _bench_cleanup EXIT
}

_bench_cleanup() {
    local pid
    while read -r pid; do
        [ -n "$pid" ] || continue
        if grep -qaE 'ringcached|memcached|valgrind|nutcracker' "/proc/$pid/cmdline" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
        fi
    done < "$BENCH_PIDFILE"
    rm -rf "${BENCH_CLEANUP_PATHS[@]+"${BENCH_CLEANUP_PATHS[@]}"}"
}
