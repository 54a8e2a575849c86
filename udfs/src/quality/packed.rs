//! A whole column's strictly ascending 64-bit keys, packed: what `duplicate_count` and
//! `distinct_count` hold for keys that arrive in key order, instead of 8 bytes a key.
//!
//! Keys go in blocks of at most [`BLOCK`], each by frame of reference on the key's two 32-bit
//! halves: the high halves as offsets from the block's first, the low halves as offsets from
//! the block's least, each in the fewest whole bytes (0, 1, 2 or 4) that hold the block's
//! largest offset. A pair's key (an order number above a line number: TPC-H lineitem's primary
//! key) takes about 2 bytes instead of 8, an id that grows by steps of 1 or 2 takes 1. Fresh
//! memory is what a large set costs most (the system faults in and zeroes each page written),
//! so a set a quarter the size saves most of that.
//!
//! Layout, little-endian:
//! - each block: its number of keys less one (1 byte); the two widths in bytes (1 byte, the
//!   high halves' in the low nibble); the first key's high half (4 bytes); the block's least
//!   low half (4 bytes); then each key's high offset; then each key's low offset;
//! - zero bytes up to a multiple of 8;
//! - a trailer of 36 bytes: the blocks' length in bytes, the number of keys, the first key and
//!   the last (8 bytes each), then [`MAGIC`] (4 bytes).
//!
//! A packed run's length is therefore 4 more than a multiple of 8, which no run of plain 8- or
//! 16-byte keys has: that is how a partial state tells the two apart ([`is_packed`]). A run is
//! never empty.

use datafusion::arrow::buffer::Buffer;

/// Keys a block holds at most.
pub(crate) const BLOCK: usize = 128;
const HEADER: usize = 10;
const TRAILER: usize = 36;
const MAGIC: [u8; 4] = *b"RKP1";

/// `true` if a run of `len` bytes is packed (not a whole number of 8-byte keys).
pub(crate) fn is_packed(len: usize) -> bool {
    len % 8 == 4
}

/// The fewest whole bytes, of 0, 1, 2 and 4, that hold `span`.
fn width(span: u32) -> u8 {
    match span {
        0 => 0,
        1..=0xff => 1,
        0x100..=0xffff => 2,
        _ => 4,
    }
}

/// Appends `halves` less `base`, each in `w` bytes.
fn put(out: &mut Vec<u8>, halves: impl Iterator<Item = u32>, base: u32, w: u8) {
    match w {
        0 => {}
        1 => out.extend(halves.map(|h| h.wrapping_sub(base) as u8)),
        2 => {
            for h in halves {
                out.extend_from_slice(&(h.wrapping_sub(base) as u16).to_le_bytes());
            }
        }
        _ => {
            for h in halves {
                out.extend_from_slice(&h.wrapping_sub(base).to_le_bytes());
            }
        }
    }
}

/// The offset `i` of those of `w` bytes each at the start of `src` (long enough).
#[inline]
fn offset_at(src: &[u8], w: u8, i: usize) -> u32 {
    match w {
        0 => 0,
        1 => u32::from(src[i]),
        2 => u32::from(u16::from_le_bytes([src[2 * i], src[2 * i + 1]])),
        _ => u32_at(src, 4 * i),
    }
}

