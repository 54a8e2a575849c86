//! `distinct_count(x)` (exact) and `duplicate_count(k1, k2, ...)`.
//!
//! One numeric key is hashed as its 64-bit pattern and two as one 128-bit value; any other
//! key (three or more columns, text, dates, ...) is interned by DataFusion's group-values
//! machinery (`new_group_values`, what its `GROUP BY` uses), keyed by (group, key columns), so
//! no key costs an allocation of its own. Partial state per group: the distinct keys in Arrow's
//! row format (`List<Binary>`) and the number of rows with all keys non-NULL (`UInt64`).
//! Memory: O(distinct keys), exact, reported to DataFusion's memory pool through `size()`.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanArray, Int64Array, ListBuilder, UInt64Array,
};
use datafusion::arrow::compute::{cast, filter, not};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Float64Type, Int64Type, Schema, SchemaRef, UInt64Type,
};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator, Signature, Volatility};
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

use super::keyset::KeySet;
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
                _ => Sets::Interned(Interned::new(
                    &args
                        .expr_fields
                        .iter()
                        .map(|f| f.data_type().clone())
                        .collect::<Vec<_>>(),
                )?),
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
trait Key: std::hash::Hash + Ord + Copy {
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
    sets: &mut [KeySet<K>],
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
fn append_sets<K: Key>(list: &mut ListBuilder<BinaryBuilder>, sets: Vec<KeySet<K>>) {
    for set in sets {
        for k in set.keys() {
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

/// Keys that are not one or two numbers (three or more columns, text, dates, ...): interned by
/// DataFusion's group-values machinery, the one its `GROUP BY` and `count(DISTINCT)` use, keyed
/// by (this aggregate's group, key columns): the keys live in its column buffers, with no
/// allocation per key.
struct Interned {
    schema: SchemaRef,
    /// (`GroupValues` is `Send` but not `Sync`; only ever used through `&mut`.)
    values: Mutex<Box<dyn GroupValues>>,
    /// Distinct keys per group.
    distinct: Vec<u64>,
    ids: Vec<usize>,
}

impl std::fmt::Debug for Interned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interned")
            .field("keys", &self.values.lock().map(|v| v.len()).unwrap_or(0))
            .field("groups", &self.distinct.len())
            .finish()
    }
}

impl Interned {
    fn new(key_types: &[DataType]) -> Result<Self> {
        let mut fields = vec![Field::new("group", DataType::UInt64, false)];
        fields.extend(
            key_types
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("k{i}"), t.clone(), true)),
        );
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        Ok(Self {
            values: Mutex::new(new_group_values(Arc::clone(&schema), &GroupOrdering::None)?),
            schema,
            distinct: Vec::new(),
            ids: Vec::new(),
        })
    }

    /// Adds complete keys (no NULL), each with the group it belongs to.
    fn add(&mut self, groups: Vec<u64>, keys: &[ArrayRef]) -> Result<()> {
        if groups.is_empty() {
            return Ok(());
        }
        let values = self.values.get_mut().unwrap_or_else(|p| p.into_inner());
        let before = values.len();
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(keys.len() + 1);
        cols.push(Arc::new(UInt64Array::from(groups)));
        cols.extend(keys.iter().cloned());
        values.intern(&cols, &mut self.ids)?;
        let groups = cols[0].as_primitive::<UInt64Type>().values();
        let mut counted = vec![false; values.len() - before];
        for (&id, &g) in self.ids.iter().zip(groups.iter()) {
            if let Some(seen) = id.checked_sub(before).and_then(|i| counted.get_mut(i))
                && !*seen
            {
                *seen = true;
                self.distinct[g as usize] += 1;
            }
        }
        Ok(())
    }

    /// Takes every key out: (group, key columns).
    fn take_all(&mut self) -> Result<(Vec<u64>, Vec<ArrayRef>)> {
        let values = self.values.get_mut().unwrap_or_else(|p| p.into_inner());
        if values.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut cols = values.emit(EmitTo::All)?;
        *values = new_group_values(Arc::clone(&self.schema), &GroupOrdering::None)?;
        let groups = cols.remove(0);
        Ok((groups.as_primitive::<UInt64Type>().values().to_vec(), cols))
    }

