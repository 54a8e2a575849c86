//! Numeric drift from two sorted streams of runs.
//!
//! Every numeric statistic of this crate is a function of the two sorted samples, and each can
//! be computed from them as *runs*: the distinct values of each side in ascending order with how
//! often each occurs. [`SideSummary`] holds what a side contributes up front (its size, distinct
//! values, extremes and in-order sum); [`NumericDrift`] then consumes the merged runs of both
//! sides, `(value, baseline count, candidate count)` in ascending value order, in one pass (two
//! for the `'deciles'` binning) and never holds the samples.
//!
//! The in-memory aggregates feed it from their sorted vectors and a stored version profile from
//! its files; both perform the same floating-point operations in the same order, so their
//! results are equal bit for bit.

use super::metric::Metric;
use super::stats::{self, Binning, Neumaier};

/// One side's sample, summarised from its runs in ascending order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SideSummary {
    /// Number of values.
    pub n: u64,
    /// Number of distinct values (runs).
    pub distinct: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Compensated sum of the values in ascending order (numpy's mean within 1 ulp).
    pub sum: f64,
}

/// Builds a [`SideSummary`] from runs pushed in ascending order.
#[derive(Debug, Default)]
pub struct SummaryBuilder {
    n: u64,
    distinct: u64,
    min: f64,
    max: f64,
    sum: Neumaier,
}

impl SummaryBuilder {
    /// `value` is finite, not -0.0, greater than the previous one; `count` ≥ 1.
    pub fn push(&mut self, value: f64, count: u64) {
        if self.distinct == 0 {
            self.min = value;
        }
        self.max = value;
        self.n += count;
        self.distinct += 1;
        for _ in 0..count {
            self.sum.add(value);
        }
    }

    /// `None` for an empty side.
    pub fn finish(self) -> Option<SideSummary> {
        (self.n > 0).then(|| SideSummary {
            n: self.n,
            distinct: self.distinct,
            min: self.min,
            max: self.max,
            sum: self.sum.value(),
        })
    }
}

/// Calls `f(value, count)` for each run of a sorted slice.
pub(crate) fn runs_of(sorted: &[f64], mut f: impl FnMut(f64, u64)) {
    let mut i = 0;
    while i < sorted.len() {
        let v = sorted[i];
        let start = i;
        while i < sorted.len() && sorted[i] == v {
            i += 1;
        }
        f(v, (i - start) as u64);
    }
}

/// Calls `f(value, count in a, count in b)` for each distinct value of two sorted slices, in
/// ascending order.
pub(crate) fn merged_runs(a: &[f64], b: &[f64], mut f: impl FnMut(f64, u64, u64)) {
    let (mut i, mut j) = (0, 0);
    loop {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => return,
        };
        let (si, sj) = (i, j);
        while i < a.len() && a[i] == v {
            i += 1;
        }
        while j < b.len() && b[j] == v {
            j += 1;
        }
        f(v, (i - si) as u64, (j - sj) as u64);
    }
}

/// The statistics a numeric comparison yields; those the metric did not ask for are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[allow(missing_docs)] // each field is the metric of the same name
pub struct NumericValues {
    pub n_baseline: u64,
    pub n_candidate: u64,
    pub ks_statistic: Option<f64>,
    pub ks_pvalue: Option<f64>,
    pub wasserstein: Option<f64>,
    pub wasserstein_normed: Option<f64>,
    pub psi: Option<f64>,
    pub js_distance: Option<f64>,
    pub hellinger: Option<f64>,
    pub chi2_statistic: Option<f64>,
    pub chi2_pvalue: Option<f64>,
}

impl NumericValues {
    /// The value of one metric (`None` for `Summary`, or a metric not computed).
    pub fn get(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::KsStatistic => self.ks_statistic,
            Metric::KsPvalue => self.ks_pvalue,
            Metric::Wasserstein => self.wasserstein,
            Metric::WassersteinNormed => self.wasserstein_normed,
            Metric::Psi => self.psi,
            Metric::Js => self.js_distance,
            Metric::Hellinger => self.hellinger,
            Metric::Chi2Statistic => self.chi2_statistic,
            Metric::Chi2Pvalue => self.chi2_pvalue,
            Metric::Summary => None,
        }
    }
}

