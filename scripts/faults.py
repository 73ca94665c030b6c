#!/usr/bin/env python3
"""Replication under real faults: three real ringcached nodes on 127.0.0.1, 127.0.0.2 and
127.0.0.3, clients writing and reading through all of them the whole time, one fault per run
(a fresh cluster each), then every acknowledged write checked on every live node.

    scripts/faults.py --short     the CI version (the default): all five faults, short phases
                                  (about a minute; 3 s of load after each fault)
    scripts/faults.py --full      longer phases (10 s of load after each fault)

Faults (--faults kill,kill2,stop,hotkill,partition; default all):
    kill        SIGKILL one node, left dead
    kill2       SIGKILL one node; once its keys are copied again, SIGKILL a second one: the last
                node must hold and serve everything (it refuses writes without a majority)
    stop        SIGSTOP one node for half the shortest suspicion (0.19 s), then SIGCONT: nobody dies
    hotkill     SIGKILL the owner of a hot key while clients `cas` and `incr` it
    partition   nftables cuts the last node from the others both ways for 10 s, then heals
                (skipped, as in gossip-faults.py, where nft is missing or cannot load)
    restart     SIGKILL one node and start it again at once (inside the suspicion timeout): a
                new life joins (joining, filled by transfers, then alive)
    restart-dead  SIGKILL one node, wait until the others declared it dead and copied its keys
                again, then start it again
    longstop    SIGSTOP one node for twice the longest suspicion (9.6 s at 0.2 s probes), then SIGCONT
                (clients leave it alone while it is stopped, as a client that ejects a server would)
    term-restart  SIGTERM one node (it hands over and exits 0), then start it again
    grow        start one more node (on the next host, not in anyone's seed list) under load: it
                joins; the keys moved are reported against the ideal (new copies the ring needs)
    shrink      SIGTERM one node and leave it gone: it hands its keys over and exits 0
    scale       grow by two nodes and shrink back (3 -> 4 -> 5 -> 4 -> 3) under load, the keys
                moved at each step against the ideal

--nodes N (default 3; 5 for the 5-node row) puts node i on 127.0.0.i.

Clients (threads, plain sockets, the memcached text protocol) talk from 127.0.0.9, which no
partition rule names, round-robin over the live nodes, at most --rate requests/s each (so -m 64 holds every key); each
logs what was acknowledged: unique keys (`set k_<client>_<n>`), hot keys written with `gets` +
`cas` by every client, and `incr` counters. An error, a 2 s timeout or a closed connection is a
failed request, never an acknowledged write. At the end, per fault: acknowledged writes,
acknowledged writes lost, contradicted cas/incr results, failed requests, the longest window a key
was unreadable or unwritable (the longest gap between two successes of one client, or of one hot
key or counter), the time until every survivor reports `repair_pending 0`, keys whose copies
(`cluster local <key>` on each live node) disagree or are fewer than min(replicas, live nodes),
and `evictions` (must be 0). "time until N copies again" runs from the fault, or from a node's
return, until every live node sees the others in place and reports `repair_pending 0` and
`transfer_pending 0`.

Nodes run with -t 1 -m 64 --probe-interval 200ms --probe-timeout 100ms and, with --replicas N >= 2,
--replicas N --replication MODE; with --replicas 1 no replication flag at all (the baseline, which
must show losses on kill: that proves the checker sees them). Exit status 1 if a must-be-0 figure
is not 0 (losses and contradictions count only with --mode sync) or a node evicted anything.

Every process is stopped by its PID and the nftables table (ringcache_faults_<pid>) removed, also
on failure and on SIGINT/SIGTERM; every wait is bounded.
"""

import argparse
import bisect
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import common  # noqa: E402

CLIENT_ADDRESS = "127.0.0.9"
HOSTS = [f"127.0.0.{i}" for i in range(1, 8)]  # node i on 127.0.0.i; two spares for grow and scale
TIMING = ["--probe-interval", "200ms", "--probe-timeout", "100ms"]
NFT_TABLE = f"ringcache_faults_{os.getpid()}"
ALL_FAULTS = ["kill", "kill2", "stop", "hotkill", "partition", "restart", "restart-dead", "longstop",
              "term-restart", "grow", "shrink", "scale"]
HOT_KEYS = [f"hot_{i}" for i in range(4)]
COUNTERS = [f"ctr_{i}" for i in range(4)]
CLIENT_TIMEOUT = 2.0
BATCH = 50
STOP_SECONDS = 0.19  # half of 4 * log10(3) * 0.2 s, memberlist's shortest suspicion at 3 nodes
PARTITION_SECONDS = 10.0
LONGEST_SUSPICION = 6 * 4 * 1 * 0.2  # suspicion_max_multiplier x multiplier x max(1, log10(n)) x probe, n <= 9
LONGSTOP_SECONDS = 2 * LONGEST_SUSPICION
INF = float("inf")
CLUSTERS = []  # every cluster started, for the signal handler


# ---------------------------------------------------------------- nodes and the cluster

class Node:
    """One ringcached cluster member."""

    def __init__(self, binary, index, host, port, peer_port, seeds, log_dir, extra):
        self.binary, self.index, self.host, self.port, self.peer_port = binary, index, host, port, peer_port
        self.seeds, self.log_dir, self.extra = seeds, log_dir, list(extra)
        self.base_log_dir, self.life = log_dir, 1
        self.proc = None

    @property
    def advertise(self):
        return f"{self.host}:{self.port}"

    @property
    def name(self):
        return f"n{self.index} {self.advertise}"

    def start(self):
        os.makedirs(self.log_dir, exist_ok=True)
        args = [self.binary, "-l", self.host, "-p", str(self.port), "--peer-port", str(self.peer_port),
                "-m", "64", "-t", "1", "-U", "0", "--seeds", self.seeds] + TIMING + self.extra
        self.proc = common.Process("ringcached", args, self.port, log_dir=self.log_dir, host=self.host, timeout=20)

    def restart(self):
        """A new life on the same address (its log in <dir>.<life>)."""
        self.life += 1
        self.log_dir = f"{self.base_log_dir}.{self.life}"
        self.start()

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def kill(self):
        self.signal(signal.SIGKILL)
        self.proc.proc.wait(10)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.alive():
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
        self.proc.stop()

    def log_text(self):
        try:
            with open(self.proc.log_path, errors="replace") as f:
                return f.read()
        except (OSError, AttributeError):
            return ""


def free_ports(count, hosts):
    """`count` distinct ports free for TCP and UDP on every host, below Linux's ephemeral range."""
    rng = random.Random()
    ports = []
    for _ in range(10000):
        if len(ports) == count:
            return ports
        p = rng.randrange(20000, 32000)
        if p in ports:
            continue
        try:
            for host in hosts:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((host, p))
        except OSError:
            continue
        ports.append(p)
    raise SystemExit("faults: no free ports found")


