//! The commit loop: the one place where a lost race for a sequence number is retried.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::Store;
use super::log::{LogEntry, PutOutcome};
use crate::catalog::{Action, State};
use crate::error::{Error, Result};

/// What a statement wants committed, computed from (and checked against) one state.
#[derive(Debug, Clone)]
pub(crate) struct Commit {
    pub operation: String,
    pub dataset: Option<String>,
    pub statement: String,
    pub reason: Option<String>,
    pub checks: Vec<serde_json::Value>,
    pub actions: Vec<Action>,
    /// A line for the user saying what happened.
    pub message: String,
    /// Who read the version this change takes away (a rollback's blast radius), as recorded.
    pub blast_radius: Option<serde_json::Value>,
}

/// What [`Store::commit`] did.
#[derive(Debug, Clone)]
pub(crate) enum CommitOutcome {
    /// A new log entry landed.
    Committed(Box<Committed>),
    /// The plan found nothing to change, and nothing was written.
    Unchanged,
}

/// A commit that landed.
#[derive(Debug, Clone)]
pub(crate) struct Committed {
    pub entry: LogEntry,
    pub message: String,
    pub state: Arc<State>,
}

impl Store {
    /// Commits what `plan` computes from the latest state.
    ///
    /// `plan` checks the statement's preconditions against the state it is given and returns the
    /// actions, or `None` when there is nothing to change. When another writer takes the sequence number first, the store reloads and `plan`
    /// runs again on the new state (so preconditions are re-checked), up to
    /// `max_commit_attempts` times; then the commit fails with [`Error::ConcurrentModification`].
    pub(crate) async fn commit(
        &self,
        actor: &str,
        transaction_id: &str,
        mut plan: impl FnMut(&State) -> Result<Option<Commit>>,
    ) -> Result<CommitOutcome> {
        let mut operation = String::new();
        for attempt in 0..self.options.max_commit_attempts {
            if let Some(reason) = self.read_only_reason() {
                return Err(Error::ReadOnly { reason });
            }
            let state = self.refresh().await?;
            if let Some(reason) = self.read_only_reason() {
                return Err(Error::ReadOnly { reason });
            }
            let Some(commit) = plan(&state)? else {
                return Ok(CommitOutcome::Unchanged);
            };
            operation = commit.operation.clone();
            let entry = LogEntry {
                format: 1,
                sequence: state.sequence + 1,
                timestamp: Utc::now(),
                actor: actor.to_string(),
                transaction_id: transaction_id.to_string(),
                operation: commit.operation,
                dataset: commit.dataset,
                statement: commit.statement,
                reason: commit.reason,
                checks: commit.checks,
                blast_radius: commit.blast_radius,
                actions: commit.actions,
            };
            // Apply before writing: an entry that would not apply must never reach the log.
            let mut next = state.as_ref().clone();
            next.apply(entry.sequence, &entry.actions)
                .map_err(|reason| {
                    Error::internal(format!("a planned entry does not apply: {reason}"))
                })?;
            match self.put_entry(&entry).await? {
                PutOutcome::Written => {
                    let next = Arc::new(next);
                    self.install(Arc::clone(&next));
                    if self.options.checkpoint_interval > 0
                        && entry
                            .sequence
                            .is_multiple_of(self.options.checkpoint_interval)
                    {
                        self.write_checkpoint(&next, &entry.transaction_id).await;
                    }
                    return Ok(CommitOutcome::Committed(Box::new(Committed {
                        entry,
                        message: commit.message,
                        state: next,
                    })));
                }
                PutOutcome::Taken => backoff(attempt).await,
            }
        }
        Err(Error::ConcurrentModification {
            operation,
            attempts: self.options.max_commit_attempts,
        })
    }
}

/// Exponential backoff with jitter, capped, so racing writers spread out.
async fn backoff(attempt: usize) {
    let cap_ms = 1u64 << attempt.min(6);
    let jitter = uuid::Uuid::new_v4().as_u128() as u64 % (cap_ms * 1000 + 1);
    tokio::time::sleep(Duration::from_micros(jitter)).await;
}
