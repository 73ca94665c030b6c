#!/usr/bin/python3
"""Differential fuzzer: the same bytes to memcached 1.6.18 and to ringcached, answers compared.

Starts memcached and ringcached once, with the same flags (-U 0 -t 4 -m 64 -c 1024 -I 1m on free
127.0.0.1 ports), generates seeded random cases over a small key space (classic and meta commands
with their flags, noreply and q, pipelined batches, malformed input), runs every case on a fresh
connection to each server after a `flush_all` on a control connection, and compares the two
answers byte for byte after normalizing only what must differ (CAS values, clock-tick jitter in
TTLs and ages, the version string: see scripts/difftest/answers.py). A differing case is rerun,
then minimized by delta debugging, and printed with both answers and a diff. Accepted differences
are listed in scripts/difftest-known.txt (format in scripts/difftest/known.py).

The same seed always generates the same cases, so a run on a fixed seed is deterministic and any
difference can be replayed. docs/COMPATIBILITY.md describes the method and records the results.

Usage:
  scripts/difftest.py                        # 300 cases, seed 1 (what scripts/test.sh runs)
  scripts/difftest.py --cases 10000 --seed random
  scripts/difftest.py --seed 1 --replay 17   # one case, verbosely: bytes sent, both answers
  scripts/difftest.py --against memcached    # calibration: memcached vs a second memcached

Options:
  --cases N          number of cases (default 300)
  --seed S|random    seed of the case generator (default 1); the seed used is printed
  --ringcached PATH  default: $RINGCACHED_BIN, else .build/release/ringcached of this checkout
  --memcached PATH   default /usr/bin/memcached
  --against memcached|ringcached
                     the second server (default ringcached); `memcached` starts a second
                     memcached, which must show no difference at all
  --replay CASE      run case CASE of the seed alone, printing bytes sent and both answers
  --no-minimize      report differing cases whole
  --max-runs N       minimization runs per difference (default 200)
  --known FILE       accepted differences (default scripts/difftest-known.txt)
  -v                 print every case's outcome

Exit status: 0 no unexplained difference, 1 some (or interrupted), 2 setup failure.
"""
import argparse
import collections
import os
import random
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from difftest import answers, known, minimize, servers, session  # noqa: E402
from difftest.generator import generate_case, show_bytes, sweep_commands  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_KNOWN = os.path.join(ROOT, "scripts", "difftest-known.txt")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--seed", default="1")
    ap.add_argument("--ringcached", default=os.environ.get("RINGCACHED_BIN")
                    or os.path.join(ROOT, ".build", "release", "ringcached"))
    ap.add_argument("--memcached", default="/usr/bin/memcached")
    ap.add_argument("--against", choices=["ringcached", "memcached"], default="ringcached")
    ap.add_argument("--replay", type=int, metavar="CASE")
    ap.add_argument("--no-minimize", action="store_true")
    ap.add_argument("--max-runs", type=int, default=200)
    ap.add_argument("--known", default=DEFAULT_KNOWN)
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args()


class Pair:
    """The two servers; runs a case on both at once."""

    def __init__(self, a, b):
        self.servers = [a, b]
        self.names = [a.name, b.name]
        self.sweep = sweep_commands()

    def start(self):
        for s in self.servers:
            s.start()

    def stop(self):
        for s in self.servers:
            s.stop()

    def run(self, batches):
        for s in self.servers:
            if not s.alive():
                s.start()
            s.reset(self.sweep)
        outcomes = [None, None]

        def one(i):
            try:
                outcomes[i] = session.run(self.servers[i].port, batches)
            except OSError as e:   # e.g. the server refused the connection: that is an answer too
                outcomes[i] = session.Outcome(b"<connect failed: %s>" % str(e).encode(), False, 0, [])

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        data = b"".join(u.data for batch in batches for u in batch)
        for s, o in zip(self.servers, outcomes):
            if not s.alive():
                o.answer += b"<%s exited with status %s>" % (s.name.encode(), str(s.proc.poll()).encode())
                s.start()
                continue
            # cases must not see each other: undo the settings a case may have changed
            if b"cache_memlimit" in data:
                s.command(b"cache_memlimit 64\r\n")
            if b"verbosity" in data:
                s.command(b"verbosity 0\r\n")
        return outcomes

    def compare(self, batches):
        outs = self.run(batches)
        norm = [answers.normalize(o.stream()) for o in outs]
        return outs, norm, answers.equal(norm[0], norm[1])


def units_text(batches):
    return "\n".join(show_bytes(u.data) for batch in batches for u in batch)


def print_batches(batches, indent="  ", out=sys.stdout):
    for i, batch in enumerate(batches):
        print("%sbatch %d:" % (indent, i + 1), file=out)
        for u in batch:
            print("%s  %s" % (indent, show_bytes(u.data)), file=out)


