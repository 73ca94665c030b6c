"""Starting, resetting and stopping the servers under test.

Both servers get the same command line, SERVER_FLAGS plus `-l 127.0.0.1 -p <free port>`
(memcached, when run as root, also needs `-u <user>`: it refuses to run as root otherwise).
Every process started is remembered and stopped by its PID (terminate, then kill).
"""
import os
import pwd
import socket
import subprocess
import tempfile
import time

SERVER_FLAGS = ["-U", "0", "-t", "4", "-m", "64", "-c", "1024", "-I", "1m"]


class SetupError(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _run_as_user():
    for name in ("memcache", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    return "nobody"


class Server:
    """One server process and a control connection to it (flush and restore between cases)."""

    def __init__(self, name, path, is_memcached):
        self.name = name
        self.path = path
        self.is_memcached = is_memcached
        self.proc = None
        self.port = None
        self.log = None
        self.control = None

    def start(self):
        if not (os.path.isfile(self.path) and os.access(self.path, os.X_OK)):
            raise SetupError("%s: no executable at %s" % (self.name, self.path))
        last = ""
        for _ in range(5):
            self.port = free_port()
            cmd = [self.path] + SERVER_FLAGS + ["-l", "127.0.0.1", "-p", str(self.port)]
            if self.is_memcached and os.geteuid() == 0:
                cmd += ["-u", _run_as_user()]
            self.log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    self.command(b"version\r\n")
                    return
                except OSError:
                    time.sleep(0.02)
            self.log.seek(0)
            last = self.log.read().decode(errors="replace")[-2000:]
            self.stop()   # port taken by someone else, or it did not come up: try another port
        raise SetupError("%s did not start (%s): %s" % (self.name, " ".join(cmd), last))

    def command(self, line, timeout=5):
        """Send one line on the control connection, return the first answer line."""
        for attempt in (0, 1):
            try:
                if self.control is None:
                    self.control = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
                self.control.sendall(line)
                buf = b""
                while not buf.endswith(b"\r\n"):
                    chunk = self.control.recv(4096)
                    if not chunk:
                        raise ConnectionResetError("control connection closed")
                    buf += chunk
                return buf
            except OSError:
                if self.control is not None:
                    self.control.close()
                self.control = None
                if attempt:
                    raise

    def reset(self, sweep):
        """flush_all, then fetch every key a case can create, so that memcached unlinks them.

        memcached only marks items flushed (oldest_live/oldest_cas) and reclaims them lazily. A
        later `flush_all <delay>` moves oldest_live into the future, and `flush_all <time before
        the server started>` sets it to 0: either way the earlier flush stops applying, and items
        of earlier cases that were not reclaimed yet are visible again. Fetching a flushed item
        unlinks it, so after the sweep no case can see another case's items.
        """
        answer = self.command(b"flush_all\r\n")
        if answer != b"OK\r\n":
            raise SetupError("%s answered %r to flush_all on the control connection" % (self.name, answer))
        self.control.sendall(sweep)
        buf = b""
        while not buf.endswith(b"MN\r\n"):
            chunk = self.control.recv(65536)
            if not chunk:
                raise SetupError("%s closed the control connection during the sweep" % self.name)
            buf += chunk

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.control is not None:
            try:
                self.control.close()
            except OSError:
                pass
            self.control = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