/// Applies `set` to each key of `out` with the offset of `w` bytes each at the start of `src`
/// (long enough).
fn get(src: &[u8], w: u8, out: &mut [u64], set: impl Fn(&mut u64, u32)) {
    match w {
        0 => out.iter_mut().for_each(|k| set(k, 0)),
        1 => {
            for (k, &b) in out.iter_mut().zip(src) {
                set(k, u32::from(b));
            }
        }
        2 => {
            for (k, c) in out.iter_mut().zip(src.chunks_exact(2)) {
                set(k, u32::from(u16::from_le_bytes([c[0], c[1]])));
            }
        }
        _ => {
            for (k, c) in out.iter_mut().zip(src.chunks_exact(4)) {
                set(k, u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            }
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Appends one block of 1 to [`BLOCK`] strictly ascending keys, given as their high halves
/// (the first `hi0`, the last `hi_last`) and their low halves.
fn push_block<H, L>(out: &mut Vec<u8>, n: usize, (hi0, hi_last): (u32, u32), his: H, los: L)
where
    H: Iterator<Item = u32>,
    L: Iterator<Item = u32> + Clone,
{
    let (lo_min, lo_max) = los
        .clone()
        .fold((u32::MAX, 0), |(lo, hi), l| (lo.min(l), hi.max(l)));
    let (wh, wl) = (width(hi_last.wrapping_sub(hi0)), width(lo_max - lo_min));
    out.reserve(HEADER + n * usize::from(wh + wl));
    out.push((n - 1) as u8);
    out.push(wh | wl << 4);
    out.extend_from_slice(&hi0.to_le_bytes());
    out.extend_from_slice(&lo_min.to_le_bytes());
    put(out, his, hi0, wh);
    put(out, los, lo_min, wl);
}

/// One block of packed keys, its header read: where it ends, its number of keys, and its first
/// and last keys (read without decoding the others).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block<'a> {
    pub(crate) n: usize,
    pub(crate) first: u64,
    pub(crate) last: u64,
    end: usize,
    widths: (u8, u8),
    bases: (u32, u32),
    his: &'a [u8],
    los: &'a [u8],
}

impl<'a> Block<'a> {
    /// The block at `at` of `blocks`; `None` if it does not fit in `blocks`, holds more than
    /// [`BLOCK`] keys or has widths that [`width`] does not give.
    fn at(blocks: &'a [u8], at: usize) -> Option<Self> {
        let header = blocks.get(at..at + HEADER)?;
        let n = usize::from(header[0]) + 1;
        let (wh, wl) = (header[1] & 0xf, header[1] >> 4);
        if n > BLOCK || ![0, 1, 2, 4].contains(&wh) || ![0, 1, 2, 4].contains(&wl) {
            return None;
        }
        let (hi0, lo_min) = (u32_at(header, 2), u32_at(header, 6));
        let hi_at = at + HEADER;
        let lo_at = hi_at + n * usize::from(wh);
        let end = lo_at + n * usize::from(wl);
        let (his, los) = (blocks.get(hi_at..lo_at)?, blocks.get(lo_at..end)?);
        let key = |i: usize| {
            let hi = u64::from(hi0.wrapping_add(offset_at(his, wh, i)));
            hi << 32 | u64::from(lo_min.wrapping_add(offset_at(los, wl, i)))
        };
        Some(Block {
            n,
            first: key(0),
            last: key(n - 1),
            end,
            widths: (wh, wl),
            bases: (hi0, lo_min),
            his,
            los,
        })
    }

    /// Writes the block's keys to `out`; their number.
    pub(crate) fn decode(&self, out: &mut [u64; BLOCK]) -> usize {
        let ((wh, wl), (hi0, lo_min)) = (self.widths, self.bases);
        let keys = &mut out[..self.n];
        get(self.his, wh, keys, |k, h| {
            *k = u64::from(hi0.wrapping_add(h)) << 32;
        });
        get(self.los, wl, keys, |k, l| {
            *k |= u64::from(lo_min.wrapping_add(l))
        });
        self.n
    }
}

/// Strictly ascending keys being packed: the ascending set of a whole column's stream.
#[derive(Debug, Default)]
pub(crate) struct PackedBuilder {
    blocks: Vec<u8>,
    len: usize,
    first: u64,
    last: u64,
}

impl PackedBuilder {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn last(&self) -> Option<u64> {
        (self.len > 0).then_some(self.last)
    }

    /// The bytes the packed keys take.
    pub(crate) fn bytes(&self) -> usize {
        self.blocks.capacity()
    }

    /// Appends `keys`, which must strictly ascend from after the last key (the caller tests
    /// that: keys out of order are packed as they are and decode as they were given).
    pub(crate) fn push(&mut self, keys: &[u64]) {
        let (Some(&first), Some(&last)) = (keys.first(), keys.last()) else {
            return;
        };
        if self.len == 0 {
            self.first = first;
        }
        for block in keys.chunks(BLOCK) {
            let hi = |k: &u64| (k >> 32) as u32;
            let range = (hi(&block[0]), hi(&block[block.len() - 1]));
            let his = block.iter().map(hi);
            let los = block.iter().map(|&k| k as u32);
            push_block(&mut self.blocks, block.len(), range, his, los);
        }
        self.len += keys.len();
        self.last = last;
    }

    /// Appends the keys of pairs `(a[i], b[i])`, `a[i]` above `b[i]`: each below 2^32, the
    /// pairs strictly ascending from after the last key (the caller tests both). The halves
    /// are packed from the columns as they are, with no key built.
    pub(crate) fn push_pairs(&mut self, a: &[u64], b: &[u64]) {
        let n = a.len().min(b.len());
        if n == 0 {
            return;
        }
        if self.len == 0 {
            self.first = a[0] << 32 | b[0];
        }
        for (a, b) in a[..n].chunks(BLOCK).zip(b[..n].chunks(BLOCK)) {
            let range = (a[0] as u32, a[a.len() - 1] as u32);
            let his = a.iter().map(|&h| h as u32);
            let los = b.iter().map(|&l| l as u32);
            push_block(&mut self.blocks, a.len(), range, his, los);
        }
        self.len += n;
        self.last = a[n - 1] << 32 | b[n - 1];
    }

    /// The keys in order.
    pub(crate) fn iter(&self) -> PackedIter<'_> {
        PackedIter::new(&self.blocks)
    }

    /// The packed run with its trailer; `None` if no key was pushed.
    pub(crate) fn finish(self) -> Option<Packed> {
        if self.len == 0 {
            return None;
        }
        let mut bytes = self.blocks;
        let blocks_len = bytes.len();
        bytes.resize(blocks_len.next_multiple_of(8), 0);
        bytes.reserve_exact(TRAILER);
        for v in [blocks_len as u64, self.len as u64, self.first, self.last] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(&MAGIC);
        Some(Packed {
            bytes: Buffer::from_vec(bytes),
            blocks_len,
            len: self.len,
            first: self.first,
            last: self.last,
        })
    }
}

/// A packed run as it travels in a partial state: its bytes, trailer included.
#[derive(Debug, Clone)]
pub(crate) struct Packed {
    bytes: Buffer,
    blocks_len: usize,
    len: usize,
    first: u64,
    last: u64,
}

impl Packed {
    /// Reads a packed run, checking what can be checked without decoding every key: its
    /// trailer, that its blocks fill exactly the length the trailer gives and hold the number
    /// of keys it gives, and that each block's first key is above the last block's last (the
    /// first and the last as the trailer gives them).
    pub(crate) fn from_buffer(bytes: Buffer) -> Result<Packed, String> {
        let n = bytes.len();
        if n < TRAILER || !is_packed(n) || bytes[n - 4..] != MAGIC[..] {
            return Err(format!("a packed run of {n} bytes has no trailer"));
        }
        let t = n - TRAILER;
        let field = |i: usize| u64_at(&bytes, t + 8 * i);
        let (blocks_len, len, first, last) = (field(0), field(1), field(2), field(3));
        let blocks_len = usize::try_from(blocks_len).unwrap_or(usize::MAX);
        if blocks_len.checked_next_multiple_of(8) != Some(t) {
            return Err(format!(
                "a packed run's blocks take {blocks_len} bytes of its {t}"
            ));
        }
        let blocks = &bytes[..blocks_len];
        let (mut at, mut count, mut before) = (0, 0u64, None::<u64>);
        while at < blocks_len {
            let Some(block) = Block::at(blocks, at) else {
                return Err(format!("a packed run's block at byte {at} is cut short"));
            };
            let in_order = match before {
                Some(b) => b < block.first,
                None => block.first == first,
            };
            if !in_order || block.first > block.last {
                return Err(format!("a packed run's block at byte {at} is out of order"));
            }
            before = Some(block.last);
            count += block.n as u64;
            at = block.end;
        }
        if count == 0 || count != len || before != Some(last) {
            return Err(format!(
                "a packed run holds {count} keys, its trailer says {len}"
            ));
        }
        Ok(Packed {
            bytes,
            blocks_len,
            len: len as usize,
            first,
            last,
        })
    }

    pub(crate) fn into_buffer(self) -> Buffer {
        self.bytes
    }

    /// The bytes the run takes, trailer included.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// The keys in order.
    pub(crate) fn iter(&self) -> PackedIter<'_> {
        PackedIter::new(&self.bytes[..self.blocks_len])
    }

    /// The blocks in order, each with its first and last key (no other key decoded).
    pub(crate) fn blocks(&self) -> impl Iterator<Item = Block<'_>> + '_ {
        let blocks = &self.bytes[..self.blocks_len];
        let mut at = 0;
        std::iter::from_fn(move || {
            let block = Block::at(blocks, at)?;
            at = block.end;
            Some(block)
        })
    }
}

/// The keys of packed blocks, decoded a block at a time.
pub(crate) struct PackedIter<'a> {
    blocks: &'a [u8],
    at: usize,
    keys: [u64; BLOCK],
    n: usize,
    i: usize,
}

