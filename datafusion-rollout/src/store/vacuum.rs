//! Finding and removing files under the store that no version references.
//!
//! `CREATE VERSION ... AS` writes its Parquet files under `data/` before the commit that
//! references them; a crashed or refused attempt leaves them unreferenced. They are never
//! visible (reads use pinned files only), but they take space. [`Store::find_orphans`] lists
//! them and [`Store::remove_orphans`] deletes them.
//!
//! A file that no committed version references may still belong to a `CREATE VERSION` that is
//! about to commit, so only files older than a grace period are orphans. On a local store, the
//! staging files `object_store` writes before renaming (`part-0.parquet#3`, invisible to its
//! listings) are orphans too once old enough, under `data/` and `_rollout_log/`.

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use datafusion::object_store::ObjectStoreExt;
use datafusion::object_store::path::Path;
use futures::TryStreamExt;
use url::Url;

use super::Store;
use super::log::LOG_DIR;
use crate::catalog::{State, VersionStatus};
use crate::error::{Error, Result};

/// Folder of managed data inside a store.
pub const DATA_DIR: &str = "data";
/// The folder of version profiles: `<dataset>/<version>-<fingerprint>/<column>.<kind>.parquet`.
pub const PROFILE_DIR: &str = "_rollout_profiles";

/// A file under the store that no version references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Orphan {
    /// Full URL of the file.
    pub url: String,
    pub size: u64,
    pub last_modified: DateTime<Utc>,
    where_: Where,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Where {
    /// Listed by the object store.
    Object(Path),
    /// A local staging file that object_store does not list.
    Staging(PathBuf),
}

impl Store {
    /// Files under `data/` (and, locally, staging leftovers) that no version of the current
    /// state references and that were last modified before `cutoff`, sorted by URL.
    ///
    /// Refused on a read-only store: entries past the unreadable one may reference files.
    pub(crate) async fn find_orphans(&self, cutoff: DateTime<Utc>) -> Result<Vec<Orphan>> {
        let state = self.refresh().await?;
        if let Some(reason) = self.read_only_reason() {
            return Err(Error::ReadOnly { reason });
        }
        let referenced = self.referenced(&state);
        let mut listed: Vec<_> = self
            .object_store
            .list(Some(&self.path_of(DATA_DIR)))
            .try_collect()
            .await?;
        let profiles: Vec<_> = self
            .object_store
            .list(Some(&self.path_of(PROFILE_DIR)))
            .try_collect()
            .await?;
        listed.extend(profiles);
        let mut orphans: Vec<Orphan> = listed
            .into_iter()
            .filter(|m| m.last_modified < cutoff && !is_referenced(&referenced, &m.location))
            .map(|m| Orphan {
                url: self.object_url(&m.location),
                size: m.size,
                last_modified: m.last_modified,
                where_: Where::Object(m.location),
            })
            .collect();
        if let Some(root) = self.local_root() {
            orphans.extend(staging_files(&root, cutoff));
        }
        orphans.sort_by(|a, b| a.url.cmp(&b.url));
        Ok(orphans)
    }

