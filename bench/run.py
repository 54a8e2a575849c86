#!/usr/bin/env python3
"""Runs every benchmark of bench/README.md, ours beside its peer, and writes BENCHMARKS.md.

Started by bench/run.sh (which makes the virtualenv and builds the release binaries):

    bench/.venv/bin/python bench/run.py [--sf 1|10] [--rounds 2] [--reps 5] [--pair-procs 2]
                                        [--pair-reps 40] [--no-callgrind] [--no-sf10-latency]

Each measurement runs in a child process of its own: `target/release/rollout-bench` for ours
and for plain DataFusion, `bench/peers.py` for DuckDB and scipy. Sides alternate round by
round (ours, peer, ours, peer, ...) so that both see the same machine; each child does one
untimed warm-up and `--reps` timed repetitions. A figure is the median of all timed
repetitions of its side; its peak RSS is the largest ru_maxrss (wait4) of its processes.
TPC-H Q1/Q6 against DataFusion are paired in one process instead (`rollout-bench paired`;
see bench/README.md for why).
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BENCH = os.path.join(TARGET, "release", "rollout-bench")
SHELL = os.path.join(TARGET, "release", "rollout")
SCHEDULER = os.path.join(TARGET, "release", "rollout-scheduler")
EXECUTOR = os.path.join(TARGET, "release", "rollout-executor")
PY = sys.executable
PEERS = os.path.join(HERE, "peers.py")


def markers(sf):
    """The generated block's markers in BENCHMARKS.md: one block per scale factor, so that an
    `--sf 10` run keeps the SF1 table (and the reverse)."""
    if sf == 1:
        return "<!-- bench:begin (written by bench/run.sh) -->", "<!-- bench:end -->"
    return (f"<!-- bench:begin sf{sf:g} (written by bench/run.sh --sf {sf:g}) -->",
            f"<!-- bench:end sf{sf:g} -->")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def child(cmd):
    """Runs cmd, returns (parsed JSON of its stdout, peak RSS in bytes, wall seconds)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = p.stdout.read()
    p.stdout.close()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return (json.loads(out) if out.strip() else None), ru.ru_maxrss * 1024, wall


class Side:
    def __init__(self, name):
        self.name = name
        self.times = []
        self.rss = 0
        self.rows = None

    def add(self, result, rss):
        self.times += result["times"]
        self.rss = max(self.rss, rss)
        self.rows = result.get("rows")

    @property
    def median(self):
        return statistics.median(self.times)


def alternate(rounds, sides):
    """sides: {name: cmd}; runs them in turn `rounds` times, each round starting with the next
    side (ours, peer / peer, ours / ...), so that no side always runs first, right after a
    different benchmark or the build."""
    out = {name: Side(name) for name in sides}
    order = list(sides.items())
    for r in range(rounds):
        k = r % len(order)
        for name, cmd in order[k:] + order[:k]:
            res, rss, _ = child(cmd)
            out[name].add(res, rss)
            log(f"  round {r + 1}: {name:11} median {statistics.median(res['times']):.4f}s  rss {rss / 2**20:.0f} MiB")
    return out


