#!/usr/bin/env python3
"""Re-sync costs on real processes (issue 12), three measurements, one cluster each:

  agree      anti-entropy when the copies already agree: N keys on 3 nodes (--replicas 2),
             rounds every --interval; per node and round: the digest walk's milliseconds, the
             digest bytes sent, buckets found differing (0) and keys shipped (0); and the CPU
             seconds the nodes spent over the same idle time with anti-entropy off and on.
  converge   async copies dropped past the queue (--replication async --replication-queue 1,
             N keys written pipelined): seconds from the end of the writes until every key is
             on 2 nodes again (sum of curr_items = 2N), and the keys anti-entropy shipped.
  transfer   the forwarded-request latency while a 4th node joins: one client sends gets of
             keys owned by other nodes to node 1, one at a time, before the join (baseline)
             and while the transfers to the newcomer run; p50 / p99 / max of each.

    python3 scripts/bench/resync.py [--keys 200000] [--interval 5s] [--only agree,converge,transfer]

Nodes on 127.0.0.1 with free ports, -t 2, -m 1024; every process stopped by its PID at the end.
"""

import argparse
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


def stats(port, which=""):
    lines = ask(port, f"stats {which}".strip()).splitlines()
    return {p[1]: p[2] for p in (l.split() for l in lines) if len(p) == 3 and p[0] == "STAT"}


