#!/usr/bin/python3
"""Round-trip checks through pymemcache (Debian's python3-pymemcache) against a running server.

Usage: scripts/integration/pymemcache_roundtrip.py --port PORT [--host 127.0.0.1]

Binary values (all 256 byte values, \\r\\n and NUL inside), a 1,000,000-byte value, 250-byte keys,
multi-get, cas, incr/decr, append/prepend, touch, delete and expiry (expire=1, gone after 2.1 s).
Prints one line per check and "pymemcache round trip: all checks passed"; exits 1 on the first
failure (the integration test IntegrationTests/ClientToolTests runs it and checks the status).
"""
import argparse
import os
import random
import sys
import time

try:
    from pymemcache.client.base import Client
    from pymemcache import exceptions as pm_exceptions
except ImportError as exc:  # pragma: no cover
    print("pymemcache is not installed (apt-get install python3-pymemcache): %s" % exc)
    sys.exit(2)


def check(condition, what):
    if not condition:
        print("FAIL: " + what)
        sys.exit(1)
    print("ok: " + what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()

    client = Client((args.host, args.port), connect_timeout=5, timeout=10, default_noreply=False)
    rng = random.Random(20261121)

    every_byte = bytes(range(256))
    check(client.set("bin-all", every_byte) is True, "set a value holding all 256 byte values")
    check(client.get("bin-all") == every_byte, "get returns all 256 byte values intact")

    tricky = b"\r\nEND\r\n\x00VALUE x 0 1\r\n\x00\r\n"
    check(client.set("bin-crlf", tricky, noreply=False) is True, "set a value with \\r\\n, END and NUL inside")
    check(client.get("bin-crlf") == tricky, "get returns the \\r\\n/NUL value intact")

    check(client.set("bin-empty", b"") is True, "set an empty value")
    check(client.get("bin-empty") == b"", "get returns the empty value")

    big = bytes(rng.getrandbits(8) for _ in range(1_000_000))
    check(client.set("big-1m", big) is True, "set a 1,000,000-byte random value")
    check(client.get("big-1m") == big, "get returns the 1,000,000-byte value intact")

    too_big = b"x" * (2 * 1024 * 1024)
    try:
        stored = client.set("too-big", too_big)
        check(stored is False, "a 2 MiB value is refused (set returned %r)" % stored)
    except pm_exceptions.MemcacheServerError as exc:
        check("too large" in str(exc), "a 2 MiB value is refused with SERVER_ERROR (%s)" % exc)
    check(client.get("too-big") is None, "the refused value is not stored")
    check(client.get("bin-all") == every_byte, "the connection still works after the refused value")

    key250 = "k" * 250
    check(client.set(key250, b"long-key") is True, "set with a 250-byte key")
    check(client.get(key250) == b"long-key", "get with a 250-byte key")
    key250b = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_-:") for _ in range(250))
    check(client.set(key250b, b"other") is True, "set with another 250-byte key")
    many = client.get_many([key250, key250b, "bin-all", "missing-key"])
    check(many == {key250: b"long-key", key250b: b"other", "bin-all": every_byte},
          "get_many with 250-byte keys returns exactly the stored keys")
    try:
        client.set("k" * 251, b"x")
        check(False, "pymemcache refuses a 251-byte key (client-side)")
    except pm_exceptions.MemcacheError:
        check(True, "pymemcache refuses a 251-byte key (client-side)")

    value, cas = client.gets("bin-all")
    check(value == every_byte and cas is not None, "gets returns the value and a cas unique")
    check(client.cas("bin-all", b"new", cas) is True, "cas with the current unique stores")
    check(client.cas("bin-all", b"newer", cas) is False, "cas with a stale unique is refused")
    check(client.get("bin-all") == b"new", "the cas value was stored")

    check(client.set("n", b"10") is True, "set a number")
    check(client.incr("n", 5) == 15, "incr 5")
    check(client.decr("n", 20) == 0, "decr floors at 0")
    check(client.incr("missing-n", 1) is None, "incr on a missing key")

    check(client.append("bin-crlf", b"\x00tail") is True, "append binary bytes")
    check(client.prepend("bin-crlf", b"head\r\n") is True, "prepend binary bytes")
    check(client.get("bin-crlf") == b"head\r\n" + tricky + b"\x00tail", "append/prepend kept every byte")

    check(client.add("bin-crlf", b"x") is False, "add on an existing key is refused")
    check(client.replace("missing-r", b"x") is False, "replace on a missing key is refused")
    check(client.delete("n") is True, "delete an existing key")
    check(client.get("n") is None, "the deleted key is gone")

    check(client.set("flags", b"v", flags=0) is True, "set with flags (pymemcache's own use)")
    check(client.touch("flags", 100) is True, "touch an existing key")
    check(client.touch("missing-t", 100) is False, "touch a missing key")

    check(client.set("expiring", b"soon", expire=1) is True, "set with expire=1")
    check(client.set("lasting", b"stay", expire=100) is True, "set with expire=100")
    time.sleep(2.1)
    check(client.get("expiring") is None, "the expire=1 value is gone after 2.1 s")
    check(client.get("lasting") == b"stay", "the expire=100 value is still there")

    stats = client.stats()
    check(b"curr_items" in stats or "curr_items" in stats, "stats has curr_items")

    client.close()
    print("pymemcache round trip: all checks passed")


if __name__ == "__main__":
    main()
