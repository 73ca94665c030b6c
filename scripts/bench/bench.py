#!/usr/bin/env python3
"""ringcached vs memcached, side by side, driven by memcaslap (run through scripts/bench.sh).

Each measured run starts a fresh server (same flags for both: -t, -m, -U 0 on 127.0.0.1), runs one
memcaslap for a fixed time, reads the server's CPU time from /proc/PID/stat before and after, and
stops the server. ringcached and memcached alternate run by run (the order flips every round), and
every figure in the table is the median over the rounds.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import memload  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# name, memcaslap config file, extra memcaslap flags
WORKLOADS = {
    "90/10": ("get90-set10.cfg", []),
    "50/50": ("get50-set50.cfg", []),
    "4KB 90/10": ("get90-set10-4k.cfg", []),
    "mget10 90/10": ("get90-set10.cfg", ["--division=10"]),
}
# mode name -> (server threads, memcaslap threads, pinned?)
MODES = {
    "t1 pinned": (1, 1, True),
    "t2": (2, 2, False),
}
SERVER_CPU, CLIENT_CPU = 0, 1
HEADLINE = ("t1 pinned", "90/10", 16)


def plan(quick):
    """The (mode, workload, conns) cells of the table, in order."""
    if quick:
        return [("t1 pinned", "90/10", 16)]
    cells = [("t1 pinned", w, c) for w in WORKLOADS for c in (4, 16, 64)]
    cells += [("t2", "90/10", c) for c in (4, 16, 64)]
    cells += [("t2", w, 16) for w in ("50/50", "4KB 90/10", "mget10 90/10")]
    return cells


RUN_RE = re.compile(r"Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)")
TOTAL_RE = re.compile(r"Total Statistics \((\d+) events\)\s*\n\s*Min:\s*(\d+)\s*\n\s*Max:\s*(\d+)\s*\n\s*Avg:\s*(\d+)")
MISS_RE = re.compile(r"^get_misses: (\d+)", re.M)


def parse_memcaslap(out):
    run = RUN_RE.search(out)
    total = TOTAL_RE.search(out)
    if not run or not total:
        raise RuntimeError("cannot parse memcaslap output:\n" + out[-2000:])
    miss = MISS_RE.search(out)
    return {
        "runtime": float(run.group(1)), "ops": int(run.group(2)), "tps": int(run.group(3)),
        "events": int(total.group(1)), "lat_max": int(total.group(3)), "lat_avg": int(total.group(4)),
        "get_misses": int(miss.group(1)) if miss else None,
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run_once(opts, kind, mode, workload, conns, log_dir):
    server_threads, client_threads, pinned = MODES[mode]
    cfg, extra = WORKLOADS[workload]
    binary = opts.ringcached if kind == "ringcached" else opts.memcached
    background = common.wait_quiet(opts)
    server = common.Server(kind, binary, server_threads, opts.memory, cpu=SERVER_CPU if pinned else None,
                           log_dir=log_dir)
    try:
        cmd = ["memcaslap", "-s", f"127.0.0.1:{server.port}", "-F", os.path.join(HERE, cfg),
               "-t", f"{opts.duration}s", "-S", f"{opts.duration}s",
               "-T", str(client_threads), "-c", str(conns)] + extra
        if pinned:
            cmd = ["taskset", "-c", str(CLIENT_CPU)] + cmd
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_before = server.cpu_seconds()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=opts.duration * 6 + 60)
        cpu_after = server.cpu_seconds()
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = proc.stdout.decode(errors="replace")
        result = parse_memcaslap(out)
        alive = server.alive()
        result["crashed"] = None if alive else server.exit_description()
        if cpu_after is not None and alive:
            server_cpu = cpu_after - cpu_before
            result["cpu_us_per_op"] = server_cpu * 1e6 / max(result["ops"], 1)
            result["server_busy"] = server_cpu / result["runtime"]
        else:
            result["cpu_us_per_op"] = None
            result["server_busy"] = None
        client_cpu = (children_after.ru_utime + children_after.ru_stime
                      - children_before.ru_utime - children_before.ru_stime)
        result["client_busy"] = client_cpu / result["runtime"]
        result["loadavg"] = loadavg()
        result["background"] = background
        if result["crashed"]:
            result["log_tail"] = server.tail_log()
        return result
    finally:
        server.stop()


def fmt(v, spec):
    if v is None:
        width = re.match(r"\d*", spec).group(0)
        return "-".rjust(int(width) if width else 1)
    return format(v, spec)


def pct(v, width):
    return ("-" if v is None else f"{100 * v:.0f}%").rjust(width)


def print_table(cells, results, out):
    header = (f"{'mode':<10} {'workload':<13} {'conns':>5} | {'rc ops/s':>9} {'mc ops/s':>9} {'ratio':>5} | "
              f"{'rc avg':>6} {'mc avg':>6} {'rc max':>6} {'mc max':>6} (us) | "
              f"{'rc cpu':>6} {'mc cpu':>6} (us/op) | {'rc busy':>7} {'mc busy':>7} {'client':>6} {'others':>6}")
    print(header, file=out)
    print("-" * len(header), file=out)
    for cell in cells:
        mode, workload, conns = cell
        rc = results.get(cell + ("ringcached",), [])
        mc = results.get(cell + ("memcached",), [])

        def m(runs, key):
            return common.median([r[key] for r in runs])

        rc_tps, mc_tps = m(rc, "tps"), m(mc, "tps")
        ratio = rc_tps / mc_tps if rc_tps and mc_tps else None
        client = common.median([r["client_busy"] for r in rc + mc])
        line = (f"{mode:<10} {workload:<13} {conns:>5} | {fmt(rc_tps, '9.0f')} {fmt(mc_tps, '9.0f')} "
                f"{fmt(ratio, '5.2f')} | {fmt(m(rc, 'lat_avg'), '6.0f')} {fmt(m(mc, 'lat_avg'), '6.0f')} "
                f"{fmt(m(rc, 'lat_max'), '6.0f')} {fmt(m(mc, 'lat_max'), '6.0f')}      | "
                f"{fmt(m(rc, 'cpu_us_per_op'), '6.2f')} {fmt(m(mc, 'cpu_us_per_op'), '6.2f')}         | "
                f"{pct(m(rc, 'server_busy'), 7)} {pct(m(mc, 'server_busy'), 7)} {pct(client, 6)} "
                f"{pct(common.median([r['background'] for r in rc + mc]), 6)}")
        crashes = sum(1 for r in rc if r["crashed"])
        if crashes:
            line += f"  [ringcached died in {crashes}/{len(rc)} runs]"
        misses = [r["get_misses"] for r in rc + mc if r["get_misses"]]
        if misses:
            line += f"  [get misses: {sum(misses)}]"
        print(line, file=out)


def memory_test(opts, kind, log_dir):
    binary = opts.ringcached if kind == "ringcached" else opts.memcached
    server = common.Server(kind, binary, 1, opts.memory_test_mb, log_dir=log_dir)
    try:
        start_kb = server.start_rss_kb
        seconds, unexpected = memload.load(server.port, opts.items, 100)
        time.sleep(1.0)  # let background work (memcached's hash table expansion) settle
        client = common.Client(server.port)
        stats = client.stats()
        loaded_kb = common.rss_kb(server.pid)
        client.close()
        items = int(stats.get("curr_items", 0))
        return {
            "start_rss_kb": start_kb, "loaded_rss_kb": loaded_kb, "items": items,
            "load_seconds": seconds, "unexpected": unexpected[:200].decode(errors="replace"),
            "bytes_per_item": (loaded_kb - start_kb) * 1024 / items if items else None,
            "evictions": stats.get("evictions"),
        }
    finally:
        server.stop()


def print_memory(mem, opts, out):
    print(f"memory: {opts.items} items, 32-byte keys, 100-byte values, -t 1 -m {opts.memory_test_mb}; "
          f"RSS = VmRSS after loading minus VmRSS right after start", file=out)
    print(f"{'server':<11} {'start RSS':>10} {'loaded RSS':>11} {'curr_items':>10} {'bytes/item':>10} {'load s':>6}",
          file=out)
    for kind in ("ringcached", "memcached"):
        r = mem.get(kind)
        if not r:
            continue
        print(f"{kind:<11} {r['start_rss_kb']:>8}kB {r['loaded_rss_kb']:>9}kB {r['items']:>10} "
              f"{fmt(r['bytes_per_item'], '10.1f')} {r['load_seconds']:>6.1f}", file=out)
        if r["items"] != opts.items:
            print(f"  warning: {kind} holds {r['items']} of {opts.items} items (evictions {r['evictions']})", file=out)
        if r["unexpected"]:
            print(f"  warning: {kind} answered the noreply load with: {r['unexpected']!r}", file=out)
    rc, mc = mem.get("ringcached"), mem.get("memcached")
    if rc and mc and rc["bytes_per_item"] and mc["bytes_per_item"]:
        print(f"memory bytes/item ratio ringcached/memcached {rc['bytes_per_item'] / mc['bytes_per_item']:.2f}",
              file=out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one round of the headline workload only")
    p.add_argument("--memory-only", action="store_true", help="only the 1,000,000-item memory comparison")
    p.add_argument("--no-memory", action="store_true", help="skip the memory comparison")
    p.add_argument("--rounds", type=int, help="rounds per cell (median reported); default 3, or 1 with --quick")
    p.add_argument("--headline-rounds", type=int,
                   help="rounds of the headline cell (pinned 90/10 c16); default 9, or --rounds with --quick")
    p.add_argument("--duration", type=int, default=5, help="seconds per memcaslap run; default 5")
    p.add_argument("--memory", type=int, default=1024, help="-m for the throughput runs (MB); default 1024")
    p.add_argument("--memory-test-mb", type=int, default=1024, help="-m for the memory test (MB); default 1024")
    p.add_argument("--items", type=int, default=1_000_000, help="items for the memory test")
    p.add_argument("--ringcached", default=os.environ.get("RINGCACHED", ".build/release/ringcached"))
    p.add_argument("--memcached", default=os.environ.get("MEMCACHED", "/usr/bin/memcached"))
    p.add_argument("--json", help="also write every run's raw figures here")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                   help="before each run wait up to this long for other programs to use under --quiet "
                        "of the CPU (default 0: measure it, don't wait)")
    p.add_argument("--quiet", type=float, default=0.15, help="see --wait-quiet; a fraction, default 0.15")
    p.add_argument("--only", action="append", metavar="WORKLOAD[@CONNS]",
                   help="measure only these cells of the full table, e.g. '4KB 90/10@64' (repeatable; "
                        "implies --no-memory); the headline line then reads n/a unless the headline cell is in")
    opts = p.parse_args()
    if opts.rounds is None:
        opts.rounds = 1 if opts.quick else 3
    if opts.headline_rounds is None:
        opts.headline_rounds = opts.rounds if opts.quick else max(opts.rounds, 9)
    if opts.quick:
        opts.no_memory = True

    log_dir = tempfile.mkdtemp(prefix="ringcache-bench-")
    report = sys.stdout
    started = time.time()
    load_start = open("/proc/loadavg").read().strip()
    print(f"bench: ringcached={opts.ringcached} memcached={opts.memcached} logs={log_dir}", file=sys.stderr)

    cells = [] if opts.memory_only else plan(opts.quick)
    if opts.only:
        opts.no_memory = True
        wanted = [w.rsplit("@", 1) if "@" in w else (w, None) for w in opts.only]
        for name, _ in wanted:
            if name not in WORKLOADS:
                p.error(f"--only: unknown workload {name!r}; one of {', '.join(WORKLOADS)}")
        cells = [c for c in cells if any(c[1] == name and (conns is None or c[2] == int(conns)) for name, conns in wanted)]
    results = {}
    headline = [c for c in cells if c == HEADLINE]
    total = 2 * (len(cells) * opts.rounds + len(headline) * max(0, opts.headline_rounds - opts.rounds))
    done = 0
    max_load = loadavg()
    for round_index in range(max(opts.rounds, opts.headline_rounds if headline else 0)):
        # Extra rounds, past --rounds, measure the headline cell only.
        for cell_index, cell in enumerate(cells if round_index < opts.rounds else headline):
            order = ["ringcached", "memcached"]
            if (round_index + cell_index) % 2:
                order.reverse()
            for kind in order:
                done += 1
                r = run_once(opts, kind, *cell, log_dir)
                max_load = max(max_load, r["loadavg"])
                results.setdefault(cell + (kind,), []).append(r)
                note = f" [{kind} {r['crashed']}]" if r["crashed"] else ""
                print(f"[{done}/{total}] {cell[0]} {cell[1]} c{cell[2]} {kind}: {r['tps']} ops/s, "
                      f"avg {r['lat_avg']}us, cpu {fmt(r['cpu_us_per_op'], '.2f')}us/op, "
                      f"others {100 * r['background']:.0f}%{note}", file=sys.stderr)

    mem = {}
    if not opts.no_memory:
        for kind in ("ringcached", "memcached"):
            print(f"memory: loading {opts.items} items into {kind}...", file=sys.stderr)
            mem[kind] = memory_test(opts, kind, log_dir)

    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"cells": cells, "runs": {"|".join(map(str, k)): v for k, v in results.items()},
                       "memory": mem, "options": vars(opts)}, f, indent=1)

    print(f"ringcached vs memcached {subprocess.run([opts.memcached, '-V'], capture_output=True, text=True).stdout.strip()}; "
          f"memcaslap {opts.duration}s per run, median of {opts.rounds} round(s) ({opts.headline_rounds} for the headline); "
          f"-m {opts.memory}; wait-quiet {opts.wait_quiet:g}s; 't1 pinned' = server -t 1 on CPU {SERVER_CPU}, memcaslap -T 1 on CPU {CLIENT_CPU}; "
          f"'t2' = server -t 2, memcaslap -T 2, unpinned", file=report)
    print(f"load average at start: {load_start}; highest 1-min load seen: {max_load:.2f}; "
          f"took {time.time() - started:.0f}s", file=report)
    if mem:
        print_memory(mem, opts, report)
    if cells:
        print("ops/s = memcaslap TPS (a 10-key multi-get counts 10); avg/max = memcaslap latency per command; "
              "cpu = server utime+stime per op; busy = server CPU / run time; client = memcaslap CPU / run time; "
              "others = share of the whole machine's CPU other programs used just before the runs",
              file=report)
        print_table(cells, results, report)
        runs = [r for rs in results.values() for r in rs]
        noisy = sum(1 for r in runs if r["background"] > 0.25)
        if noisy:
            print(f"noise: other programs used over 25% of the machine just before {noisy} of {len(runs)} runs; "
                  f"those runs compare two starved processes, not two servers", file=report)
        rc_runs, mc_runs = results.get(HEADLINE + ("ringcached",), []), results.get(HEADLINE + ("memcached",), [])
        if rc_runs and mc_runs:
            wins = sum(1 for a, b in zip(rc_runs, mc_runs) if a["tps"] > b["tps"])
            print(f"headline runs, round by round (ops/s, others' CPU share), ringcached ahead in {wins} of "
                  f"{len(rc_runs)}: "
                  + "; ".join(f"rc {a['tps']} ({100 * a['background']:.0f}%) mc {b['tps']} ({100 * b['background']:.0f}%)"
                              for a, b in zip(rc_runs, mc_runs)), file=report)
        rc = common.median([r["tps"] for r in rc_runs])
        mc = common.median([r["tps"] for r in mc_runs])
        print(f"headline 90/10 c16 ratio {rc / mc:.2f}" if rc and mc else "headline 90/10 c16 ratio n/a", file=report)


if __name__ == "__main__":
    main()
