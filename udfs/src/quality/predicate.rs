//! The row tests of the counting aggregates: one batch in, two bitmaps out ("row matches",
//! "row is in the denominator"), computed with Arrow kernels or straight over the string views.

use std::collections::HashSet;

use ahash::RandomState;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, StringViewArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::compute::kernels::boolean::{and, not, or};
use datafusion::arrow::compute::kernels::cmp::{eq, gt_eq, lt_eq};
use datafusion::arrow::compute::{cast, is_not_null, is_null, prep_null_mask_filter, take};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use regex::Regex;

use crate::common::is_string;
use crate::quality::strings::for_each_str;

/// NULL → false (Arrow's `prep_null_mask_filter` requires a null buffer).
fn nulls_as_false(b: &BooleanArray) -> BooleanArray {
    if b.null_count() == 0 {
        b.clone()
    } else {
        prep_null_mask_filter(b)
    }
}

/// What a row must satisfy to be counted, with the literal arguments read once.
#[derive(Debug)]
pub(crate) enum Predicate {
    Null,
    Nan,
    Missing(Vec<ScalarValue>),
    In(Vec<ScalarValue>),
    Regex(Box<Regex>),
    Range(ScalarValue, ScalarValue),
}

/// `true` where `x` equals one of `values` (NULLs give `false`).
///
/// Strings take one pass testing each row against the list (a hash set beyond a few values);
/// other types one Arrow `eq` kernel per listed value.
fn in_list(x: &ArrayRef, values: &[ScalarValue]) -> Result<BooleanArray> {
    if let DataType::Dictionary(_, value_type) = x.data_type()
        && is_string(value_type)
    {
        // Test the dictionary's values once, then look the answers up by key.
        let dict = x.as_any_dictionary();
        let hits = in_string_list(dict.values(), values)?;
        let by_key = take(&hits, dict.keys(), None)?;
        return Ok(nulls_as_false(by_key.as_boolean()));
    }
    if is_string(x.data_type()) {
        return in_string_list(x, values);
    }
    let mut acc = BooleanArray::from(vec![false; x.len()]);
    for v in values {
        let v = v.cast_to(x.data_type())?;
        let hit = eq(x, &v.to_scalar()?)?;
        acc = or(&acc, &nulls_as_false(&hit))?;
    }
    Ok(acc)
}

/// Up to this many listed values, a linear scan (length compared first) beats hashing each row.
const LINEAR_LIST_MAX: usize = 8;

fn in_string_list(x: &ArrayRef, values: &[ScalarValue]) -> Result<BooleanArray> {
    let mut listed = Vec::with_capacity(values.len());
    for v in values {
        match v.cast_to(&DataType::Utf8)? {
            ScalarValue::Utf8(Some(s)) => listed.push(s),
            ScalarValue::Utf8(None) => {}
            other => return exec_err!("expected a string list value, got {other:?}"),
        }
    }
    if listed.len() <= LINEAR_LIST_MAX && x.data_type() == &DataType::Utf8View {
        return Ok(in_short_list_view(x.as_string_view(), &listed));
    }
    let mut hits = BooleanBufferBuilder::new(x.len());
    if listed.len() <= LINEAR_LIST_MAX {
        for_each_str(x, |_, s| {
            hits.append(s.is_some_and(|s| listed.iter().any(|l| l.as_str() == s)))
        })?;
    } else {
        let set: HashSet<&str, RandomState> = listed.iter().map(String::as_str).collect();
        for_each_str(x, |_, s| hits.append(s.is_some_and(|s| set.contains(s))))?;
    }
    Ok(BooleanArray::new(hits.finish(), None))
}

/// [`in_string_list`] for a short list over Utf8View, working on the views: a view holds the
/// length and, up to 12 bytes, the whole string (else its first 4 bytes), so most rows are
/// decided by comparing integers, without touching the data buffers.
fn in_short_list_view(a: &StringViewArray, listed: &[String]) -> BooleanArray {
    struct Listed<'a> {
        len: u32,
        /// The view's bytes after the length (inline data, or the 4-byte prefix), masked to
        /// the string's length.
        head: u128,
        text: &'a str,
    }
    // The bits after the 4-byte length that a view of a `len`-byte string compares by: the
    // inline string up to 12 bytes, else the 4-byte prefix.
    fn head_mask(len: u32) -> u128 {
        let bytes = if len > 12 { 4 } else { len };
        if bytes == 0 {
            0
        } else {
            u128::MAX >> (128 - 8 * bytes)
        }
    }
    let listed: Vec<Listed> = listed
        .iter()
        .filter_map(|l| {
            let len = u32::try_from(l.len()).ok()?;
            let mut head = [0u8; 16];
            let n = l.len().min(12);
            head[..n].copy_from_slice(&l.as_bytes()[..n]);
            Some(Listed {
                len,
                head: u128::from_le_bytes(head) & head_mask(len),
                text: l,
            })
        })
        .collect();
    let views = a.views();
    let bits = if listed.iter().all(|l| l.len <= 12) {
        in_inline_list(
            views,
            &listed
                .iter()
                .map(|l| u128::from(l.len) | l.head << 32)
                .collect::<Vec<_>>(),
        )
    } else {
        BooleanBuffer::collect_bool(a.len(), |row| {
            let view = views[row];
            let len = view as u32;
            let head = (view >> 32) & head_mask(len);
            listed.iter().any(|l| {
                // Inline strings are equal when their heads are; longer ones when the prefix
                // matches and then the bytes.
                l.len == len && l.head == head && (len <= 12 || a.value(row) == l.text)
            })
        })
    };
    let bits = match a.nulls() {
        Some(nulls) => &bits & nulls.inner(),
        None => bits,
    };
    BooleanArray::new(bits, None)
}

