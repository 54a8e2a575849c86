//! Quality aggregates: values, NULL semantics, grouped vs ungrouped, FILTER.

use datafusion::scalar::ScalarValue;

use crate::helpers::{ctx, scalar};

async fn setup() -> datafusion::prelude::SessionContext {
    let ctx = ctx();
    ctx.sql(
        "CREATE TABLE q (g INT, s VARCHAR, x DOUBLE, k1 INT, k2 VARCHAR, ts TIMESTAMP) AS VALUES
         (1, 'AB',  1.0,        1, 'a', TIMESTAMP '2026-01-01T00:00:00'),
         (1, 'abc', 'NaN',      1, 'a', TIMESTAMP '2026-01-02T06:00:00'),
         (1, NULL,  NULL,       1, NULL, NULL),
         (2, '',    5.0,        2, 'b', TIMESTAMP '2025-12-31T00:00:00'),
         (2, 'N/A', 200.0,      2, 'b', TIMESTAMP '2025-12-30T12:00:00'),
         (2, 'Zürich', -3.0,    3, 'c', TIMESTAMP '2025-12-01T00:00:00'),
         (2, '  ',  7.0,        3, 'c', NULL)",
    )
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
    ctx
}

fn iv(days: i32, nanos: i64) -> ScalarValue {
    ScalarValue::IntervalMonthDayNano(Some(
        datafusion::arrow::datatypes::IntervalMonthDayNano::new(0, days, nanos),
    ))
}

fn i(v: i64) -> ScalarValue {
    ScalarValue::Int64(Some(v))
}

#[tokio::test]
async fn counts_and_fractions() {
    let ctx = setup().await;
    assert_eq!(scalar(&ctx, "SELECT null_count(s) FROM q").await, i(1));
    assert_eq!(
        scalar(&ctx, "SELECT null_fraction(x) FROM q").await,
        ScalarValue::Float64(Some(1.0 / 7.0))
    );
    assert_eq!(scalar(&ctx, "SELECT nan_count(x) FROM q").await, i(1));
    assert_eq!(scalar(&ctx, "SELECT missing_count(s) FROM q").await, i(3));
    assert_eq!(
        scalar(&ctx, "SELECT missing_count(s, 'N/A') FROM q").await,
        i(4)
    );
    assert_eq!(
        scalar(&ctx, "SELECT missing_fraction(s, 'N/A') FROM q").await,
        ScalarValue::Float64(Some(4.0 / 7.0))
    );
    // invalid: NULL excluded from numerator and denominator
    assert_eq!(
        scalar(&ctx, "SELECT invalid_count_in(s, 'AB', 'abc', '') FROM q").await,
        i(3)
    );
    assert_eq!(
        scalar(
            &ctx,
            "SELECT invalid_fraction_in(s, 'AB', 'abc', '') FROM q"
        )
        .await,
        ScalarValue::Float64(Some(0.5))
    );
    assert_eq!(
        scalar(&ctx, "SELECT invalid_count_regex(s, '^[A-Z]{2}$') FROM q").await,
        i(5)
    );
    assert_eq!(
        scalar(
            &ctx,
            "SELECT invalid_fraction_regex(s, '^[A-Z]{2}$') FROM q"
        )
        .await,
        ScalarValue::Float64(Some(5.0 / 6.0))
    );
    // NaN is outside every range; NULL bound = open
    assert_eq!(
        scalar(&ctx, "SELECT invalid_count_range(x, 0, 100) FROM q").await,
        i(3)
    );
    // NaN sorts above every number (Arrow's total order), so it only fails an upper bound
    assert_eq!(
        scalar(&ctx, "SELECT invalid_count_range(x, 0, NULL) FROM q").await,
        i(1)
    );
    assert_eq!(
        scalar(&ctx, "SELECT invalid_fraction_range(k1, 2, 3) FROM q").await,
        ScalarValue::Float64(Some(3.0 / 7.0))
    );
    assert_eq!(
        scalar(
            &ctx,
            "SELECT invalid_count_range(ts, TIMESTAMP '2025-12-30T00:00:00', NULL) FROM q"
        )
        .await,
        i(1)
    );
}

