//! `distinct_count(x)` (exact) and `duplicate_count(k1, k2, ...)`.
//!
//! One numeric key is hashed as its 64-bit pattern and two as one value of 64 bits while both
//! fit in 32, else 128 ([`PairSet`]); any other
//! key (three or more columns, text, dates, ...) is interned by DataFusion's group-values
//! machinery (`new_group_values`, what its `GROUP BY` uses), keyed by (group, key columns), so
//! no key costs an allocation of its own. Partial state per group (`List<LargeBinary>`, the
//! number of rows with all keys non-NULL as `UInt64`, and whether a pair's keys are 128 bits
//! wide as `Boolean`): numeric keys as a few runs, each run one value, handed over without a
//! copy: a whole column's ascending 64-bit keys packed ([`super::packed`]: a run's length
//! tells its form), other keys as fixed-width little-endian keys (a partial state of an
//! ascending group is its vector); other keys one value per key in Arrow's row format. A final
//! aggregation of one group (no `GROUP BY`: a contract's uniqueness check) keeps those
//! row-format keys as the partitions send them and counts them once all are in, on every core
//! ([`count_distinct_rows`]); with more groups they are interned again. The partial step of
//! one group stops interning when its first keys hardly repeat (more than 4 in 5 distinct
//! after [`PROBE_ROWS`] rows, as DataFusion skips a partial `GROUP BY` that does not reduce
//! its rows): it hands its keys over in the row format as they come, for the final step to
//! count; past a limit of memory (`raw_bytes_max`) it interns them after all.
//! Memory: O(distinct keys), exact (about 2 bytes a key for a whole column's ascending pairs
//! of an order and a line number, 8 or 16 for others; a partial step that hands its keys over
//! as they come holds every row's key, up to `raw_bytes_max`), reported to DataFusion's memory
//! pool through `size()`; the final count's hashes and sets, while it runs, are not.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, LargeBinaryArray, LargeBinaryBuilder,
    ListArray, ListBuilder, UInt64Array,
};
use datafusion::arrow::buffer::{Buffer, MutableBuffer, OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::{cast, filter};
use datafusion::arrow::datatypes::ToByteSlice;
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Float64Type, Int32Type, Int64Type, UInt64Type,
};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{DataFusionError, ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{EmitTo, GroupsAccumulator, Signature, Volatility};

use super::interned::{Interned, PROBE_ROWS, count_distinct_rows};
use super::keyset::{KeySet, Run, SetKey};
use super::packed::{Packed, is_packed};
use super::pairs::{PairSet, narrow, wide};
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
                DataType::List(Arc::new(Field::new_list_field(DataType::LargeBinary, true))),
                true,
            ),
            state_field(args.name, "rows", DataType::UInt64, true),
            state_field(args.name, "wide", DataType::Boolean, true),
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

/// Key bits of a numeric column, one per row whether NULL or not (integers as i64/u64 bits,
/// floats as f64 bits with -0.0 and 0.0 kept apart, like the row format): the column's own
/// buffer for 64-bit integers (an `i64`'s bits read as a `u64`), else a copy.
fn key_bits(x: &ArrayRef) -> Result<ScalarBuffer<u64>> {
    Ok(match x.data_type() {
        DataType::UInt64 => x.as_primitive::<UInt64Type>().values().clone(),
        DataType::Int64 => {
            let v = x.as_primitive::<Int64Type>().values();
            ScalarBuffer::new(v.inner().clone(), 0, v.len())
        }
        DataType::Int32 => x
            .as_primitive::<Int32Type>()
            .values()
            .iter()
            .map(|&v| i64::from(v) as u64)
            .collect(),
        DataType::Float32 | DataType::Float64 => {
            let f = cast(x, &DataType::Float64)?;
            f.as_primitive::<Float64Type>()
                .values()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        }
        _ => {
            let i = cast(x, &DataType::Int64)?;
            i.as_primitive::<Int64Type>()
                .values()
                .iter()
                .map(|&v| v as u64)
                .collect()
        }
    })
}

/// [`key_bits`] with `None` for NULL.
fn primitive_keys(x: &ArrayRef) -> Result<Vec<Option<u64>>> {
    let bits = key_bits(x)?;
    Ok(bits
        .iter()
        .enumerate()
        .map(|(row, &b)| x.is_valid(row).then_some(b))
        .collect())
}

/// The one key column of a single-key aggregate.
fn first(values: &[ArrayRef]) -> Result<&ArrayRef> {
    match values.first() {
        Some(x) => Ok(x),
        None => exec_err!("distinct aggregate called without input"),
    }
}

/// Two numeric key columns' bits, each `None` where either key is NULL.
fn pair_keys(values: &[ArrayRef]) -> Result<Vec<Option<(u64, u64)>>> {
    let [a, b] = values else {
        return exec_err!("distinct aggregate: expected two key columns");
    };
    let (a, b) = (primitive_keys(a)?, primitive_keys(b)?);
    Ok(a.into_iter().zip(b).map(|(a, b)| Some((a?, b?))).collect())
}

/// A numeric key as hashed (one column's 64 bits, a pair's 64 or 128), and as it travels in the
/// partial state: runs of little-endian keys, packed.
trait Key: SetKey + Copy {
    const WIDTH: usize = size_of::<Self>();
    /// The key with its bytes in little-endian order (itself on little-endian machines).
    fn to_le(self) -> Self;
    /// The key whose little-endian bytes are `b` (`WIDTH` of them).
    fn from_le(b: &[u8]) -> Self;
}

