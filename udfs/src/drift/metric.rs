//! [`Metric`]: which statistic a drift aggregate returns, and the fields of `drift_summary`.

use datafusion::arrow::datatypes::{DataType, Field, Fields};

/// Which statistic a drift aggregate returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `ks_statistic`
    KsStatistic,
    /// `ks_pvalue`
    KsPvalue,
    /// `wasserstein_distance`
    Wasserstein,
    /// `wasserstein_normed`
    WassersteinNormed,
    /// `psi`
    Psi,
    /// `js_distance`
    Js,
    /// `hellinger`
    Hellinger,
    /// `chi2_statistic`
    Chi2Statistic,
    /// `chi2_pvalue`
    Chi2Pvalue,
    /// `drift_summary`
    Summary,
}

impl Metric {
    /// The metric of a drift aggregate, by its SQL name (`psi`, `ks_statistic`, ...).
    pub fn from_function_name(name: &str) -> Option<Self> {
        Some(match name {
            "ks_statistic" => Metric::KsStatistic,
            "ks_pvalue" => Metric::KsPvalue,
            "wasserstein_distance" => Metric::Wasserstein,
            "wasserstein_normed" => Metric::WassersteinNormed,
            "psi" => Metric::Psi,
            "js_distance" => Metric::Js,
            "hellinger" => Metric::Hellinger,
            "chi2_statistic" => Metric::Chi2Statistic,
            "chi2_pvalue" => Metric::Chi2Pvalue,
            "drift_summary" => Metric::Summary,
            _ => return None,
        })
    }

    /// Accepts string / categorical input.
    pub fn categorical(self) -> bool {
        matches!(
            self,
            Metric::Psi
                | Metric::Js
                | Metric::Hellinger
                | Metric::Chi2Statistic
                | Metric::Chi2Pvalue
        )
    }
    /// Example argument types listed by `SHOW FUNCTIONS`.
    pub(crate) fn examples(self) -> Vec<Vec<DataType>> {
        let mut v = vec![vec![DataType::Float64, DataType::Boolean]];
        if self.binned() {
            v.push(vec![DataType::Float64, DataType::Boolean, DataType::Utf8]);
        }
        if self.categorical() {
            v.push(vec![DataType::Utf8, DataType::Boolean]);
        }
        v
    }

    /// Takes the optional binning-convention argument.
    pub fn binned(self) -> bool {
        matches!(
            self,
            Metric::Psi | Metric::Js | Metric::Hellinger | Metric::Summary
        )
    }
}

/// Fields of the `drift_summary` struct, in order.
pub(crate) fn summary_fields() -> Fields {
    let mut f = vec![
        Field::new("n_baseline", DataType::UInt64, false),
        Field::new("n_candidate", DataType::UInt64, false),
    ];
    for name in [
        "ks_statistic",
        "ks_pvalue",
        "wasserstein_distance",
        "wasserstein_normed",
        "psi",
        "js_distance",
        "hellinger",
    ] {
        f.push(Field::new(name, DataType::Float64, false));
    }
    Fields::from(f)
}