class Cluster:
    """`n` nodes, one per host, every node seeded with all of them; `live` is what clients use;
    `spare` is one more node on the next host (not in the seed list) that `grow` starts."""

    def __init__(self, binary, log_dir, extra, n=3, spares=2):
        total = n + spares
        hosts = HOSTS[:total]
        ports = free_ports(2 * total, hosts)
        seeds = ",".join(f"{hosts[i]}:{ports[i]}@{ports[total + i]}" for i in range(n))
        self.dir = log_dir
        every = [Node(binary, i + 1, hosts[i], ports[i], ports[total + i], seeds, os.path.join(log_dir, f"n{i + 1}"), extra)
                 for i in range(total)]
        self.nodes, self.spares = every[:n], every[n:]
        self.spare = self.spares[0]
        self.live = list(self.nodes)
        self.lock = threading.Lock()

    def add(self, node):
        """`node` serves clients (again)."""
        with self.lock:
            if node not in self.nodes:
                self.nodes.append(node)
            if node not in self.live:
                self.live.append(node)

    def remove(self, node):
        """Clients stop using `node` (it is about to stop)."""
        with self.lock:
            self.live = [n for n in self.live if n is not node]

    def start(self):
        for node in self.nodes:
            node.start()
        took = wait_until(lambda: all_alive(self.nodes, self.nodes), 20)
        if took is None:
            views = "; ".join(f"{n.name} sees {states(n)}" for n in self.nodes)
            raise RuntimeError(f"the cluster did not converge in 20 s ({views})")
        return took

    def live_nodes(self):
        with self.lock:
            return list(self.live)

    def kill(self, node):
        self.remove(node)
        node.kill()

    def stop(self):
        for node in self.nodes + [n for n in self.spares if n not in self.nodes]:
            try:
                node.stop()
            except Exception as e:  # keep stopping the others
                print(f"  (stopping {node.name}: {e})", flush=True)

    def tails(self, lines=15):
        out = []
        for node in self.nodes:
            if node.proc is not None:
                out.append(f"--- {node.name} ({node.proc.exit_description()}), {node.proc.log_path}:\n{node.proc.tail_log(lines)}")
        return "\n".join(out)


# ---------------------------------------------------------------- admin commands

def ask(node, command, timeout=0.5):
    """One admin command from CLIENT_ADDRESS: the lines before END (or the single error line),
    whatever arrived before a timeout, or None if nothing did."""
    data = b""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.bind((CLIENT_ADDRESS, 0))
            s.connect((node.host, node.port))
            s.sendall(command.encode() + b"\r\n")
            for _ in range(1000):
                if data.endswith(b"END\r\n") or (data.endswith(b"\r\n") and is_error(data.split(b"\r\n")[0])):
                    break
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        pass
    if not data:
        return None
    lines = data.decode(errors="replace").splitlines()
    return lines[:-1] if lines and lines[-1] == "END" else lines


def stats(node, which=""):
    lines = ask(node, f"stats {which}".strip()) or []
    return {p[1]: p[2] for p in (l.split() for l in lines) if len(p) == 3 and p[0] == "STAT"}


def states(node):
    """{advertise: state} as `node` sees the cluster, or None if it does not answer."""
    lines = ask(node, "cluster nodes")
    if lines is None:
        return None
    return {p[1]: p[3] for p in (l.split() for l in lines) if len(p) >= 5 and p[0] == "NODE"}


def all_alive(observers, members):
    for o in observers:
        view = states(o)
        if view is None or any(view.get(m.advertise) != "alive" for m in members):
            return False
    return True


def all_see_dead(observers, members):
    for o in observers:
        view = states(o)
        if view is None or any(view.get(m.advertise) not in ("dead", None) for m in members):
            return False
    return True


def repair_pending(node):
    """`repair_pending` + `transfer_pending` from `stats cluster`: an int, "absent" if the node has
    no repair_pending, None if it did not answer."""
    s = stats(node, "cluster")
    if not s:
        return None
    if "repair_pending" not in s:
        return "absent"
    return int(s["repair_pending"]) + int(s.get("transfer_pending", 0))


def routes(node, keys, chunk=200):
    """{key: [holders]} from `cluster route <key>` on `node`, pipelined."""
    out = {}
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.bind((CLIENT_ADDRESS, 0))
        s.connect((node.host, node.port))
        buf = b""
        for i in range(0, len(keys), chunk):
            part = keys[i:i + chunk]
            s.sendall("".join(f"cluster route {k}\r\n" for k in part).encode())
            for key in part:
                while buf.count(b"END\r\n") == 0:
                    data = s.recv(65536)
                    if not data:
                        raise RuntimeError(f"cluster route on {node.name}: connection closed")
                    buf += data
                answer, buf = buf.split(b"END\r\n", 1)
                out[key] = answer.decode().split()[2:]  # ROUTE <key> <owner> <backup>...
    return out


def counter_sum(nodes, name):
    return sum(int(stats(n, "cluster").get(name, 0)) for n in nodes)