/// KS statistic and Wasserstein-1 over the merged runs (scipy's `ks_2samp` raw `d` and
/// `wasserstein_distance`: Σ |U(x_i) − V(x_i)| (x_{i+1} − x_i)).
#[derive(Debug)]
struct KsSweep {
    n1: f64,
    n2: f64,
    i: u64,
    j: u64,
    max_s: f64,
    min_s: f64,
    /// Previous value and its ECDF difference.
    prev: Option<(f64, f64)>,
    w: f64,
    wc: f64,
}

impl KsSweep {
    fn new(n1: u64, n2: u64) -> Self {
        Self {
            n1: n1 as f64,
            n2: n2 as f64,
            i: 0,
            j: 0,
            max_s: f64::NEG_INFINITY,
            min_s: f64::INFINITY,
            prev: None,
            w: 0.0,
            wc: 0.0,
        }
    }

    fn visit(&mut self, v: f64, ca: u64, cb: u64) {
        if let Some((pv, pdiff)) = self.prev {
            let term = pdiff.abs() * (v - pv);
            let t = self.w + term;
            self.wc += (self.w - t) + term;
            self.w = t;
        }
        self.i += ca;
        self.j += cb;
        let diff = self.i as f64 / self.n1 - self.j as f64 / self.n2;
        self.max_s = self.max_s.max(diff);
        self.min_s = self.min_s.min(diff);
        self.prev = Some((v, diff));
    }

    fn finish(&self) -> (f64, f64) {
        let min_s = (-self.min_s).clamp(0.0, 1.0);
        let d = if min_s > self.max_s {
            min_s
        } else {
            self.max_s
        };
        (d, self.w + self.wc)
    }
}

/// How the bins of PSI / JS / Hellinger are counted.
#[derive(Debug)]
enum Bins {
    /// Sturges edges over the pooled sample (numpy `histogram`: `[e_i, e_{i+1})`, the last bin
    /// closed, values outside the edges not counted).
    Edges {
        edges: Vec<f64>,
        pos: usize,
        counts: [Vec<f64>; 2],
    },
    /// One bin per distinct value of the pooled sample.
    PerValue { counts: [Vec<f64>; 2] },
    /// Baseline deciles: pass 0 finds the order statistics, pass 1 counts.
    Deciles {
        /// (index into the sorted baseline, value once seen), ascending by index.
        wanted: Vec<(u64, Option<f64>)>,
        seen: u64,
        edges: Vec<f64>,
        pos: usize,
        counts: [Vec<f64>; 2],
    },
}

/// numpy `quantile(x, q, method='linear')`: the two order statistics it reads and how it
/// interpolates between them.
fn quantile_positions(n: u64, q: f64) -> (u64, u64, f64) {
    let nf = n as f64;
    // numpy: virtual = n*q + (alpha + q*(1-alpha-beta)) - 1 with alpha = beta = 1
    const ALPHA: f64 = 1.0;
    const BETA: f64 = 1.0;
    let virtual_index = nf * q + (ALPHA + q * (1.0 - ALPHA - BETA)) - 1.0;
    let prev = virtual_index.floor();
    let gamma = virtual_index - prev;
    let last = n - 1;
    let pi = (prev.max(0.0) as u64).min(last);
    let ni = ((prev + 1.0).max(0.0) as u64).min(last);
    (pi, ni, gamma)
}

fn interpolate(a: f64, b: f64, gamma: f64) -> f64 {
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * (1.0 - gamma)
    } else {
        a + diff * gamma
    }
}

const DECILES: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// A numeric two-sample comparison fed with merged runs.
#[derive(Debug)]
pub struct NumericDrift {
    binning: Binning,
    base: SideSummary,
    cand: SideSummary,
    ks: Option<KsSweep>,
    /// Σ (x − mean)² over the baseline, in ascending order.
    ss: Option<(f64, Neumaier)>,
    bins: Option<Bins>,
    /// Evidently's chi-square over one category per distinct value: k, Σ terms.
    chi: Option<(u64, Neumaier)>,
}

