"""The reads ledger and reported metrics from Python: native sessions and the FFI path."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from datafusion import SessionConfig, SessionContext

import datafusion_rollout as dr
from conftest import count


def reads(session, dataset="orders"):
    return session.sql(
        f"SELECT version, arm, consumer, error FROM rollout_reads('{dataset}') ORDER BY time"
    ).to_pylist()


def test_reads_are_recorded_per_arm_and_reach_the_store_on_close(store):
    with dr.connect(store, consumer="alice") as alice:
        assert count(alice) == 1500
    bob = dr.connect(store, consumer="bob")
    assert count(bob) == 1000
    assert bob.flush_events() == 1
    # A fresh session (as another process) reads both from the store.
    rows = reads(dr.connect(store))
    assert [(r["version"], r["arm"], r["consumer"]) for r in rows] == [
        ("v2", "candidate", "alice"),
        ("v1", "stable", "bob"),
    ]
    assert all(r["error"] is None for r in rows)


def test_reads_can_be_left_unrecorded(store):
    s = dr.connect(store, consumer="carol", record_reads=False)
    assert count(s) == 1000
    assert s.flush_events() == 0


def test_report_metric_is_attributed_to_the_consumers_arm(store):
    s = dr.connect(store, actor="job")
    # A dataset observes the metrics its contract judges.
    with pytest.raises(dr.NotFoundError, match="observes no metric 'conversion'"):
        s.report_metric("conversion", 0.031, "orders", consumer="alice")
    s.sql("CREATE CONTRACT live FOR orders (EXPECT metric_change('conversion') >= -0.5)")
    assert s.report_metric("conversion", 0.031, "orders", consumer="alice") == ("v2", "candidate")
    assert s.report_metric("conversion", 0.029, "orders", consumer="bob") == ("v1", "stable")
    # A time given is when it was observed: alice read v2 a moment ago too, and nothing
    # before the dataset had a version (naive datetimes are UTC).
    just_now = datetime.now(timezone.utc) - timedelta(milliseconds=1)
    assert s.report_metric("conversion", 0.02, "orders", consumer="alice", at=just_now) == (
        "v2",
        "candidate",
    )
    with pytest.raises(dr.RolloutError, match="had no version to read then"):
        s.report_metric("conversion", 0.02, "orders", at=datetime(2000, 1, 1))
    rows = s.sql(
        "SELECT metric, value, version, arm, reported_by FROM rollout_metrics('orders') "
        "WHERE value > 0.025 ORDER BY value"
    ).to_pylist()
    assert rows == [
        {"metric": "conversion", "value": 0.029, "version": "v1", "arm": "stable", "reported_by": "job"},
        {"metric": "conversion", "value": 0.031, "version": "v2", "arm": "candidate", "reported_by": "job"},
    ]
    with pytest.raises(dr.RolloutError, match="finite"):
        s.report_metric("conversion", float("nan"), "orders")
    with pytest.raises(dr.NotFoundError, match="unknown dataset 'nope'"):
        s.report_metric("conversion", 1.0, "nope")
    with pytest.raises(ValueError, match="ISO 8601"):
        s.report_metric("conversion", 1.0, "orders", at="yesterday")


def test_ffi_reads_are_recorded_too(store):
    ctx = SessionContext(SessionConfig().with_extension(dr.RolloutConfig()))
    catalog = dr.RolloutCatalog(store, consumer="alice")
    ctx.register_catalog_provider("rollout", catalog)
    assert ctx.sql("SELECT count(*) AS n FROM rollout.public.orders").to_pylist()[0]["n"] == 1500
    ctx.sql("SET rollout.consumer = 'bob'")
    assert (
        ctx.sql("SELECT sum(amount) AS s FROM rollout.public.orders WHERE amount > 1").to_pylist()[0]["s"]
        > 0
    )
    assert catalog.flush_events() == 2
    rows = reads(dr.connect(store))
    assert [(r["version"], r["arm"], r["consumer"]) for r in rows] == [
        ("v2", "candidate", "alice"),
        ("v1", "stable", "bob"),
    ]


def test_a_controller_round_advances_a_soaked_auto_rollout(store):
    s = dr.connect(store, actor="pytest")
    s.sql("ROLLBACK orders")
    s.sql("PROMOTE orders TO 'v2' IN STAGES (50, 100) EVERY INTERVAL '1 second' AUTO")
    first = s.controller_round()
    assert [(d, v, decision) for d, v, decision, _, _ in first] == [("orders", "v2", "wait")]
    time.sleep(1.2)
    (dataset, version, decision, sequence, detail) = s.controller_round()[0]
    assert (dataset, version, decision) == ("orders", "v2", "advance")
    assert sequence is not None
    history = s.sql("SHOW HISTORY OF orders").to_pylist()
    assert history[-1]["actor"] == "controller" and history[-1]["operation"] == "ADVANCE"
    # The next stage is 100%: v2 became stable, nothing is live any more.
    assert s.controller_round() == []
