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
//! This module holds what both share: the output column, the flag column and the empty-side
//! error; the accumulators are in `numeric.rs` and `categorical.rs`.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, StructArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::exec_err;
use datafusion::error::Result;

use super::metric::{Metric, summary_fields};

pub(super) fn empty_side_error(name: &str, candidate: bool) -> datafusion::error::DataFusionError {
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

pub(super) fn list_field(t: DataType) -> Arc<Field> {
    Arc::new(Field::new_list_field(t, true))
}

/// Output column builder shared by both accumulators.
pub(super) enum Out {
    Float(Vec<Option<f64>>),
    Summary(Vec<[f64; 7]>, Vec<[u64; 2]>),
}

impl Out {
    pub(super) fn new(metric: Metric) -> Self {
        if metric == Metric::Summary {
            Out::Summary(Vec::new(), Vec::new())
        } else {
            Out::Float(Vec::new())
        }
    }

    pub(super) fn finish(self) -> Result<ArrayRef> {
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

pub(super) fn flags(values: &[ArrayRef]) -> Result<&BooleanArray> {
    match values.get(1) {
        Some(f) if f.data_type() == &DataType::Boolean => Ok(f.as_boolean()),
        Some(f) => exec_err!("is_candidate must be BOOLEAN, got {}", f.data_type()),
        None => exec_err!("drift aggregate needs (value, is_candidate)"),
    }
}

/// The flag column of an input batch of `n` rows: a NULL-typed `is_candidate` (every row
/// dropped) becomes an all-NULL boolean column.
pub(super) fn input_flags(values: &[ArrayRef], n: usize) -> Result<Cow<'_, BooleanArray>> {
    if values
        .get(1)
        .is_some_and(|a| a.data_type() == &DataType::Null)
    {
        Ok(Cow::Owned(BooleanArray::new_null(n)))
    } else {
        flags(values).map(Cow::Borrowed)
    }
}
