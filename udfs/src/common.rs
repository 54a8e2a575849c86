//! Shared plumbing: the single-group [`Accumulator`] adapter, row iteration with `FILTER`,
//! literal arguments, type classes and documentation helpers.

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, DocSection, Documentation, EmitTo, GroupsAccumulator, Signature, TypeSignature,
    Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use std::fmt::Debug;
use std::sync::Arc;

/// Section label of the data-quality functions in `SHOW FUNCTIONS` / `docs/functions.md`.
pub(crate) const QUALITY_SECTION: DocSection = DocSection {
    include: true,
    label: "Data-quality aggregates",
    description: Some("Counts, fractions and extremes that data contracts are made of."),
};

/// Section label of the two-sample drift functions.
pub(crate) const DRIFT_SECTION: DocSection = DocSection {
    include: true,
    label: "Drift aggregates (two-sample)",
    description: Some(
        "Aggregates over `(value, is_candidate BOOLEAN)`: rows with `is_candidate = false` are the \
         baseline, rows with `true` the candidate, so one scan over `baseline UNION ALL candidate` \
         serves every statistic. NULL, NaN and ±inf values and rows with a NULL flag are dropped \
         from both sides; an empty side is an execution error.",
    ),
};

/// Builds a [`Documentation`] in one call.
pub(crate) fn doc(
    section: DocSection,
    description: &str,
    syntax: &str,
    example: &str,
    arguments: &[(&str, &str)],
) -> Documentation {
    let mut b = Documentation::builder(section, description, syntax).with_sql_example(example);
    for (name, text) in arguments {
        b = b.with_argument(*name, *text);
    }
    b.build()
}

/// The state column `part` of the aggregate `name` (named as DataFusion's own aggregates name
/// theirs).
pub(crate) fn state_field(name: &str, part: &str, data_type: DataType, nullable: bool) -> FieldRef {
    Arc::new(Field::new(
        format_state_name(name, part),
        data_type,
        nullable,
    ))
}

/// Calls `f(row, group)` for each row that passes the optional `FILTER (WHERE ..)` mask.
#[inline]
pub(crate) fn for_each_row(
    group_indices: &[usize],
    opt_filter: Option<&BooleanArray>,
    mut f: impl FnMut(usize, usize),
) {
    match opt_filter {
        None => {
            for (row, &g) in group_indices.iter().enumerate() {
                f(row, g);
            }
        }
        Some(filter) => {
            for (row, &g) in group_indices.iter().enumerate() {
                if filter.is_valid(row) && filter.value(row) {
                    f(row, g);
                }
            }
        }
    }
}

/// Reads argument `i` of an aggregate call, which must be a literal; a literal coerced to a
/// run-end encoded or dictionary type (see [`constant_type`]) is read as its one value.
pub(crate) fn literal_arg(args: &AccumulatorArgs, i: usize, fname: &str) -> Result<ScalarValue> {
    let Some(expr) = args.exprs.get(i) else {
        return plan_err!("{fname}: missing argument {}", i + 1);
    };
    match expr.downcast_ref::<Literal>() {
        Some(lit) => Ok(match lit.value().clone() {
            ScalarValue::RunEndEncoded(_, _, v) | ScalarValue::Dictionary(_, v) => *v,
            v => v,
        }),
        None => plan_err!(
            "{fname}: argument {} must be a constant (literal), got the expression {expr}",
            i + 1
        ),
    }
}

/// The type a constant argument of an aggregate is coerced to, so that it costs nothing per
/// batch: `t` run-end encoded, one run.
///
/// DataFusion evaluates every argument of an aggregate for every batch, a literal included,
/// as an array of the batch's length: for a string that is 8,192 copies of its view (or of its
/// bytes), for a dictionary an array of 8,192 keys that Arrow checks one by one. A run-end
/// encoded array of one run is built without looking at the length. The accumulator reads the
/// constant once, when it is created ([`literal_arg`]), and never the array.
pub(crate) fn constant_type(t: &DataType) -> DataType {
    DataType::RunEndEncoded(
        Arc::new(Field::new("run_ends", DataType::Int32, false)),
        Arc::new(Field::new("values", t.clone(), true)),
    )
}

/// Reads an optional literal string argument `i`; `None` when absent or NULL.
pub(crate) fn literal_string_arg(
    args: &AccumulatorArgs,
    i: usize,
    fname: &str,
) -> Result<Option<String>> {
    if args.exprs.len() <= i {
        return Ok(None);
    }
    match literal_arg(args, i, fname)? {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => Ok(s),
        ScalarValue::Null => Ok(None),
        other => plan_err!(
            "{fname}: argument {} must be a string literal, got {other:?}",
            i + 1
        ),
    }
}

