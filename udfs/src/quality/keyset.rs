//! The distinct numeric keys of one group, for `distinct_count` / `duplicate_count`.
//!
//! Tables are very often written in key order (an id that only grows, a table sorted or
//! clustered on its primary key), and DataFusion reads each partition's file ranges one after
//! another. While the keys arrive in ascending order a group keeps them as an ascending
//! vector: a key equal to the last is a duplicate, a greater one is new, and nothing is
//! hashed. The first key out of order turns the vector into a hash set, once, and the group
//! goes on as a hash set; except the one group of a whole column's stream, whose keys out of
//! order are appended as they come and sorted when they have doubled (a column of mostly
//! distinct keys: a uniqueness check) or hashed from then on (mostly duplicates). Whatever a
//! partial state holds it ships as one ascending run, so that the final merge, on one core,
//! counts runs instead of hashing every key again.
//!
//! The one group of a whole column's stream keeps its ascending 64-bit keys packed
//! ([`super::packed`]: about 2 bytes a key for a pair of an order and a line number, instead
//! of 8) and ships them packed; the final merge decodes only the blocks of 128 keys whose
//! ranges meet another run's.
//!
//! Partial states of ascending groups arrive as ascending runs in Arrow buffers, and are kept
//! as they came, neither copied nor joined: the state's own buffer when it is aligned for the
//! key. They are counted at the end: runs whose ranges do not overlap by adding their lengths;
//! two that do by a galloping merge, which skips a block of one run that falls between two
//! keys of the other with a binary search (partitions that read the same ordered files in
//! another order cost a few searches, not a pass over every key); more by a k-way merge.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::hash::Hash;

use ahash::RandomState;
use datafusion::arrow::buffer::ScalarBuffer;
use datafusion::arrow::datatypes::ArrowNativeType;

use super::packed::{BLOCK, Block, Packed, PackedBuilder};

type FastSet<T> = HashSet<T, RandomState>;

/// A key a [`KeySet`] holds: 64 bits (a column's, or a narrow pair's), whose ascending streams
/// are packed, or 128 (a wide pair's), whose are not.
pub(crate) trait SetKey: ArrowNativeType + Hash + Ord {
    /// The keys as the 64-bit keys a packed run holds, for a type whose runs are packed.
    fn as_packed(keys: &[Self]) -> Option<&[u64]>;
    /// The key a packed run's 64-bit key is, in an order-keeping way.
    fn from_packed(k: u64) -> Self;
}

impl SetKey for u64 {
    fn as_packed(keys: &[u64]) -> Option<&[u64]> {
        Some(keys)
    }
    fn from_packed(k: u64) -> u64 {
        k
    }
}

impl SetKey for i128 {
    fn as_packed(_: &[i128]) -> Option<&[u64]> {
        None
    }
    fn from_packed(k: u64) -> i128 {
        i128::from(k)
    }
}

/// A strictly ascending, non-empty run of keys: plain, or packed.
#[derive(Debug, Clone)]
pub(crate) enum Run<K: ArrowNativeType> {
    Plain(ScalarBuffer<K>),
    Packed(Packed),
}

impl<K: ArrowNativeType> From<ScalarBuffer<K>> for Run<K> {
    fn from(keys: ScalarBuffer<K>) -> Self {
        Run::Plain(keys)
    }
}

impl<K: ArrowNativeType> From<Vec<K>> for Run<K> {
    fn from(keys: Vec<K>) -> Self {
        Run::Plain(keys.into())
    }
}

impl<K: SetKey> Run<K> {
    fn len(&self) -> usize {
        match self {
            Run::Plain(r) => r.len(),
            Run::Packed(p) => p.len(),
        }
    }

    /// The bytes the run takes.
    fn bytes(&self) -> usize {
        match self {
            Run::Plain(r) => r.inner().len(),
            Run::Packed(p) => p.bytes(),
        }
    }

    fn first(&self) -> Option<K> {
        match self {
            Run::Plain(r) => r.first().copied(),
            Run::Packed(p) => Some(K::from_packed(p.first())),
        }
    }

    fn last(&self) -> Option<K> {
        match self {
            Run::Plain(r) => r.last().copied(),
            Run::Packed(p) => Some(K::from_packed(p.last())),
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = K> + '_> {
        match self {
            Run::Plain(r) => Box::new(r.iter().copied()),
            Run::Packed(p) => Box::new(p.iter().map(K::from_packed)),
        }
    }

    /// Appends the keys to `out`: a plain run's in one copy.
    fn append_to(&self, out: &mut Vec<K>) {
        match self {
            Run::Plain(r) => out.extend_from_slice(r),
            Run::Packed(p) => out.extend(p.iter().map(K::from_packed)),
        }
    }

    /// The run as plain keys (a packed one decoded).
    pub(crate) fn plain(self) -> ScalarBuffer<K> {
        match self {
            Run::Plain(r) => r,
            Run::Packed(p) => p.iter().map(K::from_packed).collect(),
        }
    }
}

#[derive(Debug)]
pub(crate) enum KeySet<K: ArrowNativeType> {
    /// Every key seen so far, each once, strictly ascending.
    Ascending(Vec<K>),
    /// The same, packed: the one group of a whole column's stream, of 64-bit keys.
    Packed(PackedBuilder),
    /// Partial states' runs, each strictly ascending and not empty, kept apart until counted.
    Runs(Vec<Run<K>>),
    Hashed(FastSet<K>),
    /// A whole column's keys out of order: the first `sorted` strictly ascend (every key there
    /// was when they were last sorted), the rest are as they came.
    Unsorted {
        keys: Vec<K>,
        sorted: usize,
    },
}

/// Unsorted keys are sorted once they are twice those sorted last, and at least this many.
const MIN_SORT: usize = 1 << 16;

/// What the one group of a whole-column stream reserves for its ascending keys at the start:
/// address space, not memory (the system provides a page when it is first written). Above
/// glibc's largest threshold for mapping an allocation (32 MiB), so that the vector is mapped
/// from the start and grows by remapping: doubling it through the heap instead copies every key
/// at each step and writes about twice the memory the keys end in.
const STREAM_RESERVE_BYTES: usize = 64 << 20;

/// Beyond this many runs a group is joined into one vector (runs that came in key order) or
/// hashed (a merge of more runs costs more per key).
const MAX_RUNS: usize = 32;

impl<K: ArrowNativeType> Default for KeySet<K> {
    fn default() -> Self {
        KeySet::Ascending(Vec::new())
    }
}

impl<K: SetKey> KeySet<K> {
    /// The number of distinct keys (for runs: a count over them; unsorted keys are sorted).
    pub(crate) fn len(&mut self) -> usize {
        self.sort();
        match self {
            KeySet::Ascending(v) => v.len(),
            KeySet::Packed(p) => p.len(),
            KeySet::Runs(runs) => union_len(runs),
            KeySet::Hashed(s) => s.len(),
            KeySet::Unsorted { keys, .. } => keys.len(),
        }
    }