def wait_until(predicate, limit, step=0.05):
    """Seconds until predicate() held, or None after `limit` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


def owner_of(cluster, key):
    """The node owning `key`: `cluster owner <key>` if the binary has it, else the first node of
    `cluster route <key>`, else None."""
    by_advertise = {n.advertise: n for n in cluster.nodes}
    for command in (f"cluster owner {key}", f"cluster route {key}"):
        lines = ask(cluster.nodes[0], command) or []
        if not lines or is_error(lines[0].encode()):
            continue
        for token in " ".join(lines).split():
            if token in by_advertise:
                return by_advertise[token], command.split()[1]
    return None, None


# ---------------------------------------------------------------- nftables

def nft(*commands):
    script = "\n".join(commands) + "\n"
    try:
        return subprocess.run(["nft", "-f", "-"], input=script.encode(), capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(["nft"], 1, b"", str(e).encode())


def nft_remove():
    if shutil.which("nft"):
        nft(f"delete table inet {NFT_TABLE}")


def nft_usable():
    if not shutil.which("nft"):
        return "nft is not installed"
    probe = nft(f"table inet {NFT_TABLE} {{ }}", f"delete table inet {NFT_TABLE}")
    return None if probe.returncode == 0 else f"nftables cannot load here ({probe.stderr.decode().strip()})"


def partition_rules(alone, others):
    group = "{ " + ", ".join(others) + " }"
    return nft(f"table inet {NFT_TABLE} {{",
               "  chain out {",
               "    type filter hook output priority 0; policy accept;",
               f"    ip saddr {alone} ip daddr {group} drop",
               f"    ip saddr {group} ip daddr {alone} drop",
               "  }",
               "}")


# ---------------------------------------------------------------- the client side

class ServerError(Exception):
    """An error line (SERVER_ERROR, CLIENT_ERROR, ERROR) answered; the connection is still usable."""


class ProtocolError(Exception):
    """An answer we cannot parse: the connection is dropped."""


def is_error(line):
    return line.startswith(b"SERVER_ERROR") or line.startswith(b"CLIENT_ERROR") or line == b"ERROR"


class Conn:
    """One text-protocol connection from CLIENT_ADDRESS to a node."""

    def __init__(self, node, timeout=CLIENT_TIMEOUT):
        self.node = node
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.sock.settimeout(timeout)
            self.sock.bind((CLIENT_ADDRESS, 0))
            self.sock.connect((node.host, node.port))
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            self.sock.close()
            raise
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("closed by the node")
        self.buf += chunk

    def line(self):
        for _ in range(100000):
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + 2:]
                return out
            self._fill()
        raise ProtocolError("no line")

    def exact(self, n):
        for _ in range(100000):
            if len(self.buf) >= n:
                out, self.buf = self.buf[:n], self.buf[n:]
                return out
            self._fill()
        raise ProtocolError("short data")

    def command(self, text, data=None):
        """A one-line answer to a storage or arithmetic command."""
        payload = text.encode() + b"\r\n" + (data + b"\r\n" if data is not None else b"")
        self.sock.sendall(payload)
        reply = self.line()
        if is_error(reply):
            raise ServerError(reply.decode(errors="replace"))
        return reply

    def values(self):
        """One retrieval answer: {key: (flags, data, cas)}; ServerError after resynchronising."""
        out = {}
        for _ in range(100000):
            line = self.line()
            if line == b"END":
                return out
            if line.startswith(b"VALUE "):
                parts = line.split()
                if len(parts) < 4:
                    raise ProtocolError(line)
                data = self.exact(int(parts[3]) + 2)[:-2]
                out[parts[1].decode()] = (parts[2], data, parts[4] if len(parts) > 4 else None)
            elif is_error(line):
                self.resync()
                raise ServerError(line.decode(errors="replace"))
            else:
                raise ProtocolError(line)
        raise ProtocolError("endless answer")

    def get(self, keys, verb="get"):
        self.sock.sendall(f"{verb} {' '.join(keys)}\r\n".encode())
        return self.values()

    def resync(self):
        """After an error in a retrieval (which may or may not be followed by END): a `version`
        round trip, dropping whatever comes before its answer."""
        self.sock.sendall(b"version\r\n")
        for _ in range(10000):
            if self.line().startswith(b"VERSION"):
                return
        raise ProtocolError("no VERSION after an error")


class Ledger:
    """What one client sent and what was acknowledged (only its own thread writes it)."""

    def __init__(self, name):
        self.name = name
        self.unique = {}            # key -> acknowledged value
        self.unique_keys = []       # the same keys, for random reads
        self.cas = {}               # hot key -> [[value, sent, done or None, state]] state: acked/unknown/rejected
        self.incr = {}              # counter -> [[sent, done or None, result or None, state]]
        self.acked = {"set": 0, "cas": 0, "incr": 0}
        self.failures = {}
        self.read_misses = 0        # reads of acknowledged keys that missed during the run
        self.miss_log = []          # (monotonic time, node name, key) of each of them
        self.read_wrong = 0         # reads of unique keys that answered another value
        self.longest_gap = (0.0, 0.0)  # (seconds, monotonic time the gap ended)
        self.served = {}            # hot key or counter -> times it was read or written successfully

    def failed(self, kind):
        self.failures[kind] = self.failures.get(kind, 0) + 1


class Run:
    """What the clients share: the cluster, the stop flag, the op mix."""

    def __init__(self, cluster, mix, focus, rate):
        self.cluster = cluster
        self.interval = 1.0 / rate if rate > 0 else 0.0  # per client: bounds the keys -m 64 must hold
        self.stop = threading.Event()
        self.mix = mix        # cumulative weights for set, get, cas, incr
        self.focus = focus    # hot keys and counters hit half the time (hotkill), or None
        self.started = self.stopped = None


class Client(threading.Thread):
    def __init__(self, index, run, seed):
        super().__init__(daemon=True, name=f"client-{index}")
        self.index, self.run_state = index, run
        self.rng = random.Random(seed)
        self.ledger = Ledger(f"c{index}")
        self.conns = {}
        self.turn = index
        self.n = 0
        self.seq = 0
        self.last_success = None
        self.error = None

    def conn(self, node):
        c = self.conns.get(node.advertise)
        if c is None:
            c = self.conns[node.advertise] = Conn(node)
        return c

    def drop(self, node):
        c = self.conns.pop(node.advertise, None)
        if c is not None:
            c.close()

    def success(self):
        now = time.monotonic()
        gap = now - self.last_success
        if gap > self.ledger.longest_gap[0]:
            self.ledger.longest_gap = (gap, now)
        self.last_success = now

    def pick(self, keys):
        focus = self.run_state.focus
        if focus:
            mine = [k for k in keys if k in focus]
            if mine and self.rng.random() < 0.5:
                return self.rng.choice(mine)
        return self.rng.choice(keys)

    def run(self):
        self.last_success = time.monotonic()
        try:
            self.loop()
        except Exception as e:  # a bug in this script: reported, fails the run
            self.error = f"{type(e).__name__}: {e}"
        finally:
            now = time.monotonic()
            if now - self.last_success > self.ledger.longest_gap[0]:
                self.ledger.longest_gap = (now - self.last_success, now)
            for c in self.conns.values():
                c.close()

    def loop(self):
        ops = [self.op_set, self.op_get, self.op_cas, self.op_incr]
        next_at = time.monotonic()
        while not self.run_state.stop.is_set():
            next_at = self.pace(next_at)
            live = self.run_state.cluster.live_nodes()
            if not live:
                time.sleep(0.05)
                continue
            node = live[self.turn % len(live)]
            self.turn += 1
            r = self.rng.random()
            op = ops[next(i for i, w in enumerate(self.run_state.mix) if r < w)]
            try:
                if op(self.conn(node)):
                    self.success()
            except ServerError as e:
                self.ledger.failed(str(e)[:48])
            except socket.timeout:
                self.ledger.failed("timeout")
                self.drop(node)
            except ConnectionRefusedError:
                self.ledger.failed("refused")
                self.drop(node)
            except (ConnectionError, ProtocolError, OSError):
                self.ledger.failed("closed")
                self.drop(node)

    def pace(self, next_at):
        """Sleeps until `next_at` (no catching up after a slow stretch); the next slot."""
        if not self.run_state.interval:
            return next_at
        now = time.monotonic()
        if next_at > now:
            time.sleep(next_at - now)
            return next_at + self.run_state.interval
        return max(next_at, now - 0.05) + self.run_state.interval

    def op_set(self, c):
        self.n += 1
        key = f"k_{self.index}_{self.n}"
        value = f"{key}:{self.n}".encode()
        if c.command(f"set {key} 0 0 {len(value)}", value) != b"STORED":
            raise ProtocolError("set not STORED")
        self.ledger.unique[key] = value
        self.ledger.unique_keys.append(key)
        self.ledger.acked["set"] += 1
        return True

    def missed(self, c, key):
        self.ledger.read_misses += 1
        self.ledger.miss_log.append((time.monotonic(), c.node.name, key))

    def op_get(self, c):
        if not self.ledger.unique_keys:
            return self.op_set(c)
        key = self.rng.choice(self.ledger.unique_keys)
        got = c.get([key]).get(key)
        if got is None:
            self.missed(c, key)
            return False
        if got[1] != self.ledger.unique[key]:
            self.ledger.read_wrong += 1
            return False
        return True

    def op_cas(self, c):
        key = self.pick(HOT_KEYS)
        got = c.get([key], "gets").get(key)
        if got is None or got[2] is None:
            self.missed(c, key)
            return False
        self.ledger.served.setdefault(key, []).append(time.monotonic())
        self.seq += 1
        value = f"c{self.index}:{self.seq}".encode()
        attempt = [value, time.monotonic(), None, "unknown"]
        self.ledger.cas.setdefault(key, []).append(attempt)
        reply = c.command(f"cas {key} 0 0 {len(value)} {got[2].decode()}", value)
        if reply == b"STORED":
            attempt[2], attempt[3] = time.monotonic(), "acked"
            self.ledger.acked["cas"] += 1
        elif reply in (b"EXISTS", b"NOT_FOUND"):
            attempt[3] = "rejected"
        else:
            raise ProtocolError(f"cas answered {reply!r}")
        return True  # the gets was served; the cas was answered

    def op_incr(self, c):
        key = self.pick(COUNTERS)
        attempt = [time.monotonic(), None, None, "unknown"]
        self.ledger.incr.setdefault(key, []).append(attempt)
        reply = c.command(f"incr {key} 1")
        if reply == b"NOT_FOUND":
            attempt[3] = "rejected"
            self.missed(c, key)
            return False
        if not reply.isdigit():
            raise ProtocolError(f"incr answered {reply!r}")
        attempt[1], attempt[2], attempt[3] = time.monotonic(), int(reply), "acked"
        self.ledger.served.setdefault(key, []).append(attempt[1])
        self.ledger.acked["incr"] += 1
        return True


def setup_keys(cluster):
    """The hot keys and counters, written before the clients start: the setup's own ledger."""
    ledger = Ledger("setup")
    for key, value in [(k, b"init") for k in HOT_KEYS] + [(k, b"0") for k in COUNTERS]:
        for attempt in range(20):
            node = cluster.nodes[attempt % len(cluster.nodes)]
            sent = time.monotonic()
            try:
                c = Conn(node)
                try:
                    if c.command(f"set {key} 0 0 {len(value)}", value) == b"STORED":
                        break
                finally:
                    c.close()
            except (ServerError, ProtocolError, OSError):
                time.sleep(0.1)
        else:
            raise RuntimeError(f"could not store {key} at setup")
        done = time.monotonic()
        if key in HOT_KEYS:
            ledger.cas[key] = [[value, sent, done, "acked"]]
        else:
            ledger.incr[key] = [[sent, done, 0, "acked"]]
    return ledger


