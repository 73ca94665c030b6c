"""Parsing an answer stream, normalizing what must differ, comparing two streams.

What is normalized, and why (docs/COMPATIBILITY.md says the same):
- CAS values. memcached draws them from one global counter; ringcached from a hybrid logical
  clock (about 2^56). In `VALUE <key> <flags> <bytes> <cas>`, in a meta return flag `c<n>`
  and in `me`'s `cas=<n>`, each non-zero value becomes `<cas#i>`, i being the order in which
  the value first appears in that server's answer to the case. 0 stays `0`: it means "no CAS"
  (e.g. `ms ... c` that did not store answers `c0`), so it must match exactly.
- Times that can differ by a clock tick: the meta return flags `t<n>` (remaining TTL) and
  `l<n>` (seconds since last access), and `me`'s `exp=` and `la=`. They are compared, not
  replaced: two values match when they are within TIME_TOLERANCE seconds of each other, and
  -1 ("never expires") matches only -1. A wrong value (a negative number for an unsigned one,
  4294966983 for -1) is still a difference.
- The version string: `VERSION <anything>` (ringcached says which ringcached it is).

Lines are parsed as a client would: `VALUE ... <bytes>` and `VA <bytes> ...` are followed by a
data block of that many bytes plus \\r\\n, which is never parsed as lines. Anything else is
compared byte for byte.
"""
import difflib
import re

TIME_TOLERANCE = 2
META_CODES = (b"HD", b"EN", b"NF", b"NS", b"EX")
_INT = re.compile(rb"-?\d+\Z")


class Cas:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class Time:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _meta_tokens(toks, out):
    for t in toks:
        out.append(b" ")
        head, rest = t[:1], t[1:]
        if head == b"c" and rest.isdigit():
            out += [b"c", Cas(int(rest))]
        elif head in (b"t", b"l") and _INT.match(rest):
            out += [head, Time(int(rest))]
        else:
            out.append(t)


def parse(stream):
    """The stream as a list of pieces: bytes, Cas or Time."""
    out = []
    pos = 0
    n = len(stream)
    while pos < n:
        nl = stream.find(b"\n", pos)
        if nl < 0:
            out.append(stream[pos:])
            break
        line = stream[pos:nl + 1]
        pos = nl + 1
        if line.endswith(b"\r\n"):
            body, term = line[:-2], b"\r\n"
        else:
            body, term = line[:-1], b"\n"
        toks = body.split(b" ")
        head = toks[0]
        if head == b"VALUE" and len(toks) in (4, 5) and toks[3].isdigit():
            out.append(b" ".join(toks[:4]))
            if len(toks) == 5:
                out += [b" ", Cas(int(toks[4])) if toks[4].isdigit() else toks[4]]
            out.append(term)
            size = int(toks[3]) + 2
            out.append(stream[pos:pos + size])
            pos += size
        elif head == b"VA" and len(toks) >= 2 and toks[1].isdigit():
            out.append(b"VA " + toks[1])
            _meta_tokens(toks[2:], out)
            out.append(term)
            size = int(toks[1]) + 2
            out.append(stream[pos:pos + size])
            pos += size
        elif head in META_CODES:
            out.append(head)
            _meta_tokens(toks[1:], out)
            out.append(term)
        elif head == b"ME" and len(toks) >= 2:
            out.append(b"ME " + toks[1])
            for t in toks[2:]:
                k, eq, v = t.partition(b"=")
                out.append(b" ")
                if eq and k in (b"exp", b"la") and _INT.match(v):
                    out += [k + b"=", Time(int(v))]
                elif eq and k == b"cas" and v.isdigit():
                    out += [b"cas=", Cas(int(v))]
                else:
                    out.append(t)
            out.append(term)
        elif head == b"VERSION":
            out += [b"VERSION <version>", term]
        else:
            out.append(line)
    return out


def cas_values(stream):
    """Distinct non-zero CAS values of the stream, in order of first appearance."""
    seen = {}
    for p in parse(stream):
        if isinstance(p, Cas) and p.value and p.value not in seen:
            seen[p.value] = len(seen)
    return list(seen)


def normalize(stream):
    """Pieces with CAS values numbered, adjacent bytes merged: bytes, or Time."""
    index = {}
    out = []
    run = []   # bytes pieces not yet merged (joined once: += would be quadratic)
    for p in parse(stream):
        if isinstance(p, Cas):
            p = b"0" if p.value == 0 else b"<cas#%d>" % index.setdefault(p.value, len(index))
        if isinstance(p, bytes):
            run.append(p)
            continue
        if run:
            out.append(b"".join(run))
            run = []
        out.append(p)
    if run:
        out.append(b"".join(run))
    return [p for p in out if not (isinstance(p, bytes) and not p)]


def _time_match(a, b):
    if a == -1 or b == -1:
        return a == b
    return abs(a - b) <= TIME_TOLERANCE


def equal(a, b):
    """Compare two normalized streams."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, Time) and isinstance(y, Time):
            if not _time_match(x.value, y.value):
                return False
        elif isinstance(x, Time) or isinstance(y, Time) or x != y:
            return False
    return True


def render(pieces, like=None):
    """Bytes for display; with `like`, a time within tolerance of like's shows like's value."""
    out = bytearray()
    for i, p in enumerate(pieces):
        if isinstance(p, Time):
            v = p.value
            if like is not None and i < len(like) and isinstance(like[i], Time) and _time_match(v, like[i].value):
                v = like[i].value
            out += b"%d" % v
        else:
            out += p
    return bytes(out)


def lines(data):
    return [repr(x) for x in data.splitlines(keepends=True)] or ["b''"]


def diff(a, b, name_a="memcached", name_b="ringcached", limit=40):
    """A short unified diff of two normalized streams, one Python byte literal per line."""
    ra, rb = render(a), render(b, like=a)
    out = list(difflib.unified_diff(lines(ra), lines(rb), name_a, name_b, n=1, lineterm=""))
    if len(out) > limit:
        out = out[:limit] + ["... (%d more diff lines)" % (len(out) - limit)]
    return "\n".join(out)
