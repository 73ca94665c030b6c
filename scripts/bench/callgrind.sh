#!/usr/bin/env bash
# Instruction profile (valgrind's callgrind) of ringcached and memcached over a fixed number of
# small get and set hits: instructions per request and the top functions; then system calls per
# request (strace -c) for the same load, since callgrind sees user space only.
#   scripts/bench/callgrind.sh [--no-build] [--requests N] [--conns C] [--top N]
# valgrind 3.19 cannot read the DWARF 5 debug info Swift 6.3 writes, so ringcached is profiled
# from a copy with the debug info stripped (symbols stay, so functions are still named).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/deps.sh
ensure_packages libevent-dev pkg-config memcached valgrind strace binutils python3

build=1
args=()
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        *) args+=("$arg") ;;
    esac
done
[ "$build" = 1 ] && swift build -c release >&2

work="$(mktemp -d /tmp/ringcache-callgrind.XXXXXX)"
source scripts/lib/bench-pids.sh
bench_stop_servers_on_exit "$work/pids"  # the profiles in $work are kept

ringcached="${RINGCACHED:-.build/release/ringcached}"
objcopy --strip-debug "$ringcached" "$work/ringcached"
for server in ringcached memcached; do
    for op in get set; do
        RINGCACHED="$work/ringcached" python3 scripts/bench/callgrind_profile.py --server "$server" --op "$op" \
            --out-dir "$work" "${args[@]+"${args[@]}"}"
        echo
    done
done
for server in ringcached memcached; do
    for op in get set; do
        RINGCACHED="$ringcached" python3 scripts/bench/syscall_count.py --server "$server" --op "$op" \
            --out-dir "$work" "${args[@]+"${args[@]}"}"
    done
done
echo "profiles kept in $work (open with callgrind_annotate or kcachegrind)"
