//! Pure statistics over two sorted, finite samples (or two category-count vectors).
//! Every function documents the reference it reproduces.

use super::kolmogorov;
use super::special::chi2_sf;

/// Compensated (Neumaier) sum: partition-independent because the inputs are always visited in
/// sorted order, and within ~1 ulp of numpy's pairwise sum.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Neumaier {
    s: f64,
    c: f64,
}

impl Neumaier {
    #[inline]
    pub(crate) fn add(&mut self, v: f64) {
        let t = self.s + v;
        if !t.is_finite() {
            self.s = t;
            self.c = 0.0;
            return;
        }
        if self.s.abs() >= v.abs() {
            self.c += (self.s - t) + v;
        } else {
            self.c += (v - t) + self.s;
        }
        self.s = t;
    }

    pub(crate) fn value(&self) -> f64 {
        if !self.s.is_finite() {
            return self.s;
        }
        self.s + self.c
    }
}

fn neumaier(values: impl Iterator<Item = f64>) -> f64 {
    let mut n = Neumaier::default();
    for v in values {
        n.add(v);
    }
    n.value()
}

/// Sorts finite values ascending (LSD radix sort on order-preserving keys for large inputs,
/// pattern-defeating quicksort otherwise). Input must not contain NaN; -0.0 must already be 0.0.
pub(crate) fn sort_f64(v: &mut [f64]) {
    const RADIX_MIN: usize = 1 << 15;
    if v.len() < RADIX_MIN {
        v.sort_unstable_by(f64::total_cmp);
        return;
    }
    const SIGN: u64 = 1 << 63;
    let key = |x: f64| {
        let b = x.to_bits();
        if b & SIGN != 0 { !b } else { b ^ SIGN }
    };
    let unkey = |k: u64| f64::from_bits(if k & SIGN != 0 { k ^ SIGN } else { !k });
    let mut keys: Vec<u64> = v.iter().map(|&x| key(x)).collect();
    let mut hist = vec![[0usize; 256]; 8];
    for &k in &keys {
        for (d, h) in hist.iter_mut().enumerate() {
            h[((k >> (8 * d)) & 0xFF) as usize] += 1;
        }
    }
    let mut buf = vec![0u64; keys.len()];
    let n = keys.len();
    for (d, h) in hist.iter().enumerate() {
        if h.contains(&n) {
            continue; // every key has the same digit: nothing to do
        }
        let mut offs = [0usize; 256];
        let mut sum = 0;
        for (o, &c) in offs.iter_mut().zip(h.iter()) {
            *o = sum;
            sum += c;
        }
        for &k in &keys {
            let b = ((k >> (8 * d)) & 0xFF) as usize;
            buf[offs[b]] = k;
            offs[b] += 1;
        }
        std::mem::swap(&mut keys, &mut buf);
    }
    for (x, k) in v.iter_mut().zip(keys) {
        *x = unkey(k);
    }
}

/// `scipy.stats.ks_2samp(a, b)` → (statistic, p-value); see [`kolmogorov`].
pub(crate) fn ks_from_d(d: f64, n1: u64, n2: u64) -> (f64, f64) {
    kolmogorov::ks_pvalue_from(d, n1, n2)
}

/// Evidently's `wasserstein_distance_norm`: W1 / max(np.std(baseline), 0.001), given the
/// baseline's population standard deviation (ddof = 0, two-pass).
pub(crate) fn wasserstein_normed(w: f64, std: f64) -> f64 {
    w / std.max(0.001)
}

/// `np.linspace(start, stop, num)`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    let mut y: Vec<f64> = (0..num)
        .map(|i| {
            if step == 0.0 {
                (i as f64 / div) * delta + start
            } else {
                i as f64 * step + start
            }
        })
        .collect();
    if let Some(last) = y.last_mut() {
        *last = stop;
    }
    y
}

/// `np.histogram_bin_edges(pooled, bins="sturges")` of a pooled sample of `n` values between
/// `lo` and `hi`; `integer` = numpy integer dtype.
pub(crate) fn sturges_edges(lo: f64, hi: f64, n: f64, integer: bool) -> Vec<f64> {
    let (mut first, mut last) = (lo, hi);
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    let mut width = (hi - lo) / (n.log2() + 1.0);
    let n_bins = if width != 0.0 {
        if integer && width < 1.0 {
            width = 1.0;
        }
        ((last - first) / width).ceil() as usize
    } else {
        1
    };
    linspace(first, last, n_bins.max(1) + 1)
}

/// Binning conventions for PSI / JS / Hellinger over numeric input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binning {
    /// Evidently `get_binned_data`: if the baseline has more than 20 distinct values,
    /// Sturges edges over the pooled sample (numpy rules); else one bin per distinct value.
    Evidently,
    /// 10 bins at the baseline deciles (numpy `quantile`, method `linear`), duplicate edges
    /// merged, outer bins open: bin i = `[e_i, e_{i+1})` with e_0 = −inf, e_last = +inf.
    Deciles,
}

impl Binning {
    /// `None` (the default) or a convention's name; `None` back for an unknown name.
    pub fn parse(s: Option<&str>) -> Option<Self> {
        match s.map(|s| s.to_ascii_lowercase()) {
            None => Some(Binning::Evidently),
            Some(s) if s == "evidently" || s == "sturges" => Some(Binning::Evidently),
            Some(s) if s == "deciles" || s == "credit" => Some(Binning::Deciles),
            _ => None,
        }
    }
}