/// The listed views in a small table where a masked view is found with one multiply and one
/// comparison: a multiplicative hash whose multiplier is picked so that no two listed values
/// share a slot. A slot holds a listed view or [`ViewTable::EMPTY`], which no masked view
/// equals, so a row is listed exactly when its slot holds its own view.
struct ViewTable {
    slots: Vec<u128>,
    mul: u64,
    shift: u32,
}

impl ViewTable {
    /// All bits set: a length of `u32::MAX` with inline bytes, which masking never leaves.
    const EMPTY: u128 = u128::MAX;

    /// Beyond this many values the table is not tried (its size grows as the square).
    const MAX_VALUES: usize = 16;

    /// `None` for more than [`Self::MAX_VALUES`] values, or when none of the multipliers tried
    /// separates them.
    fn new(listed: &[u128]) -> Option<ViewTable> {
        if listed.len() > Self::MAX_VALUES {
            return None;
        }
        // n² slots (at least 16): a multiplier separates n values with a chance above one half
        // per try, and the table of at most 256 slots stays in the first-level cache.
        let bits = (listed.len() * listed.len())
            .next_power_of_two()
            .trailing_zeros()
            .max(4);
        let shift = 64 - bits;
        let mut mul: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..64 {
            let mut slots = vec![Self::EMPTY; 1 << bits];
            let separated = listed.iter().all(|&l| {
                let slot = &mut slots[Self::slot(l, mul, shift)];
                let free = *slot == Self::EMPTY || *slot == l;
                *slot = l;
                free
            });
            if separated {
                return Some(ViewTable { slots, mul, shift });
            }
            mul = mul.wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1;
        }
        None
    }

    #[inline]
    fn slot(view: u128, mul: u64, shift: u32) -> usize {
        (((view as u64) ^ ((view >> 64) as u64)).wrapping_mul(mul) >> shift) as usize
    }

    #[inline]
    fn contains(&self, view: u128) -> bool {
        self.slots[Self::slot(view, self.mul, self.shift)] == view
    }
}

/// [`in_short_list_view`] when every listed string is inline (at most 12 bytes), the common
/// case of a short code list. A row's view, masked to its length and inline bytes, then equals
/// a listed value's view exactly when the strings are equal. It is looked up in a
/// [`ViewTable`]; failing one, every listed value is compared without stopping at the first
/// hit, so that the loop has no branches to mispredict (which value a row holds is as good as
/// random).
fn in_inline_list(views: &[u128], listed: &[u128]) -> BooleanBuffer {
    // MASKS[n] keeps the length and n inline bytes; a row longer than 12 bytes keeps only its
    // length, which no listed value has.
    const MASKS: [u128; 14] = {
        let mut m = [0u128; 14];
        let mut n = 0;
        while n < 14 {
            let data = if n == 0 || n == 13 {
                0
            } else {
                (u128::MAX >> (128 - 8 * n)) << 32
            };
            m[n] = data | u32::MAX as u128;
            n += 1;
        }
        m
    };
    let masked = |row: usize| {
        let view: u128 = views[row];
        view & MASKS[(view as u32).min(13) as usize]
    };
    if let Some(table) = ViewTable::new(listed) {
        return BooleanBuffer::collect_bool(views.len(), |row| table.contains(masked(row)));
    }
    BooleanBuffer::collect_bool(views.len(), |row| {
        let key = masked(row);
        listed.iter().fold(false, |hit, &l| hit | (l == key))
    })
}

