//! The records the log stores: datasets, versions, cohorts and rollouts.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::schema::ColumnDef;
use crate::sql::{Ident, format_percent};

/// A named dataset: its versions in registration order, the union schema and its rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Its name, the table name readers query.
    pub name: String,
    /// The `COMMENT` it was created with.
    pub comment: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The actor who created it.
    pub created_by: String,
    /// Every column any version has, in order of first appearance, as recorded in the log
    /// (releases before per-version reader schemas read it). Readers see
    /// [`Dataset::reader_columns`], and new versions are held to [`Dataset::binding_columns`].
    #[serde(rename = "schema")]
    pub all_columns: Vec<ColumnDef>,
    /// Its versions, in registration order.
    pub versions: Vec<Version>,
    /// Which versions it serves.
    pub rollout: Rollout,
    /// The checks versions must pass (at registration, before exposure, while live).
    #[serde(default)]
    pub contract: Option<super::contract::Contract>,
    /// Which versions `VACUUM` drops (`ALTER DATASET ... SET RETENTION`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
}

/// How many versions, or how recent ones, a dataset keeps: `VACUUM` drops the others (never
/// the stable version, the candidate or the rollback target). With both, a version is dropped
/// when it is neither among the newest `keep_versions` nor younger than `max_age_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// `KEEP n VERSIONS`: the newest n versions not dropped yet are kept.
    pub keep_versions: Option<u32>,
    /// `INTERVAL '30 days'`: versions registered more recently are kept.
    pub max_age_seconds: Option<u64>,
}

impl Dataset {
    /// The version named `id`, if registered.
    pub fn version(&self, id: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.id == id)
    }

    pub(crate) fn version_mut(&mut self, id: &str) -> Option<&mut Version> {
        self.versions.iter_mut().find(|v| v.id == id)
    }

    /// The names of its versions, in registration order.
    pub fn version_ids(&self) -> impl Iterator<Item = &String> {
        self.versions.iter().map(|v| &v.id)
    }
}

/// File format of a version's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Apache Parquet files (`*.parquet`).
    Parquet,
    /// CSV files with a header line (`*.csv`).
    Csv,
    /// Newline-delimited JSON files (`*.json`).
    Json,
}

impl FileFormat {
    pub(crate) fn extension(self) -> &'static str {
        match self {
            FileFormat::Parquet => ".parquet",
            FileFormat::Csv => ".csv",
            FileFormat::Json => ".json",
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileFormat::Parquet => "PARQUET",
            FileFormat::Csv => "CSV",
            FileFormat::Json => "JSON",
        })
    }
}

/// Lifecycle of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Registered and not yet exposed to anyone.
    Registered,
    /// Served to part of the consumers by a live rollout.
    Candidate,
    /// Served to everyone not reading a candidate.
    Stable,
    /// Failed its contract at registration; it is kept, but exposing it needs `FORCE`.
    Rejected,
    /// Was the candidate or the stable version and was rolled back.
    RolledBack,
    /// Was stable until another version became stable (`ROLLBACK` can restore it).
    Retired,
    /// Dropped (`DROP VERSION`): kept in the catalog and the history, never read or exposed
    /// again; `VACUUM` reclaims its managed data.
    Dropped,
}

impl VersionStatus {
    /// Whether the version is or was served to consumers and was not rolled back: its columns
    /// are part of what readers see and what later versions must keep.
    pub fn is_exposed(self) -> bool {
        matches!(
            self,
            VersionStatus::Stable | VersionStatus::Candidate | VersionStatus::Retired
        )
    }
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VersionStatus::Registered => "registered",
            VersionStatus::Candidate => "candidate",
            VersionStatus::Stable => "stable",
            VersionStatus::Rejected => "rejected",
            VersionStatus::RolledBack => "rolled_back",
            VersionStatus::Retired => "retired",
            VersionStatus::Dropped => "dropped",
        })
    }
}

/// One file of a version, pinned at registration: reads use exactly these files, and a file
/// whose size or identity changed fails the read instead of returning other data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedFile {
    /// Full URL of the file (`file:///...`, `s3://bucket/...`).
    pub url: String,
    /// Size in bytes.
    pub size: u64,
    /// The object store's entity tag, if it reported one; remote files are verified by it,
    /// local files by size and modification time.
    pub e_tag: Option<String>,
    /// Last modification time the object store reported.
    pub last_modified: DateTime<Utc>,
}

