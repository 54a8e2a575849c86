//! `min_length(x)` / `max_length(x)`: extremes of the character length of non-NULL strings.
//! Memory: 9 bytes per group.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayAccessor, ArrayRef, AsArray, BooleanArray, Int64Array, Int64Builder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator, Signature, Volatility};

use crate::common::{Resize, for_each_row, is_string, signature};
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
        LengthGroups::offer(is_max, slot, char_len(strings.value(row)));
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
    type Groups = LengthGroups;

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
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "length"),
            DataType::Int64,
            true,
        ))])
    }
    fn groups(&self, _args: &AccumulatorArgs) -> Result<LengthGroups> {
        Ok(LengthGroups::new(self.is_max))
    }
}

/// Per-group extreme length; `None` until a non-NULL string is seen.
#[derive(Debug)]
pub(crate) struct LengthGroups {
    is_max: bool,
    best: Vec<Option<i64>>,
}

impl LengthGroups {
    fn new(is_max: bool) -> Self {
        Self {
            is_max,
            best: Vec::new(),
        }
    }

    #[inline]
    fn offer(is_max: bool, slot: &mut Option<i64>, len: i64) {
        *slot = Some(match *slot {
            None => len,
            Some(b) if is_max => b.max(len),
            Some(b) => b.min(len),
        });
    }
}

impl Resize for LengthGroups {
    fn resize(&mut self, n: usize) {
        if self.best.len() < n {
            self.best.resize(n, None);
        }
    }
}

impl GroupsAccumulator for LengthGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let Some(x) = values.first() else {
            return exec_err!("length aggregate called without input");
        };
        let is_max = self.is_max;
        let best = &mut self.best;
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

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from(
            emit_to.take_needed(&mut self.best),
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(emit_to)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let Some(s) = values.first() else {
            return exec_err!("length aggregate: missing state");
        };
        let s = s.as_primitive::<Int64Type>();
        for (row, &g) in group_indices.iter().enumerate() {
            if s.is_valid(row) {
                Self::offer(self.is_max, &mut self.best[g], s.value(row));
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let Some(x) = values.first() else {
            return exec_err!("length aggregate called without input");
        };
        let mut b = Int64Builder::with_capacity(x.len());
        for_each_str(x, |row, s| {
            let keep = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            b.append_option(s.filter(|_| keep).map(char_len));
        })?;
        Ok(vec![Arc::new(b.finish())])
    }

    fn size(&self) -> usize {
        self.best.capacity() * size_of::<Option<i64>>() + size_of::<Self>()
    }
}