def print_answer(name, pieces, like=None, indent="  "):
    print("%s%s answered:" % (indent, name))
    for line in answers.lines(answers.render(pieces, like)):
        print("%s  %s" % (indent, line))


def first_difference(na, nb):
    la = answers.lines(answers.render(na))
    lb = answers.lines(answers.render(nb, like=na))
    for x, y in zip(la, lb):
        if x != y:
            return x, y
    return (la[len(lb)] if len(la) > len(lb) else "<end>"), (lb[len(la)] if len(lb) > len(la) else "<end>")


def signature(batches, na, nb):
    """Groups differences of the same kind, for the summary (a heuristic, not a verdict).

    Two families of memcached behaviour show up in many shapes, so they are grouped by what
    triggers them; anything else by its minimized commands and first differing line.
    """
    units = [u.data for batch in batches for u in batch]
    ra, rb = answers.render(na), answers.render(nb, like=na)
    for u in units:
        line = u.split(b"\n", 1)[0]
        toks = (line[:-1] if line.endswith(b"\r") else line).split(b" ")
        if toks[0] in (b"get", b"gets", b"gat", b"gats") and any(len(t) > 250 for t in toks[1:]):
            return ("<a get/gets/gat/gats with a key over 250 bytes>", "", "")
    if len(rb) > len(ra) and rb.startswith(ra):
        last = units[-1]
        if b"HTTP/" in last:
            how = "closed on an HTTP request line"
        elif len(last) > 2048 and b"\n" not in last:
            how = "closed on a line over 2048 bytes"
        else:
            how = "connection ended inside a value (read or swallowed)"
        return ("<%s answered a prefix of %s's answer: %s>" % ("A", "B", how), "", "")
    verbs = []
    for u in units:
        tok = u.split(None, 1)[0] if u.split() else b"<blank>"
        verbs.append(tok.decode() if re.fullmatch(rb"[a-z_]{1,16}", tok) else "<junk>")
    x, y = first_difference(na, nb)
    mask = lambda s: re.sub(r"\d+", "N", s)[:100]  # noqa: E731
    return " ".join(verbs), mask(x), mask(y)


def main():
    args = parse_args()
    seed = str(random.SystemRandom().randrange(1, 2 ** 31)) if args.seed == "random" else args.seed
    if args.replay is None:
        print("difftest: seed %s, %d cases (replay one with --seed %s --replay N)" % (seed, args.cases, seed), flush=True)
    a = servers.Server("memcached", args.memcached, True)
    if args.against == "memcached":
        b = servers.Server("memcached#2", args.memcached, True)
    else:
        b = servers.Server("ringcached", args.ringcached, False)
    try:
        # calibration accepts no difference at all
        table = known.load(args.known) if os.path.exists(args.known) and args.against == "ringcached" else []
    except (OSError, ValueError) as e:
        print("difftest: %s" % e, file=sys.stderr)
        return 2
    pair = Pair(a, b)
    signal.signal(signal.SIGTERM, signal.default_int_handler)   # like Ctrl-C: summary, stop, exit 1
    try:
        try:
            pair.start()
        except servers.SetupError as e:
            print("difftest: setup failed: %s" % e, file=sys.stderr)
            return 2
        if args.replay is not None:
            return replay(pair, seed, args.replay, args, table)
        return run_all(pair, seed, args, table)
    except KeyboardInterrupt:
        print("difftest: interrupted", file=sys.stderr)
        return 1
    except servers.SetupError as e:
        print("difftest: %s" % e, file=sys.stderr)
        return 2
    finally:
        pair.stop()


def shrink(pair, batches, args):
    if args.no_minimize:
        return batches, 0
    return minimize.minimize(batches, lambda c: not pair.compare(c)[2], args.max_runs)


def report(pair, seed, index, original, batches, runs, outs, norm, verdict):
    print("=== %s: seed %s case %d (%d units, minimized to %d in %d runs)" % (
        verdict, seed, index, sum(map(len, original)), sum(map(len, batches)), runs))
    print("  replay: scripts/difftest.py --seed %s --replay %d" % (seed, index))
    print("  sent (%s):" % ("minimized" if runs else "whole case"))
    print_batches(batches, indent="    ")
    print_answer(pair.names[0], norm[0])
    print_answer(pair.names[1], norm[1], like=norm[0])
    if outs[0].fences_missed or outs[1].fences_missed:
        print("  fences not answered: %s %d, %s %d" % (pair.names[0], outs[0].fences_missed,
                                                       pair.names[1], outs[1].fences_missed))
    print("  diff:")
    for line in answers.diff(norm[0], norm[1], pair.names[0], pair.names[1]).splitlines():
        print("    " + line)
    sys.stdout.flush()


