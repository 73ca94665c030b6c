#!/usr/bin/env bash
# Command two: the whole test suite — unit tests of every module and the integration tests that
# run the release binary against real clients (memccapable, pymemcache) and memcached itself.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_packages libevent-dev pkg-config memcached libmemcached-tools python3-pymemcache nutcracker netcat-openbsd procps nftables
# Debian's memcached package may have started its service on 11211; the tests use free ports,
# but a stray daemon is not ours to leave running in CI.
if [ "${CI:-}" = "true" ] && command -v service >/dev/null; then service memcached stop >/dev/null 2>&1 || true; fi

echo "== building release binary"
swift build -c release
export RINGCACHED_BIN="$PWD/.build/release/ringcached"
echo "== running tests"
swift test "$@"
echo "== differential fuzzing against memcached (scripts/difftest.py)"
python3 scripts/difftest.py --cases 300 --seed 1 --ringcached "$RINGCACHED_BIN"
echo "== gossip under real faults: SIGKILL, SIGTERM, SIGSTOP, a partition (scripts/gossip-faults.py --short)"
python3 scripts/gossip-faults.py --short --ringcached "$RINGCACHED_BIN"
echo "== replication and re-sync under real faults: kills, SIGSTOP, a hot key's owner, a partition, restarts, a long stop, a join, a leave (scripts/faults.py --short)"
python3 scripts/faults.py --short --ringcached "$RINGCACHED_BIN"
echo "== the same on 5 nodes: a kill, a restart, a partition, a join, a leave (scripts/faults.py --short --nodes 5)"
python3 scripts/faults.py --short --nodes 5 --faults kill,restart,partition,grow,shrink --ringcached "$RINGCACHED_BIN"
