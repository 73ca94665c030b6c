#!/usr/bin/env bash
# Single-node speed and memory, ringcached vs Debian's memcached 1.6.18, side by side (issue 3).
#
#   scripts/bench.sh               full run (~15 minutes): every workload, 3 rounds, memory test
#   scripts/bench.sh --quick       one round of the headline workload (under a minute)
#   scripts/bench.sh --memory-only 1,000,000 items of 100 bytes into each, bytes per item
#   scripts/bench.sh --rounds N    N rounds per cell (the table shows medians)
# More: --duration S, --memory MB, --no-memory, --json FILE, --ringcached PATH (or $RINGCACHED),
# --no-build (use the existing .build/release/ringcached), --only 'WORKLOAD[@CONNS]' (just those cells). The last line printed is
# `headline 90/10 c16 ratio <x.xx>`. Related: scripts/bench/alloc-count.sh (mallocs per request)
# and scripts/bench/callgrind.sh (instruction profile).
#   scripts/bench.sh --cluster     issue 4: a 3-node ringcached cluster vs nutcracker + 3 memcached, and
#                                  the cost of one forwarded hop (scripts/bench/cluster.py; ~5 min;
#                                  --quick too); its last line is `cluster ratio <x.xx>`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_packages libevent-dev pkg-config memcached libmemcached-tools python3 util-linux

build=1
driver=scripts/bench/bench.py
args=()
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        --cluster) driver=scripts/bench/cluster.py ;;  # issue 4: ringcached x3 vs nutcracker + memcached x3
        *) args+=("$arg") ;;
    esac
done
if [ "$driver" = scripts/bench/cluster.py ]; then
    ensure_packages nutcracker
fi
if [ "$build" = 1 ]; then
    swift build -c release >&2
fi

# Every server the driver starts is recorded; anything still running at exit is stopped by PID.
source scripts/lib/bench-pids.sh
pidfile="$(mktemp /tmp/ringcache-bench-pids.XXXXXX)"
bench_stop_servers_on_exit "$pidfile" "$pidfile"

python3 "$driver" "${args[@]+"${args[@]}"}"
