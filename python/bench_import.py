"""Time to import datafusion_rollout and to run a first query, natively and through
datafusion-python's FFI, each in a fresh interpreter (so nothing is warm but the OS page cache).

    python python/bench_import.py [--runs 7]

Run it with the interpreter the wheel is installed in (`python/ci.sh` builds a debug wheel;
`maturin build --release -m python/Cargo.toml` then `pip install` the wheel for release figures).
Prints the median and the range of each step, in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SETUP = """
import datafusion_rollout as dr
s = dr.connect({store!r}, actor="bench")
s.sql('''
    CREATE DATASET orders;
    CREATE VERSION 'v1' OF orders AS
        SELECT value AS order_id, CAST(value % 100 AS DOUBLE) AS amount FROM generate_series(1, 100000);
    PROMOTE orders TO 'v1';
    CREATE VERSION 'v2' OF orders AS
        SELECT value AS order_id, CAST(value % 100 AS DOUBLE) * 1.08 AS amount FROM generate_series(1, 120000);
    CREATE COHORT canary MEMBERS ('alice');
    PROMOTE orders TO 'v2' FOR COHORT canary;
''')
"""

INFO = """
import json, os, datafusion, datafusion_rollout as dr
print(json.dumps({"version": dr.__version__, "native": dr._native.__file__,
                  "mib": os.path.getsize(dr._native.__file__) / 2**20,
                  "datafusion": datafusion.__version__}))
"""

# Each program prints a JSON object of step -> seconds.
IMPORT = """
import json, time
t0 = time.perf_counter()
import datafusion_rollout
print(json.dumps({"import datafusion_rollout": time.perf_counter() - t0}))
"""

NATIVE = """
import json, time
t0 = time.perf_counter()
import datafusion_rollout as dr
t1 = time.perf_counter()
import pyarrow  # what results are read with (datafusion imports it too)
t2 = time.perf_counter()
s = dr.connect({store!r}, consumer="alice")
t3 = time.perf_counter()
r = s.sql("SELECT count(*) AS n, avg(amount) AS a FROM orders")  # runs and collects
t4 = time.perf_counter()
n = r.to_pylist()[0]["n"]  # pyarrow's first C stream import sets itself up (once per process)
t5 = time.perf_counter()
assert n == 120000, n
print(json.dumps({{"native: import datafusion_rollout": t1 - t0, "native: import pyarrow": t2 - t1,
                  "native: connect": t3 - t2, "native: first query": t4 - t3,
                  "native: first result into pyarrow": t5 - t4, "native: total": t5 - t0}}))
"""

FFI = """
import json, time
t0 = time.perf_counter()
import datafusion
from datafusion import SessionConfig, SessionContext
t1 = time.perf_counter()
import datafusion_rollout as dr
t2 = time.perf_counter()
ctx = SessionContext(SessionConfig().with_extension(dr.RolloutConfig()))
ctx.register_catalog_provider("rollout", dr.RolloutCatalog({store!r}))
dr.register_functions(ctx)
ctx.sql("SET rollout.consumer = 'alice'")
t3 = time.perf_counter()
n = ctx.sql("SELECT count(*) AS n, avg(amount) AS a FROM rollout.public.orders").to_pylist()[0]["n"]
t4 = time.perf_counter()
assert n == 120000, n
print(json.dumps({{"ffi: import datafusion": t1 - t0, "ffi: import datafusion_rollout": t2 - t1,
                  "ffi: context + catalog + functions": t3 - t2, "ffi: first query": t4 - t3,
                  "ffi: total": t4 - t0}}))
"""


def run(program: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", program], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "store")
        subprocess.run([sys.executable, "-c", SETUP.format(store=store)], check=True)
        samples: dict[str, list[float]] = {}
        for _ in range(args.runs):
            for program in (IMPORT, NATIVE.format(store=store), FFI.format(store=store)):
                for step, seconds in run(program).items():
                    samples.setdefault(step, []).append(seconds * 1000)
    # In a child too: this script's folder holds the package's sources, not the installed wheel.
    info = run(INFO)
    print(f"datafusion_rollout {info['version']} ({info['native']}, {info['mib']:.0f} MiB), "
          f"datafusion {info['datafusion']}, {args.runs} fresh interpreters each")
    width = max(map(len, samples))
    for step, ms in samples.items():
        print(f"{step:<{width}}  median {statistics.median(ms):8.1f} ms   "
              f"[{min(ms):.1f} .. {max(ms):.1f}]")


if __name__ == "__main__":
    main()