    /// Removes the first `n` groups (or all): their keys as (group, key columns), the groups
    /// after them renumbered from 0.
    fn take_groups(&mut self, emit_to: EmitTo) -> Result<(Vec<u64>, Vec<ArrayRef>)> {
        let (groups, keys) = self.take_all()?;
        let n = match emit_to {
            EmitTo::All => {
                self.distinct.clear();
                return Ok((groups, keys));
            }
            EmitTo::First(n) => n as u64,
        };
        self.distinct.drain(..(n as usize).min(self.distinct.len()));
        let taken = BooleanArray::from_iter(groups.iter().map(|&g| Some(g < n)));
        let kept = not(&taken)?;
        let pick = |mask: &BooleanArray| -> Result<Vec<ArrayRef>> {
            keys.iter()
                .map(|k| Ok(filter(k, mask)?))
                .collect::<Result<Vec<_>>>()
        };
        let (out_keys, rest_keys) = (pick(&taken)?, pick(&kept)?);
        let out_groups: Vec<u64> = groups.iter().copied().filter(|&g| g < n).collect();
        let rest_groups: Vec<u64> = groups.iter().filter(|&&g| g >= n).map(|g| g - n).collect();
        // Re-interning the rest counts each of its keys once more: undo that.
        let before: Vec<u64> = std::mem::take(&mut self.distinct);
        self.distinct = vec![0; before.len()];
        self.add(rest_groups, &rest_keys)?;
        debug_assert_eq!(self.distinct, before);
        self.distinct = before;
        Ok((out_groups, out_keys))
    }
}

#[derive(Debug)]
enum Sets {
    Prim(Vec<KeySet<u64>>),
    Pair(Vec<KeySet<u128>>),
    Interned(Interned),
}

impl Sets {
    fn len(&self) -> usize {
        match self {
            Sets::Prim(v) => v.len(),
            Sets::Pair(v) => v.len(),
            Sets::Interned(v) => v.distinct.len(),
        }
    }

