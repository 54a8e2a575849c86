//! `drift('orders', 'v1', 'v2')`: two versions of a dataset compared column by column.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::{ViewTable, provider_as_source};
use datafusion::error::{DataFusionError, Result};
use datafusion::functions::expr_fn::{get_field, named_struct};
use datafusion::functions_nested::expr_fn::make_array;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col, lit, when};

use super::IS_CANDIDATE;
use crate::catalog::{State, schema_from_columns};
use crate::resolve::VersionedTable;
use crate::store::Store;

/// Thresholds of the verdict (Evidently's defaults for large samples): numeric columns drift
/// when `wasserstein_normed >= 0.1` or `psi >= 0.25`; categorical ones when
/// `js_distance >= 0.1` or `psi >= 0.25`; `psi >= 0.1` alone is `moderate`.
pub const WASSERSTEIN_NORMED_DRIFT: f64 = 0.1;
pub const JS_DISTANCE_DRIFT: f64 = 0.1;
pub const PSI_DRIFT: f64 = 0.25;
pub const PSI_MODERATE: f64 = 0.1;

/// The `drift` table function: one row per column both versions have, with the statistics
/// that fit its type (numeric: KS statistic and p-value, normed Wasserstein, PSI, JS distance;
/// string and boolean: PSI, JS distance, chi² p-value) and a verdict. One scan of each version.
#[derive(Debug)]
pub(crate) struct DriftFunction {
    store: Arc<Store>,
}

impl DriftFunction {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }
}

fn string_arg(expr: &Expr, what: &str) -> Result<String> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Ok(s.clone()),
        other => Err(DataFusionError::Plan(format!(
            "drift(dataset, baseline_version, candidate_version): the {what} must be a string literal, got {other}"
        ))),
    }
}

pub(super) enum Kind {
    Numeric,
    Categorical,
}

fn kind_of(t: &DataType) -> Option<Kind> {
    if t.is_numeric() {
        Some(Kind::Numeric)
    } else if matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean
    ) {
        Some(Kind::Categorical)
    } else {
        None
    }
}

/// The columns both versions of `dataset` have, in the dataset's order, of a type the drift
/// statistics (and histograms) apply to.
pub(super) fn shared_columns(
    state: &State,
    dataset: &str,
    baseline: &str,
    candidate: &str,
) -> crate::error::Result<Vec<(String, DataType, Kind)>> {
    let b = state.version(dataset, baseline)?;
    let c = state.version(dataset, candidate)?;
    let schema = schema_from_columns(
        &state
            .dataset(dataset)?
            .reader_columns(&[baseline, candidate]),
    )?;
    let has = |v: &crate::catalog::Version, name: &str| v.schema.iter().any(|x| x.name == name);
    Ok(schema
        .fields()
        .iter()
        .filter(|f| has(b, f.name()) && has(c, f.name()))
        .filter_map(|f| {
            kind_of(f.data_type()).map(|k| (f.name().clone(), f.data_type().clone(), k))
        })
        .collect())
}

