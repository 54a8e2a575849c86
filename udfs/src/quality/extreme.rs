//! One per-group extreme (`min` or `max`) of an `i64` per row: the state of `min_length` /
//! `max_length` (character lengths) and of `freshness` / `retention` (timestamps in
//! nanoseconds). State: the extreme as a nullable `Int64` per group, NULL until a row is seen.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use crate::common::{Resize, for_each_row};

/// What is compared per row, and what the extreme evaluates to.
pub(crate) trait ExtremeOf: Debug + Send + Sync + 'static {
    /// Names the aggregate in error messages.
    const LABEL: &'static str;

    /// The `i64` of every row of an input batch; NULL where the row has none.
    fn values(&self, x: &ArrayRef) -> Result<Int64Array>;

    /// Folds an input batch into the per-group extremes. The default goes through
    /// [`values`](Self::values); override it where whole rows can be skipped cheaper.
    fn update(
        &self,
        x: &ArrayRef,
        is_max: bool,
        best: &mut [Option<i64>],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<()> {
        fold(is_max, best, &self.values(x)?, group_indices, opt_filter);
        Ok(())
    }

    /// The result column for the given per-group extremes.
    fn evaluate(&self, best: Vec<Option<i64>>) -> ArrayRef;
}

/// Keeps in `slot` the larger (`is_max`) or smaller of itself and `v`.
#[inline]
pub(crate) fn offer(is_max: bool, slot: &mut Option<i64>, v: i64) {
    *slot = Some(match *slot {
        None => v,
        Some(b) if is_max => b.max(v),
        Some(b) => b.min(v),
    });
}

/// Offers every non-NULL value of `v` (that passes the filter) to its group.
fn fold(
    is_max: bool,
    best: &mut [Option<i64>],
    v: &Int64Array,
    group_indices: &[usize],
    opt_filter: Option<&BooleanArray>,
) {
    let vals = v.values();
    match v.nulls() {
        None => for_each_row(group_indices, opt_filter, |row, g| {
            offer(is_max, &mut best[g], vals[row])
        }),
        Some(nulls) => for_each_row(group_indices, opt_filter, |row, g| {
            if nulls.is_valid(row) {
                offer(is_max, &mut best[g], vals[row]);
            }
        }),
    }
}

/// Per-group extreme of [`ExtremeOf::values`]; `None` until a non-NULL value is seen.
#[derive(Debug)]
pub(crate) struct ExtremeGroups<K> {
    kind: K,
    is_max: bool,
    best: Vec<Option<i64>>,
}

impl<K: ExtremeOf> ExtremeGroups<K> {
    pub(crate) fn new(kind: K, is_max: bool) -> Self {
        Self {
            kind,
            is_max,
            best: Vec::new(),
        }
    }
}

impl<K: ExtremeOf> Resize for ExtremeGroups<K> {
    fn resize(&mut self, n: usize) {
        if self.best.len() < n {
            self.best.resize(n, None);
        }
    }
}

impl<K: ExtremeOf> GroupsAccumulator for ExtremeGroups<K> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let Some(x) = values.first() else {
            return exec_err!("{} called without input", K::LABEL);
        };
        self.kind
            .update(x, self.is_max, &mut self.best, group_indices, opt_filter)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(self.kind.evaluate(emit_to.take_needed(&mut self.best)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(Int64Array::from(
            emit_to.take_needed(&mut self.best),
        ))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let Some(s) = values.first() else {
            return exec_err!("{}: missing state", K::LABEL);
        };
        let s = s.as_primitive::<Int64Type>();
        fold(self.is_max, &mut self.best, s, group_indices, None);
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let Some(x) = values.first() else {
            return exec_err!("{} called without input", K::LABEL);
        };
        let v = self.kind.values(x)?;
        let v = match opt_filter {
            None => v,
            Some(f) => {
                // Rows the filter drops (false or NULL) become NULL states.
                let keep = match f.nulls() {
                    Some(n) => f.values() & n.inner(),
                    None => f.values().clone(),
                };
                let (_, vals, nulls) = v.into_parts();
                let nulls = NullBuffer::union(nulls.as_ref(), Some(&NullBuffer::new(keep)));
                Int64Array::new(vals, nulls)
            }
        };
        Ok(vec![Arc::new(v)])
    }

    fn size(&self) -> usize {
        self.best.capacity() * size_of::<Option<i64>>() + size_of::<Self>()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;

    use super::*;
    use crate::quality::strings::CharLength;

    /// The default `update` path: the values as they are.
    #[derive(Debug)]
    struct Plain;

    impl ExtremeOf for Plain {
        const LABEL: &'static str = "plain";
        fn values(&self, x: &ArrayRef) -> Result<Int64Array> {
            Ok(cast(x, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .clone())
        }
        fn evaluate(&self, best: Vec<Option<i64>>) -> ArrayRef {
            Arc::new(Int64Array::from(best))
        }
    }

    /// Updating directly and going through `convert_to_state` + `merge_batch` (DataFusion's
    /// skip-partial-aggregation path) give the same extremes, FILTER included.
    fn check<K: ExtremeOf>(
        kind: impl Fn() -> K,
        x: ArrayRef,
        want_min: &[Option<i64>],
        want_max: &[Option<i64>],
    ) -> Result<()> {
        let groups = [0, 0, 1, 1, 0, 0];
        let filter = BooleanArray::from(vec![
            Some(true),
            Some(true),
            Some(true),
            None,
            Some(false),
            Some(true),
        ]);
        for (is_max, want) in [(false, want_min), (true, want_max)] {
            let want: ArrayRef = Arc::new(Int64Array::from(want.to_vec()));
            let mut direct = ExtremeGroups::new(kind(), is_max);
            direct.update_batch(&[Arc::clone(&x)], &groups, Some(&filter), 3)?;
            assert_eq!(&direct.evaluate(EmitTo::All)?, &want);

            let mut merged = ExtremeGroups::new(kind(), is_max);
            let state = merged.convert_to_state(&[Arc::clone(&x)], Some(&filter))?;
            merged.merge_batch(&state, &groups, 3)?;
            assert_eq!(&merged.evaluate(EmitTo::All)?, &want);
        }
        Ok(())
    }

    #[test]
    fn lengths_direct_and_through_state() -> Result<()> {
        let x: ArrayRef = Arc::new(StringArray::from(vec![
            Some("ab"),
            None,
            Some("héllo"),
            Some(""),
            Some("wxyz"),
            Some("a"),
        ]));
        check(
            || CharLength,
            x,
            &[Some(1), Some(5), None],
            &[Some(2), Some(5), None],
        )
    }

    #[test]
    fn plain_values_direct_and_through_state() -> Result<()> {
        let x: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(7),
            None,
            Some(-3),
            Some(100),
            Some(-100),
            Some(9),
        ]));
        check(
            || Plain,
            x,
            &[Some(7), Some(-3), None],
            &[Some(9), Some(-3), None],
        )
    }
}
