//! `count(*) FILTER (WHERE <comparisons>)` rewritten into one pass (`FusedFilterCounts`): the
//! same answers as DataFusion's own plan, and the rewrite made where it applies only.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array, Int32Array,
    Int64Array, RecordBatch, TimestampMicrosecondArray, UInt16Array, UInt64Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_rollout_udfs::quality::compare::{FusedFilterCounts, rollout_count_compare_udaf};

/// Rows with the values comparisons trip on: NULLs, the bounds themselves, extremes; floats with
/// NaN, -0.0 and infinities (left to DataFusion).
fn table() -> RecordBatch {
    let n = 2_000usize;
    let pick = |i: usize, edges: &[i64]| -> Option<i64> {
        match i % 11 {
            0 => None,
            1..=4 => Some(edges[i % edges.len()]),
            _ => Some((i as i64 * 7_919) % 120 - 20),
        }
    };
    let edges = [i64::MIN, -1, 0, 1, 50, 51, 100, i64::MAX];
    let ints: Vec<Option<i64>> = (0..n).map(|i| pick(i, &edges)).collect();
    let small = |v: Option<i64>| v.map(|v| v.clamp(-128, 127) as i8);
    let fedges = [
        f64::NAN,
        -0.0,
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.1,
        0.08,
        1.0,
    ];
    let floats: Vec<Option<f64>> = (0..n)
        .map(|i| match i % 13 {
            0 => None,
            1..=5 => Some(fedges[i % fedges.len()]),
            _ => Some(((i * 37) % 200) as f64 / 1000.0 - 0.05),
        })
        .collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("i64", Arc::new(Int64Array::from(ints.clone()))),
        (
            "i32",
            Arc::new(Int32Array::from_iter(ints.iter().map(|v| {
                v.map(|v| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32)
            }))),
        ),
        (
            "i8",
            Arc::new(Int8Array::from_iter(ints.iter().map(|&v| small(v)))),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from_iter(
                ints.iter().map(|v| v.map(|v| v.clamp(0, 65_535) as u16)),
            )),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from_iter(
                ints.iter().map(|v| v.map(|v| v.max(0) as u64)),
            )),
        ),
        ("f64", Arc::new(Float64Array::from(floats.clone()))),
        (
            "f32",
            Arc::new(Float32Array::from_iter(
                floats.iter().map(|v| v.map(|v| v as f32)),
            )),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from_iter(
                    ints.iter()
                        .map(|v| v.map(|v| i128::from(v.clamp(-9_999_999, 9_999_999)) * 3)),
                )
                .with_precision_and_scale(15, 2)
                .unwrap(),
            ),
        ),
        ("wdec", Arc::new(wide_decimals(n))),
        (
            "d",
            Arc::new(Date32Array::from_iter(ints.iter().map(|v| {
                v.map(|v| (v.clamp(-100_000, 100_000)) as i32 + 20_000)
            }))),
        ),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from(ints.clone())),
        ),
    ];
    RecordBatch::try_from_iter(cols).unwrap()
}

/// Decimal128(38, 0) values: in the first third of the rows all fit in 64 bits (NULL rows'
/// slots zero), in the second a NULL row's slot holds one that does not, in the last some valid
/// values do not either (compared as 128-bit integers, with constants on both sides of 64 bits).
fn wide_decimals(n: usize) -> Decimal128Array {
    let values: Vec<i128> = (0..n)
        .map(|i| match (i * 3 / n, i % 11, i % 7) {
            (1, 0, _) => i128::MAX,
            (_, 0, _) => 0,
            (2, _, 3) => -(1 << 100),
            (2, _, 5) => 1 << 70,
            _ => match i % 5 {
                0 => i128::from(i64::MIN),
                1 => i128::from(i64::MAX),
                _ => (i as i128 * 7_919) % 120 - 20,
            },
        })
        .collect();
    let valid = NullBuffer::from_iter((0..n).map(|i| i % 11 != 0));
    Decimal128Array::new(values.into(), Some(valid))
        .with_precision_and_scale(38, 0)
        .unwrap()
}