/// `Key` for an integer type of `WIDTH` bytes.
macro_rules! key_impl {
    ($t:ty) => {
        impl Key for $t {
            fn to_le(self) -> Self {
                <$t>::to_le(self)
            }
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0; size_of::<$t>()];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
        }
    };
}
key_impl!(u64);
key_impl!(i128);

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

/// A run of keys as little-endian bytes: its own buffer on a little-endian machine.
fn le_bytes<K: Key>(run: ScalarBuffer<K>) -> Buffer {
    if cfg!(target_endian = "little") {
        run.into_inner()
    } else {
        Buffer::from_vec(run.iter().map(|k| k.to_le()).collect::<Vec<K>>())
    }
}

/// A set's runs as little-endian bytes: plain keys, or packed ones as they are.
fn runs_of<K: Key>(set: KeySet<K>) -> Vec<Buffer> {
    set.into_runs()
        .into_iter()
        .map(|run| match run {
            Run::Plain(keys) => le_bytes(keys),
            Run::Packed(p) => p.into_buffer(),
        })
        .collect()
}

/// The groups' sets as state: a list per group of its runs, each run one value of packed
/// little-endian keys. One run in all (one group, ascending: the common case) is handed over
/// in its own buffer, without a copy.
fn sets_as_state(groups: Vec<Vec<Buffer>>) -> Result<ArrayRef> {
    let too_many =
        || DataFusionError::Execution("distinct aggregate: too many runs in one state".into());
    let mut list_offsets = Vec::with_capacity(groups.len() + 1);
    list_offsets.push(0i32);
    let mut value_offsets = vec![0i64];
    let mut runs: Vec<Buffer> = Vec::new();
    for group in groups {
        for run in group {
            let end = value_offsets[value_offsets.len() - 1] + run.len() as i64;
            value_offsets.push(end);
            runs.push(run);
        }
        list_offsets.push(i32::try_from(runs.len()).map_err(|_| too_many())?);
    }
    let packed: Buffer = match runs.as_slice() {
        [one] => one.clone(),
        _ => {
            let mut all = MutableBuffer::new(value_offsets[value_offsets.len() - 1] as usize);
            for r in &runs {
                all.extend_from_slice(r.as_slice());
            }
            all.into()
        }
    };
    let values = LargeBinaryArray::new(
        OffsetBuffer::new(ScalarBuffer::from(value_offsets)),
        packed,
        None,
    );
    Ok(Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::LargeBinary, true)),
        OffsetBuffer::new(ScalarBuffer::from(list_offsets)),
        Arc::new(values),
        None,
    )))
}

/// What a deferred run of keys holds: its keys' bytes and offsets (a run is a slice of a
/// partial state and shares its buffers, of which it is counted its own part).
fn deferred_bytes(run: &LargeBinaryArray) -> usize {
    let offsets = run.value_offsets();
    let data = offsets
        .last()
        .zip(offsets.first())
        .map_or(0, |(b, a)| (b - a) as usize);
    data + size_of_val(offsets)
}

/// One single-key list per row (empty where `keep` refuses the row or the key is NULL), and
/// the row's count of complete keys.
fn keys_as_state<K: Key>(
    keys: &[Option<K>],
    keep: impl Fn(usize) -> bool,
    list: &mut ListBuilder<LargeBinaryBuilder>,
    rows: &mut Vec<u64>,
) {
    for (row, k) in keys.iter().enumerate() {
        let k = k.filter(|_| keep(row));
        if let Some(k) = k {
            list.values().append_value(k.to_le().to_byte_slice());
        }
        list.append(true);
        rows.push(u64::from(k.is_some()));
    }
}

