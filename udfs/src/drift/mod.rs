//! Two-sample drift aggregates over `(value, is_candidate BOOLEAN)`.
//!
//! Rows with `is_candidate = false` form the baseline, rows with `true` the candidate, so one
//! scan over `SELECT v, false FROM base UNION ALL SELECT v, true FROM cand` serves every
//! statistic. NULL values, NaN, ±inf and rows whose flag is NULL are dropped from both sides;
//! an empty side is an execution error naming the side.
//!
//! Conventions (each reproduced exactly, golden-tested against scipy/numpy at 1e-9 relative,
//! p-values 1e-7 — see `udfs/golden/generate.py`):
//!
//! | function | reference |
//! |---|---|
//! | `ks_statistic`, `ks_pvalue` | `scipy.stats.ks_2samp(base, cand)` two-sided, `method='auto'` (exact p if max(n, m) ≤ 10000, else `kstwo.sf(D, round(nm/(n+m)))`) |
//! | `wasserstein_distance` | `scipy.stats.wasserstein_distance(base, cand)` |
//! | `wasserstein_normed` | Evidently: W1 / max(`np.std(base)` (population), 0.001) |
//! | `psi` | Σ (p−q)·ln(p/q), p = baseline; binning `'evidently'` (default) or `'deciles'` |
//! | `js_distance` | `scipy.spatial.distance.jensenshannon(p, q)`, natural log (range [0, √ln2]) |
//! | `hellinger` | √(½ Σ (√p − √q)²) on the same bins as `psi`, no smoothing |
//! | `chi2_statistic`, `chi2_pvalue` | Evidently: `scipy.stats.chisquare(cand counts, base counts · m/n)`, dof k−1 |
//! | `drift_summary` | all of the numeric ones from one sort, as a struct |

pub(crate) mod accum;
pub(crate) mod aggregate;
pub(crate) mod categorical;
pub(crate) mod kolmogorov;
pub(crate) mod kstwo;
pub(crate) mod metric;
pub(crate) mod numeric;
pub(crate) mod special;
pub(crate) mod stats;
pub(crate) mod sweep;

/// The statistics of the drift aggregates computed from sorted runs instead of from rows: what
/// a stored version profile (each side's distinct values in ascending order with their counts)
/// is compared with. Equal bit for bit to the aggregates over the same values.
pub mod profile {
    use datafusion::arrow::datatypes::DataType;

    pub use super::categorical::categorical_value;
    pub use super::metric::Metric;
    pub use super::stats::Binning;
    pub use super::sweep::{NumericDrift, NumericValues, SideSummary, SummaryBuilder};

    /// How the drift aggregates treat a value of type `t`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Input {
        /// Compared as DOUBLE.
        Numeric {
            /// An integer type: Sturges bins are at least 1 wide.
            integer: bool,
        },
        /// Compared as text categories (strings, booleans).
        Categorical,
    }

    /// The input kind of `t` for `metric`, or `None` when the metric does not take it.
    pub fn input(metric: Metric, t: &DataType) -> Option<Input> {
        use crate::common::{is_categorical, is_integer, is_numeric};
        if is_numeric(t) {
            Some(Input::Numeric {
                integer: is_integer(t),
            })
        } else if metric.categorical() && is_categorical(t) {
            Some(Input::Categorical)
        } else {
            None
        }
    }

    /// The error of a side with no usable value, as the aggregates word it.
    pub fn empty_side_error(function: &str, candidate: bool) -> datafusion::error::DataFusionError {
        super::accum::empty_side_error(function, candidate)
    }
}

use crate::common::{DRIFT_SECTION, doc};
use crate::macros::make_udaf;
use aggregate::DriftUdaf;
use metric::Metric;

const VALUE_ARG: (&str, &str) = (
    "value",
    "Numeric column (integers, decimals and floats are compared as DOUBLE).",
);
const FLAG_ARG: (&str, &str) = (
    "is_candidate",
    "BOOLEAN: false = baseline row, true = candidate row; rows with NULL are ignored.",
);
const CONVENTION_ARG: (&str, &str) = (
    "convention",
    "Optional string literal. 'evidently' (default): if the baseline has more than 20 distinct \
     values, bins are numpy Sturges edges over the pooled sample (np.histogram_bin_edges(..., \
     'sturges'), width at least 1 for integer columns, bins [e_i, e_i+1), last bin closed); \
     otherwise one bin per distinct value. 'deciles': 10 bins at the baseline deciles (numpy \
     quantile, method 'linear'), duplicate edges merged, outer bins unbounded. String input: \
     one bin per category (union of both sides).",
);
const DROP_NOTE: &str = "NULL, NaN and ±inf values and rows with a NULL flag are dropped from \
     both sides; an empty side is an error.";
