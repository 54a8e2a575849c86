#!/usr/bin/env python3
"""The peers' side of bench/run.sh: DuckDB and scipy on the same Parquet files as ours.

    peers.py q1|q6|check --files 'bench/data/sf1/lineitem/*.parquet' [--reps 5] [--warmup 1]
    peers.py drift --v1 'dir1/*.parquet' --v2 'dir2/*.parquet' [--reps 5] [--warmup 1]

Prints one JSON object: {"bench", "side", "times": [seconds...], "rows": [[...]]}, the same
shape as `rollout-bench query`. Run by bench/run.py, one process per measurement (its peak RSS
is read by the parent). Needs duckdb, numpy, scipy, pyarrow (bench/.venv, made by run.sh).
"""
import argparse
import glob
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# Keep these three in step with bench/src/queries.rs (Q1, Q6) and bench/src/tpch.rs (CONTRACT).
Q1 = """SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty,
    sum(l_extendedprice) AS sum_base_price,
    sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
    sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
    avg(l_quantity) AS avg_qty, avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc,
    count(*) AS count_order
    FROM lineitem WHERE l_shipdate <= DATE '1998-09-02'
    GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus"""

Q6 = """SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem
    WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01'
    AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24"""

# The contract's 11 data checks as one SQL query (what a DuckDB user would write), each with
# its threshold: (name, SQL aggregate, predicate on its value). The type of l_orderkey is a
# schema check on both sides (DuckDB: DESCRIBE), not timed here.
CHECKS = [
    ("not_null l_orderkey", "count(*) FILTER (WHERE l_orderkey IS NULL)", lambda v: v == 0),
    ("check l_quantity", "count(*) FILTER (WHERE NOT (l_quantity BETWEEN 1 AND 50))", lambda v: v == 0),
    ("not_null l_extendedprice", "count(*) FILTER (WHERE l_extendedprice IS NULL)", lambda v: v == 0),
    ("check l_extendedprice", "count(*) FILTER (WHERE NOT (l_extendedprice > 0))", lambda v: v == 0),
    ("check l_discount", "count(*) FILTER (WHERE NOT (l_discount BETWEEN 0 AND 0.1))", lambda v: v == 0),
    ("check l_tax", "count(*) FILTER (WHERE NOT (l_tax BETWEEN 0 AND 0.08))", lambda v: v == 0),
    ("not_null l_shipdate", "count(*) FILTER (WHERE l_shipdate IS NULL)", lambda v: v == 0),
    ("row_count", "count(*)", lambda v: v > 1000),
    ("invalid_count_in l_shipmode",
     "count(*) FILTER (WHERE l_shipmode NOT IN ('AIR', 'FOB', 'MAIL', 'RAIL', 'REG AIR', 'SHIP', 'TRUCK'))",
     lambda v: v == 0),
    ("max_length l_comment", "max(length(l_comment))", lambda v: v <= 44),
    ("duplicate_count l_orderkey, l_linenumber",
     "count(*) FILTER (WHERE l_orderkey IS NOT NULL AND l_linenumber IS NOT NULL)"
     " - count(DISTINCT (l_orderkey, l_linenumber))",
     lambda v: v == 0),
]
CHECK_SQL = "SELECT " + ",\n  ".join(sql for _, sql, _ in CHECKS) + "\nFROM lineitem"


def duckdb_side(args):
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW lineitem AS SELECT * FROM read_parquet('{args.files}')")
    if args.bench == "check":
        def run():
            row = con.execute(CHECK_SQL).fetchone()
            return [[name, str(v), "pass" if ok(v) else "fail"] for (name, _, ok), v in zip(CHECKS, row)]
    else:
        sql = Q1 if args.bench == "q1" else Q6

        def run():
            return [[str(v) for v in r] for r in con.execute(sql).fetchall()]
    return "duckdb", run


def scipy_side(args):
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy import stats

    # Same PSI convention as ours (Evidently's Sturges binning): reuse the udfs comparison.
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "udfs", "bench"))
    from compare import psi_evidently

    def load(pattern):
        files = sorted(glob.glob(pattern))
        t = pq.read_table(files, columns=["l_extendedprice"])
        return t.column("l_extendedprice").cast(pa.float64()).to_numpy()

    def run():
        b = load(args.v1)
        c = load(args.v2)
        b = b[np.isfinite(b)]
        c = c[np.isfinite(c)]
        ks = stats.ks_2samp(b, c)
        w = stats.wasserstein_distance(b, c)
        p = psi_evidently(b, c)
        return [[repr(float(ks.statistic)), repr(float(ks.pvalue)), repr(float(w)), repr(p)]]
    return "scipy", run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", choices=["q1", "q6", "check", "drift"])
    ap.add_argument("--files")
    ap.add_argument("--v1")
    ap.add_argument("--v2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    args = ap.parse_args()
    side, run = scipy_side(args) if args.bench == "drift" else duckdb_side(args)
    for _ in range(args.warmup):
        run()
    times = []
    rows = None
    for _ in range(args.reps):
        t = time.perf_counter()
        rows = run()
        times.append(time.perf_counter() - t)
    print(json.dumps({"bench": args.bench, "side": side, "times": times, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
