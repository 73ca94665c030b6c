#!/usr/bin/env python3
"""A 3-node ringcached cluster vs twemproxy (nutcracker) + 3 memcached, and the cost of one forwarded hop
(issue 4). Run through `scripts/bench.sh --cluster`.

Part 1, side by side. Each measured run starts fresh servers on free 127.0.0.1 ports:
  ringcached: three nodes `-t T -m M -U 0 --seeds 127.0.0.1:P1@PP1,... --peer-port PPi`, and three
              memcaslap processes run at once, one per node, each with a third of the connections;
  ensemble:   three memcached 1.6.18 `-t T -m M -U 0` behind one nutcracker pool (`hash: md5`,
              `distribution: ketama`, servers `127.0.0.1:Pi:1`), and the same three memcaslap
              processes, all pointed at the nutcracker port (the single entry point, as deployed).
The workload is scripts/bench/get90-set10.cfg (90% get / 10% set, 32-byte keys, 100-byte values).
ops/s is the sum of the three memcaslap TPS; CPU per op is utime+stime of every server process
(three nodes, or three memcached + nutcracker) over the run, divided by the operations. The sides
alternate run by run, the order flips every round, and the table shows medians.

Part 2, the cost of one hop: one 3-node cluster; a small C load generator (built here from the
source below with the system's C compiler) opens N connections to node 1 and does 90/10 get/set at
depth 1 on keys that node 1 owns ("owner") or on keys that node 2 or 3 owns ("non-owner"); keys are
classified with `cluster route`. ops/s, mean latency and CPU per op of the three nodes.

The last line printed is `cluster ratio <x.xx>` (ringcached cluster / ensemble ops/s, 16 connections).

Part 3, what replication costs (issue 11), with `--replication-compare` instead of parts 1 and 2:
the runs of part 1 with four sides, `replicas1` (three nodes `--replicas 1`), `sync` (`--replicas 2
--replication sync`), `async` (`--replicas 2 --replication async`) and the ensemble, at 90/10
(get90-set10.cfg) and 50/50 (get50-set50.cfg), 16 connections unless --conns; the order rotates
every round. Each side's ops/s over replicas1's, CPU per op (user and system), the extra CPU per set
over replicas1, copies per set and failed or dropped copies (`stats cluster`), memcaslap's mean set
latency. Then set latency at depth 1: the load generator of part 2 doing sets only on
--lat-conns connections (default 1) to node 1 with keys node 1 owns or another node owns (to
nutcracker for the ensemble), mean/p50/p99 per configuration, fresh servers per round. The last
line printed is `replication ratio 90/10 c16 sync <x.xx> async <x.xx>` (over replicas1).
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CFG = os.path.join(HERE, "get90-set10.cfg")
PROCS = 3  # memcaslap processes per run (one per ringcached node)

RUN_RE = re.compile(r"Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)")
TOTAL_RE = re.compile(r"Total Statistics \((\d+) events\)\s*\n\s*Min:\s*(\d+)\s*\n\s*Max:\s*(\d+)\s*\n\s*Avg:\s*(\d+)")
MISS_RE = re.compile(r"^get_misses: (\d+)", re.M)
SET_RE = re.compile(r"Set Statistics \((\d+) events\)\s*\n\s*Min:\s*(\d+)\s*\n\s*Max:\s*(\d+)\s*\n\s*Avg:\s*(\d+)")


def parse_memcaslap(out):
    run, total = RUN_RE.search(out), TOTAL_RE.search(out)
    if not run or not total:
        raise RuntimeError("cannot parse memcaslap output:\n" + out[-2000:])
    miss, sets = MISS_RE.search(out), SET_RE.search(out)
    return {"runtime": float(run.group(1)), "ops": int(run.group(2)), "tps": int(run.group(3)),
            "lat_max": int(total.group(3)), "lat_avg": int(total.group(4)),
            "get_misses": int(miss.group(1)) if miss else 0,
            "sets": int(sets.group(1)) if sets else 0, "set_lat_avg": int(sets.group(4)) if sets else None}


# ---------------------------------------------------------------------------------------------
# Processes

class Proc(common.Process):
    """A cluster benchmark process (ringcached node, memcached, nutcracker) on a port we chose."""

    def __init__(self, name, args, port, log_dir, ready="version", timeout=10.0, env=None):
        super().__init__(name, args, port, log_dir, ready=ready, timeout=timeout, env=env)


def free_ports(n):
    """n distinct free ports (held open together while choosing, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def low_free_ports(n, low=20000, high=55000):
    """n distinct free ports below 55000: ringcached checks that the default peer port (client port
    + 10000) of its advertise address fits in 16 bits even when --peer-port is given, so client ports
    from the kernel's ephemeral range (up to 60999) can be refused."""
    import random
    socks = []
    try:
        while len(socks) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", random.randint(low, high)))
            except OSError:
                s.close()
                continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# The secret of the runs with a cluster secret (`RINGCACHE_CLUSTER_SECRET`): every frame after the
# hello is sealed with ChaCha20-Poly1305 under keys derived from it.
BENCH_SECRET = "ringcache-bench-secret-0123456789abcdef"


def start_cluster(opts, log_dir, secret=False, extra=()):
    """Three nodes; `extra` is appended to every node's flags (e.g. `--replicas 1`)."""
    env = dict(os.environ, RINGCACHE_CLUSTER_SECRET=BENCH_SECRET) if secret else None
    ports = low_free_ports(6)
    client, peer = ports[:3], ports[3:]
    seeds = ",".join(f"127.0.0.1:{c}@{p}" for c, p in zip(client, peer))
    nodes = []
    try:
        for c, p in zip(client, peer):
            nodes.append(Proc("ringcached", [opts.ringcached, "-p", str(c), "-l", "127.0.0.1", "-t", str(opts.threads),
                                             "-m", str(opts.memory), "-U", "0", "--seeds", seeds,
                                             "--peer-port", str(p)] + list(extra), c, log_dir, env=env))
    except Exception:
        for n in nodes:
            n.stop()
        raise
    return nodes


def start_ensemble(opts, log_dir):
    ports = free_ports(5)
    mc_ports, proxy_port, stats_port = ports[:3], ports[3], ports[4]
    procs = []
    try:
        for p in mc_ports:
            args = [opts.memcached, "-p", str(p), "-l", "127.0.0.1", "-t", str(opts.threads), "-m", str(opts.memory),
                    "-U", "0"]
            if os.geteuid() == 0:
                args += ["-u", "root"]
            procs.append(Proc("memcached", args, p, log_dir))
        conf = os.path.join(log_dir, f"nutcracker-{proxy_port}.yml")
        with open(conf, "w") as f:
            f.write(f"ringcache:\n  listen: 127.0.0.1:{proxy_port}\n  hash: md5\n  distribution: ketama\n"
                    f"  timeout: 5000\n  auto_eject_hosts: false\n  preconnect: true\n  servers:\n"
                    + "".join(f"    - 127.0.0.1:{p}:1\n" for p in mc_ports))
        procs.append(Proc("nutcracker", [opts.nutcracker, "-c", conf, "-s", str(stats_port), "-a", "127.0.0.1",
                                         "-o", os.path.join(log_dir, f"nutcracker-{proxy_port}.out")],
                          proxy_port, log_dir, ready="get"))
    except Exception:
        for p in procs:
            p.stop()
        raise
    return procs


def ask(port, request, end=b"END\r\n"):
    c = common.Client(port, timeout=10)
    try:
        return c.request(request, end).decode(errors="replace")
    finally:
        c.close()


def cluster_stats(port):
    out = {}
    for line in ask(port, b"stats cluster\r\n").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


def forwarded(nodes):
    total = 0
    for n in nodes:
        s = cluster_stats(n.port)
        total += int(s.get("forwarded_gets", 0)) + int(s.get("forwarded_sets", 0))
    return total


# `stats cluster` counters of the replication runs, summed over the nodes (absent in older binaries: 0).
REPL_COUNTERS = ("replicated_writes", "copies_sent", "copies_applied", "replication_failures",
                 "replication_async_failures", "replication_dropped", "minority_write_refusals",
                 "not_owner_retries", "forward_errors")


def counters(nodes, names=REPL_COUNTERS):
    total = dict.fromkeys(names, 0)
    for n in nodes:
        s = cluster_stats(n.port)
        for k in names:
            total[k] += int(s.get(k, 0))
    return total


# ---------------------------------------------------------------------------------------------
# Machine noise

def foreign_memcaslap():
    """PIDs of memcaslap processes that are not ours (another benchmark is running)."""
    mine = {str(os.getpid())}
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                if f.read().strip() != "memcaslap":
                    continue
            with open(f"/proc/{d}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
        except OSError:
            continue
        if ppid not in mine:
            pids.append(int(d))
    return pids


def wait_for_other_benchmarks(opts):
    """Waits until no other memcaslap has run for opts.idle_seconds (at most opts.max_wait)."""
    deadline = time.monotonic() + opts.max_wait
    quiet_since = time.monotonic()
    waited = False
    while time.monotonic() < deadline:
        if foreign_memcaslap():
            if not waited:
                print("cluster: another memcaslap is running; waiting", file=sys.stderr)
            waited = True
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= (opts.idle_seconds if waited else 0):
            return waited
        time.sleep(1.0)
    print("cluster: warning: other memcaslap processes are still running; measuring anyway", file=sys.stderr)
    return waited


# ---------------------------------------------------------------------------------------------
# Part 1: ringcached x3 vs nutcracker + memcached x3

def machine_cpu():
    """(busy, total) CPU seconds of the whole machine so far, all CPUs (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / common.CLK_TCK, sum(fields) / common.CLK_TCK


def split(conns):
    return [conns // PROCS + (1 if i < conns % PROCS else 0) for i in range(PROCS)]


def run_side(opts, side, conns, log_dir, cfg=CFG, extra=None):
    """One measured run. `side` is "ensemble" or a ringcached side ("ringcached", or a replication
    configuration); `extra` is the ringcached flags of that side (None: the defaults, no counters)."""
    background = common.wait_quiet(opts)
    rc = side != "ensemble"
    procs = start_cluster(opts, log_dir, extra=extra or ()) if rc else start_ensemble(opts, log_dir)
    try:
        if extra is not None:
            wait_writes_allowed(procs)
            if "--replicas" in extra:
                check_config(procs, extra)
        targets = [p.port for p in procs] if rc else [procs[-1].port] * PROCS
        servers = procs
        fwd_before = forwarded(procs) if rc else 0
        repl_before = counters(procs) if rc and extra is not None else None
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu0 = [p.cpu_seconds() for p in servers]
        split0 = [p.cpu_split() for p in servers]
        machine0 = machine_cpu()
        clients = []
        for port, c in zip(targets, split(conns)):
            cmd = ["memcaslap", "-s", f"127.0.0.1:{port}", "-F", cfg, "-t", f"{opts.duration}s",
                   "-S", f"{opts.duration}s", "-T", "1", "-c", str(c)]
            clients.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL))
        outs = []
        try:
            for cl in clients:
                outs.append(cl.communicate(timeout=opts.duration * 6 + 60)[0].decode(errors="replace"))
        finally:
            for cl in clients:
                if cl.poll() is None:
                    cl.kill()
                    cl.wait()
        cpu1 = [p.cpu_seconds() for p in servers]
        split1 = [p.cpu_split() if p.alive() else None for p in servers]
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        machine1 = machine_cpu()
        parsed = [parse_memcaslap(o) for o in outs]
        dead = [p.kind for p in servers if not p.alive()]
        ops = sum(r["ops"] for r in parsed)
        runtime = max(r["runtime"] for r in parsed)
        result = {
            "tps": sum(r["tps"] for r in parsed), "ops": ops, "runtime": runtime,
            "per_client_tps": [r["tps"] for r in parsed],
            "lat_avg": sum(r["lat_avg"] * r["ops"] for r in parsed) / max(ops, 1),
            "lat_max": max(r["lat_max"] for r in parsed),
            "get_misses": sum(r["get_misses"] for r in parsed),
            "sets": sum(r["sets"] for r in parsed),
            "set_lat_avg": (sum(r["set_lat_avg"] * r["sets"] for r in parsed) / max(sum(r["sets"] for r in parsed), 1)
                            if all(r["set_lat_avg"] is not None for r in parsed) else None),
            "background": background, "dead": dead, "foreign": bool(foreign_memcaslap()),
            "client_busy": (children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime) / runtime,
        }
        if dead:
            result.update(cpu_us_per_op=None, proxy_us_per_op=None, server_busy=None)
        else:
            used = [b - a for a, b in zip(cpu0, cpu1)]
            result["cpu_us_per_op"] = sum(used) * 1e6 / max(ops, 1)
            result["server_busy"] = sum(used) / runtime
            result["proxy_us_per_op"] = used[-1] * 1e6 / max(ops, 1) if side == "ensemble" else None
            result["per_process_busy"] = [u / runtime for u in used]
            result["user_us_per_op"] = sum(b[0] - a[0] for a, b in zip(split0, split1)) * 1e6 / max(ops, 1)
            result["sys_us_per_op"] = sum(b[1] - a[1] for a, b in zip(split0, split1)) * 1e6 / max(ops, 1)
            # The machine's CPU during the run that neither the servers nor memcaslap used (this script,
            # the kernel's own threads, other programs), as a share of the whole machine.
            ours = sum(used) + (children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime)
            result["others_during"] = max(0.0, (machine1[0] - machine0[0]) - ours) / max(machine1[1] - machine0[1], 1e-9)
        result["forwarded_share"] = ((forwarded(procs) - fwd_before) / max(ops, 1)
                                     if rc and not dead else None)
        if repl_before is not None and not dead:
            after = counters(procs)
            result["repl"] = {k: after[k] - repl_before[k] for k in after}
        return result
    finally:
        for p in reversed(procs):
            p.stop()


# ---------------------------------------------------------------------------------------------
# Part 2: the cost of one forwarded hop

HOPLOAD_C = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* hopload PORT CONNS SECONDS WARMUP KEYFILE GETPCT VALUELEN [DEPTH]: N connections, each sending DEPTH
   requests at once (get/set on random keys from KEYFILE) and the next DEPTH when all DEPTH answers are
   in (depth 1: one request in flight); prints the figures of the measured window. A request's latency
   is its batch's: from the write to the last answer; p50/p99 are over batches. */
#define MAXDEPTH 64
typedef struct { int fd; int is_get[MAXDEPTH]; int parsed; int pos; double t0; unsigned long long rng; int inlen; char in[65536]; } conn_t;

static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }
static unsigned long long next(unsigned long long *s) { *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17; return *s; }

static char **keys; static int nkeys; static int getpct; static char *value; static int vlen; static int depth = 1;
static double *lats; static size_t nlats, latcap;

static int cmp_double(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static double percentile(double q) { return nlats ? lats[(size_t)(q * (nlats - 1) + 0.5)] : 0.0; }

static void issue(conn_t *c) {
    char buf[MAXDEPTH * 512];
    int n = 0;
    for (int d = 0; d < depth; d++) {
        const char *k = keys[next(&c->rng) % nkeys];
        c->is_get[d] = (int)(next(&c->rng) % 100) < getpct;
        if (c->is_get[d]) n += snprintf(buf + n, sizeof buf - n, "get %s\r\n", k);
        else n += snprintf(buf + n, sizeof buf - n, "set %s 0 0 %d\r\n%s\r\n", k, vlen, value);
    }
    c->inlen = 0; c->parsed = 0; c->pos = 0;
    c->t0 = now();
    int off = 0;
    while (off < n) {
        ssize_t w = write(c->fd, buf + off, n - off);
        if (w > 0) off += w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR) { perror("write"); exit(1); }
    }
}

/* Parses the answers complete so far; counts errors and misses; returns 1 when all DEPTH are in. */
static int parse(conn_t *c, unsigned long long *errors, unsigned long long *misses, unsigned long long *gets) {
    while (c->parsed < depth) {
        char *p = c->in + c->pos; int left = c->inlen - c->pos;
        char *eol = memmem(p, left, "\r\n", 2);
        if (!eol) return 0;
        if (!strncmp(p, "SERVER_ERROR", 12) || !strncmp(p, "CLIENT_ERROR", 12) || !strncmp(p, "ERROR", 5)) {
            (*errors)++; c->pos += eol + 2 - p;
        } else if (c->is_get[c->parsed]) {
            char *end = memmem(p, left, "END\r\n", 5);
            if (!end) return 0;
            if (end == p) (*misses)++;
            c->pos += end + 5 - p;
        } else {
            if (strncmp(p, "STORED\r\n", 8)) (*errors)++;
            c->pos += eol + 2 - p;
        }
        *gets += c->is_get[c->parsed];
        c->parsed++;
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 8 && argc != 9) { fprintf(stderr, "usage: hopload PORT CONNS SECONDS WARMUP KEYFILE GETPCT VALUELEN [DEPTH]\n"); return 2; }
    int port = atoi(argv[1]), nconn = atoi(argv[2]);
    double seconds = atof(argv[3]), warm = atof(argv[4]);
    getpct = atoi(argv[6]); vlen = atoi(argv[7]);
    if (argc == 9) depth = atoi(argv[8]);
    if (depth < 1 || depth > MAXDEPTH || vlen > 400) { fprintf(stderr, "depth 1..%d, value length up to 400\n", MAXDEPTH); return 2; }
    value = malloc(vlen + 1); memset(value, 'v', vlen); value[vlen] = 0;
    FILE *f = fopen(argv[5], "r"); if (!f) { perror("keyfile"); return 1; }
    char line[300]; int cap = 1024; keys = malloc(sizeof(char *) * cap);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*line) continue;
        if (nkeys == cap) { cap *= 2; keys = realloc(keys, sizeof(char *) * cap); }
        keys[nkeys++] = strdup(line);
    }
    fclose(f);
    if (!nkeys) { fprintf(stderr, "no keys\n"); return 1; }
    int ep = epoll_create1(0);
    conn_t *cs = calloc(nconn, sizeof(conn_t));
    struct sockaddr_in sa; memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET; sa.sin_port = htons(port); sa.sin_addr.s_addr = htonl(0x7f000001);
    for (int i = 0; i < nconn; i++) {
        conn_t *c = &cs[i];
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
        int one = 1; setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        c->rng = 0x9E3779B97F4A7C15ULL * (i + 1) ^ (unsigned long long)getpid();
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    double start = now(), mstart = start + warm, end = mstart + seconds;
    unsigned long long all_ops = 0, ops = 0, errors = 0, misses = 0, gets = 0;
    double latsum = 0, latmax = 0;
    for (int i = 0; i < nconn; i++) issue(&cs[i]);
    struct epoll_event evs[256];
    int running = 1;
    while (running) {
        int n = epoll_wait(ep, evs, 256, 100);
        double t = now();
        if (t >= end) running = 0;
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
            if (r == 0) { fprintf(stderr, "server closed a connection\n"); return 1; }
            if (r < 0) { if (errno == EAGAIN || errno == EINTR) continue; perror("read"); return 1; }
            c->inlen += r;
            unsigned long long e = 0, m = 0, g = 0;
            if (!parse(c, &e, &m, &g)) { if (c->inlen == sizeof c->in) { fprintf(stderr, "answers too long\n"); return 1; } continue; }
            double t1 = now();
            all_ops += depth;
            if (c->t0 >= mstart && t1 <= end) {
                double lat = t1 - c->t0;
                ops += depth; latsum += lat * depth; if (lat > latmax) latmax = lat;
                if (nlats == latcap) { latcap = latcap ? 2 * latcap : 65536; lats = realloc(lats, latcap * sizeof *lats); if (!lats) { perror("realloc"); return 1; } }
                lats[nlats++] = lat;
                errors += e; misses += m; gets += g;
            }
            if (running) issue(c);
        }
    }
    if (nlats) qsort(lats, nlats, sizeof *lats, cmp_double);
    printf("all_ops %llu ops %llu seconds %.3f errors %llu gets %llu misses %llu avg_us %.1f max_us %.1f p50_us %.1f p99_us %.1f\n",
           all_ops, ops, seconds, errors, gets, misses, ops ? latsum / ops * 1e6 : 0.0, latmax * 1e6,
           percentile(0.50) * 1e6, percentile(0.99) * 1e6);
    return 0;
}
"""


def build_hopload(log_dir):
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        raise RuntimeError("no C compiler (cc, gcc or clang) for the hop load generator")
    src = os.path.join(log_dir, "hopload.c")
    exe = os.path.join(log_dir, "hopload")
    with open(src, "w") as f:
        f.write(HOPLOAD_C)
    subprocess.run([cc, "-O2", "-o", exe, src], check=True)
    return exe


def classify_keys(node, owner_name, want):
    """Keys of memcaslap's shape (32 bytes) sorted by `cluster route` into owned by `owner_name`
    and owned by another node, `want` of each."""
    owned, others = [], []
    c = common.Client(node.port)
    try:
        i = 0
        while len(owned) < want or len(others) < want:
            batch = [f"hop:{i + j:028d}" for j in range(500)]
            i += 500
            c.send(b"".join(f"cluster route {k}\r\n".encode() for k in batch))
            for k in batch:
                answer = c.read_until(b"END\r\n").decode().split()
                if answer[0] != "ROUTE" or answer[1] != k:
                    raise RuntimeError(f"unexpected cluster route answer: {answer}")
                (owned if answer[2] == owner_name else others).append(k)
            if i > 100 * want:
                raise RuntimeError("cannot find keys for both sides")
    finally:
        c.close()
    return owned[:want], others[:want]


def preload(port, keys, vlen):
    c = common.Client(port)
    try:
        value = b"v" * vlen
        c.send(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), vlen, value) for k in keys))
        for _ in keys:
            line = c.read_until(b"\r\n")
            if line != b"STORED\r\n":
                raise RuntimeError(f"preload: {line!r}")
    finally:
        c.close()


