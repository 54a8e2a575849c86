//! Declared migrations (`... WITH MIGRATION (...)`): how renames, drops and type changes
//! reshape the reader schema, which compatibility columns readers keep until `FINISH
//! MIGRATION`, and which file column each reader column reads in a given version.
//!
//! The schema is folded over the versions in registration order: before a version with a
//! migration is merged, its steps are applied to the columns so far (a renamed column keeps
//! its place, a dropped one leaves, an altered one takes its new type). While it is
//! unfinished the old names follow as deprecated columns: a renamed one reads the new column,
//! a dropped one NULL where it is gone. An older version reads its own columns under every
//! name (`total` reads its `amount`).

use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::DataType;

use super::model::{Dataset, MigrationStep, Version, VersionStatus};
use super::schema::{ColumnDef, merge_schema};

/// A deprecated compatibility column: an old name readers keep until the migration finishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatColumn {
    /// The old name, with the type readers see it as.
    pub column: ColumnDef,
    /// The version whose migration removed it.
    pub version: String,
    /// The column it reads in versions that have the change (`None`: dropped, read as NULL).
    pub replaced_by: Option<String>,
}

/// The columns of some versions folded in order, migrations applied, with the compatibility
/// columns of unfinished migrations (not part of `columns`).
#[derive(Debug, Default)]
pub(super) struct Folded {
    pub(super) columns: Vec<ColumnDef>,
    pub(super) compat: Vec<CompatColumn>,
}

/// Folds `versions` (in registration order): the columns of those `merge` accepts, the
/// migrations of those `migrate` accepts. A dataset may have thousands of versions, mostly of
/// one schema: a version whose columns equal the previous one's and that declares nothing
/// changes nothing, so it is skipped with one comparison.
pub(super) fn fold(
    versions: &[Version],
    merge: impl Fn(&Version) -> bool,
    migrate: impl Fn(&Version) -> bool,
) -> Folded {
    let mut folded = Folded::default();
    let mut last: Option<&Vec<ColumnDef>> = None;
    for v in versions {
        if let Some(m) = v.migration.as_ref().filter(|_| migrate(v)) {
            let before = std::mem::take(&mut folded.columns);
            folded.columns = apply_steps(&before, &m.steps);
            if !m.finished {
                folded.compat.extend(m.steps.iter().filter_map(|step| {
                    let (old, replaced_by) = match step {
                        MigrationStep::Rename { from, to } => (from, Some(to.clone())),
                        MigrationStep::Drop { column } => (column, None),
                        MigrationStep::AlterType { .. } => return None,
                    };
                    let data_type = before.iter().find(|c| &c.name == old)?.data_type.clone();
                    Some(CompatColumn {
                        column: ColumnDef {
                            name: old.clone(),
                            data_type,
                            nullable: true,
                        },
                        version: v.id.clone(),
                        replaced_by,
                    })
                }));
            }
        } else if last == Some(&v.schema) {
            continue;
        }
        if !merge(v) {
            continue;
        }
        folded.columns = merge_schema(&folded.columns, &v.schema);
        last = Some(&v.schema);
    }
    // A renamed column's compatibility name has the new column's type (it reads it); one the
    // fold dropped again, or whose name a later version reuses, is no compatibility column.
    let columns = &folded.columns;
    folded
        .compat
        .retain(|c| !columns.iter().any(|x| x.name == c.column.name));
    for c in &mut folded.compat {
        if let Some(now) = c
            .replaced_by
            .as_ref()
            .and_then(|to| columns.iter().find(|x| &x.name == to))
        {
            c.column.data_type = now.data_type.clone();
        }
    }
    folded
}

