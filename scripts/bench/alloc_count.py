#!/usr/bin/env python3
"""Heap allocations per request on the hot path, for ringcached and memcached (issue 3).

Run through scripts/bench/alloc-count.sh, which compiles alloccount.c into an LD_PRELOAD library.
Each server (-t 1) is started with that library; a client stores the keys, warms up, then sends a
fixed number of requests of one kind and reads the shared counters before and after. Requests are
sent one at a time (request, answer, next request) unless the kind says pipelined.
"""

import argparse
import os
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

FIELDS = ("malloc", "calloc", "realloc", "memalign", "free", "bytes")


def read_counters(path):
    with open(path, "rb") as f:
        values = struct.unpack("<6Q", f.read(48))
    return dict(zip(FIELDS, values))


def key(i):
    return b"alloc:%026d" % i  # 32 bytes


VALUE = b"a" * 100

# name -> (requests per unit, bytes of one unit, answer terminator, units per write)
def kinds():
    k0 = key(0)
    mget = b"get " + b" ".join(key(i) for i in range(10)) + b"\r\n"
    return {
        "get hit": (1, b"get " + k0 + b"\r\n", b"END\r\n", 1),
        "set (overwrite)": (1, b"set " + k0 + b" 0 0 100\r\n" + VALUE + b"\r\n", b"STORED\r\n", 1),
        "mg hit (meta, v)": (1, b"mg " + k0 + b" v\r\n", b"\r\n" + VALUE + b"\r\n", 1),
        "get 10 keys": (10, mget, b"END\r\n", 1),
        "get hit, 100 pipelined": (1, b"get " + k0 + b"\r\n", b"END\r\n", 100),
    }


def measure(client, counter_path, request, terminator, per_write, units):
    """Counter deltas over `units` requests of one kind."""
    writes = units // per_write
    batch = request * per_write
    before = read_counters(counter_path)
    for _ in range(writes):
        client.send(batch)
        for _ in range(per_write):
            client.read_until(terminator)
    time.sleep(0.05)
    after = read_counters(counter_path)
    return {f: after[f] - before[f] for f in FIELDS}


def run(kind, binary, library, requests, log_dir):
    counter_path = os.path.join(log_dir, f"alloc-{kind}.counts")
    server = common.Server(kind, binary, 1, 256, log_dir=log_dir,
                           env={"LD_PRELOAD": library, "ALLOC_COUNT_FILE": counter_path})
    rows = []
    try:
        client = common.Client(server.port)
        for i in range(10):
            client.request(b"set " + key(i) + b" 0 0 100\r\n" + VALUE + b"\r\n", b"STORED\r\n")
        # Proof that the counter is hooked in: what the process allocated from start to now.
        before = read_counters(counter_path)
        at_start = sum(before[f] for f in ("malloc", "calloc", "realloc", "memalign"))
        # Idle rate: what the process allocates with nothing to do (timers, clocks).
        time.sleep(1.0)
        after = read_counters(counter_path)
        idle = sum(after[f] - before[f] for f in ("malloc", "calloc", "realloc", "memalign"))
        for name, (per_unit, request, terminator, per_write) in kinds().items():
            units = max(per_write, requests // per_unit // per_write * per_write)
            measure(client, counter_path, request, terminator, per_write, min(units, 2000))  # warm-up
            started = time.monotonic()
            delta = measure(client, counter_path, request, terminator, per_write, units)
            elapsed = time.monotonic() - started
            allocations = sum(delta[f] for f in ("malloc", "calloc", "realloc", "memalign"))
            n = units * per_unit
            rows.append((name, n, allocations, allocations / n, delta["free"] / n, delta["bytes"] / n,
                         idle * elapsed))
        client.close()
    finally:
        server.stop()
    return at_start, idle, rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--library", required=True)
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--ringcached", default=os.environ.get("RINGCACHED", ".build/release/ringcached"))
    p.add_argument("--memcached", default=os.environ.get("MEMCACHED", "/usr/bin/memcached"))
    opts = p.parse_args()
    log_dir = tempfile.mkdtemp(prefix="ringcache-alloc-")
    print(f"heap allocations (malloc+calloc+realloc+aligned) per request, server -t 1, one connection, "
          f"32-byte keys, 100-byte values, {opts.requests} requests per kind after a warm-up")
    print(f"{'server':<11} {'request':<24} {'requests':>8} {'allocs':>8} {'allocs/req':>10} "
          f"{'frees/req':>9} {'bytes/req':>9} {'idle allocs in window':>21}")
    for kind, binary in (("ringcached", opts.ringcached), ("memcached", opts.memcached)):
        at_start, idle, rows = run(kind, binary, opts.library, opts.requests, log_dir)
        for name, n, allocations, per, frees, nbytes, idle_in_window in rows:
            print(f"{kind:<11} {name:<24} {n:>8} {allocations:>8} {per:>10.3f} {frees:>9.3f} {nbytes:>9.1f} "
                  f"{idle_in_window:>21.0f}")
        print(f"{kind:<11} (counter check: {at_start} allocations from start-up to the first request; "
              f"idle: {idle} allocations in 1 s with no requests)")


if __name__ == "__main__":
    main()
