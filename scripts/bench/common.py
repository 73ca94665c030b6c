"""Shared helpers for the benchmark scripts: starting and stopping servers, reading /proc,
and a tiny blocking memcached text-protocol client.

Every server started here is recorded (PID per line) in the file named by $BENCH_PIDFILE, if set,
so that scripts/bench.sh's EXIT trap can stop anything left behind; the Python side also stops
its servers itself (Server.stop, atexit and SIGINT/SIGTERM handlers).
"""

import atexit
import os
import signal
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

_live = {}  # pid -> Server


def free_port():
    """A free TCP port on 127.0.0.1 (bind to port 0 and ask)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record_pid(pid):
    path = os.environ.get("BENCH_PIDFILE")
    if path:
        with open(path, "a") as f:
            f.write(f"{pid}\n")


class Process:
    """A server-like process we start (ringcached, memcached, nutcracker): recorded in the registry
    and in $BENCH_PIDFILE, so stop_all (atexit, signals) and bench.sh's trap stop it by PID.
    Returns once the port answers: `version` (ready="version"), or a get miss (ready="get", for
    nutcracker, which does not know `version`; the miss proves the whole path works)."""

    def __init__(self, kind, args, port, log_dir="/tmp", ready="version", timeout=10.0, env=None, host="127.0.0.1"):
        self.kind, self.port, self.args, self.host = kind, port, list(args), host
        self.log_path = os.path.join(log_dir, f"{kind}-{host}-{port}.log" if host != "127.0.0.1" else f"{kind}-{port}.log")
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        # taskset and valgrind exec the server (valgrind keeps the PID), so pid is the server's.
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT, env=full_env,
                                     stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        _live[self.pid] = self
        _record_pid(self.pid)
        self._wait_ready(ready, timeout)

    def _wait_ready(self, ready, timeout):
        probe, answer_ok = ((b"version\r\n", lambda a: a.startswith(b"VERSION")) if ready == "version" else
                            (b"get ringcache:bench:ready\r\n", lambda a: a.endswith(b"END\r\n")))
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited at start ({self.exit_description()}); "
                                   f"log: {self.log_path}\n{self.tail_log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as s:
                    s.sendall(probe)
                    if answer_ok(s.recv(100)):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} not ready on port {self.port} after {timeout}s; log: {self.log_path}")

    def alive(self):
        return self.proc.poll() is None

    def cpu_seconds(self):
        """utime + stime of the whole process (all threads), from /proc/PID/stat; None if gone."""
        return cpu_seconds(self.pid) if self.alive() else None

    def cpu_split(self):
        """(user, system) CPU seconds of the process."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK

    def exit_description(self):
        rc = self.proc.returncode
        if rc is None:
            return "running"
        return f"killed by signal {-rc}" if rc < 0 else f"exit status {rc}"

    def tail_log(self, n=15):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def stop(self, timeout=5.0):
        """SIGTERM by PID, then SIGKILL if it does not exit."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _live.pop(self.pid, None)
        self.log.close()


class Server(Process):
    """One server (ringcached or memcached) on a free port, started with memcached's flags."""

    def __init__(self, kind, binary, threads, memory_mb, cpu=None, log_dir="/tmp",
                 wrapper=None, env=None, ready_timeout=10.0, extra_args=()):
        port = free_port()
        args = [binary, "-p", str(port), "-l", "127.0.0.1", "-t", str(threads),
                "-m", str(memory_mb), "-U", "0"] + list(extra_args)
        if kind == "memcached" and os.geteuid() == 0:
            args += ["-u", "root"]  # memcached refuses to run as root without -u
        if cpu is not None:
            args = ["taskset", "-c", str(cpu)] + args
        if wrapper:
            args = list(wrapper) + args
        super().__init__(kind, args, port, log_dir, timeout=ready_timeout, env=env)
        self.start_rss_kb = rss_kb(self.pid)


def background_busy(seconds=0.3):
    """Share of the machine's CPU time (all CPUs) used by other programs just before a run: none of
    ours runs at that moment, so this is the noise the run is about to share the machine with."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields[:8])
    idle0, total0 = sample()
    time.sleep(seconds)
    idle1, total1 = sample()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_quiet(opts):
    """Waits (at most opts.wait_quiet seconds) until other programs use under opts.quiet of the CPU."""
    busy = background_busy()
    deadline = time.monotonic() + opts.wait_quiet
    while busy > opts.quiet and time.monotonic() < deadline:
        time.sleep(1.0)
        busy = background_busy()
    return busy


def stop_all():
    for server in list(_live.values()):
        try:
            server.stop()
        except Exception:
            pass


def _on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


atexit.register(stop_all)
for _sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # The command name (field 2) may hold spaces; fields after the closing parenthesis are fixed.
    fields = data[data.rindex(")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLK_TCK


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Client:
    """A blocking text-protocol client over one socket, for setup and measurement helpers."""

    def __init__(self, port, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def read_until(self, terminator):
        while True:
            i = self.buf.find(terminator)
            if i >= 0:
                end = i + len(terminator)
                out, self.buf = self.buf[:end], self.buf[end:]
                return out
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk

    def request(self, data, terminator):
        self.send(data)
        return self.read_until(terminator)

    def sync(self):
        """A round trip (version) that proves everything sent before it was processed."""
        self.request(b"version\r\n", b"\r\n")

    def stats(self):
        out = self.request(b"stats\r\n", b"END\r\n").decode()
        result = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "STAT":
                result[parts[1]] = parts[2]
        return result


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
