#!/usr/bin/env python3
"""System calls per request (strace -c attached to the server), for the same fixed client load as
callgrind_profile.py: callgrind counts user-space instructions only, and on loopback most of a
small request's CPU time is spent in the kernel, so the count of syscalls per request matters.
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from callgrind_profile import KEYS, VALUE, drive, key  # noqa: E402


def parse_strace_summary(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(parts) >= 5 and parts[0].replace(".", "").isdigit() and parts[-1] != "total":
                calls = int(parts[3])
                errors = int(parts[4]) if len(parts) == 6 else 0
                rows.append((parts[-1], calls, errors))
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", choices=["ringcached", "memcached"], default="ringcached")
    p.add_argument("--binary")
    p.add_argument("--op", choices=["get", "set"], default="get")
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--out-dir")
    p.add_argument("--top", type=int, help="ignored (callgrind_profile.py's option)")
    opts = p.parse_args()
    binary = opts.binary or (os.environ.get("RINGCACHED", ".build/release/ringcached") if opts.server == "ringcached"
                             else os.environ.get("MEMCACHED", "/usr/bin/memcached"))
    out_dir = opts.out_dir or tempfile.mkdtemp(prefix="ringcache-strace-")
    os.makedirs(out_dir, exist_ok=True)
    summary = os.path.join(out_dir, f"strace.{opts.server}.{opts.op}.txt")
    server = common.Server(opts.server, binary, 1, 256, log_dir=out_dir)
    tracer = None
    try:
        clients = [common.Client(server.port) for _ in range(opts.conns)]
        for i in range(KEYS):
            clients[0].request(b"set " + key(i) + b" 0 0 100\r\n" + VALUE + b"\r\n", b"STORED\r\n")
        drive(clients, opts.op, 2000)
        tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(server.pid), "-o", summary],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # strace attaches every thread
        drive(clients, opts.op, opts.requests)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
        tracer = None
        for client in clients:
            client.close()
    finally:
        if tracer is not None:
            tracer.kill()
            tracer.wait()
        server.stop()
    rows = parse_strace_summary(summary)
    total = sum(calls for _, calls, _ in rows)
    detail = ", ".join(f"{name} {calls / opts.requests:.2f}" + (f" ({errors} failed)" if errors else "")
                       for name, calls, errors in sorted(rows, key=lambda r: -r[1]))
    print(f"{opts.server} {opts.op}: {total / opts.requests:.2f} syscalls per request "
          f"({opts.requests} requests, {opts.conns} connections in lockstep): {detail}")


if __name__ == "__main__":
    main()
