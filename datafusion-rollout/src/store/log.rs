//! Log entries and checkpoints on object storage, and folding them into the state.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::catalog::{Action, State};
use crate::error::{Error, Result};

/// Folder of the log inside a store.
pub const LOG_DIR: &str = "_rollout_log";
const LAST_CHECKPOINT: &str = "_last_checkpoint";
const FORMAT_VERSION: u32 = 1;

/// One commit: who did what, why, what it checked, and the resulting changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub format: u32,
    pub sequence: u64,
    pub timestamp: DateTime<Utc>,
    pub actor: String,
    pub transaction_id: String,
    /// `PROMOTE`, `ROLLBACK`, `REGISTER VERSION`, ...
    pub operation: String,
    /// The dataset the operation is about, if any.
    pub dataset: Option<String>,
    /// The statement in canonical SQL (its arguments).
    pub statement: String,
    pub reason: Option<String>,
    /// Results of the checks that gated the operation.
    #[serde(default)]
    pub checks: Vec<serde_json::Value>,
    pub actions: Vec<Action>,
}

#[derive(Serialize, Deserialize)]
struct CheckpointHint {
    sequence: u64,
}

/// First line of a checkpoint file; the state's JSON follows on the next line.
///
/// The log is the truth and a checkpoint only a shortcut: one whose bytes do not hash to
/// `state_hash`, or whose own entry is missing or has another transaction id (the log was
/// rewritten or restored under it), is ignored and the log replayed instead.
#[derive(Serialize, Deserialize)]
struct CheckpointHeader {
    sequence: u64,
    /// Transaction id of log entry `sequence`.
    transaction_id: String,
    /// murmur3_x64_128 (seed 0) of the state's bytes, in hex.
    state_hash: String,
}

fn state_hash(bytes: &[u8]) -> String {
    let mut reader = bytes;
    format!(
        "{:032x}",
        murmur3::murmur3_x64_128(&mut reader, 0).unwrap_or_default()
    )
}

pub(super) fn entry_name(sequence: u64) -> String {
    format!("{sequence:020}.json")
}

fn checkpoint_name(sequence: u64) -> String {
    format!("{sequence:020}.checkpoint.json")
}

/// The sequence number of a log entry's file name, `None` for anything else.
fn parse_entry_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

pub(super) enum PutOutcome {
    Written,
    Taken,
}

impl Store {
    fn log_path(&self, name: &str) -> Path {
        self.path_of(&format!("{LOG_DIR}/{name}"))
    }

    /// Reads the latest checkpoint (if any) and every entry after it.
    pub(super) async fn load(&self) -> Result<()> {
        let base = self.load_checkpoint().await.unwrap_or_default();
        self.set_state(Arc::new(base));
        self.refresh().await.map(|_| ())
    }

    async fn load_checkpoint(&self) -> Option<State> {
        // The hint and the checkpoint are optimisations: anything wrong with them means replay.
        let hint = self
            .object_store
            .get(&self.log_path(LAST_CHECKPOINT))
            .await
            .ok()?;
        let hint: CheckpointHint = serde_json::from_slice(&hint.bytes().await.ok()?).ok()?;
        let data = self
            .object_store
            .get(&self.log_path(&checkpoint_name(hint.sequence)))
            .await
            .ok()?
            .bytes()
            .await
            .ok()?;
        let newline = data.iter().position(|b| *b == b'\n')?;
        let header: CheckpointHeader = serde_json::from_slice(&data[..newline]).ok()?;
        let body = &data[newline + 1..];
        if header.sequence != hint.sequence || state_hash(body) != header.state_hash {
            return None;
        }
        let state: State = serde_json::from_slice(body).ok()?;
        if state.sequence != header.sequence {
            return None;
        }
        let entry = self
            .read_entry(&self.log_path(&entry_name(header.sequence)))
            .await
            .ok()?;
        (entry.sequence == header.sequence && entry.transaction_id == header.transaction_id)
            .then_some(state)
    }

    /// Applies every entry committed since the state was last read, and returns the new state.
    /// A bad entry stops the fold there and makes the store read-only (reported, not guessed).
    pub async fn refresh(&self) -> Result<Arc<State>> {
        let current = self.state();
        let offset = self.log_path(&entry_name(current.sequence));
        let prefix = self.path_of(LOG_DIR);
        let listed: Vec<_> = self
            .object_store
            .list_with_offset(Some(&prefix), &offset)
            .try_collect()
            .await?;
        let found: BTreeMap<u64, Path> = listed
            .into_iter()
            .filter_map(|meta| {
                let seq = parse_entry_name(meta.location.filename()?)?;
                (seq > current.sequence).then_some((seq, meta.location))
            })
            .collect();
        let Some(&last) = found.keys().next_back() else {
            return Ok(current);
        };

        let mut state = current.as_ref().clone();
        let mut problem = None;
        while state.sequence < last {
            let seq = state.sequence + 1;
            // A listing is no snapshot: a local folder read while other writers add entries
            // can show entry n+1 without entry n, written just before it. An entry missing
            // from the listing is read directly; only one that is not there is a gap.
            let (path, listed) = match found.get(&seq) {
                Some(path) => (path.clone(), true),
                None => (self.log_path(&entry_name(seq)), false),
            };
            match self.read_entry(&path).await {
                Err(_) if !listed => {
                    let after = found.range(seq..).next().map(|(_, p)| p.to_string());
                    problem = Some(format!(
                        "{}: entry {seq} is missing before it (a gap in the log)",
                        after.unwrap_or_default()
                    ));
                    break;
                }
                Ok(entry) if entry.sequence != seq => {
                    problem = Some(format!(
                        "{path}: file name says sequence {seq} but the entry says {}",
                        entry.sequence
                    ));
                    break;
                }
                Ok(entry) => {
                    if let Err(reason) = state.apply(seq, &entry.actions) {
                        problem = Some(format!("{path}: does not apply: {reason}"));
                        break;
                    }
                }
                Err(reason) => {
                    problem = Some(format!("{path}: {reason}"));
                    break;
                }
            }
        }
        let state = Arc::new(state);
        self.install(Arc::clone(&state));
        if let Some(problem) = problem {
            self.set_read_only(Some(format!("corrupt log entry {problem}")));
        }
        Ok(self.state())
    }

