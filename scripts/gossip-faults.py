#!/usr/bin/env python3
"""Gossip under real faults: real ringcached processes, SIGKILL, SIGTERM, SIGSTOP, CPU
starvation, load, and real partitions with nftables on 127.0.0.1 ... 127.0.0.4.

    scripts/gossip-faults.py --short      the CI version (run by scripts/test.sh): 3 kills,
                                          a leave, a restart, SIGSTOP, a partition; timing
                                          goals with a 2x margin
    scripts/gossip-faults.py --full       the issue's figures: 10 kills, SIGSTOP, a 2-minute
                                          memcaslap load, a starved minute, a partition, and
                                          gossip bytes/s at 5 and 20 nodes

Every node runs with --probe-interval 200ms --probe-timeout 100ms. Nodes 4 and 5 are in nobody's
seed list. The script's own client talks from 127.0.0.9, which no partition rule names. Every
process is stopped by its PID and every nftables table removed, also on failure.
"""

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import common  # noqa: E402

CLIENT_ADDRESS = "127.0.0.9"
TIMING = ["--probe-interval", "200ms", "--probe-timeout", "100ms"]
NFT_TABLE = f"ringcache_gossip_{os.getpid()}"


class Node:
    """One ringcached cluster member; restartable on the same address and ports."""

    def __init__(self, binary, host, port, peer_port, seeds, log_dir, extra=()):
        self.binary, self.host, self.port, self.peer_port = binary, host, port, peer_port
        self.seeds, self.log_dir, self.extra = seeds, log_dir, list(extra)
        self.lives = 0
        self.proc = None
        self.logs = []

    @property
    def advertise(self):
        return f"{self.host}:{self.port}"

    def start(self):
        self.lives += 1
        life_dir = os.path.join(self.log_dir, f"life{self.lives}")
        os.makedirs(life_dir, exist_ok=True)
        args = [self.binary, "-l", self.host, "-p", str(self.port), "--peer-port", str(self.peer_port),
                "-m", "8", "-t", "1", "-U", "0", "--seeds", self.seeds] + TIMING + self.extra
        self.proc = common.Process("ringcached", args, self.port, log_dir=life_dir, host=self.host, timeout=20)
        self.logs.append(self.proc.log_path)

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def kill(self):
        self.signal(signal.SIGKILL)
        self.proc.proc.wait()

    def stop(self):
        if self.proc and self.proc.alive():
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.proc.stop()

    def log_text(self):
        out = []
        for path in self.logs:
            try:
                with open(path, errors="replace") as f:
                    out.append(f.read())
            except OSError:
                pass
        return "\n".join(out)


def ask(node, command, timeout=0.5):
    """One admin command to `node` from CLIENT_ADDRESS; the lines before END, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.bind((CLIENT_ADDRESS, 0))
            s.connect((node.host, node.port))
            s.sendall(command.encode() + b"\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    return None
                data += chunk
            return data.decode().splitlines()[:-1]
    except OSError:
        return None


def states(node):
    """{advertise: state} as `node` sees the cluster, or None if it does not answer."""
    lines = ask(node, "cluster nodes")
    if lines is None:
        return None
    return {parts[1]: parts[3] for parts in (l.split() for l in lines) if len(parts) >= 5}


def stats(node):
    lines = ask(node, "stats cluster") or []
    return {p[1]: p[2] for p in (l.split() for l in lines) if len(p) == 3}


def wait_until(predicate, limit, step=0.02):
    """Seconds until predicate() held, or None after `limit` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if predicate():
            return time.monotonic() - start
        time.sleep(step)
    return None


def all_see(observers, member, wanted):
    def check():
        for o in observers:
            view = states(o)
            if view is None or view.get(member.advertise) not in wanted:
                return False
        return True
    return check


def free_ports(count):
    """`count` distinct ports free for TCP and UDP, below Linux's ephemeral range (32768 and up),
    so the nodes' own outgoing connections, started one by one, never take a later node's port."""
    rng = random.Random()
    ports = []
    while len(ports) < count:
        p = rng.randrange(20000, 32000)
        if p in ports:
            continue
        try:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        ports.append(p)
    return ports


