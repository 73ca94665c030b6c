"""The table of accepted differences (default: scripts/difftest-known.txt).

The file is INI (configparser). Each section is one accepted difference:

    [name-of-the-difference]
    reason = why ringcached keeps answering differently from memcached 1.6.18
    units = regex searched in the case's units, one Python byte literal per line
    memcached = regex searched in memcached's normalized answer (a Python byte literal)
    ringcached = regex searched in ringcached's normalized answer (a Python byte literal)

`reason` is required and at least one of units/memcached/ringcached; every one given must
match (re.search, on the minimized case when minimization is on). Write regexes against the
printed forms, e.g. `units = ^b'ms [^']* MA` or `ringcached = SERVER_ERROR`.
"""
import configparser
import re

FIELDS = ("units", "memcached", "ringcached")


class Known:
    def __init__(self, name, reason, patterns):
        self.name = name
        self.reason = reason
        self.patterns = patterns

    def matches(self, texts):
        return all(p.search(texts[f]) for f, p in self.patterns.items())


def load(path):
    parser = configparser.ConfigParser(interpolation=None)
    with open(path) as f:
        parser.read_file(f)
    table = []
    for name in parser.sections():
        sec = parser[name]
        if not sec.get("reason", "").strip():
            raise ValueError("%s: [%s] has no reason" % (path, name))
        patterns = {f: re.compile(sec[f], re.M | re.S) for f in FIELDS if sec.get(f, "").strip()}
        if not patterns:
            raise ValueError("%s: [%s] needs at least one of %s" % (path, name, ", ".join(FIELDS)))
        table.append(Known(name, sec["reason"].strip(), patterns))
    return table


def match(table, texts):
    """texts: {'units': ..., 'memcached': ..., 'ringcached': ...}. The first matching entry."""
    for k in table:
        if k.matches(texts):
            return k
    return None
