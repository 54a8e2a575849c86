#!/usr/bin/env python3
"""Times our SQL drift/quality aggregates against scipy/numpy on the same Parquet data.

    python3 udfs/bench/compare.py                   # 1M and 10M rows per side, best of 3
    python3 udfs/bench/compare.py --sizes 1000000 --runs 1

Needs: numpy, scipy, pyarrow (pip install numpy scipy pyarrow) and cargo.
For each size it writes <workdir>/<n>/{base,cand}.parquet (column v DOUBLE with 0.1% NULLs,
column s VARCHAR), then
- scipy: read both files with pyarrow into numpy (timed), drop non-finite values, then
  ks_2samp (statistic + p-value, method='auto'), wasserstein_distance and PSI with Evidently's
  binning (Sturges edges over the pooled sample, 1e-4 fill) — the same three statistics;
- ours: `udfs/examples/compare.rs` (release build, not timed) runs the SQL through DataFusion
  over the same files (reading Parquet is inside the timing) and reports the best of --runs.
Prints the seconds and the ratio scipy / ours (> 1 means we are faster), plus the quality
aggregates against DataFusion's built-in count / min / max(character_length) on the same column.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_side(path, n, shift, rng):
    v = rng.normal(shift, 1.0, n)
    mask = rng.random(n) < 0.001
    s = pa.array(rng.integers(0, 10**6, n)).cast(pa.string())
    t = pa.table({"v": pa.array(v, mask=mask), "s": s})
    pq.write_table(t, path)


def psi_evidently(b, c):
    edges = np.histogram_bin_edges(np.concatenate([b, c]), bins="sturges")
    rp = np.histogram(b, edges)[0] / len(b)
    cp = np.histogram(c, edges)[0] / len(c)
    for p in (rp, cp):
        nz = p[p != 0]
        f = nz.min() / 10**6 if nz.min() <= 0.0001 else 0.0001
        np.place(p, p == 0, f)
    return float(np.sum((rp - cp) * np.log(rp / cp)))


def scipy_run(d):
    t0 = time.perf_counter()
    b = pq.read_table(os.path.join(d, "base.parquet"), columns=["v"]).column("v").to_numpy()
    c = pq.read_table(os.path.join(d, "cand.parquet"), columns=["v"]).column("v").to_numpy()
    t_load = time.perf_counter() - t0
    b = b[np.isfinite(b)]
    c = c[np.isfinite(c)]
    # Evidently bins by Sturges only when the baseline has > 20 distinct values (cheap check).
    assert np.unique(b[:1000]).size > 20
    ks = stats.ks_2samp(b, c)
    w = stats.wasserstein_distance(b, c)
    p = psi_evidently(b, c)
    total = time.perf_counter() - t0
    return total, t_load, (float(ks.statistic), float(ks.pvalue), float(w), p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "udfs-compare"))
    args = ap.parse_args()

    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "datafusion-rollout-udfs", "--example", "compare"],
        cwd=ROOT, check=True,
    )
    exe = os.path.join(ROOT, "target", "release", "examples", "compare")
    rng = np.random.default_rng(7)
    for n in args.sizes:
        d = os.path.join(args.workdir, str(n))
        os.makedirs(d, exist_ok=True)
        if not os.path.exists(os.path.join(d, "cand.parquet")):
            write_side(os.path.join(d, "base.parquet"), n, 0.0, rng)
            write_side(os.path.join(d, "cand.parquet"), n, 0.002, rng)
        best = None
        for _ in range(args.runs):
            r = scipy_run(d)
            if best is None or r[0] < best[0]:
                best = r
        sp_total, sp_load, sp_vals = best
        out = subprocess.run([exe, d, str(args.runs)], check=True, capture_output=True, text=True).stdout
        ours = {j["query"]: j for j in map(json.loads, out.splitlines())}
        print(f"\n== {n:,} rows per side (best of {args.runs}) ==")
        print(f"scipy ks_2samp + wasserstein_distance + PSI (incl. {sp_load:.2f}s Parquet->numpy): {sp_total:.3f}s")
        print(f"   values: D={sp_vals[0]!r} p={sp_vals[1]!r} W1={sp_vals[2]!r} PSI={sp_vals[3]!r}")
        for q in ("drift_summary", "ks+wasserstein+psi (3 aggregates)"):
            o = ours[q]
            print(f"ours {q}: {o['seconds']:.3f}s  ratio scipy/ours = {sp_total / o['seconds']:.2f}x")
            print(f"   values: {o['value']}")
        print(f"ours ks_pvalue alone: {ours['ks_pvalue']['seconds']:.3f}s")
        print(f"ours null_count(v) answered from Parquet statistics: {ours['null_count(v) [stats]']['seconds']:.4f}s")
        print("quality (both sides scan: statistics collection off):")
        pairs = [
            ("null_count(v)", "builtin count(v)"),
            ("nan_count(v)", "builtin min(v)"),
            ("invalid_count_range(v,-3,3)", "builtin min(v)"),
            ("max_length(s)", "builtin max(length(s))"),
            ("missing_count(s)", "builtin count(s)"),
        ]
        for a, b in pairs:
            ta, tb = ours[a]["seconds"], ours[b]["seconds"]
            print(f"quality {a}: {ta:.3f}s vs {b}: {tb:.3f}s  ratio = {ta / tb:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
