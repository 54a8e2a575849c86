//! `distinct_count(x)` (exact) and `duplicate_count(k1, k2, ...)`.
//!
//! Keys are encoded with Arrow's row format (one byte string per key tuple), so any
//! combination of column types works. State per group: the set of distinct encoded keys
//! (`List<Binary>`) and the number of rows with all keys non-NULL (`UInt64`).
//! Memory: the distinct keys (their encoded bytes plus ~48 bytes of hash-set overhead each) —
//! exact, therefore O(distinct keys); reported to DataFusion's memory pool through `size()`.

use std::collections::HashSet;

use ahash::RandomState;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Int64Array, ListBuilder, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type, UInt64Type};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator, Signature, Volatility};

use crate::common::{Resize, for_each_row, is_integer, signature, state_field};
use crate::udaf::UdafCore;

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
}

impl UdafCore for DistinctUdaf {
    type Groups = DistinctGroups;

    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
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
    fn output_type(&self) -> DataType {
        DataType::Int64
    }
    fn is_nullable(&self) -> bool {
        false
    }
    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            state_field(
                args.name,
                "keys",
                DataType::List(Arc::new(Field::new_list_field(DataType::Binary, true))),
                true,
            ),
            state_field(args.name, "rows", DataType::UInt64, true),
        ])
    }
    fn groups(&self, args: &AccumulatorArgs) -> Result<DistinctGroups> {
        let fields = args
            .expr_fields
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let primitive = args
            .expr_fields
            .iter()
            .all(|f| primitive_type(f.data_type()));
        Ok(DistinctGroups {
            duplicates: self.duplicates,
            converter: RowConverter::new(fields)?,
            sets: match args.expr_fields.len() {
                1 if primitive => Sets::Prim(Vec::new()),
                2 if primitive => Sets::Pair(Vec::new()),
                _ => Sets::Rows(Vec::new()),
            },
            rows: Vec::new(),
            bytes: 0,
        })
    }
}

/// A single numeric key column is hashed as its 64-bit pattern, a pair of them (the common
/// composite key: order and line number) as one 128-bit value; everything else through
/// Arrow's row format (one byte string per key tuple, one allocation per distinct key).
fn primitive_type(t: &DataType) -> bool {
    is_integer(t) || matches!(t, DataType::Float32 | DataType::Float64)
}

/// Key bits of a single numeric column (integers as i64/u64 bits, floats as f64 bits with
/// -0.0 and 0.0 kept apart, like the row format); `None` for NULL.
fn primitive_keys(x: &ArrayRef) -> Result<Vec<Option<u64>>> {
    Ok(match x.data_type() {
        DataType::UInt64 => x.as_primitive::<UInt64Type>().iter().collect(),
        DataType::Float32 | DataType::Float64 => {
            let f = cast(x, &DataType::Float64)?;
            f.as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(f64::to_bits))
                .collect()
        }
        _ => {
            let i = cast(x, &DataType::Int64)?;
            i.as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map(|v| v as u64))
                .collect()
        }
    })
}

type FastSet<T> = HashSet<T, RandomState>;

/// The one key column of a single-key aggregate.
fn first(values: &[ArrayRef]) -> Result<&ArrayRef> {
    match values.first() {
        Some(x) => Ok(x),
        None => exec_err!("distinct aggregate called without input"),
    }
}

/// Two numeric key columns as one value: the first column's bits above the second's; `None`
/// where either is NULL.
fn pair_keys(values: &[ArrayRef]) -> Result<Vec<Option<u128>>> {
    let [a, b] = values else {
        return exec_err!("distinct aggregate: expected two key columns");
    };
    let (a, b) = (primitive_keys(a)?, primitive_keys(b)?);
    Ok(a.into_iter()
        .zip(b)
        .map(|(a, b)| Some((u128::from(a?) << 64) | u128::from(b?)))
        .collect())
}

/// A numeric key as hashed (one column's 64 bits, two columns' 128), and as it travels in the
/// partial state (little-endian bytes).
trait Key: std::hash::Hash + Eq + Copy {
    type Bytes: AsRef<[u8]>;
    fn to_bytes(self) -> Self::Bytes;
    fn from_bytes(b: &[u8]) -> Result<Self>;
}

impl Key for u64 {
    type Bytes = [u8; 8];
    fn to_bytes(self) -> [u8; 8] {
        self.to_le_bytes()
    }
    fn from_bytes(b: &[u8]) -> Result<Self> {
        match <[u8; 8]>::try_from(b) {
            Ok(b) => Ok(u64::from_le_bytes(b)),
            Err(_) => exec_err!("distinct aggregate: corrupt 64-bit key in state"),
        }
    }
}

