//! `VERIFY VERSION 'v2' OF orders` / `VERIFY orders`: compare a version's pinned files with
//! what is stored now.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::ObjectMeta;
use datafusion::object_store::path::Path;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use url::Url;

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_string};
use super::table::Table;
use crate::catalog::{PinnedFile, Version};
use crate::error::{Error, Refusal, Result};
use crate::guard::Env;
use crate::resolve::{RolloutConfig, describe_change};
use crate::sql::{Ident, Quoted};

/// `VERIFY VERSION 'v2' OF orders` (one version) or `VERIFY orders` (every version).
///
/// One row per pinned file: `dataset`, `version`, `path`, `status` (`ok`, `changed`,
/// `missing`, or `error` when the file could not be looked at), what was registered
/// (`expected_size`, `expected_modified`, `expected_e_tag`), what is there now (`found_*`,
/// NULL when missing) and the `problem` in words. The comparison is the one queries make:
/// size, then modification time for local files and e-tag for remote objects. Reads nothing
/// but metadata, and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyVersion {
    /// The dataset.
    pub dataset: String,
    /// `None`: every version of the dataset.
    pub version: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<VerifyVersion, ParserError> {
    expect_word(p, "VERIFY")?;
    let versioned = matches!(p.peek_nth_token(1).token, Token::SingleQuotedString(_));
    if versioned && p.parse_keyword(Keyword::VERSION) {
        let version = parse_string(p, "a version id in quotes, like 'v2'")?;
        p.expect_keyword(Keyword::OF)?;
        let dataset = parse_name(p, "a dataset name after OF")?;
        Ok(VerifyVersion {
            dataset,
            version: Some(version),
        })
    } else {
        Ok(VerifyVersion {
            dataset: parse_name(
                p,
                "VERSION 'id' OF <dataset>, or a dataset name, after VERIFY",
            )?,
            version: None,
        })
    }
}

impl fmt::Display for VerifyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(
                f,
                "VERIFY VERSION {} OF {}",
                Quoted(v),
                Ident(&self.dataset)
            ),
            None => write!(f, "VERIFY {}", Ident(&self.dataset)),
        }
    }
}

/// One file's verdict.
struct Row<'a> {
    version: &'a str,
    pin: &'a PinnedFile,
    found: Option<ObjectMeta>,
    status: &'static str,
    problem: Option<String>,
}

impl<'a> Row<'a> {
    /// The verdict on `pin` from what was found at its place.
    fn of(version: &'a str, pin: &'a PinnedFile, looked: Looked) -> Row<'a> {
        let (found, status, problem) = match looked {
            // Local files are compared by modification time, objects by e-tag.
            Looked::Found { meta, local } => match describe_change(pin, &meta, local) {
                None => (Some(meta), "ok", None),
                Some(problem) => (Some(meta), "changed", Some(problem)),
            },
            Looked::Missing => (None, "missing", Some("is missing".to_string())),
            Looked::Error(e) => (None, "error", Some(e)),
        };
        Row {
            version,
            pin,
            found,
            status,
            problem,
        }
    }
}

impl VerifyVersion {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let ds = state.dataset(&self.dataset)?;
        let versions: Vec<&Version> = match &self.version {
            Some(v) => vec![state.version(&self.dataset, v)?],
            None => ds.versions.iter().collect(),
        };
        let pins: Vec<(&str, &PinnedFile)> = versions
            .iter()
            .flat_map(|v| v.files.iter().map(|pin| (v.id.as_str(), pin)))
            .collect();
        let looked = look_up(env, pins.iter().map(|(_, pin)| *pin)).await;
        let rows: Vec<Row<'_>> = pins
            .iter()
            .zip(looked)
            .map(|((version, pin), looked)| Row::of(version, pin, looked))
            .collect();
        self.frame(env, &rows)
    }

    fn frame(&self, env: &Env<'_>, rows: &[Row<'_>]) -> Result<Outcome> {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let batch = Table::new()
            .text("dataset", rows.iter().map(|_| &self.dataset))
            .text("version", rows.iter().map(|r| r.version))
            .text("path", rows.iter().map(|r| &r.pin.url))
            .text("status", rows.iter().map(|r| r.status))
            .count("expected_size", rows.iter().map(|r| r.pin.size))
            .count_opt(
                "found_size",
                rows.iter().map(|r| r.found.as_ref().map(|m| m.size)),
            )
            .text(
                "expected_modified",
                rows.iter().map(|r| time(&r.pin.last_modified)),
            )
            .text_opt(
                "found_modified",
                rows.iter()
                    .map(|r| r.found.as_ref().map(|m| time(&m.last_modified))),
            )
            .text_opt("expected_e_tag", rows.iter().map(|r| r.pin.e_tag.as_ref()))
            .text_opt(
                "found_e_tag",
                rows.iter()
                    .map(|r| r.found.as_ref().and_then(|m| m.e_tag.as_ref())),
            )
            .text_opt("problem", rows.iter().map(|r| r.problem.as_ref()))
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}