#[derive(Debug)]
enum Sets {
    Prim(Vec<KeySet<u64>>),
    Pair(Vec<PairSet>),
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
    fn count(&mut self, g: usize) -> usize {
        match self {
            Sets::Prim(v) => v[g].len(),
            Sets::Pair(v) => v[g].len(),
            Sets::Interned(v) => {
                let deferred = match (g, v.deferred.is_empty()) {
                    (0, false) => count_distinct_rows(&v.deferred),
                    _ => 0,
                };
                v.distinct[g] as usize + deferred
            }
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

    /// Adds one partial state's runs of keys (positions `runs` of the state's values); what
    /// the set holds more counts toward `bytes` (runs kept apart hold their duplicates until
    /// counted).
    fn merge_runs<K: Key>(
        bytes: &mut usize,
        set: &mut KeySet<K>,
        values: &LargeBinaryArray,
        runs: std::ops::Range<usize>,
    ) -> Result<()> {
        let before = set.held_bytes();
        for run in Self::runs::<K>(values, runs)? {
            set.merge(run);
        }
        *bytes = (*bytes + set.held_bytes()).saturating_sub(before);
        Ok(())
    }

    /// [`Self::merge_runs`] for a pair's set: the runs are of wide keys or narrow ones.
    fn merge_pair_runs(
        bytes: &mut usize,
        set: &mut PairSet,
        values: &LargeBinaryArray,
        runs: std::ops::Range<usize>,
        wide: bool,
    ) -> Result<()> {
        let before = set.held_bytes();
        if wide {
            for run in Self::runs::<i128>(values, runs)? {
                set.merge_wide(run);
            }
        } else {
            for run in Self::runs::<u64>(values, runs)? {
                set.merge_narrow(run);
            }
        }
        *bytes = (*bytes + set.held_bytes()).saturating_sub(before);
        Ok(())
    }

    /// The state's runs at positions `runs` (NULLs skipped), each checked to be whole keys or,
    /// for 64-bit keys, a well-formed packed run.
    fn runs<K: Key>(
        values: &LargeBinaryArray,
        runs: std::ops::Range<usize>,
    ) -> Result<Vec<Run<K>>> {
        runs.filter(|&i| values.is_valid(i))
            .map(|i| {
                let len = values.value(i).len();
                if len.is_multiple_of(K::WIDTH) {
                    return Ok(Run::Plain(Self::run_of::<K>(values, i)));
                }
                if is_packed(len) && K::as_packed(&[]).is_some() {
                    let offsets = values.value_offsets();
                    let bytes = values.values().slice_with_length(offsets[i] as usize, len);
                    return Packed::from_buffer(bytes).map(Run::Packed).map_err(|e| {
                        DataFusionError::Execution(format!(
                            "distinct aggregate: corrupt state ({e})"
                        ))
                    });
                }
                exec_err!(
                    "distinct aggregate: corrupt state (a run of {len} bytes is not a whole \
                     number of {}-byte keys)",
                    K::WIDTH
                )
            })
            .collect()
    }

    /// Value `i` of a state's runs (checked to be whole keys) as keys: its own bytes when they
    /// are aligned for the key (as a state made here is), else a copy.
    fn run_of<K: Key>(values: &LargeBinaryArray, i: usize) -> ScalarBuffer<K> {
        let offsets = values.value_offsets();
        let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
        let bytes = values.values().slice_with_length(start, end - start);
        if cfg!(target_endian = "little") && bytes.as_ptr().align_offset(align_of::<K>()) == 0 {
            ScalarBuffer::new(bytes, 0, (end - start) / K::WIDTH)
        } else {
            bytes.chunks_exact(K::WIDTH).map(K::from_le).collect()
        }
    }

    fn counts_only(&mut self, emit_to: EmitTo) -> Result<(Vec<usize>, Vec<u64>)> {
        let rows = emit_to.take_needed(&mut self.rows);
        let counts = match &mut self.sets {
            Sets::Prim(v) => emit_to.take_needed(v).iter_mut().map(|s| s.len()).collect(),
            Sets::Pair(v) => emit_to.take_needed(v).iter_mut().map(|s| s.len()).collect(),
            Sets::Interned(v) => {
                let mut counts = match emit_to {
                    EmitTo::All => v.distinct.clone(),
                    EmitTo::First(n) => v.distinct[..n.min(v.distinct.len())].to_vec(),
                };
                // Deferred keys are group 0's, the only group while there are any.
                if let Some(first) = counts.first_mut()
                    && !v.deferred.is_empty()
                {
                    *first += count_distinct_rows(&v.deferred) as u64;
                    v.deferred.clear();
                }
                v.take_groups(emit_to)?;
                counts.into_iter().map(|c| c as usize).collect()
            }
        };
        Ok((counts, rows))
    }

    /// The state of the one group whose keys are deferred: its keys as they are, in one list.
    fn deferred_state(&mut self, emit_to: EmitTo) -> Result<Option<Vec<ArrayRef>>> {
        let Sets::Interned(interned) = &mut self.sets else {
            return Ok(None);
        };
        if interned.deferred.is_empty()
            || self.rows.len() != 1
            || matches!(emit_to, EmitTo::First(0))
        {
            return Ok(None);
        }
        let runs = std::mem::take(&mut interned.deferred);
        let runs: Vec<&dyn Array> = runs.iter().map(|r| r as &dyn Array).collect();
        let keys = datafusion::arrow::compute::concat(&runs)?;
        let Ok(n) = i32::try_from(keys.len()) else {
            return exec_err!(
                "distinct aggregate: {} keys do not fit one state",
                keys.len()
            );
        };
        let list = ListArray::new(
            Arc::new(Field::new_list_field(DataType::LargeBinary, true)),
            OffsetBuffer::new(ScalarBuffer::from(vec![0, n])),
            keys,
            None,
        );
        let rows = emit_to.take_needed(&mut self.rows);
        self.bytes = 0;
        Ok(Some(vec![
            Arc::new(list),
            Arc::new(UInt64Array::from(rows)),
            Arc::new(BooleanArray::from(vec![false])),
        ]))
    }

    /// Interns keys in the row format, each with its group.
    fn intern_encoded(
        converter: &RowConverter,
        interned: &mut Interned,
        groups: Vec<u64>,
        keys: &[&[u8]],
    ) -> Result<()> {
        if groups.is_empty() {
            return Ok(());
        }
        let parser = converter.parser();
        let parsed: Vec<_> = keys.iter().map(|b| parser.parse(b)).collect();
        let columns = converter.convert_rows(parsed)?;
        interned.add(groups, &columns)
    }

    /// Interns the deferred keys of group 0 (before a second group, or a state of several
    /// groups), and stops deferring a partial step's keys.
    fn intern_deferred(&mut self) -> Result<()> {
        match &mut self.sets {
            Sets::Interned(interned) => Self::intern_all_deferred(&self.converter, interned),
            _ => Ok(()),
        }
    }

    fn intern_all_deferred(converter: &RowConverter, interned: &mut Interned) -> Result<()> {
        if interned.raw {
            (interned.raw, interned.raw_ended) = (false, true);
        }
        for run in std::mem::take(&mut interned.deferred) {
            let keys: Vec<&[u8]> = (0..run.len())
                .filter(|&i| run.is_valid(i))
                .map(|i| run.value(i))
                .collect();
            Self::intern_encoded(converter, interned, vec![0; keys.len()], &keys)?;
        }
        Ok(())
    }

    /// The key columns of the rows whose keys are complete and that `opt_filter` keeps.
    fn complete_keys(
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        if opt_filter.is_none() && values.iter().all(|a| a.null_count() == 0) {
            return Ok(values.to_vec());
        }
        let n = values.first().map_or(0, |a| a.len());
        let mask = BooleanArray::from_iter((0..n).map(|row| {
            Some(
                opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row))
                    && Self::complete(values, row),
            )
        }));
        values.iter().map(|k| Ok(filter(k, &mask)?)).collect()
    }