/// An immutable version of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// Its name within the dataset (`v2`, `2024-06-01`).
    pub id: String,
    /// Where the data was registered from (a folder or file URL).
    pub location: String,
    /// File format of its data.
    pub format: FileFormat,
    /// The version's own schema (the dataset's may have more columns).
    pub schema: Vec<ColumnDef>,
    /// Number of rows, counted at registration.
    pub row_count: u64,
    /// Its data files, pinned at registration.
    pub files: Vec<PinnedFile>,
    /// Written by `CREATE VERSION ... AS` into the store (and so removable by VACUUM once retired).
    pub managed: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// The actor who registered it.
    pub created_by: String,
    /// The `COMMENT` it was registered with.
    pub comment: Option<String>,
    /// Where it is in its lifecycle.
    pub status: VersionStatus,
    /// The dataset versions its `CREATE VERSION ... AS` query read, as resolved then (its
    /// lineage); empty for a registered version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<VersionRef>,
    /// The breaking changes it declared (`REGISTER VERSION ... WITH MIGRATION`), applied to the
    /// dataset's schema when it is exposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
}

/// A version's declared breaking changes. Until the migration is finished (`ALTER DATASET d
/// FINISH MIGRATION`), readers also see the old names as deprecated compatibility columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    /// The changes, in the order declared.
    pub steps: Vec<MigrationStep>,
    /// Whether `FINISH MIGRATION` has removed its compatibility columns.
    #[serde(default)]
    pub finished: bool,
}

/// One declared breaking change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MigrationStep {
    /// `RENAME COLUMN from TO to`: the version has `to` where older versions have `from`.
    Rename {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// `DROP COLUMN column`: the version no longer has it.
    Drop {
        /// The column dropped.
        column: String,
    },
    /// `ALTER COLUMN column TYPE t`: the version's column has type `data_type`, in the log
    /// arrow's textual form (in a statement as written, SQL); older versions' values are cast
    /// to it.
    AlterType {
        /// The column.
        column: String,
        /// Its new type, in arrow's textual form.
        data_type: String,
    },
}

impl fmt::Display for MigrationStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MigrationStep::Rename { from, to } => {
                write!(f, "RENAME COLUMN {} TO {}", Ident(from), Ident(to))
            }
            MigrationStep::Drop { column } => write!(f, "DROP COLUMN {}", Ident(column)),
            MigrationStep::AlterType { column, data_type } => {
                write!(f, "ALTER COLUMN {} TYPE {data_type}", Ident(column))
            }
        }
    }
}

/// One version of one dataset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VersionRef {
    /// The dataset.
    pub dataset: String,
    /// The version.
    pub version: String,
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.dataset, self.version)
    }
}

impl Version {
    pub(crate) fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// A short hash of its pinned files (see [`files_fingerprint`]).
    pub fn fingerprint(&self) -> String {
        files_fingerprint(&self.files)
    }
}

/// A short hash of pinned files (URL, size, e-tag, modification time): what a version's stored
/// profiles are filed under, so that a version dropped and registered again over other files
/// never meets the old ones.
pub fn files_fingerprint(files: &[PinnedFile]) -> String {
    let mut h = blake3::Hasher::new();
    for f in files {
        h.update(f.url.as_bytes());
        h.update(&[0]);
        h.update(&f.size.to_le_bytes());
        h.update(f.e_tag.as_deref().unwrap_or("").as_bytes());
        h.update(&[0]);
        h.update(f.last_modified.to_rfc3339().as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex()[..16].to_string()
}

/// A named set of consumers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cohort {
    /// Its name.
    pub name: String,
    /// The consumer names in it.
    pub members: BTreeSet<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The actor who created it.
    pub created_by: String,
}

/// Which versions a dataset serves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// The version everyone reads who is not exposed to the candidate (`None` until the first
    /// `PROMOTE`).
    pub stable: Option<String>,
    /// Earlier stable versions, most recent last: `ROLLBACK` without a candidate pops one.
    pub previous_stable: Vec<String>,
    /// The version being rolled out to part of the consumers, if any.
    pub candidate: Option<Candidate>,
}

/// A stage of 100% exposes everyone: reaching it makes the candidate stable.
pub const FULL_EXPOSURE_BP: u32 = 10_000;

