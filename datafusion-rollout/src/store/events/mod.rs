//! Events: what consumers experienced while a rollout was live (the reads they made, the
//! metrics they reported), what the controller decided, which notifications were delivered.
//!
//! Events never go through the commit log: readers must not contend with writers. Each process
//! buffers its events in memory and writes them as one new object per flush,
//! `_rollout_events/<day>/<epoch millis>-<uuid>.jsonl` (JSON lines, `PutMode::Create`, a name
//! nobody else can take), on a timer, when the session closes and at the end of a shell
//! statement. A crashed process loses at most its unflushed buffer; a failed flush keeps the
//! events for the next one. Objects are immutable, so a reader parses each one once and keeps
//! it; an object that cannot be read or parsed is skipped and named, never fatal. Days that
//! have ended are compacted into one Parquet object each, and old days removed, by `VACUUM`
//! ([`compact`]).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectMeta, ObjectStore, PutMode, PutOptions};
use futures::TryStreamExt;

use crate::error::Result;

mod compact;
mod compacted;
mod kinds;
mod observe;

pub use compact::{CompactedDay, ExpiredDay};
pub use kinds::{Arm, DeliveryEvent, EvaluationEvent, Event, MetricEvent, ReadEvent};
pub use observe::EventObserver;
use observe::Observers;

/// The folder of event objects under the store's root.
pub const EVENTS_DIR: &str = "_rollout_events";

/// Flush early once this many events wait in memory.
const FLUSH_AT: usize = 50_000;

/// At most this many events are kept while flushes fail; the oldest are dropped beyond it
/// (and counted), so an unreachable store cannot exhaust memory.
const MAX_BUFFERED: usize = 1_000_000;

/// An event object that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The object's path in the store.
    pub path: String,
    /// What was wrong with it.
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skipped event object {}: {}", self.path, self.reason)
    }
}

/// What a read of the events folder found.
#[derive(Debug, Clone, Default)]
pub struct EventsRead {
    /// Every event, flushed by any process or still buffered in this one, oldest first.
    pub events: Vec<Event>,
    /// Objects that could not be read or parsed.
    pub skipped: Vec<Skipped>,
}

/// This process's event buffer, writer and reader for one store.
#[derive(Debug)]
pub struct EventLog {
    object_store: Arc<dyn ObjectStore>,
    dir: Path,
    buffer: Mutex<Vec<Event>>,
    /// Events dropped because flushes kept failing with a full buffer.
    dropped: Mutex<u64>,
    /// Parsed objects by path (objects are immutable).
    parsed: Mutex<HashMap<Path, Parsed>>,
    /// One flush at a time (written), so events leave the buffer in order; reads hold it
    /// shared, so that no read sees the store and the buffer while a flush has taken events
    /// out of the one and not yet written them to the other.
    flushing: tokio::sync::RwLock<()>,
    wake: Arc<tokio::sync::Notify>,
    observers: Observers,
}

#[derive(Debug, Clone)]
enum Parsed {
    /// A JSON-lines object's events.
    Events(Arc<Vec<Event>>),
    /// A compacted day's events and the names of the JSON-lines objects it holds.
    Compacted {
        events: Arc<Vec<Event>>,
        sources: Arc<HashSet<String>>,
    },
    /// Why the object cannot be read.
    Corrupt(String),
}

impl EventLog {
    pub(crate) fn new(object_store: Arc<dyn ObjectStore>, root: &Path) -> Arc<EventLog> {
        let mut parts: Vec<_> = root.parts().collect();
        parts.push(EVENTS_DIR.into());
        Arc::new(EventLog {
            object_store,
            dir: Path::from_iter(parts),
            buffer: Mutex::new(Vec::new()),
            dropped: Mutex::new(0),
            parsed: Mutex::new(HashMap::new()),
            flushing: tokio::sync::RwLock::new(()),
            wake: Arc::new(tokio::sync::Notify::new()),
            observers: Observers::default(),
        })
    }

