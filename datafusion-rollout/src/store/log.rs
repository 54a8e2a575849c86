//! Log entries and checkpoints on object storage, and folding them into the state.

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
/// How many entries a refresh reads at once when it finds a backlog.
const READ_AHEAD: u64 = 16;
/// How many names past a missing entry are probed before it counts as the end of the log.
const GAP_PROBES: u64 = 2;

/// One commit: who did what, why, what it checked, and the resulting changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Version of the entry format (currently 1).
    pub format: u32,
    /// Its sequence number: 1 for the first commit, one more for each after it.
    pub sequence: u64,
    /// When it was committed.
    pub timestamp: DateTime<Utc>,
    /// Who committed it.
    pub actor: String,
    /// A unique id of the commit (a UUID).
    pub transaction_id: String,
    /// `PROMOTE`, `ROLLBACK`, `REGISTER VERSION`, ...
    pub operation: String,
    /// The dataset the operation is about, if any.
    pub dataset: Option<String>,
    /// The statement in canonical SQL (its arguments).
    pub statement: String,
    /// The statement's `REASON`.
    pub reason: Option<String>,
    /// Results of the checks that gated the operation.
    #[serde(default)]
    pub checks: Vec<serde_json::Value>,
    /// Who had read the version this entry took away (a rollback's blast radius).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<serde_json::Value>,
    /// The changes to the catalog, applied in order.
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