def hop_test(opts, log_dir, exe, secret, depth):
    """Owner and non-owner runs alternating on one fresh cluster (with a cluster secret or not),
    at `depth` requests in flight per connection."""
    nodes = start_cluster(opts, log_dir, secret=secret)
    try:
        me = f"127.0.0.1:{nodes[0].port}"
        owned, others = classify_keys(nodes[0], me, opts.hop_keys)
        keyfiles = {}
        for name, ks in (("owner", owned), ("non-owner", others)):
            keyfiles[name] = os.path.join(log_dir, f"keys-{name}.txt")
            with open(keyfiles[name], "w") as f:
                f.write("\n".join(ks) + "\n")
            preload(nodes[0].port, ks, 100)
        results = {"owner": [], "non-owner": []}
        for rnd in range(opts.hop_rounds):
            order = ["owner", "non-owner"] if rnd % 2 == 0 else ["non-owner", "owner"]
            for name in order:
                background = common.wait_quiet(opts)
                fwd0 = forwarded(nodes)
                ch0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu0 = [n.cpu_seconds() for n in nodes]
                split0 = [n.cpu_split() for n in nodes]
                out = subprocess.run([exe, str(nodes[0].port), str(opts.hop_conns), str(opts.hop_duration), "0.5",
                                      keyfiles[name], "90", "100", str(depth)], capture_output=True, text=True,
                                     timeout=opts.hop_duration + 30)
                cpu1 = [n.cpu_seconds() for n in nodes]
                split1 = [n.cpu_split() for n in nodes]
                ch1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                if out.returncode != 0:
                    raise RuntimeError(f"hopload failed: {out.stderr}")
                f = out.stdout.split()
                r = {f[i]: float(f[i + 1]) for i in range(0, len(f), 2)}
                wall = opts.hop_duration + 0.5
                ops_all = r["all_ops"]  # the CPU figures cover the warm-up too
                used = [b - a for a, b in zip(cpu0, cpu1)]
                r.update(tps=r["ops"] / r["seconds"], background=background,
                         cpu_us_per_op=sum(used) * 1e6 / max(ops_all, 1),
                         entry_us_per_op=used[0] * 1e6 / max(ops_all, 1),
                         owner_us_per_op=sum(used[1:]) * 1e6 / max(ops_all, 1),
                         busy=[u / wall for u in used],
                         user_us_per_op=sum(b[0] - a[0] for a, b in zip(split0, split1)) * 1e6 / max(ops_all, 1),
                         sys_us_per_op=sum(b[1] - a[1] for a, b in zip(split0, split1)) * 1e6 / max(ops_all, 1),
                         client_busy=(ch1.ru_utime + ch1.ru_stime - ch0.ru_utime - ch0.ru_stime) / wall,
                         forwarded_share=(forwarded(nodes) - fwd0) / max(ops_all, 1))
                results[name].append(r)
                print(f"[hop {'secret' if secret else 'plain'} d{depth} {rnd + 1}/{opts.hop_rounds}] {name}: {r['tps']:.0f} ops/s, avg {r['avg_us']:.0f}us, "
                      f"cpu {r['cpu_us_per_op']:.2f}us/op (node1 {r['entry_us_per_op']:.2f}), errors {r['errors']:.0f}, "
                      f"misses {r['misses']:.0f}, others {100 * background:.0f}%", file=sys.stderr)
        return results
    finally:
        for n in nodes:
            n.stop()


