#!/usr/bin/env bash
# Runs an N-node ringcached cluster on 127.0.0.1 for trying it out.
#
#   scripts/cluster.sh start [N] [ringcached flags...]   start N nodes (default 3) in the background
#   scripts/cluster.sh status                             PIDs, liveness, `cluster nodes` of node 1
#   scripts/cluster.sh stop                               stop exactly the nodes `start` started
#
# Node i listens for clients on 127.0.0.1:(11310+i) and for peers on 127.0.0.1:(21310+i); every
# node gets the same seeds, so all build the same ring. With N=3 the nodes read
# config/cluster-3node/nodeI.toml (the same settings); other N are given as flags. Extra
# arguments after N go to every node (e.g. `start 3 -vv`, `start 3 --peer-timeout 500ms`).
#
# Logs and PID files live in .cluster/ (RINGCACHE_CLUSTER_DIR to change). The binary is
# .build/release/ringcached (RINGCACHED_BIN to change), built first if it is missing.
# RINGCACHE_CLUSTER_PORT changes the first client port (default 11311).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUN_DIR=${RINGCACHE_CLUSTER_DIR:-$ROOT/.cluster}
BIN=${RINGCACHED_BIN:-$ROOT/.build/release/ringcached}
BASE_PORT=${RINGCACHE_CLUSTER_PORT:-11311}
PEER_OFFSET=10000