#[tokio::test]
async fn distinct_duplicates_lengths() {
    let ctx = setup().await;
    assert_eq!(scalar(&ctx, "SELECT distinct_count(k1) FROM q").await, i(3));
    assert_eq!(
        scalar(&ctx, "SELECT duplicate_count(k1) FROM q").await,
        i(4)
    );
    // (1,NULL) is ignored: rows (1,a),(1,a),(2,b),(2,b),(3,c),(3,c) → 3 extra rows
    assert_eq!(
        scalar(&ctx, "SELECT duplicate_count(k1, k2) FROM q").await,
        i(3)
    );
    assert_eq!(scalar(&ctx, "SELECT min_length(s) FROM q").await, i(0));
    assert_eq!(scalar(&ctx, "SELECT max_length(s) FROM q").await, i(6));
    assert_eq!(
        scalar(&ctx, "SELECT max_length(s) FROM q WHERE s IS NULL").await,
        ScalarValue::Int64(None)
    );
}

#[tokio::test]
async fn empty_input() {
    let ctx = setup().await;
    assert_eq!(
        scalar(&ctx, "SELECT null_count(s) FROM q WHERE false").await,
        i(0)
    );
    assert_eq!(
        scalar(&ctx, "SELECT null_fraction(s) FROM q WHERE false").await,
        ScalarValue::Float64(None)
    );
    assert_eq!(
        scalar(&ctx, "SELECT duplicate_count(k1) FROM q WHERE false").await,
        i(0)
    );
}

#[tokio::test]
async fn freshness_and_retention() {
    let ctx = setup().await;
    let v = scalar(
        &ctx,
        "SELECT freshness(ts, TIMESTAMP '2026-01-03T08:00:00') FROM q",
    )
    .await;
    assert_eq!(v, iv(1, 2 * 3_600_000_000_000));
    let ok = scalar(
        &ctx,
        "SELECT freshness(ts, TIMESTAMP '2026-01-03T08:00:00') < INTERVAL '2 days' FROM q",
    )
    .await;
    assert_eq!(ok, ScalarValue::Boolean(Some(true)));
    let v = scalar(
        &ctx,
        "SELECT retention(ts, TIMESTAMP '2026-01-01T00:00:00') FROM q",
    )
    .await;
    assert_eq!(v, iv(31, 0));
}

