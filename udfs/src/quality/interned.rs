//! The keys of `distinct_count` / `duplicate_count` that are not one or two numbers.

use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex};

use ahash::RandomState;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, LargeBinaryArray, UInt64Array,
};
use datafusion::arrow::compute::{filter, not};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::error::Result;
use datafusion::logical_expr::EmitTo;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

/// Keys that are not one or two numbers (three or more columns, text, dates, ...): interned by
/// DataFusion's group-values machinery, the one its `GROUP BY` and `count(DISTINCT)` use, keyed
/// by (this aggregate's group, key columns): the keys live in its column buffers, with no
/// allocation per key.
pub(crate) struct Interned {
    schema: SchemaRef,
    /// (`GroupValues` is `Send` but not `Sync`; only ever used through `&mut`.)
    pub(crate) values: Mutex<Box<dyn GroupValues>>,
    /// Distinct keys per group.
    pub(crate) distinct: Vec<u64>,
    pub(crate) ids: Vec<usize>,
    /// Row-format keys of the one group of a final aggregation, merged from partial states but
    /// not yet interned: counted at the end by [`count_distinct_rows`], on several threads.
    /// Only while there is one group and no key was interned (see `DistinctGroups`).
    pub(crate) deferred: Vec<LargeBinaryArray>,
    /// The partial step of one group stopped interning: its first keys hardly repeated, so
    /// its keys are deferred as they come, for the final step to count (as DataFusion skips a
    /// partial `GROUP BY` that does not reduce its rows).
    pub(crate) raw: bool,
    /// Interning was taken up again (a second group, or more deferred keys than
    /// `raw_bytes_max`); keys are not deferred by the partial step again.
    pub(crate) raw_ended: bool,
    /// [`RAW_BYTES_MAX`] (smaller in tests).
    pub(crate) raw_bytes_max: usize,
}

/// Rows of one group interned before the partial step judges whether its keys repeat.
pub(crate) const PROBE_ROWS: u64 = 100_000;

/// Deferred keys a partial step holds before it interns them after all: keys that stopped
/// being distinct after the probe cost no more memory than this.
pub(crate) const RAW_BYTES_MAX: usize = 256 << 20;

impl std::fmt::Debug for Interned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interned")
            .field("keys", &self.values.lock().map(|v| v.len()).unwrap_or(0))
            .field("groups", &self.distinct.len())
            .field(
                "deferred",
                &self.deferred.iter().map(Array::len).sum::<usize>(),
            )
            .finish()
    }
}