    /// The number of distinct keys of group `g`.
    fn count(&self, g: usize) -> usize {
        match self {
            Sets::Prim(v) => v[g].len(),
            Sets::Pair(v) => v[g].len(),
            Sets::Interned(v) => v.distinct[g] as usize,
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

impl DistinctGroups {
    /// `true` where every key column is non-NULL.
    fn complete(values: &[ArrayRef], row: usize) -> bool {
        values.iter().all(|a| a.is_valid(row))
    }

    fn add_prim<K: Key>(bytes: &mut usize, set: &mut KeySet<K>, key: K) {
        if set.insert(key) {
            // The key and the slack of its vector or table (about as much again).
            *bytes += size_of::<K>() * 2;
        }
    }

    /// Adds one partial state's keys (positions `keys` of the state's key values); every key
    /// merged counts toward `bytes` (runs kept apart hold their duplicates until counted).
    fn merge_run<K: Key>(
        bytes: &mut usize,
        set: &mut KeySet<K>,
        values: &datafusion::arrow::array::BinaryArray,
        keys: std::ops::Range<usize>,
    ) -> Result<()> {
        let mut run = Vec::with_capacity(keys.len());
        for i in keys {
            if values.is_valid(i) {
                run.push(K::from_bytes(values.value(i))?);
            }
        }
        *bytes += run.len() * size_of::<K>() * 2;
        set.merge(run);
        Ok(())
    }

    fn counts_only(&mut self, emit_to: EmitTo) -> Result<(Vec<usize>, Vec<u64>)> {
        let rows = emit_to.take_needed(&mut self.rows);
        let counts = match &mut self.sets {
            Sets::Prim(v) => emit_to.take_needed(v).iter().map(|s| s.len()).collect(),
            Sets::Pair(v) => emit_to.take_needed(v).iter().map(|s| s.len()).collect(),
            Sets::Interned(v) => {
                let counts = match emit_to {
                    EmitTo::All => v.distinct.clone(),
                    EmitTo::First(n) => v.distinct[..n.min(v.distinct.len())].to_vec(),
                };
                v.take_groups(emit_to)?;
                counts.into_iter().map(|c| c as usize).collect()
            }
        };
        Ok((counts, rows))
    }

    /// Interns the complete keys of the rows `keep` selects, each with its group.
    fn intern_rows(
        interned: &mut Interned,
        rows: &mut [u64],
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let all = opt_filter.is_none() && values.iter().all(|a| a.null_count() == 0);
        if all {
            let groups: Vec<u64> = group_indices.iter().map(|&g| g as u64).collect();
            for &g in group_indices {
                rows[g] += 1;
            }
            return interned.add(groups, values);
        }
        let mut groups = Vec::with_capacity(group_indices.len());
        let mask = BooleanArray::from_iter((0..group_indices.len()).map(|row| {
            let keep = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
                && Self::complete(values, row);
            if keep {
                rows[group_indices[row]] += 1;
                groups.push(group_indices[row] as u64);
            }
            Some(keep)
        }));
        let keys = values
            .iter()
            .map(|k| Ok(filter(k, &mask)?))
            .collect::<Result<Vec<_>>>()?;
        interned.add(groups, &keys)
    }
}

impl Resize for DistinctGroups {
    fn resize(&mut self, n: usize) {
        if self.sets.len() < n {
            match &mut self.sets {
                Sets::Prim(v) => v.resize_with(n, KeySet::default),
                Sets::Pair(v) => v.resize_with(n, KeySet::default),
                Sets::Interned(v) => v.distinct.resize(n, 0),
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
            Sets::Interned(interned) => {
                Self::intern_rows(interned, rows, values, group_indices, opt_filter)?;
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (counts, rows) = self.counts_only(emit_to)?;
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
            Sets::Interned(v) => {
                let (groups, keys) = v.take_groups(emit_to)?;
                // Each group's keys in the row format, grouped by group.
                let mut order: Vec<usize> = (0..groups.len()).collect();
                order.sort_unstable_by_key(|&i| groups[i]);
                let encoded = if keys.is_empty() {
                    None
                } else {
                    Some(self.converter.convert_columns(&keys)?)
                };
                let mut at = 0;
                for g in 0..rows.len() as u64 {
                    while let Some(&i) = order.get(at).filter(|&&i| groups[i] == g) {
                        if let Some(e) = &encoded {
                            list.values().append_value(e.row(i).as_ref());
                        }
                        at += 1;
                    }
                    list.append(true);
                }
            }
        }
        self.bytes = match &self.sets {
            Sets::Prim(v) => v.iter().map(|s| s.held() * 16).sum(),
            Sets::Pair(v) => v.iter().map(|s| s.held() * 32).sum(),
            Sets::Interned(_) => 0,
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
        let Some(all_keys) = keys.values().as_binary_opt::<i32>() else {
            return exec_err!("distinct aggregate: corrupt state (keys are not binary)");
        };
        let rows = rows.as_primitive::<UInt64Type>();
        // Interned keys are gathered from the whole batch and interned at once.
        let mut gathered: (Vec<u64>, Vec<&[u8]>) = (Vec::new(), Vec::new());
        for (row, &g) in group_indices.iter().enumerate() {
            if rows.is_valid(row) {
                self.rows[g] += rows.value(row);
            }
            if keys.is_null(row) {
                continue;
            }
            let range = keys.value_offsets()[row] as usize..keys.value_offsets()[row + 1] as usize;
            match &mut self.sets {
                Sets::Prim(sets) => {
                    Self::merge_run(&mut self.bytes, &mut sets[g], all_keys, range)?
                }
                Sets::Pair(sets) => {
                    Self::merge_run(&mut self.bytes, &mut sets[g], all_keys, range)?
                }
                Sets::Interned(_) => {
                    for i in range.filter(|&i| all_keys.is_valid(i)) {
                        gathered.0.push(g as u64);
                        gathered.1.push(all_keys.value(i));
                    }
                }
            }
        }
        if let Sets::Interned(interned) = &mut self.sets
            && !gathered.0.is_empty()
        {
            let parser = self.converter.parser();
            let parsed: Vec<_> = gathered.1.iter().map(|b| parser.parse(b)).collect();
            let columns = self.converter.convert_rows(parsed)?;
            interned.add(gathered.0, &columns)?;
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
            Sets::Interned(_) => {
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
        let interned = match &self.sets {
            Sets::Interned(v) => {
                v.values.lock().map(|g| g.size()).unwrap_or(0)
                    + v.distinct.capacity() * 8
                    + v.ids.capacity() * 8
            }
            _ => 0,
        };
        self.bytes
            + interned
            + self.sets.len() * 48
            + self.rows.capacity() * 8
            + self.converter.size()
    }
}
