//! A guarded PROMOTE against the contract's own scan of the candidate: what the drift
//! expectations add once the versions' profiles exist (issue 21: stable is not rescanned).

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use datafusion_rollout::RolloutContext;
use serde_json::{Value, json};

use crate::Side;
use crate::queries::{Ctx, median, rows_of};
use crate::tpch::{CONTRACT, lineitem_dir, path_str, store_dir, v2_dir};

/// The drift expectations added to the benchmark contract for `lineitem_guarded`: the five of
/// BENCHMARKS.md's guarded-CHECK table, loose enough that v2 (5% of prices up 10%) passes.
const DRIFT: &str = "  EXPECT drift_ks(l_extendedprice) < 0.5,
  EXPECT drift_wasserstein_normed(l_extendedprice) < 0.5,
  EXPECT drift_psi(l_quantity) < 0.5,
  EXPECT drift_psi(l_discount) < 0.5,
  EXPECT drift_js(l_shipmode) < 0.5
)";

/// `lineitem_guarded`'s contract: the benchmark contract plus [`DRIFT`].
fn guarded_contract() -> anyhow::Result<String> {
    let body = CONTRACT
        .trim_end()
        .strip_suffix(')')
        .context("the benchmark contract does not end with ')'")?
        .replacen(
            "CREATE CONTRACT lineitem_contract FOR lineitem",
            "CREATE CONTRACT guarded_contract FOR lineitem_guarded",
            1,
        );
    Ok(format!("{},\n{DRIFT}", body.trim_end()))
}

/// Makes `lineitem_guarded` in the benchmark store once (v1 = lineitem's files, stable; v2 =
/// lineitem v2's files; the guarded contract), then times `reps` rounds, alternating: a
/// guarded `PROMOTE lineitem_guarded TO 'v2' AT 10 PERCENT` (then an untimed ROLLBACK), and
/// `CHECK lineitem VERSION 'v2'`, the same single-version checks of the same candidate
/// without drift. The first PROMOTE (untimed) computes the profiles it needs.
pub async fn guard(dir: &Path, reps: usize) -> anyhow::Result<Value> {
    anyhow::ensure!(reps > 0, "--reps must be at least 1");
    // Refuses a folder without `rollout-bench gen`'s data.
    let ctx = Ctx::open(Side::Ours, dir).await?;
    let Ctx::Ours(rc) = &ctx else {
        anyhow::bail!("our side opened as DataFusion's")
    };
    let contract = guarded_contract()?;
    let marker = store_dir(dir).join("GUARD_READY");
    let made_with = std::fs::read_to_string(&marker).ok();
    let setup = Instant::now();
    if made_with.is_none() {
        run(rc, "CREATE DATASET lineitem_guarded")
            .await
            .with_context(|| {
                format!(
                    "an earlier setup did not finish: delete {} and run `rollout-bench gen` again",
                    store_dir(dir).display()
                )
            })?;
        for sql in [
            format!(
                "REGISTER VERSION 'v1' OF lineitem_guarded FROM '{}/'",
                path_str(&lineitem_dir(dir))?
            ),
            "PROMOTE lineitem_guarded TO 'v1'".to_owned(),
            format!(
                "REGISTER VERSION 'v2' OF lineitem_guarded FROM '{}/'",
                path_str(&v2_dir(dir)?)?
            ),
            contract.clone(),
        ] {
            run(rc, &sql).await?;
        }
    } else if made_with.as_deref() != Some(contract.as_str()) {
        run(
            rc,
            &contract.replacen("CREATE CONTRACT", "CREATE OR REPLACE CONTRACT", 1),
        )
        .await?;
    }
    std::fs::write(&marker, &contract)?;
    let setup_s = setup.elapsed().as_secs_f64();

    const PROMOTE: &str = "PROMOTE lineitem_guarded TO 'v2' AT 10 PERCENT";
    const ROLLBACK: &str = "ROLLBACK lineitem_guarded REASON 'benchmark round'";
    const CHECK: &str = "CHECK lineitem VERSION 'v2'";
    // The first PROMOTE computes both versions' profiles: those of an earlier run are removed.
    let profiles = store_dir(dir)
        .join("_rollout_profiles")
        .join("lineitem_guarded");
    if profiles.exists() {
        std::fs::remove_dir_all(&profiles)?;
    }
    let t = Instant::now();
    let checks = run(rc, PROMOTE).await?;
    let first_s = t.elapsed().as_secs_f64();
    run(rc, ROLLBACK).await?;
    run(rc, CHECK).await?;

    let (mut promote, mut check) = (Vec::new(), Vec::new());
    for round in 0..reps {
        // Which side goes first alternates round by round.
        for side in [round % 2, 1 - round % 2] {
            let t = Instant::now();
            if side == 0 {
                run(rc, PROMOTE).await?;
                promote.push(t.elapsed().as_secs_f64());
                run(rc, ROLLBACK).await?;
            } else {
                run(rc, CHECK).await?;
                check.push(t.elapsed().as_secs_f64());
            }
        }
    }
    Ok(json!({
        "setup_s": setup_s,
        "first_promote_s": first_s,
        "promote": promote,
        "check": check,
        "promote_median_s": median(&promote),
        "check_median_s": median(&check),
        "first_promote_answer": checks,
    }))
}

async fn run(rc: &RolloutContext, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let batches = rc
        .sql(sql)
        .await
        .with_context(|| format!("`{sql}`"))?
        .collect()
        .await
        .with_context(|| format!("`{sql}`"))?;
    rows_of(&batches)
}