impl TableFunctionImpl for DriftFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let [dataset, baseline, candidate] = args.exprs() else {
            return Err(DataFusionError::Plan(
                "drift takes three arguments: drift('dataset', 'baseline_version', 'candidate_version')".into(),
            ));
        };
        let dataset = string_arg(dataset, "dataset")?;
        let baseline = string_arg(baseline, "baseline version")?;
        let candidate = string_arg(candidate, "candidate version")?;
        let columns = shared_columns(&self.store.state(), &dataset, &baseline, &candidate)
            .map_err(DataFusionError::from)?;
        if columns.is_empty() {
            return Err(DataFusionError::Plan(format!(
                "drift: '{baseline}' and '{candidate}' of {dataset} share no numeric, string or boolean column"
            )));
        }
        let side = |version: &str, flag: bool| -> Result<LogicalPlanBuilder> {
            let table = VersionedTable::try_new(Arc::clone(&self.store), &dataset, Some(version))
                .map_err(DataFusionError::from)?;
            // Each side in the type both share (a pinned read of a version not yet exposed may
            // see a widened column wider than the other side does).
            let mut exprs: Vec<Expr> = columns
                .iter()
                .map(|(n, t, _)| {
                    datafusion::logical_expr::cast(col(format!("\"{n}\"")), t.clone())
                        .alias(n.as_str())
                })
                .collect();
            exprs.push(lit(flag).alias(IS_CANDIDATE));
            LogicalPlanBuilder::scan(
                format!("{dataset}@{version}"),
                provider_as_source(Arc::new(table)),
                None,
            )?
            .project(exprs)
        };
        let flag = col(IS_CANDIDATE);
        let null = || lit(ScalarValue::Float64(None));
        let as_f64 = |e: Expr| datafusion::logical_expr::cast(e, DataType::Float64);
        let mut aggregates = Vec::new();
        let mut rows = Vec::new();
        for (i, (name, data_type, kind)) in columns.iter().enumerate() {
            let value = col(format!("\"{name}\""));
            let stat = |udaf: Arc<datafusion::logical_expr::AggregateUDF>,
                        label: &str|
             -> (Expr, String) {
                let alias = format!("c{i}_{label}");
                (
                    udaf.call(vec![value.clone(), flag.clone()])
                        .alias(alias.clone()),
                    alias,
                )
            };
            use datafusion_rollout_udfs::drift as d;
            let mut fields: Vec<(&str, Expr)> = Vec::new();
            let mut add =
                |label: &'static str, udaf: Option<Arc<datafusion::logical_expr::AggregateUDF>>| {
                    match udaf {
                        Some(u) => {
                            let (e, alias) = stat(u, label);
                            aggregates.push(e);
                            fields.push((label, as_f64(col(alias))));
                        }
                        None => fields.push((label, null())),
                    }
                };
            let numeric = matches!(kind, Kind::Numeric);
            add("ks_statistic", numeric.then(d::ks_statistic_udaf));
            add("ks_pvalue", numeric.then(d::ks_pvalue_udaf));
            add(
                "wasserstein_normed",
                numeric.then(d::wasserstein_normed_udaf),
            );
            add("psi", Some(d::psi_udaf()));
            add("js_distance", Some(d::js_distance_udaf()));
            add("chi2_pvalue", (!numeric).then(d::chi2_pvalue_udaf));
            let mut args = vec![
                lit("column"),
                lit(name.as_str()),
                lit("type"),
                lit(data_type.to_string()),
            ];
            for (label, e) in fields {
                args.push(lit(label));
                args.push(e);
            }
            rows.push(named_struct(args));
        }
        let plan = side(&baseline, false)?
            .union(side(&candidate, true)?.build()?)?
            .aggregate(Vec::<Expr>::new(), aggregates)?
            .project(vec![make_array(rows).alias("r")])?
            .unnest_column("r")?;
        let r = col("r");
        let field = |n: &str| get_field(r.clone(), n).alias(n);
        let psi = get_field(r.clone(), "psi");
        let drifted = get_field(r.clone(), "wasserstein_normed")
            .gt_eq(lit(WASSERSTEIN_NORMED_DRIFT))
            .or(get_field(r.clone(), "js_distance")
                .gt_eq(lit(JS_DISTANCE_DRIFT))
                .and(get_field(r.clone(), "ks_statistic").is_null()))
            .or(psi.clone().gt_eq(lit(PSI_DRIFT)));
        let verdict = when(drifted, lit("drift"))
            .when(psi.gt_eq(lit(PSI_MODERATE)), lit("moderate"))
            .otherwise(lit("stable"))?
            .alias("verdict");
        let plan = plan
            .project(vec![
                field("column"),
                field("type"),
                field("ks_statistic"),
                field("ks_pvalue"),
                field("wasserstein_normed"),
                field("psi"),
                field("js_distance"),
                field("chi2_pvalue"),
                verdict,
            ])?
            .build()?;
        Ok(Arc::new(ViewTable::new(plan, None)))
    }
}
