//! The stored form of a contract (expressions are kept as canonical SQL text).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A dataset's contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    pub name: String,
    pub dataset: String,
    pub columns: Vec<ColumnRule>,
    pub expectations: Vec<Expectation>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// Rules on one column: `amount DOUBLE NOT NULL UNIQUE CHECK (amount >= 0)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRule {
    pub column: String,
    /// The declared SQL type, if any (`BIGINT`).
    pub data_type: Option<String>,
    pub not_null: bool,
    pub unique: bool,
    /// SQL boolean expressions every row must satisfy (NULL counts as satisfied, as in SQL).
    pub checks: Vec<String>,
}

/// `EXPECT <metric> <comparison> [WARN WHEN <comparison>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Expectation {
    /// The metric, an aggregate SQL expression (`null_fraction(customer_id)`, `drift_psi(amount)`).
    pub metric: String,
    /// What must hold, or the check fails.
    pub expect: Comparison,
    /// When it holds but this is true, the check warns.
    pub warn_when: Option<Comparison>,
}

/// A comparison of a metric against numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Comparison {
    Lt { value: f64 },
    LtEq { value: f64 },
    Gt { value: f64 },
    GtEq { value: f64 },
    Eq { value: f64 },
    NotEq { value: f64 },
    Between { low: f64, high: f64 },
    NotBetween { low: f64, high: f64 },
}

/// A number bound, for display.
pub type Bound = f64;

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

/// Numbers print as SQL literals (`0.25`, `1000`, `-1`).
pub(crate) fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Comparison::Lt { value } => write!(f, "< {}", num(value)),
            Comparison::LtEq { value } => write!(f, "<= {}", num(value)),
            Comparison::Gt { value } => write!(f, "> {}", num(value)),
            Comparison::GtEq { value } => write!(f, ">= {}", num(value)),
            Comparison::Eq { value } => write!(f, "= {}", num(value)),
            Comparison::NotEq { value } => write!(f, "<> {}", num(value)),
            Comparison::Between { low, high } => {
                write!(f, "BETWEEN {} AND {}", num(low), num(high))
            }
            Comparison::NotBetween { low, high } => {
                write!(f, "NOT BETWEEN {} AND {}", num(low), num(high))
            }
        }
    }
}

impl fmt::Display for ColumnRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A column named expect is quoted, or it reads as an EXPECT item.
        if self.column == "expect" {
            write!(f, "\"expect\"")?;
        } else {
            write!(f, "{}", crate::statement::ident(&self.column))?;
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
        write!(f, "EXPECT {} {}", self.metric, self.expect)?;
        if let Some(w) = &self.warn_when {
            write!(f, " WARN WHEN {w}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = self.columns.iter().map(|c| c.to_string()).collect();
        items.extend(self.expectations.iter().map(|e| e.to_string()));
        write!(
            f,
            "CREATE CONTRACT {} FOR {} ({})",
            crate::statement::ident(&self.name),
            crate::statement::ident(&self.dataset),
            items.join(", ")
        )
    }
}
