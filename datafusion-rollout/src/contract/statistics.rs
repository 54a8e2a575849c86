//! Checks that the statistics of a version's files settle without reading the rows.
//!
//! A Parquet footer records the number of rows and, for each column of each row group, its
//! null count and (for most types) its minimum and maximum. DataFusion merges them into the
//! exact statistics of a scan of all the files, and prunes row groups with them. A contract's
//! checks can be decided the same way:
//!
//! - **A single aggregate** (`NOT NULL`'s `null_count(x)`, `EXPECT count(*) >= ..`,
//!   `EXPECT null_fraction(x) ..`, `EXPECT max(d) ..`): the aggregate's own
//!   `value_from_stats`, the rule DataFusion answers `SELECT count(*) FROM t` by, given the
//!   merged statistics. Only a call without `FILTER` or `ORDER BY` whose arguments are columns
//!   or literals, and only what the aggregate itself says it can answer.
//! - **`CHECK (c)`**: the value is 0 when DataFusion's pruning predicate for `NOT (c)` proves
//!   from the exact minimum, maximum and null count that no row can fail `c`; SQL's `CHECK`
//!   lets a NULL condition pass, as the pruning lets a NULL predicate drop the row. Otherwise
//!   the check stays in the scan, and so does a check whose count is not 0.
//!
//! A check settled here is not part of the contract's scan, so its column is not read unless
//! another check reads it. Only exact statistics count (a truncated string bound is not
//! exact), and values are taken from the statistics only for columns of integers, decimals,
//! dates, times, timestamps, booleans and strings: a float's statistics leave its NaN out,
//! where a comparison, `min` or `max` counts it (row and null counts of floats are exact).
//! `SET rollout.check_statistics = false` makes every check read its rows, for files whose
//! writer is not trusted to record its statistics right.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::pruning::PrunableStatistics;
use datafusion::common::{DFSchema, ExprSchema, ScalarValue, Statistics};
use datafusion::execution::context::ExecutionProps;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr, ExprSchemable, StatisticsArgs as AggregateStatistics};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::prelude::{DataFrame, SessionContext};

use super::compile::{CheckKind, CheckSpec, Settle};
use crate::error::Result;
use crate::resolve::{RolloutConfig, unrecorded};

/// A check's value, as the statistics give it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settled {
    /// The check's index in the compiled contract.
    pub index: usize,
    pub value: ScalarValue,
}

/// The checks of `specs` over `table` that its files' statistics settle. Whatever cannot be
/// settled (no statistics, a setting off, a condition the pruning does not understand, a
/// planning error that the scan will report) is left to the scan.
pub(crate) async fn settled_by_statistics(
    ctx: &SessionContext,
    specs: &[CheckSpec],
    table: &str,
) -> Vec<Settled> {
    let enabled = RolloutConfig::of(ctx).check_statistics;
    if !enabled || specs.iter().all(|s| s.settle.is_none()) {
        return Vec::new();
    }
    settle(ctx, specs, table).await.unwrap_or_default()
}