    /// The keys held, duplicates between runs and unsorted ones included: what the set's
    /// memory holds.
    pub(crate) fn held(&self) -> usize {
        match self {
            KeySet::Ascending(v) => v.len(),
            KeySet::Packed(p) => p.len(),
            KeySet::Runs(runs) => runs.iter().map(Run::len).sum(),
            KeySet::Hashed(s) => s.len(),
            KeySet::Unsorted { keys, .. } => keys.len(),
        }
    }

    /// Sorts unsorted keys, each kept once: they stay unsorted keys, all sorted, or become a
    /// hash set if most of those since the last sort were duplicates.
    fn sort(&mut self) {
        let KeySet::Unsorted { keys, sorted } = self else {
            return;
        };
        if *sorted == keys.len() {
            return;
        }
        let came = keys.len() - *sorted;
        // A stable sort: it merges the sorted keys as one run with the runs among the others
        // (batches that ascend).
        keys.sort();
        keys.dedup();
        let new = keys.len() - (*sorted).min(keys.len());
        *sorted = keys.len();
        if new * 2 < came {
            self.hashed();
        }
    }

    /// The bytes the set's keys take: packed ones and runs as they are, others with the slack
    /// of their vector or table (about as much again).
    pub(crate) fn held_bytes(&self) -> usize {
        match self {
            KeySet::Packed(p) => p.bytes(),
            KeySet::Runs(runs) => runs.iter().map(Run::bytes).sum(),
            _ => self.held() * 2 * size_of::<K>(),
        }
    }

    /// Readies an empty set to take a whole column's keys (one group): packed, for 64-bit
    /// keys; else [`STREAM_RESERVE_BYTES`] reserved (see there; a system that refuses the
    /// reservation leaves the set to grow as vectors do).
    pub(crate) fn start_stream(&mut self) {
        if let KeySet::Ascending(v) = self
            && v.capacity() == 0
        {
            if K::as_packed(&[]).is_some() {
                *self = KeySet::Packed(PackedBuilder::default());
            } else {
                let _ = v.try_reserve_exact(STREAM_RESERVE_BYTES / size_of::<K>());
            }
        }
    }

    /// A packed set as the ascending vector of its keys (decoded once); other sets as they are.
    fn unpack(&mut self) {
        if let KeySet::Packed(p) = self {
            let keys = p.iter().map(K::from_packed).collect();
            *self = KeySet::Ascending(keys);
        }
    }

    /// Adds `key`; `true` if it was not there yet.
    #[inline]
    pub(crate) fn insert(&mut self, key: K) -> bool {
        self.unpack();
        match self {
            KeySet::Ascending(v) => match v.last() {
                Some(&last) if key == last => false,
                Some(&last) if key < last => self.hashed().insert(key),
                _ => {
                    v.push(key);
                    true
                }
            },
            KeySet::Packed(_) | KeySet::Runs(_) | KeySet::Unsorted { .. } => {
                self.hashed().insert(key)
            }
            KeySet::Hashed(s) => s.insert(key),
        }
    }

    /// Adds every key of `keys`; the number that were not there yet. While the keys ascend
    /// this is a loop of comparisons and pushes, with no per-key dispatch.
    pub(crate) fn extend(&mut self, keys: impl IntoIterator<Item = K>) -> usize {
        let mut keys = keys.into_iter();
        let mut new = 0;
        self.unpack();
        if let KeySet::Ascending(v) = self {
            let mut last = v.last().copied();
            for k in keys.by_ref() {
                match last {
                    Some(l) if k == l => {}
                    Some(l) if k < l => {
                        new += usize::from(self.hashed().insert(k));
                        break;
                    }
                    _ => {
                        v.push(k);
                        last = Some(k);
                        new += 1;
                    }
                }
            }
        }
        if let KeySet::Ascending(_) = self {
            return new;
        }
        let set = self.hashed();
        for k in keys {
            new += usize::from(set.insert(k));
        }
        new
    }

    /// Adds the keys of one batch of a whole column's stream (one group); the number of keys
    /// the set holds more. A batch that strictly ascends from after the last key of an
    /// ascending set is copied in whole (one vectorized test, one copy) or packed; the first
    /// that does not turns the set into unsorted keys, which take each batch in whole.
    pub(crate) fn extend_slice(&mut self, batch: &[K]) -> usize {
        let (Some(first), held) = (batch.first(), self.held()) else {
            return 0;
        };
        match self {
            KeySet::Packed(p)
                if p.last().is_none_or(|last| K::from_packed(last) < *first)
                    && strictly_ascending(batch) =>
            {
                // Always some for 64-bit keys, the only ones packed.
                if let Some(keys) = K::as_packed(batch) {
                    p.push(keys);
                }
            }
            KeySet::Packed(_) => {
                self.unpack();
                return self.extend_slice(batch);
            }
            KeySet::Ascending(v)
                if v.last().is_none_or(|last| last < first) && strictly_ascending(batch) =>
            {
                v.extend_from_slice(batch);
            }
            KeySet::Ascending(v) => {
                let keys = std::mem::take(v);
                let sorted = keys.len();
                *self = KeySet::Unsorted { keys, sorted };
                return self.extend_slice(batch);
            }
            KeySet::Unsorted { keys, sorted } => {
                keys.extend_from_slice(batch);
                if keys.len() >= 2 * (*sorted).max(MIN_SORT) {
                    self.sort();
                }
            }
            _ => {
                self.extend(batch.iter().copied());
            }
        }
        self.held().saturating_sub(held)
    }

