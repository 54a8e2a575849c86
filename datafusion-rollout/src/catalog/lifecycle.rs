//! A dataset's lifecycle rules over its versions: the reader schema (the columns of its exposed
//! versions), the columns new versions must keep, which versions may be dropped, and which
//! ones its retention lets go.

use chrono::{DateTime, Utc};

use super::migration::{Shaping, fold};
use super::model::{Dataset, Version, VersionStatus};
use super::schema::ColumnDef;

impl Dataset {
    /// The columns a reader of the dataset sees: those of every exposed version (stable,
    /// candidate, retired), merged in registration order, so a consumer of the stable version
    /// reads a column the candidate added as NULL, and a widened type as the wider one; plus
    /// the columns of `also` (the versions a pinned read or a drift names). Columns only a
    /// registered, rejected or rolled-back version has never reach a reader. Declared
    /// migrations are applied in order, and the old names of an unfinished one follow as
    /// deprecated compatibility columns (see [`super::migration`]).
    ///
    /// Before any version is exposed nobody reads the dataset unpinned (resolution refuses it,
    /// naming why), so the schema it plans with is that of every version.
    pub fn reader_columns(&self, also: &[&str]) -> Vec<ColumnDef> {
        let folded = self.fold_for(also);
        let mut columns = folded.columns;
        columns.extend(folded.compat.into_iter().map(|c| c.column));
        columns
    }

    /// The columns a new version must keep (with their types, or wider): those of the exposed
    /// versions, their declared migrations applied. A column only an unexposed, rejected or
    /// rolled-back version had binds nothing.
    pub fn binding_columns(&self) -> Vec<ColumnDef> {
        // As if something were exposed: then only exposed versions count.
        let exposed = Shaping {
            any_exposed: true,
            also: &[],
        };
        fold(
            &self.versions,
            |v| exposed.includes(v),
            |v| exposed.migrates(v),
        )
        .columns
    }

    /// Why `version` may not be dropped now: it is the stable version, the candidate, or the
    /// version `ROLLBACK` would restore.
    pub fn protected_role(&self, version: &str) -> Option<&'static str> {
        let rollout = &self.rollout;
        let migrating = self.unfinished_migration().filter(|v| v.id == version);
        if migrating.is_some_and(|v| self.shaping(&[]).migrates(v)) {
            return Some("the version whose migration is in progress (FINISH MIGRATION first)");
        }
        if rollout.stable.as_deref() == Some(version) {
            Some("the stable version")
        } else if rollout.candidate.as_ref().map(|c| c.version.as_str()) == Some(version) {
            Some("the candidate")
        } else if rollout.previous_stable.last().map(String::as_str) == Some(version) {
            Some("the version ROLLBACK would restore")
        } else {
            None
        }
    }

    /// The versions its retention lets `VACUUM` drop at `now`, in registration order.
    pub fn expired_versions(&self, now: DateTime<Utc>) -> Vec<&Version> {
        let Some(retention) = self.retention else {
            return vec![];
        };
        let live: Vec<&Version> = self
            .versions
            .iter()
            .filter(|v| v.status != VersionStatus::Dropped)
            .collect();
        let keep = retention.keep_versions.map(|n| n as usize);
        let newest_kept = keep.map(|n| live.len().saturating_sub(n));
        live.iter()
            .enumerate()
            .filter(|(i, v)| {
                let beyond_count = newest_kept.is_none_or(|first_kept| *i < first_kept);
                let too_old = retention.max_age_seconds.is_none_or(|age| {
                    i64::try_from(age)
                        .ok()
                        .and_then(chrono::TimeDelta::try_seconds)
                        .and_then(|d| now.checked_sub_signed(d))
                        .is_some_and(|cutoff| v.created_at < cutoff)
                });
                beyond_count && too_old && self.protected_role(&v.id).is_none()
            })
            .map(|(_, v)| *v)
            .collect()
    }

    /// The latest exposed version's own columns: the nullability a new version must keep.
    pub fn latest_exposed_columns(&self) -> Option<&[ColumnDef]> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.status.is_exposed())
            .map(|v| v.schema.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::catalog::{FileFormat, Retention, Rollout};

    /// `orders` with versions v1..v6 registered a day apart (v1 oldest, ten days ago), v5
    /// stable after v4 (so v4 is the rollback target), and `retention`.
    fn dataset(retention: Retention) -> (Dataset, DateTime<Utc>) {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 4, 12, 0, 0)
            .single()
            .unwrap();
        let versions = (1..=6)
            .map(|i| Version {
                id: format!("v{i}"),
                location: format!("file:///data/v{i}/"),
                format: FileFormat::Parquet,
                schema: vec![],
                row_count: 1,
                files: vec![],
                managed: true,
                created_at: now - chrono::TimeDelta::days(11 - i),
                created_by: "test".into(),
                comment: None,
                status: match i {
                    5 => VersionStatus::Stable,
                    1..=4 => VersionStatus::Retired,
                    _ => VersionStatus::Registered,
                },
                inputs: vec![],
                migration: None,
            })
            .collect();
        let ds = Dataset {
            name: "orders".into(),
            comment: None,
            created_at: now,
            created_by: "test".into(),
            all_columns: vec![],
            versions,
            rollout: Rollout {
                stable: Some("v5".into()),
                previous_stable: vec!["v3".into(), "v4".into()],
                ..Rollout::default()
            },
            contract: None,
            retention: Some(retention),
        };
        (ds, now)
    }

    fn expired(retention: Retention) -> Vec<String> {
        let (ds, now) = dataset(retention);
        ds.expired_versions(now)
            .iter()
            .map(|v| v.id.clone())
            .collect()
    }

    #[test]
    fn retention_keeps_the_newest_and_the_recent_and_never_what_the_rollout_needs() {
        let keep = |n| Retention {
            keep_versions: Some(n),
            max_age_seconds: None,
        };
        let age = |days: u64| Retention {
            keep_versions: None,
            max_age_seconds: Some(days * 86_400),
        };
        // v4 is the rollback target and v5 stable: never dropped.
        assert_eq!(expired(keep(2)), ["v1", "v2", "v3"]);
        assert_eq!(expired(keep(1)), ["v1", "v2", "v3"]);
        assert_eq!(expired(keep(6)), Vec::<String>::new());
        // Registered 10, 9, ... 5 days ago: older than 7 days are v1..v3.
        assert_eq!(expired(age(7)), ["v1", "v2", "v3"]);
        assert_eq!(expired(age(9)), ["v1"]);
        // Both: dropped only when beyond the newest n and too old.
        let both = Retention {
            keep_versions: Some(5),
            max_age_seconds: Some(7 * 86_400),
        };
        assert_eq!(expired(both), ["v1"]);
    }
}
