//! Running a contract over a version: one scan for the metrics, one for the drift.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use std::collections::HashMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, Value, Visit, VisitMut,
    Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_rollout_udfs::drift::profile::{Binning, Input, Metric};

use super::compile::{CheckKind, CheckSpec, IS_CANDIDATE, compile};
pub(crate) use super::profile::pinned_table;
use super::profile::{self, Stat, VersionKey};
use super::result::{CheckResult, CheckStatus};
use super::statistics::{Settled, settled_by_statistics};
use crate::catalog::Contract;
use crate::catalog::{ColumnDef, State, schema_from_columns};
use crate::error::{Error, Result};
use crate::resolve::unrecorded;
use crate::store::Store;

/// What a contract runs over: a version's label, a SQL table reference reading it, and the
/// columns that reference has.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub version: String,
    pub table: String,
    pub columns: Vec<ColumnDef>,
    /// A registered version: drift against it can read its stored profiles.
    pub profile: Option<VersionKey>,
}

/// The queries a contract runs (metrics over the candidate; drift over baseline ∪ candidate),
/// except the drift metrics in `profiled`, which the versions' profiles answer, and the checks
/// in `settled`, which the candidate's file statistics answer.
pub(crate) fn contract_queries(
    specs: &[CheckSpec],
    candidate: &Target,
    baseline: Option<&Target>,
    profiled: &[ProfiledMetric],
    settled: &[Settled],
) -> (Option<String>, Option<String>) {
    let select = |drift: bool| -> Vec<String> {
        specs
            .iter()
            .enumerate()
            .filter(|(i, _)| !profiled.iter().any(|p| p.index == *i))
            .filter(|(i, _)| !settled.iter().any(|s| s.index == *i))
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

/// One drift call of a metric that profiles answer: `psi(amount, __rollout_is_candidate)`.
#[derive(Debug, Clone)]
pub(crate) struct DriftCall {
    function: String,
    metric: Metric,
    column: String,
    data_type: DataType,
}

/// A drift metric whose every drift call reads a plain column both versions have, so that the
/// versions' stored profiles answer it without a scan.
#[derive(Debug, Clone)]
pub(crate) struct ProfiledMetric {
    pub index: usize,
    expr: SqlExpr,
    calls: Vec<DriftCall>,
}

impl ProfiledMetric {
    /// Its drift calls as the user reads them: `psi(amount)`.
    pub fn calls(&self) -> impl Iterator<Item = String> + '_ {
        self.calls
            .iter()
            .map(|c| format!("{}({})", c.function, crate::sql::ident(&c.column)))
    }
}

/// Finds the drift calls of `expr` (and whether anything else in it reads rows).
struct FindCalls<'a> {
    columns: &'a [(String, DataType)],
    calls: Vec<DriftCall>,
    /// Something that needs the rows: a column outside a drift call, a call profiles do not
    /// answer, an aggregate.
    needs_rows: bool,
    aggregates: &'a dyn Fn(&str) -> bool,
    /// How many drift calls the visit is inside (their arguments are the call's own).
    inside: usize,
}

fn is_drift_call(expr: &SqlExpr) -> bool {
    matches!(expr, SqlExpr::Function(f)
        if Metric::from_function_name(&f.name.to_string().to_lowercase()).is_some())
}

fn plain_column(arg: &FunctionArg) -> Option<String> {
    match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Identifier(i))) => {
            Some(i.value.clone())
        }
        _ => None,
    }
}

impl Visitor for FindCalls<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &SqlExpr) -> ControlFlow<()> {
        match expr {
            SqlExpr::Function(f) => {
                let name = f.name.to_string().to_lowercase();
                if let Some(metric) = Metric::from_function_name(&name) {
                    let args = match &f.args {
                        FunctionArguments::List(l) => &l.args[..],
                        _ => &[],
                    };
                    let call = match args {
                        [value, flag]
                            if plain_column(flag).as_deref() == Some(IS_CANDIDATE)
                                && metric != Metric::Summary =>
                        {
                            plain_column(value).and_then(|c| {
                                self.columns
                                    .iter()
                                    .find(|(n, _)| *n == c)
                                    .map(|(n, t)| DriftCall {
                                        function: name.clone(),
                                        metric,
                                        column: n.clone(),
                                        data_type: t.clone(),
                                    })
                            })
                        }
                        _ => None,
                    };
                    match call {
                        Some(c) if self.inside == 0 => self.calls.push(c),
                        _ => self.needs_rows = true,
                    }
                    self.inside += 1;
                    return ControlFlow::Continue(());
                }
                if (self.aggregates)(&name) {
                    self.needs_rows = true;
                }
            }
            SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_) if self.inside == 0 => {
                self.needs_rows = true
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &SqlExpr) -> ControlFlow<()> {
        if is_drift_call(expr) {
            self.inside = self.inside.saturating_sub(1);
        }
        ControlFlow::Continue(())
    }
}

