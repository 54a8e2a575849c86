//! `NumericGroups`: the accumulator of the drift aggregates over numeric input. Each group
//! keeps every finite value of each side as `f64` (8 bytes per row: the exact KS p-value and
//! Wasserstein distance need all of them); at evaluation both sides are sorted (a canonical
//! order, so results do not depend on how the rows were partitioned) and one merged sweep
//! yields every statistic.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{ScalarValue, exec_err, internal_err};
use datafusion::error::Result;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::accum::{Out, empty_side_error, flags, input_flags, list_field};
use super::metric::Metric;
use super::stats::{self, Binning};
use super::sweep;
use crate::common::{Resize, for_each_row};

fn list_f64(groups: &[Vec<f64>]) -> ArrayRef {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
    let values: Float64Array = groups.iter().flatten().copied().collect();
    Arc::new(ListArray::new(
        list_field(DataType::Float64),
        offsets,
        Arc::new(values),
        None,
    ))
}

/// Sorts both samples; large inputs sort the two sides on two threads.
fn sort_both(a: &mut [f64], b: &mut [f64]) {
    const PARALLEL_MIN: usize = 1 << 16;
    if a.len().min(b.len()) >= PARALLEL_MIN {
        std::thread::scope(|scope| {
            scope.spawn(|| stats::sort_f64(a));
            stats::sort_f64(b);
        });
    } else {
        stats::sort_f64(a);
        stats::sort_f64(b);
    }
}

/// Per-group samples of the two sides.
#[derive(Debug, Default)]
struct Sides {
    base: Vec<f64>,
    cand: Vec<f64>,
}

#[derive(Debug)]
pub(crate) struct NumericGroups {
    pub(crate) name: &'static str,
    pub(crate) metric: Metric,
    pub(crate) binning: Binning,
    pub(crate) integer: bool,
    groups: Vec<Sides>,
    /// Sum of the capacities of all sample vectors, in values.
    cap: usize,
}

impl NumericGroups {
    pub(crate) fn new(name: &'static str, metric: Metric, binning: Binning, integer: bool) -> Self {
        Self {
            name,
            metric,
            binning,
            integer,
            groups: Vec::new(),
            cap: 0,
        }
    }

    #[inline]
    fn push(cap: &mut usize, v: &mut Vec<f64>, x: f64) {
        let before = v.capacity();
        v.push(x);
        *cap += v.capacity() - before;
    }

    fn evaluate_one(&self, s: &mut Sides, out: &mut Out) -> Result<()> {
        if s.base.is_empty() {
            return Err(empty_side_error(self.name, false));
        }
        if s.cand.is_empty() {
            return Err(empty_side_error(self.name, true));
        }
        sort_both(&mut s.base, &mut s.cand);
        let v = sweep::numeric_sorted(self.metric, self.binning, self.integer, &s.base, &s.cand);
        match out {
            Out::Summary(vals, ns) => {
                let f = |x: Option<f64>| x.unwrap_or(f64::NAN);
                vals.push([
                    f(v.ks_statistic),
                    f(v.ks_pvalue),
                    f(v.wasserstein),
                    f(v.wasserstein_normed),
                    f(v.psi),
                    f(v.js_distance),
                    f(v.hellinger),
                ]);
                ns.push([v.n_baseline, v.n_candidate]);
            }
            Out::Float(out) => match v.get(self.metric) {
                Some(x) => out.push(Some(x)),
                None => return internal_err!("{}: {:?} was not computed", self.name, self.metric),
            },
        }
        Ok(())
    }
}

impl Resize for NumericGroups {
    fn resize(&mut self, n: usize) {
        if self.groups.len() < n {
            self.groups.resize_with(n, Sides::default);
        }
    }

    /// In place: sorting keeps the samples, so no copy of the state is needed.
    fn evaluate_single(&mut self) -> Result<ScalarValue> {
        self.resize(1);
        let mut out = Out::new(self.metric);
        let mut s = std::mem::take(&mut self.groups[0]);
        let r = self.evaluate_one(&mut s, &mut out);
        self.groups[0] = s;
        r?;
        ScalarValue::try_from_array(&out.finish()?, 0)
    }
}

impl GroupsAccumulator for NumericGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let Some(v) = values.first() else {
            return exec_err!("{} needs (value, is_candidate)", self.name);
        };
        let v = cast(v, &DataType::Float64)?;
        let v = v.as_primitive::<Float64Type>();
        let f = input_flags(values, v.len())?;
        let f = f.as_ref();
        let (groups, cap) = (&mut self.groups, &mut self.cap);
        let vals = v.values();
        let fv = f.values();
        let all_valid = v.null_count() == 0 && f.null_count() == 0;
        for_each_row(group_indices, opt_filter, |row, g| {
            if !all_valid && (v.is_null(row) || f.is_null(row)) {
                return;
            }
            let x = vals[row];
            if !x.is_finite() {
                return;
            }
            let x = x + 0.0; // -0.0 → 0.0
            let s = &mut groups[g];
            if fv.value(row) {
                Self::push(cap, &mut s.cand, x);
            } else {
                Self::push(cap, &mut s.base, x);
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut groups = emit_to.take_needed(&mut self.groups);
        let mut out = Out::new(self.metric);
        for s in groups.iter_mut() {
            self.evaluate_one(s, &mut out)?;
        }
        self.cap = self
            .groups
            .iter()
            .map(|s| s.base.capacity() + s.cand.capacity())
            .sum();
        out.finish()
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = emit_to.take_needed(&mut self.groups);
        let (base, cand): (Vec<Vec<f64>>, Vec<Vec<f64>>) =
            groups.into_iter().map(|s| (s.base, s.cand)).unzip();
        self.cap = self
            .groups
            .iter()
            .map(|s| s.base.capacity() + s.cand.capacity())
            .sum();
        Ok(vec![list_f64(&base), list_f64(&cand)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let [base, cand] = values else {
            return exec_err!("{}: expected 2 state columns", self.name);
        };
        let (base, cand) = (base.as_list::<i32>(), cand.as_list::<i32>());
        for (row, &g) in group_indices.iter().enumerate() {
            for (list, is_cand) in [(base, false), (cand, true)] {
                if list.is_null(row) {
                    continue;
                }
                let arr = list.value(row);
                let arr = arr.as_primitive::<Float64Type>();
                let s = &mut self.groups[g];
                let target = if is_cand { &mut s.cand } else { &mut s.base };
                let before = target.capacity();
                target.extend_from_slice(arr.values());
                self.cap += target.capacity() - before;
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let Some(v) = values.first() else {
            return exec_err!("{} needs (value, is_candidate)", self.name);
        };
        let v = cast(v, &DataType::Float64)?;
        let v = v.as_primitive::<Float64Type>();
        let f = flags(values)?;
        let n = v.len();
        let mut base: Vec<Vec<f64>> = vec![Vec::new(); n];
        let mut cand: Vec<Vec<f64>> = vec![Vec::new(); n];
        for row in 0..n {
            let keep = opt_filter.is_none_or(|m| m.is_valid(row) && m.value(row));
            if !keep || v.is_null(row) || f.is_null(row) || !v.value(row).is_finite() {
                continue;
            }
            let x = v.value(row) + 0.0;
            if f.value(row) {
                cand[row].push(x);
            } else {
                base[row].push(x);
            }
        }
        Ok(vec![list_f64(&base), list_f64(&cand)])
    }

    fn size(&self) -> usize {
        self.cap * size_of::<f64>()
            + self.groups.capacity() * size_of::<Sides>()
            + size_of::<Self>()
    }
}