impl NumericDrift {
    /// `integer`: the input column is an integer type (Sturges bins are at least 1 wide).
    pub fn new(
        metric: Metric,
        binning: Binning,
        integer: bool,
        base: SideSummary,
        cand: SideSummary,
    ) -> Self {
        use Metric::*;
        let ks = matches!(
            metric,
            KsStatistic | KsPvalue | Wasserstein | WassersteinNormed | Summary
        )
        .then(|| KsSweep::new(base.n, cand.n));
        let ss = matches!(metric, WassersteinNormed | Summary)
            .then(|| (base.sum / base.n as f64, Neumaier::default()));
        let bins = matches!(metric, Psi | Js | Hellinger | Summary).then(|| match binning {
            Binning::Evidently if base.distinct > 20 => {
                let lo = base.min.min(cand.min);
                let hi = base.max.max(cand.max);
                let edges = stats::sturges_edges(lo, hi, (base.n + cand.n) as f64, integer);
                let k = edges.len() - 1;
                Bins::Edges {
                    edges,
                    pos: 0,
                    counts: [vec![0.0; k], vec![0.0; k]],
                }
            }
            Binning::Evidently => Bins::PerValue {
                counts: [Vec::new(), Vec::new()],
            },
            Binning::Deciles => {
                let mut wanted: Vec<(u64, Option<f64>)> = DECILES
                    .iter()
                    .flat_map(|&q| {
                        let (pi, ni, _) = quantile_positions(base.n, q);
                        [(pi, None), (ni, None)]
                    })
                    .collect();
                wanted.sort_unstable_by_key(|w| w.0);
                wanted.dedup_by_key(|w| w.0);
                Bins::Deciles {
                    wanted,
                    seen: 0,
                    edges: Vec::new(),
                    pos: 0,
                    counts: [Vec::new(), Vec::new()],
                }
            }
        });
        let chi = matches!(metric, Chi2Statistic | Chi2Pvalue).then(|| (0, Neumaier::default()));
        Self {
            binning,
            base,
            cand,
            ks,
            ss,
            bins,
            chi,
        }
    }

    /// Passes over the merged runs this comparison needs (1, or 2 for decile bins).
    pub fn passes(&self) -> usize {
        if matches!(self.bins, Some(Bins::Deciles { .. })) {
            2
        } else {
            1
        }
    }

    /// One distinct value of the pooled sample, in ascending order, with its count on each side
    /// (at least one of them non-zero).
    pub fn visit(&mut self, pass: usize, v: f64, ca: u64, cb: u64) {
        if pass == 0 {
            if let Some(ks) = &mut self.ks {
                ks.visit(v, ca, cb);
            }
            if let Some((mean, ss)) = &mut self.ss {
                let d = (v - *mean) * (v - *mean);
                for _ in 0..ca {
                    ss.add(d);
                }
            }
            if let Some((k, sum)) = &mut self.chi {
                *k += 1;
                let k_norm = self.cand.n as f64 / self.base.n as f64;
                let e = ca as f64 * k_norm;
                let d = cb as f64 - e;
                sum.add(if e == 0.0 {
                    if d == 0.0 { f64::NAN } else { f64::INFINITY }
                } else {
                    d * d / e
                });
            }
        }
        match &mut self.bins {
            Some(Bins::Edges { edges, pos, counts }) => {
                let k = edges.len() - 1;
                while *pos < k && edges[*pos] <= v {
                    *pos += 1;
                }
                let bin = match *pos {
                    0 => None,
                    p if p < k => Some(p - 1),
                    _ => (v <= edges[k]).then_some(k - 1),
                };
                if let Some(b) = bin {
                    counts[0][b] += ca as f64;
                    counts[1][b] += cb as f64;
                }
            }
            Some(Bins::PerValue { counts }) => {
                counts[0].push(ca as f64);
                counts[1].push(cb as f64);
            }
            Some(Bins::Deciles {
                wanted, seen, pos, ..
            }) if pass == 0 => {
                let end = *seen + ca;
                while let Some(w) = wanted.get_mut(*pos) {
                    if w.0 >= end {
                        break;
                    }
                    w.1 = Some(v);
                    *pos += 1;
                }
                *seen = end;
            }
            Some(Bins::Deciles {
                edges, pos, counts, ..
            }) => {
                while *pos < edges.len() && edges[*pos] <= v {
                    *pos += 1;
                }
                counts[0][*pos] += ca as f64;
                counts[1][*pos] += cb as f64;
            }
            None => {}
        }
    }