/// The drift metrics of `specs` that the versions' profiles answer: both sides are registered
/// versions, and each drift call reads a plain column of a type the aggregate takes.
pub(crate) fn profiled_metrics(
    ctx: &SessionContext,
    specs: &[CheckSpec],
    candidate: &Target,
    baseline: Option<&Target>,
) -> Vec<ProfiledMetric> {
    let Some(b) = baseline else {
        return Vec::new();
    };
    if b.profile.is_none() || candidate.profile.is_none() {
        return Vec::new();
    }
    // Both sides read each column as the candidate declares it; a column whose type differs
    // between the versions stays in the scan (its union coerces the two types).
    let columns: Vec<(String, DataType)> = match schema_from_columns(&candidate.columns) {
        Ok(schema) => schema
            .fields()
            .iter()
            .filter(|f| {
                b.columns
                    .iter()
                    .any(|c| c.name == *f.name() && candidate.columns.iter().any(|d| d == c))
            })
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect(),
        Err(_) => return Vec::new(),
    };
    let state = ctx.state();
    let aggregates = |name: &str| state.aggregate_functions().contains_key(name);
    specs
        .iter()
        .enumerate()
        .filter_map(|(index, s)| {
            let CheckKind::Drift { sql } = &s.kind else {
                return None;
            };
            let expr = Parser::new(&GenericDialect {})
                .try_with_sql(sql)
                .and_then(|mut p| p.parse_expr())
                .ok()?;
            let mut find = FindCalls {
                columns: &columns,
                calls: Vec::new(),
                needs_rows: false,
                aggregates: &aggregates,
                inside: 0,
            };
            let _ = expr.visit(&mut find);
            let answerable = !find.needs_rows
                && !find.calls.is_empty()
                && find.calls.iter().all(|c| {
                    datafusion_rollout_udfs::drift::profile::input(c.metric, &c.data_type).is_some()
                });
            answerable.then_some(ProfiledMetric {
                index,
                expr,
                calls: find.calls,
            })
        })
        .collect()
}

/// Replaces each drift call, in visiting order, by its value.
struct Substitute<'a> {
    values: std::slice::Iter<'a, Option<f64>>,
}

fn literal(v: Option<f64>) -> SqlExpr {
    let text = match v {
        Some(x) if x.is_finite() => return SqlExpr::value(Value::Number(format!("{x:?}"), false)),
        Some(x) if x.is_nan() => "CAST('NaN' AS DOUBLE)".to_string(),
        Some(x) if x > 0.0 => "CAST('inf' AS DOUBLE)".to_string(),
        Some(_) => "CAST('-inf' AS DOUBLE)".to_string(),
        None => "CAST(NULL AS DOUBLE)".to_string(),
    };
    Parser::new(&GenericDialect {})
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .unwrap_or_else(|_| SqlExpr::value(Value::Null))
}

impl VisitorMut for Substitute<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<()> {
        if is_drift_call(expr) {
            *expr = literal(self.values.next().copied().flatten());
        }
        ControlFlow::Continue(())
    }
}

