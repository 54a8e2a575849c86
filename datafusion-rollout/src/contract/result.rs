//! Check results and their table form.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The value meets the expectation.
    Pass,
    /// The value meets the expectation but also its `WARN WHEN` condition.
    Warn,
    /// The value does not meet the expectation.
    Fail,
    /// The check could not be evaluated (its query failed or gave no number); counts as a
    /// failure.
    Error,
    /// Not decided yet: a live expectation with too few samples, or outside a live rollout.
    Pending,
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
            CheckStatus::Error => "error",
            CheckStatus::Pending => "pending",
        })
    }
}

/// One row of `CHECK`: what was checked, the measured value, the threshold, the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check: a rule (`not_null`, `unique`, `check (amount >= 0)`) or an `EXPECT` metric.
    pub check: String,
    /// The column the check is about, if it is about one.
    pub column: Option<String>,
    /// The measured value, if there is one (not for type checks, errors, pending checks or a
    /// NULL metric).
    pub value: Option<f64>,
    /// What was expected: a comparison as SQL (`<= 0.01`), or a type check's declared type.
    pub threshold: String,
    /// The verdict.
    pub status: CheckStatus,
    /// More about the verdict (an error message, the samples a live check saw); may be empty.
    pub detail: String,
}

/// The result table of `CHECK`.
pub fn results_batch(results: &[CheckResult]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("check", DataType::Utf8, false),
        Field::new("column", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new("threshold", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
    ]));
    let text = |f: &dyn Fn(&CheckResult) -> Option<String>| -> ArrayRef {
        Arc::new(results.iter().map(f).collect::<StringArray>())
    };
    Ok(RecordBatch::try_new(
        schema,
        vec![
            text(&|r| Some(r.check.clone())),
            text(&|r| r.column.clone()),
            Arc::new(results.iter().map(|r| r.value).collect::<Float64Array>()),
            text(&|r| Some(r.threshold.clone())),
            text(&|r| Some(r.status.to_string())),
            text(&|r| Some(r.detail.clone())),
        ],
    )?)
}

/// "null_fraction(customer_id) = 0.2 (expected <= 0.01); ..." for the failing checks.
pub fn summarize_failures(results: &[CheckResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| matches!(r.status, CheckStatus::Fail | CheckStatus::Error))
        .map(|r| {
            let value = r.value.map(|v| format!(" = {v}")).unwrap_or_default();
            let what = match &r.column {
                Some(c) if !r.check.contains(c.as_str()) => format!("{} on {c}", r.check),
                _ => r.check.clone(),
            };
            format!(
                "{what}{value} (expected {}): {} {}",
                r.threshold, r.status, r.detail
            )
            .trim_end()
            .to_string()
        })
        .collect()
}

/// The results of a set of checks, as one value a caller can read without parsing text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckReport {
    /// One result per check, in the contract's order.
    pub results: Vec<CheckResult>,
}

/// How many checks ended with each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckCounts {
    /// Checks that passed.
    pub pass: usize,
    /// Checks that warned.
    pub warn: usize,
    /// Checks that failed.
    pub fail: usize,
    /// Checks that could not be evaluated.
    pub error: usize,
    /// Live checks not decided yet.
    pub pending: usize,
}

impl CheckReport {
    pub(crate) fn new(results: Vec<CheckResult>) -> Self {
        Self { results }
    }

    /// Checks per status.
    pub fn counts(&self) -> CheckCounts {
        let mut counts = CheckCounts::default();
        for r in &self.results {
            match r.status {
                CheckStatus::Pass => counts.pass += 1,
                CheckStatus::Warn => counts.warn += 1,
                CheckStatus::Fail => counts.fail += 1,
                CheckStatus::Error => counts.error += 1,
                CheckStatus::Pending => counts.pending += 1,
            }
        }
        counts
    }

    /// Whether any check failed or could not run.
    pub fn failed(&self) -> bool {
        let c = self.counts();
        c.fail + c.error > 0
    }

    /// One line per failing check.
    pub fn failures(&self) -> Vec<String> {
        summarize_failures(&self.results)
    }

    /// The results as stored in a log entry (the evidence of a change).
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        self.results
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect()
    }

    /// The result table of `CHECK`.
    pub fn batch(&self) -> Result<RecordBatch> {
        results_batch(&self.results)
    }
}
