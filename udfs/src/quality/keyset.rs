//! The distinct numeric keys of one group, for `distinct_count` / `duplicate_count`.
//!
//! Tables are very often written in key order (an id that only grows, a table sorted or
//! clustered on its primary key), and DataFusion reads each partition's file ranges one after
//! another. While the keys arrive in ascending order a group keeps them as an ascending
//! vector: a key equal to the last is a duplicate, a greater one is new, and nothing is
//! hashed. The first key out of order turns the vector into a hash set, once, and the group
//! goes on as a hash set. Partial states of ascending groups arrive as ascending runs, which
//! join by appending when their ranges do not overlap.

use std::collections::HashSet;
use std::hash::Hash;

use ahash::RandomState;

pub(crate) type FastSet<T> = HashSet<T, RandomState>;

#[derive(Debug)]
pub(crate) enum KeySet<K> {
    /// Every key seen so far, each once, strictly ascending.
    Ascending(Vec<K>),
    Hashed(FastSet<K>),
}

impl<K> Default for KeySet<K> {
    fn default() -> Self {
        KeySet::Ascending(Vec::new())
    }
}

impl<K: Hash + Ord + Copy> KeySet<K> {
    pub(crate) fn len(&self) -> usize {
        match self {
            KeySet::Ascending(v) => v.len(),
            KeySet::Hashed(s) => s.len(),
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
            KeySet::Hashed(s) => s.insert(key),
        }
    }

    /// The keys (ascending while the set is).
    pub(crate) fn keys(&self) -> Box<dyn Iterator<Item = K> + '_> {
        match self {
            KeySet::Ascending(v) => Box::new(v.iter().copied()),
            KeySet::Hashed(s) => Box::new(s.iter().copied()),
        }
    }

    /// Adds the keys of a partial state; returns how many were new.
    pub(crate) fn merge(&mut self, run: Vec<K>) -> usize {
        let before = self.len();
        let ascending = run.windows(2).all(|w| w[0] < w[1]);
        match self {
            KeySet::Ascending(v) if ascending => match (v.first(), v.last(), run.first()) {
                (_, _, None) => {}
                (None, _, _) => *v = run,
                (_, Some(&last), Some(&first)) if first > last => v.extend(run),
                (Some(&first), _, _) if run.last().is_some_and(|&l| l < first) => {
                    v.splice(0..0, run);
                }
                // Overlapping runs: a hash set from here on (merging ascending runs in place
                // could cost a copy of the whole set per state merged).
                _ => self.hashed().extend(run),
            },
            _ => self.hashed().extend(run),
        }
        self.len() - before
    }

    /// The set as a hash set (converting it once if it was ascending).
    fn hashed(&mut self) -> &mut FastSet<K> {
        if let KeySet::Ascending(v) = self {
            let mut set = FastSet::with_capacity_and_hasher(v.len() * 2, RandomState::new());
            set.extend(v.iter().copied());
            *self = KeySet::Hashed(set);
        }
        match self {
            KeySet::Hashed(s) => s,
            KeySet::Ascending(_) => unreachable!("converted above"),
        }
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
        assert_eq!(s.merge(vec![10, 11, 12]), 3);
        assert_eq!(s.merge(vec![13, 20]), 2);
        assert_eq!(s.merge(vec![1, 2]), 2);
        assert_eq!(s.merge(vec![]), 0);
        assert!(matches!(s, KeySet::Ascending(_)));
        assert_eq!(s.keys().collect::<Vec<_>>(), [1, 2, 10, 11, 12, 13, 20]);
        // Overlapping, and not ascending: both counted exactly.
        assert_eq!(s.merge(vec![12, 14]), 1);
        assert_eq!(s.merge(vec![30, 2, 31]), 2);
        assert_eq!(sorted(&s), [1, 2, 10, 11, 12, 13, 14, 20, 30, 31]);
        let mut t = KeySet::default();
        t.merge(vec![5, 3]);
        assert!(
            matches!(t, KeySet::Hashed(_)),
            "a run out of order is hashed"
        );
        assert_eq!(sorted(&t), [3, 5]);
    }
}