    /// Flushes every `interval` (and early when the buffer grows large) until the log is
    /// dropped. Needs a Tokio runtime; without one, events are flushed only when asked.
    pub(crate) fn start_flusher(log: &Arc<EventLog>, interval: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<EventLog> = Arc::downgrade(log);
        let wake = Arc::clone(&log.wake);
        runtime.spawn(async move {
            loop {
                // No strong reference while sleeping, so dropping the store ends the task.
                let woken = wake.notified();
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = woken => {}
                }
                let Some(log) = weak.upgrade() else { return };
                // A failed flush keeps its events for the next round.
                let _ = log.flush().await;
            }
        });
    }

    /// Tells `observer` of every event recorded from now on (events read back from the store
    /// are not observed: each process observes its own).
    pub fn observe(&self, observer: Arc<dyn EventObserver>) {
        self.observers.add(observer);
    }

    /// Buffers an event; it reaches the store at the next flush.
    pub fn record(&self, event: Event) {
        self.observers.tell(&event);
        let mut buffer = lock(&self.buffer);
        buffer.push(event);
        if buffer.len() > MAX_BUFFERED {
            let excess = buffer.len() - MAX_BUFFERED;
            buffer.drain(..excess);
            *lock(&self.dropped) += excess as u64;
        }
        if buffer.len() >= FLUSH_AT {
            self.wake.notify_one();
        }
    }

    /// How many events wait in memory.
    pub fn buffered(&self) -> usize {
        lock(&self.buffer).len()
    }

    /// Events dropped because the buffer was full while flushes failed.
    pub fn dropped(&self) -> u64 {
        *lock(&self.dropped)
    }

    /// Writes the buffered events as one new object; returns how many were written. On failure
    /// the events go back to the buffer, ahead of newer ones.
    pub async fn flush(&self) -> Result<usize> {
        let _one_at_a_time = self.flushing.write().await;
        let events = std::mem::take(&mut *lock(&self.buffer));
        if events.is_empty() {
            return Ok(0);
        }
        let written = self.write_object(&events).await;
        match written {
            Ok(path) => {
                let n = events.len();
                lock(&self.parsed).insert(path, Parsed::Events(Arc::new(events)));
                Ok(n)
            }
            Err(e) => {
                let mut buffer = lock(&self.buffer);
                let newer = std::mem::replace(&mut *buffer, events);
                buffer.extend(newer);
                Err(e)
            }
        }
    }

    async fn write_object(&self, events: &[Event]) -> Result<Path> {
        write_object(self.object_store.as_ref(), &self.dir, events).await
    }

    /// Every event flushed by any process, plus this process's buffer, oldest first, and the
    /// objects that had to be skipped.
    pub async fn read(&self) -> Result<EventsRead> {
        self.read_since(None).await
    }

    /// [`Self::read`] of the events at or after `since` only. An object holds events from
    /// before its flush, never after, so only the day folders from `since`'s day on are listed.
    pub async fn read_since(&self, since: Option<DateTime<Utc>>) -> Result<EventsRead> {
        // Flushes wait (they are never on a statement's path): each event is seen once.
        let _no_flush_meanwhile = self.flushing.read().await;
        let mut days: Vec<(Path, Vec<ObjectMeta>)> = Vec::new();
        match since {
            None => {
                for (_, (folder, listing)) in self.list_days().await? {
                    days.push((folder, listing.objects));
                }
            }
            Some(since) => {
                let today = Utc::now().date_naive();
                let mut day = since.date_naive();
                while day <= today {
                    let folder = self
                        .dir
                        .clone()
                        .join(day.format("%Y-%m-%d").to_string().as_str());
                    let listed = self.list(&folder).await?;
                    days.push((folder, listed));
                    let Some(next) = day.succ_opt() else { break };
                    day = next;
                }
            }
        }
        let mut out = EventsRead::default();
        // Only the events asked for are copied out of the parsed objects: a day's reads can
        // be many (hundreds a second under load) and a rollout's window a small part of them.
        for (folder, listed) in days {
            self.read_day(&folder, listed, since, &mut out).await?;
        }
        out.events.extend(
            lock(&self.buffer)
                .iter()
                .filter(|e| at_or_after(e, since))
                .cloned(),
        );
        // Objects are named by flush time, but a buffer holds events from a whole interval.
        out.events.sort_by_key(Event::time);
        Ok(out)
    }

    /// One day folder's events: its newest readable compacted generation and the JSON-lines
    /// objects that generation does not hold. An object removed between the listing and its
    /// read (a compaction ran) makes the day listed again.
    async fn read_day(
        &self,
        folder: &Path,
        mut listed: Vec<ObjectMeta>,
        since: Option<DateTime<Utc>>,
        out: &mut EventsRead,
    ) -> Result<()> {
        for _attempt in 0..3 {
            if let Some((events, skipped)) = self.try_read_day(&listed, since).await? {
                out.events.extend(events);
                out.skipped.extend(skipped);
                // Forget what this day no longer holds.
                let present: HashSet<&Path> = listed.iter().map(|m| &m.location).collect();
                let prefix = format!("{folder}/");
                lock(&self.parsed)
                    .retain(|p, _| !p.as_ref().starts_with(&prefix) || present.contains(p));
                return Ok(());
            }
            listed = self.list(folder).await?;
        }
        out.skipped.push(Skipped {
            path: folder.to_string(),
            reason: "its objects kept changing while being read (compactions); read it again"
                .into(),
        });
        Ok(())
    }

    /// `None` when an object listed is gone.
    async fn try_read_day(
        &self,
        listed: &[ObjectMeta],
        since: Option<DateTime<Utc>>,
    ) -> Result<Option<(Vec<Event>, Vec<Skipped>)>> {
        let listing = compact::DayListing {
            objects: listed.to_vec(),
        };
        let (mut events, mut skipped) = (Vec::new(), Vec::new());
        let mut held: Arc<HashSet<String>> = Arc::default();
        for meta in listing.generations() {
            match self.parsed(&meta.location, true).await? {
                None => return Ok(None),
                Some(Parsed::Compacted { events: e, sources }) => {
                    events.extend(e.iter().filter(|e| at_or_after(e, since)).cloned());
                    held = sources;
                    break;
                }
                Some(Parsed::Corrupt(reason)) => skipped.push(Skipped {
                    path: meta.location.to_string(),
                    reason,
                }),
                Some(Parsed::Events(_)) => {}
            }
        }
        for meta in listing.lines() {
            if held.contains(&compact::name_of(&meta.location)) {
                continue;
            }
            match self.parsed(&meta.location, false).await? {
                None => return Ok(None),
                Some(Parsed::Events(e)) => {
                    events.extend(e.iter().filter(|e| at_or_after(e, since)).cloned())
                }
                Some(Parsed::Corrupt(reason)) => skipped.push(Skipped {
                    path: meta.location.to_string(),
                    reason,
                }),
                Some(Parsed::Compacted { .. }) => {}
            }
        }
        Ok(Some((events, skipped)))
    }

    /// An object parsed (once: objects are immutable); `None` when it is gone.
    async fn parsed(&self, path: &Path, compacted: bool) -> Result<Option<Parsed>> {
        if let Some(p) = lock(&self.parsed).get(path).cloned() {
            return Ok(Some(p));
        }
        let parsed = match self.get(path).await {
            Ok(None) => return Ok(None),
            Ok(Some(bytes)) if compacted => compacted::parse_compacted(&bytes),
            Ok(Some(bytes)) => match parse_lines(&bytes) {
                Ok(events) => Parsed::Events(Arc::new(events)),
                Err(reason) => Parsed::Corrupt(reason),
            },
            Err(e) => Parsed::Corrupt(format!("cannot be read: {e}")),
        };
        lock(&self.parsed).insert(path.clone(), parsed.clone());
        Ok(Some(parsed))
    }

    async fn list(&self, prefix: &Path) -> Result<Vec<ObjectMeta>> {
        let listed: Vec<ObjectMeta> = self.object_store.list(Some(prefix)).try_collect().await?;
        Ok(listed)
    }
}

