//! NULL handling, empty sides and wrong argument types.

use crate::helpers::{Values, ctx, error_of, register_pooled};

#[tokio::test]
async fn empty_side_is_a_clear_error() {
    let ctx = ctx();
    let base = Values::F64(vec![Some(1.0), Some(2.0)]);
    let cand = Values::F64(vec![None, Some(f64::NAN), Some(f64::INFINITY)]);
    register_pooled(&ctx, "t", &base, &cand, 1, 10);
    for f in [
        "ks_statistic",
        "ks_pvalue",
        "wasserstein_distance",
        "psi",
        "drift_summary",
        "chi2_pvalue",
    ] {
        let e = error_of(&ctx, &format!("SELECT {f}(v, c) FROM t")).await;
        assert!(
            e.contains("candidate side") && e.contains("no non-NULL finite values"),
            "{f}: {e}"
        );
    }
    let e = error_of(&ctx, "SELECT ks_statistic(v, c) FROM t WHERE c").await;
    assert!(e.contains("baseline side"), "{e}");
}

#[tokio::test]
async fn wrong_types_are_planning_errors() {
    let ctx = ctx();
    let base = Values::Str(vec![Some("a".into())]);
    let cand = Values::Str(vec![Some("b".into())]);
    register_pooled(&ctx, "s", &base, &cand, 1, 10);
    let e = error_of(&ctx, "SELECT ks_statistic(v, c) FROM s").await;
    assert!(
        e.contains("ks_statistic: `value` must be a numeric column"),
        "{e}"
    );
    let e = error_of(&ctx, "SELECT psi(v, 1) FROM s").await;
    assert!(e.contains("`is_candidate` must be BOOLEAN"), "{e}");
    let e = error_of(&ctx, "SELECT psi(v, c, 'quartiles') FROM s").await;
    assert!(e.contains("unknown binning convention"), "{e}");
    let e = error_of(&ctx, "SELECT wasserstein_distance(v) FROM s").await;
    assert!(e.contains("takes 2 arguments"), "{e}");
    let e = error_of(&ctx, "SELECT invalid_count_regex(v, '([') FROM s").await;
    assert!(e.contains("invalid regular expression"), "{e}");
    let e = error_of(&ctx, "SELECT invalid_count_regex(v, v) FROM s").await;
    assert!(e.contains("must be a constant"), "{e}");
    let e = error_of(&ctx, "SELECT min_length(c) FROM s").await;
    assert!(e.contains("one string argument"), "{e}");
    let e = error_of(&ctx, "SELECT freshness(v) FROM s").await;
    assert!(e.contains("timestamp"), "{e}");
}

#[tokio::test]
async fn memory_pool_refuses_instead_of_oom() {
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};
    use std::sync::Arc;
    let rt = RuntimeEnvBuilder::new()
        .with_memory_limit(2 << 20, 1.0)
        .build_arc()
        .unwrap();
    let ctx =
        SessionContext::new_with_config_rt(SessionConfig::new().with_target_partitions(1), rt);
    datafusion_rollout_udfs::register_all(&ctx).unwrap();
    let n = 1_000_000;
    let base = Values::F64((0..n).map(|i| Some(i as f64)).collect());
    let cand = Values::F64((0..n).map(|i| Some(i as f64 + 0.5)).collect());
    register_pooled(&ctx, "big", &base, &cand, 1, 8192);
    let e = error_of(&ctx, "SELECT ks_pvalue(v, c) FROM big").await;
    assert!(e.contains("Resources exhausted"), "{e}");
    let _ = Arc::new(());
}