/// Refuses `operation` when a pinned file of the version it would serve is missing, changed
/// or cannot be looked at (metadata only, see [`look_up`]), in a session with
/// `rollout.verify_targets` on. Off (the default), `PROMOTE` and `ROLLBACK` stay metadata-only
/// whatever the number of files: the reads verify each file as they open it, a guard whose
/// checks read the files is refused by them, and `VERIFY` looks at every file when asked.
pub(crate) async fn verify_target(
    env: &Env<'_>,
    operation: &str,
    dataset: &str,
    version: &str,
) -> Result<()> {
    let settings = RolloutConfig::of(env.session);
    if !settings.verify_targets {
        return Ok(());
    }
    let state = env.store.state();
    let v = state.version(dataset, version)?;
    let looked = look_up(env, v.files.iter()).await;
    for (pin, looked) in v.files.iter().zip(looked) {
        if let Some(problem) = Row::of(version, pin, looked).problem {
            return Err(Error::refused(Refusal::TargetFilesChanged {
                operation: operation.to_string(),
                dataset: dataset.to_string(),
                version: version.to_string(),
                path: pin.url.clone(),
                problem,
            }));
        }
    }
    Ok(())
}

/// What is stored now at a pinned file's place.
enum Looked {
    /// Its metadata, and whether it is a local file.
    Found {
        meta: ObjectMeta,
        local: bool,
    },
    Missing,
    /// It could not be looked at: why.
    Error(String),
}

/// Where a pin is: a local file, or an object of a store.
enum Place {
    Local(PathBuf, Path),
    Remote {
        base: String,
        folder: Path,
        path: Path,
    },
}

fn place(url: &Url, path: Path) -> Result<Place, String> {
    if url.scheme() == "file" {
        let file = url
            .to_file_path()
            .map_err(|()| "not a valid URL: not a local path".to_string())?;
        return Ok(Place::Local(file, path));
    }
    let base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    let parts: Vec<_> = path.parts().collect();
    let folder = Path::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned());
    Ok(Place::Remote { base, folder, path })
}

/// Where each pin is: URLs as parsed once per process by the store (what queries read), or
/// each on its own when one of them does not parse (that one named in its row).
fn places<'a>(
    env: &Env<'_>,
    pins: impl Iterator<Item = &'a PinnedFile> + Clone,
) -> Vec<Result<Place, String>> {
    if let Ok(parsed) = env.store.listing_urls(pins.clone().map(|p| p.url.as_str())) {
        return parsed
            .iter()
            .map(|u| place(u.get_url(), u.prefix().clone()))
            .collect();
    }
    pins.map(|pin| {
        let url = Url::parse(&pin.url).map_err(|e| format!("not a valid URL: {e}"))?;
        let path = Path::from_url_path(url.path()).map_err(|e| format!("not a valid URL: {e}"))?;
        place(&url, path)
    })
    .collect()
}

/// What is stored now at each pin's place, in the order given, metadata as stored (not through
/// the verifying layer). Local files: one `stat` each, on one blocking thread. Objects of a
/// remote store: one listing per folder (a request per 1,000 objects), not one per file.
async fn look_up<'a>(
    env: &Env<'_>,
    pins: impl Iterator<Item = &'a PinnedFile> + Clone,
) -> Vec<Looked> {
    let mut looked = Vec::new();
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for (i, place) in places(env, pins).into_iter().enumerate() {
        looked.push(match place {
            Err(e) => Looked::Error(e),
            Ok(Place::Local(file, path)) => {
                local.push((i, file, path));
                Looked::Missing
            }
            Ok(Place::Remote { base, folder, path }) => {
                remote.push((i, base, folder, path));
                Looked::Missing
            }
        });
    }
    if !local.is_empty() {
        let rows: Vec<usize> = local.iter().map(|(i, _, _)| *i).collect();
        let stats = tokio::task::spawn_blocking(move || stat_local_all(local)).await;
        match stats {
            Ok(stats) => {
                for (i, found) in stats {
                    looked[i] = found;
                }
            }
            Err(e) => {
                for i in rows {
                    looked[i] = Looked::Error(format!("could not be looked at: {e}"));
                }
            }
        }
    }
    // Each folder's listing by name, so that a folder of many files is not searched per file.
    type Listing = Result<HashMap<Path, ObjectMeta>, String>;
    let mut folders: HashMap<(&str, &Path), Listing> = HashMap::new();
    for (i, base, folder, path) in &remote {
        let listing = match folders.entry((base.as_str(), folder)) {
            Entry::Occupied(listed) => listed.into_mut(),
            Entry::Vacant(slot) => slot.insert(
                list_folder(env, base, folder)
                    .await
                    .map(|metas| metas.into_iter().map(|m| (m.location.clone(), m)).collect()),
            ),
        };
        looked[*i] = match listing {
            Ok(metas) => match metas.get(path) {
                Some(meta) => Looked::Found {
                    meta: meta.clone(),
                    local: false,
                },
                None => Looked::Missing,
            },
            Err(e) => Looked::Error(e.clone()),
        };
    }
    looked
}

