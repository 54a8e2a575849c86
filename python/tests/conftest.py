"""Fixtures: a local store with `orders` v1 (stable) and v2 (candidate for cohort canary).

Versions are written by `CREATE VERSION ... AS SELECT`, i.e. real Parquet files in the store.
"""

from __future__ import annotations

import pytest

import datafusion_rollout as dr

V1 = (
    "SELECT value AS order_id, CAST(value % 100 AS DOUBLE) AS amount "
    "FROM generate_series(1, 1000)"
)
V2 = (
    "SELECT value AS order_id, CAST(value % 100 AS DOUBLE) * 1.08 + 1.5 AS amount "
    "FROM generate_series(1, 1500)"
)


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "store"
    s = dr.connect(path, actor="pytest")
    s.sql(
        f"""
        CREATE DATASET orders;
        CREATE VERSION 'v1' OF orders AS {V1};
        PROMOTE orders TO 'v1';
        CREATE VERSION 'v2' OF orders AS {V2};
        CREATE COHORT canary MEMBERS ('alice');
        PROMOTE orders TO 'v2' FOR COHORT canary REASON 'try v2 on canary';
        """
    )
    return path


def count(session, sql="SELECT count(*) AS n FROM orders"):
    return session.sql(sql).to_pylist()[0]["n"]