/// A log entry's bytes: empty, unparsable and too-new entries are named problems.
fn parse_entry(bytes: &[u8]) -> std::result::Result<LogEntry, String> {
    if bytes.is_empty() {
        return Err("is empty".into());
    }
    let entry: LogEntry =
        serde_json::from_slice(bytes).map_err(|e| format!("does not parse: {e}"))?;
    if entry.format > FORMAT_VERSION {
        return Err(format!(
            "was written by a newer datafusion-rollout (log format {}, this one reads {FORMAT_VERSION})",
            entry.format
        ));
    }
    Ok(entry)
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
    ///
    /// Entries are read by name (`n + 1`, `n + 2`, ...; several at a time once a backlog shows
    /// up) until one is not found, so the cost is that of the new entries, never of the
    /// history: no listing, which on a local folder walks every file. The end of the log is
    /// confirmed by probing the next `GAP_PROBES` names: an entry there while its predecessor
    /// is still missing is a gap (entries are only ever written after their predecessor, so
    /// this can only come from files removed by hand).
    pub async fn refresh(&self) -> Result<Arc<State>> {
        self.refresh_probing(true).await
    }

    /// [`Self::refresh`] for a statement that changes nothing (a query, a SHOW): the first name
    /// not found ends the log, without the end-of-log probes, so it costs one request when
    /// nothing is new. What it returns is what [`Self::refresh`] would (the entries before a
    /// gap); only the detection of a gap by name probes is left to opening and committing,
    /// which then make the store read-only. A gap inside entries read at once is still caught.
    pub async fn refresh_to_read(&self) -> Result<Arc<State>> {
        self.refresh_probing(false).await
    }

    /// The refresh itself; [`Self::refresh_probing`] runs one at a time.
    pub(super) async fn fold_new_entries(&self, probe_gaps: bool) -> Result<Arc<State>> {
        let current = self.state();
        let mut state: Option<State> = None;
        let mut problem = None;
        let mut window = 1u64;
        'fold: loop {
            let first = state.as_ref().map_or(current.sequence, |s| s.sequence) + 1;
            let reads =
                futures::future::join_all((first..first + window).map(|seq| self.read_seq(seq)))
                    .await;
            // Which names of the window were not found: they spare the end-of-log probes.
            let missing: Vec<bool> = reads.iter().map(|r| matches!(r, Ok(None))).collect();
            for (i, (seq, read)) in (first..).zip(reads).enumerate() {
                let path = self.log_path(&entry_name(seq));
                let entry = match read {
                    Ok(Some(entry)) => entry,
                    Ok(None) => match self.end_or_gap(seq, &missing[i + 1..], probe_gaps).await {
                        Ok(None) => break 'fold,
                        Ok(Some(entry)) => entry,
                        Err(reason) => {
                            problem = Some(reason);
                            break 'fold;
                        }
                    },
                    Err(reason) => {
                        problem = Some(format!("{path}: {reason}"));
                        break 'fold;
                    }
                };
                if entry.sequence != seq {
                    problem = Some(format!(
                        "{path}: file name says sequence {seq} but the entry says {}",
                        entry.sequence
                    ));
                    break 'fold;
                }
                let next = state.get_or_insert_with(|| current.as_ref().clone());
                if let Err(reason) = next.apply(seq, &entry.actions) {
                    problem = Some(format!("{path}: does not apply: {reason}"));
                    break 'fold;
                }
            }
            window = (window * 2).min(READ_AHEAD);
        }
        if let Some(state) = state {
            self.install(Arc::new(state));
        }
        if let Some(problem) = problem {
            self.set_read_only(Some(format!("corrupt log entry {problem}")));
        }
        Ok(self.state())
    }

    /// Entry `seq` was not found: the end of the log, unless one of the next names exists.
    /// Then `seq` is read again (a writer may have added it and its successors meanwhile):
    /// found, it is returned; still missing, that is a gap. `window_after` says, for the names
    /// after `seq` this refresh already read, whether each was missing; only the rest of the
    /// [`GAP_PROBES`] names are probed.
    async fn end_or_gap(
        &self,
        seq: u64,
        window_after: &[bool],
        probe: bool,
    ) -> std::result::Result<Option<LogEntry>, String> {
        let later = match window_after.iter().position(|missing| !missing) {
            Some(i) => Some(self.log_path(&entry_name(seq + 1 + i as u64))),
            None if !probe => None,
            None => {
                let known = window_after.len() as u64;
                let probes = (seq + 1 + known..=seq + GAP_PROBES).map(|later| async move {
                    let path = self.log_path(&entry_name(later));
                    self.object_store.head(&path).await.ok().map(|_| path)
                });
                futures::future::join_all(probes)
                    .await
                    .into_iter()
                    .flatten()
                    .next()
            }
        };
        let Some(later) = later else {
            return Ok(None);
        };
        match self.read_seq(seq).await {
            Ok(None) => Err(format!(
                "{later}: entry {seq} is missing before it (a gap in the log)"
            )),
            other => other,
        }
    }

    /// Entry `seq`, `None` when there is no such file.
    async fn read_seq(&self, seq: u64) -> std::result::Result<Option<LogEntry>, String> {
        // On a local folder, whether the entry exists is asked of the file system on this
        // thread: a `stat` takes about a microsecond, where object_store's LocalFileSystem
        // would send the request through Tokio's blocking pool and back, two thread switches
        // that were most of a query's refresh when nothing is new. An entry that exists (or
        // an error) is read through the object store as everywhere else.
        if let Some(folder) = &self.local_log
            && let Err(e) = std::fs::metadata(folder.join(entry_name(seq)))
            && e.kind() == std::io::ErrorKind::NotFound
        {
            return Ok(None);
        }
        let path = self.log_path(&entry_name(seq));
        match self.object_store.get(&path).await {
            Err(datafusion::object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(format!("cannot be read: {e}")),
            Ok(got) => {
                let bytes = got
                    .bytes()
                    .await
                    .map_err(|e| format!("cannot be read: {e}"))?;
                parse_entry(&bytes).map(Some)
            }
        }
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
        parse_entry(&bytes)
    }

    /// Every log entry with its sequence, oldest first (for `SHOW HISTORY`).
    pub async fn history(&self) -> Result<Vec<LogEntry>> {
        self.history_after(0).await
    }

    /// The log entries after sequence `after` up to the state this process knows, oldest
    /// first. Entries never change, so a reader that keeps what it read asks only for the new.
    pub async fn history_after(&self, after: u64) -> Result<Vec<LogEntry>> {
        let state = self.state();
        // Read by name, not from a listing: a listing taken while writers add entries can
        // miss one, and the history would silently lack it.
        let paths = (after + 1..=state.sequence).map(|seq| self.log_path(&entry_name(seq)));
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
    fn entry_names_sort() {
        assert_eq!(entry_name(7), "00000000000000000007.json");
        assert!(entry_name(99) < entry_name(100));
        assert_eq!(checkpoint_name(100), "00000000000000000100.checkpoint.json");
    }
}
