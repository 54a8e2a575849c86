//! The distinct pairs of numeric keys of one group (`duplicate_count(order, line)`), in 64 bits
//! while every key fits in 32.
//!
//! A pair is hashed, kept and shipped as one value: the first key's 64 bits above the
//! second's, an `i128`. Most composite keys are small non-negative integers (an order number
//! and a line number), and both fit in 32 bits: the pair is then one `u64`, the first above
//! the second, which orders pairs as the `i128` does and halves what the set holds and writes
//! (6 million pairs of TPC-H lineitem at SF1: 48 MB instead of 96). A group starts narrow and
//! turns wide, once, at the first pair that does not fit; its keys are widened in place,
//! keeping their order.

use datafusion::arrow::buffer::ScalarBuffer;

use super::keyset::{KeySet, Run};

/// Both keys' bits below 2^32.
const NARROW: u64 = 1 << 32;

/// The wide key of a pair: the first key's bits above the second's.
pub(crate) fn wide(a: u64, b: u64) -> i128 {
    ((u128::from(a) << 64) | u128::from(b)) as i128
}

/// The narrow key of a pair both of whose keys fit in 32 bits.
pub(crate) fn narrow(a: u64, b: u64) -> Option<u64> {
    (a < NARROW && b < NARROW).then_some((a << 32) | b)
}

/// A narrow key as the wide key of the same pair.
fn widen(k: u64) -> i128 {
    wide(k >> 32, k & (NARROW - 1))
}

#[derive(Debug)]
pub(crate) enum PairSet {
    Narrow(KeySet<u64>),
    Wide(KeySet<i128>),
}

impl Default for PairSet {
    fn default() -> Self {
        PairSet::Narrow(KeySet::default())
    }
}

impl PairSet {
    pub(crate) fn len(&mut self) -> usize {
        match self {
            PairSet::Narrow(s) => s.len(),
            PairSet::Wide(s) => s.len(),
        }
    }

    /// The bytes the set holds ([`KeySet::held_bytes`]).
    pub(crate) fn held_bytes(&self) -> usize {
        match self {
            PairSet::Narrow(s) => s.held_bytes(),
            PairSet::Wide(s) => s.held_bytes(),
        }
    }

    /// The set as wide keys (widening it once if it was narrow).
    fn wide(&mut self) -> &mut KeySet<i128> {
        if let PairSet::Narrow(s) = self {
            *self = PairSet::Wide(std::mem::take(s).map(widen));
        }
        match self {
            PairSet::Wide(s) => s,
            PairSet::Narrow(_) => unreachable!("widened above"),
        }
    }

    /// [`KeySet::start_stream`], at the width the set has.
    pub(crate) fn start_stream(&mut self) {
        match self {
            PairSet::Narrow(s) => s.start_stream(),
            PairSet::Wide(s) => s.start_stream(),
        }
    }

    /// Adds the pair `(a, b)`; `true` if it was not there yet.
    pub(crate) fn insert(&mut self, a: u64, b: u64) -> bool {
        if let PairSet::Narrow(s) = self
            && let Some(k) = narrow(a, b)
        {
            return s.insert(k);
        }
        self.wide().insert(wide(a, b))
    }

    /// Adds the pairs `(a[i], b[i])` of a whole column's batch ([`KeySet::extend_slice`]);
    /// the number of keys the set holds more. A batch whose keys all fit goes in narrow, tested
    /// with one pass of ORs over each column.
    pub(crate) fn extend(&mut self, a: &[u64], b: &[u64]) -> usize {
        if let PairSet::Narrow(s) = self {
            let bits = a.iter().fold(0, |m, &x| m | x) | b.iter().fold(0, |m, &x| m | x);
            if bits < NARROW {
                if let Some(more) = s.extend_pairs(a, b) {
                    return more;
                }
                let keys: Vec<u64> = a.iter().zip(b).map(|(&a, &b)| (a << 32) | b).collect();
                return s.extend_slice(&keys);
            }
        }
        self.wide()
            .extend(a.iter().zip(b).map(|(&a, &b)| wide(a, b)))
    }

