"""The native path: connect(), sql() for our statements and DataFusion's, resolution by consumer."""

from __future__ import annotations

import datafusion_rollout as dr
from conftest import count


def test_two_consumers_read_different_versions(store):
    alice = dr.connect(store, consumer="alice")
    bob = dr.connect(store, consumer="bob")
    assert alice.consumer == "alice"
    assert count(alice) == 1500  # canary: v2
    assert count(bob) == 1000  # everyone else: v1
    assert count(dr.connect(store)) == 1000  # no consumer: stable


def test_consumer_and_cohort_can_change(store):
    s = dr.connect(store)
    s.consumer = "alice"
    assert count(s) == 1500
    s.consumer = None
    assert s.consumer is None
    assert count(s) == 1000
    s.cohort = "canary"
    assert count(s) == 1500
    s.sql("RESET rollout.cohort")
    assert s.cohort is None
    s.sql("SET rollout.consumer = 'alice'")
    assert s.consumer == "alice"
    assert count(s) == 1500


def test_connect_with_cohort(store):
    assert count(dr.connect(store, cohort="canary")) == 1500


def test_promote_rollback_round_trip(store):
    admin = dr.connect(store, actor="pytest")
    bob = dr.connect(store, consumer="bob")
    assert count(bob) == 1000
    promoted = admin.sql("PROMOTE orders TO 'v2' REASON 'looks good'")
    assert promoted.outcome == "committed"
    assert promoted.sequence is not None
    assert count(bob) == 1500
    again = admin.sql("PROMOTE orders TO 'v2'")
    assert (again.outcome, again.sequence) == ("unchanged", None)
    # Another session sees the change on its next statement.
    assert count(dr.connect(store, consumer="carol")) == 1500
    rolled_back = admin.sql("ROLLBACK orders REASON 'back to v1'")
    assert rolled_back.sequence == promoted.sequence + 1
    assert count(bob) == 1000
    history = admin.sql("SHOW HISTORY OF orders").to_pandas()
    assert len(history) >= 5
    assert "back to v1" in " ".join(map(str, history.astype(str).values.ravel()))


def test_any_datafusion_statement(store):
    s = dr.connect(store, consumer="alice")
    r = s.sql("SELECT 1 AS one, 'x' AS s")
    assert r.column_names == ["one", "s"]
    assert r.num_rows == 1 and len(r) == 1
    s.sql("CREATE TABLE t AS VALUES (1), (2), (3)")
    assert s.sql("SELECT sum(column1) AS n FROM t").to_pylist() == [{"n": 6}]
    # Our statements return results too.
    rollout = s.sql("SHOW ROLLOUT orders").to_pandas()
    assert len(rollout) >= 1
    versions = s.sql("SHOW VERSIONS OF orders").to_pylist()
    assert {"v1", "v2"} <= {str(v) for row in versions for v in row.values()}
    explain = s.sql("EXPLAIN SELECT * FROM orders").to_pylist()
    assert any("v2" in str(row) for row in explain)
    # VERSION AS OF pins.
    assert count(s, "SELECT count(*) AS n FROM orders VERSION AS OF 'v1'") == 1000


def test_repr(store):
    s = dr.connect(store, consumer="alice")
    assert "alice" in repr(s)
    text = repr(s.sql("SELECT order_id FROM orders ORDER BY order_id LIMIT 30"))
    assert "order_id" in text and "30 rows, 20 shown" in text
    assert "no rows" in repr(s.sql("SELECT order_id FROM orders WHERE false"))


def test_memory_store():
    s = dr.connect("memory://pytest-mem")
    s.sql("CREATE DATASET d")
    s.sql("CREATE VERSION 'a' OF d AS SELECT 1 AS x")
    s.sql("PROMOTE d TO 'a'")
    assert s.sql("SELECT x FROM d").to_pylist() == [{"x": 1}]