# ---------------------------------------------------------------- faults

class Fault:
    """What a fault did: the moment it struck, its notes, its own checks, repair timings."""

    def __init__(self):
        self.at = None
        self.notes = []
        self.checks = []       # (ok, text)
        self.late_checks = []  # callables run after the clients stopped, each calling check()
        self.repair = []       # (label, seconds or None or "n/a")
        self.watchers = []

    def check(self, ok, text):
        self.checks.append((bool(ok), text))


def repair_watch(fault, label, survivors, dead, since, limit=30.0):
    """In the background: seconds from `since` until every survivor sees `dead` dead (or alive
    again, when `dead` is empty: all alive) and reports repair_pending 0; "n/a" if the stat is absent."""
    result = [label, None]
    fault.repair.append(result)

    def watch():
        deadline = since + limit
        while time.monotonic() < deadline:
            pending = [repair_pending(n) for n in survivors]
            if "absent" in pending:
                result[1] = "n/a"
                return
            seen = all_see_dead(survivors, dead) if dead else all_alive(survivors, survivors)
            if seen and all(p == 0 for p in pending):
                result[1] = time.monotonic() - since
                return
            time.sleep(0.05)
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    fault.watchers.append(t)


def fault_kill(cluster, rng, fault, opts):
    victim = rng.choice(cluster.nodes)
    fault.at = time.monotonic()
    cluster.kill(victim)
    fault.notes.append(f"SIGKILL {victim.name}, left dead")
    repair_watch(fault, "after the kill", cluster.live_nodes(), [victim], fault.at)


def kill_until_repaired(cluster, fault, victim, label):
    """SIGKILL `victim` now (the fault's moment); returns the seconds until every survivor saw it
    dead (None past 15 s), once the survivors' repair is done (or 30 s passed)."""
    fault.at = time.monotonic()
    cluster.kill(victim)
    survivors = cluster.live_nodes()
    repair_watch(fault, label, survivors, [victim], fault.at)
    seen = wait_until(lambda: all_see_dead(survivors, [victim]), 15)
    fault.watchers[0].join(30)
    return seen


def fault_kill2(cluster, rng, fault, opts):
    first, second = rng.sample(cluster.nodes, 2)
    seen = kill_until_repaired(cluster, fault, first, "after the first kill")
    took = fault.repair[0][1]
    if took == "n/a" or took is None:  # no repair_pending to watch: 3 s after the death was seen
        time.sleep(max(0.0, fault.at + (seen or 0.0) + 3.0 - time.monotonic()))
    fault.notes.append(f"SIGKILL {first.name}; dead everywhere after {fmt_s(seen)}; "
                       f"repaired after {fmt_s(took)}")
    second_at = time.monotonic()
    cluster.kill(second)
    last = cluster.live_nodes()
    fault.notes.append(f"SIGKILL {second.name} {second_at - fault.at:.2f} s after the first; {last[0].name} is the last node")
    repair_watch(fault, "after the second kill", last, [first, second], second_at)


