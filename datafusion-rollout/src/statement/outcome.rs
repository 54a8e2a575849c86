//! [`Outcome`]: what a statement did, as a value the shell, Python and tests read by field.

use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;

use crate::contract::CheckReport;
use crate::error::Result;
use crate::store::{CommitOutcome, Committed};

/// What running one statement did.
#[derive(Debug)]
pub enum Outcome {
    /// Rows to read: a query, or a table our statement built (`SHOW ...`, `VACUUM`). Queries are
    /// lazy: they run when collected.
    Query(DataFrame),
    /// A log entry landed.
    Committed {
        /// The entry's sequence number.
        sequence: u64,
        /// What was done (`PROMOTE`, `REGISTER VERSION`, ...).
        operation: String,
        /// The dataset changed, if any.
        dataset: Option<String>,
        /// A line for the user saying what happened.
        message: String,
        /// The checks that gated the change (a registration's contract, PROMOTE's guards).
        report: Option<CheckReport>,
        /// FORCE made the change although checks failed.
        forced: bool,
    },
    /// Nothing needed to change; `why` says so.
    Unchanged {
        /// Why nothing changed.
        why: String,
    },
    /// Checks ran (`CHECK`): their report.
    Checked {
        /// The checks' results.
        report: CheckReport,
    },
    /// A `rollout.*` setting changed (`value` `None`: reset).
    Setting {
        /// The setting (`rollout.consumer`).
        name: String,
        /// Its new value; `None` after `RESET`.
        value: Option<String>,
    },
    /// A statement that held and has nothing to show (`ASSERT`).
    Done,
}

impl Outcome {
    /// The outcome of a commit: committed, or unchanged for `why`.
    pub(crate) fn of_commit(
        outcome: CommitOutcome,
        report: Option<CheckReport>,
        why: impl FnOnce() -> String,
    ) -> Outcome {
        match outcome {
            CommitOutcome::Committed(done) => Outcome::committed(done, report, false),
            CommitOutcome::Unchanged => Outcome::Unchanged { why: why() },
        }
    }

    /// [`Self::of_commit`] of a change FORCE may have pushed past failing checks.
    pub(crate) fn of_forced_commit(
        outcome: CommitOutcome,
        report: Option<CheckReport>,
        force: bool,
        why: impl FnOnce() -> String,
    ) -> Outcome {
        let forced = force && report.as_ref().is_some_and(CheckReport::failed);
        match Outcome::of_commit(outcome, report, why) {
            Outcome::Committed {
                sequence,
                operation,
                dataset,
                message,
                report,
                ..
            } => Outcome::Committed {
                sequence,
                operation,
                dataset,
                message,
                report,
                forced,
            },
            unchanged => unchanged,
        }
    }

    fn committed(done: Box<Committed>, report: Option<CheckReport>, forced: bool) -> Outcome {
        Outcome::Committed {
            sequence: done.entry.sequence,
            operation: done.entry.operation,
            dataset: done.entry.dataset,
            message: done.message,
            report,
            forced,
        }
    }

    /// The checks the statement ran, if it ran any: `CHECK`'s, or those that gated a commit.
    pub fn report(&self) -> Option<&CheckReport> {
        match self {
            Outcome::Checked { report } => Some(report),
            Outcome::Committed { report, .. } => report.as_ref(),
            _ => None,
        }
    }

    /// The checks whose verdict is the statement's: `CHECK`'s, and those that gated a commit
    /// unless FORCE overrode them. A failure among them fails a batch script with exit code 1.
    pub fn verdict(&self) -> Option<&CheckReport> {
        match self {
            Outcome::Committed { forced: true, .. } => None,
            other => other.report(),
        }
    }

    /// What the statement did, in one word: `query`, `committed`, `unchanged`, `checked`,
    /// `setting` or `done` (what Python's `QueryResult.outcome` and a server's app_metadata
    /// say).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Query(_) => "query",
            Outcome::Committed { .. } => "committed",
            Outcome::Unchanged { .. } => "unchanged",
            Outcome::Checked { .. } => "checked",
            Outcome::Setting { .. } => "setting",
            Outcome::Done => "done",
        }
    }

    /// The sequence number of the entry the statement committed.
    pub fn sequence(&self) -> Option<u64> {
        match self {
            Outcome::Committed { sequence, .. } => Some(*sequence),
            _ => None,
        }
    }

    /// The outcome as a table: a query's rows, `CHECK`'s result table, or one `result` row
    /// saying what happened (`... (#42)` for a commit); nothing for settings and `ASSERT`.
    pub fn into_frame(self, session: &SessionContext) -> Result<DataFrame> {
        let text = match self {
            Outcome::Query(df) => return Ok(df),
            Outcome::Checked { report } => return Ok(session.read_batch(report.batch()?)?),
            Outcome::Setting { .. } | Outcome::Done => return Ok(session.read_empty()?),
            Outcome::Committed {
                sequence, message, ..
            } => format!("{message} (#{sequence})"),
            Outcome::Unchanged { why } => why,
        };
        let schema = Arc::new(Schema::new(vec![Field::new(
            "result",
            DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec![text]))])?;
        Ok(session.read_batch(batch)?)
    }
}