impl Key for u128 {
    type Bytes = [u8; 16];
    fn to_bytes(self) -> [u8; 16] {
        self.to_le_bytes()
    }
    fn from_bytes(b: &[u8]) -> Result<Self> {
        match <[u8; 16]>::try_from(b) {
            Ok(b) => Ok(u128::from_le_bytes(b)),
            Err(_) => exec_err!("distinct aggregate: corrupt 128-bit key in state"),
        }
    }
}

/// Adds each row's key (rows with a NULL key are skipped) to its group's set.
fn add_keys<K: Key>(
    keys: &[Option<K>],
    sets: &mut [FastSet<K>],
    rows: &mut [u64],
    bytes: &mut usize,
    group_indices: &[usize],
    opt_filter: Option<&BooleanArray>,
) {
    for_each_row(group_indices, opt_filter, |row, g| {
        if let Some(k) = keys[row] {
            rows[g] += 1;
            DistinctGroups::add_prim(bytes, &mut sets[g], k);
        }
    });
}

/// Appends each set as one list of its keys' bytes.
fn append_sets<K: Key>(list: &mut ListBuilder<BinaryBuilder>, sets: Vec<FastSet<K>>) {
    for set in sets {
        for k in set {
            list.values().append_value(k.to_bytes());
        }
        list.append(true);
    }
}

/// One single-key list per row (empty where `keep` refuses the row or the key is NULL), and
/// the row's count of complete keys.
fn keys_as_state<K: Key>(
    keys: &[Option<K>],
    keep: impl Fn(usize) -> bool,
    list: &mut ListBuilder<BinaryBuilder>,
    rows: &mut Vec<u64>,
) {
    for (row, k) in keys.iter().enumerate() {
        let k = k.filter(|_| keep(row));
        if let Some(k) = k {
            list.values().append_value(k.to_bytes());
        }
        list.append(true);
        rows.push(u64::from(k.is_some()));
    }
}

#[derive(Debug)]
enum Sets {
    Prim(Vec<FastSet<u64>>),
    Pair(Vec<FastSet<u128>>),
    Rows(Vec<FastSet<Box<[u8]>>>),
}

impl Sets {
    fn len(&self) -> usize {
        match self {
            Sets::Prim(v) => v.len(),
            Sets::Pair(v) => v.len(),
            Sets::Rows(v) => v.len(),
        }
    }

