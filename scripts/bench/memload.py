#!/usr/bin/env python3
"""Fast bulk loader: pipelines `set <key> 0 0 <size> noreply` over one raw socket in big batches.

Usage as a script: memload.py PORT [COUNT] [VALUE_SIZE]
Keys are 32 bytes (`bench:` + 26 digits); values are VALUE_SIZE bytes of 'v'.
A second thread drains whatever the server answers (nothing, unless something fails), so the
pipeline cannot deadlock; the load ends with a `version` round trip.
"""

import socket
import sys
import threading
import time

KEY_DIGITS = 26  # len("bench:") + 26 = 32-byte keys


def key(i):
    return b"bench:%0*d" % (KEY_DIGITS, i)


def load(port, count=1_000_000, value_size=100, batch=20_000):
    """Stores `count` items; returns (seconds, unexpected reply bytes before the final VERSION)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    received = bytearray()
    done = threading.Event()

    def drain():
        while not done.is_set():
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            received.extend(chunk)
            if received.endswith(b"\r\n") and b"VERSION " in received:
                break
        done.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    value = b"v" * value_size
    header_tail = b" 0 0 %d noreply\r\n" % value_size
    tail = value + b"\r\n"
    started = time.monotonic()
    for first in range(0, count, batch):
        last = min(count, first + batch)
        sock.sendall(b"".join(b"set " + key(i) + header_tail + tail for i in range(first, last)))
    sock.sendall(b"version\r\n")
    done.wait(600)
    elapsed = time.monotonic() - started
    sock.close()
    extra = bytes(received)
    at = extra.find(b"VERSION ")
    unexpected = extra[:at] if at >= 0 else extra
    return elapsed, unexpected


if __name__ == "__main__":
    port = int(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    seconds, unexpected = load(port, count, size)
    print(f"loaded {count} items of {size} bytes in {seconds:.1f}s"
          + (f"; unexpected replies: {unexpected[:200]!r}" if unexpected else ""))
