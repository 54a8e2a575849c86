//! Bucketing of consumers, and plan identity of alias reads.

use datafusion_rollout::resolve::{Reason, bucket, resolve};

use crate::common::*;

#[tokio::test]
async fn percentage_exposure_is_exactly_the_low_buckets_and_only_grows() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(&rc, "PROMOTE orders TO 'v2' AT 30 PERCENT").await;
    let state = rc.store().state();
    let salt = state.datasets["orders"]
        .rollout
        .candidate
        .as_ref()
        .unwrap()
        .salt
        .clone();
    let consumers: Vec<String> = (0..1000).map(|i| format!("consumer-{i}")).collect();
    let exposed_at = |state: &datafusion_rollout::catalog::State| -> Vec<bool> {
        consumers
            .iter()
            .map(|c| {
                resolve(state, "orders", None, Some(c), None)
                    .unwrap()
                    .version
                    == "v2"
            })
            .collect()
    };
    let at30 = exposed_at(&state);
    for (c, exposed) in consumers.iter().zip(&at30) {
        assert_eq!(*exposed, bucket(&salt, c) < 3000, "{c}");
    }
    let n30 = at30.iter().filter(|e| **e).count();
    assert!((240..=360).contains(&n30), "about 30% exposed, got {n30}");

    // SQL agrees with the function, and reads follow it, for a sample of consumers.
    for c in consumers.iter().take(40) {
        let b = scalar(&rc, &format!("SELECT rollout_bucket('{c}', '{salt}')")).await;
        assert_eq!(b, bucket(&salt, c).to_string());
        rc.set_consumer(Some(c)).unwrap();
        let avg = scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await;
        let expected = if bucket(&salt, c) < 3000 {
            "54.95"
        } else {
            "49.95"
        };
        assert_eq!(avg, expected, "{c}");
    }

    run(&rc, "PROMOTE orders TO 'v2' AT 60 PERCENT").await;
    let state = rc.store().state();
    let candidate = state.datasets["orders"].rollout.candidate.clone().unwrap();
    assert_eq!(candidate.salt, salt, "the salt is fixed for the rollout");
    let at60 = exposed_at(&state);
    for ((c, before), after) in consumers.iter().zip(&at30).zip(&at60) {
        assert!(!before || *after, "{c} was exposed at 30% but not at 60%");
        assert_eq!(*after, bucket(&salt, c) < 6000, "{c}");
    }
    assert!(at60.iter().filter(|e| **e).count() > n30);
}

#[tokio::test]
async fn resolution_order_pinned_cohort_bucket_stable() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    run(&rc, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
    let state = rc.store().state();
    let r = resolve(&state, "orders", Some("v1"), Some("alice"), None).unwrap();
    assert_eq!((r.version.as_str(), &r.reason), ("v1", &Reason::Pinned));
    let r = resolve(&state, "orders", None, Some("alice"), None).unwrap();
    assert_eq!(r.version, "v2");
    assert!(matches!(r.reason, Reason::CohortMember { .. }));
    let r = resolve(&state, "orders", None, None, None).unwrap();
    assert_eq!(r.version, "v1", "no identity reads stable");
    let r = resolve(&state, "orders", None, None, Some("canary")).unwrap();
    assert_eq!(r.version, "v2");
}

/// The `(plan_type, plan)` rows of an EXPLAIN.
async fn explain(rc: &datafusion_rollout::RolloutContext, query: &str) -> Vec<(String, String)> {
    use datafusion::arrow::array::AsArray;
    let batches = rc
        .sql(&format!("EXPLAIN {query}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        let (kind, plan) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            rows.push((kind.value(i).to_string(), plan.value(i).to_string()));
        }
    }
    rows
}