class Cluster:
    def __init__(self, binary, count, hosts=None, extra=()):
        self.dir = tempfile.mkdtemp(prefix="ringcache-gossip-")
        hosts = hosts or ["127.0.0.1"] * count
        ports = free_ports(2 * count)
        seeds = ",".join(f"{hosts[i]}:{ports[i]}@{ports[count + i]}" for i in range(min(3, count)))
        self.nodes = [Node(binary, hosts[i], ports[i], ports[count + i], seeds, os.path.join(self.dir, f"n{i + 1}"), extra)
                      for i in range(count)]

    def start(self):
        for n in self.nodes:
            n.start()
        everyone = self.nodes
        took = wait_until(lambda: all(all_see(everyone, m, {"alive"})() for m in everyone), 20)
        if took is None:
            raise SystemExit(f"the cluster did not converge; logs in {self.dir}")
        return took

    def stop(self):
        for n in self.nodes:
            n.stop()

    def mark(self):
        """Where every node's log ends now: `declared_dead(since=)` reads only what follows."""
        return {n.advertise: len(n.log_text()) for n in self.nodes}

    def suspicions(self, since):
        """How many times, after `since`, a node logged a member as suspect (false alarms
        that were refuted, when nobody died)."""
        return sum(n.log_text()[since.get(n.advertise, 0):].count(" is suspect ") for n in self.nodes)

    def declared_dead(self, member, since, by=None):
        """The nodes whose log says, after `since`, that `member` was declared dead."""
        needle = f"member {member.advertise} is dead"
        return [o.advertise for o in (by or self.nodes)
                if o is not member and needle in o.log_text()[since.get(o.advertise, 0):]]


