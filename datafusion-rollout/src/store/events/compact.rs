//! Compaction and retention of the events folder.
//!
//! A process writes one small object per flush, so a busy day leaves thousands of them. A day
//! that has ended is compacted into one Parquet object, `<day>/compacted-<generation>.parquet`
//! (columns `kind`, `time`, `dataset` and `event`, the event's JSON line exactly as written,
//! so that kinds this version does not know survive), whose key-value metadata names every
//! JSON-lines object it holds. Readers take a day's newest generation and the JSON-lines
//! objects it does not name, so every step is safe to interrupt:
//!
//! 1. generation n + 1 is written with `PutMode::Create` (two compactors: one wins, the other
//!    leaves the day alone), holding generation n's events and the objects flushed since;
//! 2. the objects it holds and the older generations are deleted (a crash before this leaves
//!    only garbage that readers ignore and the next compaction removes).
//!
//! Retention removes whole days; the caller decides which (VACUUM keeps a live rollout's).

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectMeta, ObjectStoreExt, PutMode, PutOptions};
use futures::TryStreamExt;

use super::compacted::{Row, raw_lines, read_compacted, write_compacted};
use super::{EventLog, lock};
use crate::error::Result;

const PREFIX: &str = "compacted-";

/// A day compacted (or that would be, for a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactedDay {
    /// The day (UTC) the objects were flushed on.
    pub day: NaiveDate,
    /// The new Parquet object (for a dry run, the one that would be written).
    pub path: Path,
    /// Objects it replaces (JSON-lines objects and an older generation).
    pub objects: usize,
    /// Events it holds.
    pub events: usize,
    /// Its size in bytes (0 for a dry run).
    pub bytes: u64,
}

/// A day of events removed by retention (or that would be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredDay {
    /// The day (UTC).
    pub day: NaiveDate,
    /// Its folder.
    pub folder: Path,
    /// Objects removed.
    pub objects: usize,
    /// Bytes removed.
    pub bytes: u64,
}

/// A day folder's objects, as listed.
#[derive(Debug, Default)]
pub(super) struct DayListing {
    pub(super) objects: Vec<ObjectMeta>,
}

impl DayListing {
    /// The compacted generations, newest first.
    pub(super) fn generations(&self) -> Vec<&ObjectMeta> {
        let mut g: Vec<&ObjectMeta> = self
            .objects
            .iter()
            .filter(|m| generation(&m.location).is_some())
            .collect();
        g.sort_by_key(|m| std::cmp::Reverse(generation(&m.location)));
        g
    }

    /// The JSON-lines objects, oldest name first.
    pub(super) fn lines(&self) -> Vec<&ObjectMeta> {
        let mut l: Vec<&ObjectMeta> = self
            .objects
            .iter()
            .filter(|m| m.location.extension() == Some("jsonl"))
            .collect();
        l.sort_by(|a, b| a.location.cmp(&b.location));
        l
    }
}

/// `compacted-000012.parquet` → 12.
pub(super) fn generation(path: &Path) -> Option<u64> {
    let name = path.filename()?;
    name.strip_prefix(PREFIX)?
        .strip_suffix(".parquet")?
        .parse()
        .ok()
}

/// The day of a day folder's name (`2026-12-03`).
pub(super) fn day_of(folder: &Path) -> Option<NaiveDate> {
    let name = folder.filename()?;
    NaiveDate::parse_from_str(name, "%Y-%m-%d").ok()
}

/// The object's name within its day folder.
pub(super) fn name_of(path: &Path) -> String {
    path.filename().unwrap_or_default().to_string()
}

impl EventLog {
    /// Every day folder under the events folder with its objects, by day.
    pub(super) async fn list_days(&self) -> Result<BTreeMap<NaiveDate, (Path, DayListing)>> {
        let listed: Vec<ObjectMeta> = self
            .object_store
            .list(Some(&self.dir))
            .try_collect()
            .await?;
        let mut days: BTreeMap<NaiveDate, (Path, DayListing)> = BTreeMap::new();
        for meta in listed {
            let parts: Vec<_> = meta.location.parts().collect();
            let Some((_, folder_parts)) = parts.split_last() else {
                continue;
            };
            let folder = Path::from_iter(folder_parts.iter().cloned());
            let Some(day) = day_of(&folder) else { continue };
            days.entry(day)
                .or_insert_with(|| (folder, DayListing::default()))
                .1
                .objects
                .push(meta);
        }
        Ok(days)
    }

    /// Compacts every day before `before` that has more than one object (or JSON-lines
    /// objects beside a compacted one) into a new compacted generation, then removes what it
    /// replaced. Corrupt objects are left where they are (readers keep naming them). A day
    /// another compactor got to first is left alone. `dry_run` changes nothing.
    pub async fn compact(&self, before: NaiveDate, dry_run: bool) -> Result<Vec<CompactedDay>> {
        let mut out = Vec::new();
        for (day, (folder, listing)) in self.list_days().await? {
            if day >= before {
                continue;
            }
            if let Some(done) = self.compact_day(day, &folder, &listing, dry_run).await? {
                out.push(done);
            }
        }
        Ok(out)
    }