/// `plan` without its `RecordReadsExec` lines, their subtrees moved up a level.
fn without_recording(plan: &str) -> String {
    let mut out = Vec::new();
    let mut dedent: Vec<usize> = Vec::new(); // indents of removed nodes still open
    for line in plan.lines() {
        let indent = line.len() - line.trim_start().len();
        dedent.retain(|&d| indent > d);
        if line.trim_start().starts_with("RecordReadsExec") {
            dedent.push(indent);
            continue;
        }
        let shift = 2 * dedent.len();
        out.push(format!(
            "{}{}",
            " ".repeat(indent - shift),
            line.trim_start()
        ));
    }
    let mut text = out.join("\n");
    if plan.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn physical(rows: &[(String, String)]) -> &str {
    &rows.iter().find(|(k, _)| k == "physical_plan").unwrap().1
}

#[tokio::test]
async fn alias_read_has_the_same_physical_plan_as_a_direct_read() {
    let fx = Fixture::new().await;
    let rc = fx.orders(Some("erin")).await;
    run(
        &rc,
        &format!(
            "CREATE EXTERNAL TABLE direct STORED AS PARQUET LOCATION '{}/'",
            fx.path("orders_v1").display()
        ),
    )
    .await;
    for query in [
        "SELECT order_id, amount FROM {} WHERE amount > 50 ORDER BY order_id LIMIT 10",
        "SELECT customer_id, sum(amount) FROM {} GROUP BY customer_id",
        "SELECT count(*) FROM {}",
    ] {
        let alias = explain(&rc, &query.replace("{}", "orders")).await;
        let direct = explain(&rc, &query.replace("{}", "direct")).await;
        // Only the table's name (in aggregate labels) may differ, and the reads ledger's
        // pass-through node above the scan (pushdowns reach through it).
        let direct_plan = physical(&direct).replace("direct.", "orders.");
        assert_eq!(without_recording(physical(&alias)), direct_plan, "{query}");
        if direct_plan.contains("DataSourceExec") {
            assert!(
                physical(&alias).contains("RecordReadsExec: dataset=orders version=v1 arm=stable"),
                "{}",
                physical(&alias)
            );
        }
        // DataFusion's rules see the direct read's plan: the node goes over the scan last.
        let verbose = explain(&rc, &format!("VERBOSE {}", query.replace("{}", "orders"))).await;
        let rules: Vec<&(String, String)> = verbose
            .iter()
            .filter(|(k, _)| k.starts_with("physical_plan after "))
            .collect();
        let last = rules.last().unwrap();
        assert_eq!(last.0, "physical_plan after record_reads", "{query}");
        for (rule, plan) in &rules[..rules.len() - 1] {
            assert!(!plan.contains("RecordReadsExec"), "{rule}: {plan}");
        }
        assert_eq!(
            last.1.contains("RecordReadsExec"),
            direct_plan.contains("DataSourceExec"),
            "{}",
            last.1
        );
        run(&rc, "SET rollout.record_reads = false").await;
        let unrecorded = explain(&rc, &query.replace("{}", "orders")).await;
        assert_eq!(physical(&unrecorded), direct_plan, "{query}");
        run(&rc, "RESET rollout.record_reads").await;
        assert!(physical(&alias).contains("Exec"));
        let resolution = alias
            .iter()
            .find(|(k, _)| k == "rollout_resolution")
            .unwrap();
        assert_eq!(
            resolution.1,
            "orders -> 'v1': stable, consumer 'erin' is not exposed to a candidate"
        );
    }
}

/// Each file group's `(path, start..end)` entries in the `DataSourceExec` line of `plan`.
fn file_groups(plan: &str) -> Vec<Vec<(String, std::ops::Range<i64>)>> {
    let line = plan
        .lines()
        .find(|l| l.contains("DataSourceExec: file_groups="))
        .unwrap_or_else(|| panic!("no scan in {plan}"));
    let groups = &line[line.find("[[").unwrap() + 2..line.find("]]").unwrap()];
    groups
        .split("], [")
        .map(|group| {
            group
                .split(", ")
                .map(|entry| {
                    // `path:start..end`, or the path alone for the whole file.
                    let ranged = entry.rsplit_once(':').and_then(|(path, range)| {
                        let (start, end) = range.split_once("..")?;
                        Some((path, start.parse().ok()?..end.parse().ok()?))
                    });
                    let (path, range) = ranged.unwrap_or((entry, 0..i64::MAX));
                    (path.to_string(), range)
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn a_version_is_planned_from_its_pins_as_the_listing_would_be() {
    let fx = Fixture::new().await;
    let rc = fx.orders(Some("erin")).await;
    let files = |sql: &'static str| {
        let rc = &rc;
        async move {
            let rows = explain(rc, sql).await;
            file_groups(physical(&rows)).concat().len()
        }
    };
    // Both files without a limit; with a limit and no filter, the files whose exact row
    // counts already exceed it, as DataFusion's listing stops (500 rows per file).
    assert_eq!(files("SELECT order_id FROM orders").await, 2);
    assert_eq!(files("SELECT order_id FROM orders LIMIT 3").await, 1);
    assert_eq!(files("SELECT order_id FROM orders LIMIT 700").await, 2);
    assert_eq!(
        files("SELECT order_id FROM orders WHERE amount > 1 LIMIT 3").await,
        2
    );
    let limited = rc
        .sql("SELECT count(*) AS n FROM (SELECT * FROM orders LIMIT 3)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    assert_eq!(limited[0].column(0).as_primitive::<Int64Type>().value(0), 3);
    // Planning asks the store nothing: a file replaced after registration still plans (its
    // size and statistics come from the pin and the cache), and fails when it is read,
    // naming the file.
    let victim = fx.path("orders_v1").join("part-1.parquet");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, [bytes.as_slice(), b"x"].concat()).unwrap();
    assert_eq!(files("SELECT order_id FROM orders").await, 2);
    let err = rc
        .sql("SELECT sum(amount) FROM orders")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("part-1.parquet"), "{err}");
}

#[tokio::test]
async fn a_scan_is_split_by_rows_at_row_group_boundaries() {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};

    // Four files of 14,000 rows, each a row group of 10,000 rows then one of 4,000 (the shape
    // of files written with the Parquet writer's default of 1,048,576 rows per group). Fewer
    // rows than a batch would not be split at all.
    let fx = Fixture {
        dir: tempfile::tempdir().unwrap(),
    };
    let data = fx.path("lines");
    std::fs::create_dir_all(&data).unwrap();
    let writer = datafusion::prelude::SessionContext::new();
    writer
        .sql("SET datafusion.execution.parquet.max_row_group_size = 10000")
        .await
        .unwrap();
    for f in 0..4 {
        // The last file about 45 KB larger: half the bytes end inside the third file, past
        // its first page but before its second row group.
        let sql = format!(
            "COPY (SELECT (value * 7919) % 56003 AS v, \
             CASE WHEN {} AND value % 10 = 0 THEN md5(CAST(value AS VARCHAR)) ELSE 'x' END \
             AS pad FROM generate_series({}, {})) TO '{}' STORED AS PARQUET",
            f == 3,
            f * 14_000,
            f * 14_000 + 13_999,
            data.join(format!("part-{f}.parquet")).display()
        );
        writer.sql(&sql).await.unwrap().collect().await.unwrap();
    }
    // Where each file's row groups start (as DataFusion assigns them to byte ranges).
    let starts = |path: &str| -> Vec<(i64, i64)> {
        let path = std::path::Path::new("/").join(path.trim_start_matches('/'));
        let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
        reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| {
                let c = g.column(0);
                let offset = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
                (offset, g.num_rows())
            })
            .collect()
    };
    let rows_read = |groups: &[Vec<(String, std::ops::Range<i64>)>]| -> Vec<i64> {
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .flat_map(|(path, range)| {
                        starts(path)
                            .into_iter()
                            .filter(|(offset, _)| range.contains(offset))
                            .map(|(_, rows)| rows)
                            .collect::<Vec<_>>()
                    })
                    .sum()
            })
            .collect()
    };

    let rc = fx.open(None).await;
    run(&rc, "CREATE DATASET lines").await;
    run(
        &rc,
        &format!("REGISTER VERSION 'v1' OF lines FROM '{}/'", data.display()),
    )
    .await;
    run(&rc, "PROMOTE lines TO 'v1'").await;
    run(
        &rc,
        &format!(
            "CREATE EXTERNAL TABLE direct STORED AS PARQUET LOCATION '{}/'",
            data.display()
        ),
    )
    .await;
    // The least largest part: two parts of 28,000 rows; in three, one part holds two groups
    // of 10,000 rows and the 4,000 between them.
    for (partitions, least) in [(2, 28_000), (3, 24_000)] {
        run(
            &rc,
            &format!("SET datafusion.execution.target_partitions = {partitions}"),
        )
        .await;
        run(
            &rc,
            "SET datafusion.optimizer.repartition_file_min_size = 0",
        )
        .await;
        let query = "SELECT count(*) AS n, sum(v) AS s, sum(length(pad)) AS p FROM {} WHERE v >= 0";
        let direct = explain(&rc, &query.replace("{}", "direct")).await;
        let direct_rows = rows_read(&file_groups(physical(&direct)));
        let alias = explain(&rc, &query.replace("{}", "lines")).await;
        let alias_rows = rows_read(&file_groups(physical(&alias)));
        // The alias's partitions read whole row groups, the largest part as small as can be.
        assert_eq!(alias_rows.len(), partitions);
        assert_eq!(alias_rows.iter().sum::<i64>(), 56_000);
        assert_eq!(
            alias_rows.iter().max(),
            Some(&least),
            "{}",
            physical(&alias)
        );
        assert_eq!(direct_rows.iter().sum::<i64>(), 56_000);
        if partitions == 2 {
            // DataFusion's byte ranges: the first takes the third file's first group too.
            assert_eq!(direct_rows, vec![38_000, 18_000], "{}", physical(&direct));
        }
        // Every row group is read once: the same answer as the direct read.
        assert_eq!(
            run(&rc, &query.replace("{}", "lines")).await,
            run(&rc, &query.replace("{}", "direct")).await
        );
        // Switched off, the alias is split as the direct read is.
        run(&rc, "SET rollout.balance_scans = false").await;
        let unbalanced = explain(&rc, &query.replace("{}", "lines")).await;
        assert_eq!(rows_read(&file_groups(physical(&unbalanced))), direct_rows);
        run(&rc, "RESET rollout.balance_scans").await;
    }
}
