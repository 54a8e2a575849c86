//! Accumulators of the two-sample drift aggregates.
//!
//! **Numeric input** (`NumericGroups`): each group keeps every finite value of each side as
//! `f64` (8 bytes per row: the exact KS p-value and Wasserstein distance need all of them).
//! At evaluation both sides are sorted (a canonical order, so results do not depend on how the
//! rows were partitioned) and one merged sweep yields every statistic.
//! **Categorical input** (`CategoricalGroups`): each group keeps a map
//! category → (baseline count, candidate count) (≈ the category bytes + 56 bytes per category).
//! Both report their size to DataFusion's memory pool, which refuses with a "resources
//! exhausted" error when the configured limit is reached.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray, StringBuilder, StructArray,
    UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Float64Type, UInt64Type};
use datafusion::common::{ScalarValue, exec_err, internal_err};
use datafusion::error::Result;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::aggregate::{Metric, summary_fields};
use super::stats::{self, Binning};
use crate::common::{Resize, for_each_row, is_string};
use crate::quality::strings::for_each_str;

fn empty_side_error(name: &str, candidate: bool) -> datafusion::error::DataFusionError {
    let (side, flag) = if candidate {
        ("candidate", "true")
    } else {
        ("baseline", "false")
    };
    datafusion::error::DataFusionError::Execution(format!(
        "{name}: the {side} side (rows with is_candidate = {flag}) has no non-NULL finite values; \
         a two-sample statistic needs both sides"
    ))
}

fn list_field(t: DataType) -> Arc<Field> {
    Arc::new(Field::new_list_field(t, true))
}

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

fn list_u64(groups: impl Iterator<Item = Vec<u64>> + Clone) -> ArrayRef {
    let offsets = OffsetBuffer::from_lengths(groups.clone().map(|g| g.len()));
    let values: UInt64Array = groups.flatten().collect();
    Arc::new(ListArray::new(
        list_field(DataType::UInt64),
        offsets,
        Arc::new(values),
        None,
    ))
}

/// Output column builder shared by both accumulators.
enum Out {
    Float(Vec<Option<f64>>),
    Summary(Vec<[f64; 7]>, Vec<[u64; 2]>),
}

impl Out {
    fn new(metric: Metric) -> Self {
        if metric == Metric::Summary {
            Out::Summary(Vec::new(), Vec::new())
        } else {
            Out::Float(Vec::new())
        }
    }

