//! Results do not depend on partitioning: target_partitions 1 vs 8, many batches, many files.

use std::sync::Arc;

use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use crate::helpers::{Values, batches, close, ctx_with, f64_of, register_pooled};

const QUERIES: &[&str] = &[
    "ks_statistic(v, c)",
    "ks_pvalue(v, c)",
    "wasserstein_distance(v, c)",
    "wasserstein_normed(v, c)",
    "psi(v, c)",
    "psi(v, c, 'deciles')",
    "js_distance(v, c)",
    "hellinger(v, c, 'deciles')",
    "drift_summary(v, c)['ks_pvalue']",
    "CAST(null_count(v) AS DOUBLE)",
    "CAST(distinct_count(v) AS DOUBLE)",
    "CAST(duplicate_count(v) AS DOUBLE)",
];

fn data() -> (Values, Values) {
    // deterministic pseudo-random values with ties (LCG)
    let mut s: u64 = 42;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    let base: Vec<Option<f64>> = (0..6000)
        .map(|i| {
            if i % 97 == 0 {
                None
            } else {
                Some((next() * 1000.0).round() / 10.0)
            }
        })
        .collect();
    let cand: Vec<Option<f64>> = (0..4500)
        .map(|_| Some((next() * 1100.0).round() / 10.0 + 3.0))
        .collect();
    (Values::F64(base), Values::F64(cand))
}

async fn all(ctx: &SessionContext, table: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for q in QUERIES {
        out.push(f64_of(ctx, &format!("SELECT {q} FROM {table}")).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_numbers_for_any_partitioning() {
    let (base, cand) = data();
    let c1 = ctx_with(1);
    register_pooled(&c1, "t", &base, &cand, 1, 100_000);
    let reference = all(&c1, "t").await;

    let c8 = ctx_with(8);
    register_pooled(&c8, "t", &base, &cand, 8, 113);
    let got = all(&c8, "t").await;

    // Parquet: 13 files, small row groups
    let dir = tempfile::tempdir().unwrap();
    let v = Values::concat(&base, &cand);
    let n_base = base.len();
    let flags: Vec<bool> = (0..v.len()).map(|i| i >= n_base).collect();
    let bs = batches(&v, &flags, 811);
    for (i, b) in bs.chunks(1).enumerate() {
        let f = std::fs::File::create(dir.path().join(format!("part-{i:03}.parquet"))).unwrap();
        let mut w = ArrowWriter::try_new(f, Arc::clone(&b[0].schema()), None).unwrap();
        for x in b {
            w.write(x).unwrap();
        }
        w.close().unwrap();
    }
    c8.register_parquet(
        "p",
        dir.path().to_str().unwrap(),
        ParquetReadOptions::default(),
    )
    .await
    .unwrap();
    let from_files = all(&c8, "p").await;

    for (i, q) in QUERIES.iter().enumerate() {
        assert!(
            close(got[i], reference[i], 1e-12),
            "{q}: {} vs {}",
            got[i],
            reference[i]
        );
        assert!(
            close(from_files[i], reference[i], 1e-12),
            "{q} (parquet): {} vs {}",
            from_files[i],
            reference[i]
        );
    }

    // grouped form: same value per group as ungrouped
    let g = f64_of(
        &c8,
        "SELECT ks_pvalue(v, c) FROM (SELECT v, c, 1 AS k FROM p) GROUP BY k",
    )
    .await;
    assert!(close(g, reference[1], 1e-12));
}
