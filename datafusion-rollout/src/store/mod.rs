//! The store: an object-store location holding an append-only commit log and managed data.
//!
//! Layout under the store's URL:
//! - `_rollout_log/<20-digit sequence>.json`: one [`LogEntry`] per commit, written with
//!   `PutMode::Create` so two writers can never both own a sequence number;
//! - `_rollout_log/<sequence>.checkpoint.json`: the full [`State`] at that sequence, every
//!   `checkpoint_interval` commits, plus a `_last_checkpoint` hint, so opening a long history reads
//!   one checkpoint and the entries after it (a checkpoint that does not match its log entry or
//!   its own hash is ignored: the log is the truth);
//! - `data/<dataset>/<version>/<transaction>/`: Parquet written by `CREATE VERSION ... AS`;
//! - `_rollout_events/<day>/<millis>-<uuid>.jsonl`: reads, metrics and decisions, one object per
//!   flush of a process's buffer ([`EventLog`]), never through the log.
//!
//! [`Store`] keeps the folded state in memory, refreshes it from the log, and is the one place
//! where commits are retried.

mod commit;
#[cfg(any(test, feature = "test-support"))]
mod counting;
mod events;
mod location;
mod log;
mod refresh;
mod vacuum;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use datafusion::datasource::listing::ListingTableUrl;
use datafusion::execution::cache::cache_manager::{
    DEFAULT_FILE_STATISTICS_MEMORY_LIMIT, FileStatisticsCache,
};
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::object_store::ObjectStore;
use datafusion::object_store::path::Path;
use url::Url;

use crate::catalog::State;
use crate::error::{Error, Result};

pub(crate) use commit::{Commit, CommitOutcome, Committed};
#[cfg(any(test, feature = "test-support"))]
pub use counting::{CountingStore, Requests};
pub use events::{
    Arm, CompactedDay, DeliveryEvent, EVENTS_DIR, EvaluationEvent, Event, EventLog, EventObserver,
    EventsRead, ExpiredDay, MetricEvent, ReadEvent, Skipped,
};
pub use location::{
    deregister_object_store, object_store_for, register_object_store, resolve_location,
};
pub use log::{LOG_DIR, LogEntry};
pub(crate) use vacuum::Orphan;
pub use vacuum::{DATA_DIR, PROFILE_DIR};

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Write a checkpoint every this many commits.
    pub checkpoint_interval: u64,
    /// How many times a commit that lost the race for its sequence number is retried.
    pub max_commit_attempts: usize,
    /// How often buffered events (reads, metrics) are written to the store.
    pub events_flush_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            checkpoint_interval: 100,
            max_commit_attempts: 200,
            events_flush_interval: Duration::from_secs(5),
        }
    }
}

/// How many parsed pinned-file URLs a store keeps (a few hundred bytes each).
const MAX_LISTING_URLS: usize = 100_000;

/// An opened store: where it is, and the state its log describes.
#[derive(Debug)]
pub struct Store {
    url: Url,
    object_store: Arc<dyn ObjectStore>,
    root: Path,
    options: StoreOptions,
    state: RwLock<Arc<State>>,
    /// Set when a log entry could not be read: the state stops before it and nothing is written.
    read_only: RwLock<Option<String>>,
    /// Statistics of the files versions pin, shared by every query's `ListingTable` (each
    /// query builds its own): entries are checked against the file's size and modification
    /// time, and against the schema they were read with, before being used.
    file_statistics: Arc<FileStatisticsCache>,
    /// The pinned files' URLs as DataFusion parsed them for a `ListingTable`, by URL: parsing
    /// 40 of them cost more than the rest of resolving a query.
    listing_urls: RwLock<HashMap<String, ListingTableUrl>>,
    /// This process's events for the store: buffered, flushed on a timer.
    events: Arc<EventLog>,
    /// Lets concurrent statements share one refresh of the log (see [`refresh::RefreshGate`]).
    refreshes: refresh::RefreshGate,
    /// The log's folder when the store is a local folder read through object_store's own
    /// `LocalFileSystem`: a refresh asks the file system itself whether the next entry exists.
    local_log: Option<std::path::PathBuf>,
}