# ---------------------------------------------------------------------------------------------
# Part 3: what replication costs (issue 11), `--replication-compare`

# (name, ringcached flags); None is the ensemble (nutcracker + 3 memcached), the reference without copies.
REPL_CONFIGS = (
    ("replicas1", ["--replicas", "1"]),
    ("sync", ["--replicas", "2", "--replication", "sync"]),
    ("async", ["--replicas", "2", "--replication", "async"]),
    ("ensemble", None),
)
REPL_WORKLOADS = (("90/10", CFG, 0.1), ("50/50", os.path.join(HERE, "get50-set50.cfg"), 0.5))
REPL_GOALS = {"sync": 0.8, "async": 0.9}  # ops/s over --replicas 1, at 90/10
REPL_TROUBLE = ("replication_failures", "replication_async_failures", "replication_dropped",
                "minority_write_refusals", "forward_errors")


def rotated(items, k):
    """`items` with the first k % len moved to the end: over len(items) rounds every configuration
    runs once in every position, so a slow drift of the machine hits them all alike."""
    k %= len(items)
    return list(items[k:]) + list(items[:k])


def wait_writes_allowed(nodes, timeout=10.0):
    """Until every node holds gossip's write lease (`writes_allowed yes`): without it a node answers
    every write with SERVER_ERROR cluster unavailable, whatever --replicas says."""
    deadline = time.monotonic() + timeout
    while True:
        states = [cluster_stats(n.port).get("writes_allowed", "yes") for n in nodes]
        if all(s == "yes" for s in states):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"cluster: writes not allowed after {timeout}s: {states}")
        time.sleep(0.05)


