#!/usr/bin/env bash
# One command for every benchmark (see bench/README.md):
#
#   bench/run.sh [--sf 1|10] [--rounds N] [--reps N] [--no-sf10-latency]
#   bench/run.sh --cluster [--sf 1|10]      # only the Ballista rows (cluster vs local)
#
# Makes bench/.venv with the peers (duckdb, scipy, numpy, pyarrow), builds the release
# binaries (rollout-bench, rollout), generates or reuses TPC-H data under bench/data/, runs
# every measurement ours beside its peer, prints the table and writes it into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=bench/.venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import duckdb, scipy, numpy, pyarrow' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet duckdb scipy numpy pyarrow
fi

# --cluster also builds the cluster's binaries. Every crate builds with the workspace's features
# (workspace-hack/), so the release builds of bench, shell and cluster reuse each other's crates.
case " $* " in
  *" --cluster "*) cargo build --release -q -p rollout-bench -p rollout-shell -p rollout-cluster ;;
  *) cargo build --release -q -p rollout-bench -p rollout-shell ;;
esac
exec "$venv/bin/python" bench/run.py "$@"
