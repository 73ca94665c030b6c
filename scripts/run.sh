#!/usr/bin/env bash
# Command one: install what is missing, build in release mode, and run one node in the
# foreground on 127.0.0.1:11211 (Ctrl-C stops it). Extra arguments go to ringcached, e.g.
#   scripts/run.sh -p 11212 -vv
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
ensure_packages libevent-dev pkg-config
swift build -c release
exec .build/release/ringcached "$@"
