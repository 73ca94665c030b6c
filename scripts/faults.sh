#!/usr/bin/env bash
# Replication under real faults (scripts/faults.py): SIGKILL, two SIGKILLs, SIGSTOP, a hot key's owner killed, a partition.
cd "$(dirname "$0")/.." && exec python3 scripts/faults.py --ringcached "${RINGCACHED_BIN:-.build/release/ringcached}" "$@"