/// `columns` (the shape before a migrating version) with `steps` applied.
pub fn apply_steps(columns: &[ColumnDef], steps: &[MigrationStep]) -> Vec<ColumnDef> {
    let mut out = columns.to_vec();
    for step in steps {
        match step {
            MigrationStep::Rename { from, to } => {
                if let Some(c) = out.iter_mut().find(|c| &c.name == from) {
                    c.name = to.clone();
                }
            }
            MigrationStep::Drop { column } => out.retain(|c| &c.name != column),
            MigrationStep::AlterType { column, data_type } => {
                if let Some(c) = out.iter_mut().find(|c| &c.name == column) {
                    c.data_type = data_type.clone();
                }
            }
        }
    }
    out
}

/// `steps` with each declared type replaced by the new version's own when they are the same
/// SQL type in another layout (`VARCHAR` declared, `Utf8View` read from Parquet), so that the
/// dataset's reader schema carries the type readers actually get.
pub fn normalize_steps(steps: &[MigrationStep], new: &[ColumnDef]) -> Vec<MigrationStep> {
    steps
        .iter()
        .map(|step| match step {
            MigrationStep::AlterType { column, data_type } => {
                let own = new
                    .iter()
                    .find(|c| &c.name == column && same_type(&c.data_type, data_type));
                MigrationStep::AlterType {
                    column: column.clone(),
                    data_type: own.map_or_else(|| data_type.clone(), |c| c.data_type.clone()),
                }
            }
            other => other.clone(),
        })
        .collect()
}