#[tokio::test]
async fn grouped_and_filtered_use_the_groups_accumulator() {
    let ctx = setup().await;
    let b = ctx
        .sql(
            "SELECT g, null_count(s) AS n, missing_count(s) AS m, max_length(s) AS l, \
             invalid_count_range(x, 0, 10) FILTER (WHERE x > 0) AS r, duplicate_count(k1) AS d \
             FROM q GROUP BY g ORDER BY g",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let s = datafusion::arrow::util::pretty::pretty_format_batches(&b)
        .unwrap()
        .to_string();
    let expected = "\
+---+---+---+---+---+---+
| g | n | m | l | r | d |
+---+---+---+---+---+---+
| 1 | 1 | 1 | 3 | 1 | 2 |
| 2 | 0 | 2 | 6 | 1 | 2 |
+---+---+---+---+---+---+";
    assert_eq!(s, expected);
}

#[tokio::test]
async fn window_frames_evaluate_repeatedly() {
    let ctx = setup().await;
    let b = ctx
        .sql(
            "SELECT k1, null_count(s) OVER (ORDER BY k1, s ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS n, \
             max_length(s) OVER (ORDER BY k1, s ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS l \
             FROM q ORDER BY k1, s",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let s = datafusion::arrow::util::pretty::pretty_format_batches(&b)
        .unwrap()
        .to_string();
    let expected = "\
+----+---+---+
| k1 | n | l |
+----+---+---+
| 1  | 0 | 2 |
| 1  | 0 | 3 |
| 1  | 1 | 3 |
| 2  | 1 | 3 |
| 2  | 1 | 3 |
| 3  | 1 | 3 |
| 3  | 1 | 6 |
+----+---+---+";
    assert_eq!(s, expected);
}

#[tokio::test]
async fn lengths_ascii_fast_path() {
    let ctx = ctx();
    ctx.sql("CREATE TABLE a (g INT, s VARCHAR) AS VALUES (1, 'abc'), (1, NULL), (1, 'a'), (2, 'hello'), (2, ''), (3, NULL)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(scalar(&ctx, "SELECT max_length(s) FROM a").await, i(5));
    assert_eq!(scalar(&ctx, "SELECT min_length(s) FROM a").await, i(0));
    assert_eq!(
        scalar(&ctx, "SELECT max_length(arrow_cast(s, 'LargeUtf8')) FROM a").await,
        i(5)
    );
    let b = ctx
        .sql("SELECT g, min_length(s) AS mn, max_length(s) AS mx FROM a GROUP BY g ORDER BY g")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let s = datafusion::arrow::util::pretty::pretty_format_batches(&b)
        .unwrap()
        .to_string();
    let expected = "\
+---+----+----+
| g | mn | mx |
+---+----+----+
| 1 | 1  | 3  |
| 2 | 0  | 5  |
| 3 |    |    |
+---+----+----+";
    assert_eq!(s, expected);
}

/// Byte length and character length disagree: the byte-length skip must never hide the row
/// with the extreme character count, in any string type, grouped or not, with or without FILTER.
#[tokio::test]
async fn lengths_where_bytes_and_characters_disagree() {
    let ctx = ctx();
    // 'ééééé' = 10 bytes / 5 chars; 'abcdefg' = 7 / 7; '😀😀' = 8 / 2; 'xyz' = 3 / 3
    ctx.sql(
        "CREATE TABLE m (g INT, s VARCHAR) AS VALUES \
         (1, 'ééééé'), (1, 'abcdefg'), (1, NULL), (2, '😀😀'), (2, 'xyz'), (2, 'ééééé')",
    )
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
    for ty in ["Utf8", "LargeUtf8", "Utf8View", "Dictionary(Int32, Utf8)"] {
        let s = format!("arrow_cast(s, '{ty}')");
        let q = |sql: String| {
            let ctx = ctx.clone();
            async move { scalar(&ctx, &sql).await }
        };
        assert_eq!(
            q(format!("SELECT max_length({s}) FROM m")).await,
            i(7),
            "{ty}"
        );
        assert_eq!(
            q(format!("SELECT min_length({s}) FROM m")).await,
            i(2),
            "{ty}"
        );
        assert_eq!(
            q(format!(
                "SELECT max_length({s}) FILTER (WHERE g = 2) FROM m"
            ))
            .await,
            i(5),
            "{ty}"
        );
        assert_eq!(
            q(format!(
                "SELECT min_length({s}) FILTER (WHERE g = 1) FROM m"
            ))
            .await,
            i(5),
            "{ty}"
        );
        let b = ctx
            .sql(&format!(
                "SELECT g, min_length({s}) AS mn, max_length({s}) AS mx FROM m GROUP BY g ORDER BY g"
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let out = datafusion::arrow::util::pretty::pretty_format_batches(&b)
            .unwrap()
            .to_string();
        assert_eq!(
            out,
            "\
+---+----+----+
| g | mn | mx |
+---+----+----+
| 1 | 5  | 7  |
| 2 | 2  | 5  |
+---+----+----+",
            "{ty}"
        );
    }
}

/// The listed values are tested in one pass over strings: a short list is scanned, a long one
/// hashed; both must agree with the SQL `IN` list, for every string type.
#[tokio::test]
async fn invalid_in_short_and_long_lists() {
    let ctx = ctx();
    ctx.sql(
        "CREATE TABLE l (s VARCHAR) AS VALUES ('AIR'), ('FOB'), ('MAIL'), (NULL), ('air'), \
         ('REG AIR'), (''), ('TRUCK'), ('k'), ('z'), ('longer than twelve bytes'), \
         ('longer than twelve byteS'), ('lon'), ('twelve bytes'), ('twelve byte'), \
         ('twelve bytes!'), ('FOB ')",
    )
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
    // Short strings are compared inside the Utf8View views, longer ones by prefix, then bytes.
    let short = "'AIR', 'FOB', 'REG AIR', 'longer than twelve bytes'";
    // Every value inline (at most 12 bytes, the empty string included): the views are compared
    // whole, masked to the row's length.
    let inline = "'AIR', 'FOB', '', 'twelve bytes', 'k'";
    let long = "'AIR', 'FOB', 'MAIL', 'RAIL', 'REG AIR', 'SHIP', 'TRUCK', 'a', 'b', 'c', 'k', ''";
    for ty in ["Utf8", "LargeUtf8", "Utf8View", "Dictionary(Int32, Utf8)"] {
        for list in [short, inline, long] {
            let expected = scalar(
                &ctx,
                &format!("SELECT count(*) FROM l WHERE s IS NOT NULL AND s NOT IN ({list})"),
            )
            .await;
            let ours = scalar(
                &ctx,
                &format!("SELECT invalid_count_in(arrow_cast(s, '{ty}'), {list}) FROM l"),
            )
            .await;
            assert_eq!(ours, expected, "{ty} {list}");
            let missing = scalar(
                &ctx,
                &format!("SELECT missing_count(arrow_cast(s, '{ty}'), {list}) FROM l"),
            )
            .await;
            let expected_missing = scalar(
                &ctx,
                &format!("SELECT count(*) FROM l WHERE s IS NULL OR trim(s) = '' OR s IN ({list})"),
            )
            .await;
            assert_eq!(missing, expected_missing, "{ty} {list}");
        }
    }
    // Sanity: the long list takes the hashed path, the others the scan (16 strings, 1 NULL).
    for (list, invalid) in [(long, 9), (short, 12), (inline, 11)] {
        assert_eq!(
            scalar(&ctx, &format!("SELECT invalid_count_in(s, {list}) FROM l")).await,
            i(invalid),
            "{list}"
        );
    }
}

/// The listed values (and a regular expression's pattern) reach the aggregate as constants that
/// cost nothing per batch: literals of a run-end encoded type, one run, which DataFusion expands
/// to a batch's length without a pass over it. A plain string literal would be 8,192 copies per
/// batch, a dictionary 8,192 keys that Arrow checks.
#[tokio::test]
async fn listed_values_are_constants_not_arrays() {
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion::physical_plan::aggregates::AggregateExec;

    fn aggregates(plan: &std::sync::Arc<dyn ExecutionPlan>, out: &mut Vec<AggregateExec>) {
        if let Some(a) = plan.downcast_ref::<AggregateExec>() {
            out.push(a.clone());
        }
        for c in plan.children() {
            aggregates(c, out);
        }
    }
    let ctx = ctx();
    for sql in [
        "SELECT invalid_count_in(s, 'AIR', 'FOB') FROM l",
        "SELECT missing_count(s, 'N/A') FROM l",
        "SELECT missing_count(arrow_cast(s, 'LargeUtf8'), 'N/A', '-') FROM l",
        "SELECT missing_count(arrow_cast(s, 'LargeUtf8'), 'N/A') FROM l",
        "SELECT invalid_count_regex(s, '^[A-Z]+$') FROM l",
    ] {
        ctx.sql("CREATE OR REPLACE TABLE l (s VARCHAR) AS VALUES ('AIR'), ('x'), (NULL)")
            .await
            .unwrap();
        let plan = ctx
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let mut found = Vec::new();
        aggregates(&plan, &mut found);
        let first = found.last().expect("an aggregate");
        let args = first.aggr_expr()[0].expressions();
        assert!(args.len() >= 2, "{sql}: {args:?}");
        for a in &args[1..] {
            let t = a.data_type(&first.input().schema()).unwrap();
            assert!(
                matches!(
                    t,
                    datafusion::arrow::datatypes::DataType::RunEndEncoded(_, _)
                ),
                "{sql}: a constant argument of type {t}"
            );
        }
    }
    // And they answer as before.
    assert_eq!(
        scalar(&ctx, "SELECT invalid_count_in(s, 'AIR', 'FOB') FROM l").await,
        i(1)
    );
    assert_eq!(
        scalar(&ctx, "SELECT invalid_count_regex(s, '^[A-Z]+$') FROM l").await,
        i(1)
    );
}

/// `min_length` / `max_length` skip a batch whose byte lengths cannot change the answer: over
/// many small batches, ASCII and multi-byte strings (whose byte lengths overstate their
/// characters) and NULLs, in one partition and several, they equal `character_length`'s extremes.
#[tokio::test]
async fn lengths_over_many_batches_equal_character_length() {
    for partitions in [1, 3] {
        let ctx = crate::helpers::ctx_with(partitions);
        ctx.sql("SET datafusion.execution.batch_size = 7")
            .await
            .unwrap();
        ctx.sql(
            "CREATE TABLE m AS SELECT CASE WHEN v % 11 = 0 THEN NULL \
             ELSE repeat(CASE WHEN v % 3 = 0 THEN 'é' WHEN v % 5 = 0 THEN '😀' ELSE 'a' END, \
             CAST((v * 7919) % 37 AS INT)) END AS s FROM generate_series(1, 700) AS t(v)",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        for ty in ["Utf8", "LargeUtf8", "Utf8View"] {
            for (ours, theirs) in [("max_length", "max"), ("min_length", "min")] {
                let got = scalar(
                    &ctx,
                    &format!("SELECT {ours}(arrow_cast(s, '{ty}')) FROM m"),
                )
                .await;
                let want = scalar(
                    &ctx,
                    &format!("SELECT CAST({theirs}(character_length(s)) AS BIGINT) FROM m"),
                )
                .await;
                assert_eq!(got, want, "{ours} of {ty} in {partitions} partition(s)");
            }
        }
    }
}

/// `a IS NOT NULL AND b IS NOT NULL` for the keys `"a, b"`.
fn all_not_null(keys: &str) -> String {
    keys.split(", ")
        .map(|k| format!("{k} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `duplicate_count` over composite keys equals the same count written in plain SQL (rows
/// with every key non-NULL minus their distinct tuples), for pairs of integers, of an integer
/// and a float (pairs in 64 bits or 128), and three keys or a text key (the row-format path), at one
/// and at eight partitions over many small batches (so partial states are merged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_keys_match_sql_at_any_partitioning() {
    for partitions in [1, 8] {
        let ctx = crate::helpers::ctx_with(partitions);
        ctx.sql(&format!(
            "SET datafusion.execution.batch_size = {}",
            if partitions == 1 { 8192 } else { 97 }
        ))
        .await
        .unwrap();
        // 20,000 rows; order keys repeat, line numbers 1..7, NULLs in each key.
        ctx.sql(
            "CREATE TABLE k AS SELECT
                CASE WHEN value % 53 = 0 THEN NULL ELSE (value * 7919) % 997 - 500 END AS o,
                CAST(CASE WHEN value % 61 = 0 THEN NULL ELSE value % 7 + 1 END AS INT) AS l,
                CASE WHEN value % 5 = 0 THEN NULL ELSE CAST((value * 31) % 9 AS DOUBLE) / 4 END AS f,
                CAST(value % 2 AS SMALLINT) AS t,
                CAST(value % 11 AS VARCHAR) AS s
             FROM generate_series(1, 20000)",
        )
        .await
        .unwrap();
        if partitions == 8 {
            ctx.sql("CREATE TABLE k8 AS SELECT * FROM k ORDER BY random()")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
        }
        let table = if partitions == 8 { "k8" } else { "k" };
        // Pairs: "t, l" fits in 64 bits throughout, "o, l" turns wide at the first negative
        // order key (partial states of both widths are merged), "o, f" and "f, t" are mostly wide.
        for keys in ["o, l", "l, o", "t, l", "o, f", "f, t", "o, l, t", "o, s"] {
            let not_null = all_not_null(keys);
            let got = scalar(
                &ctx,
                &format!("SELECT duplicate_count({keys}) FROM {table}"),
            )
            .await;
            let sql = format!(
                "SELECT (SELECT count(*) FROM {table} WHERE {not_null}) - \
                 (SELECT count(*) FROM (SELECT DISTINCT {keys} FROM {table} WHERE {not_null}))"
            );
            let want = scalar(&ctx, &sql).await;
            assert_eq!(
                got, want,
                "duplicate_count({keys}) at {partitions} partition(s)"
            );
            assert!(
                matches!(got, ScalarValue::Int64(Some(n)) if n > 0),
                "{keys}: the data must have duplicates to test anything ({got})"
            );
        }
        // Per group of an outer GROUP BY (interned keys carry their group; partial states of
        // many groups are merged at eight partitions).
        for keys in ["o, l, t", "o, s", "s", "o, t", "t, f"] {
            let not_null = all_not_null(keys);
            let got = format!(
                "SELECT string_agg(CAST(d AS VARCHAR), ',' ORDER BY g) FROM \
                 (SELECT l AS g, duplicate_count({keys}) AS d FROM {table} GROUP BY l)"
            );
            let want = format!(
                "SELECT string_agg(CAST(coalesce(w.d, 0) AS VARCHAR), ',' ORDER BY gs.l) FROM \
                 (SELECT DISTINCT l FROM {table}) gs LEFT JOIN \
                 (SELECT g, sum(c) - count(*) AS d FROM \
                   (SELECT l AS g, {keys}, count(*) AS c FROM {table} WHERE {not_null} \
                    GROUP BY l, {keys}) GROUP BY g) w \
                 ON gs.l IS NOT DISTINCT FROM w.g"
            );
            // Over input sorted on the group, groups are emitted as they end (EmitTo::First).
            let sorted = got.replace(
                &format!("FROM {table} GROUP BY l"),
                &format!("FROM (SELECT * FROM {table} ORDER BY l) GROUP BY l"),
            );
            let want = scalar(&ctx, &want).await;
            assert_eq!(
                scalar(&ctx, &got).await,
                want,
                "grouped duplicate_count({keys}) at {partitions} partition(s)"
            );
            assert_eq!(
                scalar(&ctx, &sorted).await,
                want,
                "grouped duplicate_count({keys}) over sorted input at {partitions} partition(s)"
            );
        }
        // Floats are keys by their bits, in pairs as alone: -0.0 and 0.0 differ.
        let zeros =
            "SELECT duplicate_count(a, b) FROM (VALUES (0.0, 1), (-0.0, 1), (0.0, 1)) AS z(a, b)";
        assert_eq!(scalar(&ctx, zeros).await, i(1));
    }
}

/// Keys that arrive in key order (a table written sorted on its key) take the path that keeps
/// them as ascending runs; runs from partitions that do not overlap join in either order, runs
/// that overlap or keys out of order fall back to hashing. Every case against SQL.
#[tokio::test]
async fn keys_in_key_order_match_sql() {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use std::sync::Arc;

    let schema = Arc::new(Schema::new(vec![
        Field::new("o", DataType::Int64, true),
        Field::new("l", DataType::Int64, true),
    ]));
    // Ascending (o, l) from `from`, each o with lines 1..=4, every 7th row repeated and every
    // 50th row's line NULL; in batches of 97 rows.
    let run = |from: i64, orders: i64| -> Vec<RecordBatch> {
        let mut rows: Vec<(i64, Option<i64>)> = Vec::new();
        for o in from..from + orders {
            for l in 1..=4 {
                let n = rows.len();
                let line = if n % 50 == 49 { None } else { Some(l) };
                rows.push((o, line));
                if n.is_multiple_of(7) {
                    rows.push((o, line));
                }
            }
        }
        rows.chunks(97)
            .map(|c| {
                let o = Int64Array::from_iter_values(c.iter().map(|r| r.0));
                let l = Int64Array::from_iter(c.iter().map(|r| r.1));
                RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(o), Arc::new(l)]).unwrap()
            })
            .collect()
    };
    // Disjoint runs (later partitions hold lower keys), overlapping runs, and one partition
    // whose second half starts over.
    let layouts: [(&str, Vec<Vec<RecordBatch>>); 3] = [
        (
            "disjoint",
            vec![run(2000, 900), run(1000, 900), run(0, 900)],
        ),
        ("overlapping", vec![run(0, 900), run(450, 900)]),
        ("restarting", vec![[run(500, 600), run(0, 600)].concat()]),
    ];
    for (name, parts) in layouts {
        for partitions in [1, 3] {
            let ctx = crate::helpers::ctx_with(partitions);
            let table = MemTable::try_new(Arc::clone(&schema), parts.clone()).unwrap();
            ctx.register_table("t", Arc::new(table)).unwrap();
            for keys in ["o, l", "o", "l, o"] {
                let not_null = all_not_null(keys);
                for (f, want) in [
                    (
                        "duplicate_count",
                        format!(
                            "SELECT (SELECT count(*) FROM t WHERE {not_null}) - (SELECT count(*) \
                             FROM (SELECT DISTINCT {keys} FROM t WHERE {not_null}))"
                        ),
                    ),
                    (
                        "distinct_count",
                        format!("SELECT count(DISTINCT {keys}) FROM t"),
                    ),
                ] {
                    if f == "distinct_count" && keys.contains(',') {
                        continue;
                    }
                    let got = scalar(&ctx, &format!("SELECT {f}({keys}) FROM t")).await;
                    let want = scalar(&ctx, &want).await;
                    assert_eq!(got, want, "{f}({keys}), {name}, {partitions} partition(s)");
                    // Per group as well (t = o % 3 splits every run between groups).
                    let grouped = format!(
                        "SELECT string_agg(CAST(d AS VARCHAR), ',' ORDER BY g) FROM \
                         (SELECT o % 3 AS g, {f}({keys}) AS d FROM t WHERE o IS NOT NULL GROUP BY o % 3)"
                    );
                    let per_group = format!(
                        "SELECT string_agg(CAST(d AS VARCHAR), ',' ORDER BY g) FROM \
                         (SELECT o % 3 AS g, {} AS d FROM t WHERE o IS NOT NULL GROUP BY o % 3)",
                        if f == "distinct_count" {
                            format!("count(DISTINCT {keys})")
                        } else {
                            format!(
                                "count(*) FILTER (WHERE {not_null}) - \
                                 count(DISTINCT CASE WHEN {not_null} THEN ({keys}) END)"
                            )
                        }
                    );
                    assert_eq!(
                        scalar(&ctx, &grouped).await,
                        scalar(&ctx, &per_group).await,
                        "grouped {f}({keys}), {name}, {partitions} partition(s)"
                    );
                }
            }
        }
    }
}

/// Whole columns (no NULL) whose keys arrive out of order, many more than the point where a
/// stream's unsorted keys are first sorted (65,536): a unique composite key with a few
/// duplicates, a single key, and a key of 1,000 values (mostly duplicates, which turn the
/// set into a hash set). Every count against SQL, at 1 and 3 partitions.
#[tokio::test]
async fn keys_out_of_order_match_sql() {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use std::sync::Arc;

    let schema = Arc::new(Schema::new(vec![
        Field::new("o", DataType::Int64, false),
        Field::new("l", DataType::Int64, false),
        Field::new("d", DataType::Int64, false),
    ]));
    // 300,000 rows: row i is order (i * 7919 mod 300,007) / 4 with line i mod 4 + 1 (a
    // permutation of the pairs, so out of order), every 997th row repeated.
    let mut rows: Vec<(i64, i64, i64)> = Vec::new();
    for i in 0..300_000i64 {
        let k = (i * 7919) % 300_007;
        rows.push((k / 4, k % 4 + 1, k % 1000));
        if i % 997 == 0 {
            rows.push((k / 4, k % 4 + 1, k % 1000));
        }
    }
    let batches: Vec<RecordBatch> = rows
        .chunks(8192)
        .map(|c| {
            let col = |f: fn(&(i64, i64, i64)) -> i64| {
                Arc::new(Int64Array::from_iter_values(c.iter().map(f))) as _
            };
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![col(|r| r.0), col(|r| r.1), col(|r| r.2)],
            )
            .unwrap()
        })
        .collect();
    for partitions in [1, 3] {
        let ctx = crate::helpers::ctx_with(partitions);
        let parts: Vec<Vec<RecordBatch>> = (0..partitions)
            .map(|p| {
                batches
                    .iter()
                    .skip(p)
                    .step_by(partitions)
                    .cloned()
                    .collect()
            })
            .collect();
        let table = MemTable::try_new(Arc::clone(&schema), parts).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        for (got, want) in [
            (
                "SELECT duplicate_count(o, l) FROM t",
                "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT o, l FROM t)) FROM t",
            ),
            (
                "SELECT duplicate_count(o) FROM t",
                "SELECT count(*) - count(DISTINCT o) FROM t",
            ),
            (
                "SELECT distinct_count(o) FROM t",
                "SELECT count(DISTINCT o) FROM t",
            ),
            (
                "SELECT distinct_count(d) FROM t",
                "SELECT count(DISTINCT d) FROM t",
            ),
            (
                "SELECT duplicate_count(d, l) FROM t",
                "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT d, l FROM t)) FROM t",
            ),
        ] {
            let (g, w) = (scalar(&ctx, got).await, scalar(&ctx, want).await);
            assert_eq!(g, w, "{got}, {partitions} partition(s)");
        }
        assert_eq!(
            scalar(&ctx, "SELECT duplicate_count(o, l) FROM t").await,
            datafusion::scalar::ScalarValue::Int64(Some(301)),
            "the repeated rows"
        );
    }
}

/// The listed values of `invalid_count_in` / `missing_count` are coerced to a one-value
/// dictionary of the column's type (a cheap per-batch expansion): numbers, dates, NULLs in the
/// list, grouped and ungrouped, still count as the SQL `IN` list does.
#[tokio::test]
async fn listed_values_of_any_type() {
    let ctx = setup().await;
    for (col, list) in [
        ("k1", "1, 3"),
        ("k1", "CAST(2 AS BIGINT), NULL"),
        ("x", "1.0, 5, -3.0"),
        ("CAST(ts AS DATE)", "DATE '2026-01-01', DATE '2025-12-01'"),
        ("k2", "'a', NULL, 'c'"),
    ] {
        let expected = scalar(
            &ctx,
            &format!("SELECT count(*) FROM q WHERE {col} IS NOT NULL AND {col} NOT IN ({list})"),
        )
        .await;
        let ours = scalar(
            &ctx,
            &format!("SELECT invalid_count_in({col}, {list}) FROM q"),
        )
        .await;
        // `NOT IN` with a NULL listed is never true; ours ignores a NULL in the list.
        if !list.contains("NULL") {
            assert_eq!(ours, expected, "{col} {list}");
        }
        let grouped = scalar(
            &ctx,
            &format!(
                "SELECT sum(n) FROM (SELECT g, invalid_count_in({col}, {list}) AS n FROM q GROUP BY g)"
            ),
        )
        .await;
        assert_eq!(grouped, ours, "grouped {col} {list}");
    }
    assert_eq!(
        scalar(&ctx, "SELECT invalid_count_in(k1, 1, 3) FROM q").await,
        i(2)
    );
    assert_eq!(
        scalar(
            &ctx,
            "SELECT invalid_count_in(k1, CAST(2 AS BIGINT), NULL) FROM q"
        )
        .await,
        i(5)
    );
    assert_eq!(
        scalar(&ctx, "SELECT missing_count(k1, 2) FROM q").await,
        i(2)
    );
    assert_eq!(
        scalar(&ctx, "SELECT missing_count(x, 1.0, NULL) FROM q").await,
        i(2)
    );
}
