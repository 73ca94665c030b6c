#!/usr/bin/env bash
# Heap allocations per request on the hot path (small get/set hits), ringcached vs memcached.
# Compiles scripts/bench/alloccount.c (an LD_PRELOAD malloc counter) into a temporary folder,
# starts each server with it and counts mallocs over a fixed number of requests.
#   scripts/bench/alloc-count.sh [--no-build] [--requests N] [--ringcached PATH]
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/deps.sh
ensure_packages libevent-dev pkg-config memcached gcc python3

build=1
args=()
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        *) args+=("$arg") ;;
    esac
done
[ "$build" = 1 ] && swift build -c release >&2

work="$(mktemp -d /tmp/ringcache-alloc.XXXXXX)"
source scripts/lib/bench-pids.sh
bench_stop_servers_on_exit "$work/pids" "$work"

gcc -O2 -shared -fPIC -o "$work/alloccount.so" scripts/bench/alloccount.c
python3 scripts/bench/alloc_count.py --library "$work/alloccount.so" "${args[@]+"${args[@]}"}"