async fn context(fused: bool, partitions: usize) -> SessionContext {
    let config = SessionConfig::new().with_target_partitions(partitions);
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config);
    if fused {
        state = state.with_optimizer_rule(FusedFilterCounts::new());
    }
    let ctx = SessionContext::new_with_state(state.build());
    ctx.register_udaf(rollout_count_compare_udaf().as_ref().clone());
    let batch = table();
    let parts: Vec<Vec<RecordBatch>> = (0..partitions)
        .map(|p| {
            let rows = batch.num_rows() / partitions;
            vec![batch.slice(p * rows, rows)]
        })
        .collect();
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(batch.schema(), parts).unwrap()),
    )
    .unwrap();
    ctx
}

async fn answer(ctx: &SessionContext, sql: &str) -> (String, String) {
    let df = ctx.sql(sql).await.unwrap();
    let plan = format!(
        "{}",
        df.clone().into_optimized_plan().unwrap().display_indent()
    );
    let batches = df.collect().await.unwrap();
    (pretty_format_batches(&batches).unwrap().to_string(), plan)
}

/// Every comparison form a CHECK's condition simplifies to, on every type above, as
/// DataFusion answers it without the rule; each one rewritten.
#[tokio::test]
async fn fused_counts_equal_datafusion_filters_on_every_type_and_edge() {
    let checks: &[(&str, &[&str])] = &[
        (
            "i64",
            &[
                "i64 BETWEEN 0 AND 50",
                "i64 > 0",
                "i64 >= 1",
                "i64 < 100",
                "0 < i64",
                "i64 <= 50",
                "i64 BETWEEN -1 AND 100",
            ],
        ),
        ("i32", &["i32 BETWEEN 1 AND 50", "i32 > 0"]),
        (
            "i8",
            &[
                "i8 BETWEEN CAST(-1 AS TINYINT) AND CAST(50 AS TINYINT)",
                "i8 > CAST(0 AS TINYINT)",
            ],
        ),
        (
            "u16",
            &["u16 BETWEEN CAST(1 AS SMALLINT UNSIGNED) AND CAST(50 AS SMALLINT UNSIGNED)"],
        ),
        (
            "u64",
            &[
                "u64 BETWEEN CAST(1 AS BIGINT UNSIGNED) AND CAST(50 AS BIGINT UNSIGNED)",
                "u64 <= CAST(0 AS BIGINT UNSIGNED)",
            ],
        ),
        (
            "dec",
            &[
                "dec BETWEEN 1 AND 50",
                "dec > 0",
                "dec BETWEEN 0 AND 0.1",
                "dec <= 0.06",
            ],
        ),
        (
            "wdec",
            &[
                "wdec BETWEEN CAST(-5 AS DECIMAL(38, 0)) AND CAST(50 AS DECIMAL(38, 0))",
                "wdec > CAST(0 AS DECIMAL(38, 0))",
                "wdec <= CAST(99 AS DECIMAL(38, 0))",
                "wdec BETWEEN CAST(-9223372036854775808 AS DECIMAL(38, 0)) \
                 AND CAST(9223372036854775807 AS DECIMAL(38, 0))",
                "wdec BETWEEN CAST('-100000000000000000000' AS DECIMAL(38, 0)) \
                 AND CAST('100000000000000000000' AS DECIMAL(38, 0))",
                "wdec < CAST('100000000000000000000' AS DECIMAL(38, 0))",
            ],
        ),
        (
            "d",
            &[
                "d BETWEEN DATE '2024-01-01' AND DATE '2026-12-31'",
                "d > DATE '2024-10-01'",
            ],
        ),
        (
            "ts",
            &[
                "ts BETWEEN TO_TIMESTAMP_MICROS(0) AND TO_TIMESTAMP_MICROS(50)",
                "ts > TO_TIMESTAMP_MICROS(1)",
            ],
        ),
    ];
    for partitions in [1, 3] {
        let (plain, fused) = (
            context(false, partitions).await,
            context(true, partitions).await,
        );
        for (column, conditions) in checks {
            for c in *conditions {
                let sql = format!(
                    "SELECT count(*) FILTER (WHERE NOT ({c})) AS failed, count({column}) AS n FROM t"
                );
                let (want, plain_plan) = answer(&plain, &sql).await;
                let (got, plan) = answer(&fused, &sql).await;
                assert_eq!(
                    got, want,
                    "{sql} at {partitions} partitions\n{plan}\n{plain_plan}"
                );
                assert!(!plain_plan.contains("rollout_count_compare"));
                assert!(
                    plan.contains("rollout_count_compare"),
                    "{sql}: not rewritten\n{plan}"
                );
            }
        }
    }
}