def ratio_ci(ours, peer, resamples=2000):
    """95% bootstrap interval of median(ours) / median(peer), resampling the pairs together
    (each pair ran back to back, so it keeps what the machine did at that moment)."""
    rng = random.Random(42)
    n = len(ours)
    ratios = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        ratios.append(statistics.median(ours[i] for i in idx) / statistics.median(peer[i] for i in idx))
    ratios.sort()
    return ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def instructions(q, side, data):
    """Instructions one query executes (valgrind's callgrind: a count, not a time, so the
    machine's noise does not move it): a run of 3 timed repetitions minus a run of 1, halved,
    both after the same warm-up, so that start-up and opening cancel out. None without valgrind."""
    counts = []
    for reps in (1, 3):
        with tempfile.TemporaryDirectory(prefix="rollout-bench-callgrind-") as tmp:
            cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out",
                   BENCH, "query", q, "--dir", data, "--side", side, "--reps", str(reps), "--warmup", "1"]
            try:
                p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            except FileNotFoundError:
                return None
            found = re.search(r"Collected : (\d+)", p.stderr)
            if p.returncode != 0 or not found:
                raise SystemExit(f"callgrind failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
            counts.append(int(found.group(1)))
    per_query = (counts[1] - counts[0]) / 2
    log(f"  callgrind {q} {side}: {per_query / 1e9:.4f} G instructions per query")
    return per_query


def same_answer(a, b):
    """Whether two `rollout-bench sql` results printed the same value: in a pretty-printed
    table it is the fourth line, padded to its header's width."""
    def value(r):
        return [ln.strip("| ") for ln in r["answer"].split("\n")[3:4]]
    return value(a) == value(b)


def secs(s):
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 0.001:
        return f"{s * 1000:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def mib(b):
    return f"{b / 2**20:.0f} MiB"


class Table:
    def __init__(self):
        self.rows = []

    def add(self, bench, ours, peer, ratio, target, verdict):
        self.rows.append((bench, ours, peer, ratio, target, verdict))
        log(f"| {bench} | {ours} | {peer} | {ratio} | {target} | {verdict} |")

    def timed(self, bench, ours, peer, peer_name, target=None, note="", ci=None):
        """ci: a 95% interval of the ratio. A ratio above the target whose interval still
        reaches below it is noise, not a miss: it says so instead of either verdict."""
        ratio = ours / peer
        if target is None:
            verdict = "context"
            tgt = "—"
        else:
            if ratio <= target:
                verdict = "met"
            elif ci is not None and ci[0] <= target:
                verdict = "within noise"
            else:
                verdict = "**missed**"
            tgt = f"≤ {target:g}"
        self.add(bench, secs(ours), f"{secs(peer)} ({peer_name})", f"{ratio:.3f}", tgt, verdict + note)

    def markdown(self):
        lines = ["| benchmark | ours | peer | ratio (ours / peer) | target | verdict |",
                 "|---|---:|---:|---:|---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            mem_kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    except OSError:
        mem_kb = 0
    return f"{os.cpu_count()} cores ({cpu}), {mem_kb / 2**20:.1f} GiB memory, {platform.system()} {platform.release()}"


def commit():
    """The commit measured, marked when the work tree had changes (BENCHMARKS.md aside): the
    binaries were then built from code that no commit holds."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                  ":(exclude)BENCHMARKS.md"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} + uncommitted changes" if changed else head


def parse_drift(display):
    """drift_summary's struct as displayed by arrow: {n_baseline: 6001215, ks_statistic: ...}."""
    return {k: float(v) for k, v in re.findall(r"(\w+): ([-+0-9.eE]+|NaN|inf)", display)}


def positive(text):
    """argparse type: an integer of at least 1 (medians of nothing are not figures)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is below 1")
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sf", type=float, default=1)
    ap.add_argument("--rounds", type=positive, default=2, help="alternations of the sides per benchmark")
    ap.add_argument("--reps", type=positive, default=5, help="timed repetitions per process")
    ap.add_argument("--pair-procs", type=positive, default=2,
                    help="processes of the paired TPC-H Q1/Q6 run (alias and direct alternating)")
    ap.add_argument("--pair-reps", type=positive, default=40, help="pairs per paired process")
    ap.add_argument("--no-callgrind", action="store_true",
                    help="skip counting Q1/Q6 instructions under valgrind (a few minutes at SF1)")
    ap.add_argument("--latency-rounds", type=positive, default=50)
    ap.add_argument("--no-sf10-latency", action="store_true",
                    help="skip generating SF10 lineitem for the PROMOTE/ROLLBACK-vs-data-size rows")
    ap.add_argument("--cluster", action="store_true",
                    help="only the Ballista rows: a scheduler and two executors on this machine "
                         "against one local process, Q1/Q6 and a small query")
    ap.add_argument("--plan-files", type=int, default=40,
                    help="also measure planning with lineitem in this many files (0 skips; "
                         "data generated once under bench/data/sf<N>x<files>)")
    ap.add_argument("--spill-rows", type=int, default=30_000_000,
                    help="exact drift of two versions of this many doubles from profiles under "
                         "--spill-limit, compared bit for bit with the in-memory aggregates on at "
                         "most 30M of them (0 skips; 300000000 for issue 21's row: ~10 GB of disk)")
    ap.add_argument("--spill-limit", default="4G")
    ap.add_argument("--output", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    sf_name = f"sf{args.sf:g}"
    data = os.path.join(HERE, "data", sf_name)
    table = Table()
    started = time.time()

    log(f"== data: TPC-H SF{args.sf:g} under {data}")
    gen, _, wall = child([BENCH, "gen", "--dir", data, "--sf", str(args.sf)])
    log(f"  {gen} ({wall:.1f}s)")
    if args.cluster:
        return cluster_rows(args, data, gen, table, started)
    files = os.path.join(gen["lineitem"], "*.parquet")
    v2_files = os.path.join(gen["v2"], "*.parquet")

    def ours(bench, side="ours"):
        return [BENCH, "query", bench, "--dir", data, "--side", side, "--reps", str(args.reps)]

    def peer(bench):
        return [PY, PEERS, bench, "--files", files, "--reps", str(args.reps)]

    rss_rows = []
    for q in ("q1", "q6"):
        log(f"== TPC-H {q.upper()}: through the alias and directly, alternating in one process")
        pairs = {"ours": Side("ours"), "datafusion": Side("datafusion")}
        plans = {"ours": [], "datafusion": []}
        same_rows = True
        for proc in range(args.pair_procs):
            res, _, _ = child([BENCH, "paired", q, "--dir", data, "--reps", str(args.pair_reps)])
            same_rows = same_rows and res["same_rows"]
            for side in pairs:
                pairs[side].times += res[side]["times"]
                plans[side] += res[side]["plan"]
            log(f"  process {proc + 1}: ours {secs(statistics.median(res['ours']['times']))}, "
                f"DataFusion {secs(statistics.median(res['datafusion']['times']))}")
        lo, hi = ratio_ci(pairs["ours"].times, pairs["datafusion"].times)
        note = f" (same plan, {'same result' if same_rows else 'RESULTS DIFFER'}; 95% CI {lo:.3f}–{hi:.3f})"
        table.timed(f"TPC-H {q.upper()} via the alias vs DataFusion on the same Parquet "
                    f"({len(pairs['ours'].times)} pairs, one process per {args.pair_reps})",
                    pairs["ours"].median, pairs["datafusion"].median, "DataFusion", 1.02, note, ci=(lo, hi))
        if not args.no_callgrind:
            # Counts do not depend on what else runs, so both sides run at once.
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                ins = dict(zip(("ours", "datafusion"),
                               pool.map(lambda side: instructions(q, side, data), ("ours", "datafusion"))))
            if None in ins.values():
                table.add(f"TPC-H {q.upper()} instructions per query via the alias vs DataFusion (callgrind)",
                          "not run", "—", "—", "≤ 1.02", "not measured (valgrind is missing)")
            else:
                ratio = ins["ours"] / ins["datafusion"]
                table.add(f"TPC-H {q.upper()} instructions per query via the alias vs DataFusion (callgrind)",
                          f"{ins['ours'] / 1e9:.4f} G", f"{ins['datafusion'] / 1e9:.4f} G (DataFusion)",
                          f"{ratio:.4f}", "≤ 1.02",
                          ("met" if ratio <= 1.02 else "**missed**") + f" ({(ins['ours'] - ins['datafusion']) / 1e6:+.2f} M)")
        extra = statistics.median(plans["ours"]) - statistics.median(plans["datafusion"])
        table.timed(f"TPC-H {q.upper()} planning (SQL to physical plan) via the alias vs DataFusion",
                    statistics.median(plans["ours"]), statistics.median(plans["datafusion"]), "DataFusion",
                    note=f" ({secs(extra)} more)")

        log(f"== TPC-H {q.upper()}: one process per side, with DuckDB")
        r = alternate(args.rounds, {"ours": ours(q), "datafusion": ours(q, "datafusion"), "duckdb": peer(q)})
        table.timed(f"TPC-H {q.upper()} via the alias vs DataFusion, separate processes", r["ours"].median,
                    r["datafusion"].median, "DataFusion")
        table.timed(f"TPC-H {q.upper()} via the alias vs DuckDB", r["ours"].median, r["duckdb"].median, "DuckDB")
        rss_rows.append((f"TPC-H {q.upper()}", r["ours"].rss, [("DataFusion", r["datafusion"].rss), ("DuckDB", r["duckdb"].rss)]))

    log("== TPC-H Q6: reads recorded in the ledger vs rollout.record_reads = false, alternating in one process")
    rec = {"ours": [], "unrecorded": []}
    for proc in range(args.pair_procs):
        res, _, _ = child([BENCH, "paired", "q6", "--dir", data, "--reps", str(args.pair_reps), "--versus", "unrecorded"])
        rec["ours"] += res["ours"]["times"]
        rec["unrecorded"] += res["datafusion"]["times"]
    lo, hi = ratio_ci(rec["ours"], rec["unrecorded"])
    table.timed(f"TPC-H Q6 via the alias, reads recorded vs not ({len(rec['ours'])} pairs)",
                statistics.median(rec["ours"]), statistics.median(rec["unrecorded"]), "unrecorded", 1.01,
                f" (95% CI {lo:.3f}–{hi:.3f})", ci=(lo, hi))

    log("== controller: one round over 100 live AUTO rollouts (no data scans)")
    res, _, _ = child([BENCH, "controller", "--rollouts", "100", "--rounds", "20"])
    median = statistics.median(res["times"])
    table.add(f"controller round over {res['rollouts']} live rollouts ({res['decisions']} decisions, events from the store)",
              secs(median), "—", "—", "< 1 s", "met" if median < 1.0 else "**missed**")

    log("== events: a month read by a fresh process, as flushed vs compacted by VACUUM")
    res, _, _ = child([BENCH, "events", "--days", "30", "--objects", "1000", "--events", "20"])
    table.timed(f"read a month of events ({res['events']:,} in {res['days']} days × {res['objects_per_day']:,} objects), "
                f"compacted vs as flushed (VACUUM took {secs(res['vacuum_seconds'])})",
                statistics.median(res["compacted"]), statistics.median(res["flushed"]), "as flushed")

    log("== contract: CHECK (11 checks, one scan)")
    r = alternate(args.rounds, {"ours": ours("check"), "duckdb": peer("check"), "scan": ours("scan", "datafusion"),
                                "scanned": ours("check-scanned")})
    fails = [row for row in r["ours"].rows if row[-2] != "pass"] if r["ours"].rows else []
    note = "" if not fails else f" ({len(fails)} check(s) did not pass)"
    table.timed("CHECK lineitem (11 checks) vs the same checks as SQL in DuckDB", r["ours"].median,
                r["duckdb"].median, "DuckDB", 1.0, note)
    table.timed("CHECK lineitem (11 checks) vs a bare DataFusion scan of its columns", r["ours"].median,
                r["scan"].median, "scan", 1.15)
    # The rules the footers settle are not scanned above; here every rule reads its rows.
    table.timed("CHECK lineitem (11 checks), every rule scanned (`rollout.check_statistics = false`), "
                "vs a bare DataFusion scan of its columns", r["scanned"].median, r["scan"].median, "scan")
    rss_rows.append(("CHECK (11 checks)", r["ours"].rss, [("DuckDB", r["duckdb"].rss), ("scan", r["scan"].rss)]))

    # v1's keys are in key order; v2's are not (written by CREATE VERSION .. AS SELECT).
    for of, label in [("", "`duplicate_count(l_orderkey, l_linenumber)` vs DataFusion's "
                           "`count(*) - count(DISTINCT l_orderkey * 8 + l_linenumber)`"),
                      (" VERSION AS OF 'v2'", "the same of v2, keys not in key order")]:
        log(f"== composite-key uniqueness{of}: duplicate_count of two columns vs DataFusion's count(DISTINCT)")
        res, _, _ = child([BENCH, "sql", "--dir", data, "--reps", str(args.reps),
                           f"SELECT duplicate_count(l_orderkey, l_linenumber) FROM lineitem{of}",
                           f"SELECT count(*) - count(DISTINCT l_orderkey * 8 + l_linenumber) FROM lineitem{of}"])
        mine, theirs = res
        table.timed(f"{label} (one process, alternating)", mine["median_s"], theirs["median_s"],
                    "DataFusion", 1.0, "" if same_answer(mine, theirs) else " (ANSWERS DIFFER)")

    log("== guarded PROMOTE with a drift contract vs CHECK of the candidate without drift")
    res, _, _ = child([BENCH, "guard", "--dir", data, "--reps", str(max(args.reps, 5))])
    table.timed("guarded PROMOTE (the 11 checks + 5 drift expectations against stable, profiles stored) "
                "vs CHECK of the candidate's own columns (one process, alternating)",
                res["promote_median_s"], res["check_median_s"], "CHECK", 1.2,
                f" (the first PROMOTE, computing the profiles: {secs(res['first_promote_s'])})")

    if args.plan_files:
        log(f"== planning through the alias with lineitem SF{args.sf:g} in {args.plan_files} files")
        many = os.path.join(HERE, "data", f"{sf_name}x{args.plan_files}")
        child([BENCH, "gen", "--dir", many, "--sf", str(args.sf), "--parts", str(args.plan_files)])
        plans = {"ours": [], "datafusion": []}
        # At least 40 pairs a process whatever --pair-reps says: a difference of 0.3 ms between
        # medians of plans made beside 1 s queries (SF10) needs them (20 pairs gave +464 µs where
        # 80 gave +291 µs, the same binary and data, minutes apart).
        for proc in range(args.pair_procs):
            reps = max(args.pair_reps, 40)
            res, _, _ = child([BENCH, "paired", "q6", "--dir", many, "--reps", str(reps)])
            for side in plans:
                plans[side] += res[side]["plan"]
        extra = statistics.median(plans["ours"]) - statistics.median(plans["datafusion"])
        table.add(f"TPC-H Q6 planning overhead through the alias at {args.plan_files} pinned files "
                  f"({len(plans['ours'])} pairs)", secs(statistics.median(plans["ours"])),
                  f"{secs(statistics.median(plans['datafusion']))} (DataFusion)", f"+{secs(extra)}",
                  "≤ +300 µs", "met" if extra <= 0.0003 else "**missed**")

    log("== exact drift of l_extendedprice, v1 vs v2")
    r = alternate(args.rounds, {
        "ours": ours("drift"),
        "scipy": [PY, PEERS, "drift", "--v1", files, "--v2", v2_files, "--reps", str(args.reps)],
    })
    table.timed("drift KS + Wasserstein + PSI (drift_summary) vs scipy incl. Parquet load", r["ours"].median,
                r["scipy"].median, "scipy", 1.0)
    mine = parse_drift(r["ours"].rows[0][0])
    theirs = dict(zip(["ks_statistic", "ks_pvalue", "wasserstein_distance", "psi"], map(float, r["scipy"].rows[0])))
    diffs = {k: abs(mine[k] - v) / max(abs(v), 1e-300) for k, v in theirs.items() if k != "ks_pvalue"}
    worst = max(diffs.values())
    table.add("drift values equal to scipy (KS D, W1, PSI): max relative difference",
              f"{worst:.1e}", "0 (scipy)", "—", "≤ 1e-9", "met" if worst <= 1e-9 else "**missed**")
    log(f"  ours {mine}\n  scipy {theirs}")
    rss_rows.append(("drift", r["ours"].rss, [("scipy", r["scipy"].rss)]))

    if args.spill_rows:
        spill = os.path.join(HERE, "data", "spill")
        subset = min(args.spill_rows, 30_000_000)
        log(f"== exact drift from profiles under a {args.spill_limit} memory limit: "
            f"2 × {subset:,} doubles both ways" + (f", then 2 × {args.spill_rows:,}" if args.spill_rows > subset else ""))
        agg, agg_rss, _ = child([BENCH, "spill-drift", "--dir", spill, "--rows", str(subset), "--side", "aggregates"])
        prof, prof_rss, _ = child([BENCH, "spill-drift", "--dir", spill, "--rows", str(subset), "--side", "profiles",
                                   "--memory-limit", args.spill_limit])
        equal = agg["bits"] == prof["bits"]
        table.add(f"exact drift (KS, W1 normed, PSI, JS) of 2 × {subset:,} doubles: from profiles under "
                  f"{args.spill_limit} vs the in-memory aggregates: values bit for bit",
                  "equal" if equal else "DIFFER", "in-memory aggregates", "—", "equal",
                  "met" if equal else "**missed**")
        table.timed(f"exact drift of 2 × {subset:,} doubles: from profiles (first, sorts included) "
                    f"vs in memory; peak RSS {mib(prof_rss)} vs {mib(agg_rss)}",
                    prof["drift_s"], agg["drift_s"], "in memory")
        if args.spill_rows > subset:
            big, big_rss, _ = child([BENCH, "spill-drift", "--dir", spill, "--rows", str(args.spill_rows),
                                     "--side", "profiles", "--memory-limit", args.spill_limit])
            table.add(f"exact drift of 2 × {args.spill_rows:,} doubles under a {args.spill_limit} memory limit",
                      f"{secs(big['drift_s'])}, peak RSS {mib(big_rss)}", "—", "—", "completes", "met")

    log("== PROMOTE / ROLLBACK latency against data size")
    sizes = [(f"SF{args.sf:g}", gen["lineitem"])]
    if args.sf != 1:
        g1, _, _ = child([BENCH, "gen", "--dir", os.path.join(HERE, "data", "sf1"), "--sf", "1", "--no-store"])
        sizes.insert(0, ("SF1", g1["lineitem"]))
    if args.sf != 10 and not args.no_sf10_latency:
        log("  (SF10 lineitem files for this row: generated once, then cached)")
        g10, _, wall = child([BENCH, "gen", "--dir", os.path.join(HERE, "data", "sf10"), "--sf", "10", "--no-store"])
        log(f"  {g10} ({wall:.1f}s)")
        sizes.append(("SF10", g10["lineitem"]))
    # One process and one store, the sizes' datasets taking turns round by round.
    cmd = [BENCH, "latency", "--rounds", str(args.latency_rounds)]
    for _, path in sizes:
        cmd += ["--data", path]
    res, _, _ = child(cmd)
    lat = {}
    for (name, _), r in zip(sizes, res["sizes"]):
        lat[name] = r
        log(f"  {name}: PROMOTE {secs(statistics.median(r['promote']))} ROLLBACK {secs(statistics.median(r['rollback']))} "
            f"PROMOTE verifying files {secs(statistics.median(r['promote_verified']))} ({r['files']} files)")
    base = sizes[0][0]
    for name, _ in sizes[1:]:
        for op in ("promote", "rollback"):
            a, b = statistics.median(lat[name][op]), statistics.median(lat[base][op])
            table.timed(f"{op.upper()} latency at {name} vs {base} (flat)", a, b, base, 1.25)
        a, b = statistics.median(lat[name]["promote_verified"]), statistics.median(lat[base]["promote_verified"])
        table.timed(f"PROMOTE with rollout.verify_targets = true (a look at each pinned file first) at {name} vs {base}",
                    a, b, base)
    if len(sizes) == 1:
        table.add("PROMOTE/ROLLBACK latency at SF10", "not run", "—", "—", "≤ 1.25", "not measured")

    log("== history length: opening and committing")
    res, _, wall = child([BENCH, "history", "--entries", "10,1000,10000", "--rounds", "60"])
    hist = {r["asked"]: r for r in res["stores"]}
    for n, r in hist.items():
        log(f"  {n}: {r['entries']} entries (filled in {r['fill_seconds']:.1f}s): open {secs(statistics.median(r['open']))}, "
            f"PROMOTE {secs(statistics.median(r['promote']))}, ROLLBACK {secs(statistics.median(r['rollback']))}")
    for op, label in (("open", "open the store"), ("promote", "PROMOTE"), ("rollback", "ROLLBACK")):
        for n in (1000, 10000):
            a, b = statistics.median(hist[n][op]), statistics.median(hist[10][op])
            table.timed(f"{label} at a history of {n:,} entries vs 10 (flat)", a, b, "10 entries", 1.25)

    log("== start-up: rollout -c 'SELECT 1'")
    store = tempfile.mkdtemp(prefix="rollout-bench-startup-")
    startup = {"ours": Side("ours"), "duckdb": Side("duckdb")}
    cmds = {
        "ours": [SHELL, "--store", store, "-c", "SELECT 1"],
        "duckdb": [PY, "-c", "import duckdb; duckdb.sql('SELECT 1').fetchall()"],
    }
    for _ in range(2):  # warm the page cache
        for cmd in cmds.values():
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    for _ in range(15):
        for name, cmd in cmds.items():
            t = time.perf_counter()
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            startup[name].times.append(time.perf_counter() - t)
            startup[name].rss = max(startup[name].rss, ru.ru_maxrss * 1024)
    table.timed("`rollout -c 'SELECT 1'` start-up vs `python -c 'import duckdb; SELECT 1'`",
                startup["ours"].median, startup["duckdb"].median, "DuckDB (Python)")
    rss_rows.append(("start-up", startup["ours"].rss, [("DuckDB (Python)", startup["duckdb"].rss)]))

    for name, mine, peers in rss_rows:
        for peer_name, theirs in peers:
            table.add(f"peak RSS, {name}", mib(mine), f"{mib(theirs)} ({peer_name})", f"{mine / theirs:.2f}", "—", "context")

    md = table.markdown()
    print(md)
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    begin, end = markers(args.sf)
    block = "\n".join([
        begin,
        f"TPC-H scale factor {args.sf:g} (lineitem: {len(os.listdir(gen['lineitem'])) - 1} Parquet files), "
        f"{args.rounds} rounds × {args.reps} repetitions per side, medians; Q1 and Q6 against "
        f"DataFusion: {args.pair_procs} × {args.pair_reps} pairs in one process at a time. "
        f"Run on {stamp} at commit {commit()}; machine: {machine()}. "
        f"Whole run: {(time.time() - started) / 60:.1f} min.",
        "",
        md,
        end,
    ])
    write(args.output, block, begin, end)
    log(f"wrote {args.output}")
    return 0


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(store, work):
    """rollout-scheduler and two rollout-executors on loopback (one core each: this machine's
    two), ready when the scheduler's /readyz says both registered."""
    import urllib.request
    port = free_port()
    logs = open(os.path.join(work, "cluster.log"), "w")
    procs = [subprocess.Popen([SCHEDULER, "--store", store, "--bind-host", "127.0.0.1", "-p", str(port),
                               "--min-ready-executors", "2"], stdout=logs, stderr=subprocess.STDOUT)]
    for i in range(2):
        wd = os.path.join(work, f"executor-{i}")
        os.makedirs(wd, exist_ok=True)
        procs.append(subprocess.Popen(
            [EXECUTOR, "--store", store, "--bind-host", "127.0.0.1", "--external-host", "127.0.0.1",
             "--scheduler-host", "127.0.0.1", "--scheduler-port", str(port),
             "--scheduler-connect-timeout-seconds", "30", "-c", "1",
             "-p", str(free_port()), "--bind-grpc-port", str(free_port()),
             "--bind-health-port", str(free_port()), "--work-dir", wd],
            stdout=logs, stderr=subprocess.STDOUT))
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return procs, f"df://127.0.0.1:{port}"
        except OSError:
            pass
        gone = [p for p in procs if p.poll() is not None]
        if gone or time.time() > deadline:
            for p in procs:
                p.kill()
            why = "a process exited" if gone else "not ready within 60 s"
            raise SystemExit(f"the cluster did not start ({why}); see {work}/cluster.log")
        time.sleep(0.2)


def cluster_rows(args, data, gen, table, started):
    """`--cluster`: Q1, Q6 and a one-order query on the cluster vs one local process, both
    through the alias on the same store, alternating processes."""
    work = tempfile.mkdtemp(prefix="rollout-bench-cluster-")
    procs, url = start_cluster(gen["store"], work)
    try:
        for q, what in (("q1", "TPC-H Q1"), ("q6", "TPC-H Q6"), ("point", "one order's lines")):
            log(f"== {what}: on the cluster vs local, alternating processes")
            base = [BENCH, "query", q, "--dir", data, "--side", "ours", "--reps", str(args.reps)]
            r = alternate(args.rounds, {"cluster": base + ["--cluster", url], "local": base})
            same = r["cluster"].rows == r["local"].rows
            note = "same result" if same else "RESULTS DIFFER"
            if q == "point":
                extra = r["cluster"].median - r["local"].median
                note += f"; per-query cost of the scheduler {secs(extra)}"
            table.timed(f"{what} via the alias on a Ballista cluster (scheduler + 2 executors × 1 core) "
                        f"vs one local process", r["cluster"].median, r["local"].median, "local",
                        note=f" ({note})")
            if not same:
                raise SystemExit(f"{what}: the cluster's result differs from the local one")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    md = table.markdown()
    print(md)
    stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    begin = f"<!-- bench:begin cluster sf{args.sf:g} (written by bench/run.sh --cluster --sf {args.sf:g}) -->"
    end = f"<!-- bench:end cluster sf{args.sf:g} -->"
    block = "\n".join([
        begin,
        f"Ballista 55 on one 2-core machine (context, not a target: the cluster's processes share "
        f"the cores the local run has to itself). TPC-H scale factor {args.sf:g}, "
        f"{args.rounds} rounds × {args.reps} repetitions per side, medians. "
        f"Run on {stamp} at commit {commit()}; machine: {machine()}. "
        f"Whole run: {(time.time() - started) / 60:.1f} min.",
        "",
        md,
        end,
    ])
    write(args.output, block, begin, end)
    log(f"wrote {args.output}")
    return 0


def write(path, block, begin, end):
    """Replaces this scale factor's generated block of BENCHMARKS.md, keeping whatever was
    written around it (a first run at a scale factor appends its block)."""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
        if begin in text and end in text:
            text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = "# Benchmarks\n\nProduced by `bench/run.sh` (see bench/README.md).\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