/// Evidently's zero fill: zeros become `min(nonzero)/1e6` if that minimum is ≤ 1e-4,
/// else 1e-4; no renormalisation.
fn evidently_fill(p: &mut [f64]) {
    let min_nz = p
        .iter()
        .copied()
        .filter(|&v| v != 0.0)
        .fold(f64::INFINITY, f64::min);
    let fill = if min_nz <= 0.0001 {
        min_nz / 1e6
    } else {
        0.0001
    };
    for v in p.iter_mut() {
        if *v == 0.0 {
            *v = fill;
        }
    }
}

/// PSI = Σ (p_i − q_i) · ln(p_i / q_i), p = baseline, q = candidate, after smoothing:
/// Evidently's fill for `Evidently`, a fixed ε = 1e-4 for zero proportions for `Deciles`.
pub(crate) fn psi(mut p: Vec<f64>, mut q: Vec<f64>, binning: Binning) -> f64 {
    match binning {
        Binning::Evidently => {
            evidently_fill(&mut p);
            evidently_fill(&mut q);
        }
        Binning::Deciles => {
            for v in p.iter_mut().chain(q.iter_mut()) {
                if *v == 0.0 {
                    *v = 0.0001;
                }
            }
        }
    }
    neumaier(p.iter().zip(&q).map(|(&p, &q)| (p - q) * (p / q).ln()))
}

/// `scipy.special.rel_entr`.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

/// `scipy.spatial.distance.jensenshannon(p, q)` with natural log (base e).
pub(crate) fn js_distance(p: &[f64], q: &[f64]) -> f64 {
    let sp = neumaier(p.iter().copied());
    let sq = neumaier(q.iter().copied());
    let p: Vec<f64> = p.iter().map(|v| v / sp).collect();
    let q: Vec<f64> = q.iter().map(|v| v / sq).collect();
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    let left = neumaier(p.iter().zip(&m).map(|(&a, &m)| rel_entr(a, m)));
    let right = neumaier(q.iter().zip(&m).map(|(&b, &m)| rel_entr(b, m)));
    ((left + right) / 2.0).sqrt()
}

/// Hellinger distance `sqrt(½ Σ (√p_i − √q_i)²)` ∈ [0, 1] (equal to `sqrt(1 − Σ √(p_i q_i))`
/// for normalised p, q, but without its cancellation for small distances).
pub(crate) fn hellinger(p: &[f64], q: &[f64]) -> f64 {
    let s = neumaier(p.iter().zip(q).map(|(&a, &b)| {
        let d = a.sqrt() - b.sqrt();
        d * d
    }));
    (s / 2.0).sqrt()
}

/// Evidently's chi-square test: `scipy.stats.chisquare(f_obs = candidate counts,
/// f_exp = baseline counts × n_cand / n_base)`, dof = k − 1. A category absent from the
/// baseline gives an infinite statistic and p = 0; one category gives p = NaN (as scipy).
pub(crate) fn chisquare(base_counts: &[f64], cand_counts: &[f64]) -> (f64, f64) {
    let n_base = neumaier(base_counts.iter().copied());
    let n_cand = neumaier(cand_counts.iter().copied());
    let k_norm = n_cand / n_base;
    let stat = neumaier(base_counts.iter().zip(cand_counts).map(|(&r, &o)| {
        let e = r * k_norm;
        let d = o - e;
        if e == 0.0 {
            if d == 0.0 { f64::NAN } else { f64::INFINITY }
        } else {
            d * d / e
        }
    }));
    chisquare_from(stat, base_counts.len() as f64)
}

/// The chi-square statistic over `k` categories and its p-value (dof k − 1; an infinite
/// statistic has p = 0).
pub(crate) fn chisquare_from(stat: f64, k: f64) -> (f64, f64) {
    let p = if stat.is_infinite() {
        0.0
    } else {
        chi2_sf(stat, k - 1.0)
    };
    (stat, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn anchors_categorical() {
        // quality-anchors §B5: ref [50,30,20], cur [40,40,20]
        let r = [0.5, 0.3, 0.2];
        let c = [0.4, 0.4, 0.2];
        assert!(close(js_distance(&r, &c), 0.079_794_726_2, 1e-9));
        assert!(close(
            psi(r.to_vec(), c.to_vec(), Binning::Evidently),
            0.051_082_562_4,
            1e-9
        ));
        assert!(close(hellinger(&r, &c), 0.079_851_380_6, 1e-9));
        let (s, p) = chisquare(&[50.0, 30.0, 20.0], &[40.0, 40.0, 20.0]);
        assert!(close(s, 16.0 / 3.0, 1e-12));
        assert!(close(p, 0.069_483_451_2, 1e-9));
    }

    #[test]
    fn radix_sort_matches_comparison_sort() {
        let mut s: u64 = 9;
        let mut v: Vec<f64> = (0..100_000)
            .map(|i| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                let x = ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1e6;
                if i % 7 == 0 { x.round() } else { x }
            })
            .chain([0.0, f64::MAX, f64::MIN, 1e-310, -1e-310])
            .collect();
        let mut w = v.clone();
        sort_f64(&mut v);
        w.sort_unstable_by(f64::total_cmp);
        assert!(v.iter().zip(&w).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn anchors_numeric() {
        use super::super::metric::Metric;
        use super::super::sweep::numeric_sorted;
        let r: Vec<f64> = (1..=10).map(f64::from).collect();
        let c: Vec<f64> = (3..=12).map(f64::from).collect();
        let v = numeric_sorted(Metric::Summary, Binning::Evidently, false, &r, &c);
        assert!(close(v.ks_statistic.unwrap(), 0.2, 1e-12));
        assert!(close(v.wasserstein.unwrap(), 2.0, 1e-12));
        assert!(close(v.wasserstein_normed.unwrap(), 0.696_310_623_8, 1e-9));
    }
}
