#!/usr/bin/env bash
# Replication and re-sync under real faults (scripts/faults.py; --short is the default, --full the long phases, --nodes 5 the 5-node row): kills, SIGSTOP, a hot key's owner, a partition, restarts, a long stop, a join, a leave.
cd "$(dirname "$0")/.." && exec python3 scripts/faults.py --ringcached "${RINGCACHED_BIN:-.build/release/ringcached}" "$@"
