//! Criterion benchmarks of the quality family next to DataFusion's built-ins on the same column.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

fn context(n: usize) -> SessionContext {
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("g", DataType::Int64, false),
        Field::new("k", DataType::Int64, false),
    ]));
    let mut batches = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + 8192).min(n);
        let x: Float64Array = (start..end)
            .map(|i| (i % 100 != 0).then_some((i % 1000) as f64 / 10.0))
            .collect();
        let s: StringArray = (start..end)
            .map(|i| (i % 50 != 0).then(|| format!("item-{}", i % 9973)))
            .collect();
        let g: Int64Array = (start..end).map(|i| (i % 16) as i64).collect();
        let k: Int64Array = (start..end).map(|i| (i / 2) as i64).collect();
        let cols: Vec<ArrayRef> = vec![Arc::new(x), Arc::new(s), Arc::new(g), Arc::new(k)];
        batches.push(RecordBatch::try_new(Arc::clone(&schema), cols).unwrap());
        start = end;
    }
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    datafusion_rollout_udfs::register_all(&ctx).unwrap();
    let half = batches.len() / 2;
    let p2 = batches.split_off(half);
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(schema, vec![batches, p2]).unwrap()),
    )
    .unwrap();
    ctx
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ctx = context(1_000_000);
    let mut g = c.benchmark_group("quality_1m");
    g.sample_size(10);
    for (name, sql) in [
        ("builtin_count", "SELECT count(x) FROM t"),
        ("null_count", "SELECT null_count(x) FROM t"),
        ("null_fraction", "SELECT null_fraction(x) FROM t"),
        ("builtin_min", "SELECT min(x) FROM t"),
        ("nan_count", "SELECT nan_count(x) FROM t"),
        (
            "invalid_count_range",
            "SELECT invalid_count_range(x, 0, 50) FROM t",
        ),
        (
            "builtin_max_char_length",
            "SELECT max(character_length(s)) FROM t",
        ),
        ("max_length", "SELECT max_length(s) FROM t"),
        (
            "invalid_count_regex",
            "SELECT invalid_count_regex(s, '^item-[0-9]+$') FROM t",
        ),
        ("missing_count", "SELECT missing_count(s, 'N/A') FROM t"),
        ("builtin_count_distinct", "SELECT count(DISTINCT k) FROM t"),
        ("distinct_count", "SELECT distinct_count(k) FROM t"),
        ("duplicate_count", "SELECT duplicate_count(k) FROM t"),
        (
            "grouped_builtin_count",
            "SELECT g, count(x) FROM t GROUP BY g",
        ),
        (
            "grouped_null_count",
            "SELECT g, null_count(x) FROM t GROUP BY g",
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    black_box(ctx.sql(sql).await.unwrap().collect().await.unwrap())
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
