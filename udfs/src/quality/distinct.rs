//! `distinct_count(x)` (exact) and `duplicate_count(k1, k2, ...)`.
//!
//! Keys are encoded with Arrow's row format (one byte string per key tuple), so any
//! combination of column types works. State per group: the set of distinct encoded keys
//! (`List<Binary>`) and the number of rows with all keys non-NULL (`UInt64`).
//! Memory: the distinct keys (their encoded bytes plus ~48 bytes of hash-set overhead each) —
//! exact, therefore O(distinct keys); reported to DataFusion's memory pool through `size()`.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Int64Array, ListBuilder, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, UInt64Type};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

use crate::common::{Resize, for_each_row, lenient, signature, single};

/// Shared implementation: `duplicates = false` → `distinct_count`, `true` → `duplicate_count`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DistinctUdaf {
    name: &'static str,
    duplicates: bool,
    signature: Signature,
}

impl DistinctUdaf {
    pub(crate) fn new(name: &'static str, duplicates: bool) -> Self {
        Self {
            name,
            duplicates,
            signature: signature(vec![vec![DataType::Int64]], Volatility::Immutable),
        }
    }

    fn groups(&self, args: &AccumulatorArgs) -> Result<DistinctGroups> {
        let fields = args
            .expr_fields
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        Ok(DistinctGroups {
            duplicates: self.duplicates,
            converter: RowConverter::new(fields)?,
            sets: Vec::new(),
            rows: Vec::new(),
            bytes: 0,
        })
    }
}

impl AggregateUDFImpl for DistinctUdaf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        lenient(self.check(arg_types), arg_types)
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.check(arg_types)?;
        Ok(DataType::Int64)
    }
    fn is_nullable(&self) -> bool {
        false
    }
    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "keys"),
                DataType::List(Arc::new(Field::new_list_field(DataType::Binary, true))),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "rows"),
                DataType::UInt64,
                true,
            )),
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(single(self.groups(&args)?))
    }
    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }
    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups(&args)?))
    }
}

#[derive(Debug)]
pub(crate) struct DistinctGroups {
    duplicates: bool,
    converter: RowConverter,
    sets: Vec<HashSet<Box<[u8]>>>,
    rows: Vec<u64>,
    bytes: usize,
}

const ENTRY_OVERHEAD: usize = size_of::<Box<[u8]>>() + 32;

impl DistinctGroups {
    fn insert(&mut self, g: usize, key: &[u8]) {
        if !self.sets[g].contains(key) {
            self.bytes += key.len() + ENTRY_OVERHEAD;
            self.sets[g].insert(key.into());
        }
    }

    /// `true` where every key column is non-NULL.
    fn complete(values: &[ArrayRef], row: usize) -> bool {
        values.iter().all(|a| a.is_valid(row))
    }
}

impl Resize for DistinctGroups {
    fn resize(&mut self, n: usize) {
        if self.sets.len() < n {
            self.sets.resize_with(n, HashSet::new);
            self.rows.resize(n, 0);
        }
    }
}

impl GroupsAccumulator for DistinctGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let encoded = self.converter.convert_columns(values)?;
        let mut keep = Vec::with_capacity(group_indices.len());
        for_each_row(group_indices, opt_filter, |row, g| {
            if Self::complete(values, row) {
                keep.push((row, g));
            }
        });
        for (row, g) in keep {
            self.rows[g] += 1;
            self.insert(g, encoded.row(row).as_ref());
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let sets = emit_to.take_needed(&mut self.sets);
        let rows = emit_to.take_needed(&mut self.rows);
        let dup = self.duplicates;
        self.bytes = self.sets.iter().map(|s| s.len() * 40).sum();
        Ok(Arc::new(Int64Array::from_iter_values(
            sets.iter().zip(rows).map(|(s, r)| {
                if dup {
                    r.saturating_sub(s.len() as u64) as i64
                } else {
                    s.len() as i64
                }
            }),
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let sets = emit_to.take_needed(&mut self.sets);
        let rows = emit_to.take_needed(&mut self.rows);
        self.bytes = self.sets.iter().map(|s| s.len() * 40).sum();
        let mut keys = ListBuilder::new(BinaryBuilder::new());
        for s in &sets {
            for k in s {
                keys.values().append_value(k);
            }
            keys.append(true);
        }
        Ok(vec![
            Arc::new(keys.finish()),
            Arc::new(UInt64Array::from(rows)),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let [keys, rows] = values else {
            return exec_err!("distinct aggregate: expected 2 state columns");
        };
        let keys = keys.as_list::<i32>();
        let rows = rows.as_primitive::<UInt64Type>();
        for (row, &g) in group_indices.iter().enumerate() {
            if rows.is_valid(row) {
                self.rows[g] += rows.value(row);
            }
            if keys.is_valid(row) {
                let list = keys.value(row);
                let list = list.as_binary::<i32>();
                for k in list.iter().flatten() {
                    self.insert(g, k);
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
        let encoded = self.converter.convert_columns(values)?;
        let n = values.first().map(|a| a.len()).unwrap_or(0);
        let mut keys = ListBuilder::new(BinaryBuilder::new());
        let mut rows = Vec::with_capacity(n);
        for row in 0..n {
            let keep = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
                && Self::complete(values, row);
            if keep {
                keys.values().append_value(encoded.row(row).as_ref());
            }
            keys.append(true);
            rows.push(u64::from(keep));
        }
        Ok(vec![
            Arc::new(keys.finish()),
            Arc::new(UInt64Array::from(rows)),
        ])
    }

    fn size(&self) -> usize {
        self.bytes
            + self.sets.capacity() * size_of::<HashSet<Box<[u8]>>>()
            + self.rows.capacity() * 8
            + self.converter.size()
    }
}

impl DistinctUdaf {
    fn check(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.is_empty() || (!self.duplicates && arg_types.len() != 1) {
            return plan_err!(
                "{} takes {} argument(s), got {}",
                self.name,
                if self.duplicates {
                    "one or more"
                } else {
                    "exactly one"
                },
                arg_types.len()
            );
        }
        for t in arg_types {
            if RowConverter::new(vec![SortField::new(t.clone())]).is_err() {
                return plan_err!("{}: unsupported key type {t}", self.name);
            }
        }
        Ok(arg_types.to_vec())
    }
}