def run_all(pair, seed, args, table):
    started = time.monotonic()
    counts = collections.Counter()
    kinds = collections.OrderedDict()
    interrupted = False
    try:
        for i in range(args.cases):
            if i and i % 1000 == 0 and not args.verbose:
                print("difftest: %d cases done, %.0f s" % (i, time.monotonic() - started), file=sys.stderr, flush=True)
            batches = generate_case(seed, i)
            outs, norm, same = pair.compare(batches)
            if any(o.timed_out for o in outs):
                counts["timeouts"] += 1
            if same:
                counts["equal"] += 1
                if args.verbose:
                    print("case %d: equal" % i, flush=True)
                continue
            outs2, norm2, same2 = pair.compare(batches)
            if same2:
                # Equal on the rerun. If the reference server itself answered differently the
                # second time, the nondeterminism is its own (memcached reading stale slab
                # memory, say): reported, but it does not fail the run. If only the server
                # under test changed its answer, that is a bug of ours and fails the run.
                if answers.render(norm[0]) != answers.render(norm2[0]):
                    verdict = "FLAKY in %s (its own answer changed on the rerun; not counted against %s)" % (
                        pair.names[0], pair.names[1])
                    counts["reference_flaky"] += 1
                else:
                    verdict = "FLAKY (differed once, equal on the rerun)"
                    counts["flaky"] += 1
                small, runs = batches, 0
            else:
                small, runs = shrink(pair, batches, args)
                outs, norm, same = pair.compare(small)
                if same:   # the minimized case stopped differing: report the whole one
                    small, runs = batches, 0
                    outs, norm = outs2, norm2
                texts = {"units": units_text(small), "memcached": repr(answers.render(norm[0])),
                         "ringcached": repr(answers.render(norm[1], like=norm[0]))}
                hit = known.match(table, texts)
                if hit:
                    counts["known"] += 1
                    if args.verbose:
                        print("case %d: known difference [%s]" % (i, hit.name), flush=True)
                    continue
                verdict = "DIFFERENCE"
                counts["differing"] += 1
            sig = signature(small, norm[0], norm[1])
            kinds.setdefault(sig, []).append(i)
            report(pair, seed, i, batches, small, runs, outs, norm, verdict)
    except KeyboardInterrupt:
        interrupted = True
    elapsed = time.monotonic() - started
    done = sum(counts[k] for k in ("equal", "differing", "known", "flaky", "reference_flaky"))
    print("difftest: seed %s, %s vs %s: %d cases in %.1f s: %d equal, %d differing (unexplained), "
          "%d known, %d flaky, %d flaky in %s, %d with a timeout%s" % (
              seed, pair.names[0], pair.names[1], done, elapsed, counts["equal"], counts["differing"],
              counts["known"], counts["flaky"], counts["reference_flaky"], pair.names[0], counts["timeouts"],
              " (interrupted)" if interrupted else ""))
    if kinds:
        print("kinds of difference, by number of cases (minimized commands / first differing line):")
        for (verbs, x, y), cases in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
            verbs = verbs.replace("<A", "<" + pair.names[0]).replace("of B's", "of %s's" % pair.names[1])
            print("  %4d  %s" % (len(cases), verbs))
            if x or y:
                print("        %s: %s\n        %s: %s" % (pair.names[0], x, pair.names[1], y))
            print("        cases %s" % (" ".join(map(str, cases[:12])) + (" ..." if len(cases) > 12 else "")))
    if interrupted:
        raise KeyboardInterrupt
    return 1 if counts["differing"] or counts["flaky"] else 0


def replay(pair, seed, index, args, table):
    batches = generate_case(seed, index)
    print("seed %s case %d: %d units in %d batches" % (seed, index, sum(map(len, batches)), len(batches)))
    print_batches(batches)
    outs, norm, same = pair.compare(batches)
    for name, o, n in zip(pair.names, outs, norm):
        print("%s:" % name)
        for i, data in enumerate(o.sent):
            print("  sent, batch %d%s: %s" % (i + 1, "" if i + 1 == len(o.sent) else " (+ fence)", show_bytes(data)))
        print("  fences not answered: %d%s" % (o.fences_missed, ", timed out" if o.timed_out else ""))
        print("  raw answer:")
        for line in answers.lines(o.stream()):
            print("    " + line)
    print_answer(pair.names[0], norm[0])
    print_answer(pair.names[1], norm[1], like=norm[0])
    if same:
        print("equal")
        return 0
    print("diff:")
    print(answers.diff(norm[0], norm[1], pair.names[0], pair.names[1]))
    small, runs = shrink(pair, batches, args)
    outs, norm, same = pair.compare(small)
    if same:
        small, runs = batches, 0
        outs, norm, same = pair.compare(small)
    elif runs:
        report(pair, seed, index, batches, small, runs, outs, norm, "DIFFERENCE")
    hit = known.match(table, {"units": units_text(small), "memcached": repr(answers.render(norm[0])),
                              "ringcached": repr(answers.render(norm[1], like=norm[0]))})
    if hit:
        print("known difference [%s]: %s" % (hit.name, hit.reason))
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