/// Every reason `steps` do not describe how `new` (a version's own columns) differs from
/// `binding` (the columns it must otherwise keep); empty when they do.
pub fn check_steps(
    binding: &[ColumnDef],
    new: &[ColumnDef],
    steps: &[MigrationStep],
) -> Vec<String> {
    let mut problems = Vec::new();
    let known = |name: &str| binding.iter().find(|c| c.name == name);
    let in_new = |name: &str| new.iter().find(|c| c.name == name);
    let names = |cols: &[ColumnDef]| {
        cols.iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut named: Vec<&str> = Vec::new();
    for step in steps {
        let (first, second) = match step {
            MigrationStep::Rename { from, to } => (from.as_str(), Some(to.as_str())),
            MigrationStep::Drop { column } => (column.as_str(), None),
            MigrationStep::AlterType { column, .. } => (column.as_str(), None),
        };
        for n in std::iter::once(first).chain(second) {
            let renamed_then_altered = matches!(step, MigrationStep::AlterType { .. })
                && steps
                    .iter()
                    .any(|s| matches!(s, MigrationStep::Rename { to, .. } if to == n));
            if named.contains(&n) && !renamed_then_altered {
                problems.push(format!("{step}: column '{n}' is named by two changes"));
            }
            named.push(n);
        }
        match step {
            MigrationStep::Rename { from, to } => {
                if known(from).is_none() {
                    problems.push(format!(
                        "{step}: the dataset has no column '{from}' (its columns: {})",
                        names(binding)
                    ));
                }
                if in_new(from).is_some() {
                    problems.push(format!("{step}: the new version still has column '{from}'"));
                }
                if known(to).is_some() {
                    problems.push(format!("{step}: the dataset already has a column '{to}'"));
                }
                if in_new(to).is_none() {
                    problems.push(format!(
                        "{step}: the new version has no column '{to}' (its columns: {})",
                        names(new)
                    ));
                }
            }
            MigrationStep::Drop { column } => {
                if known(column).is_none() {
                    problems.push(format!(
                        "{step}: the dataset has no column '{column}' (its columns: {})",
                        names(binding)
                    ));
                }
                if in_new(column).is_some() {
                    problems.push(format!(
                        "{step}: the new version still has column '{column}'"
                    ));
                }
            }
            MigrationStep::AlterType { column, data_type } => {
                let renamed_from = steps.iter().find_map(|s| match s {
                    MigrationStep::Rename { from, to } if to == column => Some(from.as_str()),
                    _ => None,
                });
                let old = known(renamed_from.unwrap_or(column));
                match (old, in_new(column)) {
                    (None, _) => problems.push(format!(
                        "{step}: the dataset has no column '{column}' (its columns: {})",
                        names(binding)
                    )),
                    (_, None) => problems.push(format!(
                        "{step}: the new version has no column '{column}' (its columns: {})",
                        names(new)
                    )),
                    (Some(old), Some(now)) => {
                        if !same_type(&now.data_type, data_type) {
                            problems.push(format!(
                                "{step}: the new version's '{column}' is {}, not {data_type}",
                                now.data_type
                            ));
                        } else if !castable(&old.data_type, data_type) {
                            problems.push(format!(
                                "{step}: {} does not cast to {data_type}, so older versions could not be read as the new type",
                                old.data_type
                            ));
                        }
                    }
                }
            }
        }
    }
    problems
}

/// Whether two arrow types (textual form) are the same SQL type: strings and binaries come in
/// several layouts (a Parquet string reads as `Utf8View`, `VARCHAR` may plan as `Utf8`).
fn same_type(a: &str, b: &str) -> bool {
    let family = |t: &str| match t {
        "Utf8" | "LargeUtf8" | "Utf8View" => "string",
        "Binary" | "LargeBinary" | "BinaryView" => "binary",
        _ => "",
    };
    a == b || (!family(a).is_empty() && family(a) == family(b))
}

/// Whether values of arrow type `from` (textual form) cast to `to`.
fn castable(from: &str, to: &str) -> bool {
    match (from.parse::<DataType>(), to.parse::<DataType>()) {
        (Ok(a), Ok(b)) => can_cast_types(&a, &b),
        _ => false,
    }
}

/// Whether a version's migration may still take effect: not rejected or dropped.
fn alive(v: &Version) -> bool {
    !matches!(v.status, VersionStatus::Rejected | VersionStatus::Dropped)
}

impl Dataset {
    /// The version whose migration is not finished, if one is (at most one is, besides those
    /// of rejected or dropped versions, which never took effect or were abandoned).
    pub fn unfinished_migration(&self) -> Option<&Version> {
        self.versions
            .iter()
            .rev()
            .find(|v| alive(v) && v.migration.as_ref().is_some_and(|m| !m.finished))
    }

    /// The deprecated compatibility columns a reader of the dataset sees (with `also` as in
    /// [`Dataset::reader_columns`]).
    pub fn compat_columns(&self, also: &[&str]) -> Vec<CompatColumn> {
        self.fold_for(also).compat
    }

    /// The reader schema's fold, with `also` as in [`Dataset::reader_columns`].
    pub(super) fn fold_for(&self, also: &[&str]) -> Folded {
        let shaping = self.shaping(also);
        fold(
            &self.versions,
            |v| shaping.includes(v),
            |v| shaping.migrates(v),
        )
    }

    /// Which versions shape what readers see, with `also` as in [`Dataset::reader_columns`]
    /// (whether anything is exposed is looked up once: every query plans through this).
    pub(super) fn shaping<'a>(&self, also: &'a [&'a str]) -> Shaping<'a> {
        Shaping {
            any_exposed: self.versions.iter().any(|v| v.status.is_exposed()),
            also,
        }
    }

    /// The column of `version`'s files that reader column `name` reads, or `None` when the
    /// version has nothing for it (read as NULL). `also` is as in [`Dataset::reader_columns`].
    pub fn column_source(&self, version: &Version, name: &str, also: &[&str]) -> Option<String> {
        let has = |n: &str| version.schema.iter().any(|c| c.name == n);
        if has(name) {
            return Some(name.to_string());
        }
        let position = self.versions.iter().position(|v| v.id == version.id)?;
        let shaping = self.shaping(also);
        let migrations = |range: &[Version]| -> Vec<MigrationStep> {
            range
                .iter()
                .filter(|v| shaping.migrates(v))
                .filter_map(|v| v.migration.as_ref())
                .flat_map(|m| m.steps.iter().cloned())
                .collect()
        };
        // A newer name: follow renames declared after this version back to its own name.
        let mut older = name.to_string();
        for step in migrations(&self.versions[position + 1..]).iter().rev() {
            if let MigrationStep::Rename { from, to } = step
                && *to == older
            {
                older = from.clone();
            }
        }
        if has(&older) {
            return Some(older);
        }
        // An old name kept for compatibility: follow unfinished renames up to this version.
        let mut newer = name.to_string();
        for v in self.versions[..=position]
            .iter()
            .filter(|v| shaping.migrates(v) || v.id == version.id)
        {
            let Some(m) = v.migration.as_ref().filter(|m| !m.finished) else {
                continue;
            };
            for step in &m.steps {
                if let MigrationStep::Rename { from, to } = step
                    && *from == newer
                {
                    newer = to.clone();
                }
            }
        }
        has(&newer).then_some(newer)
    }
}

/// Which versions shape what readers see (see [`Dataset::shaping`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Shaping<'a> {
    /// Whether any version is exposed; before, every version counts.
    pub(super) any_exposed: bool,
    /// The versions a pinned read or a drift names.
    pub(super) also: &'a [&'a str],
}

