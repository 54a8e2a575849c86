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
