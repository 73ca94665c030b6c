#!/usr/bin/env python3
"""Instruction profile of the server hot path under valgrind's callgrind (run via callgrind.sh).

Starts the server (-t 1) under callgrind with instrumentation off, stores the keys and warms up,
turns instrumentation on (callgrind_control -i on), sends a fixed number of requests over C
connections in lockstep (one request on each connection, then every answer), dumps the profile
(callgrind_control -d) and prints the instructions per request and the top functions.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

VALUE = b"c" * 100
KEYS = 100


def key(i):
    return b"prof:%027d" % i  # 32 bytes


def request_for(op, i):
    if op == "get":
        return b"get " + key(i % KEYS) + b"\r\n", b"END\r\n"
    return b"set " + key(i % KEYS) + b" 0 0 100\r\n" + VALUE + b"\r\n", b"STORED\r\n"


def drive(clients, op, requests):
    sent = 0
    while sent < requests:
        active = clients[:min(len(clients), requests - sent)]
        answers = []
        for n, client in enumerate(active):
            data, terminator = request_for(op, sent + n)
            client.send(data)
            answers.append(terminator)
        for client, terminator in zip(active, answers):
            client.read_until(terminator)
        sent += len(active)


def demangle(text):
    try:
        return subprocess.run(["swift", "demangle", "--simplified"], input=text, capture_output=True,
                              text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return text


LINE_RE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$")


def top_functions(out_file, top, inclusive):
    ann = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                          f"--threshold=100", out_file], capture_output=True, text=True, check=True).stdout
    rows = []
    started = False
    for line in ann.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started:
            continue
        m = LINE_RE.match(line)
        if m:
            name = re.sub(r"^\?\?\?:", "", m.group(2))  # no source file known
            name = re.sub(r"\[([^\]]*/)?([^\]/]+)\]$", r"[\2]", name)  # object file: base name only
            rows.append((int(m.group(1).replace(",", "")), name))
        if len(rows) >= top:
            break
    return rows


WATCHED = re.compile(r"^(swift_(retain|release|bridgeObject\w*|unknownObject\w*|allocObject|deallocObject|"
                     r"beginAccess|endAccess|dynamicCast\w*)|malloc|free|pthread_mutex_lock\S*|memcpy\S*|__memcpy\S*|"
                     r"memcmp\S*|__memcmp\S*)$")


def calls_per_callee(out_file):
    """Calls to the runtime functions that matter on a hot path (ARC, exclusivity, malloc, locks)."""
    names, calls = {}, {}
    callee = None
    with open(out_file) as f:
        for line in f:
            m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
            if m:
                if m.group(3):
                    names[m.group(2)] = m.group(3)
                if m.group(1) == "cfn":
                    callee = m.group(2)
                continue
            m = re.match(r"^calls=(\d+)", line)
            if m and callee is not None:
                calls[callee] = calls.get(callee, 0) + int(m.group(1))
    result = {}
    for key, count in calls.items():
        name = names.get(key, key).split("@")[0]
        if WATCHED.match(name):
            result[name] = result.get(name, 0) + count
    return sorted(result.items(), key=lambda kv: -kv[1])


def total_ir(out_file):
    with open(out_file) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", choices=["ringcached", "memcached"], default="ringcached")
    p.add_argument("--binary")
    p.add_argument("--op", choices=["get", "set"], default="get")
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--conns", type=int, default=16)
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--out-dir")
    opts = p.parse_args()
    binary = opts.binary or (os.environ.get("RINGCACHED", ".build/release/ringcached") if opts.server == "ringcached"
                             else os.environ.get("MEMCACHED", "/usr/bin/memcached"))
    out_dir = opts.out_dir or tempfile.mkdtemp(prefix="ringcache-callgrind-")
    os.makedirs(out_dir, exist_ok=True)
    pattern = os.path.join(out_dir, f"callgrind.{opts.server}.{opts.op}.%p")
    # valgrind keeps 12 file descriptors for itself and accepts setrlimit(NOFILE) only up to what is
    # left; memcached sets its limit to its 1024 connections, so start with 1024 + 12.
    server = common.Server(opts.server, binary, 1, 256, log_dir=out_dir, ready_timeout=120,
                           wrapper=["prlimit", "--nofile=1036", "valgrind", "--tool=callgrind", "--instr-atstart=no",
                                    f"--callgrind-out-file={pattern}"])
    try:
        clients = [common.Client(server.port, timeout=120) for _ in range(opts.conns)]
        for i in range(KEYS):
            clients[0].request(b"set " + key(i) + b" 0 0 100\r\n" + VALUE + b"\r\n", b"STORED\r\n")
        drive(clients, opts.op, 2000)  # warm-up: buffers at their working size
        subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], check=True, capture_output=True)
        drive(clients, opts.op, opts.requests)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-i", "off", str(server.pid)], check=True, capture_output=True)
        for client in clients:
            client.close()
    finally:
        server.stop(timeout=30)
    dumps = sorted(glob.glob(os.path.join(out_dir, f"callgrind.{opts.server}.{opts.op}.{server.pid}.*")))
    if not dumps:
        sys.exit(f"no callgrind dump in {out_dir}")
    dump = dumps[0]
    total = total_ir(dump)
    print(f"{opts.server} {opts.op}: {opts.requests} requests over {opts.conns} connections (lockstep), "
          f"32-byte keys, 100-byte values; profile {dump}")
    print(f"{opts.server} {opts.op}: total {total:,} instructions, {total / opts.requests:,.0f} per request")
    watched = calls_per_callee(dump)
    print("calls per request: " + (", ".join(f"{name} {count / opts.requests:.2f}" for name, count in watched)
                                   or "none of the watched runtime functions"))
    for inclusive in (False, True):
        rows = top_functions(dump, opts.top, inclusive)
        print(f"top {opts.top} by {'inclusive' if inclusive else 'self'} instructions:")
        text = "\n".join(f"{ir:>13,} {100 * ir / total:5.1f}% {ir / opts.requests:8.0f}/req  {name}"
                         for ir, name in rows)
        print(demangle(text))


if __name__ == "__main__":
    main()