    /// The keys, each once (ascending unless hashed) except unsorted ones (as they are).
    pub(crate) fn keys(&self) -> Box<dyn Iterator<Item = K> + '_> {
        match self {
            KeySet::Ascending(v) => Box::new(v.iter().copied()),
            KeySet::Packed(p) => Box::new(p.iter().map(K::from_packed)),
            KeySet::Runs(runs) => Box::new(Union::new(runs)),
            KeySet::Hashed(s) => Box::new(s.iter().copied()),
            KeySet::Unsorted { keys, .. } => Box::new(keys.iter().copied()),
        }
    }

    /// Takes the keys out as runs to ship: the ascending vector, the packed keys or the runs
    /// as they are (nothing copied), unsorted keys sorted, a hash set's keys sorted in one
    /// buffer; none for an empty set. Every run shipped strictly ascends.
    pub(crate) fn into_runs(mut self) -> Vec<Run<K>> {
        self.sort();
        match self {
            KeySet::Ascending(v) if v.is_empty() => Vec::new(),
            KeySet::Packed(p) => p.finish().map(Run::Packed).into_iter().collect(),
            KeySet::Ascending(mut v) => {
                // A stream's reservation is given back before the keys travel (remapped, not
                // copied), so that the state's buffer is the size of its keys.
                if v.capacity() * size_of::<K>() >= STREAM_RESERVE_BYTES
                    && v.capacity() > 2 * v.len()
                {
                    v.shrink_to_fit();
                }
                vec![Run::from(v)]
            }
            KeySet::Runs(runs) => runs,
            KeySet::Unsorted { keys, .. } if keys.is_empty() => Vec::new(),
            KeySet::Unsorted { keys, .. } => vec![Run::from(keys)],
            KeySet::Hashed(s) if s.is_empty() => Vec::new(),
            KeySet::Hashed(s) => {
                let mut keys: Vec<K> = s.into_iter().collect();
                keys.sort_unstable();
                vec![Run::from(keys)]
            }
        }
    }

    /// Adds the keys of a partial state: a run that strictly ascends (a plain run that does
    /// not is hashed).
    pub(crate) fn merge(&mut self, run: impl Into<Run<K>>) {
        let run = run.into();
        if run.len() == 0 {
            return;
        }
        self.sort();
        self.unpack();
        if let KeySet::Unsorted { keys, .. } = self {
            // Sorted, they are one run among the others.
            *self = match std::mem::take(keys) {
                keys if keys.is_empty() => KeySet::default(),
                keys => KeySet::Runs(vec![keys.into()]),
            };
        }
        if let Run::Plain(r) = &run
            && !strictly_ascending(r)
        {
            self.hashed().extend(r.iter().copied());
            return;
        }
        match self {
            KeySet::Ascending(v) if v.is_empty() => *self = KeySet::Runs(vec![run]),
            // A joined set (below) takes the runs that come after it by copying them in.
            KeySet::Ascending(v) if v.last().copied() < run.first() && v.len() >= run.len() => {
                run.append_to(v)
            }
            KeySet::Ascending(v) => {
                let own = Run::from(std::mem::take(v));
                *self = KeySet::Runs(vec![own, run]);
            }
            KeySet::Runs(runs) if runs.len() < MAX_RUNS => runs.push(run),
            KeySet::Runs(runs)
                if in_order(runs) && runs.last().and_then(Run::last) < run.first() =>
            {
                // Many runs, each after the one before (partial states of a group read in
                // order): one ascending vector, which takes the next ones as they come.
                runs.push(run);
                let mut joined = Vec::with_capacity(runs.iter().map(Run::len).sum());
                for r in runs.iter() {
                    r.append_to(&mut joined);
                }
                *self = KeySet::Ascending(joined);
            }
            _ => {
                let set = self.hashed();
                set.extend(run.iter());
            }
        }
    }

    /// The same set with every key mapped by `f`, which must be injective and keep the keys'
    /// order (ascending vectors and runs stay as they are, in another width).
    pub(crate) fn map<L>(self, f: impl Fn(K) -> L) -> KeySet<L>
    where
        L: SetKey,
    {
        match self {
            KeySet::Ascending(v) => KeySet::Ascending(v.into_iter().map(f).collect()),
            KeySet::Packed(p) => {
                KeySet::Ascending(p.iter().map(|k| f(K::from_packed(k))).collect())
            }
            KeySet::Runs(runs) => KeySet::Runs(
                runs.iter()
                    .map(|r| Run::from(r.iter().map(&f).collect::<Vec<L>>()))
                    .collect(),
            ),
            KeySet::Hashed(s) => {
                let mut out = FastSet::with_capacity_and_hasher(s.len(), RandomState::new());
                out.extend(s.into_iter().map(f));
                KeySet::Hashed(out)
            }
            KeySet::Unsorted { keys, sorted } => KeySet::Unsorted {
                keys: keys.into_iter().map(f).collect(),
                sorted,
            },
        }
    }

    /// The set as a hash set (converting it once if it was not).
    fn hashed(&mut self) -> &mut FastSet<K> {
        if !matches!(self, KeySet::Hashed(_)) {
            let mut set = FastSet::with_capacity_and_hasher(self.held() * 2, RandomState::new());
            set.extend(self.keys());
            *self = KeySet::Hashed(set);
        }
        match self {
            KeySet::Hashed(s) => s,
            _ => unreachable!("converted above"),
        }
    }
}

