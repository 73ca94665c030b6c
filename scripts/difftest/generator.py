"""Seeded random cases for the differential fuzzer.

A case is a list of batches; a batch is a list of units; a unit is the bytes of one command
together with its data block, possibly malformed. The bytes may hold a placeholder `{cas:i}`
(see session.py): "the i-th distinct CAS value this server has shown in this case".

Case `index` of seed `seed` is generated from random.Random("<seed>:<index>") alone, so any
case can be regenerated (and replayed) without generating the ones before it.

What is *not* generated, and why (docs/COMPATIBILITY.md says the same):
- 0x80 as the first byte of a unit: as a connection's first byte memcached switches to the
  binary protocol, which ringcached deliberately does not serve.
- small positive TTLs and flush delays (1..99 s, and overflowing numbers that truncate to
  them): whether the item is still there depends on each server's clock tick.
- `cache_memlimit 8..63`: memcached refuses a limit below the memory it has already
  allocated (which only grows during a run), so the answer depends on the run's history.
- `stats` (general, settings, items, slabs, conns, cachedump): pids, times, memory and
  history-dependent counters. Only `stats` subcommands whose answer does not depend on
  history are generated.
- R (recache) tokens close to a TTL in use: "remaining TTL < R" would depend on the tick.
- values made only of whitespace (e.g. "\r\n"): incr/decr/ma on such a value makes memcached's
  strtoull skip the whitespace and read on past the end of the value, into whatever an earlier
  item left in that slab chunk; it answered `551608` once. (A wrongly declared length can still
  produce such a value, rarely.)

Units that end the connection's life (a close on HTTP or a long line, a value that is never
completely sent, a partial line) are only ever the last unit of a case. Units with a data
block of 4 KB or more sit alone in their batch, and other batches stay below 12 KB, so each
batch reaches the server in one read (see session.py for why that matters).
"""
import base64
import random
import re

CAS_PLACEHOLDER = re.compile(rb"\{cas:(\d+)\}")
SMALL_BATCH_LIMIT = 12000
BIG_UNIT = 4096

K250 = b"k" * 250
K251 = b"k" * 251


class Unit:
    """One command line with its data block. `big`: alone in its batch. `terminal`: last."""
    __slots__ = ("data", "big", "terminal")

    def __init__(self, data, big=False, terminal=False):
        self.data = data
        self.big = big
        self.terminal = terminal

    def __repr__(self):
        return show_bytes(self.data)


def show_bytes(data, limit=300):
    """Python byte literal, with long runs of one byte shortened as b'x' * N."""
    if len(data) <= limit:
        return repr(data)
    parts = []
    i = 0
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i]:
            j += 1
        if j - i >= 16:
            parts.append("%r * %d" % (data[i:i + 1], j - i))
            i = j
        else:
            k = i
            while k < len(data) and not (k + 16 <= len(data) and data[k:k + 16] == data[k:k + 1] * 16):
                k += 1
            parts.append(repr(data[i:k]))
            i = k
    return " + ".join(parts)


def has_placeholder(unit):
    return CAS_PLACEHOLDER.search(unit.data) is not None


def pick(rng, table):
    """table: list of (value, weight)."""
    total = sum(w for _, w in table)
    x = rng.random() * total
    for value, weight in table:
        x -= weight
        if x < 0:
            return value
    return table[-1][0]


def b64(data):
    return base64.b64encode(data)


