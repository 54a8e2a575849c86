//! Criterion benchmarks of the drift family (SQL through DataFusion over in-memory batches).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

fn lcg(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn context(n_per_side: usize) -> SessionContext {
    let mut r = lcg(1);
    let schema = Arc::new(Schema::new(vec![
        Field::new("v", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("c", DataType::Boolean, false),
    ]));
    let mut batches = Vec::new();
    let total = 2 * n_per_side;
    let mut start = 0;
    while start < total {
        let end = (start + 8192).min(total);
        let v: Float64Array = (start..end)
            .map(|i| Some(r() + if i >= n_per_side { 0.01 } else { 0.0 }))
            .collect();
        let s: StringArray = (start..end)
            .map(|i| Some(format!("cat{}", i % 37)))
            .collect();
        let c: BooleanArray = (start..end).map(|i| Some(i >= n_per_side)).collect();
        let cols: Vec<ArrayRef> = vec![Arc::new(v), Arc::new(s), Arc::new(c)];
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
    let ctx = context(200_000);
    let mut g = c.benchmark_group("drift_200k_per_side");
    g.sample_size(10);
    for (name, sql) in [
        ("ks_pvalue", "SELECT ks_pvalue(v, c) FROM t"),
        (
            "wasserstein_distance",
            "SELECT wasserstein_distance(v, c) FROM t",
        ),
        ("psi_evidently", "SELECT psi(v, c) FROM t"),
        ("psi_deciles", "SELECT psi(v, c, 'deciles') FROM t"),
        ("drift_summary", "SELECT drift_summary(v, c) FROM t"),
        ("chi2_pvalue_strings", "SELECT chi2_pvalue(s, c) FROM t"),
        ("js_distance_strings", "SELECT js_distance(s, c) FROM t"),
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
