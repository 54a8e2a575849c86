"""The datafusion-python 55 path: a plain datafusion.SessionContext reads the store through FFI
(catalog, table, functions, rollout.* settings) and gets what connect().sql() gets."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from datafusion import SessionConfig, SessionContext

import datafusion
import datafusion_rollout as dr

ROWS = "SELECT order_id, amount FROM {} ORDER BY order_id"


def native(store, consumer=None, table="orders"):
    return pa.table(dr.connect(store, consumer=consumer).sql(ROWS.format(table)))


def ffi(ctx, table="rollout.public.orders"):
    return ctx.sql(ROWS.format(table)).to_arrow_table()


def n(ctx, table="rollout.public.orders"):
    return ctx.sql(f"SELECT count(*) AS n FROM {table}").to_pylist()[0]["n"]


def session(store=None, **catalog_args):
    """A datafusion-python context with the rollout settings, and the store as `rollout`."""
    ctx = SessionContext(SessionConfig().with_extension(dr.RolloutConfig()))
    if store is not None:
        ctx.register_catalog_provider("rollout", dr.RolloutCatalog(store, **catalog_args))
    return ctx


def test_versions():
    assert datafusion.__version__.startswith("55."), datafusion.__version__


@pytest.mark.parametrize("consumer, rows", [("alice", 1500), ("bob", 1000), (None, 1000)])
def test_catalog_reads_what_connect_reads(store, consumer, rows):
    expected = native(store, consumer)
    assert expected.num_rows == rows  # alice is in canary (v2), bob is not (v1)
    # The provider's own consumer...
    ctx = SessionContext()
    ctx.register_catalog_provider("rollout", dr.RolloutCatalog(store, consumer=consumer))
    assert ffi(ctx).equals(expected)
    # ...and the session's, set with SET on the datafusion-python context.
    ctx = session(store)
    if consumer is not None:
        ctx.sql(f"SET rollout.consumer = '{consumer}'")
    assert ffi(ctx).equals(expected)


def test_set_on_the_context_changes_the_version(store):
    ctx = session(store, consumer="bob")
    assert n(ctx) == 1000  # the catalog's consumer
    ctx.sql("SET rollout.consumer = 'alice'")
    assert n(ctx) == 1500  # the session's wins
    ctx.sql("SET rollout.consumer = 'carol'")
    assert n(ctx) == 1000
    ctx.sql("SET rollout.cohort = 'canary'")
    assert n(ctx) == 1500  # the session joined the exposed cohort
    # The settings are visible as such, and a context built with them starts there.
    ctx = SessionContext(SessionConfig().with_extension(dr.RolloutConfig(consumer="alice")))
    ctx.register_catalog_provider("rollout", dr.RolloutCatalog(store))
    assert n(ctx) == 1500


def test_register_table_and_pinned_versions(store):
    ctx = session()
    ctx.register_table("orders", dr.RolloutTable(store, "orders"))
    ctx.register_table("orders_v1", dr.RolloutTable(store, "orders", version="v1"))
    ctx.sql("SET rollout.consumer = 'alice'")
    assert ffi(ctx, "orders").equals(native(store, "alice"))
    assert ffi(ctx, "orders_v1").equals(native(store, "alice", "orders VERSION AS OF 'v1'"))
    assert n(ctx, "orders_v1") == 1000
    cat = dr.RolloutCatalog(store)
    ctx.register_catalog_provider("rollout", cat)
    assert n(ctx, 'rollout.public."orders@v1"') == 1000
    assert n(ctx, 'rollout.public."orders@v2"') == 1500
    assert cat.datasets == ["orders"]
    t = cat.table("orders", version="v2")
    assert (t.dataset, t.version) == ("orders", "v2")


def test_explain_names_the_version(store):
    ctx = session(store)
    ctx.sql("SET rollout.consumer = 'alice'")
    plan = " ".join(ctx.sql("EXPLAIN SELECT * FROM rollout.public.orders").to_pydict()["plan"])
    assert "orders -> 'v2': candidate, consumer 'alice' is a member of exposed cohort canary" in plan
    ctx.sql("SET rollout.consumer = 'bob'")
    plan = " ".join(ctx.sql("EXPLAIN SELECT * FROM rollout.public.orders").to_pydict()["plan"])
    assert "orders -> 'v1': stable" in plan


def test_filters_and_projections_cross_ffi(store):
    ctx = session(store, consumer="alice")
    q = "SELECT sum(amount) AS s, count(*) AS c FROM {} WHERE order_id > 1234 AND abs(amount) < 50"
    native = dr.connect(store, consumer="alice")
    got = ctx.sql(q.format("rollout.public.orders")).to_pylist()
    want = native.sql(q.format("orders")).to_pylist()
    assert got == want and got[0]["c"] > 0
    q = "SELECT amount FROM {} WHERE order_id BETWEEN 10 AND 20 ORDER BY amount DESC LIMIT 3"
    got = ctx.sql(q.format("rollout.public.orders")).to_pylist()
    assert got == native.sql(q.format("orders")).to_pylist() and len(got) == 3
    # A filter calling a Python UDF of that context reaches our scan too (decoded with the
    # context's functions).
    big = datafusion.udf(lambda a: pc.greater(a, 1400), [pa.int64()], pa.bool_(), "stable", name="big")
    ctx.register_udf(big)
    assert n(ctx, "rollout.public.orders WHERE big(order_id)") == 100


def test_promote_and_rollback_through_connect_are_seen(store):
    admin = dr.connect(store, actor="pytest")
    ctx = session(store, consumer="bob")
    ctx.register_table("orders", dr.RolloutTable(store, "orders", consumer="bob"))
    assert n(ctx) == 1000 and n(ctx, "orders") == 1000
    admin.sql("PROMOTE orders TO 'v2' REASON 'everyone'")
    assert n(ctx) == 1500 and n(ctx, "orders") == 1500
    admin.sql("ROLLBACK orders REASON 'back'")
    assert n(ctx) == 1000 and n(ctx, "orders") == 1000
    # A dataset created after the catalog was registered is found too.
    admin.sql("CREATE DATASET later; CREATE VERSION 'a' OF later AS SELECT 7 AS x; PROMOTE later TO 'a'")
    assert ctx.sql("SELECT x FROM rollout.public.later").to_pylist() == [{"x": 7}]


def test_functions_give_the_native_values(store):
    ctx = session(store)
    dr.register_functions(ctx)
    names = {f.name for f in dr.functions()}
    assert {"null_count", "ks_statistic", "psi", "rollout_bucket"} <= names
    quality = (
        "SELECT null_count(x) AS nulls, null_fraction(x) AS frac, distinct_count(x) AS d, "
        "max_length(CAST(x AS VARCHAR)) AS ml FROM "
        "(SELECT CASE WHEN order_id % 7 = 0 THEN NULL ELSE amount END AS x FROM {})"
    )
    drift = (
        "SELECT ks_statistic(amount, c) AS ks, wasserstein_distance(amount, c) AS w, "
        "psi(amount, c) AS psi FROM (SELECT amount, false AS c FROM {} "
        "UNION ALL SELECT amount, true AS c FROM {})"
    )
    bucket = "SELECT rollout_bucket('alice', 'salt') AS b"
    s = dr.connect(store)
    got = ctx.sql(quality.format("rollout.public.orders")).to_pylist()[0]
    want = s.sql(quality.format("orders")).to_pylist()[0]
    assert got == want and got["nulls"] == 142
    got = ctx.sql(drift.format('rollout.public."orders@v1"', 'rollout.public."orders@v2"'))
    got = got.to_pylist()[0]
    want = s.sql(drift.format("orders VERSION AS OF 'v1'", "orders VERSION AS OF 'v2'"))
    want = want.to_pylist()[0]
    assert got["ks"] > 0.01 and got["w"] > 1.0
    assert got == pytest.approx(want, rel=1e-12)
    assert ctx.sql(bucket).to_pylist() == s.sql(bucket).to_pylist()


def test_errors(store):
    ctx = session(store)
    with pytest.raises(Exception, match=r"unknown dataset 'nope'.*known datasets: 'orders'"):
        ctx.sql("SELECT * FROM rollout.public.nope").collect()
    with pytest.raises(Exception, match=r"v9"):
        ctx.sql('SELECT * FROM rollout.public."orders@v9"').collect()
    with pytest.raises(dr.NotFoundError, match="nope"):
        dr.RolloutTable(store, "nope")
    with pytest.raises(dr.NotFoundError, match="v9"):
        dr.RolloutCatalog(store).table("orders", version="v9")
    # SET takes any key once an FFI extension is registered: the next scan says what is wrong.
    ctx.sql("SET rollout.consumr = 'alice'")
    with pytest.raises(Exception, match=r"rollout\.consumr"):
        ctx.sql("SELECT * FROM rollout.public.orders").collect()
    # A session without the extension cannot SET rollout.*, and says so.
    with pytest.raises(Exception, match="rollout"):
        SessionContext().sql("SET rollout.consumer = 'alice'")


def test_memory_store_and_verified_files(store):
    # The plan runs with the store's object stores, not the foreign session's empty registry.
    s = dr.connect("memory://ffi-mem")
    s.sql("CREATE DATASET d; CREATE VERSION 'a' OF d AS SELECT 1 AS x; PROMOTE d TO 'a'")
    ctx = session("memory://ffi-mem")
    assert ctx.sql("SELECT x FROM rollout.public.d").to_pylist() == [{"x": 1}]
    # ...which verify pinned files: a rewritten file of v1 fails the read, naming it.
    ctx = session(store, consumer="bob")
    assert n(ctx) == 1000
    victim = sorted(p for p in store.rglob("*.parquet") if "v1" in str(p))[0]
    victim.write_bytes(victim.read_bytes() + b"tampered")
    with pytest.raises(Exception, match=victim.name):
        ctx.sql("SELECT sum(amount) FROM rollout.public.orders").collect()