    async fn compact_day(
        &self,
        day: NaiveDate,
        folder: &Path,
        listing: &DayListing,
        dry_run: bool,
    ) -> Result<Option<CompactedDay>> {
        // The newest readable generation is the base; older ones are garbage.
        let mut base: Option<(&ObjectMeta, Vec<Row>, HashSet<String>)> = None;
        for meta in listing.generations() {
            match self.get(&meta.location).await? {
                Some(bytes) => {
                    if let Ok((rows, sources)) = read_compacted(&bytes) {
                        base = Some((meta, rows, sources));
                        break;
                    }
                }
                None => return Ok(None), // another compaction is removing it: leave the day
            }
        }
        let covered = base.as_ref().map(|b| b.2.clone()).unwrap_or_default();
        let mut rows = base.as_ref().map(|b| b.1.clone()).unwrap_or_default();
        let mut sources = covered.clone();
        let mut fresh = 0usize;
        for meta in listing.lines() {
            let name = name_of(&meta.location);
            if covered.contains(&name) {
                continue;
            }
            let Some(bytes) = self.get(&meta.location).await? else {
                return Ok(None);
            };
            if let Ok(more) = raw_lines(&bytes) {
                rows.extend(more);
                sources.insert(name);
                fresh += 1;
            }
        }
        let replaced_generations = listing.generations().len();
        let garbage: Vec<&ObjectMeta> = listing
            .lines()
            .into_iter()
            .filter(|m| covered.contains(&name_of(&m.location)))
            .collect();
        if fresh == 0 || (base.is_none() && fresh < 2) {
            // Nothing to merge; a crashed compaction's leftovers still go.
            if !dry_run {
                self.remove_replaced(listing, base.as_ref().map(|b| b.0), &garbage)
                    .await?;
            }
            return Ok(None);
        }
        let next = base
            .as_ref()
            .and_then(|b| generation(&b.0.location))
            .map_or(1, |g| g + 1);
        let path = folder
            .clone()
            .join(format!("{PREFIX}{next:06}.parquet").as_str());
        rows.sort_by_key(|r| r.time);
        let events = rows.len();
        let objects = fresh + replaced_generations.min(1);
        if dry_run {
            return Ok(Some(CompactedDay {
                day,
                path,
                objects,
                events,
                bytes: 0,
            }));
        }
        let body = write_compacted(&rows, &sources)?;
        let bytes = body.len() as u64;
        let create = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self.object_store.put_opts(&path, body.into(), create).await {
            Ok(_) => {}
            Err(datafusion::object_store::Error::AlreadyExists { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        // Everything it holds can go: the lines it covers, every older generation.
        let mut holds: Vec<&ObjectMeta> = listing
            .lines()
            .into_iter()
            .filter(|m| sources.contains(&name_of(&m.location)))
            .collect();
        holds.extend(listing.generations());
        for meta in holds {
            self.delete(&meta.location).await?;
        }
        Ok(Some(CompactedDay {
            day,
            path,
            objects,
            events,
            bytes,
        }))
    }

    async fn remove_replaced(
        &self,
        listing: &DayListing,
        keep: Option<&ObjectMeta>,
        garbage: &[&ObjectMeta],
    ) -> Result<()> {
        // Only generations older than a readable one: an unreadable newest one is evidence.
        if let Some(keep) = keep.and_then(|k| generation(&k.location)) {
            for meta in listing.generations() {
                if generation(&meta.location).is_some_and(|g| g < keep) {
                    self.delete(&meta.location).await?;
                }
            }
        }
        for meta in garbage {
            self.delete(&meta.location).await?;
        }
        Ok(())
    }

    /// Removes every day folder before `before` (all its objects). `dry_run` changes nothing.
    pub async fn expire(&self, before: NaiveDate, dry_run: bool) -> Result<Vec<ExpiredDay>> {
        let mut out = Vec::new();
        for (day, (folder, listing)) in self.list_days().await? {
            if day >= before {
                continue;
            }
            if !dry_run {
                for meta in &listing.objects {
                    self.delete(&meta.location).await?;
                }
            }
            out.push(ExpiredDay {
                day,
                folder,
                objects: listing.objects.len(),
                bytes: listing.objects.iter().map(|m| m.size).sum(),
            });
        }
        Ok(out)
    }

    /// An object's bytes; `None` when it is gone.
    pub(super) async fn get(&self, path: &Path) -> Result<Option<bytes::Bytes>> {
        match self.object_store.get(path).await {
            Ok(got) => match got.bytes().await {
                Ok(b) => Ok(Some(b)),
                Err(datafusion::object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            },
            Err(datafusion::object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, path: &Path) -> Result<()> {
        lock(&self.parsed).remove(path);
        match self.object_store.delete(path).await {
            Ok(()) | Err(datafusion::object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