def ask(port, command):
    """One command's answer up to END."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(command.encode() + b"\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode()


class Cluster:
    def __init__(self, binary, n, extra, log_dir, spare=False):
        count = n + (1 if spare else 0)
        self.ports = [common.free_port() for _ in range(2 * count)]
        self.client = self.ports[:count]
        self.peer = self.ports[count:]
        self.seeds = ",".join(f"127.0.0.1:{self.client[i]}@{self.peer[i]}" for i in range(n))
        self.binary, self.extra, self.log_dir = binary, extra, log_dir
        self.procs = []
        for i in range(n):
            self.start(i)
        self.wait_alive(n)

    def start(self, i):
        args = [self.binary, "-p", str(self.client[i]), "--peer-port", str(self.peer[i]), "-t", "2", "-m", "1024",
                "-U", "0", "--seeds", self.seeds] + self.extra
        self.procs.append(common.Process("ringcached", args, self.client[i], log_dir=self.log_dir, timeout=20))

    def wait_alive(self, n, limit=30):
        deadline = time.time() + limit
        while time.time() < deadline:
            views = [ask(p, "cluster nodes") for p in self.client[:n]]
            if all(v.count(" alive ") == n for v in views):
                return
            time.sleep(0.05)
        raise SystemExit(f"resync: the cluster did not converge: {views}")

    def stop(self):
        for p in self.procs:
            p.stop()

    def total(self, name, which="cluster", nodes=None):
        return sum(int(stats(p, which).get(name, 0)) for p in (nodes or self.client))


def load(port, keys, value, pipeline=500):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        for i in range(0, len(keys), pipeline):
            part = keys[i:i + pipeline]
            s.sendall(b"".join(f"set {k} 0 0 {len(value)} noreply\r\n".encode() + value + b"\r\n" for k in part))
        s.sendall(b"version\r\n")
        data = b""
        while b"VERSION" not in data:
            data += s.recv(65536)


def cpu(cluster):
    return sum(common.cpu_seconds(p.pid) or 0.0 for p in cluster.procs)


def fmt_ms(values):
    values = sorted(values)
    if not values:
        return "n/a"
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return f"p50 {pick(0.5) * 1e6:.0f} us, p99 {pick(0.99) * 1e6:.0f} us, max {values[-1] * 1e6:.0f} us ({len(values)} gets)"


def agree(args, log_dir):
    print(f"== agree: {args.keys} keys of 100 bytes on 3 nodes, --replicas 2, rounds every {args.interval}", flush=True)
    value = b"v" * 100
    keys = [f"ae:{i}" for i in range(args.keys)]
    for interval in ("0", args.interval):
        c = Cluster(args.ringcached, 3, ["--anti-entropy-interval", interval, "--tombstone-ttl", "60s"], log_dir)
        try:
            load(c.client[0], keys, value)
            time.sleep(2)
            rounds0 = c.total("anti_entropy_rounds")
            bytes0, digests0 = c.total("digest_bytes_sent"), c.total("digests_sent")
            shipped0, differing0 = c.total("anti_entropy_keys"), c.total("buckets_differing")
            cpu0, t0 = cpu(c), time.time()
            time.sleep(args.idle)
            used, took = cpu(c) - cpu0, time.time() - t0
            rounds = c.total("anti_entropy_rounds") - rounds0
            items = c.total("curr_items", "")
            walks = [int(stats(p, "cluster")["anti_entropy_walk_ms"]) for p in c.client]
            line = f"  anti_entropy_interval {interval}: {items} items on the 3 nodes; {used:.2f} CPU s in {took:.1f} s idle"
            if interval != "0":
                sent = c.total("digest_bytes_sent") - bytes0
                digests = c.total("digests_sent") - digests0
                line += (f"; {rounds} rounds, {digests} digests, {sent / max(1, digests):.0f} bytes per digest, "
                         f"{sent / max(1, rounds):.0f} bytes per node and round; last walks {walks} ms; "
                         f"buckets differing {c.total('buckets_differing') - differing0}, keys shipped {c.total('anti_entropy_keys') - shipped0}")
            print(line, flush=True)
        finally:
            c.stop()


def converge(args, log_dir):
    print(f"== converge: {args.keys} keys written pipelined with async copies and a queue of 1, rounds every {args.interval}", flush=True)
    c = Cluster(args.ringcached, 3, ["--anti-entropy-interval", args.interval, "--replication", "async",
                                     "--replication-queue", "1"], log_dir)
    try:
        keys = [f"cv:{i}" for i in range(args.keys)]
        load(c.client[0], keys, b"v" * 100)
        done = time.time()
        dropped = c.total("replication_dropped")
        items = c.total("curr_items", "")
        want = 2 * args.keys
        while time.time() - done < 300 and c.total("curr_items", "") < want:
            time.sleep(0.2)
        took = time.time() - done
        got = c.total("curr_items", "")
        print(f"  {dropped} copies dropped; {items} of {want} copies right after the writes; {got} after {took:.1f} s; "
              f"{c.total('anti_entropy_keys')} keys shipped by anti-entropy ({c.total('anti_entropy_bytes')} bytes), "
              f"{c.total('buckets_differing')} buckets found differing, {c.total('anti_entropy_rounds')} rounds", flush=True)
    finally:
        c.stop()


def gets(port, keys, seconds):
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        end = time.time() + seconds
        i = 0
        while time.time() < end:
            key = keys[i % len(keys)]
            i += 1
            t = time.perf_counter()
            s.sendall(f"get {key}\r\n".encode())
            data = b""
            while not data.endswith(b"END\r\n"):
                data += s.recv(65536)
            out.append(time.perf_counter() - t)
    return out


def transfer(args, log_dir):
    print(f"== transfer: forwarded gets through node 1 while a 4th node joins ({args.keys} keys, --replicas 2, "
          f"--transfer-rate {args.transfer_rate})", flush=True)
    c = Cluster(args.ringcached, 3, ["--transfer-rate", str(args.transfer_rate)], log_dir, spare=True)
    try:
        keys = [f"tr:{i}" for i in range(args.keys)]
        load(c.client[0], keys, b"v" * 100)
        routes = [ask(c.client[0], f"cluster route {k}") for k in keys[:2000]]
        me = f"127.0.0.1:{c.client[0]}"
        remote = [k for k, r in zip(keys, routes) if r.split()[2] != me]
        baseline = gets(c.client[0], remote, args.phase)
        import threading
        during = []
        t = threading.Thread(target=lambda: during.extend(gets(c.client[0], remote, args.phase)))
        t.start()
        time.sleep(0.5)
        started = time.time()
        c.start(3)
        joined = None
        while time.time() - started < 120:
            view = ask(c.client[3], "cluster nodes")
            if view.count(" alive ") == 4:
                joined = time.time() - started
                break
            time.sleep(0.05)
        t.join()
        moved = c.total("transferred_keys")
        print(f"  baseline: {fmt_ms(baseline)}", flush=True)
        print(f"  while the 4th node joined ({moved} keys transferred, alive everywhere after "
              f"{joined if joined is None else round(joined, 2)} s; the window below is {args.phase} s from 0.5 s before its start): "
              f"{fmt_ms(during)}", flush=True)
    finally:
        c.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ringcached", default=os.environ.get("RINGCACHED_BIN", ".build/release/ringcached"))
    parser.add_argument("--keys", type=int, default=200000)
    parser.add_argument("--interval", default="5s")
    parser.add_argument("--idle", type=float, default=16.0, help="seconds of idle rounds measured (agree)")
    parser.add_argument("--phase", type=float, default=8.0, help="seconds of gets per phase (transfer)")
    parser.add_argument("--transfer-rate", type=int, default=50000)
    parser.add_argument("--only", default="agree,converge,transfer")
    args = parser.parse_args()
    log_dir = os.environ.get("TMPDIR", "/tmp")
    print(f"resync: {args.ringcached}; {time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
    for name in args.only.split(","):
        {"agree": agree, "converge": converge, "transfer": transfer}[name.strip()](args, log_dir)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        common.stop_all()
