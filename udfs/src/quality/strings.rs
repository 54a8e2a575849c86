//! `min_length(x)` / `max_length(x)`: extremes of the character length of non-NULL strings.
//! Memory: 9 bytes per group.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayAccessor, ArrayRef, AsArray, BooleanArray, Int64Array, Int64Builder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Signature, Volatility};

use crate::common::{for_each_row, is_string, signature, state_field};
use crate::quality::extreme::{ExtremeGroups, ExtremeOf, offer};
use crate::udaf::UdafCore;

/// Calls `f(row, Option<&str>)` for every row of a string-like array
/// (`Utf8`, `LargeUtf8`, `Utf8View`; dictionaries are cast first).
pub(crate) fn for_each_str(x: &ArrayRef, mut f: impl FnMut(usize, Option<&str>)) -> Result<()> {
    fn run<'a, A: ArrayAccessor<Item = &'a str>>(a: A, f: &mut impl FnMut(usize, Option<&str>)) {
        if a.null_count() == 0 {
            for row in 0..a.len() {
                f(row, Some(a.value(row)));
            }
        } else {
            for row in 0..a.len() {
                f(row, a.is_valid(row).then(|| a.value(row)));
            }
        }
    }
    match x.data_type() {
        DataType::Utf8 => run(x.as_string::<i32>(), &mut f),
        DataType::LargeUtf8 => run(x.as_string::<i64>(), &mut f),
        DataType::Utf8View => run(x.as_string_view(), &mut f),
        DataType::Dictionary(_, _) => {
            let c = cast(x, &DataType::Utf8)?;
            run(c.as_string::<i32>(), &mut f)
        }
        other => return exec_err!("expected a string column, got {other}"),
    }
    Ok(())
}

/// Folds the rows of one batch into the per-group extreme character lengths.
///
/// A string of `b` bytes has between ceil(b / 4) and b characters, so a row whose byte length
/// cannot beat its group's current extreme is skipped without touching its bytes (for Utf8View
/// the length is in the view): characters are counted only for the few rows that may change
/// the answer.
fn extreme_lengths<'a, A: ArrayAccessor<Item = &'a str>>(
    is_max: bool,
    best: &mut [Option<i64>],
    group_indices: &[usize],
    opt_filter: Option<&BooleanArray>,
    strings: A,
    bytes: impl Fn(usize) -> usize,
) {
    // One group, every row in it, an answer already: a batch none of whose byte lengths can
    // beat it is skipped in one pass over the lengths (for Utf8View a pass over the views that
    // the compiler vectorizes), without a branch per row.
    if let ([Some(b)], None) = (&*best, opt_filter) {
        let rows = 0..group_indices.len();
        let cannot_beat = if is_max {
            rows.map(&bytes).max().is_none_or(|len| len as i64 <= *b)
        } else {
            rows.map(|r| bytes(r).div_ceil(4))
                .min()
                .is_none_or(|len| len as i64 >= *b)
        };
        if cannot_beat {
            return;
        }
    }
    let nulls = strings.logical_nulls();
    let mut visit = |row: usize, g: usize| {
        if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            return;
        }
        let slot = &mut best[g];
        if let Some(b) = *slot {
            let len = bytes(row);
            let cannot_beat = if is_max {
                len as i64 <= b
            } else {
                len.div_ceil(4) as i64 >= b
            };
            if cannot_beat {
                return;
            }
        }
        offer(is_max, slot, char_len(strings.value(row)));
    };
    match opt_filter {
        None => group_indices
            .iter()
            .enumerate()
            .for_each(|(row, &g)| visit(row, g)),
        Some(_) => for_each_row(group_indices, opt_filter, visit),
    }
}

/// Character (Unicode scalar value) count, with an ASCII fast path.
#[inline]
fn char_len(s: &str) -> i64 {
    if s.is_ascii() {
        s.len() as i64
    } else {
        s.chars().count() as i64
    }
}

/// Shared implementation of `min_length` (`is_max = false`) and `max_length`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct LengthUdaf {
    name: &'static str,
    is_max: bool,
    signature: Signature,
}

impl LengthUdaf {
    pub(crate) fn new(name: &'static str, is_max: bool) -> Self {
        Self {
            name,
            is_max,
            signature: signature(vec![vec![DataType::Utf8]], Volatility::Immutable),
        }
    }
}

impl UdafCore for LengthUdaf {
    type Groups = ExtremeGroups<CharLength>;

    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn check(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_string(t) => Ok(arg_types.to_vec()),
            [DataType::Null] => Ok(vec![DataType::Utf8]),
            _ => plan_err!(
                "{}(x) takes exactly one string argument, got {arg_types:?}",
                self.name
            ),
        }
    }
    fn output_type(&self) -> DataType {
        DataType::Int64
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![state_field(
            args.name,
            "length",
            DataType::Int64,
            true,
        )])
    }
    fn groups(&self, _args: &AccumulatorArgs) -> Result<Self::Groups> {
        Ok(ExtremeGroups::new(CharLength, self.is_max))
    }
}

/// The per-row value of `min_length` / `max_length`: the character length of a string.
#[derive(Debug)]
pub(crate) struct CharLength;

impl ExtremeOf for CharLength {
    const LABEL: &'static str = "length aggregate";

    fn values(&self, x: &ArrayRef) -> Result<Int64Array> {
        let mut b = Int64Builder::with_capacity(x.len());
        for_each_str(x, |_, s| b.append_option(s.map(char_len)))?;
        Ok(b.finish())
    }

    fn update(
        &self,
        x: &ArrayRef,
        is_max: bool,
        best: &mut [Option<i64>],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<()> {
        match x.data_type() {
            DataType::Utf8 => {
                let a = x.as_string::<i32>();
                let bytes = |r| a.value_length(r) as usize;
                extreme_lengths(is_max, best, group_indices, opt_filter, a, bytes);
            }
            DataType::LargeUtf8 => {
                let a = x.as_string::<i64>();
                let bytes = |r| a.value_length(r) as usize;
                extreme_lengths(is_max, best, group_indices, opt_filter, a, bytes);
            }
            DataType::Utf8View => {
                let a = x.as_string_view();
                // The low 32 bits of a view are the value's byte length.
                let views = a.views();
                let bytes = |r: usize| views[r] as u32 as usize;
                extreme_lengths(is_max, best, group_indices, opt_filter, a, bytes);
            }
            _ => {
                let c = cast(x, &DataType::Utf8)?;
                let a = c.as_string::<i32>();
                let bytes = |r| a.value_length(r) as usize;
                extreme_lengths(is_max, best, group_indices, opt_filter, a, bytes);
            }
        }
        Ok(())
    }

    fn evaluate(&self, best: Vec<Option<i64>>) -> ArrayRef {
        Arc::new(Int64Array::from(best))
    }
}