/// The hash a rollout's buckets are computed with, stored with the rollout so that an upgrade
/// never re-buckets anybody. A name this build does not know is refused when the log is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BucketHash {
    /// `murmur3_x86_32("{salt}:{consumer}", seed 0) mod 10000`.
    #[default]
    #[serde(rename = "murmur3_x86_32/seed0/mod10000")]
    Murmur3X86_32,
}

impl fmt::Display for BucketHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BucketHash::Murmur3X86_32 => "murmur3_x86_32/seed0/mod10000",
        })
    }
}

/// A version exposed to part of the consumers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The version exposed.
    pub version: String,
    /// Cohorts whose members (and sessions that joined them) read the candidate.
    pub cohorts: BTreeSet<String>,
    /// Share of consumers, in basis points (0..=10000), chosen by bucket.
    pub percent_bp: u32,
    /// Fixed when the rollout starts, so raising the percentage only adds consumers.
    pub salt: String,
    /// The hash the buckets were computed with, so an upgrade never re-buckets anybody.
    pub hash: BucketHash,
    /// When the rollout started.
    pub started_at: DateTime<Utc>,
    /// A staged rollout's percentages in basis points (empty when not staged).
    #[serde(default)]
    pub stages: Vec<u32>,
    /// Index of the current stage in `stages`.
    #[serde(default)]
    pub stage: usize,
    /// Minimum time a stage soaks before `ADVANCE`, in seconds.
    #[serde(default)]
    pub soak_seconds: Option<u64>,
    /// When the current stage began.
    #[serde(default)]
    pub stage_started_at: Option<DateTime<Utc>>,
    /// `AUTO`: a controller advances the stages and rolls back on failing guards.
    #[serde(default)]
    pub auto: Option<AutoPolicy>,
    /// The other datasets released with it in stages (`PROMOTE a TO .., b TO .. IN STAGES`):
    /// same salt, same stages; `ADVANCE` and `ROLLBACK` of any one move all of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linked: Vec<String>,
}

/// How a self-running staged rollout (`... EVERY INTERVAL '..' AUTO`) is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoPolicy {
    /// Roll back after this many consecutive failing evaluations (`ROLLBACK AFTER n
    /// FAILURES`; 1 unless given).
    pub rollback_after: u32,
}

impl Default for AutoPolicy {
    fn default() -> Self {
        Self { rollback_after: 1 }
    }
}

impl Candidate {
    /// The stage after the current one, in basis points: the first later stage above the
    /// current exposure (a forced `AT n PERCENT` may have passed some).
    pub fn next_stage(&self) -> Option<u32> {
        self.next_stage_index().map(|i| self.stages[i])
    }

    /// Index in `stages` of [`Self::next_stage`].
    pub fn next_stage_index(&self) -> Option<usize> {
        (self.stage + 1..self.stages.len()).find(|&i| self.stages[i] > self.percent_bp)
    }

    /// When the current stage may advance (start + soak), if staged with a soak interval.
    pub fn may_advance_at(&self) -> Option<DateTime<Utc>> {
        let soak = self.soak_seconds?;
        let start = self.stage_started_at.unwrap_or(self.started_at);
        Some(start + chrono::Duration::seconds(i64::try_from(soak).unwrap_or(i64::MAX / 1000)))
    }
}

impl Candidate {
    /// "cohorts canary, beta; 10%" style summary.
    pub fn exposure(&self) -> String {
        let mut parts = Vec::new();
        if !self.cohorts.is_empty() {
            let names: Vec<&str> = self.cohorts.iter().map(String::as_str).collect();
            parts.push(format!("cohort {}", names.join(", ")));
        }
        if self.percent_bp > 0 {
            parts.push(format!("{} of consumers", format_percent(self.percent_bp)));
        }
        if parts.is_empty() {
            "nobody".to_string()
        } else {
            parts.join(" + ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_hash_is_stored_by_name_and_an_unknown_name_is_refused() {
        let known = serde_json::to_string(&BucketHash::Murmur3X86_32).unwrap();
        assert_eq!(known, "\"murmur3_x86_32/seed0/mod10000\"");
        assert_eq!(
            serde_json::from_str::<BucketHash>(&known).unwrap(),
            BucketHash::Murmur3X86_32
        );
        let err = serde_json::from_str::<BucketHash>("\"xxhash64/seed0/mod10000\"").unwrap_err();
        assert!(err.to_string().contains("unknown variant"), "{err}");
    }
}