def check_config(nodes, extra):
    """The nodes run the replication asked for (`stats cluster`: replicas, replication)."""
    want = {"replicas": extra[extra.index("--replicas") + 1]}
    if "--replication" in extra:
        want["replication"] = extra[extra.index("--replication") + 1]
    for n in nodes:
        s = cluster_stats(n.port)
        got = {k: s.get(k) for k in want}
        if got != want:
            raise RuntimeError(f"cluster: node {n.port} runs {got}, asked for {want} (a binary without replication?)")


def replication_throughput(opts, log_dir, conns_list):
    """memcaslap runs (as in part 1) of every configuration at every workload; the order rotates
    every round (and per workload and connection count)."""
    results = {}  # (workload, conns, config) -> runs
    total = len(REPL_WORKLOADS) * len(conns_list) * len(REPL_CONFIGS) * opts.rounds
    done = 0
    for rnd in range(opts.rounds):
        for wi, (wname, cfg, _) in enumerate(REPL_WORKLOADS):
            for ci, conns in enumerate(conns_list):
                for name, extra in rotated(REPL_CONFIGS, rnd + wi + ci):
                    done += 1
                    r = run_side(opts, name, conns, log_dir, cfg=cfg, extra=extra)
                    r["round"] = rnd
                    results.setdefault((wname, conns, name), []).append(r)
                    repl = r.get("repl")
                    extra_text = ""
                    if repl is not None:
                        trouble = sum(repl[k] for k in REPL_TROUBLE)
                        extra_text = (f", copies/set {repl['copies_sent'] / max(r['sets'], 1):.2f}"
                                      + (f", TROUBLE {trouble} ({repl})" if trouble else ""))
                    print(f"[repl {done}/{total}] {wname} c{conns} {name}: {r['tps']} ops/s "
                          f"({'+'.join(map(str, r['per_client_tps']))}), avg {r['lat_avg']:.0f}us, set avg "
                          f"{fmt(r['set_lat_avg'], '.0f')}us, cpu {fmt(r['cpu_us_per_op'], '.2f')}us/op{extra_text}, "
                          f"others {100 * r['background']:.0f}% before, {pct(r.get('others_during'), 1)} during" + (f" DEAD {r['dead']}" if r["dead"] else ""),
                          file=sys.stderr)
    return results


