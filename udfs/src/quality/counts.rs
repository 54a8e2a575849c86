//! Counting aggregates: `null_count`, `null_fraction`, `nan_count`, `missing_count`,
//! `missing_fraction` and the `invalid_{count,fraction}_{in,regex,range}` family.
//!
//! All of them share one state, `(matched: UInt64, eligible: UInt64)` per group, and one
//! [`GroupsAccumulator`]: a batch is first turned into two bitmaps with Arrow kernels
//! ("row matches", "row is in the denominator"), then added up per group.
//! Memory: 16 bytes per group.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::stats::Precision;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::StatisticsArgs;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator, Signature, Volatility};
use datafusion::physical_expr::expressions::Column;
use regex::Regex;

use crate::common::{
    Resize, constant_type, for_each_row, is_numeric, is_string, literal_arg, signature,
    state_field, string_signature,
};
use crate::quality::predicate::Predicate;
use crate::udaf::UdafCore;

/// What a row must satisfy to be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CountKind {
    /// `x IS NULL`; denominator: all rows.
    Null,
    /// `x` is a floating-point NaN; denominator: all rows.
    Nan,
    /// NULL, blank string (empty or whitespace only) or one of the listed values; denominator: all rows.
    Missing,
    /// non-NULL and not in the listed values; denominator: non-NULL rows.
    InvalidIn,
    /// non-NULL and the regex does not match anywhere in the string; denominator: non-NULL rows.
    InvalidRegex,
    /// non-NULL and outside `[lo, hi]` (a NULL bound is open); denominator: non-NULL rows.
    InvalidRange,
}

/// Count (`Int64`, never NULL) or fraction (`Float64`, NULL when the denominator is 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Output {
    Count,
    Fraction,
}

/// Shared implementation of the counting aggregates.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct CountUdaf {
    name: &'static str,
    kind: CountKind,
    output: Output,
    signature: Signature,
}

impl CountUdaf {
    pub(crate) fn new(name: &'static str, kind: CountKind, output: Output) -> Self {
        Self {
            name,
            kind,
            output,
            signature: kind.signature(),
        }
    }
}

impl UdafCore for CountUdaf {
    type Groups = CountGroups;

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn check(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name;
        let Some(x) = arg_types.first() else {
            return plan_err!("{name} expects at least one argument");
        };
        match self.kind {
            CountKind::Null => {
                if arg_types.len() != 1 {
                    return plan_err!("{name}(x) takes exactly one argument");
                }
                Ok(arg_types.to_vec())
            }
            CountKind::Nan => {
                if arg_types.len() != 1 || !is_numeric(x) {
                    return plan_err!(
                        "{name}(x) takes exactly one numeric argument, got {arg_types:?}"
                    );
                }
                Ok(arg_types.to_vec())
            }
            CountKind::Missing | CountKind::InvalidIn => {
                if self.kind == CountKind::InvalidIn && arg_types.len() < 2 {
                    return plan_err!("{name}(x, v1 [, v2 ...]) needs at least one listed value");
                }
                listed_types(name, arg_types)
            }
            CountKind::InvalidRegex => {
                if arg_types.len() != 2 || !is_string(x) {
                    return plan_err!(
                        "{name}(x, pattern) takes a string column and a string pattern, got {arg_types:?}"
                    );
                }
                Ok(vec![x.clone(), constant_type(&DataType::Utf8)])
            }
            CountKind::InvalidRange => {
                if arg_types.len() != 3 {
                    return plan_err!("{name}(x, lo, hi) takes three arguments, got {arg_types:?}");
                }
                let t = if is_numeric(x) && !matches!(x, DataType::Null) {
                    DataType::Float64
                } else {
                    x.clone()
                };
                Ok(vec![t; 3])
            }
        }
    }

    fn output_type(&self) -> DataType {
        match self.output {
            Output::Count => DataType::Int64,
            Output::Fraction => DataType::Float64,
        }
    }

    fn is_nullable(&self) -> bool {
        self.output == Output::Fraction
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(match self.output {
            Output::Count => ScalarValue::Int64(Some(0)),
            Output::Fraction => ScalarValue::Float64(None),
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            state_field(args.name, "matched", DataType::UInt64, false),
            state_field(args.name, "eligible", DataType::UInt64, false),
        ])
    }

