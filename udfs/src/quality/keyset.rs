//! The distinct numeric keys of one group, for `distinct_count` / `duplicate_count`.
//!
//! Tables are very often written in key order (an id that only grows, a table sorted or
//! clustered on its primary key), and DataFusion reads each partition's file ranges one after
//! another. While the keys arrive in ascending order a group keeps them as an ascending
//! vector: a key equal to the last is a duplicate, a greater one is new, and nothing is
//! hashed. The first key out of order turns the vector into a hash set, once, and the group
//! goes on as a hash set. Partial states of ascending groups arrive as ascending runs: one
//! that starts after the last key is appended, overlapping ones are kept apart and counted by
//! one merge at the end, without building their union.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::hash::Hash;

use ahash::RandomState;

type FastSet<T> = HashSet<T, RandomState>;

#[derive(Debug)]
pub(crate) enum KeySet<K> {
    /// Every key seen so far, each once, strictly ascending.
    Ascending(Vec<K>),
    /// Partial states' runs, each strictly ascending, kept apart until counted: runs that
    /// overlap (partitions that read files in turn) are counted by one merge at the end,
    /// without building their union.
    Runs(Vec<Vec<K>>),
    Hashed(FastSet<K>),
}

/// Beyond this many runs a group is hashed (a merge of more runs costs more per key).
const MAX_RUNS: usize = 32;

impl<K> Default for KeySet<K> {
    fn default() -> Self {
        KeySet::Ascending(Vec::new())
    }
}

impl<K: Hash + Ord + Copy> KeySet<K> {
    /// The number of distinct keys (for runs: one merge over them).
    pub(crate) fn len(&self) -> usize {
        match self {
            KeySet::Ascending(v) => v.len(),
            KeySet::Runs(runs) => union_len(runs),
            KeySet::Hashed(s) => s.len(),
        }
    }

    /// The keys held, duplicates between runs included: what the set's memory holds.
    pub(crate) fn held(&self) -> usize {
        match self {
            KeySet::Runs(runs) => runs.iter().map(Vec::len).sum(),
            _ => self.len(),
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
            KeySet::Runs(_) => self.hashed().insert(key),
            KeySet::Hashed(s) => s.insert(key),
        }
    }

    /// The keys, each once (ascending unless hashed).
    pub(crate) fn keys(&self) -> Box<dyn Iterator<Item = K> + '_> {
        match self {
            KeySet::Ascending(v) => Box::new(v.iter().copied()),
            KeySet::Runs(runs) => Box::new(Union::new(runs)),
            KeySet::Hashed(s) => Box::new(s.iter().copied()),
        }
    }

    /// Adds the keys of a partial state.
    pub(crate) fn merge(&mut self, run: Vec<K>) {
        if run.is_empty() {
            return;
        }
        let ascending = run.windows(2).all(|w| w[0] < w[1]);
        match self {
            KeySet::Ascending(v) if ascending => {
                if v.is_empty() {
                    *v = run;
                } else if v.last() < run.first() {
                    v.extend(run);
                } else {
                    *self = KeySet::Runs(vec![std::mem::take(v), run]);
                }
            }
            KeySet::Runs(runs) if ascending && runs.len() < MAX_RUNS => runs.push(run),
            _ => self.hashed().extend(run),
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

/// The number of distinct keys in the union of strictly ascending runs.
fn union_len<K: Ord + Copy>(runs: &[Vec<K>]) -> usize {
    match runs {
        [] => 0,
        [a] => a.len(),
        [a, b] => {
            // Two runs (two partitions, the common case): one pass, nothing built.
            let (mut i, mut j, mut n) = (0, 0, 0);
            while i < a.len() && j < b.len() {
                let (x, y) = (a[i], b[j]);
                i += usize::from(x <= y);
                j += usize::from(y <= x);
                n += 1;
            }
            n + (a.len() - i) + (b.len() - j)
        }
        _ => Union::new(runs).count(),
    }
}

/// The ascending union of strictly ascending runs, each key once (a k-way merge).
struct Union<'a, K> {
    runs: &'a [Vec<K>],
    heap: BinaryHeap<Reverse<(K, usize, usize)>>,
    last: Option<K>,
}

impl<'a, K: Ord + Copy> Union<'a, K> {
    fn new(runs: &'a [Vec<K>]) -> Self {
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

impl<K: Ord + Copy> Iterator for Union<'_, K> {
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
        s.merge(vec![10, 11, 12]);
        s.merge(vec![13, 20]);
        s.merge(vec![]);
        assert!(matches!(s, KeySet::Ascending(_)), "appended");
        assert_eq!(s.len(), 5);
        s.merge(vec![1, 2]);
        assert!(matches!(s, KeySet::Runs(_)), "kept apart");
        assert_eq!(s.len(), 7);
        s.merge(vec![0, 12, 14, 21]);
        assert_eq!(s.len(), 10);
        assert_eq!(
            s.keys().collect::<Vec<_>>(),
            [0, 1, 2, 10, 11, 12, 13, 14, 20, 21]
        );
        // Two overlapping runs take the counting pass, more the k-way merge; both exact.
        let mut two = KeySet::default();
        two.merge(vec![1, 3, 5, 7]);
        two.merge(vec![2, 3, 4, 7, 9]);
        assert_eq!(two.len(), 7);
        // A key inserted into runs, or a run out of order, makes a hash set.
        assert!(!s.insert(11));
        assert!(matches!(s, KeySet::Hashed(_)));
        s.merge(vec![30, 2, 31]);
        assert_eq!(sorted(&s), [0, 1, 2, 10, 11, 12, 13, 14, 20, 21, 30, 31]);
        let mut t = KeySet::default();
        t.merge(vec![5, 3]);
        assert!(
            matches!(t, KeySet::Hashed(_)),
            "a run out of order is hashed"
        );
        assert_eq!(sorted(&t), [3, 5]);
        // Past MAX_RUNS overlapping runs a group is hashed, still exact.
        let mut many = KeySet::default();
        for r in 0..(MAX_RUNS as u64 + 5) {
            many.merge((r..r + 10).collect());
        }
        assert!(matches!(many, KeySet::Hashed(_)));
        assert_eq!(many.len(), MAX_RUNS + 14);
    }
}