    /// The number of distinct keys of group `g`.
    fn count(&self, g: usize) -> usize {
        match self {
            Sets::Prim(v) => v[g].len(),
            Sets::Pair(v) => v[g].len(),
            Sets::Rows(v) => v[g].len(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct DistinctGroups {
    duplicates: bool,
    converter: RowConverter,
    sets: Sets,
    rows: Vec<u64>,
    bytes: usize,
}

const ENTRY_OVERHEAD: usize = size_of::<Box<[u8]>>() + 16;

impl DistinctGroups {
    /// `true` where every key column is non-NULL.
    fn complete(values: &[ArrayRef], row: usize) -> bool {
        values.iter().all(|a| a.is_valid(row))
    }

    fn add_row_key(bytes: &mut usize, set: &mut FastSet<Box<[u8]>>, key: &[u8]) {
        if !set.contains(key) {
            *bytes += key.len() + ENTRY_OVERHEAD;
            set.insert(key.into());
        }
    }

    fn add_prim<K: Key>(bytes: &mut usize, set: &mut FastSet<K>, key: K) {
        if set.insert(key) {
            // The key and the table's slack (about half a slot per key).
            *bytes += size_of::<K>() * 2;
        }
    }

    fn counts_only(&mut self, emit_to: EmitTo) -> (Vec<usize>, Vec<u64>) {
        let rows = emit_to.take_needed(&mut self.rows);
        let counts = match &mut self.sets {
            Sets::Prim(v) => emit_to.take_needed(v).iter().map(|s| s.len()).collect(),
            Sets::Pair(v) => emit_to.take_needed(v).iter().map(|s| s.len()).collect(),
            Sets::Rows(v) => emit_to.take_needed(v).iter().map(|s| s.len()).collect(),
        };
        (counts, rows)
    }
}

impl Resize for DistinctGroups {
    fn resize(&mut self, n: usize) {
        if self.sets.len() < n {
            match &mut self.sets {
                Sets::Prim(v) => v.resize_with(n, FastSet::default),
                Sets::Pair(v) => v.resize_with(n, FastSet::default),
                Sets::Rows(v) => v.resize_with(n, FastSet::default),
            }
            self.rows.resize(n, 0);
        }
    }

    /// In place (the default would round-trip every key through `state`).
    fn evaluate_single(&mut self) -> Result<ScalarValue> {
        self.resize(1);
        let d = self.sets.count(0) as u64;
        let r = self.rows[0];
        Ok(ScalarValue::Int64(Some(if self.duplicates {
            r.saturating_sub(d) as i64
        } else {
            d as i64
        })))
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
        let (rows, bytes) = (&mut self.rows, &mut self.bytes);
        match &mut self.sets {
            Sets::Prim(sets) => {
                let keys = primitive_keys(first(values)?)?;
                add_keys(&keys, sets, rows, bytes, group_indices, opt_filter);
            }
            Sets::Pair(sets) => {
                let keys = pair_keys(values)?;
                add_keys(&keys, sets, rows, bytes, group_indices, opt_filter);
            }
            Sets::Rows(sets) => {
                let encoded = self.converter.convert_columns(values)?;
                for_each_row(group_indices, opt_filter, |row, g| {
                    if Self::complete(values, row) {
                        rows[g] += 1;
                        Self::add_row_key(bytes, &mut sets[g], encoded.row(row).as_ref());
                    }
                });
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (counts, rows) = self.counts_only(emit_to);
        let dup = self.duplicates;
        Ok(Arc::new(Int64Array::from_iter_values(
            counts.into_iter().zip(rows).map(|(d, r)| {
                if dup {
                    r.saturating_sub(d as u64) as i64
                } else {
                    d as i64
                }
            }),
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let rows = emit_to.take_needed(&mut self.rows);
        let mut list = ListBuilder::new(BinaryBuilder::new());
        match &mut self.sets {
            Sets::Prim(v) => append_sets(&mut list, emit_to.take_needed(v)),
            Sets::Pair(v) => append_sets(&mut list, emit_to.take_needed(v)),
            Sets::Rows(v) => {
                for set in emit_to.take_needed(v) {
                    for k in set {
                        list.values().append_value(k);
                    }
                    list.append(true);
                }
            }
        }
        self.bytes = match &self.sets {
            Sets::Prim(v) => v.iter().map(|s| s.len() * 16).sum(),
            Sets::Pair(v) => v.iter().map(|s| s.len() * 32).sum(),
            Sets::Rows(v) => v.iter().map(|s| s.len() * (ENTRY_OVERHEAD + 16)).sum(),
        };
        Ok(vec![
            Arc::new(list.finish()),
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
            if keys.is_null(row) {
                continue;
            }
            let list = keys.value(row);
            let list = list.as_binary::<i32>();
            for k in list.iter().flatten() {
                match &mut self.sets {
                    Sets::Prim(sets) => {
                        Self::add_prim(&mut self.bytes, &mut sets[g], u64::from_bytes(k)?);
                    }
                    Sets::Pair(sets) => {
                        Self::add_prim(&mut self.bytes, &mut sets[g], u128::from_bytes(k)?);
                    }
                    Sets::Rows(sets) => Self::add_row_key(&mut self.bytes, &mut sets[g], k),
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
        let n = values.first().map(|a| a.len()).unwrap_or(0);
        let keep = |row: usize| {
            opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
                && Self::complete(values, row)
        };
        let mut list = ListBuilder::new(BinaryBuilder::new());
        let mut rows = Vec::with_capacity(n);
        match &self.sets {
            Sets::Prim(_) => {
                let keys = primitive_keys(first(values)?)?;
                keys_as_state(&keys, keep, &mut list, &mut rows);
            }
            Sets::Pair(_) => keys_as_state(&pair_keys(values)?, keep, &mut list, &mut rows),
            Sets::Rows(_) => {
                let encoded = self.converter.convert_columns(values)?;
                for row in 0..n {
                    let k = keep(row);
                    if k {
                        list.values().append_value(encoded.row(row).as_ref());
                    }
                    list.append(true);
                    rows.push(u64::from(k));
                }
            }
        }
        Ok(vec![
            Arc::new(list.finish()),
            Arc::new(UInt64Array::from(rows)),
        ])
    }

    fn size(&self) -> usize {
        self.bytes + self.sets.len() * 48 + self.rows.capacity() * 8 + self.converter.size()
    }
}