def fault_stop(cluster, rng, fault, opts):
    victim = rng.choice(cluster.nodes)
    since = {n.advertise: len(n.log_text()) for n in cluster.nodes}
    fault.at = time.monotonic()
    victim.signal(signal.SIGSTOP)
    time.sleep(STOP_SECONDS)
    victim.signal(signal.SIGCONT)
    fault.notes.append(f"SIGSTOP {victim.name} for {STOP_SECONDS} s, then SIGCONT")
    repair_watch(fault, "after SIGCONT", cluster.nodes, [], fault.at)
    alive = wait_until(lambda: all_alive(cluster.nodes, cluster.nodes), 10)
    fault.check(alive is not None, f"every node sees every node alive after the stop ({fmt_s(alive)})")

    def nobody_declared():  # after the clients' last seconds: longer than the longest suspicion
        needle = f"member {victim.advertise} is dead"
        declared = [n.name for n in cluster.nodes if n is not victim and needle in n.log_text()[since[n.advertise]:]]
        fault.check(not declared, f"{victim.name} declared dead by nobody ({', '.join(declared) or 'nobody'})")
        fault.check(all_alive(cluster.nodes, cluster.nodes), "every node still sees every node alive at the end")
    fault.late_checks.append(nobody_declared)


def fault_hotkill(cluster, rng, fault, opts):
    victim, focus = opts["hot_victim"], opts["focus"]
    fault.at = time.monotonic()
    cluster.kill(victim)
    fault.notes.append(f"SIGKILL {victim.name}, owner of {', '.join(sorted(focus))} ({opts['owner_source']}), "
                       f"while every client cas/incr's them")
    repair_watch(fault, "after the kill", cluster.live_nodes(), [victim], fault.at)


def fault_partition(cluster, rng, fault, opts):
    alone, others = cluster.nodes[-1], cluster.nodes[:-1]
    result = partition_rules(alone.host, [n.host for n in others])
    if result.returncode != 0:
        fault.check(False, f"nft rules load ({result.stderr.decode().strip()})")
        return
    fault.at = time.monotonic()
    try:
        split = wait_until(lambda: all_see_dead(others, [alone]), PARTITION_SECONDS)
        time.sleep(max(0.0, PARTITION_SECONDS - (time.monotonic() - fault.at)))
    finally:
        nft_remove()
    healed_at = time.monotonic()
    fault.notes.append(f"{alone.host} cut from {', '.join(n.host for n in others)} for {PARTITION_SECONDS:.0f} s "
                       f"(seen dead by the majority after {fmt_s(split)}), then healed")
    repair_watch(fault, "after the heal", cluster.nodes, [], healed_at)
    healed = wait_until(lambda: all_alive(cluster.nodes, cluster.nodes), 15)
    fault.check(healed is not None, f"every node sees every node alive after the heal ({fmt_s(healed)}, limit 15 s)")


def back(cluster, fault, node, label):
    """Starts `node` again (a new life); clients use it at once; the recovery is timed from here."""
    at = time.monotonic()
    node.restart()
    cluster.add(node)
    repair_watch(fault, label, cluster.live_nodes(), [], at)
    joined = wait_until(lambda: all_alive(cluster.live_nodes(), cluster.live_nodes()), 30)
    fault.check(joined is not None, f"{node.name} alive everywhere after its restart ({fmt_s(joined)}, limit 30 s)")
    return at


def fault_restart(cluster, rng, fault, opts):
    victim = rng.choice(cluster.nodes)
    fault.at = time.monotonic()
    cluster.kill(victim)
    back(cluster, fault, victim, "after the restart")
    fault.notes.append(f"SIGKILL {victim.name}, started again at once ({time.monotonic() - fault.at:.2f} s later "
                       f"it was alive everywhere)")


def fault_restart_dead(cluster, rng, fault, opts):
    victim = rng.choice(cluster.nodes)
    seen = kill_until_repaired(cluster, fault, victim, "after the kill")
    fault.check(seen is not None, f"{victim.name} declared dead by the others ({fmt_s(seen)})")
    at = back(cluster, fault, victim, "after the restart")
    fault.notes.append(f"SIGKILL {victim.name}; dead everywhere after {fmt_s(seen)}, repaired after "
                       f"{fmt_s(fault.repair[0][1])}; started again {at - fault.at:.2f} s after the kill")


def fault_longstop(cluster, rng, fault, opts):
    victim = rng.choice(cluster.nodes)
    others = [n for n in cluster.nodes if n is not victim]
    fault.at = time.monotonic()
    victim.signal(signal.SIGSTOP)
    # Clients stop using it, as a client that ejects a server after a timeout would: the
    # windows measured are the cluster's, not those of clients waiting on a frozen process.
    cluster.remove(victim)
    try:
        seen = wait_until(lambda: all_see_dead(others, [victim]), LONGSTOP_SECONDS)
        time.sleep(max(0.0, LONGSTOP_SECONDS - (time.monotonic() - fault.at)))
    finally:
        victim.signal(signal.SIGCONT)
    at = time.monotonic()
    cluster.add(victim)
    fault.notes.append(f"SIGSTOP {victim.name} for {LONGSTOP_SECONDS:.1f} s (twice the longest suspicion; "
                       f"declared dead by the others after {fmt_s(seen)}), then SIGCONT")
    repair_watch(fault, "after SIGCONT", cluster.nodes, [], at)
    alive = wait_until(lambda: all_alive(cluster.nodes, cluster.nodes), 30)
    fault.check(alive is not None, f"every node sees every node alive after SIGCONT ({fmt_s(alive)}, limit 30 s)")


def leave(cluster, fault, node):
    """SIGTERM: clients stop using `node`; it must hand over and exit 0 within shutdown_timeout."""
    cluster.remove(node)
    at = time.monotonic()
    node.signal(signal.SIGTERM)
    try:
        code = node.proc.proc.wait(40)
    except subprocess.TimeoutExpired:
        code = None
    took = time.monotonic() - at
    fault.check(code == 0, f"{node.name} left: exit {code} {took:.2f} s after SIGTERM (limit: shutdown_timeout 30 s)")
    return at, took


def ideal_moves(before, after):
    """New copies the ring change needs: per key, the holders after that did not hold it before."""
    return sum(len(set(after[k]) - set(before.get(k, []))) for k in after)


def snapshot_keys(opts):
    keys = list(HOT_KEYS + COUNTERS)
    for c in opts.get("clients", []):
        keys += c.ledger.unique_keys[:]
    return keys


def moved_report(cluster, fault, keys, before, moved, label):
    """Notes the keys transferred by a move against the ideal: the new copies its ring change needs."""
    after = routes(cluster.live_nodes()[0], keys)
    ideal = ideal_moves(before, after)
    ratio = f"{moved / ideal:.2f}x the ideal" if ideal else "n/a"
    fault.notes.append(f"{label}: {moved} keys transferred; ideal {ideal} new copies for the {len(keys)} keys "
                       f"acknowledged before it ({ratio}; writes during the move go to both replica sets instead)")


def transferred(nodes):
    return {n.advertise: int(stats(n, "cluster").get("transferred_keys", 0)) for n in nodes}