impl Predicate {
    /// Returns (matches, eligible) for a batch; `eligible = None` means every row.
    pub(crate) fn eval(&self, x: &ArrayRef) -> Result<(BooleanArray, Option<BooleanArray>)> {
        match self {
            Predicate::Null => Ok((is_null(x.as_ref())?, None)),
            Predicate::Nan => {
                fn nan_mask<T: Copy>(
                    vals: &[T],
                    nulls: Option<&NullBuffer>,
                    is_nan: impl Fn(T) -> bool,
                ) -> BooleanArray {
                    let bits = BooleanBuffer::collect_bool(vals.len(), |i| is_nan(vals[i]));
                    let bits = match nulls {
                        Some(n) => &bits & n.inner(),
                        None => bits,
                    };
                    BooleanArray::new(bits, None)
                }
                let nan = match x.data_type() {
                    DataType::Float64 => {
                        let a = x.as_primitive::<Float64Type>();
                        nan_mask(a.values(), a.nulls(), f64::is_nan)
                    }
                    DataType::Float32 => {
                        let a = x.as_primitive::<Float32Type>();
                        nan_mask(a.values(), a.nulls(), f32::is_nan)
                    }
                    DataType::Float16 => {
                        let f = cast(x, &DataType::Float64)?;
                        let a = f.as_primitive::<Float64Type>();
                        nan_mask(a.values(), a.nulls(), f64::is_nan)
                    }
                    _ => BooleanArray::from(vec![false; x.len()]),
                };
                Ok((nan, None))
            }
            Predicate::Missing(values) => {
                let mut m = or(&is_null(x.as_ref())?, &in_list(x, values)?)?;
                if is_string(x.data_type()) {
                    let mut blank = BooleanBufferBuilder::new(x.len());
                    for_each_str(x, |_, s| {
                        blank.append(s.is_some_and(|s| s.trim().is_empty()))
                    })?;
                    m = or(&m, &BooleanArray::new(blank.finish(), None))?;
                }
                Ok((m, None))
            }
            Predicate::In(values) => {
                let eligible = is_not_null(x.as_ref())?;
                let valid = in_list(x, values)?;
                Ok((and(&eligible, &not(&valid)?)?, Some(eligible)))
            }
            Predicate::Regex(re) => {
                let eligible = is_not_null(x.as_ref())?;
                let mut bad = BooleanBufferBuilder::new(x.len());
                for_each_str(x, |_, s| bad.append(s.is_some_and(|s| !re.is_match(s))))?;
                Ok((BooleanArray::new(bad.finish(), None), Some(eligible)))
            }
            Predicate::Range(lo, hi) => {
                let eligible = is_not_null(x.as_ref())?;
                let mut valid = eligible.clone();
                if !lo.is_null() {
                    let lo = lo.cast_to(x.data_type())?;
                    let ge = nulls_as_false(&gt_eq(x, &lo.to_scalar()?)?);
                    valid = and(&valid, &ge)?;
                }
                if !hi.is_null() {
                    let hi = hi.cast_to(x.data_type())?;
                    let le = nulls_as_false(&lt_eq(x, &hi.to_scalar()?)?);
                    valid = and(&valid, &le)?;
                }
                Ok((and(&eligible, &not(&valid)?)?, Some(eligible)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::StringViewArray;

    use super::*;

    /// A deterministic stream of numbers (splitmix64).
    fn numbers(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    /// Strings of 0 to 14 bytes over a small alphabet, so that rows often equal listed values,
    /// share their prefix or their length.
    fn word(next: &mut impl FnMut() -> u64) -> String {
        let len = (next() % 15) as usize;
        (0..len)
            .map(|_| b"AB \xc3"[(next() % 3) as usize] as char)
            .collect()
    }

    /// The table (or, failing one, the comparison with each value) agrees with a plain `contains`
    /// over lists of 1 to 40 inline strings, duplicates and the empty string included.
    #[test]
    fn inline_lists_match_a_plain_search() {
        let mut next = numbers(7);
        for n in 1..=40 {
            let listed: Vec<String> = (0..n)
                .map(|_| word(&mut next))
                .filter(|w| w.len() <= 12)
                .collect();
            if listed.is_empty() {
                continue;
            }
            let rows: Vec<Option<String>> = (0..500)
                .map(|i| match i % 7 {
                    0 => None,
                    1 => Some(listed[(next() as usize) % listed.len()].clone()),
                    _ => Some(word(&mut next)),
                })
                .collect();
            let array = StringViewArray::from_iter(rows.iter().map(|r| r.as_deref()));
            let got = in_short_list_view(&array, &listed);
            for (row, r) in rows.iter().enumerate() {
                let want = r.as_ref().is_some_and(|r| listed.contains(r));
                assert_eq!(got.value(row), want, "{r:?} in {listed:?}");
            }
        }
    }

    #[test]
    fn a_table_separates_short_lists() {
        let mut next = numbers(11);
        for n in 1..=ViewTable::MAX_VALUES {
            let listed: Vec<u128> = (0..n).map(|_| u128::from(next()) << 32 | 5).collect();
            let table = ViewTable::new(&listed).expect("a multiplier separates the values");
            assert!(listed.iter().all(|&l| table.contains(l)));
            assert!(!table.contains(ViewTable::EMPTY & !(u128::from(u32::MAX))));
        }
        // The empty list: a table that holds nothing; a long list: no table.
        assert!(!ViewTable::new(&[]).unwrap().contains(0));
        assert!(ViewTable::new(&[0; ViewTable::MAX_VALUES + 1]).is_none());
    }
}