    /// Makes `state` current unless a newer one was installed meanwhile (by another task).
    pub(super) fn install(&self, state: Arc<State>) {
        match self.state.write() {
            Ok(mut s) if s.sequence < state.sequence => *s = state,
            Ok(_) => {}
            Err(poisoned) => {
                let mut s = poisoned.into_inner();
                if s.sequence < state.sequence {
                    *s = state;
                }
            }
        }
    }

    async fn read_entry(&self, path: &Path) -> std::result::Result<LogEntry, String> {
        let bytes = self
            .object_store
            .get(path)
            .await
            .map_err(|e| format!("cannot be read: {e}"))?
            .bytes()
            .await
            .map_err(|e| format!("cannot be read: {e}"))?;
        if bytes.is_empty() {
            return Err("is empty".into());
        }
        let entry: LogEntry =
            serde_json::from_slice(&bytes).map_err(|e| format!("does not parse: {e}"))?;
        if entry.format > FORMAT_VERSION {
            return Err(format!(
                "was written by a newer datafusion-rollout (log format {}, this one reads {FORMAT_VERSION})",
                entry.format
            ));
        }
        Ok(entry)
    }

    /// Every log entry with its sequence, oldest first (for `SHOW HISTORY`).
    pub async fn history(&self) -> Result<Vec<LogEntry>> {
        let state = self.state();
        // Read by name, not from a listing: a listing taken while writers add entries can
        // miss one, and the history would silently lack it.
        let paths = (1..=state.sequence).map(|seq| self.log_path(&entry_name(seq)));
        let reads = paths.map(|path| async move {
            self.read_entry(&path)
                .await
                .map_err(|reason| Error::CorruptLogEntry {
                    path: path.to_string(),
                    reason,
                })
        });
        futures::stream::iter(reads)
            .buffered(16)
            .try_collect()
            .await
    }

    /// Writes `entry` if its sequence number is still free.
    pub(super) async fn put_entry(&self, entry: &LogEntry) -> Result<PutOutcome> {
        let body = serde_json::to_vec_pretty(entry)?;
        let options = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let path = self.log_path(&entry_name(entry.sequence));
        match self
            .object_store
            .put_opts(&path, PutPayload::from(body), options)
            .await
        {
            Ok(_) => Ok(PutOutcome::Written),
            Err(datafusion::object_store::Error::AlreadyExists { .. })
            | Err(datafusion::object_store::Error::Precondition { .. }) => {
                // A put that reached the server but whose answer was lost is retried by the
                // client and then finds its own entry: that is our commit, not a conflict.
                match self.read_entry(&path).await {
                    Ok(existing) if existing.transaction_id == entry.transaction_id => {
                        Ok(PutOutcome::Written)
                    }
                    _ => Ok(PutOutcome::Taken),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a checkpoint of `state` (just committed by `transaction_id`) and points the
    /// hint at it. Failures are harmless (the log stays the truth), so they are ignored.
    pub(super) async fn write_checkpoint(&self, state: &State, transaction_id: &str) {
        let Ok(body) = serde_json::to_vec(state) else {
            return;
        };
        let header = CheckpointHeader {
            sequence: state.sequence,
            transaction_id: transaction_id.to_string(),
            state_hash: state_hash(&body),
        };
        let Ok(mut file) = serde_json::to_vec(&header) else {
            return;
        };
        file.push(b'\n');
        file.extend_from_slice(&body);
        let create = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let path = self.log_path(&checkpoint_name(state.sequence));
        match self.object_store.put_opts(&path, file.into(), create).await {
            Ok(_) | Err(datafusion::object_store::Error::AlreadyExists { .. }) => {}
            Err(_) => return,
        }
        let Ok(hint) = serde_json::to_vec(&CheckpointHint {
            sequence: state.sequence,
        }) else {
            return;
        };
        // The hint is not part of the log; overwriting it is safe (readers verify the sequence).
        let _ = self
            .object_store
            .put(&self.log_path(LAST_CHECKPOINT), hint.into())
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_sort_and_parse() {
        assert_eq!(entry_name(7), "00000000000000000007.json");
        assert_eq!(parse_entry_name(&entry_name(123)), Some(123));
        assert_eq!(parse_entry_name(&checkpoint_name(100)), None);
        assert_eq!(parse_entry_name("_last_checkpoint"), None);
        assert_eq!(parse_entry_name("7.json"), None);
    }
}