    /// Defers the complete keys of a batch of the one group in the row format, as they are
    /// (see [`Interned::raw`]); past `raw_bytes_max` of them, interns them after all.
    fn defer_rows(
        converter: &RowConverter,
        interned: &mut Interned,
        rows: &mut [u64],
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let keys = Self::complete_keys(values, opt_filter)?;
        let n = keys.first().map_or(0, |k| k.len());
        rows[0] += n as u64;
        if n > 0 {
            Self::defer_columns(converter, interned, &keys)?;
        }
        if interned.deferred.iter().map(deferred_bytes).sum::<usize>() > interned.raw_bytes_max {
            Self::intern_all_deferred(converter, interned)?;
        }
        Ok(())
    }

    /// After a batch interned for the one group: once [`PROBE_ROWS`] rows are in and more than
    /// 4 in 5 of them were distinct, the keys so far are deferred and so are the next ones.
    fn probe(converter: &RowConverter, interned: &mut Interned, rows: u64) -> Result<()> {
        let distinct = interned.distinct.first().copied().unwrap_or(0);
        if interned.raw || interned.raw_ended || rows < PROBE_ROWS || distinct * 5 <= rows * 4 {
            return Ok(());
        }
        let (_, keys) = interned.take_groups(EmitTo::All)?;
        interned.distinct = vec![0];
        interned.raw = true;
        if !keys.is_empty() {
            Self::defer_columns(converter, interned, &keys)?;
        }
        Ok(())
    }

    /// Defers keys given as their columns, encoded in the row format.
    fn defer_columns(
        converter: &RowConverter,
        interned: &mut Interned,
        keys: &[ArrayRef],
    ) -> Result<()> {
        let encoded = converter.convert_columns(keys)?.try_into_binary()?;
        let large = cast(&encoded, &DataType::LargeBinary)?;
        interned.deferred.push(large.as_binary::<i64>().clone());
        Ok(())
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
                Sets::Pair(v) => v.resize_with(n, PairSet::default),
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
        if total_num_groups > 1 {
            self.intern_deferred()?;
        }
        let (rows, bytes, converter) = (&mut self.rows, &mut self.bytes, &self.converter);
        // One group, every row counted, no NULL key: the keys go in as one stream.
        let whole = total_num_groups == 1
            && opt_filter.is_none()
            && values.iter().all(|a| a.null_count() == 0);
        match &mut self.sets {
            Sets::Prim(sets) if whole => {
                let before = sets[0].held_bytes();
                sets[0].start_stream();
                sets[0].extend_slice(&key_bits(first(values)?)?);
                rows[0] += group_indices.len() as u64;
                *bytes = (*bytes + sets[0].held_bytes()).saturating_sub(before);
            }
            Sets::Pair(sets) if whole => {
                let [a, b] = values else {
                    return exec_err!("distinct aggregate: expected two key columns");
                };
                let (a, b) = (key_bits(a)?, key_bits(b)?);
                let before = sets[0].held_bytes();
                sets[0].start_stream();
                sets[0].extend(&a, &b);
                rows[0] += group_indices.len() as u64;
                *bytes = (*bytes + sets[0].held_bytes()).saturating_sub(before);
            }
            Sets::Prim(sets) => {
                let keys = primitive_keys(first(values)?)?;
                add_keys(&keys, sets, rows, bytes, group_indices, opt_filter);
            }
            Sets::Pair(sets) => {
                let keys = pair_keys(values)?;
                for_each_row(group_indices, opt_filter, |row, g| {
                    if let Some((a, b)) = keys[row] {
                        rows[g] += 1;
                        // What the set holds before and after: a set that widens doubles.
                        let before = sets[g].held_bytes();
                        sets[g].insert(a, b);
                        *bytes = (*bytes + sets[g].held_bytes()).saturating_sub(before);
                    }
                });
            }
            Sets::Interned(interned)
                if total_num_groups == 1 && (interned.raw || !interned.deferred.is_empty()) =>
            {
                Self::defer_rows(converter, interned, rows, values, opt_filter)?;
            }
            Sets::Interned(interned) => {
                Self::intern_rows(interned, rows, values, group_indices, opt_filter)?;
                if total_num_groups == 1 {
                    Self::probe(converter, interned, rows[0])?;
                }
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
        if let Some(state) = self.deferred_state(emit_to)? {
            return Ok(state);
        }
        self.intern_deferred()?;
        let rows = emit_to.take_needed(&mut self.rows);
        let mut list = ListBuilder::new(LargeBinaryBuilder::new());
        let mut wide_runs = vec![false; rows.len()];
        let keys = match &mut self.sets {
            Sets::Prim(v) => {
                sets_as_state(emit_to.take_needed(v).into_iter().map(runs_of).collect())?
            }
            Sets::Pair(v) => {
                let mut groups = Vec::with_capacity(rows.len());
                for (g, set) in emit_to.take_needed(v).into_iter().enumerate() {
                    groups.push(match set {
                        PairSet::Narrow(s) => runs_of(s),
                        PairSet::Wide(s) => {
                            wide_runs[g] = true;
                            runs_of(s)
                        }
                    });
                }
                sets_as_state(groups)?
            }
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
                Arc::new(list.finish())
            }
        };
        self.bytes = match &self.sets {
            Sets::Prim(v) => v.iter().map(KeySet::held_bytes).sum(),
            Sets::Pair(v) => v.iter().map(PairSet::held_bytes).sum(),
            Sets::Interned(_) => 0,
        };
        Ok(vec![
            keys,
            Arc::new(UInt64Array::from(rows)),
            Arc::new(BooleanArray::from(wide_runs)),
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let [keys, rows, wide] = values else {
            return exec_err!("distinct aggregate: expected 3 state columns");
        };
        let Some(wide) = wide.as_boolean_opt() else {
            return exec_err!("distinct aggregate: corrupt state (wide is not boolean)");
        };
        let keys = keys.as_list::<i32>();
        let Some(all_keys) = keys.values().as_binary_opt::<i64>() else {
            return exec_err!("distinct aggregate: corrupt state (keys are not large binary)");
        };
        let rows = rows.as_primitive::<UInt64Type>();
        // The one group of a final aggregation without GROUP BY (a contract's uniqueness check)
        // keeps each partition's keys as they came, to count them all at the end on every
        // core; keys of several groups are gathered from the whole batch and interned at once.
        let defer = match &self.sets {
            Sets::Interned(v) => {
                total_num_groups == 1 && v.distinct.first().is_none_or(|&d| d == 0)
            }
            _ => false,
        };
        if !defer {
            self.intern_deferred()?;
        }
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
                    Self::merge_runs(&mut self.bytes, &mut sets[g], all_keys, range)?
                }
                Sets::Pair(sets) => {
                    let is_wide = wide.is_valid(row) && wide.value(row);
                    Self::merge_pair_runs(&mut self.bytes, &mut sets[g], all_keys, range, is_wide)?
                }
                Sets::Interned(v) if defer => {
                    if !range.is_empty() {
                        v.deferred.push(all_keys.slice(range.start, range.len()));
                    }
                }
                Sets::Interned(_) => {
                    for i in range.filter(|&i| all_keys.is_valid(i)) {
                        gathered.0.push(g as u64);
                        gathered.1.push(all_keys.value(i));
                    }
                }
            }
        }
        if let Sets::Interned(interned) = &mut self.sets {
            Self::intern_encoded(&self.converter, interned, gathered.0, &gathered.1)?;
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
        let mut list = ListBuilder::new(LargeBinaryBuilder::new());
        let mut rows = Vec::with_capacity(n);
        let mut wide_rows = vec![false; n];
        match &self.sets {
            Sets::Prim(_) => {
                let keys = primitive_keys(first(values)?)?;
                keys_as_state(&keys, keep, &mut list, &mut rows);
            }
            Sets::Pair(_) => {
                // One pair per row, narrow where it fits, as [`PairSet`] keeps it.
                for (row, k) in pair_keys(values)?.into_iter().enumerate() {
                    let k = k.filter(|_| keep(row));
                    if let Some((a, b)) = k {
                        match narrow(a, b) {
                            Some(n) => list.values().append_value(n.to_le_bytes()),
                            None => {
                                list.values().append_value(wide(a, b).to_le_bytes());
                                wide_rows[row] = true;
                            }
                        }
                    }
                    list.append(true);
                    rows.push(u64::from(k.is_some()));
                }
            }
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
            Arc::new(BooleanArray::from(wide_rows)),
        ])
    }