const MEMORY_NOTE: &str = "Memory: every finite value of both sides is kept (8 bytes per row) \
     and accounted in DataFusion's memory pool.";

make_udaf!(
    KsStatistic,
    ks_statistic,
    ks_statistic_udaf,
    DriftUdaf(Metric::KsStatistic),
    doc(
        DRIFT_SECTION,
        &format!(
            "Two-sample Kolmogorov–Smirnov statistic D = max |F_baseline(x) − F_candidate(x)| \
             with right-continuous ECDFs, equal to `scipy.stats.ks_2samp(baseline, candidate)\
             .statistic` (when scipy's exact method applies it returns round(D·lcm(n,m))/lcm, \
             and so does this). {DROP_NOTE} {MEMORY_NOTE}"
        ),
        "ks_statistic(value, is_candidate)",
        "SELECT ks_statistic(v, src = 'new') FROM (SELECT v, 'old' AS src FROM t1 UNION ALL SELECT v, 'new' FROM t2);",
        &[VALUE_ARG, FLAG_ARG],
    ),
    (value, is_candidate)
);

make_udaf!(
    KsPvalue,
    ks_pvalue,
    ks_pvalue_udaf,
    DriftUdaf(Metric::KsPvalue),
    doc(
        DRIFT_SECTION,
        &format!(
            "Two-sided p-value of the two-sample Kolmogorov–Smirnov test, equal to \
             `scipy.stats.ks_2samp(baseline, candidate, method='auto').pvalue`: exact \
             (Hodges lattice paths) when max(n, m) <= 10000, otherwise \
             `kstwo.sf(D, round(n·m/(n+m)))` (scipy's Simard–L'Ecuyer selection, ported). \
             {DROP_NOTE} {MEMORY_NOTE}"
        ),
        "ks_pvalue(value, is_candidate)",
        "SELECT ks_pvalue(v, is_new) <= 0.05 AS drifted FROM pooled;",
        &[VALUE_ARG, FLAG_ARG],
    ),
    (value, is_candidate)
);

make_udaf!(
    WassersteinDistance,
    wasserstein_distance,
    wasserstein_distance_udaf,
    DriftUdaf(Metric::Wasserstein),
    doc(
        DRIFT_SECTION,
        &format!(
            "First Wasserstein (earth mover's) distance between the two empirical \
             distributions, equal to `scipy.stats.wasserstein_distance(baseline, candidate)`, \
             in the unit of `value`. {DROP_NOTE} {MEMORY_NOTE}"
        ),
        "wasserstein_distance(value, is_candidate)",
        "SELECT wasserstein_distance(v, is_new) FROM pooled;",
        &[VALUE_ARG, FLAG_ARG],
    ),
    (value, is_candidate)
);

make_udaf!(
    WassersteinNormed,
    wasserstein_normed,
    wasserstein_normed_udaf,
    DriftUdaf(Metric::WassersteinNormed),
    doc(
        DRIFT_SECTION,
        &format!(
            "Evidently's normed Wasserstein distance: `wasserstein_distance / max(std, 0.001)` \
             where std is the population standard deviation (ddof = 0, `np.std`) of the \
             baseline. Evidently flags drift at >= 0.1. {DROP_NOTE} {MEMORY_NOTE}"
        ),
        "wasserstein_normed(value, is_candidate)",
        "SELECT wasserstein_normed(v, is_new) >= 0.1 AS drifted FROM pooled;",
        &[VALUE_ARG, FLAG_ARG],
    ),
    (value, is_candidate)
);

make_udaf!(
    Psi,
    psi,
    psi_udaf,
    DriftUdaf(Metric::Psi),
    doc(
        DRIFT_SECTION,
        &format!(
            "Population stability index Σ (p_i − q_i)·ln(p_i / q_i), p = baseline bin \
             proportions, q = candidate. Binning per `convention` (see the argument). \
             Epsilon: with 'evidently', zero proportions of a side become 0.0001, or \
             (smallest non-zero proportion of that side)/1e6 when that is <= 0.0001 (Evidently's \
             rule, no renormalisation); with 'deciles', zero proportions become 0.0001. Rule of \
             thumb: < 0.1 stable, 0.1–0.25 moderate, > 0.25 significant. {DROP_NOTE}"
        ),
        "psi(value, is_candidate [, convention])",
        "SELECT psi(score, is_new, 'deciles') FROM pooled;",
        &[
            (
                "value",
                "Numeric column, or a string / boolean column (one bin per category).",
            ),
            FLAG_ARG,
            CONVENTION_ARG,
        ],
    ),
    (value, is_candidate)
);