impl Store {
    /// Opens the store at `location` (a folder path, `file://`, `memory://name` or any URL
    /// object_store understands), creating an empty one if nothing is there.
    pub async fn open(location: &str, options: StoreOptions) -> Result<Arc<Store>> {
        let url = resolve_location(location, true)?;
        let object_store = object_store_for(&url)?;
        let root = Path::from_url_path(url.path()).map_err(|e| Error::InvalidLocation {
            location: location.to_string(),
            reason: e.to_string(),
        })?;
        let events = EventLog::new(Arc::clone(&object_store), &root);
        let local_log = location::local_folder(&url).map(|folder| folder.join(log::LOG_DIR));
        let store = Store {
            url,
            object_store,
            root,
            options,
            state: RwLock::new(Arc::new(State::default())),
            read_only: RwLock::new(None),
            file_statistics: Arc::new(
                DefaultCache::new(DEFAULT_FILE_STATISTICS_MEMORY_LIMIT)
                    .with_name("rollout pinned file statistics"),
            ),
            listing_urls: RwLock::default(),
            events,
            refreshes: refresh::RefreshGate::default(),
            local_log,
        };
        store
            .load()
            .await
            .map_err(|e| location::open_error(&store.url, e))?;
        if store.state().sequence == 0 {
            location::ensure_new_store_location(&store.url, &store.object_store, &store.root)
                .await?;
        }
        EventLog::start_flusher(&store.events, store.options.events_flush_interval);
        Ok(Arc::new(store))
    }

    /// This process's events for the store (reads, metrics): recorded in memory, flushed on
    /// a timer and when asked.
    pub fn events(&self) -> &Arc<EventLog> {
        &self.events
    }

    /// The store's URL (always ending in `/`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The object store the log and managed data live in.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.object_store
    }

    /// The statistics cache of pinned files (see the field).
    pub fn file_statistics(&self) -> Arc<FileStatisticsCache> {
        Arc::clone(&self.file_statistics)
    }

    /// `urls` (pinned files) parsed for a `ListingTable`, each parsed once per process.
    pub fn listing_urls<'a>(
        &self,
        urls: impl Iterator<Item = &'a str> + Clone,
    ) -> datafusion::error::Result<Vec<ListingTableUrl>> {
        {
            let known = self.listing_urls.read().unwrap_or_else(|p| p.into_inner());
            let found: Option<Vec<ListingTableUrl>> =
                urls.clone().map(|u| known.get(u).cloned()).collect();
            if let Some(found) = found {
                return Ok(found);
            }
        }
        let parsed = urls
            .map(|u| Ok((u, ListingTableUrl::parse(u)?)))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let mut known = self.listing_urls.write().unwrap_or_else(|p| p.into_inner());
        // Bounded: a server reading many versions of very large datasets starts over rather
        // than keep every URL it ever read (the ones still read come back at the next query).
        if known.len() + parsed.len() > MAX_LISTING_URLS {
            known.clear();
        }
        for (u, url) in &parsed {
            known.insert((*u).to_string(), url.clone());
        }
        Ok(parsed.into_iter().map(|(_, url)| url).collect())
    }

    /// The state as of the last refresh or commit.
    pub fn state(&self) -> Arc<State> {
        match self.state.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Why the store is read-only, if it is.
    pub fn read_only_reason(&self) -> Option<String> {
        match self.read_only.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// URL of a path inside the store.
    pub fn url_of(&self, relative: &str) -> Result<Url> {
        self.url.join(relative).map_err(|e| Error::InvalidLocation {
            location: relative.to_string(),
            reason: e.to_string(),
        })
    }

    /// The object-store path of `relative` inside the store.
    pub(crate) fn path_of(&self, relative: &str) -> Path {
        let relative = Path::from(relative);
        let mut parts: Vec<_> = self.root.parts().collect();
        parts.extend(relative.parts());
        Path::from_iter(parts)
    }

    fn set_state(&self, state: Arc<State>) {
        match self.state.write() {
            Ok(mut s) => *s = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
    }

    fn set_read_only(&self, reason: Option<String>) {
        match self.read_only.write() {
            Ok(mut r) => *r = reason,
            Err(poisoned) => *poisoned.into_inner() = reason,
        }
    }
}