def latency_run(opts, exe, procs, port, keyfile, rc):
    """One set-only run of the load generator at depth 1; figures of the measured window, CPU of
    every server process per set (warm-up included, as in the hop test)."""
    background = common.wait_quiet(opts)
    before = counters(procs) if rc else None
    cpu0 = [p.cpu_seconds() for p in procs]
    ch0, machine0 = resource.getrusage(resource.RUSAGE_CHILDREN), machine_cpu()
    out = subprocess.run([exe, str(port), str(opts.lat_conns), str(opts.lat_duration), "0.5", keyfile, "0", "100", "1"],
                         capture_output=True, text=True, timeout=opts.lat_duration + 30)
    cpu1 = [p.cpu_seconds() for p in procs]
    ch1, machine1 = resource.getrusage(resource.RUSAGE_CHILDREN), machine_cpu()
    if out.returncode != 0:
        raise RuntimeError(f"set latency run failed: {out.stderr}")
    ours = sum(b - a for a, b in zip(cpu0, cpu1)) + (ch1.ru_utime + ch1.ru_stime - ch0.ru_utime - ch0.ru_stime)
    f = out.stdout.split()
    r = {f[i]: float(f[i + 1]) for i in range(0, len(f), 2)}
    r.update(tps=r["ops"] / r["seconds"], background=background,
             cpu_us_per_op=sum(b - a for a, b in zip(cpu0, cpu1)) * 1e6 / max(r["all_ops"], 1),
             others_during=max(0.0, (machine1[0] - machine0[0]) - ours) / max(machine1[1] - machine0[1], 1e-9))
    if rc:
        after = counters(procs)
        r["repl"] = {k: after[k] - before[k] for k in after}
    return r


def replication_latency(opts, log_dir, exe):
    """Set latency at depth 1 per configuration, each round on fresh servers: for ringcached the
    client talks to node 1 with keys node 1 owns (the write plus its copy, no forwarding hop) and
    with keys another node owns (forwarded, then copied); for the ensemble to nutcracker."""
    results = {}  # (config, keys) -> runs
    any_keys = os.path.join(log_dir, "repl-keys-any.txt")
    with open(any_keys, "w") as f:
        f.write("\n".join(f"hop:{i:028d}" for i in range(opts.lat_keys)) + "\n")
    for rnd in range(opts.lat_rounds):
        for name, extra in rotated(REPL_CONFIGS, rnd):
            if extra is None:
                procs = start_ensemble(opts, log_dir)
            else:
                procs = start_cluster(opts, log_dir, extra=extra)
            try:
                if extra is None:
                    port, keysets = procs[-1].port, [("any", any_keys)]
                else:
                    wait_writes_allowed(procs)
                    check_config(procs, extra)
                    port = procs[0].port
                    owned, others = classify_keys(procs[0], f"127.0.0.1:{port}", opts.lat_keys)
                    keysets = []
                    for kname, ks in (("owner", owned), ("non-owner", others)):
                        path = os.path.join(log_dir, f"repl-keys-{kname}.txt")
                        with open(path, "w") as f:
                            f.write("\n".join(ks) + "\n")
                        keysets.append((kname, path))
                    if rnd % 2:
                        keysets.reverse()
                for kname, path in keysets:
                    r = latency_run(opts, exe, procs, port, path, extra is not None)
                    results.setdefault((name, kname), []).append(r)
                    print(f"[set latency {rnd + 1}/{opts.lat_rounds}] {name} {kname}: {r['tps']:.0f} sets/s, mean "
                          f"{r['avg_us']:.0f}us, p50 {r['p50_us']:.0f}us, p99 {r['p99_us']:.0f}us, cpu "
                          f"{r['cpu_us_per_op']:.2f}us/set, errors {r['errors']:.0f}, others {100 * r['background']:.0f}% "
                          f"before, {100 * r['others_during']:.0f}% during",
                          file=sys.stderr)
            finally:
                for p in reversed(procs):
                    p.stop()
    return results


def paired(runs, name, value):
    """value(r1_run, x_run) for every round that has both, --replicas 1's run and `name`'s."""
    base = {r["round"]: r for r in runs["replicas1"]}
    out = []
    for r in runs[name]:
        b = base.get(r["round"])
        if b is not None:
            v = value(b, r)
            if v is not None:
                out.append(v)
    return out


