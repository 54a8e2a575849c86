"""One exception class per kind, each a RolloutError carrying the message."""

from __future__ import annotations

import pytest

import datafusion_rollout as dr


def test_parse_error(store):
    s = dr.connect(store)
    with pytest.raises(dr.ParseError) as e:
        s.sql("PROMOTE orders 'v2'")
    assert str(e.value)
    with pytest.raises(dr.ParseError):
        s.sql("SELEC 1")
    with pytest.raises(dr.ParseError):
        s.sql("")


def test_not_found(store):
    s = dr.connect(store)
    with pytest.raises(dr.NotFoundError, match="nope"):
        s.sql("PROMOTE nope TO 'v1'")
    with pytest.raises(dr.NotFoundError, match="v9"):
        s.sql("PROMOTE orders TO 'v9'")
    with pytest.raises(dr.NotFoundError, match="nosuchtable"):
        s.sql("SELECT * FROM nosuchtable")


def test_assertion_failed(store):
    s = dr.connect(store)
    with pytest.raises(dr.AssertionFailedError, match="too few"):
        s.sql("ASSERT (SELECT count(*) FROM orders) > 5000 AS 'too few orders'")
    s.sql("ASSERT (SELECT count(*) FROM orders) = 1000")


def test_guard_failed(store):
    s = dr.connect(store)
    # Registered before the contract exists, so it is not rejected: PROMOTE's guards refuse it.
    s.sql("CREATE VERSION 'bad' OF orders AS SELECT 1 AS order_id, -1.0 AS amount FROM generate_series(1, 200)")
    s.sql("CREATE CONTRACT c FOR orders (amount DOUBLE CHECK (amount >= 0))")
    s.sql("ROLLBACK orders")
    with pytest.raises(dr.GuardFailedError, match="refused") as e:
        s.sql("PROMOTE orders TO 'bad' FOR COHORT canary")
    assert "amount >= 0" in str(e.value)
    # FORCE exposes it anyway.
    s.sql("PROMOTE orders TO 'bad' FOR COHORT canary FORCE REASON 'testing'")
    assert dr.connect(store, consumer="alice").sql("SELECT count(*) AS n FROM orders").to_pylist() == [{"n": 200}]


def test_concurrent_modification_is_a_rollout_error():
    assert dr.ConcurrentModificationError.__mro__[1] is dr.RolloutError


def test_hierarchy():
    for cls in (
        dr.ParseError,
        dr.NotFoundError,
        dr.GuardFailedError,
        dr.ConcurrentModificationError,
        dr.AssertionFailedError,
    ):
        assert issubclass(cls, dr.RolloutError)
        assert issubclass(cls, Exception)


def test_session_usable_after_error(store):
    s = dr.connect(store, consumer="bob")
    with pytest.raises(dr.RolloutError):
        s.sql("SELECT nope FROM orders")
    assert s.sql("SELECT count(*) AS n FROM orders").to_pylist() == [{"n": 1000}]
