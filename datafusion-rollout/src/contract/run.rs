//! Running a contract over a version: one scan for the metrics, one for the drift.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::compile::{CheckKind, CheckSpec, IS_CANDIDATE, compile};
use super::result::{CheckResult, CheckStatus};
use crate::catalog::Contract;
use crate::catalog::{ColumnDef, State, schema_from_columns};
use crate::error::{Error, Result};

/// `"orders@v2"`: the pinned table of a version in the session's default schema.
pub(crate) fn pinned_table(dataset: &str, version: &str) -> String {
    format!("\"{dataset}{}{version}\"", crate::resolve::PIN_SEPARATOR)
}

/// What a contract runs over: a version's label, a SQL table reference reading it, and the
/// columns that reference has.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub version: String,
    pub table: String,
    pub columns: Vec<ColumnDef>,
}

/// The queries a contract runs (metrics over the candidate; drift over baseline ∪ candidate).
pub(crate) fn contract_queries(
    specs: &[CheckSpec],
    candidate: &Target,
    baseline: Option<&Target>,
) -> (Option<String>, Option<String>) {
    let select = |drift: bool| -> Vec<String> {
        specs
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match (&s.kind, drift) {
                (CheckKind::Metric { sql }, false) | (CheckKind::Drift { sql }, true) => {
                    Some(format!("{sql} AS m{i}"))
                }
                _ => None,
            })
            .collect()
    };
    let (metrics, drift) = (select(false), select(true));
    let metric_sql = (!metrics.is_empty())
        .then(|| format!("SELECT {} FROM {}", metrics.join(", "), candidate.table));
    let drift_sql = match baseline {
        Some(b) if !drift.is_empty() => {
            let common: Vec<String> = candidate
                .columns
                .iter()
                .filter(|c| b.columns.iter().any(|bc| bc.name == c.name))
                .map(|c| crate::sql::ident(&c.name))
                .collect();
            let cols = common.join(", ");
            Some(format!(
                "SELECT {} FROM (SELECT {cols}, false AS {IS_CANDIDATE} FROM {} UNION ALL SELECT {cols}, true AS {IS_CANDIDATE} FROM {})",
                drift.join(", "),
                b.table,
                candidate.table
            ))
        }
        _ => None,
    };
    (metric_sql, drift_sql)
}

/// One row of values, by check index.
async fn run_row(ctx: &SessionContext, sql: &str) -> Result<Vec<(usize, ScalarValue)>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| Error::internal("the contract's aggregate returned no row"))?;
    row_values(batch)
}

fn row_values(batch: &RecordBatch) -> Result<Vec<(usize, ScalarValue)>> {
    let mut out = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let index: usize =
            field.name().trim_start_matches('m').parse().map_err(|_| {
                Error::internal(format!("unexpected metric column {}", field.name()))
            })?;
        out.push((index, ScalarValue::try_from_array(column, 0)?));
    }
    Ok(out)
}

/// `21781.2` → `6h 3m 1s` (to the second; negative for a time in the future).
fn human_seconds(seconds: f64) -> String {
    let whole = std::time::Duration::from_secs(seconds.abs().round().min(u64::MAX as f64) as u64);
    let sign = if seconds < -0.5 { "-" } else { "" };
    format!("{sign}{}", humantime::format_duration(whole))
}

/// A metric's value as a number: booleans are 0 / 1, intervals and durations are seconds
/// (an interval with months has no fixed length and is refused).
fn as_f64(v: &ScalarValue) -> std::result::Result<Option<f64>, String> {
    if v.is_null() {
        return Ok(None);
    }
    const NANOS: f64 = 1e9;
    let seconds = match v {
        ScalarValue::Boolean(Some(b)) => return Ok(Some(if *b { 1.0 } else { 0.0 })),
        ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 => {
            Some(f64::from(i.days) * 86_400.0 + i.nanoseconds as f64 / NANOS)
        }
        ScalarValue::IntervalDayTime(Some(i)) => {
            Some(f64::from(i.days) * 86_400.0 + f64::from(i.milliseconds) / 1e3)
        }
        ScalarValue::DurationSecond(Some(x)) => Some(*x as f64),
        ScalarValue::DurationMillisecond(Some(x)) => Some(*x as f64 / 1e3),
        ScalarValue::DurationMicrosecond(Some(x)) => Some(*x as f64 / 1e6),
        ScalarValue::DurationNanosecond(Some(x)) => Some(*x as f64 / NANOS),
        ScalarValue::IntervalMonthDayNano(_) | ScalarValue::IntervalYearMonth(_) => {
            return Err(format!(
                "the metric is {v}, an interval in months, which has no fixed length"
            ));
        }
        _ => None,
    };
    if seconds.is_some() {
        return Ok(seconds);
    }
    match v.cast_to(&DataType::Float64) {
        Ok(ScalarValue::Float64(x)) => Ok(x),
        _ => Err(format!(
            "the metric is {} ({}), not a number",
            v,
            v.data_type()
        )),
    }
}