CLASSIC_KEYS = [
    (b"a", 6), (b"b", 5), (b"foo", 4), (b"n", 4), (K250, 0.8), (K251, 0.8), (b"K" * 200, 0.3),
    (b"a\tb", 0.3), (b"k\x01\x7f\xff", 0.3), (b"a\rb", 0.2), (b"a\x00b", 0.2),
    (b"\xc3\xa9t\xc3\xa9", 0.3), (b"_", 0.2),
]
B64_KEYS = [
    (b"YQ==", 4), (b"Yg==", 2), (b"Zm9v", 2), (b"bg==", 2), (b"AAEC", 2), (b"/+8=", 1),
    (b64(b"k" * 180), 0.5), (b64(b"k" * 187), 0.5), (b64(b"a b"), 0.5),
    (b"!!!!", 0.7), (b"YQ=", 0.7), (b"Y", 0.5), (b"====", 0.4), (b"Y Q==", 0.2), (b"", 0.1),
]
SMALL_VALUES = [
    (b"x", 5), (b"hello", 4), (b"", 3), (b"0", 3), (b"1", 3), (b"12", 2), (b"42", 2),
    (b"18446744073709551615", 1.5), (b"18446744073709551614", 1), (b"00000000000000000001", 1),
    (b"000000000000000000001", 1), (b"99999999999999999999", 0.5), (b"abc", 2), (b" 5", 0.7),
    (b"5 ", 0.7), (b"-1", 0.7), (b"12a", 0.7), (b"a\r\nb", 1), (b"\r\nx", 0.7), (b"mn\r\n", 0.3),
    (b"x" * 100, 1), (b"y" * 1000, 0.5), (b"VALUE a 0 1\r\nx\r\nEND", 0.3),
    (None, 1.5),  # random bytes
]
NUMERIC_VALUES = [
    (b"0", 3), (b"1", 3), (b"5", 3), (b"100", 2), (b"18446744073709551615", 2),
    (b"18446744073709551610", 1), (b"00000000000000000001", 1), (b"000000000000000000001", 1),
    (b"9999999999", 1), (b"abc", 1), (b"12a", 1), (b" 5", 0.5), (b"", 0.5),
]
# data sizes around memcached's -I 1m limit (1048576 bytes, item header included) and its
# 512 KB slab chunk size; always sent completely and correctly.
BIG_SIZES = [1048576, 1048577, 1048576 - 48, 1048576 - 52, 1048576 - 56, 1048576 - 60,
             1048576 - 64, 1048576 - 80, 1048576 - 100, 1048576 - 200, 524288, 524288 - 60,
             524288 + 1, 200000, 16384, 5000]

GOOD_TTLS = [
    (b"0", 8), (b"100", 3), (b"3600", 2), (b"2592000", 1.5), (b"-1", 2), (b"-100", 1),
    (b"2592001", 1), (b"1000000000", 1), (b"2000000000", 1), (b"2147483647", 0.5),
    (b"4294967296", 0.3),      # memcached truncates to 32 bits: 0, never expires
    (b"99999999999", 0.3),     # truncates to 1215752191: an absolute time in 2008
    (b"-99999999999", 0.3),    # truncates to -1215752191: already expired
    (b"+100", 0.3), (b"00100", 0.3),
]
BAD_TTLS = [(b"abc", 1), (b"1.5", 1), (b"99999999999999999999", 1), (b"-99999999999999999999", 0.5),
            (b"0x10", 0.5), (b"10a", 1), (b"-", 0.5)]
GOOD_FLAGS = [(b"0", 8), (b"1", 2), (b"42", 2), (b"65535", 1), (b"4294967295", 1), (b"007", 0.3)]
BAD_FLAGS = [(b"-1", 1), (b"4294967296", 1), (b"abc", 1), (b"1x", 1), (b"99999999999999999999", 1),
             (b"1.0", 0.5)]
DELTAS = [(b"1", 6), (b"0", 1), (b"5", 2), (b"100", 1), (b"18446744073709551615", 1),
          (b"18446744073709551616", 1), (b"99999999999999999999", 0.5), (b"-1", 1), (b"abc", 1),
          (b"1x", 0.5), (b"0001", 0.3)]
# Literal CAS values neither server ever issues (memcached counts from 1 per process,
# ringcached's hybrid logical clock is about 2^56), plus invalid ones.
LITERAL_CAS = [(b"0", 3), (b"4611686018427387904", 1), (b"18446744073709551615", 1),
               (b"18446744073709551616", 1), (b"99999999999999999999", 0.5), (b"-1", 1),
               (b"abc", 1), (b"1x", 0.5)]
# Recache thresholds, all far from every TTL generated (100, 3600, 2592000, ~2e8).
RECACHE = [(b"1", 1), (b"30", 1), (b"1000", 1), (b"10000", 1), (b"3000000", 1), (b"-1", 0.5),
           (b"abc", 0.5), (b"99999999999999999999", 0.3), (b"", 0.3)]
OPAQUES = [(b"1", 3), (b"abc", 2), (b"", 1), (b"x" * 31, 0.5), (b"x" * 32, 1), (b"x" * 33, 1),
           (b"o\xffq", 0.3)]