def grow_step(cluster, fault, opts, node):
    """Starts `node` under load; returns (seconds until alive everywhere, the move line)."""
    keys = snapshot_keys(opts)
    before = routes(cluster.live_nodes()[0], keys)
    sent_before = transferred(cluster.live_nodes())
    at = time.monotonic()
    node.start()
    cluster.add(node)
    repair_watch(fault, f"after {node.name} started", cluster.live_nodes(), [], at)
    joined = wait_until(lambda: all_alive(cluster.live_nodes(), cluster.live_nodes()), 30)
    fault.check(joined is not None, f"{node.name} (in no seed list) alive everywhere ({fmt_s(joined)}, limit 30 s)")
    fault.watchers[-1].join(30)
    sent = transferred(cluster.live_nodes())
    moved = sum(sent[a] - sent_before.get(a, 0) for a in sent)
    moved_report(cluster, fault, keys, before, moved, f"grow to {len(cluster.live_nodes())} nodes ({node.name} joined)")


def shrink_step(cluster, fault, opts, victim):
    """SIGTERM of `victim` under load; it hands over and exits 0; reports the keys moved."""
    keys = snapshot_keys(opts)
    everyone = cluster.live_nodes()
    before = routes(everyone[0], keys)
    sent_before = transferred(everyone)
    # The leaving node's own transfers count too: sampled as it goes (it exits at the end).
    last = {"n": sent_before[victim.advertise]}

    def sample():
        while victim.proc.alive():
            s = stats(victim, "cluster")
            if s and "transferred_keys" in s:
                last["n"] = int(s["transferred_keys"])
            time.sleep(0.02)
    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    at, took = leave(cluster, fault, victim)
    watcher.join(5)
    survivors = cluster.live_nodes()
    repair_watch(fault, f"after {victim.name} left", survivors, [], at)
    fault.watchers[-1].join(30)
    sent = transferred(survivors)
    moved = sum(sent[a] - sent_before[a] for a in sent) + last["n"] - sent_before[victim.advertise]
    moved_report(cluster, fault, keys, before, moved, f"shrink to {len(survivors)} nodes ({victim.name} left)")


def fault_grow(cluster, rng, fault, opts):
    fault.at = time.monotonic()
    grow_step(cluster, fault, opts, cluster.spares[0])


def fault_shrink(cluster, rng, fault, opts):
    victim = rng.choice(cluster.nodes)
    fault.at = time.monotonic()
    shrink_step(cluster, fault, opts, victim)
    fault.notes.append(f"SIGTERM {victim.name}, left gone")


def fault_scale(cluster, rng, fault, opts):
    """n -> n+1 -> n+2 -> n+1 -> n under load, 2 s of load between steps; the nodes that leave
    are the ones that joined (the original members stay)."""
    fault.at = time.monotonic()
    for node in cluster.spares[:2]:
        grow_step(cluster, fault, opts, node)
        time.sleep(2.0)
    for node in reversed(cluster.spares[:2]):
        shrink_step(cluster, fault, opts, node)
        time.sleep(2.0)


def fault_term_restart(cluster, rng, fault, opts):
    victim = rng.choice(cluster.nodes)
    fault.at = time.monotonic()
    _, took = leave(cluster, fault, victim)
    at = back(cluster, fault, victim, "after the restart")
    fault.notes.append(f"SIGTERM {victim.name} (exit after {took:.2f} s), started again {at - fault.at:.2f} s after the SIGTERM")


FAULTS = {"kill": fault_kill, "kill2": fault_kill2, "stop": fault_stop, "hotkill": fault_hotkill,
          "partition": fault_partition, "restart": fault_restart, "restart-dead": fault_restart_dead,
          "longstop": fault_longstop, "term-restart": fault_term_restart, "grow": fault_grow, "shrink": fault_shrink,
          "scale": fault_scale}


# ---------------------------------------------------------------- verification

def fmt_s(x):
    return "n/a" if x == "n/a" else ("never" if x is None else f"{x:.2f} s")


def expectations(ledgers):
    """{key: (kind, expected)}: unique -> the value; cas -> (possible {value: done}, last acked send);
    incr -> (highest acked result, increments possibly applied)."""
    out = {}
    cas, incr = {}, {}
    for ledger in ledgers:
        for key, value in ledger.unique.items():
            out[key] = ("unique", value)
        for key, attempts in ledger.cas.items():
            cas.setdefault(key, []).extend(attempts)
        for key, attempts in ledger.incr.items():
            incr.setdefault(key, []).extend(attempts)
    for key, attempts in cas.items():
        acked = [a for a in attempts if a[3] == "acked"]
        if not acked:
            continue
        possible = {a[0]: (a[2] if a[3] == "acked" else INF) for a in attempts if a[3] != "rejected"}
        out[key] = ("cas", (possible, max(a[1] for a in acked)))
    for key, attempts in incr.items():
        acked = [a for a in attempts if a[3] == "acked"]
        if not acked:
            continue
        out[key] = ("incr", (max(a[2] for a in acked), sum(1 for a in attempts if a[3] != "rejected") - 1))
    return out, incr


def judge(kind, expected, got):
    """"ok", "lost" or "contradicted" for the value one node served (None: a miss)."""
    if got is None:
        return "lost"
    if kind == "unique":
        return "ok" if got == expected else "lost"
    if kind == "cas":
        possible, last_sent = expected
        # A value is current if its write ended no earlier than the last acknowledged write began
        # (unknown outcomes never ended): anything older was overwritten by an acknowledged write.
        return "ok" if possible.get(got, -INF) >= last_sent else "contradicted"
    highest, attempts = expected
    if not got.isdigit():
        return "contradicted"
    return "ok" if highest <= int(got) <= attempts else "contradicted"


def incr_anomalies(incr):
    """In-run incr results that contradict each other: a result repeated, or not above a result
    acknowledged before the request was sent."""
    bad = 0
    for attempts in incr.values():
        acked = sorted((a for a in attempts if a[3] == "acked" and a[1] is not None), key=lambda a: a[1])
        results = [a[2] for a in acked]
        bad += len(results) - len(set(results))
        done = [a[1] for a in acked]
        best, prefix = -1, []
        for r in results:
            best = max(best, r)
            prefix.append(best)
        for a in acked:
            i = bisect.bisect_left(done, a[0])
            if i > 0 and prefix[i - 1] >= a[2]:
                bad += 1
    return bad