impl Interned {
    pub(crate) fn new(key_types: &[DataType]) -> Result<Self> {
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
            deferred: Vec::new(),
            raw: false,
            raw_ended: false,
            raw_bytes_max: RAW_BYTES_MAX,
        })
    }

    /// Adds complete keys (no NULL), each with the group it belongs to.
    pub(crate) fn add(&mut self, groups: Vec<u64>, keys: &[ArrayRef]) -> Result<()> {
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
    pub(crate) fn take_groups(&mut self, emit_to: EmitTo) -> Result<(Vec<u64>, Vec<ArrayRef>)> {
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

/// Keys per thread below which counting stays on the calling thread.
const KEYS_PER_THREAD: usize = 1 << 16;

/// The number of distinct keys among `runs`, keys in Arrow's row format (NULL entries skipped).
///
/// Equal keys have equal bytes in the row format, so keys are compared as bytes, never decoded
/// back into columns. The keys are hashed on up to `available_parallelism()` threads, each a
/// share of them; then each thread counts the distinct keys of its shard of the hashes (shards
/// split by the hash's high bits, so that a key and its copies meet on one thread). A final
/// aggregation that merged every partition's keys thus finishes on every core, as DataFusion's
/// repartitioned `GROUP BY` does, instead of re-interning all keys on one thread.
pub(crate) fn count_distinct_rows(runs: &[LargeBinaryArray]) -> usize {
    let total: usize = runs.iter().map(Array::len).sum();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(total / KEYS_PER_THREAD)
        .max(1);
    let state = RandomState::with_seeds(
        0x243F_6A88_85A3_08D3,
        0x1319_8A2E_0370_7344,
        0xA409_3822_299F_31D0,
        0x082E_FA98_EC4E_6C89,
    );
    let mut hashes: Vec<Vec<u64>> = runs.iter().map(|r| vec![0; r.len()]).collect();
    if threads == 1 {
        for (run, h) in runs.iter().zip(&mut hashes) {
            hash_keys(run, 0, h, &state);
        }
        return count_shard(runs, &hashes, 0, 1);
    }
    // Each thread hashes about total / threads keys: whole runs or pieces of them.
    let share = total.div_ceil(threads);
    let mut pieces: Vec<Vec<(usize, usize, &mut [u64])>> =
        (0..threads).map(|_| Vec::new()).collect();
    let (mut thread, mut room) = (0, share);
    for (r, h) in hashes.iter_mut().enumerate() {
        let mut rest: &mut [u64] = h;
        let mut start = 0;
        while !rest.is_empty() {
            let n = rest.len().min(room);
            let (piece, after) = rest.split_at_mut(n);
            pieces[thread].push((r, start, piece));
            (rest, start, room) = (after, start + n, room - n);
            if room == 0 && thread + 1 < threads {
                (thread, room) = (thread + 1, share);
            } else if room == 0 {
                room = usize::MAX;
            }
        }
    }
    std::thread::scope(|scope| {
        for mine in pieces {
            let state = &state;
            scope.spawn(move || {
                for (r, start, h) in mine {
                    hash_keys(&runs[r], start, h, state);
                }
            });
        }
    });
    let hashes = &hashes;
    std::thread::scope(|scope| {
        let counting: Vec<_> = (0..threads)
            .map(|shard| scope.spawn(move || count_shard(runs, hashes, shard, threads)))
            .collect();
        counting
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .sum()
    })
}

/// Hashes keys `start..start + out.len()` of `run` into `out`.
fn hash_keys(run: &LargeBinaryArray, start: usize, out: &mut [u64], state: &RandomState) {
    for (i, h) in out.iter_mut().enumerate() {
        *h = state.hash_one(run.value(start + i));
    }
}

/// The shard (of `shards`) a hash belongs to: by its high 32 bits, which the set's own hasher
/// moves away from the bits it indexes by.
#[inline]
fn shard_of(hash: u64, shards: usize) -> usize {
    (((hash >> 32) * shards as u64) >> 32) as usize
}

/// The distinct keys among those of `runs` whose hash falls in `shard`.
fn count_shard(
    runs: &[LargeBinaryArray],
    hashes: &[Vec<u64>],
    shard: usize,
    shards: usize,
) -> usize {
    let expected = hashes.iter().map(Vec::len).sum::<usize>() / shards;
    let mut set: std::collections::HashSet<Key<'_>, BuildHasherDefault<Prehashed>> =
        std::collections::HashSet::with_capacity_and_hasher(expected, Default::default());
    for (run, hashes) in runs.iter().zip(hashes) {
        for (i, &hash) in hashes.iter().enumerate() {
            if shard_of(hash, shards) == shard && run.is_valid(i) {
                set.insert(Key {
                    hash,
                    bytes: run.value(i),
                });
            }
        }
    }
    set.len()
}

/// A key's bytes with their hash, computed once.
#[derive(PartialEq, Eq)]
struct Key<'a> {
    hash: u64,
    bytes: &'a [u8],
}

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The hasher of a set of [`Key`]s: the key's own hash, rotated so that the bits that chose its
/// shard are not the ones the table indexes by.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Key`; any bytes still hash (FNV-1a).
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash.rotate_left(29);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::LargeBinaryBuilder;

    /// Runs of keys: `n` keys each, key `i` of run `r` the bytes of `(i + r * shift) % modulo`
    /// in as many bytes as `width`, every 11th entry NULL.
    fn runs(count: usize, n: usize, shift: usize, modulo: usize) -> Vec<LargeBinaryArray> {
        (0..count)
            .map(|r| {
                let mut b = LargeBinaryBuilder::new();
                for i in 0..n {
                    let k = (i + r * shift) % modulo;
                    if i % 11 == 0 {
                        b.append_null();
                    } else {
                        // Keys of several lengths: a key's length is part of it.
                        b.append_value(&k.to_le_bytes()[..1 + k % 8]);
                    }
                }
                b.finish()
            })
            .collect()
    }

    fn counted_here(runs: &[LargeBinaryArray]) -> usize {
        let mut seen = std::collections::HashSet::new();
        for run in runs {
            seen.extend(run.iter().flatten());
        }
        seen.len()
    }

    #[test]
    fn distinct_rows_are_counted_exactly_on_one_thread_and_on_several() {
        for (count, n, shift, modulo) in [
            (1, 1_000, 0, 700),
            (3, 5_000, 1_000, 1 << 40),
            (2, 200_000, 50_000, 1 << 40),
            (4, 90_000, 7, 120_000),
            (1, 300_000, 0, 250_000),
        ] {
            let runs = runs(count, n, shift, modulo);
            assert_eq!(
                count_distinct_rows(&runs),
                counted_here(&runs),
                "{count} runs of {n}, shift {shift}, modulo {modulo}"
            );
        }
        assert_eq!(count_distinct_rows(&[]), 0);
        let empty = LargeBinaryBuilder::new().finish();
        assert_eq!(count_distinct_rows(&[empty.clone(), empty]), 0);
    }

    #[test]
    fn shards_cover_every_hash() {
        for shards in 1..=8 {
            for hash in [
                0,
                1,
                u64::MAX,
                1 << 63,
                (1 << 32) - 1,
                0xDEAD_BEEF_0000_0000,
            ] {
                assert!(shard_of(hash, shards) < shards);
            }
            assert_eq!(shard_of(u64::MAX, shards), shards - 1);
            assert_eq!(shard_of(0, shards), 0);
        }
    }
}