INVALID_FLAG_CHARS = b"aAdeGgHjmnopQrwWxXyYzZ!#0129"
MS_MODES = [(b"E", 2), (b"A", 2), (b"P", 2), (b"R", 2), (b"S", 1), (b"e", 0.5), (b"a", 0.5),
            (b"p", 0.5), (b"r", 0.5), (b"s", 0.5), (b"Z", 0.5), (b"", 0.5), (b"EE", 0.3), (b"1", 0.3)]
MA_MODES = [(b"I", 2), (b"+", 1.5), (b"D", 2), (b"-", 1.5), (b"i", 0.5), (b"d", 0.5), (b"Z", 0.5),
            (b"", 0.5), (b"II", 0.3)]


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.modes = MS_MODES   # the M token's table for the command being generated

    # --- small pieces -----------------------------------------------------------------------
    def chance(self, p):
        return self.r.random() < p

    def key(self):
        return pick(self.r, CLASSIC_KEYS)

    def b64key(self):
        return pick(self.r, B64_KEYS)

    def eol(self):
        return pick(self.r, [(b"\r\n", 20), (b"\n", 2), (b"\r\r\n", 0.2)])

    def random_bytes(self, lo, hi, newline_ok=False):
        n = self.r.randint(lo, hi)
        out = bytearray()
        for _ in range(n):
            c = pick(self.r, [(self.r.randrange(256), 3), (self.r.randrange(32, 127), 5), (0, 0.5), (13, 0.5), (32, 1)])
            if c == 10 and not newline_ok:
                c = 11
            out.append(c)
        return bytes(out)

    def value(self, key=b""):
        if key == b"n" and self.chance(0.6):
            return pick(self.r, NUMERIC_VALUES)
        v = pick(self.r, SMALL_VALUES)
        if v is None:
            v = self.random_bytes(1, 24, newline_ok=True)
            if not v.strip():   # whitespace only: see the module doc
                v += b"w"
        return v

    def ttl(self, bad=0.04):
        return pick(self.r, BAD_TTLS) if self.chance(bad) else pick(self.r, GOOD_TTLS)

    def flags(self, bad=0.04):
        return pick(self.r, BAD_FLAGS) if self.chance(bad) else pick(self.r, GOOD_FLAGS)

    def cas(self):
        if self.chance(0.7):
            return b"{cas:%d}" % pick(self.r, [(0, 5), (1, 3), (2, 2), (3, 1), (7, 0.3)])
        return pick(self.r, LITERAL_CAS)

    def noreply(self):
        return pick(self.r, [(b"noreply", 5), (b"norepl", 0.5), (b"NOREPLY", 0.3), (b"noreply noreply", 0.2)])

    def tokens_line(self, tokens):
        """Join tokens; rarely with odd spacing."""
        sep = b"  " if self.chance(0.03) else b" "
        line = sep.join(tokens)
        if self.chance(0.02):
            line = b" " + line
        if self.chance(0.03):
            line = line + b" "
        return line + self.eol()

    def data_block(self, data):
        """The data block bytes after a storage line: usually data + \\r\\n, sometimes wrong."""
        return data + pick(self.r, [(b"\r\n", 40), (b"\n", 1), (b"", 0.7), (b"\r", 0.5),
                                     (b"X\r\n", 0.7), (b"\r\nX", 0.3), (b"\r\r\n", 0.3)])

    def declared_length(self, data):
        n = len(data)
        if self.chance(0.9):
            return b"%d" % n
        return pick(self.r, [
            (b"%d" % (n + 1), 2), (b"%d" % (n + 4), 1), (b"%d" % max(0, n - 1), 2), (b"%d" % max(0, n - 3), 1),
            (b"-1", 1), (b"abc", 1), (b"3x", 0.5), (b"99999999999999999999", 0.5), (b"2147483647", 0.5),
            (b"2147483646", 0.3), (b"4294967295", 0.3), (b"4294967296", 0.5), (b"%d" % (4294967296 + n), 0.3),
            (b"0%d" % n, 0.3), (b"+%d" % n, 0.3), (b"", 0.3)])

    # --- classic commands -------------------------------------------------------------------
    def storage(self):
        cmd = pick(self.r, [(b"set", 6), (b"add", 2), (b"replace", 2), (b"append", 2), (b"prepend", 2), (b"cas", 3)])
        key = self.key()
        data = self.value(key)
        tokens = [cmd, key, self.flags(), self.ttl(), self.declared_length(data)]
        if cmd == b"cas":
            tokens.append(self.cas())
        if self.chance(0.15):
            tokens.append(self.noreply())
        if self.chance(0.06):   # wrong token counts
            if self.chance(0.5):
                del tokens[self.r.randint(1, len(tokens) - 1):]
            else:
                tokens.insert(self.r.randint(2, len(tokens)), pick(self.r, [(b"0", 1), (b"x", 1), (b"noreply", 1)]))
        if self.chance(0.01):
            tokens[0] = tokens[0].upper()
        return Unit(self.tokens_line(tokens) + self.data_block(data))

    def big_storage(self):
        size = self.r.choice(BIG_SIZES)
        key = pick(self.r, [(b"a", 3), (b"b", 1), (b"K" * 200, 0.5)])
        data = bytes([self.r.choice(b"xyz")]) * size
        kind = self.r.random()
        if kind < 0.55:
            cmd = pick(self.r, [(b"set", 5), (b"append", 1), (b"prepend", 1), (b"add", 0.5), (b"replace", 0.5)])
            line = b"%s %s 0 0 %d%s\r\n" % (cmd, key, size, b" noreply" if self.chance(0.1) else b"")
        elif kind < 0.65:
            line = b"cas %s 0 0 %d %s\r\n" % (key, size, self.cas())
        else:
            flags = self.r.sample([b"T100", b"c", b"F5", b"MA", b"MP", b"q", b"k", b"I"], self.r.randint(0, 2))
            line = b"ms %s %d%s\r\n" % (key, size, b"".join(b" " + f for f in flags))
        return Unit(line + data + b"\r\n", big=True)

    def retrieval(self):
        cmd = pick(self.r, [(b"get", 6), (b"gets", 4), (b"gat", 2), (b"gats", 2)])
        nkeys = pick(self.r, [(0, 0.5), (1, 8), (2, 3), (3, 2), (5, 0.5), (40, 0.2)])
        tokens = [cmd]
        if cmd in (b"gat", b"gats"):
            if self.chance(0.97):
                tokens.append(self.ttl())
        keys = [self.key() for _ in range(nkeys)]
        if keys and self.chance(0.1):
            keys.append(keys[0])
        return Unit(self.tokens_line(tokens + keys))

    def delete(self):
        key = self.key()
        tail = pick(self.r, [([], 8), ([b"noreply"], 3), ([b"0"], 2), ([b"0", b"noreply"], 1), ([b"5"], 1),
                             ([b"junk"], 1), ([b"0", b"0"], 0.5), (None, 0.5)])
        if tail is None:
            return Unit(b"delete" + self.eol())
        return Unit(self.tokens_line([b"delete", key] + tail))

    def arith(self):
        cmd = pick(self.r, [(b"incr", 3), (b"decr", 2)])
        key = pick(self.r, [(b"n", 5), (self.key(), 3)])
        tokens = [cmd, key, pick(self.r, DELTAS)]
        if self.chance(0.15):
            tokens.append(self.noreply())
        if self.chance(0.05):
            del tokens[self.r.randint(1, len(tokens) - 1):]
        return Unit(self.tokens_line(tokens))

    def touch(self):
        tokens = [b"touch", self.key(), self.ttl(bad=0.1)]
        if self.chance(0.15):
            tokens.append(self.noreply())
        if self.chance(0.07):
            del tokens[self.r.randint(1, len(tokens) - 1):]
        return Unit(self.tokens_line(tokens))

    def flush_all(self):
        return Unit(pick(self.r, [
            (b"flush_all", 4), (b"flush_all 0", 2), (b"flush_all noreply", 2), (b"flush_all 0 noreply", 1),
            (b"flush_all -1", 1), (b"flush_all 1000", 1), (b"flush_all 2592000", 0.5),
            (b"flush_all 2000000000", 0.5), (b"flush_all 1000 noreply", 0.5), (b"flush_all 2592001", 0.5),
            (b"flush_all 1000000000", 0.3), (b"flush_all abc", 1),
            (b"flush_all 1000 2", 0.5), (b"flush_all 0 0", 0.3), (b"flush_all noreply extra", 0.3), (b"flush_all 99999999999999999999", 0.3),
        ]) + self.eol())

    def admin(self):
        line = pick(self.r, [
            (b"version", 3), (b"version x", 0.5), (b"VERSION", 0.3),
            (b"verbosity 1", 1), (b"verbosity 0", 1), (b"verbosity", 1), (b"verbosity 1 noreply", 0.5),
            (b"verbosity x", 0.5), (b"verbosity 1 2", 0.5), (b"verbosity 0 noreply extra", 0.3),
            (b"cache_memlimit 64", 0.3), (b"cache_memlimit 100", 0.3), (b"cache_memlimit 1024", 0.2),
            (b"cache_memlimit 7", 0.3), (b"cache_memlimit 0", 0.3), (b"cache_memlimit 1000000001", 0.2),
            (b"cache_memlimit abc", 0.3), (b"cache_memlimit", 0.3), (b"cache_memlimit -1", 0.2),
            (b"cache_memlimit 64 noreply", 0.2), (b"cache_memlimit 4294967296", 0.1),
            (b"shutdown", 0.7), (b"shutdown graceful", 0.3), (b"shutdown now x", 0.2),
            (b"stats bogus", 0.5), (b"stats detail dump", 0.5), (b"stats sizes", 0.5), (b"stats reset", 0.3),
            (b"stats detail off", 0.3), (b"stats detail", 0.3), (b"stats cachedump", 0.2),
            (b"mn", 3), (b"mn foo", 0.5), (b"quit", 0.8), (b"quit now", 0.3),
        ])
        return Unit(line + self.eol())

    def malformed(self):
        kind = self.r.random()
        if kind < 0.45:
            return Unit(pick(self.r, [
                (b"\r\n", 3), (b"\n", 3), (b" \r\n", 2), (b"   \n", 1), (b"\r\r\n", 0.5), (b"\t\r\n", 0.5),
                (b"g\r\n", 1), (b"m\r\n", 1), (b"x\n", 1), (b"foo\r\n", 1), (b"GET a\r\n", 1),
                (b"gett a\r\n", 1), (b"SET a 0 0 1\r\n", 0.5), (b"Mg a v\r\n", 0.5), (b"mx a\r\n", 0.5),
                (b"get\r\n", 1), (b"gets\r\n", 0.5), (b"gat\r\n", 0.5), (b"gat 100\r\n", 0.5),
                (b"gat abc a\r\n", 0.5), (b"mg\r\n", 1), (b"ms\r\n", 0.5), (b"ms a\r\n", 0.5), (b"md\r\n", 0.5),
                (b"ma\r\n", 0.5), (b"me\r\n", 0.5), (b"incr\r\n", 0.5), (b"decr n\r\n", 0.5),
                (b"touch a\r\n", 0.5), (b"set\r\n", 0.5), (b"set a\r\n", 0.5), (b"cas a 0 0 1\r\nx\r\n", 0.5),
                (b"get a\x00b\r\n", 0.3), (b"\x00\r\n", 0.3), (b"get a b c d e f g h i j k l m n o p q r s t u v w x y z\r\n", 0.3),
                (b"get / HTTP/1.1\r\n", 0.5), (b"END\r\n", 0.3), (b"STORED\r\n", 0.3), (b"mg a v\r", 0.3),
            ]))
        if kind < 0.9:
            junk = self.random_bytes(1, 60)
            if junk[0] == 0x80:
                junk = b"j" + junk
            if b"HTTP/" in junk:
                junk = junk.replace(b"HTTP/", b"HTTP_")
            return Unit(junk + pick(self.r, [(b"\r\n", 3), (b"\n", 1)]))
        # a long line (> 2048 bytes) that does end in a newline
        return Unit(pick(self.r, [
            (b"x" * 3000 + b"\r\n", 1), (b"set " + b"k" * 3000 + b" 0 0 1\r\nx\r\n", 1),
            # keys that never hold a big value: 1500 hits of a 1 MB value would be 1.5 GB
            (b"get " + b"foo " * 700 + b"\r\n", 1), (b"gets " + b"n " * 1200 + b"\r\n", 0.5),
            (b"mg " + b"k" * 2100 + b" v\r\n", 0.5), (b"get " + b"k" * 2100 + b"\r\n", 0.5),
            (b" " * 2100 + b"get a\r\n", 0.3), (b"get" + b" " * 2100 + b"a\r\n", 0.3),
        ]))

    # --- meta commands ----------------------------------------------------------------------
    def meta_flags(self, table, n_lo, n_hi):
        flags = [self.meta_flag(table) for _ in range(self.r.randint(n_lo, n_hi))]
        if flags and self.chance(0.05):
            flags.append(self.r.choice(flags))          # duplicated flag
        if self.chance(0.04):
            flags.append(bytes([self.r.choice(INVALID_FLAG_CHARS)]))
        if self.chance(0.02):
            flags += [self.meta_flag(table) for _ in range(self.r.randint(20, 40))]  # too many tokens
        return flags

    def meta_flag(self, table):
        f = pick(self.r, table)
        if f == b"O":
            return b"O" + pick(self.r, OPAQUES)
        if f in (b"N", b"T"):
            return f + self.ttl(bad=0.06)
        if f == b"R":
            return b"R" + pick(self.r, RECACHE)
        if f == b"C":
            return b"C" + self.cas()
        if f == b"F":
            return b"F" + self.flags(bad=0.1)
        if f in (b"D", b"J"):
            return f + pick(self.r, DELTAS)
        if f == b"M":
            return b"M" + pick(self.r, self.modes)
        if f in (b"P", b"L"):
            return f + pick(self.r, [(b"", 1), (b"path/x", 1)])
        if f == b"E":
            return b"E" + pick(self.r, [(b"100", 1), (b"4611686018427387904", 1)])
        if f == b"S":
            return b"S" + pick(self.r, [(b"1", 1), (b"10", 1)])
        return f

    def meta_key(self, flags):
        if b"b" in flags:
            return self.b64key() if self.chance(0.95) else self.key()
        return self.key()

    def with_b(self, flags, p):
        if self.chance(p):
            flags.insert(self.r.randint(0, len(flags)), b"b")
        return flags

    def mg(self):
        self.modes = MS_MODES
        flags = self.with_b(self.meta_flags([
            (b"v", 5), (b"k", 2), (b"c", 3), (b"f", 3), (b"s", 3), (b"t", 3), (b"h", 1.5), (b"l", 1.5),
            (b"u", 1), (b"q", 2), (b"O", 2), (b"N", 1), (b"R", 1), (b"T", 1.5), (b"P", 0.2), (b"L", 0.2),
            (b"E", 0.3), (b"F", 0.1), (b"I", 0.1), (b"M", 0.1), (b"C", 0.1)], 0, 6), 0.12)
        return Unit(self.tokens_line([b"mg", self.meta_key(flags)] + flags))

    def ms(self):
        self.modes = MS_MODES
        flags = self.with_b(self.meta_flags([
            (b"c", 2), (b"C", 2), (b"F", 2), (b"I", 1), (b"k", 1), (b"O", 1.5), (b"q", 1.5), (b"T", 2),
            (b"M", 3), (b"P", 0.2), (b"L", 0.2), (b"S", 0.2), (b"v", 0.2), (b"N", 0.1), (b"E", 0.2)], 0, 5), 0.1)
        key = self.meta_key(flags)
        data = self.value(key)
        return Unit(self.tokens_line([b"ms", key, self.declared_length(data)] + flags) + self.data_block(data))

    def md(self):
        flags = self.with_b(self.meta_flags([
            (b"C", 2), (b"I", 1.5), (b"k", 1), (b"O", 1), (b"q", 1.5), (b"T", 1), (b"x", 0.3),
            (b"P", 0.2), (b"L", 0.2), (b"v", 0.2), (b"E", 0.2)], 0, 4), 0.1)
        return Unit(self.tokens_line([b"md", self.meta_key(flags)] + flags))

    def ma(self):
        self.modes = MA_MODES
        flags = self.with_b(self.meta_flags([
            (b"N", 2), (b"J", 1.5), (b"D", 2), (b"T", 1), (b"M", 2), (b"q", 1.5), (b"t", 1.5), (b"c", 1.5),
            (b"v", 3), (b"k", 1), (b"O", 1), (b"C", 1), (b"P", 0.2), (b"L", 0.2), (b"f", 0.2),
            (b"E", 0.2)], 0, 5), 0.1)
        key = pick(self.r, [(b"n", 4), (None, 3)]) if b"b" not in flags else None
        return Unit(self.tokens_line([b"ma", key or self.meta_key(flags)] + flags))

    def me(self):
        if self.chance(0.15):
            return Unit(self.tokens_line([b"me", self.b64key(), b"b"]))
        tokens = [b"me", self.key()]
        if self.chance(0.05):
            tokens.append(pick(self.r, [(b"x", 1), (b"v", 1), (b"b b", 1)]))
        return Unit(self.tokens_line(tokens))

    # --- the last unit of a case: one that ends the connection's life -----------------------
    def terminal(self):
        kind = pick(self.r, [("http", 3), ("long", 3), ("partial", 3), ("swallow", 3)])
        if kind == "http":
            data = pick(self.r, [
                (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 3), (b"POST /x HTTP/1.0\r\n\r\n", 1),
                (b"foo bar HTTP/1.0\r\n", 1), (b"HEAD / HTTP/1.1\r\n", 1), (b"GET /\r\n", 0.5)])
        elif kind == "long":
            data = pick(self.r, [
                (b"x" * self.r.randint(2049, 3000), 2), (b"get " + b"k " * 1100, 1), (b"gets " + b"k " * 1100, 0.5),
                (b"set " + b"k" * 2100, 1), (b" " * 101 + b"get " + b"k " * 1000, 0.5),
                (b" " * 50 + b"get " + b"k " * 1100, 0.5), (b"x" * 2048, 0.5)])
        elif kind == "partial":
            data = pick(self.r, [
                (b"get a", 2), (b"set a 0 0 1", 1), (b"mg a v", 1), (b"set a 0 0 5\r\nab", 2),
                (b"ms a 5\r\nab", 1), (b"set a 0 0 5\r\n", 1), (b"ms a 3 T100\r\n", 1), (b"get a\r", 1)])
        else:
            data = pick(self.r, [
                (b"set a 0 0 2147483645\r\n", 2), (b"set a 0 0 2000000\r\n" + b"x" * 100, 1),
                (b"ms a 1048577\r\n" + b"x" * 10, 1), (b"append a 0 0 1048577\r\n", 1),
                (b"cas a 0 0 2000000 " + self.cas() + b"\r\n", 0.5), (b"ms a 2147483645 q\r\n", 0.5),
                (b"set a 0 0 1048577 noreply\r\n", 0.5)])
        return Unit(data, terminal=True)

    # --- a whole case -----------------------------------------------------------------------
    UNIT_KINDS = [
        ("storage", 18), ("retrieval", 14), ("delete", 4), ("arith", 6), ("touch", 3), ("mg", 12),
        ("ms", 10), ("md", 4), ("ma", 6), ("me", 2), ("flush_all", 1.2), ("admin", 3), ("malformed", 6),
        ("big_storage", 0.25),
    ]

    def unit(self):
        return getattr(self, pick(self.r, self.UNIT_KINDS))()

    def case(self):
        n = min(25, 1 + int(self.r.expovariate(1 / 6.0)))
        units = [self.unit() for _ in range(n)]
        if self.chance(0.07):
            units.append(self.terminal())
        return batch_units(self.r, units)