/// Whether `event` is at or after `since` (every event when there is no `since`).
fn at_or_after(event: &Event, since: Option<DateTime<Utc>>) -> bool {
    since.is_none_or(|since| event.time() >= since)
}

impl Drop for EventLog {
    /// Events still buffered when the store is dropped are written by a last task on the
    /// runtime, if there is one (best effort: a runtime shutting down may not run it; call
    /// `flush` or `RolloutContext::close` to be sure).
    fn drop(&mut self) {
        let events = std::mem::take(&mut *lock(&self.buffer));
        if events.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let object_store = Arc::clone(&self.object_store);
        let dir = self.dir.clone();
        runtime.spawn(async move {
            let _ = write_object(object_store.as_ref(), &dir, &events).await;
        });
    }
}

/// Writes `events` as one new object under `dir`, named by the time and a fresh uuid.
async fn write_object(
    object_store: &dyn ObjectStore,
    dir: &Path,
    events: &[Event],
) -> Result<Path> {
    let mut body = Vec::with_capacity(events.len() * 200);
    for event in events {
        serde_json::to_writer(&mut body, event)?;
        body.push(b'\n');
    }
    let now = Utc::now();
    let name = format!(
        "{:013}-{}.jsonl",
        now.timestamp_millis(),
        uuid::Uuid::new_v4().simple()
    );
    let path = dir
        .clone()
        .join(now.format("%Y-%m-%d").to_string().as_str())
        .join(name.as_str());
    let create = PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    object_store.put_opts(&path, body.into(), create).await?;
    Ok(path)
}

/// Parses an event object. Lines of a kind this version does not know (written by a newer
/// one) are ignored; anything else that is not an event makes the object corrupt.
fn parse_lines(bytes: &[u8]) -> std::result::Result<Vec<Event>, String> {
    let mut events = Vec::new();
    for (n, line) in lines_of(bytes)? {
        if let Some(e) = parse_line(line).map_err(|e| format!("line {n}: {e}"))? {
            events.push(e);
        }
    }
    Ok(events)
}

/// The non-blank lines of an event object with their numbers (from 1); an object that is not
/// UTF-8 or whose last line has no end (a torn write) is corrupt.
fn lines_of(bytes: &[u8]) -> std::result::Result<Vec<(usize, &str)>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("truncated: the last line has no end".into());
    }
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, l))
        .collect())
}

/// One event's JSON; `None` for a kind this version does not know.
fn parse_line(line: &str) -> std::result::Result<Option<Event>, String> {
    match serde_json::from_str::<Event>(line) {
        Ok(e) => Ok(Some(e)),
        Err(e) => {
            let kind = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(str::to_string)));
            match kind {
                Some(k) if !KNOWN_KINDS.contains(&k.as_str()) => Ok(None),
                _ => Err(e.to_string()),
            }
        }
    }
}

const KNOWN_KINDS: [&str; 4] = ["read", "metric", "evaluation", "delivery"];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