/// What the rule leaves alone: groups, DISTINCT, a filter over two columns or not of
/// comparisons, a count of a column (NULLs matter), a literal of another type (a cast left),
/// floats; answers unchanged.
#[tokio::test]
async fn other_counts_are_left_to_datafusion() {
    let (plain, fused) = (context(false, 2).await, context(true, 2).await);
    for sql in [
        "SELECT i8, count(*) FILTER (WHERE i64 > 0) FROM t GROUP BY i8 ORDER BY i8",
        "SELECT count(DISTINCT i32) FILTER (WHERE i64 > 0) FROM t",
        "SELECT count(*) FILTER (WHERE i64 > 0 OR i32 < 5) FROM t",
        "SELECT count(*) FILTER (WHERE i64 > 0 AND i64 < 50) FROM t",
        "SELECT count(*) FILTER (WHERE i64 = 3) FROM t",
        "SELECT count(i32) FILTER (WHERE i64 > 0) FROM t",
        "SELECT count(*) FILTER (WHERE f32 > 0.1) FROM t",
        // Floats: DataFusion's comparisons put -0.0 level with 0.0 (not Arrow's total order).
        "SELECT count(*) FILTER (WHERE NOT (f64 BETWEEN 0 AND 0.1)) FROM t",
        "SELECT count(*) FILTER (WHERE f64 < 0) FROM t",
        "SELECT count(*) FILTER (WHERE f32 > CAST(0 AS REAL)) FROM t",
        "SELECT count(*) FILTER (WHERE i64 > NULL) FROM t",
    ] {
        let (want, _) = answer(&plain, sql).await;
        let (got, plan) = answer(&fused, sql).await;
        assert_eq!(got, want, "{sql}");
        assert!(!plan.contains("rollout_count_compare"), "{sql}\n{plan}");
    }
    // An empty input counts 0, as count does.
    let (got, _) = answer(
        &fused,
        "SELECT count(*) FILTER (WHERE i64 > 0) FROM t WHERE i8 > 127",
    )
    .await;
    let (want, _) = answer(
        &plain,
        "SELECT count(*) FILTER (WHERE i64 > 0) FROM t WHERE i8 > 127",
    )
    .await;
    assert_eq!(got, want);
}

/// Called by hand with arguments it cannot take, the function says what is wrong and where.
#[tokio::test]
async fn a_hand_written_call_with_bad_arguments_is_a_clear_error() {
    let ctx = context(false, 1).await;
    for (sql, want) in [
        (
            "SELECT rollout_count_compare(i64, '<') FROM t",
            "expected (x, op, c)",
        ),
        (
            "SELECT rollout_count_compare(i64, '<', 5) FROM t",
            "rollout_count_compare",
        ),
        (
            "SELECT rollout_count_compare(i32, '<', CAST(5 AS BIGINT)) FROM t",
            "of x's type",
        ),
        (
            "SELECT rollout_count_compare(i64, '=', 5) FROM t",
            "unknown comparison",
        ),
        (
            "SELECT rollout_count_compare(i64, '<', i64) FROM t",
            "must be a constant",
        ),
        (
            "SELECT rollout_count_compare(i64, '<', CAST(NULL AS BIGINT)) FROM t",
            "non-NULL",
        ),
    ] {
        let got = match ctx.sql(sql).await {
            Ok(df) => df.collect().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if want == "rollout_count_compare" {
            // Int64 column, Int64 constant: a valid call.
            assert!(got.is_ok(), "{sql}: {got:?}");
            continue;
        }
        let e = got.expect_err(sql).to_string();
        assert!(e.contains(want), "{sql}: {e}");
    }
}