def batch_units(rng, units):
    """Group units into 1-4 batches (more when placeholders or big units need a cut)."""
    cuts = set()
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        if len(units) > 1:
            cuts.add(rng.randint(1, len(units) - 1))
    for i, u in enumerate(units):
        if i > 0 and has_placeholder(u) and rng.random() < 0.8 and len(cuts) < 5:
            cuts.add(i)
        if u.big:
            cuts.add(i)
            cuts.add(i + 1)
    return split_at(units, cuts)


def split_at(units, cuts):
    batches, cur, size = [], [], 0
    for i, u in enumerate(units):
        if cur and (i in cuts or size + len(u.data) > SMALL_BATCH_LIMIT):
            batches.append(cur)
            cur, size = [], 0
        cur.append(u)
        size += len(u.data)
    if cur:
        batches.append(cur)
    return batches


def sweep_commands():
    """Commands that touch every key a case can create (see servers.Server.reset)."""
    lines = [b"mg %s\r\n" % k for k, _ in CLASSIC_KEYS]
    lines += [b"mg %s b\r\n" % k for k, _ in B64_KEYS if k and b" " not in k]
    return b"".join(lines) + b"mn\r\n"


def generate_case(seed, index):
    return Gen(random.Random("%s:%d" % (seed, index))).case()