/// Integer types (the numpy "integer dtype" rule of Sturges binning applies to them).
pub(crate) fn is_integer(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

/// Types a numeric drift statistic accepts (cast to `Float64` on the fly).
pub(crate) fn is_numeric(dt: &DataType) -> bool {
    is_integer(dt)
        || matches!(
            dt,
            DataType::Float16
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal32(_, _)
                | DataType::Decimal64(_, _)
                | DataType::Decimal128(_, _)
                | DataType::Decimal256(_, _)
                | DataType::Null
        )
}

/// String-like types.
pub(crate) fn is_string(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

/// Types a categorical statistic accepts: strings, booleans, integers, dictionaries thereof.
pub(crate) fn is_categorical(dt: &DataType) -> bool {
    match dt {
        DataType::Boolean => true,
        DataType::Dictionary(_, v) => is_categorical(v),
        _ => is_string(dt) || is_integer(dt),
    }
}

/// Groups accumulators of this crate can be sized up front (so a single-group accumulator that
/// never saw a row still evaluates to its empty value or error).
pub(crate) trait Resize: GroupsAccumulator {
    fn resize(&mut self, total_num_groups: usize);

    /// Evaluates group 0 without losing the state (window frames evaluate repeatedly).
    /// The default round-trips through `state`/`merge_batch`; big states override it.
    fn evaluate_single(&mut self) -> Result<ScalarValue> {
        let st = self.state(EmitTo::All)?;
        self.resize(1);
        self.merge_batch(&st, &[0], 1)?;
        let out = self.evaluate(EmitTo::All)?;
        self.resize(1);
        self.merge_batch(&st, &[0], 1)?;
        ScalarValue::try_from_array(&out, 0)
    }
}

/// Exposes a [`GroupsAccumulator`] as a plain [`Accumulator`] with a single group, so that every
/// function has exactly one implementation of its update / merge / evaluate logic.
#[derive(Debug)]
pub(crate) struct SingleGroup<G: GroupsAccumulator + Resize + Debug + Sync> {
    inner: G,
    zeros: Vec<usize>,
}

impl<G: GroupsAccumulator + Resize + Debug + Sync> SingleGroup<G> {
    pub(crate) fn new(mut inner: G) -> Self {
        inner.resize(1);
        Self {
            inner,
            zeros: Vec::new(),
        }
    }

    fn zeros(&mut self, n: usize) -> &[usize] {
        if self.zeros.len() < n {
            self.zeros.resize(n, 0);
        }
        &self.zeros[..n]
    }
}

impl<G: GroupsAccumulator + Resize + Debug + Sync> Accumulator for SingleGroup<G> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let n = values.first().map(|a| a.len()).unwrap_or(0);
        self.zeros(n);
        let Self { inner, zeros } = self;
        inner.update_batch(values, &zeros[..n], None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.inner.evaluate_single()
    }

    fn size(&self) -> usize {
        self.inner.size() + self.zeros.capacity() * size_of::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner
            .state(EmitTo::All)?
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let n = states.first().map(|a| a.len()).unwrap_or(0);
        self.zeros(n);
        let Self { inner, zeros } = self;
        inner.merge_batch(states, &zeros[..n], 1)
    }
}

/// Boxes a groups accumulator as a single-group accumulator.
pub(crate) fn single<G: GroupsAccumulator + Resize + Debug + Sync + 'static>(
    g: G,
) -> Box<dyn Accumulator> {
    Box::new(SingleGroup::new(g))
}

/// A signature that coerces through `coerce_types` (our clear messages) and also lists example
/// argument types, so the function shows up in `SHOW FUNCTIONS` (which only lists signatures
/// with example types). Invalid arguments are reported by `return_type`, see [`lenient`].
pub(crate) fn signature(examples: Vec<Vec<DataType>>, volatility: Volatility) -> Signature {
    let mut sigs = vec![TypeSignature::UserDefined];
    sigs.extend(examples.into_iter().map(TypeSignature::Exact));
    Signature::one_of(sigs, volatility)
}

/// [`signature`] for a function of strings whose `coerce_types` asks for a [`constant_type`]:
/// its examples are `arities` strings each, listed as DataFusion's `String` signatures rather
/// than `Exact` ones. DataFusion checks the types `coerce_types` returns against the arguments
/// with Arrow's `can_cast_types` only when every signature of the `OneOf` is of a kind it calls
/// well supported (`Exact` is not); otherwise with its own coercion table, which has no run-end
/// encoded types and refuses the call. A call whose arguments are all of one string type and as
/// many as an example's (`invalid_count_in(utf8_column, 'a')`) matches that example and is not
/// coerced: its listed value then costs a string array per batch, as before.
pub(crate) fn string_signature(arities: &[usize], volatility: Volatility) -> Signature {
    let mut sigs = vec![TypeSignature::UserDefined];
    sigs.extend(arities.iter().map(|&n| TypeSignature::String(n)));
    Signature::one_of(sigs, volatility)
}

/// `coerce_types` must not fail inside a `OneOf` signature (DataFusion would turn the message
/// into an internal error): invalid input is passed through unchanged and rejected with the
/// same clear planning error by `return_type`.
pub(crate) fn lenient(
    checked: Result<Vec<DataType>>,
    arg_types: &[DataType],
) -> Result<Vec<DataType>> {
    Ok(checked.unwrap_or_else(|_| arg_types.to_vec()))
}