def replication_report(opts, out, conns_list, thr, lat, header):
    """The tables of part 3. The machine's speed drifts in steps (a whole run, even a whole round, can
    cost 30% more CPU per op than the next with no other program running), so the comparisons with
    --replicas 1 are taken round by round, each configuration against --replicas 1 of the same round,
    and the median of those is the figure (x r1, +cpu/set, the goals); the ratio of the medians is
    shown beside it."""
    med = common.median
    print(header, file=out)
    print("ops/s = sum of the memcaslap TPS; x r1 = ops/s over --replicas 1's of the same round, median over the "
          "rounds; avg = ops-weighted memcaslap mean latency of all commands, set = of sets, max = largest (us); "
          "cpu = utime+stime of all server processes per op, split into user and sys; +cpu/set = (cpu - cpu of "
          "--replicas 1 in the same round) / share of sets, median over the rounds; copies/set = copies_sent / "
          "sets (stats cluster); trouble = replication failures + async failures + dropped copies + majority "
          "refusals + forward errors, summed over the runs; busy = server CPU / run time (200% = both cores); "
          "client = memcaslap's; others = machine CPU used by other programs just before the run, during = the "
          "machine's CPU during the run used by neither the servers nor memcaslap (this script, kernel threads, "
          "other programs; 100% = both cores); in the last lines, cpu r1/x = --replicas 1's server CPU per op "
          "over x's in the same round, median: what x r1 would be if the servers' CPU per op alone decided it "
          "(memcaslap shares the cores too, which brings the real ratio closer to 1)", file=out)
    summary = []
    for wname, _, set_share in REPL_WORKLOADS:
        for conns in conns_list:
            runs = {name: thr.get((wname, conns, name), []) for name, _ in REPL_CONFIGS}

            def m(name, key):
                return med([r.get(key) for r in runs[name]])

            def tps_ratio(b, r):
                return r["tps"] / b["tps"] if b["tps"] else None

            def cpu_ratio(b, r):
                return b["cpu_us_per_op"] / r["cpu_us_per_op"] if b.get("cpu_us_per_op") and r.get("cpu_us_per_op") else None

            def added_cpu(b, r):
                return ((r["cpu_us_per_op"] - b["cpu_us_per_op"]) / set_share
                        if b.get("cpu_us_per_op") is not None and r.get("cpu_us_per_op") is not None else None)
            print(f"workload {wname}, {conns} connections:", file=out)
            h = (f"{'config':<10} | {'ops/s':>7} {'x r1':>5} | {'avg':>4} {'set':>4} {'max':>6} (us) | {'cpu':>5} "
                 f"{'user':>5} {'sys':>5} {'+cpu/set':>8} (us) | {'copies/set':>10} {'trouble':>7} | {'fwd':>4} | "
                 f"{'busy':>5} {'client':>6} {'others':>6} {'during':>6}")
            print(h, file=out)
            print("-" * len(h), file=out)
            for name, extra in REPL_CONFIGS:
                rs = runs[name]
                ratio = med(paired(runs, name, tps_ratio))
                added = med(paired(runs, name, added_cpu)) if name != "ensemble" else None
                reps = [r["repl"] for r in rs if r.get("repl") is not None]
                copies = med([r["repl"]["copies_sent"] / max(r["sets"], 1) for r in rs if r.get("repl") is not None])
                trouble = sum(rp[k] for rp in reps for k in REPL_TROUBLE) if reps else None
                line = (f"{name:<10} | {fmt(m(name, 'tps'), '7.0f')} {fmt(ratio, '5.2f')} | {fmt(m(name, 'lat_avg'), '4.0f')} "
                        f"{fmt(m(name, 'set_lat_avg'), '4.0f')} {fmt(m(name, 'lat_max'), '6.0f')}      | "
                        f"{fmt(m(name, 'cpu_us_per_op'), '5.2f')} {fmt(m(name, 'user_us_per_op'), '5.2f')} "
                        f"{fmt(m(name, 'sys_us_per_op'), '5.2f')} "
                        f"{fmt(added, '+8.2f') if added is not None else '-'.rjust(8)}      | {fmt(copies, '10.2f')} "
                        f"{fmt(trouble, '7d')} | {pct(m(name, 'forwarded_share'), 4)} | {pct(m(name, 'server_busy'), 5)} "
                        f"{pct(m(name, 'client_busy'), 6)} {pct(m(name, 'background'), 6)} "
                        f"{pct(m(name, 'others_during'), 6)}")
                dead = sum(1 for r in rs if r["dead"])
                if dead:
                    line += f"  [a server died in {dead} runs]"
                print(line, file=out)
            print("      runs (ops/s): " + " | ".join(f"{name} " + " ".join(str(r["tps"]) for r in runs[name])
                                                      for name, _ in REPL_CONFIGS), file=out)
            print("      runs (cpu us/op): " + " | ".join(f"{name} " + " ".join(fmt(r.get("cpu_us_per_op"), ".2f")
                                                                           for r in runs[name])
                                                          for name, _ in REPL_CONFIGS), file=out)
            ratios = {}
            for name in ("sync", "async", "ensemble"):
                per_round = paired(runs, name, tps_ratio)
                b, t = m("replicas1", "tps"), m(name, "tps")
                ratios[name] = (med(per_round), per_round, t / b if t and b else None,
                                med(paired(runs, name, cpu_ratio)))
            print("      per round x r1: " + " | ".join(f"{name} " + " ".join(f"{x:.2f}" for x in ratios[name][1])
                                                       for name in ("sync", "async", "ensemble")), file=out)
            parts = []
            for name in ("sync", "async"):
                ratio = ratios[name][0]
                goal = REPL_GOALS.get(name) if wname == "90/10" else None
                text = f"{name}/replicas1 {fmt(ratio, '.2f')}"
                if goal is not None and ratio is not None:
                    text += (f" (goal >= {goal:.2f}: met)" if ratio >= goal else
                             f" (goal >= {goal:.2f}: MISSED by {goal - ratio:.2f})")
                parts.append(text + f" [ratio of the medians {fmt(ratios[name][2], '.2f')}; cpu r1/{name} "
                                    f"{fmt(ratios[name][3], '.2f')}]")
            ens = ratios["ensemble"][0]
            parts.append(f"replicas1/ensemble {fmt(1 / ens if ens else None, '.2f')}")
            summary.append((wname, conns, f"replication {wname} c{conns}: " + ", ".join(parts), ratios))
    noisy = sum(1 for rs in thr.values() for r in rs if r["background"] > 0.25)
    if noisy:
        print(f"noise: other programs used over 25% of the machine just before {noisy} runs", file=out)
    foreign = sum(1 for rs in thr.values() for r in rs if r["foreign"])
    if foreign:
        print(f"warning: another benchmark's memcaslap was running at the end of {foreign} runs", file=out)

    if lat:
        print(f"set latency at depth 1: {opts.lat_conns} connection(s), one set in flight each, sets only, 32-byte "
              f"keys, 100-byte values; ringcached: to node 1 with {opts.lat_keys} keys node 1 owns (owner) or "
              f"another node owns (non-owner; forwarded), classified with `cluster route`; ensemble: to nutcracker; "
              f"{opts.lat_duration:g}s per run after 0.5s warm-up, fresh servers per round, median of "
              f"{opts.lat_rounds}; cpu = all server processes per set; +vs r1 = added to --replicas 1's figure "
              f"with the same keys", file=out)
        h = (f"{'config':<10} {'keys':<9} | {'sets/s':>7} {'mean':>5} {'p50':>5} {'p99':>5} {'max':>6} (us) | "
             f"{'+mean':>5} {'+p50':>5} {'+p99':>5} vs r1 | {'cpu':>5} us/set | {'copies/set':>10} {'errors':>6} | "
             f"{'others':>6} {'during':>6}")
        print(h, file=out)
        print("-" * len(h), file=out)
        for name, _ in REPL_CONFIGS:
            for kname in ("owner", "non-owner", "any"):
                rs = lat.get((name, kname))
                if not rs:
                    continue
                base = lat.get(("replicas1", kname))

                def m(runs, key):
                    return med([r[key] for r in runs]) if runs else None

                def plus(key):
                    if not base or name == "replicas1":
                        return "-".rjust(5)
                    return f"{m(rs, key) - m(base, key):+5.0f}"
                copies = (med([r["repl"]["copies_sent"] / max(r["all_ops"], 1) for r in rs])
                          if rs[0].get("repl") is not None else None)
                print(f"{name:<10} {kname:<9} | {m(rs, 'tps'):7.0f} {m(rs, 'avg_us'):5.0f} {m(rs, 'p50_us'):5.0f} "
                      f"{m(rs, 'p99_us'):5.0f} {m(rs, 'max_us'):6.0f}      | {plus('avg_us')} {plus('p50_us')} "
                      f"{plus('p99_us')}       | {m(rs, 'cpu_us_per_op'):5.2f}        | {fmt(copies, '10.2f')} "
                      f"{sum(r['errors'] for r in rs):6.0f} | {pct(m(rs, 'background'), 6)} "
                      f"{pct(m(rs, 'others_during'), 6)}", file=out)
    for _, _, line, _ in summary:
        print(line, file=out)
    head = next((s for s in summary if s[0] == "90/10" and s[1] == 16), summary[0] if summary else None)
    if head:
        print(f"replication ratio {head[0]} c{head[1]} sync {fmt(head[3]['sync'][0], '.2f')} "
              f"async {fmt(head[3]['async'][0], '.2f')}", file=out)
    return summary


def replication_header(opts, load_start, waited, took):
    nc_version = subprocess.run([opts.nutcracker, "--version"], capture_output=True, text=True)
    nc_version = (nc_version.stdout + nc_version.stderr).strip().splitlines()[0].replace("This is ", "")
    return (f"replication: 3 x ringcached -t {opts.threads} -m {opts.memory} ({opts.ringcached}) as replicas1 "
            f"(--replicas 1), sync (--replicas 2 --replication sync), async (--replicas 2 --replication async), "
            f"and {nc_version} (hash md5, distribution ketama) + 3 x memcached 1.6.18 -t {opts.threads} -m "
            f"{opts.memory} as ensemble; {PROCS} memcaslap -T 1 at once (ringcached: one per node; ensemble: all on "
            f"nutcracker), {opts.duration}s per run, fresh servers per run, order rotated every round, median of "
            f"{opts.rounds} round(s); unpinned (7-8 processes on {os.cpu_count()} CPUs)\n"
            f"load average at start: {load_start}; waited for another benchmark: {'yes' if waited else 'no'}; "
            f"wait-quiet {opts.wait_quiet:g}s; took {took}")


def replication_compare(opts, log_dir, conns_list, started, load_start, waited):
    thr = replication_throughput(opts, log_dir, conns_list)
    lat = replication_latency(opts, log_dir, build_hopload(log_dir)) if not opts.no_latency else {}
    header = replication_header(opts, load_start, waited, f"{time.time() - started:.0f}s")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"runs": {f"{w}|{c}|{n}": v for (w, c, n), v in thr.items()},
                       "set_latency": {f"{n}|{k}": v for (n, k), v in lat.items()},
                       "options": vars(opts), "header": header}, f, indent=1)
    replication_report(opts, sys.stdout, conns_list, thr, lat, header)


