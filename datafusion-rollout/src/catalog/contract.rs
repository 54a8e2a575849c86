//! Contracts as data: the stored form of a dataset's checks (expressions are kept as canonical
//! SQL text). How they compile and run lives in the contract layer above.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sql::{Ident, number as num};

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
        write!(f, "EXPECT {} {}", self.metric, self.expect)?;
        if let Some(w) = &self.warn_when {
            write!(f, " WARN WHEN {w}")?;
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
    pub columns: &'a [ColumnRule],
    pub expectations: &'a [Expectation],
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