impl Shaping<'_> {
    /// Whether `v`'s columns count: it is exposed or named, or nothing is exposed yet.
    pub(super) fn includes(&self, v: &Version) -> bool {
        !self.any_exposed || v.status.is_exposed() || self.also.contains(&v.id.as_str())
    }

    /// Whether `v`'s declared migration counts: once its version has been exposed it does for
    /// good (a rollback of the version's data does not take the new names away from consumers
    /// who moved to them), and so does a finished one; before, only for a read that names the
    /// version (or before anything is exposed).
    pub(super) fn migrates(&self, v: &Version) -> bool {
        v.migration.as_ref().is_some_and(|m| {
            m.finished || v.status == VersionStatus::RolledBack || self.includes(v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: &str) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            data_type: t.into(),
            nullable: true,
        }
    }

    fn rename(from: &str, to: &str) -> MigrationStep {
        MigrationStep::Rename {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn steps_are_checked_against_both_shapes() {
        let old = vec![
            col("id", "Int64"),
            col("amount", "Float64"),
            col("legacy", "Utf8"),
        ];
        let new = vec![col("id", "Int64"), col("total", "Float64")];
        let drop = MigrationStep::Drop {
            column: "legacy".into(),
        };
        assert!(check_steps(&old, &new, &[rename("amount", "total"), drop.clone()]).is_empty());
        let wrong = check_steps(&old, &new, &[rename("amout", "total"), drop]);
        assert_eq!(wrong.len(), 1, "{wrong:?}");
        assert!(wrong[0].contains("no column 'amout'"), "{wrong:?}");
        let alter = MigrationStep::AlterType {
            column: "id".into(),
            data_type: "Int32".into(),
        };
        let wrong = check_steps(&old, &new, &[alter]);
        assert!(wrong[0].contains("'id' is Int64, not Int32"), "{wrong:?}");
        let to_date = MigrationStep::AlterType {
            column: "legacy".into(),
            data_type: "Binary".into(),
        };
        let with_binary = vec![col("legacy", "Binary")];
        assert!(check_steps(&old, &with_binary, &[to_date]).is_empty());
        let list = MigrationStep::AlterType {
            column: "amount".into(),
            data_type: "Date32".into(),
        };
        let wrong = check_steps(&old, &[col("amount", "Date32")], &[list]);
        assert!(wrong[0].contains("does not cast"), "{wrong:?}");
    }

    #[test]
    fn applying_renames_keeps_the_place() {
        let old = vec![
            col("id", "Int64"),
            col("amount", "Float64"),
            col("legacy", "Utf8"),
        ];
        let steps = [
            rename("amount", "total"),
            MigrationStep::Drop {
                column: "legacy".into(),
            },
        ];
        let names: Vec<String> = apply_steps(&old, &steps)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["id", "total"]);
    }
}