impl KeySet<u64> {
    /// Adds the pairs `(a[i], b[i])` of a whole column's batch to a packed set if every `a[i]`
    /// is below 2^31, every `b[i]` below 2^32, and the pairs strictly ascend from after its
    /// last key (packed from the columns, no key built): the number of keys it holds more.
    /// `None`, and nothing added, otherwise.
    pub(crate) fn extend_pairs(&mut self, a: &[u64], b: &[u64]) -> Option<usize> {
        let KeySet::Packed(p) = self else {
            return None;
        };
        let (&a0, &b0) = (a.first()?, b.first()?);
        let after = p.last().is_none_or(|last| last < a0 << 32 | b0);
        if !(after && pairs_ascending(a, b)) {
            return None;
        }
        p.push_pairs(a, b);
        Some(a.len())
    }
}

/// `true` if every `a[i]` is below 2^31 and every `b[i]` below 2^32, and the keys
/// `a[i] << 32 | b[i]` strictly ascend. One pass of shifts, subtractions and ORs, which
/// baseline x86-64 vectorizes where it has no 64-bit comparison: below 2^63, `k1 > k0` exactly
/// when `k1 - k0 - 1` has its top bit clear.
fn pairs_ascending(a: &[u64], b: &[u64]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.is_empty() {
        return true;
    }
    let key = |x: u64, y: u64| x << 32 | y;
    let (mut bits_a, mut bits_b, mut steps) = (0, 0, 0);
    for (x, y) in a.iter().zip(b) {
        bits_a |= x;
        bits_b |= y;
    }
    if bits_a >> 31 != 0 || bits_b >> 32 != 0 {
        return false;
    }
    let n = a.len().saturating_sub(1);
    let (a0, a1, b0, b1) = (&a[..n], &a[1..], &b[..n], &b[1..]);
    for i in 0..n {
        steps |= key(a1[i], b1[i])
            .wrapping_sub(key(a0[i], b0[i]))
            .wrapping_sub(1);
    }
    steps >> 63 == 0
}

/// `true` if each key is below the next: one comparison per neighbouring pair, with no early
/// exit inside a block of them so that the compiler can vectorize the comparisons.
pub(crate) fn strictly_ascending<K: Ord + Copy>(keys: &[K]) -> bool {
    const BLOCK: usize = 1024;
    let Some(rest) = keys.get(1..) else {
        return true;
    };
    keys.chunks(BLOCK)
        .zip(rest.chunks(BLOCK))
        .all(|(a, b)| a.iter().zip(b).fold(true, |ok, (x, y)| ok & (x < y)))
}

/// `true` if each of these non-empty strictly ascending runs starts after the one before ends.
fn in_order<K: SetKey>(runs: &[Run<K>]) -> bool {
    runs.windows(2).all(|w| w[0].last() < w[1].first())
}

/// The number of distinct keys in the union of strictly ascending runs.
///
/// The runs are taken in the order of their first keys and grouped where their ranges
/// overlap; each group is counted by [`group_len`]. Partitions that read ordered files make
/// groups of one run, counted by their lengths; a partition whose file ranges are far apart
/// (DataFusion gives a partition the row groups that start in its byte range) makes one run
/// that spans others.
fn union_len<K: SetKey>(runs: &[Run<K>]) -> usize {
    // Each run with its range (first and last key).
    let mut order: Vec<(K, K, &Run<K>)> = runs
        .iter()
        .filter_map(|r| Some((r.first()?, r.last()?, r)))
        .collect();
    order.sort_unstable_by_key(|&(first, ..)| first);
    let mut n = 0;
    let mut start = 0;
    while let Some(&(_, mut end, run)) = order.get(start) {
        let mut stop = start + 1;
        while let Some(&(_, last, _)) = order.get(stop).filter(|(first, ..)| *first <= end) {
            end = end.max(last);
            stop += 1;
        }
        let group = &order[start..stop];
        n += match group {
            [_] => run.len(),
            _ if group.iter().any(|(.., r)| matches!(r, Run::Packed(_))) => {
                pieces_len(group.iter().map(|&(.., r)| r))
            }
            _ => {
                let slices: Vec<&[K]> = group
                    .iter()
                    .filter_map(|(.., r)| match r {
                        Run::Plain(keys) => Some(&keys[..]),
                        Run::Packed(_) => None,
                    })
                    .collect();
                group_len(&slices)
            }
        };
        start = stop;
    }
    n
}

/// A piece of a run: at most [`BLOCK`] of its keys.
enum Piece<'a, K> {
    Plain(&'a [K]),
    Packed(Block<'a>),
}

/// The number of distinct keys in the union of runs whose ranges overlap, some of them packed.
/// Each run is taken as pieces of at most [`BLOCK`] keys with their ranges (a packed run's
/// blocks, their first and last keys read from them); a piece whose range meets no other's is
/// counted by its length, pieces that do are decoded and counted by [`group_len`]. Partitions
/// that read a column's ordered row groups in turns make runs that overlap only where one row
/// group ends and the next begins: their keys are neither decoded nor copied.
fn pieces_len<'a, K: SetKey + 'a>(runs: impl Iterator<Item = &'a Run<K>>) -> usize {
    let mut pieces: Vec<(K, K, Piece<'a, K>)> = Vec::new();
    for run in runs {
        match run {
            Run::Plain(keys) => pieces.extend(
                keys.chunks(BLOCK)
                    .map(|c| (c[0], c[c.len() - 1], Piece::Plain(c))),
            ),
            Run::Packed(p) => pieces.extend(p.blocks().map(|b| {
                let range = (K::from_packed(b.first), K::from_packed(b.last));
                (range.0, range.1, Piece::Packed(b))
            })),
        }
    }
    // Each run's pieces ascend: a stable sort merges them as the runs they are.
    pieces.sort_by_key(|&(first, ..)| first);
    let mut block = [0u64; BLOCK];
    let (mut n, mut start) = (0, 0);
    while let Some(&(_, mut end, _)) = pieces.get(start) {
        let mut stop = start + 1;
        while let Some(&(_, last, _)) = pieces.get(stop).filter(|(first, ..)| *first <= end) {
            end = end.max(last);
            stop += 1;
        }
        n += match &pieces[start..stop] {
            [(.., Piece::Plain(keys))] => keys.len(),
            [(.., Piece::Packed(b))] => b.n,
            group => {
                let keys: Vec<Vec<K>> = group
                    .iter()
                    .map(|(.., piece)| match piece {
                        Piece::Plain(keys) => keys.to_vec(),
                        Piece::Packed(b) => {
                            let got = b.decode(&mut block);
                            block[..got].iter().map(|&k| K::from_packed(k)).collect()
                        }
                    })
                    .collect();
                let slices: Vec<&[K]> = keys.iter().map(Vec::as_slice).collect();
                group_len(&slices)
            }
        };
        start = stop;
    }
    n
}

/// The number of distinct keys in the union of runs whose ranges overlap: one run by its
/// length, two by a galloping merge, more by joining them two by two with the same gallop
/// (blocks between two keys of the other run copied whole) until two are left. A heap-based
/// k-way merge took a heap operation per key: about 1.75x this time on TPC-H SF1 read in 4
/// partitions.
fn group_len<K: Ord + Copy>(runs: &[&[K]]) -> usize {
    match runs {
        [] => 0,
        [a] => a.len(),
        [a, b] => union_len_2(a, b),
        _ => {
            let mut level: Vec<Vec<K>> = runs
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => union_2(a, b),
                    _ => pair.concat(),
                })
                .collect();
            while level.len() > 2 {
                let mut joined = Vec::with_capacity(level.len().div_ceil(2));
                let mut it = level.into_iter();
                while let Some(a) = it.next() {
                    joined.push(match it.next() {
                        Some(b) => union_2(&a, &b),
                        None => a,
                    });
                }
                level = joined;
            }
            match level.as_slice() {
                [a, b] => union_len_2(a, b),
                _ => level.iter().map(Vec::len).sum(),
            }
        }
    }
}