/// Local files' metadata ([`stat_local`]). On Linux the files of one folder are looked at
/// relative to it: the folder is opened once (`O_PATH`, which needs no more permission than a
/// `stat` through it) and each file is a `statx` of its name there, so that the folder's path is
/// walked once per folder instead of once per file. Files elsewhere, or in a folder that could
/// not be opened for a reason other than its absence, are looked at by their whole path.
fn stat_local_all(files: Vec<(usize, PathBuf, Path)>) -> Vec<(usize, Looked)> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{Mode, OFlags, open};
        use rustix::io::Errno;
        let mut out = Vec::with_capacity(files.len());
        let mut folder: Option<(PathBuf, rustix::io::Result<std::os::fd::OwnedFd>)> = None;
        for (i, file, path) in files {
            let (Some(parent), Some(name)) = (file.parent(), file.file_name()) else {
                out.push((i, stat_local(&file, path)));
                continue;
            };
            if folder.as_ref().is_none_or(|(f, _)| f != parent) {
                let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
                folder = Some((parent.to_path_buf(), open(parent, flags, Mode::empty())));
            }
            let looked = match folder.as_ref().map(|(_, fd)| fd) {
                Some(Ok(fd)) => stat_in(fd, name, path),
                // No folder, or a file where it was: as a `stat` of the file would say.
                Some(Err(Errno::NOENT | Errno::NOTDIR)) => Looked::Missing,
                _ => stat_local(&file, path),
            };
            out.push((i, looked));
        }
        out
    }
    #[cfg(not(target_os = "linux"))]
    files
        .into_iter()
        .map(|(i, file, path)| (i, stat_local(&file, path)))
        .collect()
}

/// The file `name` of an open folder, as [`stat_local`] reports it.
#[cfg(target_os = "linux")]
fn stat_in(folder: &std::os::fd::OwnedFd, name: &std::ffi::OsStr, path: Path) -> Looked {
    use rustix::fs::{AtFlags, FileType, StatxFlags, statx};
    use rustix::io::Errno;
    use std::time::{Duration, UNIX_EPOCH};
    let wanted = StatxFlags::TYPE | StatxFlags::INO | StatxFlags::SIZE | StatxFlags::MTIME;
    match statx(folder, name, AtFlags::empty(), wanted) {
        Ok(st) if FileType::from_raw_mode(st.stx_mode.into()) == FileType::RegularFile => {
            // Seconds from the epoch (before it if negative), then the nanoseconds after them;
            // checked, so that no time a file system gives can make this panic.
            let (secs, nanos) = (st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec);
            let whole = Duration::from_secs(secs.unsigned_abs());
            let modified = if secs >= 0 {
                UNIX_EPOCH.checked_add(whole)
            } else {
                UNIX_EPOCH.checked_sub(whole)
            };
            let modified = modified.and_then(|t| t.checked_add(Duration::from_nanos(nanos.into())));
            match modified {
                Some(modified) => found(path, modified, st.stx_ino, st.stx_size),
                None => Looked::Error(format!("has a modification time out of range ({secs} s)")),
            }
        }
        Ok(_) => Looked::Missing,
        Err(Errno::NOENT | Errno::NOTDIR) => Looked::Missing,
        Err(e) => Looked::Error(format!(
            "could not be looked at: {}",
            std::io::Error::from(e)
        )),
    }
}

/// A local file's metadata as object_store's local store reports it (symbolic links followed;
/// the e-tag is inode, mtime in microseconds and size, in hex).
fn stat_local(file: &std::path::Path, path: Path) -> Looked {
    match std::fs::metadata(file) {
        Ok(m) if m.is_file() => match m.modified() {
            Ok(modified) => found(path, modified, inode(&m), m.len()),
            Err(_) => Looked::Error("has no modification time".into()),
        },
        // A folder where the file was, or a file where one of its folders was.
        Ok(_) => Looked::Missing,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Looked::Missing
        }
        Err(e) => Looked::Error(format!("could not be looked at: {e}")),
    }
}

/// A local file found, with object_store's metadata of it.
fn found(path: Path, modified: std::time::SystemTime, inode: u64, size: u64) -> Looked {
    let micros = modified
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    let meta = ObjectMeta {
        location: path,
        last_modified: modified.into(),
        size,
        e_tag: Some(format!("{inode:x}-{micros:x}-{size:x}")),
        version: None,
    };
    Looked::Found { meta, local: true }
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(m)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

async fn list_folder(env: &Env<'_>, base: &str, folder: &Path) -> Result<Vec<ObjectMeta>, String> {
    let store_url = ObjectStoreUrl::parse(base).map_err(|e| e.to_string())?;
    let store = env
        .session
        .runtime_env()
        .object_store(&store_url)
        .map_err(|e| e.to_string())?;
    match store.list_with_delimiter(Some(folder)).await {
        Ok(listed) => Ok(listed.objects),
        Err(datafusion::object_store::Error::NotFound { .. }) => Ok(vec![]),
        Err(e) => Err(e.to_string()),
    }
}