make_udaf!(
    JsDistance,
    js_distance,
    js_distance_udaf,
    DriftUdaf(Metric::Js),
    doc(
        DRIFT_SECTION,
        &format!(
            "Jensen–Shannon distance (square root of the divergence) between the baseline and \
             candidate bin proportions, natural log: equal to \
             `scipy.spatial.distance.jensenshannon(p, q)` (base e, range [0, sqrt(ln 2) ≈ \
             0.8326]; Evidently's convention, threshold 0.1). No smoothing. Same bins as `psi`. \
             {DROP_NOTE}"
        ),
        "js_distance(value, is_candidate [, convention])",
        "SELECT js_distance(country, is_new) FROM pooled;",
        &[
            (
                "value",
                "Numeric column, or a string / boolean column (one bin per category).",
            ),
            FLAG_ARG,
            CONVENTION_ARG,
        ],
    ),
    (value, is_candidate)
);

make_udaf!(
    Hellinger,
    hellinger,
    hellinger_udaf,
    DriftUdaf(Metric::Hellinger),
    doc(
        DRIFT_SECTION,
        &format!(
            "Hellinger distance sqrt(½ Σ (√p_i − √q_i)²) ∈ [0, 1] between the baseline and \
             candidate bin proportions (= sqrt(1 − Σ √(p_i q_i))). No smoothing. Same bins as \
             `psi`. {DROP_NOTE}"
        ),
        "hellinger(value, is_candidate [, convention])",
        "SELECT hellinger(v, is_new) FROM pooled;",
        &[
            (
                "value",
                "Numeric column, or a string / boolean column (one bin per category).",
            ),
            FLAG_ARG,
            CONVENTION_ARG,
        ],
    ),
    (value, is_candidate)
);

const CHI2_NOTE: &str = "Categories are the union of the values of both sides (numbers: each \
     distinct value). Expected counts are the baseline counts scaled to the candidate size \
     (Evidently's goodness-of-fit form); a category missing from the baseline makes the \
     statistic +inf and the p-value 0; a single category gives NaN (as scipy).";

make_udaf!(
    Chi2Statistic,
    chi2_statistic,
    chi2_statistic_udaf,
    DriftUdaf(Metric::Chi2Statistic),
    doc(
        DRIFT_SECTION,
        &format!(
            "Chi-square statistic Σ (o_i − e_i)² / e_i with o = candidate counts and \
             e = baseline counts · n_candidate / n_baseline, equal to \
             `scipy.stats.chisquare(o, e).statistic`. {CHI2_NOTE} {DROP_NOTE}"
        ),
        "chi2_statistic(value, is_candidate)",
        "SELECT chi2_statistic(country, is_new) FROM pooled;",
        &[
            (
                "value",
                "Categorical column: string, boolean or integer (or numeric)."
            ),
            FLAG_ARG,
        ],
    ),
    (value, is_candidate)
);

make_udaf!(
    Chi2Pvalue,
    chi2_pvalue,
    chi2_pvalue_udaf,
    DriftUdaf(Metric::Chi2Pvalue),
    doc(
        DRIFT_SECTION,
        &format!(
            "p-value of the chi-square goodness-of-fit test of the candidate against the \
             baseline proportions, `scipy.stats.chisquare(o, e).pvalue` = chi2.sf(stat, k − 1). \
             Evidently flags drift at p < 0.05. {CHI2_NOTE} {DROP_NOTE}"
        ),
        "chi2_pvalue(value, is_candidate)",
        "SELECT chi2_pvalue(country, is_new) < 0.05 AS drifted FROM pooled;",
        &[
            (
                "value",
                "Categorical column: string, boolean or integer (or numeric)."
            ),
            FLAG_ARG,
        ],
    ),
    (value, is_candidate)
);

make_udaf!(
    DriftSummary,
    drift_summary,
    drift_summary_udaf,
    DriftUdaf(Metric::Summary),
    doc(
        DRIFT_SECTION,
        &format!(
            "All numeric drift statistics from one scan and one sort, as a struct \
             {{n_baseline, n_candidate, ks_statistic, ks_pvalue, wasserstein_distance, \
             wasserstein_normed, psi, js_distance, hellinger}}; each field equals the function \
             of the same name (psi / js_distance / hellinger with `convention`). \
             {DROP_NOTE} {MEMORY_NOTE}"
        ),
        "drift_summary(value, is_candidate [, convention])",
        "SELECT s.ks_pvalue, s.psi FROM (SELECT drift_summary(v, is_new) AS s FROM pooled);",
        &[VALUE_ARG, FLAG_ARG, CONVENTION_ARG],
    ),
    (value, is_candidate)
);
