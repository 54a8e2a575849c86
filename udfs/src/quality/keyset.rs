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

type FastSet<T> = HashSet<T, RandomState>;

#[derive(Debug)]
pub(crate) enum KeySet<K: ArrowNativeType> {
    /// Every key seen so far, each once, strictly ascending.
    Ascending(Vec<K>),
    /// Partial states' runs, each strictly ascending and not empty, kept apart until counted.
    Runs(Vec<ScalarBuffer<K>>),
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

impl<K: ArrowNativeType + Hash + Ord> KeySet<K> {
    /// The number of distinct keys (for runs: a count over them; unsorted keys are sorted).
    pub(crate) fn len(&mut self) -> usize {
        self.sort();
        match self {
            KeySet::Ascending(v) => v.len(),
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
            KeySet::Runs(runs) => runs.iter().map(|r| r.len()).sum(),
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

    /// Reserves [`STREAM_RESERVE_BYTES`] for an empty ascending set that will take a whole
    /// column's keys (one group): see there. A system that refuses the reservation leaves the
    /// set as it was, to grow as vectors do.
    pub(crate) fn reserve_stream(&mut self) {
        if let KeySet::Ascending(v) = self
            && v.capacity() == 0
        {
            let _ = v.try_reserve_exact(STREAM_RESERVE_BYTES / size_of::<K>());
        }
    }

    /// Adds `key`; `true` if it was not there yet.
    #[inline]
    pub(crate) fn insert(&mut self, key: K) -> bool {
        match self {
            KeySet::Ascending(v) => match v.last() {
                Some(&last) if key == last => false,
                Some(&last) if key < last => self.hashed().insert(key),
                _ => {
                    v.push(key);
                    true
                }
            },
            KeySet::Runs(_) | KeySet::Unsorted { .. } => self.hashed().insert(key),
            KeySet::Hashed(s) => s.insert(key),
        }
    }

    /// Adds every key of `keys`; the number that were not there yet. While the keys ascend
    /// this is a loop of comparisons and pushes, with no per-key dispatch.
    pub(crate) fn extend(&mut self, keys: impl IntoIterator<Item = K>) -> usize {
        let mut keys = keys.into_iter();
        let mut new = 0;
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
    /// ascending set is copied in whole (one vectorized test, one copy); the first that does
    /// not turns the set into unsorted keys, which take each batch in whole.
    pub(crate) fn extend_slice(&mut self, batch: &[K]) -> usize {
        let (Some(first), held) = (batch.first(), self.held()) else {
            return 0;
        };
        match self {
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
            KeySet::Runs(runs) => Box::new(Union::new(runs)),
            KeySet::Hashed(s) => Box::new(s.iter().copied()),
            KeySet::Unsorted { keys, .. } => Box::new(keys.iter().copied()),
        }
    }

    /// Takes the keys out as buffers to ship: the ascending vector or the runs as they are
    /// (nothing copied), unsorted keys sorted, a hash set's keys sorted in one buffer; none
    /// for an empty set. Every run shipped strictly ascends.
    pub(crate) fn into_runs(mut self) -> Vec<ScalarBuffer<K>> {
        self.sort();
        match self {
            KeySet::Ascending(v) if v.is_empty() => Vec::new(),
            KeySet::Ascending(mut v) => {
                // A stream's reservation is given back before the keys travel (remapped, not
                // copied), so that the state's buffer is the size of its keys.
                if v.capacity() * size_of::<K>() >= STREAM_RESERVE_BYTES
                    && v.capacity() > 2 * v.len()
                {
                    v.shrink_to_fit();
                }
                vec![ScalarBuffer::from(v)]
            }
            KeySet::Runs(runs) => runs,
            KeySet::Unsorted { keys, .. } if keys.is_empty() => Vec::new(),
            KeySet::Unsorted { keys, .. } => vec![ScalarBuffer::from(keys)],
            KeySet::Hashed(s) if s.is_empty() => Vec::new(),
            KeySet::Hashed(s) => {
                let mut keys: Vec<K> = s.into_iter().collect();
                keys.sort_unstable();
                vec![ScalarBuffer::from(keys)]
            }
        }
    }

    /// Adds the keys of a partial state.
    pub(crate) fn merge(&mut self, run: ScalarBuffer<K>) {
        if run.is_empty() {
            return;
        }
        self.sort();
        if let KeySet::Unsorted { keys, .. } = self {
            // Sorted, they are one run among the others.
            *self = match std::mem::take(keys) {
                keys if keys.is_empty() => KeySet::default(),
                keys => KeySet::Runs(vec![keys.into()]),
            };
        }
        if !strictly_ascending(&run) {
            self.hashed().extend(run.iter().copied());
            return;
        }
        match self {
            KeySet::Ascending(v) if v.is_empty() => *self = KeySet::Runs(vec![run]),
            // A joined set (below) takes the runs that come after it by copying them in.
            KeySet::Ascending(v) if v.last() < run.first() && v.len() >= run.len() => {
                v.extend_from_slice(&run)
            }
            KeySet::Ascending(v) => {
                let own = ScalarBuffer::from(std::mem::take(v));
                *self = KeySet::Runs(vec![own, run]);
            }
            KeySet::Runs(runs) if runs.len() < MAX_RUNS => runs.push(run),
            KeySet::Runs(runs)
                if in_order(runs) && runs.last().and_then(|r| r.last()) < run.first() =>
            {
                // Many runs, each after the one before (partial states of a group read in
                // order): one ascending vector, which takes the next ones as they come.
                runs.push(run);
                let joined: Vec<K> = runs.iter().flat_map(|r| r.iter().copied()).collect();
                *self = KeySet::Ascending(joined);
            }
            _ => self.hashed().extend(run.iter().copied()),
        }
    }

    /// The same set with every key mapped by `f`, which must be injective and keep the keys'
    /// order (ascending vectors and runs stay as they are, in another width).
    pub(crate) fn map<L>(self, f: impl Fn(K) -> L) -> KeySet<L>
    where
        L: ArrowNativeType + Hash + Ord,
    {
        match self {
            KeySet::Ascending(v) => KeySet::Ascending(v.into_iter().map(f).collect()),
            KeySet::Runs(runs) => KeySet::Runs(
                runs.iter()
                    .map(|r| r.iter().map(|&k| f(k)).collect())
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
fn in_order<K: ArrowNativeType + Ord>(runs: &[ScalarBuffer<K>]) -> bool {
    runs.windows(2).all(|w| w[0].last() < w[1].first())
}

/// The number of distinct keys in the union of strictly ascending runs.
///
/// The runs are taken in the order of their first keys and grouped where their ranges
/// overlap; each group is counted by [`group_len`]. Partitions that read ordered files make
/// groups of one run, counted by their lengths; a partition whose file ranges are far apart
/// (DataFusion gives a partition the row groups that start in its byte range) makes one run
/// that spans others.
fn union_len<K: ArrowNativeType + Ord>(runs: &[ScalarBuffer<K>]) -> usize {
    let mut order: Vec<&[K]> = runs
        .iter()
        .map(|r| &r[..])
        .filter(|r| !r.is_empty())
        .collect();
    order.sort_unstable_by_key(|r| r[0]);
    let mut n = 0;
    let mut start = 0;
    while let Some(first) = order.get(start) {
        let mut end = first[first.len() - 1];
        let mut stop = start + 1;
        while let Some(next) = order.get(stop).filter(|r| r[0] <= end) {
            end = end.max(next[next.len() - 1]);
            stop += 1;
        }
        n += group_len(&order[start..stop]);
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
    runs: &'a [ScalarBuffer<K>],
    heap: BinaryHeap<Reverse<(K, usize, usize)>>,
    last: Option<K>,
}

impl<'a, K: ArrowNativeType + Ord> Union<'a, K> {
    fn new(runs: &'a [ScalarBuffer<K>]) -> Self {
        let heap = runs
            .iter()
            .enumerate()
            .filter_map(|(r, run)| run.first().map(|&k| Reverse((k, r, 0))))
            .collect();
        Union {
            runs,
            heap,
            last: None,
        }
    }
}

impl<K: ArrowNativeType + Ord> Iterator for Union<'_, K> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        while let Some(Reverse((k, r, i))) = self.heap.pop() {
            if let Some(&next) = self.runs[r].get(i + 1) {
                self.heap.push(Reverse((next, r, i + 1)));
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
        let mut s = KeySet::default();
        assert_eq!(s.extend([1u64, 1, 2, 5, 5, 7]), 4);
        assert!(matches!(s, KeySet::Ascending(_)));
        assert_eq!(s.extend([7, 8, 9]), 2, "the last key again is not new");
        assert_eq!(s.extend([10, 3, 11, 2, 11, 12]), 4, "10, 3, 11, 12");
        assert!(matches!(s, KeySet::Hashed(_)));
        assert_eq!(sorted(&s), [1, 2, 3, 5, 7, 8, 9, 10, 11, 12]);
        let mut r = KeySet::default();
        r.merge(vec![1u64, 2].into());
        r.merge(vec![5u64].into());
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
        let (mut whole, mut single) = (KeySet::default(), KeySet::default());
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
        let mut unique = KeySet::default();
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
        assert!(strictly_ascending(&runs[0]) && runs[0].len() == perm.len());

        // Mostly duplicates: 1,000 keys over and over, out of order.
        let mut dup = KeySet::default();
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
            &runs[0][..],
            (0..1000).collect::<Vec<u64>>(),
            "sorted to ship"
        );

        // Runs shipped from unsorted sets merge exactly, and an unsorted set takes a run.
        let mut left = KeySet::default();
        left.extend_slice(&[5, 1, 9, 9, 3]);
        let mut right = KeySet::default();
        right.extend_slice(&[2, 9, 4]);
        let mut last = KeySet::default();
        last.extend_slice(&[7, 6]);
        let mut total = KeySet::default();
        for r in left.into_runs().into_iter().chain(right.into_runs()) {
            total.merge(r);
        }
        assert_eq!(total.len(), 6);
        last.merge(ScalarBuffer::from(vec![1u64, 6, 8]));
        assert_eq!(last.len(), 4);
        assert_eq!(sorted(&last), [1, 6, 7, 8]);
        let mut to_insert = KeySet::default();
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
        let mut s = KeySet::default();
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
        let mut s = KeySet::default();
        s.merge(vec![10, 11, 12].into());
        s.merge(vec![13, 20].into());
        s.merge(vec![].into());
        assert!(
            matches!(&s, KeySet::Runs(r) if r.len() == 2),
            "kept apart, not copied"
        );
        assert_eq!(s.len(), 5, "disjoint runs: their lengths");
        s.merge(vec![1, 2].into());
        assert_eq!(s.len(), 7);
        s.merge(vec![0, 12, 14, 21].into());
        assert_eq!(s.len(), 10);
        assert_eq!(
            s.keys().collect::<Vec<_>>(),
            [0, 1, 2, 10, 11, 12, 13, 14, 20, 21]
        );
        // Two overlapping runs take the counting pass, more the k-way merge; both exact.
        let mut two = KeySet::default();
        two.merge(vec![1, 3, 5, 7].into());
        two.merge(vec![2, 3, 4, 7, 9].into());
        assert_eq!(two.len(), 7);
        // A key inserted into runs, or a run out of order, makes a hash set.
        assert!(!s.insert(11));
        assert!(matches!(s, KeySet::Hashed(_)));
        s.merge(vec![30, 2, 31].into());
        assert_eq!(sorted(&s), [0, 1, 2, 10, 11, 12, 13, 14, 20, 21, 30, 31]);
        let mut t = KeySet::default();
        t.merge(vec![5, 3].into());
        assert!(
            matches!(t, KeySet::Hashed(_)),
            "a run out of order is hashed"
        );
        assert_eq!(sorted(&t), [3, 5]);
        // Past MAX_RUNS overlapping runs a group is hashed, still exact.
        let mut many = KeySet::default();
        for r in 0..(MAX_RUNS as u64 + 5) {
            many.merge((r..r + 10).collect::<Vec<_>>().into());
        }
        assert!(matches!(many, KeySet::Hashed(_)));
        assert_eq!(many.len(), MAX_RUNS + 14);
        // Past MAX_RUNS, runs that came in order are joined into one vector, which takes the
        // next ones in; runs that came out of order are hashed (no repeated joins). Exact.
        let mut apart = KeySet::default();
        for r in 0..(MAX_RUNS as u64 + 5) {
            apart.merge(vec![r * 10, r * 10 + 1].into());
        }
        assert!(matches!(&apart, KeySet::Ascending(v) if v.len() == 2 * (MAX_RUNS + 5)));
        assert_eq!(apart.len(), 2 * (MAX_RUNS + 5));
        let mut reversed = KeySet::default();
        for r in (0..(MAX_RUNS as u64 + 5)).rev() {
            reversed.merge(vec![r * 10, r * 10 + 1].into());
        }
        assert!(matches!(reversed, KeySet::Hashed(_)));
        assert_eq!(reversed.len(), 2 * (MAX_RUNS + 5));
        let keys: Vec<u64> = apart.keys().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]) && keys.len() == 2 * (MAX_RUNS + 5));
        // Shipped as they are: the vector, the runs, a hash set's keys in one buffer.
        assert!(KeySet::<u64>::default().into_runs().is_empty());
        let mut one = KeySet::default();
        one.insert(4u64);
        one.insert(9);
        assert_eq!(one.into_runs(), [ScalarBuffer::from(vec![4u64, 9])]);
        assert_eq!(apart.into_runs().len(), 1, "the joined vector");
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
            let mut s = KeySet::default();
            s.merge(a.into());
            s.merge(b.into());
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
            let buffers: Vec<ScalarBuffer<u64>> = runs.iter().cloned().map(Into::into).collect();
            assert_eq!(union_len(&buffers), want.len(), "{runs:?}");
            let mut reversed = buffers.clone();
            reversed.reverse();
            assert_eq!(union_len(&reversed), want.len());
            let mut s = KeySet::default();
            for r in buffers {
                s.merge(r);
            }
            assert_eq!(s.len(), want.len());
        }
    }
}