/// The values of the profiled drift metrics, by check index: each call from the versions'
/// profiles (computed and stored on first use), then the metric's expression over them.
async fn run_profiled(
    ctx: &SessionContext,
    store: &Store,
    profiled: &[ProfiledMetric],
    candidate: &Target,
    baseline: &Target,
) -> Vec<(usize, std::result::Result<ScalarValue, String>)> {
    let (Some(b), Some(c)) = (&baseline.profile, &candidate.profile) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut exprs = Vec::new();
    // One merge per column serves every statistic of it but chi² (drift_summary's set).
    let mut merged: HashMap<(String, bool), profile::DriftValue> = HashMap::new();
    for p in profiled {
        let mut values = Vec::with_capacity(p.calls.len());
        let mut failed = None;
        for call in &p.calls {
            let chi2 = matches!(call.metric, Metric::Chi2Statistic | Metric::Chi2Pvalue);
            let key = (call.column.clone(), chi2);
            if !merged.contains_key(&key) {
                let stat = Stat {
                    function: &call.function,
                    // Categorical values keep their counts, which give every statistic.
                    metric: match datafusion_rollout_udfs::drift::profile::input(
                        call.metric,
                        &call.data_type,
                    ) {
                        Some(Input::Numeric { .. }) if !chi2 => Metric::Summary,
                        _ => call.metric,
                    },
                    binning: Binning::Evidently,
                };
                match profile::drift(ctx, store, (b, c), &call.column, &call.data_type, stat).await
                {
                    Ok(v) => {
                        merged.insert(key.clone(), v);
                    }
                    Err(e) => {
                        failed = Some(e.user_message());
                        break;
                    }
                }
            }
            values.push(
                merged
                    .get(&key)
                    .and_then(|v| v.get(call.metric, Binning::Evidently)),
            );
        }
        if let Some(message) = failed {
            out.push((p.index, Err(message)));
            continue;
        }
        let mut expr = p.expr.clone();
        let _ = VisitMut::visit(
            &mut expr,
            &mut Substitute {
                values: values.iter(),
            },
        );
        exprs.push((p.index, format!("{expr} AS m{}", p.index)));
    }
    if !exprs.is_empty() {
        let sql = format!(
            "SELECT {}",
            exprs
                .iter()
                .map(|(_, e)| e.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        match run_row(ctx, &sql).await {
            Ok(row) => out.extend(row.into_iter().map(|(i, v)| (i, Ok(v)))),
            Err(e) => {
                let message = e.user_message();
                out.extend(exprs.iter().map(|(i, _)| (*i, Err(message.clone()))));
            }
        }
    }
    out
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
    store: &Store,
    contract: &Contract,
    candidate: &Target,
    baseline: Option<&Target>,
) -> Result<Vec<CheckResult>> {
    let baseline = baseline.filter(|b| b.version != candidate.version);
    let specs = compile(contract)?;
    // The contract's scans are the engine's, not a consumer's: they enter no reads ledger.
    let ctx = &unrecorded(ctx)?;
    let profiled = profiled_metrics(ctx, &specs, candidate, baseline);
    let settled = settled_by_statistics(ctx, &specs, &candidate.table).await;
    let (metric_sql, drift_sql) =
        contract_queries(&specs, candidate, baseline, &profiled, &settled);
    let version = candidate.version.as_str();
    let mut values: Vec<Option<std::result::Result<ScalarValue, String>>> = vec![None; specs.len()];
    // The profiled drift and the scans run side by side (the merge of two profiles is one
    // thread's work; the scan's partitions run on the others).
    let from_profiles = async {
        match baseline {
            Some(b) => run_profiled(ctx, store, &profiled, candidate, b).await,
            None => Vec::new(),
        }
    };
    let from_scans = async {
        let mut out = Vec::new();
        for sql in [metric_sql, drift_sql].into_iter().flatten() {
            match run_row(ctx, &sql).await {
                Ok(row) => out.extend(row.into_iter().map(|(i, v)| (i, Ok(v)))),
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
                            out.push((i, Err(message.clone())));
                        }
                    }
                }
            }
        }
        out
    };
    let (profiled_values, scanned_values) = futures::join!(from_profiles, from_scans);
    let from_statistics = settled.iter().map(|s| (s.index, Ok(s.value.clone())));
    for (i, v) in profiled_values
        .into_iter()
        .chain(scanned_values)
        .chain(from_statistics)
    {
        if let Some(slot) = values.get_mut(i) {
            *slot = Some(v);
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
                            _ if settled.iter().any(|s| s.index == i) => {
                                "from the statistics of the version's files".into()
                            }
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