fn judge(spec: &CheckSpec, value: Option<f64>, detail: String) -> CheckResult {
    let threshold = spec.threshold();
    let status = match value {
        None => CheckStatus::Fail,
        Some(v) if v.is_nan() || !spec.expect.holds(v) => CheckStatus::Fail,
        Some(v) if spec.warn_when.as_ref().is_some_and(|w| w.holds(v)) => CheckStatus::Warn,
        Some(_) => CheckStatus::Pass,
    };
    let detail = if value.is_none() && detail.is_empty() {
        "the metric is NULL".to_string()
    } else {
        detail
    };
    CheckResult {
        check: spec.check.clone(),
        column: spec.column.clone(),
        value,
        threshold,
        status,
        detail,
    }
}

fn error_result(spec: &CheckSpec, detail: String) -> CheckResult {
    CheckResult {
        check: spec.check.clone(),
        column: spec.column.clone(),
        value: None,
        threshold: spec.threshold(),
        status: CheckStatus::Error,
        detail,
    }
}

/// The arrow type of a declared SQL type, as DataFusion maps it.
async fn declared_type(ctx: &SessionContext, sql_type: &str) -> Result<DataType> {
    let df = ctx
        .sql(&format!("SELECT CAST(NULL AS {sql_type}) AS t"))
        .await?;
    Ok(df.schema().field(0).data_type().clone())
}

fn same_type(a: &str, b: &DataType) -> bool {
    let strings = ["Utf8", "LargeUtf8", "Utf8View"];
    let b = b.to_string();
    a == b || strings.contains(&a) && strings.contains(&b.as_str())
}

/// Runs `contract` over `candidate`, with drift against `baseline`.
pub(crate) async fn run_contract(
    ctx: &SessionContext,
    contract: &Contract,
    candidate: &Target,
    baseline: Option<&Target>,
) -> Result<Vec<CheckResult>> {
    let baseline = baseline.filter(|b| b.version != candidate.version);
    let specs = compile(contract)?;
    let (metric_sql, drift_sql) = contract_queries(&specs, candidate, baseline);
    let version = candidate.version.as_str();
    let mut values: Vec<Option<std::result::Result<ScalarValue, String>>> = vec![None; specs.len()];
    for sql in [metric_sql, drift_sql].into_iter().flatten() {
        match run_row(ctx, &sql).await {
            Ok(row) => {
                for (i, value) in row {
                    if let Some(slot) = values.get_mut(i) {
                        *slot = Some(Ok(value));
                    }
                }
            }
            Err(e) => {
                let message = e.user_message();
                for (i, s) in specs.iter().enumerate() {
                    let in_this_scan = match &s.kind {
                        CheckKind::Metric { sql: m } | CheckKind::Drift { sql: m } => {
                            sql.contains(m.as_str())
                        }
                        CheckKind::Type { .. } | CheckKind::Live(_) => false,
                    };
                    if in_this_scan {
                        values[i] = Some(Err(message.clone()));
                    }
                }
            }
        }
    }
    let mut results = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let result = match &spec.kind {
            CheckKind::Type { declared } => {
                let column = spec.column.as_deref().unwrap_or_default();
                match (
                    candidate.columns.iter().find(|c| c.name == column),
                    declared_type(ctx, declared).await,
                ) {
                    (_, Err(e)) => error_result(spec, e.user_message()),
                    (None, Ok(_)) => CheckResult {
                        check: spec.check.clone(),
                        column: spec.column.clone(),
                        value: None,
                        threshold: declared.clone(),
                        status: CheckStatus::Fail,
                        detail: format!("version '{version}' has no column '{column}'"),
                    },
                    (Some(actual), Ok(want)) => CheckResult {
                        check: spec.check.clone(),
                        column: spec.column.clone(),
                        value: None,
                        threshold: declared.clone(),
                        status: if same_type(&actual.data_type, &want) {
                            CheckStatus::Pass
                        } else {
                            CheckStatus::Fail
                        },
                        detail: format!("{} (declared {declared} = {want})", actual.data_type),
                    },
                }
            }
            CheckKind::Live(_) => CheckResult {
                check: spec.check.clone(),
                column: None,
                value: None,
                threshold: spec.threshold(),
                status: CheckStatus::Pending,
                detail:
                    "a live expectation: evaluated over a live rollout's window by the controller"
                        .into(),
            },
            CheckKind::Drift { .. } if baseline.is_none() => CheckResult {
                check: spec.check.clone(),
                column: spec.column.clone(),
                value: None,
                threshold: spec.threshold(),
                status: CheckStatus::Pass,
                detail: "no baseline: the dataset has no other stable version to compare with"
                    .into(),
            },
            _ => match values[i].take() {
                Some(Ok(value)) => match as_f64(&value) {
                    Ok(x) => {
                        let detail = match (&spec.kind, baseline) {
                            (CheckKind::Drift { .. }, Some(b)) => {
                                format!("against '{}'", b.version)
                            }
                            _ if spec.interval => x.map(human_seconds).unwrap_or_default(),
                            _ => String::new(),
                        };
                        judge(spec, x, detail)
                    }
                    Err(detail) => error_result(spec, detail),
                },
                Some(Err(detail)) => error_result(spec, detail),
                None => error_result(spec, "not computed".into()),
            },
        };
        results.push(result);
    }
    Ok(results)
}