    /// Adds a partial state's run: narrow keys (`is_wide = false`, 8 bytes each, or packed)
    /// or wide ones.
    pub(crate) fn merge_narrow(&mut self, run: impl Into<Run<u64>>) {
        match self {
            PairSet::Narrow(s) => s.merge(run),
            PairSet::Wide(s) => {
                let wide: ScalarBuffer<i128> =
                    run.into().plain().iter().map(|&k| widen(k)).collect();
                s.merge(wide)
            }
        }
    }

    pub(crate) fn merge_wide(&mut self, run: impl Into<Run<i128>>) {
        self.wide().merge(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_keys_order_as_wide_ones_and_widen_to_them() {
        let pairs = [
            (0, 0),
            (0, 1),
            (0, NARROW - 1),
            (1, 0),
            (5, 7),
            (NARROW - 1, NARROW - 1),
        ];
        for w in pairs.windows(2) {
            let (x, y) = (w[0], w[1]);
            assert!(narrow(x.0, x.1) < narrow(y.0, y.1));
            assert!(wide(x.0, x.1) < wide(y.0, y.1));
        }
        for (a, b) in pairs {
            assert_eq!(widen(narrow(a, b).unwrap()), wide(a, b));
        }
        assert_eq!(narrow(NARROW, 0), None);
        assert_eq!(narrow(0, NARROW), None);
        assert_eq!(narrow(u64::MAX, 1), None, "a negative key's bits");
    }

    #[test]
    fn a_set_turns_wide_at_the_first_pair_that_does_not_fit_and_counts_exactly() {
        let mut s = PairSet::default();
        assert_eq!(s.extend(&[1, 1, 2], &[1, 2, 1]), 3);
        assert!(matches!(s, PairSet::Narrow(KeySet::Ascending(_))));
        // A key of 2^32 and a negative one (its bits are above 2^63).
        assert_eq!(s.extend(&[2, NARROW, (-1i64) as u64], &[1, 1, 3]), 2);
        assert!(matches!(s, PairSet::Wide(_)));
        assert!(!s.insert(1, 2), "a narrow pair seen before it widened");
        assert!(s.insert(3, 3));
        assert_eq!(s.len(), 6);
        // A narrow run merged into a wide set is widened; a wide run into a narrow one widens it.
        s.merge_narrow(ScalarBuffer::from(vec![(1u64 << 32) | 1, (9 << 32) | 9]));
        assert_eq!(s.len(), 7);
        let mut n = PairSet::default();
        assert!(n.insert(4, 4));
        n.merge_wide(ScalarBuffer::from(vec![wide(4, 4), wide(NARROW, 0)]));
        assert!(matches!(n, PairSet::Wide(_)));
        assert_eq!(n.len(), 2);
    }

    /// A whole column's pairs that ascend are packed from the columns; a batch that does not
    /// ascend, or starts at or below the last pair, goes the way keys do; always the set of
    /// pair-by-pair inserts.
    #[test]
    fn a_streams_ascending_pairs_are_packed_from_the_columns() {
        let batches: Vec<(Vec<u64>, Vec<u64>)> = vec![
            (
                (1..2000).flat_map(|o| [o, o, o]).collect(),
                (1..2000).flat_map(|_| [1, 2, 3]).collect(),
            ),
            (vec![1999, 2000, 2000], vec![4, 1, 7]),
            (vec![2000], vec![7]),
            (vec![2001, 2001, 2002], vec![5, 5, 1]),
            (vec![2003, 2004], vec![9, 1]),
        ];
        let (mut stream, mut single) = (PairSet::default(), PairSet::default());
        for (i, (a, b)) in batches.iter().enumerate() {
            stream.start_stream();
            stream.extend(a, b);
            for (&a, &b) in a.iter().zip(b) {
                single.insert(a, b);
            }
            let packed = matches!(stream, PairSet::Narrow(KeySet::Packed(_)));
            assert_eq!(packed, i < 2, "batch {i}");
            assert_eq!(stream.len(), single.len(), "batch {i}");
        }
        assert_eq!(single.len(), 1999 * 3 + 3 + 2 + 2);
    }
}