    fn size(&self) -> usize {
        let interned = match &self.sets {
            Sets::Interned(v) => {
                v.values.lock().map(|g| g.size()).unwrap_or(0)
                    + v.deferred.iter().map(deferred_bytes).sum::<usize>()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pair_groups() -> DistinctGroups {
        DistinctGroups {
            duplicates: true,
            converter: RowConverter::new(vec![
                SortField::new(DataType::Int64),
                SortField::new(DataType::Int64),
            ])
            .unwrap(),
            sets: Sets::Pair(Vec::new()),
            rows: Vec::new(),
            bytes: 0,
        }
    }

    fn partial(a: Vec<i64>, b: Vec<i64>, groups: &[usize]) -> Vec<ArrayRef> {
        let mut acc = pair_groups();
        let n = groups.iter().max().map_or(0, |g| g + 1);
        let cols: Vec<ArrayRef> =
            vec![Arc::new(Int64Array::from(a)), Arc::new(Int64Array::from(b))];
        acc.update_batch(&cols, groups, None, n).unwrap();
        acc.state(EmitTo::All).unwrap()
    }

    /// The partial state of one group: one run of `bytes`, `rows` rows, `wide` or not.
    fn one_run_state(bytes: &[u8], rows: u64, wide: bool) -> Vec<ArrayRef> {
        let mut list = ListBuilder::new(LargeBinaryBuilder::new());
        list.values().append_value(bytes);
        list.append(true);
        vec![
            Arc::new(list.finish()),
            Arc::new(UInt64Array::from(vec![rows])),
            Arc::new(BooleanArray::from(vec![wide])),
        ]
    }

    #[test]
    fn packed_runs_travel_between_partials_and_count_exactly() {
        // Two partitions with disjoint ascending keys, one with overlapping ones, in 2 groups.
        let p1 = partial(vec![1, 1, 2, 2], vec![1, 2, 1, 1], &[0, 0, 0, 1]);
        let p2 = partial(vec![3, 3, 1], vec![1, 1, 2], &[0, 0, 1]);
        let p3 = partial(vec![2, 0], vec![1, 9], &[0, 0]);
        let keys = p1[0].as_list::<i32>();
        assert_eq!(keys.value_length(0), 1, "group 0's ascending keys: one run");
        assert_eq!(
            keys.values().as_binary::<i64>().value(0).len(),
            3 * 8,
            "small keys: narrow"
        );
        assert!(!p1[2].as_boolean().value(0));
        let mut fin = pair_groups();
        for (p, groups) in [(&p1, [0, 1]), (&p2, [0, 1]), (&p3, [0, 1])] {
            let groups = &groups[..p[1].len()];
            fin.merge_batch(p, groups, 2).unwrap();
        }
        // Group 0: rows 1/1 1/2 2/1 3/1 3/1 2/1 0/9 → 7 rows, 5 distinct; group 1: 2/1 1/2.
        let out = fin.evaluate(EmitTo::All).unwrap();
        assert_eq!(out.as_primitive::<Int64Type>().values(), &[2, 0]);
    }

    /// A whole column's ascending pairs (one group, no NULL) travel packed, count exactly
    /// merged with themselves and with a wide partial state in either order, and a packed run
    /// that was changed is refused as corrupt.
    #[test]
    fn a_whole_columns_ascending_keys_travel_packed() {
        let a: Vec<i64> = (1..=2000).flat_map(|o| [o, o, o]).collect();
        let b: Vec<i64> = (1..=2000).flat_map(|_| [1, 2, 3]).collect();
        let packed = partial(a.clone(), b, &vec![0; a.len()]);
        let run = packed[0]
            .as_list::<i32>()
            .values()
            .as_binary::<i64>()
            .value(0);
        assert!(is_packed(run.len()), "{} bytes", run.len());
        assert!(
            run.len() < a.len() * 3,
            "{} bytes for {} keys",
            run.len(),
            a.len()
        );
        // A negative key (wide) and 7/1, which the packed run holds too.
        let wide_p = partial(vec![-1, 7], vec![1, 1], &[0, 0]);
        for (states, dup) in [
            (vec![&packed, &wide_p], 1),
            (vec![&wide_p, &packed], 1),
            (vec![&packed, &packed], 6000),
        ] {
            let mut fin = pair_groups();
            for state in states {
                fin.merge_batch(state, &[0], 1).unwrap();
            }
            let out = fin.evaluate(EmitTo::All).unwrap();
            assert_eq!(out.as_primitive::<Int64Type>().values(), &[dup]);
        }

        let mut changed = run.to_vec();
        let at = changed.len() - 20;
        changed[at] ^= 1;
        let state = one_run_state(&changed, 6000, false);
        let err = pair_groups().merge_batch(&state, &[0], 1).unwrap_err();
        assert!(err.to_string().contains("corrupt state"), "{err}");
    }

    #[test]
    fn narrow_and_wide_partial_states_merge_exactly_in_either_order() {
        // A partition of small keys (narrow), one with a negative key (wide), one row per key
        // through `convert_to_state` (each row's own width).
        let narrow_p = partial(vec![1, 2, 3], vec![1, 1, 1], &[0, 0, 0]);
        let wide_p = partial(vec![-1, 2, 9], vec![1, 1, 1], &[0, 0, 0]);
        assert!(!narrow_p[2].as_boolean().value(0));
        assert!(wide_p[2].as_boolean().value(0));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(3), Some(-1), None, Some(4)])),
            Arc::new(Int64Array::from(vec![1, 1, 1, 1])),
        ];
        let rows = pair_groups().convert_to_state(&cols, None).unwrap();
        assert_eq!(
            rows[2].as_boolean().iter().collect::<Vec<_>>(),
            [Some(false), Some(true), Some(false), Some(false)]
        );
        // Keys 1/1 2/1 3/1 -1/1 9/1 4/1 (2/1, 3/1 and -1/1 twice): 9 rows, 6 distinct.
        let orders: [[(&Vec<ArrayRef>, &[usize]); 3]; 2] = [
            [(&narrow_p, &[0]), (&wide_p, &[0]), (&rows, &[0, 0, 0, 0])],
            [(&rows, &[0, 0, 0, 0]), (&wide_p, &[0]), (&narrow_p, &[0])],
        ];
        for order in orders {
            let mut fin = pair_groups();
            for (state, groups) in order {
                fin.merge_batch(state, groups, 1).unwrap();
            }
            let out = fin.evaluate(EmitTo::All).unwrap();
            assert_eq!(out.as_primitive::<Int64Type>().values(), &[3]);
        }
    }

    #[test]
    fn key_bits_of_a_sliced_column_are_its_rows() {
        let x: ArrayRef = Arc::new(Int64Array::from(vec![-1, 2, 3, -4]));
        let bits = key_bits(&x.slice(1, 3)).unwrap();
        assert_eq!(&bits[..], &[2, 3, (-4i64) as u64]);
        let f: ArrayRef = Arc::new(datafusion::arrow::array::Float32Array::from(vec![
            0.0, -0.0,
        ]));
        assert_eq!(&key_bits(&f).unwrap()[..], &[0, (-0.0f64).to_bits()]);
    }

    #[test]
    fn a_run_not_aligned_for_its_keys_is_copied() {
        // One byte before the run: its keys are not 16-byte aligned in the buffer.
        let mut bytes = vec![0u8];
        for k in [(5i128 << 64) | 1, (5i128 << 64) | 2, (6i128 << 64) | 1] {
            bytes.extend_from_slice(&k.to_le_bytes());
        }
        let values = LargeBinaryArray::new(
            OffsetBuffer::new(ScalarBuffer::from(vec![1i64, 49])),
            Buffer::from_vec(bytes),
            None,
        );
        let state: Vec<ArrayRef> = vec![
            Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(DataType::LargeBinary, true)),
                OffsetBuffer::new(ScalarBuffer::from(vec![0i32, 1])),
                Arc::new(values),
                None,
            )),
            Arc::new(UInt64Array::from(vec![4])),
            Arc::new(BooleanArray::from(vec![true])),
        ];
        let mut acc = pair_groups();
        acc.merge_batch(&state, &[0], 1).unwrap();
        let p = partial(vec![6, 7], vec![1, 1], &[0, 0]);
        acc.merge_batch(&p, &[0], 1).unwrap();
        // 6 rows, keys 5/1 5/2 6/1 7/1.
        let out = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(out.as_primitive::<Int64Type>().values(), &[2]);
    }

    #[test]
    fn a_corrupt_run_is_an_error_not_a_panic() {
        let state = one_run_state(&[0u8; 15], 1, true);
        let err = pair_groups().merge_batch(&state, &[0], 1).unwrap_err();
        assert!(
            err.to_string()
                .contains("not a whole number of 16-byte keys"),
            "{err}"
        );
        let binary: Vec<ArrayRef> = vec![
            Arc::new(ListBuilder::new(datafusion::arrow::array::BinaryBuilder::new()).finish()),
            Arc::new(UInt64Array::from(Vec::<u64>::new())),
            Arc::new(BooleanArray::from(Vec::<bool>::new())),
        ];
        let err = pair_groups().merge_batch(&binary, &[], 0).unwrap_err();
        assert!(err.to_string().contains("not large binary"), "{err}");
    }

    fn three_key_groups() -> DistinctGroups {
        let types = [DataType::Int64, DataType::Int64, DataType::Int64];
        DistinctGroups {
            duplicates: true,
            converter: RowConverter::new(types.iter().cloned().map(SortField::new).collect())
                .unwrap(),
            sets: Sets::Interned(Interned::new(&types).unwrap()),
            rows: Vec::new(),
            bytes: 0,
        }
    }

    /// Keys (i / 3, i % 3, seed) for `rows`, every 7th row's third key NULL, every 5th row a
    /// repeat of the row before.
    fn three_keys(rows: std::ops::Range<i64>, seed: i64) -> Vec<ArrayRef> {
        let a: Vec<i64> = rows
            .clone()
            .map(|i| (i - i64::from(i % 5 == 0)) / 3)
            .collect();
        let b: Vec<i64> = rows
            .clone()
            .map(|i| (i - i64::from(i % 5 == 0)) % 3)
            .collect();
        let c: Vec<Option<i64>> = rows.map(|i| (i % 7 != 0).then_some(seed)).collect();
        vec![
            Arc::new(Int64Array::from(a)),
            Arc::new(Int64Array::from(b)),
            Arc::new(Int64Array::from(c)),
        ]
    }

    /// The (rows, distinct keys) the columns of [`three_keys`] hold, counted here.
    fn expected(parts: &[Vec<ArrayRef>]) -> (u64, u64) {
        let mut seen = std::collections::HashSet::new();
        let mut rows = 0;
        for cols in parts {
            let col = |c: usize| cols[c].as_primitive::<Int64Type>();
            for i in 0..cols[0].len() {
                if col(2).is_valid(i) {
                    rows += 1;
                    seen.insert((col(0).value(i), col(1).value(i), col(2).value(i)));
                }
            }
        }
        (rows, seen.len() as u64)
    }

    fn partial_of(cols: &[ArrayRef], groups: &[usize], n: usize) -> Vec<ArrayRef> {
        let mut acc = three_key_groups();
        acc.update_batch(cols, groups, None, n).unwrap();
        acc.state(EmitTo::All).unwrap()
    }

    /// A final aggregation of one group keeps each partition's keys as they came and counts
    /// them at the end (on several threads: more keys than one thread takes), exactly: keys
    /// shared by partitions, repeated within one, NULL keys, the count asked twice in place.
    #[test]
    fn three_keys_of_one_group_are_counted_at_the_end_exactly() {
        let parts = [
            three_keys(0..150_000, 1),
            three_keys(100_000..260_000, 1),
            three_keys(0..90_000, 2),
        ];
        let (rows, distinct) = expected(&parts);
        let mut fin = three_key_groups();
        for cols in &parts {
            let state = partial_of(cols, &vec![0; cols[0].len()], 1);
            fin.merge_batch(&state, &[0], 1).unwrap();
        }
        let Sets::Interned(v) = &fin.sets else {
            unreachable!()
        };
        assert_eq!(v.deferred.len(), 3, "every partition's keys deferred");
        let want = ScalarValue::Int64(Some((rows - distinct) as i64));
        assert_eq!(fin.evaluate_single().unwrap(), want);
        assert_eq!(fin.evaluate_single().unwrap(), want, "in place, again");
        let out = fin.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            out.as_primitive::<Int64Type>().values(),
            &[(rows - distinct) as i64]
        );
    }

    /// Deferred keys are interned, and count the same, when a second group arrives, when a key
    /// is added directly, and when the state is asked for (a spill).
    #[test]
    fn deferred_keys_are_interned_when_the_one_group_ends() {
        let (p1, p2) = (three_keys(0..3_000, 1), three_keys(2_000..4_000, 1));
        let (s1, s2) = (
            partial_of(&p1, &[0; 3_000], 1),
            partial_of(&p2, &[0; 2_000], 1),
        );
        let (rows, distinct) = expected(&[p1.clone(), p2.clone()]);

        // A second group.
        let mut fin = three_key_groups();
        fin.merge_batch(&s1, &[0], 1).unwrap();
        let g1 = partial_of(&p2, &[0; 2_000], 1);
        fin.merge_batch(&g1, &[1], 2).unwrap();
        fin.merge_batch(&s2, &[0], 2).unwrap();
        let (r2, d2) = expected(std::slice::from_ref(&p2));
        let out = fin.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            out.as_primitive::<Int64Type>().values(),
            &[(rows - distinct) as i64, (r2 - d2) as i64]
        );

        // A key added directly, then the state asked for and merged into another final.
        let mut fin = three_key_groups();
        fin.merge_batch(&s1, &[0], 1).unwrap();
        fin.update_batch(&p2, &[0; 2_000], None, 1).unwrap();
        let state = fin.state(EmitTo::All).unwrap();
        let mut last = three_key_groups();
        last.merge_batch(&state, &[0], 1).unwrap();
        let out = last.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            out.as_primitive::<Int64Type>().values(),
            &[(rows - distinct) as i64]
        );
    }

    /// Feeds `cols` to a partial step of one group in batches of 8,192 rows, as a scan does.
    fn fed(cols: &[ArrayRef]) -> DistinctGroups {
        let mut acc = three_key_groups();
        let n = cols[0].len();
        for start in (0..n).step_by(8_192) {
            let len = (n - start).min(8_192);
            let batch: Vec<ArrayRef> = cols.iter().map(|c| c.slice(start, len)).collect();
            acc.update_batch(&batch, &vec![0; len], None, 1).unwrap();
        }
        acc
    }

    fn interned(acc: &DistinctGroups) -> &Interned {
        match &acc.sets {
            Sets::Interned(v) => v,
            _ => unreachable!(),
        }
    }

    /// A partial step whose first keys hardly repeat stops interning and hands its keys over
    /// as they are (the later ones repeating earlier ones included): the counts are exact in
    /// the partial step itself, through a final step, and merged with another partition's.
    /// Keys that repeat from the start stay interned.
    #[test]
    fn a_partial_step_of_distinct_keys_defers_them_and_counts_exactly() {
        // Distinct for the first 150,000 rows, then the first 60,000 again.
        let mut cols = three_keys(0..150_000, 1);
        let again = three_keys(0..60_000, 1);
        for (c, a) in cols.iter_mut().zip(&again) {
            *c = datafusion::arrow::compute::concat(&[c.as_ref(), a.as_ref()]).unwrap();
        }
        let other = three_keys(140_000..200_000, 1);
        let (rows, distinct) = expected(&[cols.clone(), other.clone()]);
        let (own_rows, own_distinct) = expected(std::slice::from_ref(&cols));

        let mut acc = fed(&cols);
        assert!(interned(&acc).raw, "distinct keys: not interned");
        let want = ScalarValue::Int64(Some((own_rows - own_distinct) as i64));
        assert_eq!(acc.evaluate_single().unwrap(), want);

        let state = fed(&cols).state(EmitTo::All).unwrap();
        // Those interned before the probe once each, the others as they came.
        let handed = state[0].as_list::<i32>().value_length(0) as u64;
        assert!(handed > own_distinct && handed < own_rows, "{handed}");
        let other_state = fed(&other).state(EmitTo::All).unwrap();
        let mut fin = three_key_groups();
        fin.merge_batch(&state, &[0], 1).unwrap();
        fin.merge_batch(&other_state, &[0], 1).unwrap();
        let out = fin.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            out.as_primitive::<Int64Type>().values(),
            &[(rows - distinct) as i64]
        );

        // Keys that repeat from the start: interned, as before.
        let few: Vec<ArrayRef> = three_keys(0..150_000, 1)
            .iter()
            .map(|c| {
                let c = c.as_primitive::<Int64Type>();
                Arc::new(c.unary::<_, Int64Type>(|v| v % 1_000)) as ArrayRef
            })
            .collect();
        let acc = fed(&few);
        assert!(!interned(&acc).raw && interned(&acc).deferred.is_empty());
    }

    /// Deferred keys past the partial step's limit, or a second group, are interned after all
    /// and count the same; the step does not defer again.
    #[test]
    fn a_partial_step_interns_its_deferred_keys_past_its_limit_or_a_second_group() {
        let cols = three_keys(0..200_000, 1);
        let (rows, distinct) = expected(std::slice::from_ref(&cols));
        let want = ScalarValue::Int64(Some((rows - distinct) as i64));

        let mut acc = three_key_groups();
        if let Sets::Interned(v) = &mut acc.sets {
            v.raw_bytes_max = 1 << 20;
        }
        for start in (0..200_000).step_by(8_192) {
            let len = (200_000 - start).min(8_192);
            let batch: Vec<ArrayRef> = cols.iter().map(|c| c.slice(start, len)).collect();
            acc.update_batch(&batch, &vec![0; len], None, 1).unwrap();
        }
        let v = interned(&acc);
        assert!(v.raw_ended && !v.raw && v.deferred.is_empty());
        assert_eq!(acc.evaluate_single().unwrap(), want);

        let mut acc = fed(&cols);
        assert!(interned(&acc).raw);
        let extra = three_keys(0..10, 9);
        acc.update_batch(&extra, &[1; 10], None, 2).unwrap();
        assert!(interned(&acc).raw_ended);
        let out = acc.evaluate(EmitTo::All).unwrap();
        let (r1, d1) = expected(std::slice::from_ref(&extra));
        assert_eq!(
            out.as_primitive::<Int64Type>().values(),
            &[(rows - distinct) as i64, (r1 - d1) as i64]
        );
    }
}
