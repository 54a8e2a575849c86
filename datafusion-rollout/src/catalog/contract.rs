//! Contracts as data: the stored form of a dataset's checks (expressions are kept as canonical
//! SQL text). How they compile and run lives in the contract layer above.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sql::{Ident, number as num};

/// A dataset's contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    /// Its name.
    pub name: String,
    /// The dataset it belongs to.
    pub dataset: String,
    /// Rules on single columns, checked on every version.
    pub columns: Vec<ColumnRule>,
    /// `EXPECT` items: metrics compared with thresholds.
    pub expectations: Vec<Expectation>,
    /// When it was created (or last replaced).
    pub created_at: DateTime<Utc>,
    /// The actor who created it.
    pub created_by: String,
}

/// Rules on one column: `amount DOUBLE NOT NULL UNIQUE CHECK (amount >= 0)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRule {
    /// The column's name.
    pub column: String,
    /// The declared SQL type, if any (`BIGINT`).
    pub data_type: Option<String>,
    /// `NOT NULL`: no row may hold NULL.
    pub not_null: bool,
    /// `UNIQUE`: no two rows may hold the same non-NULL value.
    pub unique: bool,
    /// SQL boolean expressions every row must satisfy (NULL counts as satisfied, as in SQL).
    pub checks: Vec<String>,
}

/// `EXPECT <metric> <comparison> [WARN WHEN <comparison>] [WINDOW INTERVAL '..']`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// The metric, an aggregate SQL expression (`null_fraction(customer_id)`, `drift_psi(amount)`).
    pub metric: String,
    /// What must hold, or the check fails.
    pub expect: Comparison,
    /// When it holds but this is true, the check warns.
    pub warn_when: Option<Comparison>,
    /// The thresholds were written as intervals (`freshness(ts) <= INTERVAL '6 hours'`) and
    /// are held in seconds; the metric's interval value is compared in seconds too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interval: bool,
    /// `WINDOW INTERVAL '30 minutes'` on a live expectation: judged over the reads and metrics
    /// of this trailing window (never before the rollout began) instead of the current stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_seconds: Option<u64>,
}

/// A comparison of a metric against numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Comparison {
    /// `< value`.
    Lt {
        /// The number compared with.
        value: f64,
    },
    /// `<= value`.
    LtEq {
        /// The number compared with.
        value: f64,
    },
    /// `> value`.
    Gt {
        /// The number compared with.
        value: f64,
    },
    /// `>= value`.
    GtEq {
        /// The number compared with.
        value: f64,
    },
    /// `= value`.
    Eq {
        /// The number compared with.
        value: f64,
    },
    /// `<> value`.
    NotEq {
        /// The number compared with.
        value: f64,
    },
    /// `BETWEEN low AND high` (both included).
    Between {
        /// The lower bound.
        low: f64,
        /// The upper bound.
        high: f64,
    },
    /// `NOT BETWEEN low AND high`.
    NotBetween {
        /// The lower bound.
        low: f64,
        /// The upper bound.
        high: f64,
    },
}

impl Comparison {
    /// Whether `x` satisfies the comparison.
    pub fn holds(&self, x: f64) -> bool {
        match *self {
            Comparison::Lt { value } => x < value,
            Comparison::LtEq { value } => x <= value,
            Comparison::Gt { value } => x > value,
            Comparison::GtEq { value } => x >= value,
            Comparison::Eq { value } => x == value,
            Comparison::NotEq { value } => x != value,
            Comparison::Between { low, high } => low <= x && x <= high,
            Comparison::NotBetween { low, high } => !(low <= x && x <= high),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Threshold {
            comparison: self,
            interval: false,
        }
        .fmt(f)
    }
}

/// A comparison as SQL, its numbers as `INTERVAL '6 hours'` when they are intervals (seconds).
#[derive(Debug, Clone, Copy)]
pub struct Threshold<'a> {
    /// The comparison.
    pub comparison: &'a Comparison,
    /// Whether its numbers are intervals in seconds.
    pub interval: bool,
}

impl fmt::Display for Threshold<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = |x: f64| {
            if self.interval {
                format!("INTERVAL '{}'", interval_text(x))
            } else {
                num(x)
            }
        };
        match *self.comparison {
            Comparison::Lt { value } => write!(f, "< {}", v(value)),
            Comparison::LtEq { value } => write!(f, "<= {}", v(value)),
            Comparison::Gt { value } => write!(f, "> {}", v(value)),
            Comparison::GtEq { value } => write!(f, ">= {}", v(value)),
            Comparison::Eq { value } => write!(f, "= {}", v(value)),
            Comparison::NotEq { value } => write!(f, "<> {}", v(value)),
            Comparison::Between { low, high } => {
                write!(f, "BETWEEN {} AND {}", v(low), v(high))
            }
            Comparison::NotBetween { low, high } => {
                write!(f, "NOT BETWEEN {} AND {}", v(low), v(high))
            }
        }
    }
}

/// Seconds as an interval the one interval grammar reads back: `6 hours`, `90 seconds`,
/// `1500ms`; negative values (a timestamp in the future) keep their sign.
pub fn interval_text(seconds: f64) -> String {
    let sign = if seconds < 0.0 { "-" } else { "" };
    let s = seconds.abs();
    if s.fract() == 0.0 && s < u64::MAX as f64 {
        format!("{sign}{}", crate::sql::format_interval(s as u64))
    } else {
        format!("{sign}{}ms", num((s * 1000.0).round()))
    }
}

impl fmt::Display for ColumnRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A column named expect is quoted, or it reads as an EXPECT item.
        if self.column == "expect" {
            write!(f, "\"expect\"")?;
        } else {
            write!(f, "{}", Ident(&self.column))?;
        }
        if let Some(t) = &self.data_type {
            write!(f, " {t}")?;
        }
        if self.not_null {
            write!(f, " NOT NULL")?;
        }
        if self.unique {
            write!(f, " UNIQUE")?;
        }
        for c in &self.checks {
            write!(f, " CHECK ({c})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let threshold = |comparison| Threshold {
            comparison,
            interval: self.interval,
        };
        write!(f, "EXPECT {} {}", self.metric, threshold(&self.expect))?;
        if let Some(w) = &self.warn_when {
            write!(f, " WARN WHEN {}", threshold(w))?;
        }
        if let Some(w) = self.window_seconds {
            write!(f, " WINDOW INTERVAL '{}'", crate::sql::format_interval(w))?;
        }
        Ok(())
    }
}

impl Contract {
    /// The contract's items (column rules, then expectations) as canonical SQL.
    pub fn items(&self) -> ContractItems<'_> {
        ContractItems {
            columns: &self.columns,
            expectations: &self.expectations,
        }
    }
}

/// `col BIGINT NOT NULL, EXPECT row_count() > 0`: the one printer of a contract's items, used
/// by the stored contract and by `CREATE CONTRACT`.
pub struct ContractItems<'a> {
    pub(crate) columns: &'a [ColumnRule],
    pub(crate) expectations: &'a [Expectation],
}

impl fmt::Display for ContractItems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.columns.iter().map(|c| c as &dyn fmt::Display);
        let expectations = self.expectations.iter().map(|e| e as &dyn fmt::Display);
        for (i, item) in columns.chain(expectations).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE CONTRACT {} FOR {} ({})",
            Ident(&self.name),
            Ident(&self.dataset),
            self.items()
        )
    }
}
