//! Registry: names unique, no collision with DataFusion built-ins, SHOW FUNCTIONS.

use std::collections::HashSet;

use datafusion::prelude::SessionContext;

use crate::helpers::{ctx, scalar};

#[test]
fn names_and_aliases_are_unique_and_do_not_shadow_builtins() {
    let builtin = SessionContext::new();
    let state = builtin.state();
    let mut taken: HashSet<String> = HashSet::new();
    for f in state.scalar_functions().values() {
        taken.insert(f.name().to_string());
        taken.extend(f.aliases().iter().cloned());
    }
    for f in state.aggregate_functions().values() {
        taken.insert(f.name().to_string());
        taken.extend(f.aliases().iter().cloned());
    }
    for f in state.window_functions().values() {
        taken.insert(f.name().to_string());
        taken.extend(f.aliases().iter().cloned());
    }
    let mut ours: HashSet<String> = HashSet::new();
    let all = datafusion_rollout_udfs::all_functions();
    let names = all
        .aggregate
        .iter()
        .flat_map(|f| std::iter::once(f.name().to_string()).chain(f.aliases().iter().cloned()))
        .chain(all.scalar.iter().flat_map(|f| {
            std::iter::once(f.name().to_string()).chain(f.aliases().iter().cloned())
        }));
    for n in names {
        assert!(
            !taken.contains(&n),
            "{n} collides with a DataFusion built-in"
        );
        assert!(ours.insert(n.clone()), "{n} is registered twice");
    }
    assert!(ours.len() >= 27);
}

#[test]
fn every_function_is_documented() {
    for f in datafusion_rollout_udfs::all_functions().aggregate {
        let d = f
            .documentation()
            .unwrap_or_else(|| panic!("{} has no documentation", f.name()));
        assert!(d.description.len() > 40, "{}", f.name());
        assert!(d.sql_example.is_some(), "{}", f.name());
        assert!(
            d.arguments.as_ref().is_some_and(|a| !a.is_empty()),
            "{}",
            f.name()
        );
        assert!(d.syntax_example.starts_with(f.name()), "{}", f.name());
    }
}

#[tokio::test]
async fn show_functions_lists_our_documentation() {
    let ctx = ctx();
    let d = scalar(&ctx, "SELECT description FROM information_schema.routines WHERE routine_name = 'ks_pvalue' LIMIT 1").await;
    let text = d.to_string();
    assert!(text.contains("scipy.stats.ks_2samp"), "{text}");
    let b = ctx
        .sql("SHOW FUNCTIONS LIKE 'psi'")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let s = datafusion::arrow::util::pretty::pretty_format_batches(&b)
        .unwrap()
        .to_string();
    assert!(s.contains("Population stability index"), "{s}");
}

#[test]
fn expr_fn_builders_name_the_function() {
    use datafusion::prelude::col;
    use datafusion_rollout_udfs::expr_fn;
    let e = expr_fn::ks_statistic(col("v"), col("c"));
    assert!(e.to_string().contains("ks_statistic"), "{e}");
    let e = expr_fn::duplicate_count(vec![col("a"), col("b")]);
    assert!(e.to_string().contains("duplicate_count"), "{e}");
}
