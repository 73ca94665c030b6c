#!/usr/bin/python3
"""Record the compatibility table from memcached 1.6.18.

Starts Debian's memcached on a free 127.0.0.1 port with the command line the
integration tests use, replays every case defined below on a fresh connection
(after a `flush_all` on a separate control connection), records exactly what
memcached answers and whether it closed the connection, and writes
Tests/IntegrationTests/Fixtures/compat-pairs.txt.

The file format is described in the header this script writes (see HEADER).
The Swift test `CompatibilityTableTests` replays the file against ringcached
(and against memcached, to prove the table is memcached's answer).

Usage: scripts/integration/record-compat.py [--memcached PATH] [--out FILE] [--only NAME]
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "Tests", "IntegrationTests", "Fixtures", "compat-pairs.txt")
SERVER_FLAGS = ["-U", "0", "-t", "4", "-m", "64", "-c", "1024", "-I", "1m"]
IDLE = 0.12          # a response is complete once the socket stays quiet this long
CLOSE_WAIT = 1.0     # how long to wait for a close after a case's last step

# ---------------------------------------------------------------------------
# Case definitions
# ---------------------------------------------------------------------------
# A case is a list of steps on one connection. A step is:
#   send(bytes, wild=[...])   bytes to send; `{$name}` inside is replaced by a
#                             number captured earlier in the case.
#   sleep(ms)                 pause (for expiry / delayed flush)
# wild: list of (regex, kind) applied to the response of this send. The regex
# has exactly one group; the bytes of that group become a pattern token:
#   "d"          -> {d}        any decimal number (cas uniques)
#   "=name"      -> {=name}    any decimal number, captured as `name`
#   (lo, hi)     -> {lo..hi}   a decimal integer in [lo, hi] (TTLs, seconds)
#   "*"          -> {*}        any bytes up to the next \r\n (me's store-specific tail)

CASES = []


def case(name, *steps, note=None):
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", name), name
    assert name not in [c[0] for c in CASES], name
    CASES.append((name, note, list(steps)))


def send(data, wild=()):
    return ("send", data, list(wild))


def sleep(ms):
    return ("sleep", ms, [])


CAS_VALUE = (rb"VALUE \S+ \d+ \d+ (\d+)\r\n", "d")


def cap_gets(name):
    return (rb"VALUE \S+ \d+ \d+ (\d+)\r\n", "=" + name)


def meta(flag, kind="d"):
    # a returned meta flag token such as ` c123`
    return (rb" " + flag + rb"(\d+)(?=[ \r])", kind)


K250 = b"k" * 250
K251 = b"k" * 251

# --- storage commands -------------------------------------------------------
case("set-get", send(b"set foo 0 0 3\r\nbar\r\n"), send(b"get foo\r\n"))
case("set-overwrite", send(b"set foo 1 0 3\r\nbar\r\n"), send(b"set foo 2 0 5\r\nhello\r\n"), send(b"get foo\r\n"))
case("set-zero-length", send(b"set foo 0 0 0\r\n\r\n"), send(b"get foo\r\n"))
case("set-binary-value", send(b"set foo 0 0 8\r\n\x00\r\n\xff\x80\r\n\x01\r\n"), send(b"get foo\r\n"))
case("set-flags-max", send(b"set foo 4294967295 0 1\r\nx\r\n"), send(b"get foo\r\n"))
case("set-flags-over-32-bits", send(b"set foo 4294967296 0 1\r\nx\r\n"), send(b"get foo\r\n"))
case("set-flags-negative", send(b"set foo -1 0 1\r\nx\r\n"), send(b"get foo\r\n"))
case("set-flags-non-numeric", send(b"set foo abc 0 1\r\nx\r\n"), send(b"get foo\r\n"))
case("set-exptime-negative", send(b"set foo 0 -1 1\r\nx\r\n"), send(b"get foo\r\n"))
case("set-exptime-absolute-past", send(b"set foo 0 1000000000 1\r\nx\r\n"), send(b"get foo\r\n"))
case("set-exptime-absolute-future", send(b"set foo 0 2000000000 1\r\nx\r\n"), send(b"get foo\r\n"))
case("set-exptime-over-int32", send(b"set foo 0 4000000000 1\r\nx\r\n"), send(b"get foo\r\n"))
case("set-exptime-30-days-boundary", send(b"set rel 0 2592000 1\r\nx\r\n"), send(b"set abs 0 2592001 1\r\nx\r\n"),
     send(b"get rel abs\r\n"), send(b"mg rel t\r\n", wild=[meta(b"t", (2591999, 2592000))]))
case("set-exptime-non-numeric", send(b"set foo 0 abc 1\r\nx\r\n"), send(b"get foo\r\n"))
case("set-length-negative", send(b"set foo 0 0 -1\r\n"), send(b"get foo\r\n"))
case("set-length-garbage", send(b"set foo 0 0 3x\r\nbar\r\n"), send(b"get foo\r\n"))
case("set-missing-length", send(b"set foo 0 0\r\n"), send(b"get foo\r\n"))
case("set-key-only", send(b"set foo\r\n"))
case("set-no-args", send(b"set\r\n"))
case("set-noreply-errors", send(b"set foo 0 0 -1 noreply\r\n"), send(b"set foo abc 0 1 noreply\r\nx\r\n"),
     send(b"get foo\r\n"))
case("set-noreply", send(b"set foo 0 0 3 noreply\r\nbar\r\n"), send(b"get foo\r\n"))
case("set-misspelled-noreply", send(b"set foo 0 0 3 norepl\r\nbar\r\n"), send(b"get foo\r\n"))
case("set-too-many-tokens", send(b"set foo 0 0 3 noreply extra\r\nbar\r\n"), send(b"get foo\r\n"))
case("set-expire-after-1s", send(b"set foo 0 1 1\r\nx\r\n"), sleep(2200), send(b"get foo\r\n"))
case("set-key-250", send(b"set " + K250 + b" 0 0 1\r\nx\r\n"), send(b"get " + K250 + b"\r\n"))
case("set-key-251", send(b"set " + K251 + b" 0 0 1\r\nx\r\n"), send(b"get " + K251 + b"\r\n"))
case("set-key-control-chars", send(b"set a\x01\x7f\xffb 0 0 1\r\nx\r\n"), send(b"get a\x01\x7f\xffb\r\n"))
case("set-key-with-tab", send(b"set k\t0 0 1\r\nx\r\n"), send(b"get k\t0\r\n"))
case("get-key-with-tab", send(b"set a\tb 0 0 1\r\nx\r\n"), send(b"get a\tb\r\n"), send(b"get a\r\n"))
case("double-spaces", send(b"set  foo  0  0  1\r\nx\r\n"), send(b"get  foo\r\n"))
case("leading-and-trailing-spaces", send(b"set foo 0 0 1\r\nx\r\n"), send(b" get foo   \r\n"))
case("lf-line-endings", send(b"set foo 0 0 1\nx\r\n"), send(b"get foo\n"))
case("add-new-and-existing", send(b"add foo 0 0 1\r\na\r\n"), send(b"add foo 0 0 1\r\nb\r\n"), send(b"get foo\r\n"))
case("add-noreply", send(b"add foo 0 0 1 noreply\r\na\r\n"), send(b"add foo 0 0 1 noreply\r\nb\r\n"), send(b"get foo\r\n"))
case("replace-missing-and-existing", send(b"replace foo 0 0 1\r\na\r\n"), send(b"set foo 0 0 1\r\na\r\n"),
     send(b"replace foo 7 0 1\r\nb\r\n"), send(b"get foo\r\n"))
case("replace-noreply", send(b"replace foo 0 0 1 noreply\r\na\r\n"), send(b"set foo 0 0 1\r\na\r\n"),
     send(b"replace foo 0 0 1 noreply\r\nb\r\n"), send(b"get foo\r\n"))
case("append-prepend", send(b"append foo 0 0 1\r\na\r\n"), send(b"prepend foo 0 0 1\r\na\r\n"),
     send(b"set foo 5 0 2\r\nmm\r\n"), send(b"append foo 9 0 2\r\nzz\r\n"), send(b"prepend foo 9 0 2\r\naa\r\n"),
     send(b"get foo\r\n"))
case("append-prepend-noreply", send(b"set foo 0 0 1\r\nm\r\n"), send(b"append foo 0 0 1 noreply\r\nz\r\n"),
     send(b"prepend foo 0 0 1 noreply\r\na\r\n"), send(b"append nokey 0 0 1 noreply\r\nz\r\n"), send(b"get foo nokey\r\n"))
case("append-keeps-cas-rules", send(b"set foo 0 0 1\r\nm\r\n"), send(b"gets foo\r\n", wild=[cap_gets("c")]),
     send(b"append foo 0 0 1\r\nz\r\n"), send(b"cas foo 0 0 1 {$c}\r\nq\r\n"), send(b"get foo\r\n"))
case("append-too-large", send(b"set foo 0 0 1\r\nm\r\n"), send(b"append foo 0 0 1048576\r\n" + b"x" * 1048576 + b"\r\n"),
     send(b"get foo\r\n"))
case("cas-flow", send(b"set foo 0 0 1\r\na\r\n"), send(b"gets foo\r\n", wild=[cap_gets("c")]),
     send(b"cas foo 3 0 1 {$c}\r\nb\r\n"), send(b"cas foo 0 0 1 {$c}\r\nc\r\n"),
     send(b"gets foo\r\n", wild=[CAS_VALUE]), send(b"cas nokey 0 0 1 1\r\nd\r\n"))
case("cas-noreply", send(b"set foo 0 0 1\r\na\r\n"), send(b"gets foo\r\n", wild=[cap_gets("c")]),
     send(b"cas foo 0 0 1 {$c} noreply\r\nb\r\n"), send(b"cas foo 0 0 1 {$c} noreply\r\nc\r\n"),
     send(b"cas nokey 0 0 1 1 noreply\r\nd\r\n"), send(b"get foo\r\n"))
case("cas-bad-unique", send(b"set foo 0 0 1\r\na\r\n"), send(b"cas foo 0 0 1 abc\r\nb\r\n"), send(b"cas foo 0 0 1 -1\r\nb\r\n"),
     send(b"get foo\r\n"))
case("cas-missing-unique", send(b"cas foo 0 0 1\r\nb\r\n"))
case("cas-unique-zero", send(b"set foo 0 0 1\r\na\r\n"), send(b"cas foo 0 0 1 0\r\nb\r\n"), send(b"get foo\r\n"))
case("too-large-value", send(b"set big 0 0 2000000\r\n" + b"x" * 2000000 + b"\r\n"), send(b"get big\r\n"))
case("too-large-value-split", send(b"set big 0 0 2000000\r\n"), send(b"x" * 1000000), send(b"x" * 1000000 + b"\r\nget big\r\n"))
case("too-large-value-limit", send(b"set big 0 0 1048576\r\n" + b"x" * 1048576 + b"\r\n"), send(b"get big\r\n"))
case("too-large-noreply", send(b"set big 0 0 2000000 noreply\r\n" + b"x" * 2000000 + b"\r\n"), send(b"get big\r\n"))
case("too-large-replaces-old", send(b"set big 0 0 1\r\nx\r\n"), send(b"set big 0 0 2000000\r\n" + b"x" * 2000000 + b"\r\n"),
     send(b"get big\r\n"))
case("large-value-fits", send(b"set big 0 0 1000000\r\n" + b"y" * 1000000 + b"\r\n"), send(b"get big\r\n"))
case("bad-data-chunk-too-long", send(b"set foo 0 0 3\r\nabcd\r\n"), send(b"get foo\r\n"))
case("bad-data-chunk-too-short", send(b"set foo 0 0 5\r\nab\r\n"), send(b"get foo\r\n"))
case("bad-data-chunk-lf-only", send(b"set foo 0 0 3\r\nabc\nget foo\r\n"))
case("bad-data-chunk-noreply", send(b"set foo 0 0 3 noreply\r\nabcd\r\n"), send(b"get foo\r\n"))

# --- retrieval ---------------------------------------------------------------
case("get-miss", send(b"get foo\r\n"))
case("get-multi", send(b"set a 1 0 1\r\nA\r\n"), send(b"set c 3 0 3\r\nCCC\r\n"), send(b"get a b c\r\n"))
case("get-repeated-key", send(b"set a 0 0 1\r\nA\r\n"), send(b"get a a a\r\n"))
case("get-no-key", send(b"get\r\n"))
case("get-key-251-after-hit", send(b"set a 0 0 1\r\nA\r\n"), send(b"get a " + K251 + b" a\r\n"))
case("gets-multi", send(b"set a 1 0 1\r\nA\r\n"), send(b"set c 3 0 1\r\nC\r\n"),
     send(b"gets a b c\r\n", wild=[CAS_VALUE]))
case("gat-and-gats", send(b"set a 1 0 1\r\nA\r\n"), send(b"set b 2 0 1\r\nB\r\n"), send(b"gat 100 a x b\r\n"),
     send(b"gats 0 a b\r\n", wild=[CAS_VALUE]), send(b"mg a t\r\n"))
case("gat-sets-ttl", send(b"set a 0 0 1\r\nA\r\n"), send(b"gat 100 a\r\n"), send(b"mg a t v\r\n", wild=[meta(b"t", (99, 100))]))
case("gat-negative-expires", send(b"set a 0 0 1\r\nA\r\n"), send(b"gat -1 a\r\n"), send(b"get a\r\n"))
case("gat-bad-exptime", send(b"gat abc a\r\n"), send(b"gats\r\n"), send(b"gat 10\r\n"))
case("get-128k-of-keys", send(b"set first 0 0 1\r\n1\r\n"), send(b"set last 0 0 1\r\n2\r\n"),
     send(b"get first " + b"k123456789 " * 13000 + b"last\r\n"))
case("gets-128k-split", send(b"set first 0 0 1\r\n1\r\n"), send(b"gets first " + b"k123456789 " * 6000),
     send(b"k123456789 " * 6000), send(b"first\r\n", wild=[CAS_VALUE]))

# --- delete / touch ----------------------------------------------------------
case("delete", send(b"set foo 0 0 1\r\nx\r\n"), send(b"delete foo\r\n"), send(b"delete foo\r\n"), send(b"get foo\r\n"))
case("delete-noreply", send(b"set foo 0 0 1\r\nx\r\n"), send(b"delete foo noreply\r\n"), send(b"delete foo noreply\r\n"),
     send(b"get foo\r\n"))
case("delete-legacy-time", send(b"set foo 0 0 1\r\nx\r\n"), send(b"delete foo 0\r\n"), send(b"delete foo 5\r\n"),
     send(b"delete foo 0 noreply\r\n"), send(b"delete\r\n"))
case("touch", send(b"set foo 0 0 1\r\nx\r\n"), send(b"touch foo 100\r\n"), send(b"touch nokey 10\r\n"),
     send(b"mg foo t\r\n", wild=[meta(b"t", (99, 100))]), send(b"touch foo 0 noreply\r\n"), send(b"mg foo t\r\n"))
case("touch-bad-args", send(b"touch foo\r\n"), send(b"touch foo abc\r\n"), send(b"touch\r\n"))
case("touch-gat-key-too-long", send(b"touch " + K251 + b" 10\r\n"), send(b"gat 10 " + K251 + b"\r\n"),
     send(b"gets " + K251 + b"\r\n"), send(b"delete " + K251 + b"\r\n"))
case("touch-negative-expires", send(b"set foo 0 0 1\r\nx\r\n"), send(b"touch foo -1\r\n"), send(b"get foo\r\n"))

# --- incr / decr --------------------------------------------------------------
case("incr-decr-basic", send(b"set n 5 0 1\r\n5\r\n"), send(b"incr n 3\r\n"), send(b"decr n 2\r\n"), send(b"get n\r\n"))
case("incr-missing", send(b"incr n 1\r\n"), send(b"decr n 1\r\n"))
case("incr-wraps", send(b"set n 0 0 20\r\n18446744073709551615\r\n"), send(b"incr n 1\r\n"), send(b"get n\r\n"),
     send(b"set n 0 0 20\r\n18446744073709551610\r\n"), send(b"incr n 10\r\n"))
case("decr-floors", send(b"set n 0 0 1\r\n5\r\n"), send(b"decr n 10\r\n"), send(b"decr n 1\r\n"), send(b"get n\r\n"))
case("decr-shrinks-pads", send(b"set n 0 0 3\r\n100\r\n"), send(b"decr n 1\r\n"), send(b"get n\r\n"),
     send(b"incr n 1000\r\n"), send(b"get n\r\n"))
case("incr-huge-delta", send(b"set n 0 0 1\r\n0\r\n"), send(b"incr n 18446744073709551615\r\n"),
     send(b"decr n 18446744073709551615\r\n"))
case("incr-invalid-delta", send(b"set n 0 0 1\r\n1\r\n"), send(b"incr n -1\r\n"), send(b"incr n abc\r\n"),
     send(b"incr n 18446744073709551616\r\n"), send(b"decr n 1x\r\n"), send(b"incr n\r\n"))
case("incr-non-numeric", send(b"set n 0 0 3\r\n12a\r\n"), send(b"incr n 1\r\n"), send(b"set n 0 0 3\r\nabc\r\n"),
     send(b"decr n 1\r\n"), send(b"set n 0 0 0\r\n\r\n"), send(b"incr n 1\r\n"))
case("incr-leading-space", send(b"set n 0 0 2\r\n 5\r\n"), send(b"incr n 1\r\n"))
case("incr-value-too-long", send(b"set n 0 0 21\r\n000000000000000000001\r\n"), send(b"incr n 1\r\n"),
     send(b"set n 0 0 20\r\n00000000000000000001\r\n"), send(b"incr n 1\r\n"), send(b"get n\r\n"))
case("incr-noreply", send(b"set n 0 0 1\r\n1\r\n"), send(b"incr n 5 noreply\r\n"), send(b"decr n 2 noreply\r\n"),
     send(b"incr nokey 1 noreply\r\n"), send(b"get n\r\n"))
case("incr-noreply-errors", send(b"set n 0 0 1\r\nx\r\n"), send(b"incr n 1 noreply\r\n"), send(b"incr n abc noreply\r\n"),
     send(b"get n\r\n"))
case("incr-decr-key-too-long", send(b"incr " + K251 + b" 1\r\n"), send(b"decr " + K251 + b" 1\r\n"))
case("incr-keeps-flags", send(b"set n 42 0 1\r\n9\r\n"), send(b"incr n 1\r\n"), send(b"gets n\r\n", wild=[CAS_VALUE]))

# --- flush_all / verbosity / misc ---------------------------------------------
case("flush-all", send(b"set a 0 0 1\r\nA\r\n"), send(b"flush_all\r\n"), send(b"get a\r\n"),
     send(b"set a 0 0 1\r\nB\r\n"), send(b"get a\r\n"))
case("flush-all-noreply", send(b"set a 0 0 1\r\nA\r\n"), send(b"flush_all noreply\r\n"), send(b"get a\r\n"),
     send(b"set a 0 0 1\r\nB\r\n"), send(b"flush_all 0 noreply\r\n"), send(b"get a\r\n"))
case("flush-all-delay-noreply", send(b"set a 0 0 1\r\nA\r\n"), send(b"flush_all 100 noreply\r\n"), send(b"get a\r\n"),
     send(b"flush_all 0\r\n"), send(b"get a\r\n"))
case("flush-all-bad-args", send(b"flush_all abc\r\n"), send(b"flush_all 1 2\r\n"), send(b"flush_all 0\r\n"))
case("flush-all-negative", send(b"set a 0 0 1\r\nA\r\n"), send(b"flush_all -1\r\n"), send(b"get a\r\n"),
     send(b"set a 0 0 1\r\nB\r\n"), send(b"get a\r\n"))
case("flush-all-delay", send(b"set a 0 0 1\r\nA\r\n"), send(b"flush_all 3\r\n"), send(b"get a\r\n"), sleep(3300),
     send(b"get a\r\n"), send(b"flush_all\r\n"), send(b"set a 0 0 1\r\nB\r\n"), send(b"get a\r\n"))
case("verbosity", send(b"verbosity 1\r\n"), send(b"verbosity 0 noreply\r\n"), send(b"verbosity\r\n"),
     send(b"verbosity x\r\n"), send(b"verbosity 0\r\n"))
case("unknown-commands", send(b"foo\r\n"), send(b"GET foo\r\n"), send(b"\r\n"), send(b" \r\n"), send(b"gett foo\r\n"),
     send(b"incr\r\n"), send(b"decr n\r\n"))
case("quit", send(b"quit\r\n"))
case("quit-with-args", send(b"quit now\r\n"))
case("quit-after-pipeline", send(b"set a 0 0 1\r\nA\r\nget a\r\nquit\r\nget a\r\n"))
case("stats-reset", send(b"stats reset\r\n"))
case("stats-unknown", send(b"stats nonsense\r\n"))

# --- framing: long lines, HTTP, pipelining, split sends -----------------------
case("long-line-no-newline-2048-waits", send(b"x" * 2048), send(b"\r\n"))
case("long-line-no-newline-2049-closes", send(b"x" * 2049))
case("long-set-line-split-closes", send(b"set " + b"k " * 1500), send(b"\r\n"))
case("long-line-whole-is-error", send(b"x" * 3000 + b"\r\n"), note="a complete 3000-byte line in one send is parsed (ERROR)")
case("long-key-line-whole", send(b"set " + b"k" * 3000 + b" 0 0 1\r\nx\r\n"))
case("get-line-split-long", send(b"get " + b"k " * 3000), send(b"\r\n"))
case("http-request-line", send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
case("http-like-get", send(b"get / HTTP/1.1\r\n"))
case("http-any-command", send(b"foo bar HTTP/1.0\r\n"))
case("pipeline-many", send(b"set a 0 0 1\r\nA\r\nset b 0 0 1 noreply\r\nB\r\nget a b\r\nincr a 1\r\nset n 0 0 1\r\n7\r\n"
                           b"incr n 3\r\ndelete b\r\nget b\r\nappend a 0 0 1\r\nZ\r\nget a\r\nmg n v\r\nmn\r\n"))
case("pipeline-100-gets", send(b"set a 0 0 1\r\nA\r\n"), send(b"get a\r\n" * 100))
case("split-command-bytes", send(b"se"), send(b"t fo"), send(b"o 0 0 3\r"), send(b"\nb"), send(b"ar\r"), send(b"\n"),
     send(b"g"), send(b"e"), send(b"t"), send(b" "), send(b"f"), send(b"o"), send(b"o"), send(b"\r"), send(b"\n"))
case("split-value", send(b"set foo 0 0 10\r\n01234"), send(b"56789"), send(b"\r"), send(b"\nget foo\r\n"))

# --- meta commands ---------------------------------------------------------------
case("mn", send(b"mn\r\n"), send(b"mn foo bar\r\n"), send(b"mn\n"))
case("ms-mg-basic", send(b"ms foo 3\r\nbar\r\n"), send(b"mg foo v\r\n"), send(b"mg foo\r\n"), send(b"mg foo s f\r\n"))
case("mg-miss", send(b"mg foo\r\n"), send(b"mg foo v\r\n"), send(b"mg foo k O123 v\r\n"))
case("mg-quiet", send(b"ms foo 3\r\nbar\r\n"), send(b"mg foo q\r\nmg nokey q v\r\nmg foo q v k\r\nmn\r\n"))
case("mg-many-flags", send(b"ms foo 3 F77 T0\r\nbar\r\n"),
     send(b"mg foo s v t f k O123abc c h l\r\n", wild=[meta(b"c"), meta(b"l", (0, 2))]), send(b"mg foo h l t\r\n", wild=[meta(b"l", (0, 2))]))
case("mg-ttl", send(b"ms foo 3 T100\r\nbar\r\n"), send(b"mg foo t v\r\n", wild=[meta(b"t", (99, 100))]),
     send(b"mg foo T200 t\r\n", wild=[meta(b"t", (199, 200))]), send(b"mg foo t\r\n", wild=[meta(b"t", (199, 200))]))
case("mg-key-too-long", send(b"mg " + K251 + b" v\r\n"), send(b"mg " + K250 + b" v\r\n"))
case("mg-errors", send(b"mg\r\n"), send(b"mg foo zz\r\n"), send(b"mg foo O" + b"x" * 32 + b"\r\n"),
     send(b"mg foo O" + b"x" * 31 + b"\r\n"), send(b"mg foo v v\r\n"), send(b"mg foo Nabc\r\n"), send(b"mg foo Tabc\r\n"))
case("mg-opaque-and-key-flags", send(b"ms foo 1\r\nx\r\n"), send(b"mg foo Oabc k\r\n"), send(b"mg nokey Oabc k\r\n"),
     send(b"mg foo k Oabc v\r\n"))
case("mg-proxy-tokens-ignored", send(b"ms foo 1 Pxx Lyy\r\nx\r\n"), send(b"mg foo Lpath/ Pproxy v\r\n"))
case("mg-base64", send(b"ms Zm9v 3 b\r\nbar\r\n"), send(b"get foo\r\n"), send(b"mg Zm9v b k v\r\n"),
     send(b"mg AAEC/w== b v k\r\n"), send(b"ms AAEC/w== 1 b\r\nz\r\n"), send(b"mg AAEC/w== b v k s\r\n"),
     send(b"mg !!!! b v\r\n"), send(b"ms !!!! 1 b\r\nz\r\n"), send(b"mg Zm9 b v\r\n"))
case("mg-vivify", send(b"mg foo N30 s t v c\r\n", wild=[meta(b"c"), meta(b"t", (29, 30))]),
     send(b"mg foo N30 s t v\r\n", wild=[meta(b"t", (29, 30))]), send(b"ms foo 3 T60\r\nnew\r\n"), send(b"mg foo N30 v\r\n"))
case("mg-recache", send(b"ms foo 3 T10\r\nbar\r\n"), send(b"mg foo R30 v\r\n"), send(b"mg foo R30 v\r\n"),
     send(b"mg foo R5 v\r\n"), send(b"ms foo 3 T100\r\nnew\r\n"), send(b"mg foo R30 v\r\n"))
case("mg-no-lru-bump", send(b"ms foo 1\r\nx\r\n"), send(b"mg foo u v h\r\n"), send(b"mg foo h\r\n"), send(b"mg foo h\r\n"))
case("md-invalidate-stale", send(b"ms foo 3 T100\r\nbar\r\n"), send(b"md foo I T30\r\n"),
     send(b"mg foo v c t\r\n", wild=[meta(b"c"), meta(b"t", (29, 30))]), send(b"mg foo v\r\n"),
     send(b"ms foo 3\r\nnew\r\n"), send(b"mg foo v\r\n"))
case("md-basic", send(b"ms foo 1\r\nx\r\n"), send(b"md foo\r\n"), send(b"md foo\r\n"), send(b"md foo q\r\n"),
     send(b"ms foo 1\r\nx\r\n"), send(b"md foo q k Oop\r\nmn\r\n"), send(b"md foo k Oop\r\n"))
case("md-cas", send(b"ms foo 1 c\r\nx\r\n", wild=[meta(b"c", "=c")]), send(b"md foo C1\r\n"), send(b"md foo C{$c}\r\n"),
     send(b"mg foo\r\n"))
case("md-base64", send(b"ms Zm9v 1 b\r\nx\r\n"), send(b"md Zm9v b k\r\n"), send(b"get foo\r\n"))
case("md-errors", send(b"md\r\n"), send(b"md foo zz\r\n"), send(b"md foo Cabc\r\n"), send(b"md " + K251 + b"\r\n"))
case("ms-flags", send(b"ms foo 3 F123 T0 k Oxy\r\nbar\r\n"), send(b"mg foo f v\r\n"), send(b"get foo\r\n"))
case("ms-return-cas", send(b"ms foo 3 c\r\nbar\r\n", wild=[meta(b"c", "=c")]), send(b"mg foo c\r\n", wild=[meta(b"c")]),
     send(b"gets foo\r\n", wild=[CAS_VALUE]))
case("ms-cas-compare", send(b"ms foo 1 c\r\nx\r\n", wild=[meta(b"c", "=c")]), send(b"ms foo 1 C1\r\ny\r\n"),
     send(b"ms foo 1 C{$c}\r\nz\r\n"), send(b"ms foo 1 C{$c}\r\nw\r\n"), send(b"ms nokey 1 C5\r\nq\r\n"), send(b"mg foo v\r\n"))
case("ms-invalidate", send(b"ms foo 1 c\r\nx\r\n", wild=[meta(b"c", "=c")]), send(b"ms foo 1 c\r\ny\r\n", wild=[meta(b"c")]),
     send(b"ms foo 1 I C{$c}\r\nz\r\n"), send(b"mg foo v\r\n"), send(b"mg foo v\r\n"))
case("ms-invalidate-without-cas", send(b"ms foo 1\r\nx\r\n"), send(b"ms foo 1 I\r\ny\r\n"), send(b"mg foo v\r\n"))
case("md-invalidate-quiet-and-missing", send(b"md nokey I\r\n"), send(b"ms foo 1\r\nx\r\n"), send(b"md foo I q\r\nmn\r\n"),
     send(b"mg foo v\r\n"), send(b"md foo\r\n"), send(b"mg foo v\r\n"))
case("ms-modes", send(b"ms foo 1 ME\r\na\r\n"), send(b"ms foo 1 ME\r\nb\r\n"), send(b"ms foo 1 MA\r\nc\r\n"),
     send(b"ms foo 1 MP\r\nd\r\n"), send(b"ms foo 1 MR\r\ne\r\n"), send(b"mg foo v\r\n"), send(b"ms bar 1 MR\r\nf\r\n"),
     send(b"ms bar 1 MA\r\ng\r\n"), send(b"ms bar 1 MP\r\nh\r\n"), send(b"ms bar 1 MS\r\ni\r\n"), send(b"mg bar v\r\n"))
case("ms-modes-lowercase", send(b"ms foo 1 Me\r\na\r\n"), send(b"ms foo 1 Ma\r\nb\r\n"), send(b"ms foo 1 Mp\r\nc\r\n"),
     send(b"ms foo 1 Mr\r\nd\r\n"), send(b"ms foo 1 Ms\r\ne\r\n"), send(b"mg foo v\r\n"))
case("ms-invalid-mode", send(b"ms foo 1 MZ\r\na\r\n"), send(b"mg foo v\r\n"))
case("ms-quiet", send(b"ms foo 1 q\r\na\r\nms foo 1 q ME\r\nb\r\nms foo 1 q C1\r\nc\r\nmn\r\n"), send(b"mg foo v\r\n"))
case("ms-errors", send(b"ms foo\r\n"), send(b"ms foo abc\r\n"), send(b"ms foo -1\r\n"), send(b"ms\r\n"),
     send(b"ms foo 1 zz\r\nx\r\n"), send(b"ms " + K251 + b" 1\r\nx\r\n"))
case("ms-bad-data-chunk", send(b"ms foo 2\r\nabc\r\n"), send(b"mg foo v\r\n"))
case("ms-too-large", send(b"ms foo 2000000\r\n" + b"x" * 2000000 + b"\r\n"), send(b"mg foo v\r\n"))
case("ms-zero-length-and-ttl", send(b"ms foo 0 T-1\r\n\r\n"), send(b"mg foo v\r\n"), send(b"ms foo 0\r\n\r\n"),
     send(b"mg foo v s\r\n"))
case("ma-basic", send(b"ma n\r\n"), send(b"ms n 1\r\n5\r\n"), send(b"ma n\r\n"), send(b"ma n v\r\n"), send(b"ma n D10 v\r\n"),
     send(b"ma n MD D3 v\r\n"), send(b"ma n M- D100 v\r\n"), send(b"ma n M+ D7 v\r\n"), send(b"ma n MI v\r\n"),
     send(b"get n\r\n"))
case("ma-autovivify", send(b"ma c N0 J10 v\r\n"), send(b"ma c N0 J10 v\r\n"), send(b"ma d N0 v t\r\n"),
     send(b"ma e N100 J5 v t\r\n", wild=[meta(b"t", (99, 100))]), send(b"ma f J5 v\r\n"))
case("ma-wrap-and-floor", send(b"ms n 20\r\n18446744073709551615\r\n"), send(b"ma n v\r\n"), send(b"ma n MD D5 v\r\n"))
case("ma-flags", send(b"ms n 2 T0\r\n10\r\n"), send(b"ma n t c v k Oxx\r\n", wild=[meta(b"c")]),
     send(b"ma n T100 t v\r\n", wild=[meta(b"t", (99, 100))]))
case("ma-cas", send(b"ms n 1 c\r\n1\r\n", wild=[meta(b"c", "=c")]), send(b"ma n C1 v\r\n"), send(b"ma n C{$c} v\r\n"),
     send(b"ma n C{$c} v\r\n"))
case("ma-quiet", send(b"ms n 1\r\n1\r\n"), send(b"ma n q\r\nma nokey q\r\nma n q v\r\nmn\r\n"))
case("ma-errors", send(b"ma\r\n"), send(b"ma n Dabc\r\n"), send(b"ma n D-1\r\n"), send(b"ma n MZ\r\n"),
     send(b"ma n zz\r\n"), send(b"ms t 3\r\nabc\r\n"), send(b"ma t v\r\n"), send(b"ma n Jabc N0\r\n"))
case("ma-base64", send(b"ma bg== b N0 J3 v k\r\n"), send(b"get n\r\n"))
ME_WILD = [(rb" la=(\d+)", (0, 2)), (rb" cas=(\d+)", "d"), (rb" fetch=(?:no|yes)( [^\r]*)\r\n", "*")]
case("me-miss-and-hit", send(b"me foo\r\n"), send(b"ms foo 1 T0\r\nx\r\n"), send(b"me foo\r\n", wild=ME_WILD),
     send(b"mg foo v\r\n"), send(b"me foo\r\n", wild=ME_WILD), send(b"me Zm9v b\r\n", wild=ME_WILD))
case("me-ttl", send(b"ms foo 1 T100\r\nx\r\n"), send(b"me foo\r\n", wild=ME_WILD + [(rb" exp=(-?\d+)", (-100, -99))]))
case("me-errors", send(b"me\r\n"), send(b"me " + K251 + b"\r\n"))
case("meta-mixed-with-classic", send(b"set foo 5 0 3\r\nbar\r\n"), send(b"mg foo f v\r\n"), send(b"ms foo 3 F9\r\nbaz\r\n"),
     send(b"get foo\r\n"), send(b"ma foo\r\n"), send(b"incr foo 1\r\n"))

HEADER = """\
# ringcache compatibility table, recorded from memcached {version} by scripts/integration/record-compat.py
# Server command line: memcached {flags} -l 127.0.0.1 -p <free port>
#
# Format (one directive per line; blank lines and lines starting with '#' are ignored):
#   case <name>        starts a case; each case runs on a fresh connection, after the tester
#                      sent `flush_all` on a separate control connection and got `OK`
#   note <text>        a remark, ignored by the replayer
#   send <payload>     bytes the client sends
#   recv <pattern>     bytes the server answers; consecutive recv lines are concatenated, and
#                      the recorder starts a new recv line after every \\n
#   sleep <ms>         the client waits this long before the next step
#   closed             the server closed the connection here (EOF or reset), and sent nothing more
# A case that does not end in `closed` ends with `send mn\\r\\n` / `recv MN\\r\\n`, which proves no
# stray bytes are queued and that the connection is still in a clean state.
#
# Payload escapes: \\r \\n \\t \\0 \\\\ \\{{ \\}} and \\xHH; a payload's first byte follows the single space after
# the directive; trailing spaces are written \\x20.
#   {{N*text}}         text (escapes allowed, no unescaped braces) repeated N times (send and recv)
#   {{$name}}          (send) the number captured as name earlier in the case
# Patterns (recv only), kept rare and explicit, for answers that legitimately differ between servers:
#   {{d}}              one or more decimal digits (cas uniques)
#   {{=name}}          like {{d}}, and remembers the number as name
#   {{lo..hi}}         a decimal integer n with lo <= n <= hi (TTLs and ages that may tick)
#   {{*}}              any bytes up to the next \\r\\n (store-specific fields of `me`)
"""

# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------


def esc_byte(b, last=False):
    c = chr(b)
    if b == 0x0D:
        return "\\r"
    if b == 0x0A:
        return "\\n"
    if b == 0x09:
        return "\\t"
    if b == 0:
        return "\\0"
    if c in "\\{}":
        return "\\" + c
    if b == 0x20 and last:
        return "\\x20"
    if 0x20 <= b < 0x7F:
        return c
    return "\\x%02x" % b


def compress(data):
    """[(kind, ...)]: ('lit', bytes) or ('rep', n, unit)."""
    out = []
    lit = bytearray()
    i = 0
    n = len(data)
    while i < n:
        best = None
        for L in range(1, 65):
            if i + 2 * L > n:
                break
            unit = data[i:i + L]
            if data[i + L:i + 2 * L] != unit:
                continue
            reps = 2
            while data[i + reps * L:i + (reps + 1) * L] == unit:
                reps += 1
            cover = reps * L
            if reps >= 3 and cover >= 64 and (best is None or cover > best[0] * best[1]):
                best = (reps, L)
        if best:
            if lit:
                out.append(("lit", bytes(lit)))
                lit = bytearray()
            reps, L = best
            out.append(("rep", reps, data[i:i + L]))
            i += reps * L
        else:
            lit.append(data[i])
            i += 1
    if lit:
        out.append(("lit", bytes(lit)))
    return out


VAR = re.compile(rb"\{\$([a-z]+)\}")


def render(segments, directive, split_lines):
    """segments: list of ('lit', bytes) | ('rep', n, bytes) | ('tok', str). Returns fixture lines."""
    lines = []
    cur = []

    def flush():
        if cur:
            text = "".join(cur)
            if text.endswith(" "):
                text = text[:-1] + "\\x20"
            lines.append(directive + " " + text)
            cur.clear()

    for seg in segments:
        if seg[0] == "tok":
            cur.append(seg[1])
        elif seg[0] == "rep":
            cur.append("{%d*%s}" % (seg[1], "".join(esc_byte(b) for b in seg[2])))
            if split_lines and seg[2].endswith(b"\n"):
                flush()
        else:
            for b in seg[1]:
                cur.append(esc_byte(b))
                if split_lines and b == 0x0A:
                    flush()
    flush()
    return lines


def segments_for_send(data):
    segs = []
    pos = 0
    for m in VAR.finditer(data):
        segs += compress(data[pos:m.start()])
        segs.append(("tok", "{$%s}" % m.group(1).decode()))
        pos = m.end()
    segs += compress(data[pos:])
    return segs


def segments_for_recv(data, wild):
    spans = []  # (start, end, token)
    for rx, kind in wild:
        for m in re.finditer(rx, data, re.S):
            s, e = m.span(1)
            if kind == "d":
                tok = "{d}"
            elif kind == "*":
                tok = "{*}"
            elif isinstance(kind, tuple):
                value = int(m.group(1))
                lo, hi = kind
                if not lo <= value <= hi:
                    raise SystemExit("value %d outside %r in %r" % (value, kind, data))
                tok = "{%d..%d}" % kind
            elif kind.startswith("="):
                tok = "{=%s}" % kind[1:]
            else:
                raise ValueError(kind)
            if any(not (e <= s2 or s >= e2) for s2, e2, _ in spans):
                continue
            spans.append((s, e, tok))
    spans.sort()
    segs = []
    pos = 0
    for s, e, tok in spans:
        segs += compress(data[pos:s])
        segs.append(("tok", tok))
        pos = e
    segs += compress(data[pos:])
    return segs


# ---------------------------------------------------------------------------
# Talking to memcached
# ---------------------------------------------------------------------------


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_memcached(path):
    port = free_port()
    cmd = [path] + SERVER_FLAGS + ["-l", "127.0.0.1", "-p", str(port)]
    if os.geteuid() == 0:
        cmd += ["-u", "memcache"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("memcached did not start")


def read_idle(sock, idle):
    """Read until the socket is quiet for `idle` seconds. Returns (bytes, closed)."""
    buf = bytearray()
    sock.settimeout(idle)
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            return bytes(buf), False
        except ConnectionResetError:
            return bytes(buf), True
        if not chunk:
            return bytes(buf), True
        buf += chunk


def read_until(sock, terminator, timeout):
    """Read until the bytes end with terminator, or timeout, or close. Returns (bytes, closed)."""
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while not buf.endswith(terminator):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(buf), False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            return bytes(buf), False
        except ConnectionResetError:
            return bytes(buf), True
        if not chunk:
            return bytes(buf), True
        buf += chunk
    # anything after the sentinel would be a stray byte: look once more, briefly
    extra, closed = read_idle(sock, 0.05)
    return bytes(buf) + extra, closed


def flush(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"flush_all\r\n")
    data, _ = read_idle(s, IDLE)
    s.close()
    if data != b"OK\r\n":
        raise SystemExit("flush_all answered %r" % data)


def record_case(port, name, note, steps):
    flush(port)
    out = ["case " + name]
    if note:
        out.append("note " + note)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    captures = {}
    closed = False
    for kind, data, wild in steps:
        if kind == "sleep":
            out.append("sleep %d" % data)
            time.sleep(data / 1000.0)
            continue
        actual = VAR.sub(lambda m: captures[m.group(1).decode()].encode(), data)
        try:
            sock.sendall(actual)
        except (BrokenPipeError, ConnectionResetError):
            raise SystemExit("%s: server closed before a later send; end the case at the close" % name)
        out += render(segments_for_send(data), "send", False)
        answer, closed = read_idle(sock, IDLE if len(actual) < 100000 else 1.0)
        for rx, k in wild:
            if isinstance(k, str) and k.startswith("="):
                m = re.search(rx, answer, re.S)
                if not m:
                    raise SystemExit("%s: capture %s not found in %r" % (name, k, answer))
                captures[k[1:]] = m.group(1).decode()
        if answer:
            out += render(segments_for_recv(answer, wild), "recv", True)
        if closed:
            out.append("closed")
            break
    if not closed:
        sock.sendall(b"mn\r\n")
        answer, closed = read_until(sock, b"MN\r\n", CLOSE_WAIT)
        if answer != b"MN\r\n" or closed:
            raise SystemExit("%s: the final mn answered %r (closed=%s); fix the case" % (name, answer, closed))
        out += ["send mn\\r\\n", "recv MN\\r\\n"]
    sock.close()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--memcached", default="/usr/bin/memcached")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--only", help="record one case and print it instead of writing the file")
    args = ap.parse_args()
    version = subprocess.run([args.memcached, "-V"], capture_output=True, text=True).stdout.split()[-1]
    proc, port = start_memcached(args.memcached)
    try:
        lines = [HEADER.format(version=version, flags=" ".join(SERVER_FLAGS))]
        for name, note, steps in CASES:
            if args.only and name != args.only:
                continue
            lines.append("\n".join(record_case(port, name, note, steps)) + "\n")
        text = "\n".join(lines)
        if args.only:
            sys.stdout.write(text)
        else:
            with open(args.out, "w") as f:
                f.write(text)
            print("wrote %d cases to %s" % (len(CASES), args.out))
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