    /// `null_count` / `null_fraction` of a plain column are answered from exact statistics
    /// (e.g. Parquet footers) without scanning, like the built-in `count`.
    fn value_from_stats(&self, args: &StatisticsArgs) -> Option<ScalarValue> {
        if self.kind != CountKind::Null || args.is_distinct {
            return None;
        }
        let [expr] = args.exprs else {
            return None;
        };
        let col = expr.downcast_ref::<Column>()?;
        let Precision::Exact(rows) = args.statistics.num_rows else {
            return None;
        };
        let Precision::Exact(nulls) = args
            .statistics
            .column_statistics
            .get(col.index())?
            .null_count
        else {
            return None;
        };
        Some(match self.output {
            Output::Count => ScalarValue::Int64(Some(i64::try_from(nulls).ok()?)),
            Output::Fraction => {
                ScalarValue::Float64((rows > 0).then(|| nulls as f64 / rows as f64))
            }
        })
    }

    fn groups(&self, args: &AccumulatorArgs) -> Result<CountGroups> {
        let name = self.name;
        let predicate = match self.kind {
            CountKind::Null => Predicate::Null,
            CountKind::Nan => Predicate::Nan,
            CountKind::Missing | CountKind::InvalidIn => {
                let mut values = Vec::new();
                for i in 1..args.exprs.len() {
                    let v = literal_arg(args, i, name)?;
                    if !v.is_null() {
                        values.push(v);
                    }
                }
                if self.kind == CountKind::Missing {
                    Predicate::Missing(values)
                } else {
                    Predicate::In(values)
                }
            }
            CountKind::InvalidRegex => {
                let pattern = match literal_arg(args, 1, name)? {
                    ScalarValue::Utf8(Some(p))
                    | ScalarValue::LargeUtf8(Some(p))
                    | ScalarValue::Utf8View(Some(p)) => p,
                    other => {
                        return plan_err!(
                            "{name}: the pattern must be a non-NULL string literal, got {other:?}"
                        );
                    }
                };
                match Regex::new(&pattern) {
                    Ok(re) => Predicate::Regex(Box::new(re)),
                    Err(e) => {
                        return plan_err!("{name}: invalid regular expression {pattern:?}: {e}");
                    }
                }
            }
            CountKind::InvalidRange => {
                Predicate::Range(literal_arg(args, 1, name)?, literal_arg(args, 2, name)?)
            }
        };
        Ok(CountGroups {
            predicate,
            output: self.output,
            matched: Vec::new(),
            eligible: Vec::new(),
        })
    }
}

/// The types `x` and the listed values of `missing_count` / `invalid_count_in` are coerced to.
///
/// A string `x` keeps its type and the listed values take it, as a constant (see
/// [`listed_type`]). Other types are compared in one common type, as SQL's `IN` list does
/// (`invalid_count_in(int_column, 200, 404)` compares in BIGINT).
fn listed_types(name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    let Some(x) = arg_types.first() else {
        return plan_err!("{name} expects at least one argument");
    };
    if is_string(x) || x == &DataType::Null {
        let mut types = vec![listed_type(x); arg_types.len()];
        types[0] = x.clone();
        return Ok(types);
    }
    let mut common = x.clone();
    for t in arg_types.iter().skip(1).filter(|t| **t != DataType::Null) {
        match comparison_coercion(&common, t) {
            Some(c) => common = c,
            None => {
                return plan_err!(
                    "{name}: a listed value of type {t} cannot be compared with x of type {x}"
                );
            }
        }
    }
    Ok(vec![common; arg_types.len()])
}

/// The type the listed values of a string `x` are coerced to: `x`'s type as a constant
/// ([`constant_type`]: seven listed strings expanded to seven arrays of 8,192 string views,
/// then to seven dictionaries of 8,192 checked keys, cost a contract CHECK over TPC-H lineitem
/// about 5% of its time). Strings only: DataFusion does not coerce a number literal to a
/// dictionary of numbers; a dictionary column's listed values are coerced to the column's own
/// type.
fn listed_type(x: &DataType) -> DataType {
    if matches!(x, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
        constant_type(x)
    } else {
        x.clone()
    }
}

