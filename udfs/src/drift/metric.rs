//! [`Metric`]: which statistic a drift aggregate returns, and the fields of `drift_summary`.

use datafusion::arrow::datatypes::{DataType, Field, Fields};

/// Which statistic a drift aggregate returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Metric {
    KsStatistic,
    KsPvalue,
    Wasserstein,
    WassersteinNormed,
    Psi,
    Js,
    Hellinger,
    Chi2Statistic,
    Chi2Pvalue,
    Summary,
}

impl Metric {
    /// Accepts string / categorical input.
    pub(crate) fn categorical(self) -> bool {
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
    pub(crate) fn binned(self) -> bool {
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