    fn finish(self) -> Result<ArrayRef> {
        match self {
            Out::Float(v) => Ok(Arc::new(Float64Array::from(v))),
            Out::Summary(vals, ns) => {
                let fields: Fields = summary_fields();
                let mut cols: Vec<ArrayRef> = vec![
                    Arc::new(UInt64Array::from_iter_values(ns.iter().map(|n| n[0]))),
                    Arc::new(UInt64Array::from_iter_values(ns.iter().map(|n| n[1]))),
                ];
                for k in 0..7 {
                    cols.push(Arc::new(Float64Array::from_iter_values(
                        vals.iter().map(|v| v[k]),
                    )));
                }
                Ok(Arc::new(StructArray::try_new(fields, cols, None)?))
            }
        }
    }
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
        let (a, b) = (&s.base[..], &s.cand[..]);
        let value = match self.metric {
            Metric::KsStatistic => {
                let (d, _) = stats::ks_and_wasserstein(a, b);
                stats::ks_from_d(d, a.len(), b.len()).0
            }
            Metric::KsPvalue => {
                let (d, _) = stats::ks_and_wasserstein(a, b);
                stats::ks_from_d(d, a.len(), b.len()).1
            }
            Metric::Wasserstein => stats::ks_and_wasserstein(a, b).1,
            Metric::WassersteinNormed => {
                let w = stats::ks_and_wasserstein(a, b).1;
                stats::wasserstein_normed(w, a)
            }
            Metric::Psi => {
                let (p, q) = stats::numeric_bins(a, b, self.integer, self.binning);
                stats::psi(p, q, self.binning)
            }
            Metric::Js => {
                let (p, q) = stats::numeric_bins(a, b, self.integer, self.binning);
                stats::js_distance(&p, &q)
            }
            Metric::Hellinger => {
                let (p, q) = stats::numeric_bins(a, b, self.integer, self.binning);
                stats::hellinger(&p, &q)
            }
            Metric::Chi2Statistic | Metric::Chi2Pvalue => {
                let (ca, cb) = stats::value_counts(a, b);
                let (s, p) = stats::chisquare(&ca, &cb);
                if self.metric == Metric::Chi2Statistic {
                    s
                } else {
                    p
                }
            }
            Metric::Summary => {
                let (d, w) = stats::ks_and_wasserstein(a, b);
                let (d, p) = stats::ks_from_d(d, a.len(), b.len());
                let (pb, qb) = stats::numeric_bins(a, b, self.integer, self.binning);
                let vals = [
                    d,
                    p,
                    w,
                    stats::wasserstein_normed(w, a),
                    stats::psi(pb.clone(), qb.clone(), self.binning),
                    stats::js_distance(&pb, &qb),
                    stats::hellinger(&pb, &qb),
                ];
                if let Out::Summary(v, n) = out {
                    v.push(vals);
                    n.push([a.len() as u64, b.len() as u64]);
                }
                return Ok(());
            }
        };
        match out {
            Out::Float(v) => v.push(Some(value)),
            Out::Summary(..) => return internal_err!("summary output for a scalar metric"),
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

fn flags(values: &[ArrayRef]) -> Result<&BooleanArray> {
    match values.get(1) {
        Some(f) if f.data_type() == &DataType::Boolean => Ok(f.as_boolean()),
        Some(f) => exec_err!("is_candidate must be BOOLEAN, got {}", f.data_type()),
        None => exec_err!("drift aggregate needs (value, is_candidate)"),
    }
}

fn null_flags(n: usize) -> BooleanArray {
    BooleanArray::new_null(n)
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
        let nf;
        let f = if values
            .get(1)
            .is_some_and(|a| a.data_type() == &DataType::Null)
        {
            nf = null_flags(v.len());
            &nf
        } else {
            flags(values)?
        };
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

/// Category → [baseline count, candidate count].
type Counts = HashMap<String, [u64; 2]>;

#[derive(Debug)]
pub(crate) struct CategoricalGroups {
    pub(crate) name: &'static str,
    pub(crate) metric: Metric,
    pub(crate) binning: Binning,
    groups: Vec<Counts>,
    bytes: usize,
}

const CAT_OVERHEAD: usize = size_of::<String>() + size_of::<[u64; 2]>() + 16;

impl CategoricalGroups {
    pub(crate) fn new(name: &'static str, metric: Metric, binning: Binning) -> Self {
        Self {
            name,
            metric,
            binning,
            groups: Vec::new(),
            bytes: 0,
        }
    }

    fn add(bytes: &mut usize, m: &mut Counts, key: &str, side: usize, n: u64) {
        if let Some(c) = m.get_mut(key) {
            c[side] += n;
        } else {
            let mut c = [0u64; 2];
            c[side] = n;
            *bytes += key.len() + CAT_OVERHEAD;
            m.insert(key.to_owned(), c);
        }
    }

    fn strings(v: &ArrayRef) -> Result<ArrayRef> {
        if is_string(v.data_type()) {
            Ok(Arc::clone(v))
        } else {
            Ok(cast(v, &DataType::Utf8)?)
        }
    }

    fn evaluate_one(&self, m: &Counts) -> Result<f64> {
        let mut keys: Vec<(&String, &[u64; 2])> = m.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let ca: Vec<f64> = keys.iter().map(|(_, c)| c[0] as f64).collect();
        let cb: Vec<f64> = keys.iter().map(|(_, c)| c[1] as f64).collect();
        let (n1, n2) = (
            keys.iter().map(|(_, c)| c[0]).sum::<u64>(),
            keys.iter().map(|(_, c)| c[1]).sum::<u64>(),
        );
        if n1 == 0 {
            return Err(empty_side_error(self.name, false));
        }
        if n2 == 0 {
            return Err(empty_side_error(self.name, true));
        }
        let p: Vec<f64> = ca.iter().map(|c| c / n1 as f64).collect();
        let q: Vec<f64> = cb.iter().map(|c| c / n2 as f64).collect();
        Ok(match self.metric {
            Metric::Psi => stats::psi(p, q, self.binning),
            Metric::Js => stats::js_distance(&p, &q),
            Metric::Hellinger => stats::hellinger(&p, &q),
            Metric::Chi2Statistic => stats::chisquare(&ca, &cb).0,
            Metric::Chi2Pvalue => stats::chisquare(&ca, &cb).1,
            other => return internal_err!("{other:?} is not defined for categorical input"),
        })
    }
}

impl Resize for CategoricalGroups {
    fn resize(&mut self, n: usize) {
        if self.groups.len() < n {
            self.groups.resize_with(n, HashMap::new);
        }
    }

    fn evaluate_single(&mut self) -> Result<ScalarValue> {
        self.resize(1);
        Ok(ScalarValue::Float64(Some(
            self.evaluate_one(&self.groups[0])?,
        )))
    }
}

impl GroupsAccumulator for CategoricalGroups {
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
        let v = Self::strings(v)?;
        let nf;
        let f = if values
            .get(1)
            .is_some_and(|a| a.data_type() == &DataType::Null)
        {
            nf = null_flags(v.len());
            &nf
        } else {
            flags(values)?
        };
        let mut strs: Vec<Option<&str>> = Vec::with_capacity(v.len());
        // Collect borrowed strings first (for_each_str borrows `v`).
        let mut owned: Vec<Option<String>> = Vec::new();
        if matches!(v.data_type(), DataType::Dictionary(_, _)) {
            for_each_str(&v, |_, s| owned.push(s.map(str::to_owned)))?;
            strs.extend(owned.iter().map(|s| s.as_deref()));
        } else {
            match v.data_type() {
                DataType::Utf8 => strs.extend(v.as_string::<i32>().iter()),
                DataType::LargeUtf8 => strs.extend(v.as_string::<i64>().iter()),
                DataType::Utf8View => strs.extend(v.as_string_view().iter()),
                other => return exec_err!("{}: unsupported categorical type {other}", self.name),
            }
        }
        let (groups, bytes) = (&mut self.groups, &mut self.bytes);
        for_each_row(group_indices, opt_filter, |row, g| {
            if f.is_null(row) {
                return;
            }
            if let Some(s) = strs[row] {
                Self::add(bytes, &mut groups[g], s, usize::from(f.value(row)), 1);
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = emit_to.take_needed(&mut self.groups);
        let mut out = Vec::with_capacity(groups.len());
        for m in &groups {
            out.push(Some(self.evaluate_one(m)?));
        }
        Ok(Arc::new(Float64Array::from(out)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let groups = emit_to.take_needed(&mut self.groups);
        let mut keys = datafusion::arrow::array::ListBuilder::new(StringBuilder::new());
        let mut base = Vec::with_capacity(groups.len());
        let mut cand = Vec::with_capacity(groups.len());
        for m in &groups {
            let mut b = Vec::with_capacity(m.len());
            let mut c = Vec::with_capacity(m.len());
            for (k, n) in m {
                keys.values().append_value(k);
                b.push(n[0]);
                c.push(n[1]);
            }
            keys.append(true);
            base.push(b);
            cand.push(c);
        }
        Ok(vec![
            Arc::new(keys.finish()),
            list_u64(base.into_iter()),
            list_u64(cand.into_iter()),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let [keys, base, cand] = values else {
            return exec_err!("{}: expected 3 state columns", self.name);
        };
        let (keys, base, cand) = (
            keys.as_list::<i32>(),
            base.as_list::<i32>(),
            cand.as_list::<i32>(),
        );
        for (row, &g) in group_indices.iter().enumerate() {
            if keys.is_null(row) {
                continue;
            }
            let k = keys.value(row);
            let k = k.as_string::<i32>();
            let b = base.value(row);
            let b = b.as_primitive::<UInt64Type>();
            let c = cand.value(row);
            let c = c.as_primitive::<UInt64Type>();
            for i in 0..k.len() {
                let key = k.value(i);
                if b.value(i) > 0 {
                    Self::add(&mut self.bytes, &mut self.groups[g], key, 0, b.value(i));
                }
                if c.value(i) > 0 {
                    Self::add(&mut self.bytes, &mut self.groups[g], key, 1, c.value(i));
                }
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
        let v = Self::strings(v)?;
        let f = flags(values)?;
        let mut keys = datafusion::arrow::array::ListBuilder::new(StringBuilder::new());
        let mut base = Vec::with_capacity(v.len());
        let mut cand = Vec::with_capacity(v.len());
        for_each_str(&v, |row, s| {
            let keep = opt_filter.is_none_or(|m| m.is_valid(row) && m.value(row));
            match s {
                Some(s) if keep && f.is_valid(row) => {
                    keys.values().append_value(s);
                    let c = f.value(row);
                    base.push(vec![u64::from(!c)]);
                    cand.push(vec![u64::from(c)]);
                }
                _ => {
                    base.push(vec![]);
                    cand.push(vec![]);
                }
            }
            keys.append(true);
        })?;
        Ok(vec![
            Arc::new(keys.finish()),
            list_u64(base.into_iter()),
            list_u64(cand.into_iter()),
        ])
    }

    fn size(&self) -> usize {
        self.bytes + self.groups.capacity() * size_of::<Counts>() + size_of::<Self>()
    }
}