/// The ascending union of two strictly ascending runs, each key once, handed to `emit` as
/// slices in order: a merge that gallops over the keys of one run that come before the next
/// key of the other, and hands them over as one block.
fn gallop<K: Ord + Copy>(a: &[K], b: &[K], mut emit: impl FnMut(&[K])) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if x < y {
            let k = count_below(&a[i..], y);
            emit(&a[i..i + k]);
            i += k;
        } else if y < x {
            let k = count_below(&b[j..], x);
            emit(&b[j..j + k]);
            j += k;
        } else {
            emit(&a[i..=i]);
            i += 1;
            j += 1;
        }
    }
    emit(&a[i..]);
    emit(&b[j..]);
}

/// The number of distinct keys in the union of two strictly ascending runs ([`gallop`]).
fn union_len_2<K: Ord + Copy>(a: &[K], b: &[K]) -> usize {
    let mut n = 0;
    gallop(a, b, |block| n += block.len());
    n
}

/// The ascending union of two strictly ascending runs, each key once ([`gallop`]).
fn union_2<K: Ord + Copy>(a: &[K], b: &[K]) -> Vec<K> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    gallop(a, b, |block| out.extend_from_slice(block));
    out
}

/// How many of the leading keys of ascending `run` are below `bound`, its first one being
/// below: doubling steps, then a binary search in the last step.
fn count_below<K: Ord + Copy>(run: &[K], bound: K) -> usize {
    let mut step = 1;
    while step < run.len() && run[step] < bound {
        step *= 2;
    }
    let from = step / 2 + 1;
    let to = step.min(run.len());
    from + run[from..to].partition_point(|&k| k < bound)
}

/// The ascending union of strictly ascending runs, each key once (a k-way merge).
struct Union<'a, K: ArrowNativeType> {
    runs: Vec<Box<dyn Iterator<Item = K> + 'a>>,
    heap: BinaryHeap<Reverse<(K, usize)>>,
    last: Option<K>,
}

impl<'a, K: SetKey> Union<'a, K> {
    fn new(runs: &'a [Run<K>]) -> Self {
        let mut runs: Vec<_> = runs.iter().map(Run::iter).collect();
        let heap = runs
            .iter_mut()
            .enumerate()
            .filter_map(|(r, run)| run.next().map(|k| Reverse((k, r))))
            .collect();
        Union {
            runs,
            heap,
            last: None,
        }
    }
}