def read_all(node, keys, limit=60.0):
    """{key: data, None (a miss) or "error"} for `keys` through `node`, in gets of BATCH keys (a
    multi-get answers the keys of an owner it cannot reach as misses: they count as not served).
    A batch answered with an error is tried 3 times; after `limit` seconds the rest is "error"."""
    out = {}
    conn = None
    deadline = time.monotonic() + limit
    try:
        for i in range(0, len(keys), BATCH):
            batch = keys[i:i + BATCH]
            got = None
            for _ in range(3 if time.monotonic() < deadline else 0):
                try:
                    conn = conn or Conn(node, timeout=5.0)
                    got = conn.get(batch)
                    break
                except ServerError:
                    time.sleep(0.2)
                except (OSError, ProtocolError):
                    if conn:
                        conn.close()
                    conn = None
                    time.sleep(0.2)
            for key in batch:
                out[key] = "error" if got is None else (got[key][1] if key in got else None)
    finally:
        if conn:
            conn.close()
    return out


def local_copies(node, keys, chunk=200):
    """{key: (flags, data, cas) or None} from `cluster local <key>` on `node`, pipelined; None if the
    node does not know the command."""
    out = {}
    c = Conn(node, timeout=10.0)
    try:
        try:
            c.sock.sendall(f"cluster local {keys[0]}\r\n".encode())
            c.values()
        except ServerError:
            return None
        for i in range(0, len(keys), chunk):
            part = keys[i:i + chunk]
            c.sock.sendall("".join(f"cluster local {k}\r\n" for k in part).encode())
            for key in part:
                try:
                    out[key] = c.values().get(key)
                except ServerError as e:  # the pipelined answers after it cannot be matched any more
                    raise RuntimeError(f"cluster local {key} on {node.name} answered {e}")
    finally:
        c.close()
    return out


def verify(cluster, ledgers, replicas):
    live = cluster.live_nodes()
    expected, incr = expectations(ledgers)
    keys = sorted(expected)
    figures = {"keys": len(keys), "lost": {}, "contradicted": {}, "examples": [], "live": live}
    verdicts = {}
    for node in live:
        served = read_all(node, keys)
        for key in keys:
            got = served[key]
            verdict = "error" if got == "error" else judge(*expected[key], got)
            if verdict != "ok" and verdicts.get(key, "ok") == "ok":
                verdicts[key] = verdict
                if len(figures["examples"]) < 5:
                    figures["examples"].append(f"{key} via {node.name}: {verdict} (read {got!r})")
    for key, verdict in verdicts.items():
        kind = expected[key][0]
        bucket = "contradicted" if verdict == "contradicted" else "lost"
        figures[bucket][kind] = figures[bucket].get(kind, 0) + 1
        if verdict == "error":
            figures["lost"]["unreadable"] = figures["lost"].get("unreadable", 0) + 1
    figures["incr_anomalies"] = incr_anomalies(incr)
    # An acknowledged incr result not above one acknowledged before it was sent is a
    # contradicted result (the counter went back or repeated), not just a curiosity.
    if figures["incr_anomalies"]:
        figures["contradicted"]["incr results in the run"] = figures["incr_anomalies"]
    # Copies: only keys some live node still holds (a lost key is counted above).
    copies = {}
    for node in live:
        got = local_copies(node, keys) if keys else {}
        if got is None:
            copies = None
            break
        copies[node.advertise] = got
    figures["copies"] = None
    if copies is not None:
        want = min(replicas, len(live))
        disagree, under, over = 0, 0, 0
        for key in keys:
            held = [copies[n.advertise][key] for n in live if copies[n.advertise].get(key) is not None]
            if not held:
                continue
            if any(h != held[0] for h in held):
                disagree += 1
            under += len(held) < want
            over += len(held) > want
        figures["copies"] = {"disagree": disagree, "under": under, "over": over, "want": want}
    figures["evictions"] = {n.name: stats(n).get("evictions", "?") for n in live}
    return figures


# ---------------------------------------------------------------- one run per fault

def key_gaps(clients, run):
    """(seconds, key, monotonic end) of the longest time one hot key or counter went without a
    successful read or write by any client, the start and end of the client phase included."""
    served = {}
    for c in clients:
        for key, times in c.ledger.served.items():
            served.setdefault(key, []).extend(times)
    best = (0.0, None, None)
    for key in HOT_KEYS + COUNTERS:
        times = [run.started] + sorted(served.get(key, [])) + [run.stopped]
        for a, b in zip(times, times[1:]):
            if b - a > best[0]:
                best = (b - a, key, b)
    return best


def report(fault, clients, figures, replicas, mode, run):
    """Prints the fault's block; returns the failed must-be-0 figures."""
    failures = []

    def line(label, value, ok=True):
        print(f"  {'ok  ' if ok else 'FAIL'} {label:<40} {value}", flush=True)
        if not ok:
            failures.append(label)

    strict = mode == "sync"
    ledgers = [c.ledger for c in clients]
    acked = {k: sum(l.acked[k] for l in ledgers) for k in ("set", "cas", "incr")}
    lost = sum(figures["lost"].get(k, 0) for k in ("unique", "cas", "incr"))
    contradicted = sum(figures["contradicted"].values())
    failed = {}
    for l in ledgers:
        for kind, n in l.failures.items():
            failed[kind] = failed.get(kind, 0) + n
    gap, gap_client = max(((c.ledger.longest_gap[0], c) for c in clients), key=lambda x: x[0])
    gap_end = gap_client.ledger.longest_gap[1] - fault.at if fault.at else None
    key_gap, gap_key, key_gap_end = key_gaps(clients, run)
    key_gap_end = key_gap_end - fault.at if fault.at and key_gap_end else None

    for note in fault.notes:
        print(f"  {note}", flush=True)
    for ok, text in fault.checks:
        line("fault", text, ok)
    line("acknowledged writes", f"{sum(acked.values())} ({acked['set']} set, {acked['cas']} cas, {acked['incr']} incr) "
         f"on {figures['keys']} keys")
    rate = lost / figures["keys"] if figures["keys"] else 0.0
    detail = ", ".join(f"{k} {v}" for k, v in sorted(figures["lost"].items())) or "none"
    line("acknowledged writes lost", f"{lost} keys ({rate:.3%} of keys; {detail})", lost == 0 or not strict)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(figures["contradicted"].items())) or "none"
    line("contradicted cas/incr results", f"{contradicted} ({detail})", contradicted == 0 or not strict)
    for example in figures["examples"]:
        print(f"         e.g. {example}", flush=True)
    print(f"       {'failed requests':<40} {sum(failed.values())} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(failed.items())) or 'none'}); "
          f"misses of acknowledged keys in the run {sum(l.read_misses for l in ledgers)}", flush=True)
    misses = sorted(m for l in ledgers for m in l.miss_log)
    if misses and fault.at:
        by_node = {}
        for t, name, key in misses:
            by_node.setdefault(name, []).append((t - fault.at, key))
        print(f"       {'   where and when (s after the fault)':<40} " + "; ".join(
            f"{len(ts)} via {name} {ts[0][0]:+.2f}..{ts[-1][0]:+.2f} (e.g. {ts[0][1]})" for name, ts in sorted(by_node.items())), flush=True)
    wrong = sum(l.read_wrong for l in ledgers)
    line("in-run reads of another value", wrong, wrong == 0 or not strict)
    def ended(t):
        return f", ending {t:+.2f} s after the fault" if t is not None else ""
    print(f"       {'longest window unreadable/unwritable':<40} {max(gap, key_gap):.2f} s (between two successes of one "
          f"client: {gap:.2f} s, {gap_client.ledger.name}{ended(gap_end)}; of one hot key or counter: {key_gap:.2f} s, "
          f"{gap_key}{ended(key_gap_end)})", flush=True)
    repairs = "; ".join(f"{fmt_s(t)} {label}" for label, t in fault.repair) or "n/a (no fault struck)"
    print(f"       {'time until N copies again':<40} {repairs}", flush=True)
    copies = figures["copies"]
    if copies is None:
        line("keys whose live copies disagree", "copies: not checked (no cluster local)", replicas < 2)
    else:
        line("keys whose live copies disagree", copies["disagree"], copies["disagree"] == 0)
        line(f"keys with fewer than {copies['want']} live copies", f"{copies['under']} (more: {copies['over']}, info)",
             copies["under"] == 0)
    evictions = figures["evictions"]
    line("evictions", ", ".join(f"{k}: {v}" for k, v in evictions.items()),
         all(v == "0" for v in evictions.values()))
    broken = [f"{c.ledger.name}: {c.error}" for c in clients if c.error]
    if broken:
        line("client threads", "; ".join(broken), False)
    return failures