async fn settle(ctx: &SessionContext, specs: &[CheckSpec], table: &str) -> Result<Vec<Settled>> {
    // Planning reads no row: it is not a read of every column in the reads ledger.
    let ctx = &unrecorded(ctx)?;
    let df = ctx.sql(&format!("SELECT * FROM {table}")).await?;
    let df_schema = Arc::new(df.schema().clone());
    let plan = df.clone().create_physical_plan().await?;
    let statistics = StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new())?;
    if statistics.column_statistics.len() != df_schema.fields().len() {
        return Ok(Vec::new());
    }
    let schema = Arc::clone(df_schema.inner());
    let containers = PrunableStatistics::new(vec![Arc::clone(&statistics)], Arc::clone(&schema));
    // The start time folds `now()` and `current_date` in a rule, as the scan's planning would.
    let props = ExecutionProps::new();
    let simplifier = ExprSimplifier::new(
        SimplifyContext::builder()
            .with_schema(Arc::clone(&df_schema))
            .with_config_options(Arc::clone(ctx.state().config_options()))
            .with_query_execution_start_time(props.query_execution_start_time)
            .build(),
    );
    let in_list = ctx
        .state()
        .config_options()
        .execution
        .parquet
        .max_in_list_size;
    let mut out = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let value = match &spec.settle {
            None => None,
            Some(Settle::Aggregate) => match &spec.kind {
                // Any error here (a metric the scan will refuse, say) leaves it to the scan.
                CheckKind::Metric { sql } => {
                    from_aggregate(ctx, &df, &df_schema, &statistics, sql).unwrap_or(None)
                }
                _ => None,
            },
            Some(Settle::NoViolation { condition }) => {
                // Any error here (a condition the scan will refuse, say) leaves it to the scan.
                let fails = || -> Result<bool> {
                    let expr = df.parse_sql_expr(&format!("NOT ({condition})"))?;
                    let columns = expr.column_refs();
                    let settles = !columns.is_empty()
                        && columns.iter().all(|c| {
                            df_schema
                                .field_from_column(c)
                                .is_ok_and(|f| statistics_decide(f.data_type()))
                        });
                    if !settles {
                        return Ok(true);
                    }
                    let expr = simplifier.simplify(simplifier.coerce(expr, &df_schema)?)?;
                    let physical = ctx.create_physical_expr(expr, &df_schema)?;
                    let Some(predicate) = PruningPredicateBuilder::new()
                        .with_file_schema(Arc::clone(&schema))
                        .with_max_in_list_size(in_list)
                        .build(physical)
                    else {
                        return Ok(true);
                    };
                    Ok(predicate
                        .prune(&containers)?
                        .first()
                        .copied()
                        .unwrap_or(true))
                };
                matches!(fails(), Ok(false)).then_some(ScalarValue::Int64(Some(0)))
            }
        };
        if let Some(value) = value {
            out.push(Settled { index, value });
        }
    }
    Ok(out)
}

/// The value of `sql`, a single call of an aggregate, as the aggregate's `value_from_stats`
/// gives it from `statistics` (`None`: the aggregate cannot say, or `sql` is something else).
fn from_aggregate(
    ctx: &SessionContext,
    df: &DataFrame,
    schema: &DFSchema,
    statistics: &Statistics,
    sql: &str,
) -> Result<Option<ScalarValue>> {
    let expr = df.parse_sql_expr(sql)?;
    let expr = match expr {
        Expr::Alias(alias) => *alias.expr,
        e => e,
    };
    let return_type = expr.get_type(schema)?;
    let Expr::AggregateFunction(AggregateFunction { func, params }) = expr else {
        return Ok(None);
    };
    if params.filter.is_some() || !params.order_by.is_empty() {
        return Ok(None);
    }
    // A count of rows or nulls is exact for any type; a value (min, max) of a float is not.
    let counts = matches!(func.name(), "count" | "null_count" | "null_fraction");
    let mut args = Vec::with_capacity(params.args.len());
    for arg in params.args {
        match &arg {
            Expr::Column(c)
                if counts || statistics_decide(schema.field_from_column(c)?.data_type()) => {}
            Expr::Literal(..) => {}
            _ => return Ok(None),
        }
        args.push(ctx.create_physical_expr(arg, schema)?);
    }
    Ok(func.value_from_stats(&AggregateStatistics {
        statistics,
        return_type: &return_type,
        is_distinct: params.distinct,
        exprs: &args,
    }))
}

/// Types whose exact Parquet minimum and maximum bound every value a comparison sees (not
/// floats: Parquet's statistics leave NaN out).
fn statistics_decide(t: &DataType) -> bool {
    t.is_integer()
        || matches!(
            t,
            DataType::Boolean
                | DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
                | DataType::Date32
                | DataType::Date64
                | DataType::Time32(_)
                | DataType::Time64(_)
                | DataType::Timestamp(..)
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
        )
}