    /// Ends a pass: after the first one, the decile edges are known.
    pub fn end_pass(&mut self, pass: usize) {
        if pass != 0 {
            return;
        }
        if let Some(Bins::Deciles {
            wanted,
            edges,
            pos,
            counts,
            ..
        }) = &mut self.bins
        {
            let at = |i: u64| {
                wanted
                    .iter()
                    .find(|w| w.0 == i)
                    .and_then(|w| w.1)
                    .unwrap_or(f64::NAN)
            };
            let mut e: Vec<f64> = DECILES
                .iter()
                .map(|&q| {
                    let (pi, ni, gamma) = quantile_positions(self.base.n, q);
                    interpolate(at(pi), at(ni), gamma)
                })
                .collect();
            e.dedup();
            *counts = [vec![0.0; e.len() + 1], vec![0.0; e.len() + 1]];
            *edges = e;
            *pos = 0;
        }
    }

    /// The statistics, once every pass was made.
    pub fn finish(self) -> NumericValues {
        let (n1, n2) = (self.base.n, self.cand.n);
        let mut out = NumericValues {
            n_baseline: n1,
            n_candidate: n2,
            ..Default::default()
        };
        if let Some(ks) = &self.ks {
            let (d, w) = ks.finish();
            let (d, p) = stats::ks_from_d(d, n1, n2);
            out.ks_statistic = Some(d);
            out.ks_pvalue = Some(p);
            out.wasserstein = Some(w);
            if let Some((_, ss)) = &self.ss {
                let std = (ss.value() / n1 as f64).sqrt();
                out.wasserstein_normed = Some(stats::wasserstein_normed(w, std));
            }
        }
        if let Some((k, sum)) = &self.chi {
            let (s, p) = stats::chisquare_from(sum.value(), *k as f64);
            out.chi2_statistic = Some(s);
            out.chi2_pvalue = Some(p);
        }
        if let Some(bins) = self.bins {
            let counts = match bins {
                Bins::Edges { counts, .. }
                | Bins::PerValue { counts }
                | Bins::Deciles { counts, .. } => counts,
            };
            let [ca, cb] = counts;
            let p: Vec<f64> = ca.into_iter().map(|c| c / n1 as f64).collect();
            let q: Vec<f64> = cb.into_iter().map(|c| c / n2 as f64).collect();
            out.js_distance = Some(stats::js_distance(&p, &q));
            out.hellinger = Some(stats::hellinger(&p, &q));
            out.psi = Some(stats::psi(p, q, self.binning));
        }
        out
    }
}

/// Every statistic of `metric` for two sorted, finite in-memory samples (each non-empty).
pub(crate) fn numeric_sorted(
    metric: Metric,
    binning: Binning,
    integer: bool,
    a: &[f64],
    b: &[f64],
) -> NumericValues {
    let summary = |x: &[f64]| {
        let mut s = SummaryBuilder::default();
        runs_of(x, |v, c| s.push(v, c));
        s.finish()
    };
    let (Some(base), Some(cand)) = (summary(a), summary(b)) else {
        return NumericValues::default();
    };
    let mut d = NumericDrift::new(metric, binning, integer, base, cand);
    for pass in 0..d.passes() {
        merged_runs(a, b, |v, ca, cb| d.visit(pass, v, ca, cb));
        d.end_pass(pass);
    }
    d.finish()
}