impl CountKind {
    /// The signature, with the example argument types `SHOW FUNCTIONS` lists. The functions
    /// whose listed values or pattern are constants ([`constant_type`]) list strings through
    /// [`string_signature`], which lets DataFusion cast to the constants' type.
    fn signature(self) -> Signature {
        let v = Volatility::Immutable;
        match self {
            CountKind::Null | CountKind::Nan => signature(vec![vec![DataType::Float64]], v),
            CountKind::Missing => string_signature(&[1, 2], v),
            CountKind::InvalidIn | CountKind::InvalidRegex => string_signature(&[2], v),
            CountKind::InvalidRange => signature(vec![vec![DataType::Float64; 3]], v),
        }
    }
}

/// Per-group `(matched, eligible)` counters.
#[derive(Debug)]
pub(crate) struct CountGroups {
    predicate: Predicate,
    output: Output,
    matched: Vec<u64>,
    eligible: Vec<u64>,
}

impl Resize for CountGroups {
    fn resize(&mut self, n: usize) {
        if self.matched.len() < n {
            self.matched.resize(n, 0);
            self.eligible.resize(n, 0);
        }
    }
}

impl GroupsAccumulator for CountGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let Some(x) = values.first() else {
            return exec_err!("counting aggregate called without input");
        };
        if total_num_groups == 1 && opt_filter.is_none() {
            // Every row belongs to group 0: count bits instead of looping over rows.
            if matches!(self.predicate, Predicate::Null) {
                self.matched[0] += x.logical_null_count() as u64;
                self.eligible[0] += x.len() as u64;
                return Ok(());
            }
            let (matches, eligible) = self.predicate.eval(x)?;
            self.matched[0] += matches.true_count() as u64;
            self.eligible[0] += match &eligible {
                None => x.len(),
                Some(e) => e.true_count(),
            } as u64;
            return Ok(());
        }
        let (matches, eligible) = self.predicate.eval(x)?;
        let (m, e) = (&mut self.matched, &mut self.eligible);
        let matches = matches.values();
        match &eligible {
            None => for_each_row(group_indices, opt_filter, |row, g| {
                e[g] += 1;
                m[g] += u64::from(matches.value(row));
            }),
            Some(el) => {
                let el = el.values();
                for_each_row(group_indices, opt_filter, |row, g| {
                    e[g] += u64::from(el.value(row));
                    m[g] += u64::from(matches.value(row));
                })
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let m = emit_to.take_needed(&mut self.matched);
        let e = emit_to.take_needed(&mut self.eligible);
        Ok(match self.output {
            Output::Count => Arc::new(Int64Array::from_iter_values(
                m.into_iter().map(|v| v as i64),
            )),
            Output::Fraction => Arc::new(Float64Array::from_iter(
                m.into_iter()
                    .zip(e)
                    .map(|(m, e)| (e > 0).then(|| m as f64 / e as f64)),
            )),
        })
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let m = emit_to.take_needed(&mut self.matched);
        let e = emit_to.take_needed(&mut self.eligible);
        Ok(vec![
            Arc::new(UInt64Array::from(m)),
            Arc::new(UInt64Array::from(e)),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let [m, e] = values else {
            return exec_err!("counting aggregate: expected 2 state columns");
        };
        let m = m.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
        let e = e.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
        for (row, &g) in group_indices.iter().enumerate() {
            self.matched[g] += m.value(row);
            self.eligible[g] += e.value(row);
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let Some(x) = values.first() else {
            return exec_err!("counting aggregate called without input");
        };
        let (matches, eligible) = self.predicate.eval(x)?;
        let n = x.len();
        let keep = |row: usize| opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        let e: UInt64Array = (0..n)
            .map(|row| u64::from(keep(row) && eligible.as_ref().is_none_or(|el| el.value(row))))
            .collect::<Vec<_>>()
            .into();
        let m: UInt64Array = (0..n)
            .map(|row| u64::from(keep(row) && matches.value(row)))
            .collect::<Vec<_>>()
            .into();
        Ok(vec![Arc::new(m), Arc::new(e)])
    }

    fn size(&self) -> usize {
        (self.matched.capacity() + self.eligible.capacity()) * size_of::<u64>() + size_of::<Self>()
    }
}
