#!/usr/bin/env bash
# CI for the Python package (run by .ci/run from the repository root): a virtualenv under
# target/ (ignored by git), the wheel built from this checkout (debug profile) and installed into
# it, then python/tests, which also executes examples/notebook/rollout_demo.ipynb headless.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_VENV="${PY_VENV:-target/ci-python-venv}"
WHEELS="${WHEELS:-target/ci-wheels}"
[ -x "$PY_VENV/bin/python" ] || python3 -m venv "$PY_VENV"
# datafusion: the FFI tests load our providers into datafusion-python, whose major must be ours.
"$PY_VENV/bin/pip" install -q maturin pytest pyarrow pandas polars nbclient nbformat ipykernel matplotlib \
    'datafusion==55.*' 'adbc-driver-flightsql==1.13.*' 'adbc-driver-manager==1.13.*'
# test_serve.py runs the real `rollout serve` binary against ADBC.
# The shell and the cluster's binaries as `cargo test --workspace` builds them (its integration
# tests need them): with the whole workspace's features, so after .ci/run's test step nothing is
# compiled again (`cargo build -p rollout-shell` alone would resolve other features of arrow and
# DataFusion, and build both again).
cargo test -q --workspace --no-run
export ROLLOUT_BIN="$PWD/target/debug/rollout"
# test_cluster.py starts a Ballista cluster of our scheduler and executor.
export ROLLOUT_SCHEDULER_BIN="$PWD/target/debug/rollout-scheduler"
export ROLLOUT_EXECUTOR_BIN="$PWD/target/debug/rollout-executor"
rm -rf "$WHEELS"
"$PY_VENV/bin/maturin" build -q -m python/Cargo.toml -o "$WHEELS"
"$PY_VENV/bin/pip" install -q --force-reinstall --no-deps "$WHEELS"/datafusion_rollout-*.whl
# `pytest` (not `python -m pytest`): the installed wheel is imported, not python/datafusion_rollout.
# Exit code 5 (no tests collected) fails like any other.
rc=0
"$PY_VENV/bin/pytest" -q -p no:cacheprovider python/tests || rc=$?
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
