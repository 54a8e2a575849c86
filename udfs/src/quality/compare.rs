//! `count(*) FILTER (WHERE x < a OR x > b)` in one pass over `x`, without the filter.
//!
//! A contract's `CHECK (x BETWEEN a AND b)` is counted as `count(*) FILTER (WHERE NOT (..))`,
//! which DataFusion simplifies to `x < a OR x > b` with `a` and `b` of `x`'s own type. It
//! then builds a Boolean array per comparison, ORs them, expands the count's literal to the
//! batch's length and filters the batch by the result: four passes and four arrays per batch
//! to count rows that are almost never there. [`FusedFilterCounts`] rewrites such a count,
//! once DataFusion has coerced and simplified it, into [`rollout_count_compare`], which
//! counts the rows in one pass over `x`'s values with no array built.
//!
//! The answer is the one DataFusion gives: the rewrite applies only when the filter compares
//! one column of integers, decimals, dates, times or timestamps with literals of that column's
//! own type (nothing left to coerce), and each comparison is Arrow's own
//! (`ArrowNativeTypeOp::is_lt`). Floats are left to DataFusion: its comparisons put -0.0 level
//! with 0.0, where Arrow's total order puts it below. A NULL row is not counted, as the filter
//! drops it.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{ArrowNativeTypeOp, DataType, Field, FieldRef};
use datafusion::arrow::downcast_primitive_array;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, ExprSchema, ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::expr::{AggregateFunction, AggregateFunctionParams};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, BinaryExpr, Expr, LogicalPlan, Operator,
    Signature, Volatility, lit,
};
use datafusion::logical_expr::{Aggregate, utils::format_state_name};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use crate::common::{constant_type, literal_arg};

const NAME: &str = "rollout_count_compare";

/// A comparison of the column with a constant, as Arrow's kernels compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn of(op: Operator) -> Option<Cmp> {
        Some(match op {
            Operator::Lt => Cmp::Lt,
            Operator::LtEq => Cmp::Le,
            Operator::Gt => Cmp::Gt,
            Operator::GtEq => Cmp::Ge,
            _ => return None,
        })
    }

    fn code(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }

    fn parse(code: &str) -> Option<Cmp> {
        [Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge]
            .into_iter()
            .find(|c| c.code() == code)
    }

    /// `x <op> c` as Arrow's `lt`/`lt_eq`/`gt`/`gt_eq` kernels decide it.
    #[inline(always)]
    fn test<N: ArrowNativeTypeOp>(self, x: N, c: N) -> bool {
        match self {
            Cmp::Lt => x.is_lt(c),
            Cmp::Le => !c.is_lt(x),
            Cmp::Gt => c.is_lt(x),
            Cmp::Ge => !x.is_lt(c),
        }
    }
}

/// `rollout_count_compare(x, op, c [, op2, c2])`: the number of rows whose `x` is not NULL and
/// satisfies `x op c` (or `x op2 c2`); `op` is one of `<`, `<=`, `>`, `>=`. Made by
/// [`FusedFilterCounts`], not meant to be written by hand (the constants are read once, as
/// run-end encoded literals of `x`'s type).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CountCompare {
    signature: Signature,
}

/// The aggregate [`FusedFilterCounts`] writes (registered where plans are executed, so that a
/// cluster's processes find it by name).
pub fn rollout_count_compare_udaf() -> Arc<AggregateUDF> {
    static UDAF: OnceLock<Arc<AggregateUDF>> = OnceLock::new();
    Arc::clone(UDAF.get_or_init(|| {
        Arc::new(AggregateUDF::from(CountCompare {
            signature: Signature::user_defined(Volatility::Immutable),
        }))
    }))
}

impl AggregateUDFImpl for CountCompare {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if !matches!(arg_types.len(), 3 | 5) {
            return plan_err!("{NAME}: expected (x, op, c) or (x, op, c, op2, c2)");
        }
        Ok(arg_types.to_vec())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "count"),
            DataType::Int64,
            false,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let mut tests = Vec::new();
        for i in (1..args.exprs.len()).step_by(2) {
            let code = match literal_arg(&args, i, NAME)? {
                ScalarValue::Utf8(Some(s)) => s,
                other => return plan_err!("{NAME}: expected a comparison, got {other:?}"),
            };
            let Some(cmp) = Cmp::parse(&code) else {
                return plan_err!("{NAME}: unknown comparison {code:?}");
            };
            let c = literal_arg(&args, i + 1, NAME)?;
            if c.is_null() || c.data_type() != *args.expr_fields[0].data_type() {
                return plan_err!("{NAME}: the constant must be a non-NULL value of x's type");
            }
            tests.push((cmp, c.to_array()?));
        }
        Ok(Box::new(CountCompareAcc { tests, count: 0 }))
    }
}

#[derive(Debug)]
struct CountCompareAcc {
    /// Each comparison and its constant, as a one-value array of `x`'s type.
    tests: Vec<(Cmp, ArrayRef)>,
    count: i64,
}

/// The rows of `values` that are valid and pass `f`: one loop, `f` inlined.
#[inline(always)]
fn count_with<N: Copy, F: Fn(N) -> bool>(values: &[N], nulls: Option<&NullBuffer>, f: F) -> usize {
    match nulls.filter(|n| n.null_count() > 0) {
        None => values.iter().map(|&v| usize::from(f(v))).sum(),
        Some(nulls) => values
            .iter()
            .zip(nulls.iter())
            .map(|(&v, valid)| usize::from(valid & f(v)))
            .sum(),
    }
}