def check(ok, what, failures):
    print(("  ok   " if ok else "  FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def kills(cluster, count, failures, margin, rng):
    """SIGKILL a node, time `dead` everywhere; restart it, time `alive` everywhere."""
    detections, returns = [], []
    for k in range(count):
        victim = rng.choice(cluster.nodes)
        others = [n for n in cluster.nodes if n is not victim]
        time.sleep(1.0)
        victim.kill()
        took = wait_until(all_see(others, victim, {"dead"}), 15)
        detections.append(took if took is not None else float("inf"))
        started = time.monotonic()
        victim.start()
        back = wait_until(all_see(others, victim, {"alive"}), 10)
        back = None if back is None else time.monotonic() - started  # from the exec, not from readiness
        returns.append(back if back is not None else float("inf"))
        print(f"  kill {k + 1}: {victim.advertise} dead everywhere after {took if took is None else round(took, 3)} s; "
              f"restarted, alive everywhere {back if back is None else round(back, 3)} s after its start", flush=True)
    median, worst = statistics.median(detections), max(detections)
    check(median <= 1.5 * margin, f"SIGKILL detection median {median:.3f} s <= {1.5 * margin} s", failures)
    check(worst <= 3.0 * margin, f"SIGKILL detection max {worst:.3f} s <= {3.0 * margin} s", failures)
    check(max(returns) <= 2.0 * margin, f"restart seen everywhere, max {max(returns):.3f} s <= {2.0 * margin} s", failures)
    return detections, returns


def restart_inside_suspicion(cluster, failures, margin):
    """A node killed and started again at once is seen as a new life everywhere, not dead."""
    victim = cluster.nodes[-1]
    others = cluster.nodes[:-1]
    before = {o.advertise: None for o in others}
    for o in others:
        line = [l for l in ask(o, "cluster nodes") or [] if l.split()[1] == victim.advertise]
        before[o.advertise] = line[0].split()[4] if line else None
    victim.kill()
    started = time.monotonic()
    victim.start()

    def new_life_everywhere():
        for o in others:
            line = [l for l in ask(o, "cluster nodes") or [] if l.split()[1] == victim.advertise]
            if not line or line[0].split()[3] != "alive" or line[0].split()[4] == before[o.advertise]:
                return False
        return True
    took = wait_until(new_life_everywhere, 10)
    took = None if took is None else round(time.monotonic() - started, 3)
    check(took is not None and took <= 2.0 * margin,
          f"a restart inside the suspicion timeout is alive in its new life everywhere after {took} s (<= {2.0 * margin} s)", failures)


def leave(cluster, failures, margin):
    victim = cluster.nodes[1]
    others = [n for n in cluster.nodes if n is not victim]
    victim.signal(signal.SIGTERM)
    took = wait_until(all_see(others, victim, {"left"}), 10)
    check(took is not None and took <= 1.0 * margin, f"SIGTERM: left everywhere after {took} s (<= {1.0 * margin} s)", failures)
    victim.proc.proc.wait(10)
    victim.start()
    back = wait_until(all_see(others, victim, {"alive"}), 10)
    check(back is not None, f"the node that left came back alive everywhere after {back} s", failures)


def sigstop(cluster, rounds, failures):
    """Stopped for half the shortest suspicion (0.4 s at 5 nodes) and continued: never dead."""
    victim = cluster.nodes[2]
    since = cluster.mark()
    for _ in range(rounds):
        victim.signal(signal.SIGSTOP)
        time.sleep(0.4)
        victim.signal(signal.SIGCONT)
        time.sleep(2.0)
    declared = cluster.declared_dead(victim, since)
    check(not declared, f"SIGSTOP 0.4 s x{rounds}: never declared dead (declared by: {declared or 'nobody'}); "
                        f"{cluster.suspicions(since)} suspicions raised and refuted", failures)


def starvation(cluster, seconds, failures):
    """Stopped 150 ms of every 400 ms for `seconds`: neither declared dead nor declaring."""
    victim = cluster.nodes[0]
    since = cluster.mark()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        victim.signal(signal.SIGSTOP)
        time.sleep(0.15)
        victim.signal(signal.SIGCONT)
        time.sleep(0.25)
    time.sleep(3)
    declared = cluster.declared_dead(victim, since)
    by_victim = [m.advertise for m in cluster.nodes
                 if m is not victim and cluster.declared_dead(m, since, by=[victim])]
    check(not declared and not by_victim,
          f"starved {seconds} s (150 ms of every 400 ms): dead to nobody ({declared or 'ok'}), declares nobody dead ({by_victim or 'ok'}); "
          f"{cluster.suspicions(since)} suspicions raised and refuted",
          failures)


def load(cluster, seconds, failures):
    """memcaslap on every node at once (the benchmark load) for `seconds`: nobody declared dead."""
    since = cluster.mark()
    config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench", "get90-set10.cfg")
    procs = [subprocess.Popen(["memcaslap", "-s", n.advertise, "-F", config, "-t", f"{seconds}s", "-T", "1", "-c", "16"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for n in cluster.nodes]
    for p in procs:
        out = p.communicate()[0].decode(errors="replace")
        tps = [l for l in out.splitlines() if "TPS" in l]
        print(f"    memcaslap: exit {p.returncode}; {tps[-1].strip() if tps else 'no TPS line'}", flush=True)
    declared = [(m.advertise, cluster.declared_dead(m, since)) for m in cluster.nodes if cluster.declared_dead(m, since)]
    check(not declared, f"memcaslap on all {len(cluster.nodes)} nodes for {seconds} s: nobody declared dead ({declared or 'ok'}); "
                        f"{cluster.suspicions(since)} suspicions raised and refuted", failures)


def nft(*commands):
    script = "\n".join(commands) + "\n"
    return subprocess.run(["nft", "-f", "-"], input=script.encode(), capture_output=True)


def partition(binary, failures, margin):
    """{.1,.2} | {.3,.4} with nftables: each side sees the other dead and no majority; removing
    the rules makes one membership again on every node without a restart."""
    if subprocess.run(["sh", "-c", "command -v nft"], capture_output=True).returncode != 0:
        print("  SKIP partition: nft is not installed", flush=True)
        return
    probe = nft(f"table inet {NFT_TABLE} {{ }}", f"delete table inet {NFT_TABLE}")
    if probe.returncode != 0:
        print(f"  SKIP partition: nftables cannot load here ({probe.stderr.decode().strip()})", flush=True)
        return
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
    cluster = Cluster(binary, 4, hosts=hosts)
    try:
        cluster.start()
        a, b = "{ 127.0.0.1, 127.0.0.2 }", "{ 127.0.0.3, 127.0.0.4 }"
        result = nft(f"table inet {NFT_TABLE} {{",
                     "  chain out {",
                     "    type filter hook output priority 0; policy accept;",
                     f"    ip saddr {a} ip daddr {b} drop",
                     f"    ip saddr {b} ip daddr {a} drop",
                     "  }",
                     "}")
        if result.returncode != 0:
            check(False, f"nft rules load ({result.stderr.decode().strip()})", failures)
            return
        left, right = cluster.nodes[:2], cluster.nodes[2:]

        def split():
            return all(all_see(left, m, {"dead"})() for m in right) and all(all_see(right, m, {"dead"})() for m in left)
        took = wait_until(split, 30)
        check(took is not None, f"partition: each side sees the other dead after {took} s", failures)
        majority = [stats(n).get("sees_majority") for n in cluster.nodes]
        check(majority == ["no"] * 4, f"partition: no side sees a majority ({majority})", failures)
        nft(f"delete table inet {NFT_TABLE}")
        healed = wait_until(lambda: all(all_see(cluster.nodes, m, {"alive"})() for m in cluster.nodes), 20)
        check(healed is not None and healed <= 5.0 * margin,
              f"partition healed: one membership on every node after {healed} s (<= {5.0 * margin} s)", failures)
    finally:
        nft(f"delete table inet {NFT_TABLE}")
        cluster.stop()


def bandwidth(binary, count, seconds=10):
    cluster = Cluster(binary, count)
    try:
        cluster.start()
        time.sleep(3)
        before = [int(stats(n).get("gossip_bytes_sent", 0)) for n in cluster.nodes]
        time.sleep(seconds)
        after = [int(stats(n).get("gossip_bytes_sent", 0)) for n in cluster.nodes]
        rates = [(a - b) / seconds for a, b in zip(after, before)]
        print(f"  gossip bytes sent per node per second at {count} nodes: median {statistics.median(rates):.0f}, max {max(rates):.0f}", flush=True)
    finally:
        cluster.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--short", action="store_true")
    mode.add_argument("--full", action="store_true")
    parser.add_argument("--ringcached", default=os.environ.get("RINGCACHED_BIN", ".build/release/ringcached"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    binary = os.path.abspath(args.ringcached)
    rng = random.Random(args.seed)
    margin = 2.0 if args.short else 1.0
    failures = []
    cluster = Cluster(binary, 5)
    try:
        print(f"== 5 nodes on 127.0.0.1 (logs in {cluster.dir}); converged in {cluster.start():.3f} s", flush=True)
        kills(cluster, 3 if args.short else 10, failures, margin, rng)
        restart_inside_suspicion(cluster, failures, margin)
        leave(cluster, failures, margin)
        sigstop(cluster, 3 if args.short else 10, failures)
        if args.full:
            load(cluster, 120, failures)
            starvation(cluster, 60, failures)
    finally:
        cluster.stop()
    print("== a partition with nftables on 127.0.0.1 ... 127.0.0.4", flush=True)
    partition(binary, failures, margin)
    if args.full:
        print("== gossip cost", flush=True)
        bandwidth(binary, 5)
        bandwidth(binary, 20)
    if failures:
        print(f"gossip-faults: {len(failures)} failed", flush=True)
        return 1
    print("gossip-faults: all passed", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        common.stop_all() if hasattr(common, "stop_all") else None