usage() {
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

# Sends one request to 127.0.0.1:$1 and prints the answer up to END (or the first line).
ask() {
    if ! command -v python3 >/dev/null; then
        printf '%s\r\n' "$2" | nc -q1 127.0.0.1 "$1" | tr -d '\r'
        return
    fi
    python3 - "$1" "$2" <<'EOF'
import socket, sys
port, request = int(sys.argv[1]), sys.argv[2]
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(request.encode() + b"\r\n")
    data = b""
    while not (data.endswith(b"END\r\n") or data.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")) and data.endswith(b"\r\n")):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    sys.stdout.write(data.decode(errors="replace").replace("\r\n", "\n"))
except OSError as e:
    print(f"(127.0.0.1:{port}: {e})")
    sys.exit(1)
EOF
}

port_is_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The PID in a PID file, if that process is alive and is the binary we started.
live_pid() {
    local file=$1 pid
    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "ringcached" || return 1
    grep -q '^State:[[:space:]]*[ZX]' "/proc/$pid/status" 2>/dev/null && return 1
    echo "$pid"
}

node_files() {
    local f
    for f in "$RUN_DIR"/node*.pid; do [ -e "$f" ] && echo "$f"; done | sort -V
    return 0
}

ensure_binary() {
    if [ ! -x "$BIN" ]; then
        echo "building ringcached (release): $BIN is missing" >&2
        source scripts/lib/deps.sh
        ensure_packages libevent-dev pkg-config
        swift build -c release --product ringcached >&2
    fi
    [ -x "$BIN" ] || { echo "no binary at $BIN" >&2; exit 1; }
}

start() {
    local n=${1:-3}
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive number, got '$n'" >&2; exit 2; }
    shift || true
    mkdir -p "$RUN_DIR"
    for f in $(node_files); do
        if pid=$(live_pid "$f"); then
            echo "a cluster is already running from $RUN_DIR ($(basename "$f" .pid) is PID $pid): run '$0 stop' first" >&2
            exit 1
        fi
        rm -f "$f"
    done
    ensure_binary

    local seeds="" i port
    for ((i = 0; i < n; i++)); do
        port=$((BASE_PORT + i))
        seeds+="${seeds:+,}127.0.0.1:$port@$((port + PEER_OFFSET))"
    done
    for ((i = 0; i < n; i++)); do
        port=$((BASE_PORT + i))
        for p in "$port" "$((port + PEER_OFFSET))"; do
            if port_is_open "$p"; then
                echo "port $p on 127.0.0.1 is taken; stop what uses it or set RINGCACHE_CLUSTER_PORT" >&2
                exit 1
            fi
        done
    done

    local started=()
    for ((i = 1; i <= n; i++)); do
        port=$((BASE_PORT + i - 1))
        local config="config/cluster-3node/node$i.toml" args
        if [ "$n" -eq 3 ] && [ "$BASE_PORT" -eq 11311 ] && [ -f "$config" ]; then
            args=(--config "$config")
        else
            args=(-p "$port" -l 127.0.0.1 -t 2 -U 0 --seeds "$seeds" --advertise "127.0.0.1:$port"
                  --peer-port "$((port + PEER_OFFSET))")
        fi
        nohup "$BIN" "${args[@]}" "$@" >"$RUN_DIR/node$i.log" 2>&1 </dev/null &
        echo $! >"$RUN_DIR/node$i.pid"
        echo "$port" >"$RUN_DIR/node$i.port"
        started+=("$i")
    done

    # Wait until every node accepts clients; on failure stop the ones started here.
    local deadline=$((SECONDS + 15)) failed=""
    for i in "${started[@]}"; do
        port=$(cat "$RUN_DIR/node$i.port")
        until port_is_open "$port"; do
            if ! live_pid "$RUN_DIR/node$i.pid" >/dev/null; then
                failed="node $i exited"; break
            fi
            if [ $SECONDS -ge $deadline ]; then
                failed="node $i did not accept connections on $port within 15 s"; break
            fi
            sleep 0.1
        done
        if [ -n "$failed" ]; then
            echo "$failed; its log ($RUN_DIR/node$i.log):" >&2
            tail -n 20 "$RUN_DIR/node$i.log" >&2 || true
            stop >&2
            exit 1
        fi
    done
    echo "started $n nodes (logs and PID files in $RUN_DIR):"
    for i in "${started[@]}"; do
        port=$(cat "$RUN_DIR/node$i.port")
        echo "  node $i: PID $(cat "$RUN_DIR/node$i.pid"), clients 127.0.0.1:$port, peers 127.0.0.1:$((port + PEER_OFFSET))"
    done
    echo "try: printf 'cluster nodes\\r\\n' | nc -q1 127.0.0.1 $BASE_PORT"
}

status() {
    local files
    files=$(node_files)
    if [ -z "$files" ]; then
        echo "no cluster started from $RUN_DIR"
        return 0
    fi
    local first_live="" f i pid port
    for f in $files; do
        i=$(basename "$f" .pid)
        port=$(cat "$RUN_DIR/$i.port" 2>/dev/null || echo "?")
        if pid=$(live_pid "$f"); then
            if port_is_open "$port"; then
                echo "$i: PID $pid, 127.0.0.1:$port, running"
            else
                echo "$i: PID $pid, 127.0.0.1:$port, running but not accepting connections"
            fi
            [ -n "$first_live" ] || first_live=$port
        else
            echo "$i: PID $(cat "$f"), 127.0.0.1:$port, not running (log: $RUN_DIR/$i.log)"
        fi
    done
    if [ -n "$first_live" ]; then
        echo
        echo "cluster nodes (asked on 127.0.0.1:$first_live):"
        ask "$first_live" "cluster nodes" || true
    fi
}

stop() {
    local files f pid i stopped=0
    files=$(node_files)
    if [ -z "$files" ]; then
        echo "no cluster started from $RUN_DIR"
        return 0
    fi
    local pids=()
    for f in $files; do
        if pid=$(live_pid "$f"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    # Wait up to 5 s for a clean exit, then SIGKILL the same PIDs.
    local deadline=$((SECONDS + 5))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$pid/status" 2>/dev/null; do
            if [ $SECONDS -ge $deadline ]; then
                echo "PID $pid did not stop after SIGTERM; sending SIGKILL" >&2
                kill -KILL "$pid" 2>/dev/null || true
                break
            fi
            sleep 0.1
        done
        stopped=$((stopped + 1))
    done
    for f in $files; do
        i=$(basename "$f" .pid)
        rm -f "$f" "$RUN_DIR/$i.port"
    done
    echo "stopped $stopped node(s); logs kept in $RUN_DIR"
}

command=${1:-}
[ -n "$command" ] || usage
shift
case "$command" in
    start) start "$@" ;;
    status) status ;;
    stop) stop ;;
    *) usage ;;
esac