/// Checks a contract against its dataset's schema without reading data: unknown columns,
/// functions or types, and wrong argument types are reported, naming the item.
pub(crate) async fn validate_contract(
    contract: &Contract,
    state: &State,
    functions: &SessionContext,
) -> Result<()> {
    let ds = state.dataset(&contract.dataset)?;
    let specs = compile(contract)?;
    if ds.all_columns.is_empty() {
        return Ok(());
    }
    for rule in &contract.columns {
        if !ds.all_columns.iter().any(|c| c.name == rule.column) {
            let known: Vec<&String> = ds.all_columns.iter().map(|c| &c.name).collect();
            return Err(Error::InvalidContract {
                message: format!(
                    "contract column '{}' is not a column of {}{}",
                    rule.column,
                    contract.dataset,
                    crate::error::hint_known("columns", known)
                ),
            });
        }
    }
    // Plan every metric against an empty table of the dataset's schema.
    let schema = schema_from_columns(&ds.all_columns)?;
    let mut fields: Vec<_> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(datafusion::arrow::datatypes::Field::new(
        IS_CANDIDATE,
        DataType::Boolean,
        false,
    ));
    let with_flag = Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
    let ctx = SessionContext::new();
    for udaf in functions.state().aggregate_functions().values() {
        ctx.register_udaf(udaf.as_ref().clone());
    }
    for udf in functions.state().scalar_functions().values() {
        ctx.register_udf(udf.as_ref().clone());
    }
    ctx.register_table("t", Arc::new(MemTable::try_new(with_flag, vec![vec![]])?))?;
    for spec in &specs {
        let sql = match &spec.kind {
            CheckKind::Type { declared } => format!("SELECT CAST(NULL AS {declared})"),
            CheckKind::Metric { sql } | CheckKind::Drift { sql } => format!("SELECT {sql} FROM t"),
            CheckKind::Live(_) => continue,
        };
        let plan = ctx.state().create_logical_plan(&sql).await;
        if let (Ok(plan), CheckKind::Metric { .. }) = (&plan, &spec.kind) {
            let produced = plan.schema().field(0).data_type().clone();
            let is_interval = matches!(produced, DataType::Interval(_) | DataType::Duration(_));
            if spec.interval && !is_interval {
                return Err(Error::InvalidContract {
                    message: format!(
                        "contract check `{} {}` compares {produced} with an INTERVAL; \
                         compare it with a number",
                        spec.check,
                        spec.threshold()
                    ),
                });
            }
        }
        if let Err(e) = plan {
            return Err(Error::InvalidContract {
                message: format!(
                    "contract check `{}`{} cannot run: {}",
                    spec.check,
                    spec.column
                        .as_ref()
                        .map(|c| format!(" on {c}"))
                        .unwrap_or_default(),
                    Error::from(e).user_message()
                ),
            });
        }
    }
    Ok(())
}