def replication_report_from(path):
    """Prints part 3's tables again from the --json file of an earlier run (with this script's report)."""
    with open(path) as f:
        data = json.load(f)
    saved = argparse.Namespace(**data["options"])
    thr = {}
    for key, runs in data["runs"].items():
        w, c, n = key.split("|")
        thr[(w, int(c), n)] = runs
    lat = {tuple(key.split("|")): runs for key, runs in data.get("set_latency", {}).items()}
    conns_list = sorted({c for _, c, _ in thr})
    header = data.get("header") or replication_header(saved, "not recorded", False, "not recorded")
    replication_report(saved, sys.stdout, conns_list, thr, lat, f"(printed again from {path})\n{header}")


# ---------------------------------------------------------------------------------------------
# Report

def fmt(v, spec, width=None):
    if v is None:
        w = int(re.match(r"\d*", spec).group(0) or 1)
        return "-".rjust(w)
    return format(v, spec)


def pct(v, width):
    return ("-" if v is None else f"{100 * v:.0f}%").rjust(width)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cluster", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="1 round at 16 connections, a short hop test (or short "
                   "set-latency runs with --replication-compare)")
    p.add_argument("--replication-compare", action="store_true",
                   help="issue 11 instead of parts 1 and 2: --replicas 1, --replicas 2 sync and async, and the "
                        "ensemble, side by side at 90/10 and 50/50, then set latency at depth 1")
    p.add_argument("--rounds", type=int, help="rounds per cell (median); default 5, 1 with --quick")
    p.add_argument("--duration", type=int, default=5, help="seconds per memcaslap run; default 5")
    p.add_argument("--conns", help="total connections per cell; default 16,64 (16 with --replication-compare)")
    p.add_argument("--threads", type=int, default=1, help="-t of every server; default 1")
    p.add_argument("--memory", type=int, default=256, help="-m of every server (MB); default 256")
    p.add_argument("--hop-rounds", type=int, help="rounds of the hop test; default 3, 1 with --quick")
    p.add_argument("--hop-duration", type=float, default=4, help="seconds per hop run; default 4")
    p.add_argument("--hop-conns", type=int, default=16, help="connections of the hop test; default 16")
    p.add_argument("--hop-keys", type=int, default=1000, help="keys per side in the hop test; default 1000")
    p.add_argument("--hop-depths", default="1,16", help="requests in flight per connection in the hop test; default 1,16")
    p.add_argument("--hop-secret", choices=("both", "no", "yes"), default="both",
                   help="hop test without a cluster secret, with one, or both (default)")
    p.add_argument("--no-hop", action="store_true", help="skip the hop test")
    p.add_argument("--lat-rounds", type=int, help="--replication-compare: rounds of the set-latency test; default 3, "
                   "1 with --quick")
    p.add_argument("--lat-duration", type=float, default=3, help="--replication-compare: seconds per set-latency run; "
                   "default 3")
    p.add_argument("--lat-conns", type=int, default=1, help="--replication-compare: connections of the set-latency "
                   "test (one set in flight each); default 1")
    p.add_argument("--lat-keys", type=int, default=1000, help="--replication-compare: keys per side in the "
                   "set-latency test; default 1000")
    p.add_argument("--no-latency", action="store_true", help="--replication-compare: skip the set-latency test")
    p.add_argument("--report-from", metavar="JSON", help="print --replication-compare's tables again from the --json "
                   "file of an earlier run, and exit (nothing is started)")
    p.add_argument("--idle-seconds", type=float, default=30,
                   help="if another memcaslap runs, wait until none has run for this long; default 30")
    p.add_argument("--max-wait", type=float, default=300, help="give up waiting after this long; default 300")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="before each run wait up to this long for other programs to use under --quiet of the "
                        "CPU (default 0: measure it, don't wait)")
    p.add_argument("--quiet", type=float, default=0.15, help="see --wait-quiet; a fraction, default 0.15")
    p.add_argument("--ringcached", default=os.environ.get("RINGCACHED", ".build/release/ringcached"))
    p.add_argument("--memcached", default=os.environ.get("MEMCACHED", "/usr/bin/memcached"))
    p.add_argument("--nutcracker", default=os.environ.get("NUTCRACKER", "/usr/sbin/nutcracker"))
    p.add_argument("--json", help="also write every run's raw figures here")
    opts, unknown = p.parse_known_args()
    if unknown:
        p.error(f"unknown arguments for --cluster: {' '.join(unknown)}")
    if opts.report_from:
        replication_report_from(opts.report_from)
        return
    if opts.rounds is None:
        opts.rounds = 1 if opts.quick else 5
    if opts.hop_rounds is None:
        opts.hop_rounds = 1 if opts.quick else 3
    if opts.lat_rounds is None:
        opts.lat_rounds = 1 if opts.quick else 3
    if opts.conns is None:
        opts.conns = "16" if opts.replication_compare else "16,64"
    if opts.quick:
        opts.conns = "16"
        opts.hop_duration = min(opts.hop_duration, 2)
        opts.lat_duration = min(opts.lat_duration, 2)
    conns_list = [int(c) for c in opts.conns.split(",")]
    for path in (opts.ringcached, opts.memcached, opts.nutcracker):
        if not os.access(path, os.X_OK):
            sys.exit(f"cluster: {path} is missing (bench.sh installs nutcracker and memcached; build ringcached first)")

    log_dir = tempfile.mkdtemp(prefix="ringcache-cluster-bench-")
    started = time.time()
    load_start = open("/proc/loadavg").read().strip()
    print(f"cluster bench: ringcached={opts.ringcached} logs={log_dir}", file=sys.stderr)
    waited = wait_for_other_benchmarks(opts)
    if opts.replication_compare:
        replication_compare(opts, log_dir, conns_list, started, load_start, waited)
        return

    results = {}
    total = 2 * len(conns_list) * opts.rounds
    done = 0
    for rnd in range(opts.rounds):
        for ci, conns in enumerate(conns_list):
            order = ["ringcached", "ensemble"]
            if (rnd + ci) % 2:
                order.reverse()
            for side in order:
                done += 1
                r = run_side(opts, side, conns, log_dir)
                results.setdefault((conns, side), []).append(r)
                extra = (f", forwarded {100 * r['forwarded_share']:.0f}%" if r.get("forwarded_share") is not None
                         else f", nutcracker {fmt(r.get('proxy_us_per_op'), '.2f')}us/op")
                print(f"[{done}/{total}] c{conns} {side}: {r['tps']} ops/s ({'+'.join(map(str, r['per_client_tps']))}), "
                      f"avg {r['lat_avg']:.0f}us, cpu {fmt(r['cpu_us_per_op'], '.2f')}us/op{extra}, "
                      f"others {100 * r['background']:.0f}%" + (f" DEAD {r['dead']}" if r["dead"] else ""),
                      file=sys.stderr)

    hops = []  # (secret, depth, results)
    if not opts.no_hop:
        exe = build_hopload(log_dir)
        secrets = {"both": [False, True], "no": [False], "yes": [True]}[opts.hop_secret]
        for depth in [int(d) for d in opts.hop_depths.split(",")]:
            for secret in secrets:
                hops.append((secret, depth, hop_test(opts, log_dir, exe, secret, depth)))

    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"runs": {f"{c}|{s}": v for (c, s), v in results.items()},
                       "hop": [{"secret": sec, "depth": d, "results": h} for sec, d, h in hops],
                       "options": vars(opts)}, f, indent=1)

    med = common.median
    out = sys.stdout
    nc_version = subprocess.run([opts.nutcracker, "--version"], capture_output=True, text=True)
    nc_version = (nc_version.stdout + nc_version.stderr).strip().splitlines()[0].replace("This is ", "")
    print(f"cluster: 3 x ringcached -t {opts.threads} -m {opts.memory} vs {nc_version} (hash md5, distribution "
          f"ketama) + 3 x memcached 1.6.18 -t {opts.threads} -m {opts.memory}; {PROCS} memcaslap -T 1 at once "
          f"(ringcached: one per node; ensemble: all on nutcracker), get90-set10.cfg, {opts.duration}s per run, "
          f"median of {opts.rounds} round(s); unpinned (7-8 processes on {os.cpu_count()} CPUs)", file=out)
    print(f"load average at start: {load_start}; waited for another benchmark: {'yes' if waited else 'no'}; "
          f"wait-quiet {opts.wait_quiet:g}s; "
          f"took {time.time() - started:.0f}s", file=out)
    print("ops/s = sum of the memcaslap TPS; avg = ops-weighted memcaslap mean latency, max = largest max (us); "
          "cpu = utime+stime of all server processes (3 nodes, or 3 memcached + nutcracker) per op; nc = "
          "nutcracker's share of it; fwd = forwarded requests / ops (stats cluster); busy = server CPU / run "
          "time (200% = both cores); others = machine CPU used by other programs just before the run", file=out)
    header = (f"{'conns':>5} | {'rc ops/s':>9} {'ens ops/s':>9} {'ratio':>5} | {'rc avg':>6} {'ens avg':>7} "
              f"{'rc max':>6} {'ens max':>7} (us) | {'rc cpu':>6} {'ens cpu':>7} {'nc':>5} (us/op) | {'rc fwd':>6} | "
              f"{'rc busy':>7} {'ens busy':>8} {'client':>6} {'others':>6}")
    print(header, file=out)
    print("-" * len(header), file=out)
    ratios = {}
    for conns in conns_list:
        rc, en = results.get((conns, "ringcached"), []), results.get((conns, "ensemble"), [])

        def m(runs, key):
            return med([r.get(key) for r in runs])
        rt, et = m(rc, "tps"), m(en, "tps")
        ratios[conns] = rt / et if rt and et else None
        line = (f"{conns:>5} | {fmt(rt, '9.0f')} {fmt(et, '9.0f')} {fmt(ratios[conns], '5.2f')} | "
                f"{fmt(m(rc, 'lat_avg'), '6.0f')} {fmt(m(en, 'lat_avg'), '7.0f')} {fmt(m(rc, 'lat_max'), '6.0f')} "
                f"{fmt(m(en, 'lat_max'), '7.0f')}      | {fmt(m(rc, 'cpu_us_per_op'), '6.2f')} "
                f"{fmt(m(en, 'cpu_us_per_op'), '7.2f')} {fmt(m(en, 'proxy_us_per_op'), '5.2f')}         | "
                f"{pct(m(rc, 'forwarded_share'), 6)} | {pct(m(rc, 'server_busy'), 7)} {pct(m(en, 'server_busy'), 8)} "
                f"{pct(med([r['client_busy'] for r in rc + en]), 6)} {pct(med([r['background'] for r in rc + en]), 6)}")
        dead = sum(1 for r in rc + en if r["dead"])
        if dead:
            line += f"  [a server died in {dead} runs]"
        misses = sum(r["get_misses"] for r in rc + en)
        if misses:
            line += f"  [get misses {misses}]"
        print(line, file=out)
        print(f"      runs (ops/s): rc " + " ".join(str(r["tps"]) for r in rc) + " | ens "
              + " ".join(str(r["tps"]) for r in en), file=out)
    foreign = sum(1 for rs in results.values() for r in rs if r["foreign"])
    if foreign:
        print(f"warning: another benchmark's memcaslap was running at the end of {foreign} runs", file=out)
    noisy = sum(1 for rs in results.values() for r in rs if r["background"] > 0.25)
    if noisy:
        print(f"noise: other programs used over 25% of the machine just before {noisy} runs", file=out)

    hop_lines = []
    for secret, depth, hop in hops:
        label = f"{'with a cluster secret (ChaCha20-Poly1305)' if secret else 'no cluster secret'}, depth {depth}"
        print(f"one hop, {label}: 3-node cluster, {opts.hop_conns} connections to node 1, {depth} request(s) in "
              f"flight per connection, 90% get / 10% set, 32-byte keys, 100-byte values, {opts.hop_keys} keys per "
              f"side (classified with `cluster route`, preloaded), {opts.hop_duration:g}s per run after 0.5s warm-up, "
              f"median of {opts.hop_rounds}; cpu = all 3 nodes per op = node1 (the node the client talks to) + "
              f"owners (nodes 2 and 3), and the same split into user and system time", file=out)
        h = (f"{'keys':<10} | {'ops/s':>8} {'avg us':>7} {'max us':>7} | {'cpu':>6} {'node1':>6} {'owners':>6} "
             f"{'user':>5} {'sys':>5} (us/op) | {'fwd':>4} | {'node busy (1/2/3)':>17} {'client':>6}")
        print(h, file=out)
        print("-" * len(h), file=out)
        for name in ("owner", "non-owner"):
            rs = hop[name]

            def m(key):
                return med([r[key] for r in rs])
            busy = "/".join(f"{100 * med([r['busy'][i] for r in rs]):.0f}%" for i in range(3))
            print(f"{name:<10} | {m('tps'):8.0f} {m('avg_us'):7.0f} {m('max_us'):7.0f} | {m('cpu_us_per_op'):6.2f} "
                  f"{m('entry_us_per_op'):6.2f} {m('owner_us_per_op'):6.2f} {m('user_us_per_op'):5.2f} {m('sys_us_per_op'):5.2f}         | {pct(m('forwarded_share'), 4)} | "
                  f"{busy:>17} {pct(m('client_busy'), 6)}"
                  + (f"  [errors {sum(r['errors'] for r in rs):.0f}]" if any(r["errors"] for r in rs) else "")
                  + (f"  [misses {sum(r['misses'] for r in rs):.0f}]" if any(r["misses"] for r in rs) else ""),
                  file=out)
        o, n = hop["owner"], hop["non-owner"]
        tps_o, tps_n = med([r["tps"] for r in o]), med([r["tps"] for r in n])
        lat_o, lat_n = med([r["avg_us"] for r in o]), med([r["avg_us"] for r in n])
        cpu_o, cpu_n = med([r["cpu_us_per_op"] for r in o]), med([r["cpu_us_per_op"] for r in n])
        print(f"      runs (ops/s): owner " + " ".join(f"{r['tps']:.0f}" for r in o) + " | non-owner "
              + " ".join(f"{r['tps']:.0f}" for r in n), file=out)
        line = (f"hop {'secret' if secret else 'plain'} depth {depth}: non-owner/owner ops/s ratio {tps_n / tps_o:.2f}; "
                f"mean latency +{lat_n - lat_o:.0f}us ({lat_n / lat_o:.2f}x); server CPU +{cpu_n - cpu_o:.2f}us per "
                f"forwarded op ({cpu_n / cpu_o:.2f}x)")
        print(line, file=out)
        hop_lines.append(line)
    for line in hop_lines:
        print(line, file=out)

    r16 = ratios.get(16)
    print(f"cluster ratio {r16:.2f}" if r16 else "cluster ratio n/a", file=out)


if __name__ == "__main__":
    main()
