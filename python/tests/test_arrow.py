"""The Arrow C stream: pyarrow, pandas and polars read results without Python-object copies."""

from __future__ import annotations

import pyarrow as pa
import pytest

import datafusion_rollout as dr


def test_pyarrow_table(store):
    r = dr.connect(store, consumer="alice").sql("SELECT order_id, amount FROM orders ORDER BY order_id")
    t = pa.table(r)
    assert t.num_rows == 1500
    assert t.schema.names == ["order_id", "amount"]
    assert t.schema.field("amount").type == pa.float64()
    # The stream can be taken more than once.
    assert pa.table(r).equals(t)
    assert r.to_arrow().equals(t)
    assert pa.RecordBatchReader.from_stream(r).read_all().equals(t)
    assert pa.schema(r) == t.schema


def test_pandas(store):
    df = dr.connect(store, consumer="bob").sql("SELECT order_id, amount FROM orders ORDER BY order_id").to_pandas()
    assert len(df) == 1000
    assert list(df.columns) == ["order_id", "amount"]
    assert df["order_id"].iloc[0] == 1
    assert df["amount"].sum() == pytest.approx(sum(v % 100 for v in range(1, 1001)))


def test_polars(store):
    pl = pytest.importorskip("polars")
    r = dr.connect(store, consumer="alice").sql("SELECT order_id, amount FROM orders")
    df = pl.from_arrow(pa.table(r))
    assert df.shape == (1500, 2)
    assert r.to_polars().shape == (1500, 2)


def test_empty_and_nested(store):
    s = dr.connect(store)
    r = s.sql("SELECT order_id FROM orders WHERE order_id < 0")
    t = pa.table(r)
    assert t.num_rows == 0 and t.schema.names == ["order_id"]
    t = pa.table(s.sql("SELECT [1, 2] AS xs, named_struct('a', 1) AS st, NULL AS n"))
    assert t.to_pylist() == [{"xs": [1, 2], "st": {"a": 1}, "n": None}]