impl<K: SetKey> Iterator for Union<'_, K> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        while let Some(Reverse((k, r))) = self.heap.pop() {
            if let Some(next) = self.runs[r].next() {
                self.heap.push(Reverse((next, r)));
            }
            if self.last != Some(k) {
                self.last = Some(k);
                return Some(k);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(s: &KeySet<u64>) -> Vec<u64> {
        let mut k: Vec<u64> = s.keys().collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn extend_counts_new_keys_ascending_then_hashed() {
        let mut s = KeySet::<u64>::default();
        assert_eq!(s.extend([1u64, 1, 2, 5, 5, 7]), 4);
        assert!(matches!(s, KeySet::Ascending(_)));
        assert_eq!(s.extend([7, 8, 9]), 2, "the last key again is not new");
        assert_eq!(s.extend([10, 3, 11, 2, 11, 12]), 4, "10, 3, 11, 12");
        assert!(matches!(s, KeySet::Hashed(_)));
        assert_eq!(sorted(&s), [1, 2, 3, 5, 7, 8, 9, 10, 11, 12]);
        let mut r = KeySet::<u64>::default();
        r.merge(vec![1u64, 2]);
        r.merge(vec![5u64]);
        assert_eq!(r.extend([2, 6]), 1, "runs take keys as a hash set");
        assert_eq!(r.len(), 4);
    }

    /// A slice goes in whole while the batches strictly ascend, each from after the set's last
    /// key (the count is then of new keys); the first that does not makes unsorted keys. The
    /// set is always that of key-by-key inserts.
    #[test]
    fn a_slice_goes_in_as_its_keys_would_one_by_one() {
        let batches: Vec<Vec<u64>> = vec![
            (1..3000).collect(),
            (3000..5000).step_by(3).collect(),
            vec![],
            vec![5000, 5001],
            vec![4999, 5000, 5001],
            vec![6000, 6000, 6001],
            (7000..9100).collect(),
            vec![9200, 9100, 9300],
            (9400..9500).collect(),
            vec![3, 10_000],
        ];
        let (mut whole, mut single) = (KeySet::<u64>::default(), KeySet::<u64>::default());
        for (i, b) in batches.iter().enumerate() {
            let one_by_one = b.iter().filter(|&&k| single.insert(k)).count();
            let more = whole.extend_slice(b);
            if i < 4 {
                assert!(matches!(whole, KeySet::Ascending(_)), "batch {i}");
                assert_eq!(more, one_by_one, "batch {i}: new keys");
            } else {
                assert!(matches!(whole, KeySet::Unsorted { .. }), "batch {i}");
                assert_eq!(more, b.len(), "batch {i}: held as they came");
            }
        }
        assert_eq!(whole.len(), single.len());
        assert_eq!(sorted(&whole), sorted(&single));
        assert!(matches!(&whole, KeySet::Unsorted { keys, sorted } if keys.len() == *sorted));
        let (a, b) = (vec![1, 1, 2, 3], vec![5, 6, 1, 1]);
        assert!(pairs_ascending(&a, &b));
        assert!(pairs_ascending(&[], &[]) && pairs_ascending(&[7], &[9]));
        assert!(pairs_ascending(&[0, (1 << 31) - 1], &[u32::MAX.into(), 0]));
        assert!(
            !pairs_ascending(&[0, 1 << 31], &[0, 0]),
            "a first key of 2^31"
        );
        assert!(
            !pairs_ascending(&[0, 1], &[1 << 32, 0]),
            "a second key of 2^32"
        );
        assert!(
            !pairs_ascending(&[(1 << 31) - 1, 0], &[0, 0]),
            "the largest drop"
        );
        assert!(!pairs_ascending(&[1, 1], &[5, 5]), "equal pairs");
        assert!(!pairs_ascending(&[1, 1], &[5, 4]));
        assert!(!pairs_ascending(&[2, 1], &[1, 9]));
        let long: Vec<u64> = (0..3000).map(|i| i / 3).collect();
        let lines: Vec<u64> = (0..3000).map(|i| i % 3).collect();
        assert!(pairs_ascending(&long, &lines));
        let mut flat = lines.clone();
        flat[2049] = flat[2048];
        assert!(
            !pairs_ascending(&long, &flat),
            "a repeat past the first 1,024"
        );
        for n in [0, 1, 2, 1023, 1024, 1025, 3000] {
            let up: Vec<u64> = (0..n).collect();
            assert!(strictly_ascending(&up), "{n}");
            for at in [1, n / 2, n.saturating_sub(1)]
                .into_iter()
                .filter(|&i| i >= 1 && i < n)
            {
                let mut flat = up.clone();
                flat[at as usize] = flat[at as usize - 1];
                assert!(!strictly_ascending(&flat), "{n} equal at {at}");
            }
        }
    }

    /// Unsorted keys are sorted when they have doubled: they stay unsorted while most are new
    /// (a unique key), become a hash set when most are duplicates; either way exact, and
    /// shipped as one strictly ascending run.
    #[test]
    fn unsorted_keys_sort_as_they_double_or_hash_when_mostly_duplicates() {
        // A permutation of 0..n in batches (a multiplicative step modulo a prime).
        let n: u64 = 5 * MIN_SORT as u64;
        let p = 327_689u64; // prime, above n
        let perm: Vec<u64> = (1..=n).map(|i| (i * 7919) % p).collect();
        let mut unique = KeySet::<u64>::default();
        let mut more = 0;
        for b in perm.chunks(8192) {
            more += unique.extend_slice(b);
        }
        assert!(matches!(&unique, KeySet::Unsorted { sorted, .. } if *sorted >= 2 * MIN_SORT));
        assert_eq!(more, perm.len(), "every key held (none was a duplicate)");
        unique.extend_slice(&perm[..100]);
        assert_eq!(unique.len(), perm.len());
        let runs = unique.into_runs();
        assert_eq!(runs.len(), 1);
        assert!(strictly_ascending(&runs[0].clone().plain()) && runs[0].len() == perm.len());

        // Mostly duplicates: 1,000 keys over and over, out of order.
        let mut dup = KeySet::<u64>::default();
        for r in 0..(3 * MIN_SORT / 1000) as u64 {
            let batch: Vec<u64> = (0..1000).map(|i| (i * 7 + r) % 1000).collect();
            dup.extend_slice(&batch);
        }
        assert!(
            matches!(dup, KeySet::Hashed(_)),
            "hashed once sorting found duplicates"
        );
        assert_eq!(dup.len(), 1000);
        let runs = dup.into_runs();
        assert_eq!(runs.len(), 1);
        assert_eq!(
            &runs[0].clone().plain()[..],
            (0..1000).collect::<Vec<u64>>(),
            "sorted to ship"
        );

        // Runs shipped from unsorted sets merge exactly, and an unsorted set takes a run.
        let mut left = KeySet::<u64>::default();
        left.extend_slice(&[5, 1, 9, 9, 3]);
        let mut right = KeySet::<u64>::default();
        right.extend_slice(&[2, 9, 4]);
        let mut last = KeySet::<u64>::default();
        last.extend_slice(&[7, 6]);
        let mut total = KeySet::<u64>::default();
        for r in left.into_runs().into_iter().chain(right.into_runs()) {
            total.merge(r);
        }
        assert_eq!(total.len(), 6);
        last.merge(ScalarBuffer::from(vec![1u64, 6, 8]));
        assert_eq!(last.len(), 4);
        assert_eq!(sorted(&last), [1, 6, 7, 8]);
        let mut to_insert = KeySet::<u64>::default();
        to_insert.extend_slice(&[4, 2]);
        assert!(
            !to_insert.insert(4),
            "an insert into unsorted keys is exact (hashed)"
        );
        assert!(to_insert.insert(3));
        assert_eq!(to_insert.len(), 3);
    }

    #[test]
    fn ascending_until_a_key_comes_out_of_order() {
        let mut s = KeySet::<u64>::default();
        let new: Vec<bool> = [1, 1, 2, 5, 5, 7]
            .into_iter()
            .map(|k| s.insert(k))
            .collect();
        assert_eq!(new, [true, false, true, true, false, true]);
        assert!(matches!(s, KeySet::Ascending(_)));
        assert_eq!(s.len(), 4);
        assert!(!s.insert(2), "an old key out of order is still a duplicate");
        assert!(matches!(s, KeySet::Hashed(_)));
        assert!(s.insert(3));
        assert_eq!(sorted(&s), [1, 2, 3, 5, 7]);
    }

    #[test]
    fn runs_join_in_either_order_and_overlaps_are_counted_once() {
        let mut s = KeySet::<u64>::default();
        s.merge(vec![10, 11, 12]);
        s.merge(vec![13, 20]);
        s.merge(vec![]);
        assert!(
            matches!(&s, KeySet::Runs(r) if r.len() == 2),
            "kept apart, not copied"
        );
        assert_eq!(s.len(), 5, "disjoint runs: their lengths");
        s.merge(vec![1, 2]);
        assert_eq!(s.len(), 7);
        s.merge(vec![0, 12, 14, 21]);
        assert_eq!(s.len(), 10);
        assert_eq!(
            s.keys().collect::<Vec<_>>(),
            [0, 1, 2, 10, 11, 12, 13, 14, 20, 21]
        );
        // Two overlapping runs take the counting pass, more the k-way merge; both exact.
        let mut two = KeySet::<u64>::default();
        two.merge(vec![1, 3, 5, 7]);
        two.merge(vec![2, 3, 4, 7, 9]);
        assert_eq!(two.len(), 7);
        // A key inserted into runs, or a run out of order, makes a hash set.
        assert!(!s.insert(11));
        assert!(matches!(s, KeySet::Hashed(_)));
        s.merge(vec![30, 2, 31]);
        assert_eq!(sorted(&s), [0, 1, 2, 10, 11, 12, 13, 14, 20, 21, 30, 31]);
        let mut t = KeySet::<u64>::default();
        t.merge(vec![5, 3]);
        assert!(
            matches!(t, KeySet::Hashed(_)),
            "a run out of order is hashed"
        );
        assert_eq!(sorted(&t), [3, 5]);
        // Past MAX_RUNS overlapping runs a group is hashed, still exact.
        let mut many = KeySet::<u64>::default();
        for r in 0..(MAX_RUNS as u64 + 5) {
            many.merge((r..r + 10).collect::<Vec<_>>());
        }
        assert!(matches!(many, KeySet::Hashed(_)));
        assert_eq!(many.len(), MAX_RUNS + 14);
        // Past MAX_RUNS, runs that came in order are joined into one vector, which takes the
        // next ones in; runs that came out of order are hashed (no repeated joins). Exact.
        let mut apart = KeySet::<u64>::default();
        for r in 0..(MAX_RUNS as u64 + 5) {
            apart.merge(vec![r * 10, r * 10 + 1]);
        }
        assert!(matches!(&apart, KeySet::Ascending(v) if v.len() == 2 * (MAX_RUNS + 5)));
        assert_eq!(apart.len(), 2 * (MAX_RUNS + 5));
        let mut reversed = KeySet::<u64>::default();
        for r in (0..(MAX_RUNS as u64 + 5)).rev() {
            reversed.merge(vec![r * 10, r * 10 + 1]);
        }
        assert!(matches!(reversed, KeySet::Hashed(_)));
        assert_eq!(reversed.len(), 2 * (MAX_RUNS + 5));
        let keys: Vec<u64> = apart.keys().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]) && keys.len() == 2 * (MAX_RUNS + 5));
        // Shipped as they are: the vector, the runs, a hash set's keys in one buffer.
        assert!(KeySet::<u64>::default().into_runs().is_empty());
        let mut one = KeySet::<u64>::default();
        one.insert(4u64);
        one.insert(9);
        let runs = one.into_runs();
        assert!(matches!(&runs[..], [Run::Plain(r)] if r[..] == [4, 9]));
        assert_eq!(apart.into_runs().len(), 1, "the joined vector");
    }

    /// A whole column's ascending 64-bit keys are held packed and shipped packed; runs of them
    /// count by their lengths where apart and exactly where they overlap; a batch out of order,
    /// a single insert or widening turn them back into keys, exactly.
    #[test]
    fn a_streams_ascending_keys_are_packed_and_count_exactly() {
        let stream = |batches: &[Vec<u64>]| {
            let mut s = KeySet::<u64>::default();
            let mut held = 0;
            for b in batches {
                s.start_stream();
                held += s.extend_slice(b);
            }
            (s, held)
        };
        let pairs = |orders: std::ops::Range<u64>| -> Vec<u64> {
            orders
                .flat_map(|o| (1..=o % 7 + 1).map(move |l| (o * 4) << 32 | l))
                .collect()
        };
        let (low, high) = (pairs(1..3000), pairs(3000..6000));
        let batches: Vec<Vec<u64>> = low.chunks(1000).map(<[u64]>::to_vec).collect();
        let (mut s, held) = stream(&batches);
        assert!(matches!(s, KeySet::Packed(_)));
        assert_eq!((held, s.len()), (low.len(), low.len()));
        assert!(s.held_bytes() < low.len() * 3, "{} bytes", s.held_bytes());
        assert_eq!(s.keys().collect::<Vec<_>>(), low);
        let runs = s.into_runs();
        assert!(matches!(&runs[..], [Run::Packed(_)]));

        // Two partitions' packed runs, apart, and a third overlapping both.
        let (t, _) = stream(std::slice::from_ref(&high));
        let middle: Vec<u64> = low.iter().chain(&high).copied().step_by(5).collect();
        let (m, _) = stream(&[middle]);
        let mut total = KeySet::<u64>::default();
        for r in t.into_runs().into_iter().chain(runs.clone()) {
            total.merge(r);
        }
        assert!(matches!(&total, KeySet::Runs(r) if r.len() == 2));
        assert_eq!(total.len(), low.len() + high.len());
        for r in m.into_runs() {
            total.merge(r);
        }
        assert_eq!(total.len(), low.len() + high.len());
        assert_eq!(sorted(&total), [low.clone(), high.clone()].concat());
        // Two partitions that read row groups in turns: overlapping runs whose blocks mostly
        // do not; the last row group read by both; against plain runs.
        let groups: Vec<&[u64]> = low.chunks(1000).collect();
        let turns = |first: usize, again: bool| {
            let mut b: Vec<Vec<u64>> = groups
                .iter()
                .skip(first)
                .step_by(2)
                .map(|g| g.to_vec())
                .collect();
            if again {
                b.push(groups[groups.len() - 1].to_vec());
            }
            stream(&b).0.into_runs()
        };
        assert_eq!(
            groups.len() % 2,
            0,
            "the last row group is the second partition's"
        );
        for again in [false, true] {
            let runs: Vec<Run<u64>> = [turns(0, again), turns(1, false)].concat();
            assert!(runs.iter().all(|r| matches!(r, Run::Packed(_))));
            let plain: Vec<Run<u64>> = runs.iter().cloned().map(|r| Run::from(r.plain())).collect();
            assert_eq!(union_len(&runs), low.len(), "{again:?}");
            assert_eq!(union_len(&plain), low.len());
        }
        // Past MAX_RUNS packed runs in order are joined into one vector, which takes the next.
        let mut joined = KeySet::<u64>::default();
        for part in low.chunks(low.len() / (MAX_RUNS + 5)) {
            for r in stream(&[part.to_vec()]).0.into_runs() {
                joined.merge(r);
            }
        }
        assert!(matches!(&joined, KeySet::Ascending(v) if v[..] == low[..]));
        // A packed run into a set that has keys, and widened (a pair's set turning wide).
        let mut mixed = KeySet::<u64>::default();
        mixed.insert(2);
        mixed.merge(runs[0].clone());
        assert_eq!(mixed.len(), low.len() + 1);
        let (w, _) = stream(&batches);
        let wide = w.map(i128::from);
        assert!(wide.keys().eq(low.iter().map(|&k| i128::from(k))));

        // A batch out of order after packed ones: unsorted keys, exact; an insert: exact.
        let (mut late, _) = stream(&batches);
        late.start_stream();
        late.extend_slice(&[low[10], 1]);
        assert!(matches!(late, KeySet::Unsorted { .. }));
        assert_eq!(late.len(), low.len() + 1);
        let (mut one, _) = stream(&batches);
        assert!(!one.insert(low[5]));
        assert!(one.insert(u64::MAX));
        assert_eq!(one.len(), low.len() + 1);
        // Wide keys are never packed.
        let mut wide = KeySet::<i128>::default();
        wide.start_stream();
        wide.extend_slice(&[1, 2, 3]);
        assert!(matches!(wide, KeySet::Ascending(_)));
    }

    /// Two runs are counted exactly however they interleave: in blocks (the galloping merge
    /// skips them), key by key, one inside the other, equal; against a hash set of both.
    #[test]
    fn two_runs_count_exactly_however_they_interleave() {
        let blocks = |n: u64, from: u64| -> Vec<u64> {
            (0..n)
                .flat_map(|b| (b * 2000 + from)..(b * 2000 + from + 1000))
                .collect()
        };
        let mut cases: Vec<(Vec<u64>, Vec<u64>)> = vec![
            (blocks(50, 0), blocks(50, 1000)),
            (blocks(50, 0), blocks(50, 500)),
            (
                (0..5000).map(|k| k * 2).collect(),
                (0..5000).map(|k| k * 2 + 1).collect(),
            ),
            ((0..5000).collect(), (1000..2000).collect()),
            ((0..5000).collect(), (0..5000).collect()),
            (vec![7], (0..100).collect()),
            (
                (0..100).map(|k| k * 3).collect(),
                (0..100).map(|k| k * 5).collect(),
            ),
        ];
        cases.extend(cases.clone().into_iter().map(|(a, b)| (b, a)));
        for (a, b) in cases {
            let want: FastSet<u64> = a.iter().chain(&b).copied().collect();
            assert_eq!(
                union_len_2(&a, &b),
                want.len(),
                "{:?}…",
                &a[..a.len().min(4)]
            );
            let mut s = KeySet::<u64>::default();
            s.merge(a);
            s.merge(b);
            assert_eq!(s.len(), want.len());
        }
    }

    /// Three to twelve runs, some apart and some overlapping (blocks, key by key, one run
    /// spanning the others, equal runs), are counted exactly; against a hash set of all.
    #[test]
    fn many_runs_count_exactly_in_groups() {
        let step =
            |from: u64, n: u64, by: u64| -> Vec<u64> { (0..n).map(|k| from + k * by).collect() };
        let cases: Vec<Vec<Vec<u64>>> = vec![
            // apart: counted by lengths
            vec![step(0, 100, 1), step(100, 100, 1), step(1000, 5, 3)],
            // one run spanning three dense ones (a partition given far-apart row groups)
            vec![
                step(0, 1000, 1),
                step(1000, 1000, 1),
                step(2000, 1000, 1),
                step(500, 40, 70),
            ],
            // key by key, and a duplicate run
            vec![
                step(0, 500, 3),
                step(1, 500, 3),
                step(2, 500, 3),
                step(0, 500, 3),
            ],
            // two groups: three overlapping runs, then two apart
            vec![
                step(0, 100, 2),
                step(1, 100, 2),
                step(50, 10, 1),
                step(10_000, 10, 1),
                step(20_000, 10, 1),
            ],
            // twelve runs, every one overlapping the next
            (0..12).map(|r| step(r * 50, 100, 1)).collect(),
        ];
        for runs in cases {
            let want: FastSet<u64> = runs.iter().flatten().copied().collect();
            let buffers: Vec<Run<u64>> = runs.iter().cloned().map(Run::from).collect();
            assert_eq!(union_len(&buffers), want.len(), "{runs:?}");
            let mut reversed = buffers.clone();
            reversed.reverse();
            assert_eq!(union_len(&reversed), want.len());
            let mut s = KeySet::<u64>::default();
            for r in buffers {
                s.merge(r);
            }
            assert_eq!(s.len(), want.len());
        }
    }
}