    /// Deletes `orphans` (from [`Store::find_orphans`]), skipping any that a version committed
    /// since references, then (locally) empty folders under `data/`.
    /// Returns the ones deleted; a file already gone counts as deleted.
    pub(crate) async fn remove_orphans(&self, orphans: Vec<Orphan>) -> Result<Vec<Orphan>> {
        // Narrow the window for a CREATE VERSION that committed meanwhile (the grace period
        // is what covers one still writing).
        let state = self.refresh().await?;
        if let Some(reason) = self.read_only_reason() {
            return Err(Error::ReadOnly { reason });
        }
        let referenced = self.referenced(&state);
        let mut removed = Vec::new();
        for orphan in orphans {
            match &orphan.where_ {
                Where::Object(path) => {
                    if is_referenced(&referenced, path) {
                        continue;
                    }
                    match self.object_store.delete(path).await {
                        Ok(()) | Err(datafusion::object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                Where::Staging(file) => match std::fs::remove_file(file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(Error::InvalidLocation {
                            location: file.display().to_string(),
                            reason: format!("cannot remove: {e}"),
                        });
                    }
                },
            }
            removed.push(orphan);
        }
        if let Some(root) = self.local_root() {
            remove_empty_folders(&root.join(DATA_DIR));
            remove_empty_folders(&root.join(PROFILE_DIR));
        }
        Ok(removed)
    }

    /// Object-store paths (as text) of every pinned file inside this store of every version
    /// but a dropped managed one (a dropped version registered from files keeps them: files
    /// the store did not write are never deleted), and the profile folder of every version
    /// not dropped.
    fn referenced(&self, state: &State) -> HashSet<String> {
        let mut out = HashSet::new();
        for (name, ds) in &state.datasets {
            for v in ds
                .versions
                .iter()
                .filter(|v| v.status != VersionStatus::Dropped)
            {
                let folder = format!("{PROFILE_DIR}/{name}/{}-{}", v.id, v.fingerprint());
                out.insert(self.path_of(&folder).to_string());
            }
            let kept = ds
                .versions
                .iter()
                .filter(|v| !(v.managed && v.status == VersionStatus::Dropped));
            for v in kept {
                for f in &v.files {
                    let Ok(url) = Url::parse(&f.url) else {
                        continue;
                    };
                    if url.scheme() != self.url.scheme() || url.host_str() != self.url.host_str() {
                        continue;
                    }
                    if let Ok(path) = Path::from_url_path(url.path()) {
                        out.insert(path.to_string());
                    }
                }
            }
        }
        out
    }

    pub(crate) fn object_url(&self, path: &Path) -> String {
        format!(
            "{}://{}/{}",
            self.url.scheme(),
            self.url.host_str().unwrap_or_default(),
            path
        )
    }

    /// The store's folder on this machine, for `file://` stores.
    fn local_root(&self) -> Option<PathBuf> {
        (self.url.scheme() == "file")
            .then(|| self.url.to_file_path().ok())
            .flatten()
    }
}

/// Whether `path` is a referenced file, or a file of a referenced profile folder.
fn is_referenced(referenced: &HashSet<String>, path: &Path) -> bool {
    let path = path.as_ref();
    referenced.contains(path)
        || path
            .rsplit_once('/')
            .is_some_and(|(folder, _)| referenced.contains(folder))
}

/// `object_store`'s local staging files (`name#<digits>`) under `data/` and the log folder.
fn staging_files(root: &std::path::Path, cutoff: DateTime<Utc>) -> Vec<Orphan> {
    let mut out = Vec::new();
    let mut stack = vec![root.join(DATA_DIR), root.join(LOG_DIR)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let path = entry.path();
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name();
            let is_staging =
                name.to_str()
                    .and_then(|n| n.rsplit_once('#'))
                    .is_some_and(|(_, suffix)| {
                        !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
                    });
            let Ok(modified) = meta.modified() else {
                continue;
            };
            let modified: DateTime<Utc> = modified.into();
            if is_staging
                && modified < cutoff
                && let Ok(url) = Url::from_file_path(&path)
            {
                out.push(Orphan {
                    url: url.to_string(),
                    size: meta.len(),
                    last_modified: modified,
                    where_: Where::Staging(path),
                });
            }
        }
    }
    out
}

/// Removes empty folders below `dir` (not `dir` itself). Safe against a concurrent writer:
/// object_store's local writes create missing parent folders and retry.
fn remove_empty_folders(dir: &std::path::Path) {
    fn walk(dir: &std::path::Path, top: bool) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), false);
            }
        }
        if !top {
            // Fails (and is left alone) unless empty.
            let _ = std::fs::remove_dir(dir);
        }
    }
    walk(dir, true);
}
