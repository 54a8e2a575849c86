//! `CategoricalGroups`: the accumulator of the drift aggregates over categorical input (strings,
//! booleans, integer codes). Each group keeps a map category → (baseline count, candidate
//! count) (≈ the category bytes + 56 bytes per category).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray, StringBuilder, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, UInt64Type};
use datafusion::common::{ScalarValue, exec_err, internal_err};
use datafusion::error::Result;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

use super::accum::{empty_side_error, flags, input_flags, list_field};
use super::metric::Metric;
use super::stats::{self, Binning};
use crate::common::{Resize, for_each_row, is_string};
use crate::quality::strings::for_each_str;

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
        categorical_value(self.metric, self.binning, &ca, &cb)
    }
}

/// A categorical statistic from the counts of each category on both sides, categories in
/// ascending byte order (each side non-empty).
pub fn categorical_value(metric: Metric, binning: Binning, ca: &[f64], cb: &[f64]) -> Result<f64> {
    let (n1, n2) = (ca.iter().sum::<f64>(), cb.iter().sum::<f64>());
    let p: Vec<f64> = ca.iter().map(|c| c / n1).collect();
    let q: Vec<f64> = cb.iter().map(|c| c / n2).collect();
    Ok(match metric {
        Metric::Psi => stats::psi(p, q, binning),
        Metric::Js => stats::js_distance(&p, &q),
        Metric::Hellinger => stats::hellinger(&p, &q),
        Metric::Chi2Statistic => stats::chisquare(ca, cb).0,
        Metric::Chi2Pvalue => stats::chisquare(ca, cb).1,
        other => return internal_err!("{other:?} is not defined for categorical input"),
    })
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
        let f = input_flags(values, v.len())?;
        let f = f.as_ref();
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
