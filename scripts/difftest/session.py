"""Sending one case on a fresh connection and reading the whole answer.

Every batch but the last is followed by a fence, `mg __difftest_fence Odtf<i>`, whose answer
`EN Odtf<i>` no generated command can produce; the next batch is sent only once the fence has
been answered (or FENCE_TIMEOUT has passed: the fence was eaten as part of a value, which both
servers normally do alike). After the last batch the client shuts down its sending side and
reads until EOF (a reset counts as EOF); EOF_TIMEOUT without EOF is recorded as `<timeout>`.

Why a fence after *every* batch, not only before a batch that holds a `{cas:i}` placeholder:
memcached 1.6.18 queues answers and writes them when its input runs dry (and after get, gets,
gat, gats, mn, quit, and after the 21st request of one read event). When the connection ends while
it reads a value (EOF in conn_nread), swallows a too-large one (conn_swallow), or closes on a
protocol error (an HTTP request line, a line over 2048 bytes without a newline), the answers
still queued are never written. Which answers were still queued depends on how the kernel
grouped the client's bytes into reads, so without fences memcached does not even agree with
itself. With a fence answered after every batch, each batch starts with memcached's input dry
and nothing queued, and since batches stay small (generator.py) each arrives in one read: the
answer is a function of the bytes sent.

A placeholder `{cas:i}` in a unit is replaced, just before its batch is sent, by the i-th
distinct non-zero CAS value that server has shown so far in this case (answers.cas_values,
the same order in which answers.normalize numbers them `<cas#i>`), or by FAKE_CAS if it has
shown fewer: a value neither server issues.
"""
import select
import socket
import time

from . import answers
from .generator import CAS_PLACEHOLDER

FENCE_KEY = b"__difftest_fence"
FENCE_TIMEOUT = 1.0
EOF_TIMEOUT = 5.0
SEND_TIMEOUT = 10.0
FAKE_CAS = b"4611686018427387905"   # >= 2^62: memcached counts from 1, ringcached is near 2^56
TIMEOUT_MARK = b"<timeout>"


def fence_bytes(i):
    return b"mg %s Odtf%d\r\n" % (FENCE_KEY, i)


def fence_answer(i):
    return b"EN Odtf%d\r\n" % i


def substitute(data, cas_list):
    def one(m):
        i = int(m.group(1))
        return b"%d" % cas_list[i] if i < len(cas_list) else FAKE_CAS
    return CAS_PLACEHOLDER.sub(one, data)


class Outcome:
    """What one server answered to one case."""

    def __init__(self, answer, timed_out, fences_missed, sent):
        self.answer = answer                # every byte received, fence answers included
        self.timed_out = timed_out          # no EOF within EOF_TIMEOUT (or a send stalled)
        self.fences_missed = fences_missed  # fences not answered within FENCE_TIMEOUT
        self.sent = sent                    # the bytes actually sent, per batch (after substitution)

    def stream(self):
        return self.answer + (TIMEOUT_MARK if self.timed_out else b"")


class _Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.chunk = bytearray(1 << 16)   # reused: recv(n) would allocate n bytes per call
        self.eof = False
        self.send_failed = False
        self.scanned = 0

    def _read(self):
        try:
            n = self.sock.recv_into(self.chunk)
        except (BlockingIOError, InterruptedError):
            return
        except (ConnectionResetError, ConnectionAbortedError):
            self.eof = True
            return
        if n:
            self.buf += memoryview(self.chunk)[:n]
        else:
            self.eof = True

    def seen(self, want, start):
        """Whether `want` occurs in the answer from `start`; scans only what is new since last call."""
        pos = max(start, self.scanned - len(want))
        self.scanned = len(self.buf)
        return self.buf.find(want, pos) >= 0

    def pump(self, data, done, wait_timeout):
        """Send data while reading, then read until done() or EOF. Returns False on timeout."""
        view = memoryview(data)
        off = 0
        deadline = time.monotonic() + SEND_TIMEOUT
        waiting = False
        while True:
            if self.eof:
                return True
            sending = off < len(view) and not self.send_failed
            if not sending:
                if done():
                    return True
                if not waiting:
                    waiting = True
                    deadline = time.monotonic() + wait_timeout
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, w, _ = select.select([self.sock], [self.sock] if sending else [], [], left)
            if r:
                self._read()
            if w and sending:
                try:
                    off += self.sock.send(view[off:off + (1 << 18)])
                except (BlockingIOError, InterruptedError):
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    self.send_failed = True   # the server closed; what it sent is still readable

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def run(port, batches):
    """Run one case (a list of batches of generator.Unit) on a fresh connection."""
    conn = _Conn(port)
    sent = []
    missed = 0
    timed_out = False
    try:
        for i, batch in enumerate(batches):
            cas_list = answers.cas_values(bytes(conn.buf))
            data = b"".join(substitute(u.data, cas_list) for u in batch)
            sent.append(data)
            last = i == len(batches) - 1
            if last:
                if not conn.pump(data, lambda: True, 0):
                    timed_out = True
                    break
                try:
                    conn.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                if not conn.pump(b"", lambda: False, EOF_TIMEOUT):
                    timed_out = True
            else:
                start = conn.scanned = len(conn.buf)
                want = fence_answer(i)
                if not conn.pump(data + fence_bytes(i), lambda: conn.seen(want, start), FENCE_TIMEOUT):
                    missed += 1
                if conn.eof:
                    break
    finally:
        conn.close()
    return Outcome(bytes(conn.buf), timed_out, missed, sent)