/// The rows of `x` (not NULL) that satisfy any of `tests`.
fn count_matching<T: ArrowPrimitiveType>(
    x: &PrimitiveArray<T>,
    tests: &[(Cmp, ArrayRef)],
) -> usize {
    let constant = |a: &ArrayRef| a.as_primitive::<T>().value(0);
    let (values, nulls) = (&x.values()[..], x.nulls());
    match tests {
        [(Cmp::Lt, lo), (Cmp::Gt, hi)] => {
            // NOT BETWEEN, the common case.
            let (lo, hi) = (constant(lo), constant(hi));
            count_with(values, nulls, |v| v.is_lt(lo) | hi.is_lt(v))
        }
        [(a, c)] => {
            let c = constant(c);
            match a {
                Cmp::Lt => count_with(values, nulls, |v| Cmp::Lt.test(v, c)),
                Cmp::Le => count_with(values, nulls, |v| Cmp::Le.test(v, c)),
                Cmp::Gt => count_with(values, nulls, |v| Cmp::Gt.test(v, c)),
                Cmp::Ge => count_with(values, nulls, |v| Cmp::Ge.test(v, c)),
            }
        }
        _ => {
            let tests: Vec<(Cmp, T::Native)> =
                tests.iter().map(|(c, a)| (*c, constant(a))).collect();
            count_with(values, nulls, |v| tests.iter().any(|&(c, k)| c.test(v, k)))
        }
    }
}

impl Accumulator for CountCompareAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let x = &values[0];
        let n = downcast_primitive_array!(
            x => count_matching(x, &self.tests),
            t => return plan_err!("{NAME}: unsupported type {t}")
        );
        self.count += n as i64;
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[0].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        self.count += counts.iter().flatten().sum::<i64>();
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.count))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.count)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .tests
                .iter()
                .map(|(_, a)| a.get_array_memory_size())
                .sum::<usize>()
    }
}

/// The logical optimizer rule that turns `count(<constant>) FILTER (WHERE <comparisons>)` of an
/// aggregate without groups into [`rollout_count_compare`]: see the module's documentation.
#[derive(Debug, Default)]
pub struct FusedFilterCounts;

impl FusedFilterCounts {
    /// The rule, to add to a session's optimizer rules (after DataFusion's own).
    pub fn new() -> Arc<Self> {
        Arc::new(Self)
    }
}

/// `column <op> literal` (either side), the literal non-NULL and of the column's own type.
fn comparison(
    e: &Expr,
    schema: &DFSchema,
) -> Option<(datafusion::common::Column, Cmp, ScalarValue)> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = e else {
        return None;
    };
    // A literal on the left is the same comparison swapped (`a < x` is `x > a`).
    let (col, cmp, value) = match (left.as_ref(), right.as_ref()) {
        (Expr::Column(c), Expr::Literal(v, None)) => (c, Cmp::of(*op)?, v),
        (Expr::Literal(v, None), Expr::Column(c)) => (c, Cmp::of(op.swap()?)?, v),
        _ => return None,
    };
    let field = schema.field_from_column(col).ok()?;
    // Not floats: DataFusion compares them with -0.0 level with 0.0, Arrow's total order not.
    let primitive = field.data_type().is_primitive() && !field.data_type().is_floating();
    (primitive && !value.is_null() && value.data_type() == *field.data_type())
        .then(|| (col.clone(), cmp, value.clone()))
}

/// The count of `e`, rewritten, or `None` when it is not of the form this rule handles.
fn fused(e: &Expr, schema: &DFSchema) -> Option<Expr> {
    let Expr::AggregateFunction(AggregateFunction {
        func,
        params:
            AggregateFunctionParams {
                args,
                distinct: false,
                filter: Some(filter),
                order_by,
                null_treatment: _,
            },
    }) = e
    else {
        return None;
    };
    if func.name() != "count"
        || !order_by.is_empty()
        || !matches!(args.as_slice(), [Expr::Literal(v, _)] if !v.is_null())
    {
        return None;
    }
    let tests = match filter.as_ref() {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let (a, b) = (comparison(left, schema)?, comparison(right, schema)?);
            (a.0 == b.0).then(|| vec![a, b])?
        }
        other => vec![comparison(other, schema)?],
    };
    let column = tests[0].0.clone();
    let mut call = vec![Expr::Column(column)];
    for (_, cmp, value) in tests {
        call.push(constant(ScalarValue::Utf8(Some(cmp.code().to_string()))));
        call.push(constant(value));
    }
    Some(rollout_count_compare_udaf().call(call))
}

/// A literal as a run-end encoded constant of one run (see [`constant_type`]).
fn constant(v: ScalarValue) -> Expr {
    let DataType::RunEndEncoded(ends, values) = constant_type(&v.data_type()) else {
        return lit(v);
    };
    lit(ScalarValue::RunEndEncoded(ends, values, Box::new(v)))
}

impl OptimizerRule for FusedFilterCounts {
    fn name(&self) -> &str {
        "rollout_fused_filter_counts"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(agg) = plan else {
            return Ok(Transformed::no(plan));
        };
        if !agg.group_expr.is_empty() {
            return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
        }
        let schema = agg.input.schema();
        let mut changed = false;
        let exprs: Vec<Expr> = agg
            .aggr_expr
            .iter()
            .map(|e| {
                let (inner, name) = match e {
                    Expr::Alias(a) => (a.expr.as_ref(), a.name.clone()),
                    e => (e, e.schema_name().to_string()),
                };
                match fused(inner, schema) {
                    Some(new) => {
                        changed = true;
                        new.alias(name)
                    }
                    None => e.clone(),
                }
            })
            .collect();
        if !changed {
            return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
        }
        Ok(Transformed::yes(LogicalPlan::Aggregate(
            Aggregate::try_new(agg.input, agg.group_expr, exprs)?,
        )))
    }
}