impl<'a> PackedIter<'a> {
    fn new(blocks: &'a [u8]) -> Self {
        PackedIter {
            blocks,
            at: 0,
            keys: [0; BLOCK],
            n: 0,
            i: 0,
        }
    }
}

impl Iterator for PackedIter<'_> {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        if self.i == self.n {
            let block = Block::at(self.blocks, self.at)?;
            (self.n, self.i, self.at) = (block.decode(&mut self.keys), 0, block.end);
        }
        self.i += 1;
        Some(self.keys[self.i - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(keys: &[u64]) -> Packed {
        let mut b = PackedBuilder::default();
        // In uneven pushes, as batches come.
        for part in keys.chunks(333) {
            b.push(part);
        }
        assert_eq!(b.iter().collect::<Vec<_>>(), keys);
        b.finish().expect("keys were pushed")
    }

    #[test]
    fn keys_of_every_width_decode_as_they_were() {
        let pairs: Vec<u64> = (1..3000u64)
            .flat_map(|o| (1..=(o % 7 + 1)).map(move |l| (o * 4) << 32 | l))
            .collect();
        let ids: Vec<u64> = (0..5000u64).map(|i| 1_000 + i * 3).collect();
        let wide: Vec<u64> = (0..700u64)
            .map(|i| i * 0x1234_5678_9abc + (i & 1) * 0xffff_ffff)
            .collect();
        let extremes = vec![0, 1, u32::MAX as u64, 1 << 32, u64::MAX - 1, u64::MAX];
        for keys in [pairs, ids, wide, extremes, vec![42]] {
            let p = packed(&keys);
            assert_eq!(p.len(), keys.len());
            assert_eq!((p.first(), p.last()), (keys[0], keys[keys.len() - 1]));
            assert!(is_packed(p.bytes.len()));
            let again = Packed::from_buffer(p.clone().into_buffer()).unwrap();
            assert_eq!(again.iter().collect::<Vec<_>>(), keys);
        }
    }

    #[test]
    fn a_pairs_key_takes_about_two_bytes() {
        // TPC-H's shape: an order number that steps by up to 4, up to 7 lines each.
        let keys: Vec<u64> = (1..20_000u64)
            .flat_map(|o| (1..=(o * 7919 % 7 + 1)).map(move |l| (o * 4 - o % 3) << 32 | l))
            .collect();
        let p = packed(&keys);
        let per_key = p.bytes.len() as f64 / keys.len() as f64;
        assert!((2.0..2.2).contains(&per_key), "{per_key} bytes a key");
    }

    #[test]
    fn a_corrupt_run_is_refused_not_read() {
        let keys: Vec<u64> = (0..1000u64).map(|i| i * 5).collect();
        let good = packed(&keys).into_buffer().to_vec();
        let refused = |bytes: Vec<u8>| Packed::from_buffer(Buffer::from_vec(bytes)).is_err();
        assert!(!refused(good.clone()));
        // Cut short, a byte more, the magic changed.
        assert!(refused(good[..good.len() - 1].to_vec()));
        assert!(refused(good[8..].to_vec()));
        let mut more = good.clone();
        more.insert(0, 0);
        assert!(refused(more));
        let mut magic = good.clone();
        *magic.last_mut().unwrap() ^= 1;
        assert!(refused(magic));
        // Each field of the trailer wrong by one; a width that no block has; a block's first
        // high half moved below the block before.
        let t = good.len() - TRAILER;
        for field in 0..4 {
            let mut bad = good.clone();
            bad[t + 8 * field] ^= 1;
            assert!(refused(bad), "trailer field {field}");
        }
        let mut width = good.clone();
        width[1] = 3;
        assert!(refused(width));
        let mut count = good.clone();
        count[0] = 200;
        assert!(refused(count), "a block of more than {BLOCK} keys");
        // The first block: 128 low offsets of 2 bytes (its keys span 635), no high ones.
        let second = HEADER + BLOCK * 2;
        let mut order = good.clone();
        order[second + 6..second + 10].fill(0);
        assert!(refused(order));
        // Any byte flipped: refused or read, never a panic.
        for i in 0..good.len() {
            let mut flipped = good.clone();
            flipped[i] ^= 0x5a;
            if let Ok(p) = Packed::from_buffer(Buffer::from_vec(flipped)) {
                let _ = p.iter().count();
            }
        }
    }
}