def run_fault(name, args, rng, root):
    extra = ["--replicas", str(args.replicas), "--replication", args.mode] if args.replicas >= 2 else []
    log_dir = os.path.join(root, name)
    cluster = Cluster(os.path.abspath(args.ringcached), log_dir, extra, n=args.nodes)
    timing = {"load": 2.0, "after": 3.0, "settle": 2.0} if args.short else {"load": 5.0, "after": 10.0, "settle": 5.0}
    clients, run, fault, failures = [], None, Fault(), None
    CLUSTERS.append(cluster)
    try:
        took = cluster.start()
        print(f"== {name}: {args.nodes} nodes converged in {took:.2f} s (logs in {log_dir})", flush=True)
        setup = setup_keys(cluster)
        opts, focus, mix = {}, None, [0.55, 0.8, 0.9, 1.0]
        if name == "hotkill":
            owner, source = owner_of(cluster, HOT_KEYS[0])
            if owner is None:
                owner, source = cluster.nodes[0], "no owner command: node 1"
            else:
                source = f"from cluster {source}"
            focus = {HOT_KEYS[0]} | {k for k in HOT_KEYS[1:] + COUNTERS if owner_of(cluster, k)[0] is owner}
            if not focus & set(COUNTERS):
                focus.add(COUNTERS[0])
            opts = {"hot_victim": owner, "focus": focus, "owner_source": source}
            mix = [0.3, 0.4, 0.7, 1.0]
        run = Run(cluster, mix, focus, args.rate)
        clients = [Client(i, run, rng.randrange(1 << 30)) for i in range(args.clients)]
        opts["clients"] = clients
        run.started = time.monotonic()
        for c in clients:
            c.start()
        time.sleep(timing["load"])
        FAULTS[name](cluster, rng, fault, opts)
        time.sleep(timing["after"])
        run.stop.set()
        run.stopped = time.monotonic()
        for c in clients:
            c.join(max(0.0, run.stopped + 10 - time.monotonic()))
        if any(c.is_alive() for c in clients):
            raise RuntimeError("a client thread did not stop in 10 s")
        time.sleep(timing["settle"])
        for w in fault.watchers:
            w.join(max(0.0, 30 - (time.monotonic() - fault.at)) if fault.at else 0)
        for late in fault.late_checks:
            late()
        figures = verify(cluster, [setup] + [c.ledger for c in clients], args.replicas)
        failures = report(fault, clients, figures, args.replicas, args.mode, run)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"  FAIL {name}: {e}", flush=True)
        failures = [str(e).splitlines()[0]]
    finally:
        if run is not None:
            run.stop.set()
        if name == "partition":
            nft_remove()
        if failures is None or failures:
            print(f"  logs in {log_dir}; the end of each node's log:\n{cluster.tails()}", flush=True)
        cluster.stop()
    return failures


# ---------------------------------------------------------------- main

def on_signal(signum, _frame):
    nft_remove()
    for cluster in CLUSTERS:
        cluster.stop()  # SIGCONT first: a stopped node would not see SIGTERM
    common.stop_all()
    sys.exit(128 + signum)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--short", action="store_true", help="the CI version (the default)")
    length.add_argument("--full", action="store_true", help="longer phases")
    parser.add_argument("--ringcached", default=os.environ.get("RINGCACHED_BIN", ".build/release/ringcached"))
    parser.add_argument("--replicas", type=int, default=2, help="copies of every key (1: no replication flags)")
    parser.add_argument("--mode", choices=["sync", "async"], default="sync", help="--replication MODE")
    parser.add_argument("--faults", default=",".join(ALL_FAULTS), help="comma-separated, from " + ",".join(ALL_FAULTS))
    parser.add_argument("--nodes", type=int, default=3, choices=range(3, 6), help="cluster size (3 to 5)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rate", type=float, default=2500, help="requests per second per client at most (0: no limit)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.short = not args.full
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown or not faults:
        parser.error(f"unknown fault(s) {unknown}; choose from {','.join(ALL_FAULTS)}")
    if not os.access(args.ringcached, os.X_OK):
        parser.error(f"{args.ringcached} is not an executable")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    root = tempfile.mkdtemp(prefix="ringcache-faults-")
    rng = random.Random(args.seed)
    flags = f"--replicas {args.replicas} --replication {args.mode}" if args.replicas >= 2 else "no replication flags"
    print(f"faults: {', '.join(faults)}; {args.nodes} nodes; {'short' if args.short else 'full'}; {args.clients} clients from {CLIENT_ADDRESS}, "
          f"at most {args.rate:g} requests/s each; "
          f"{flags}; seed {args.seed}; logs under {root}", flush=True)
    failures = []
    started = time.monotonic()
    for name in faults:
        if name == "partition":
            why = nft_usable()
            if why:
                print(f"== partition: SKIP ({why})", flush=True)
                continue
        failures += [f"{name}: {f}" for f in run_fault(name, args, rng, root)]
    print(f"faults: {time.monotonic() - started:.0f} s", flush=True)
    if failures:
        print(f"faults: {len(failures)} failed: {'; '.join(failures)} (logs under {root})", flush=True)
        return 1
    print("faults: all passed", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        nft_remove()
        common.stop_all()
