//! `REGISTER VERSION`, the commit path every new version takes (also `CREATE VERSION ... AS
//! SELECT`'s, see `create_version.rs`), and `SHOW VERSIONS OF`.

use std::fmt;
use std::sync::Arc;

use chrono::Utc;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::migration::{MigrationClause, parse_changes, steps_of, with_compat_columns};
use super::parser::{expect_word, parse_name, parse_string, parse_word};
use super::scan::{Scanned, scan_location};
use super::table::Table;
use crate::catalog::{
    Action, ColumnDef, FileFormat, Migration, MigrationStep, State, Version, VersionRef,
    VersionStatus, apply_steps, check_compatible, check_steps, columns_from_schema, merge_schema,
    normalize_steps, validate_identifier, validate_version_id,
};
use crate::contract::{Target, VersionKey};
use crate::error::{Error, Refusal, Result};
use crate::guard::{Env, Gate, OnFailure, Verdict, guarded_commit};
use crate::sql::{Ident, Quoted, ReasonClause};
use crate::store::{Commit, resolve_location};

/// `REGISTER VERSION 'v1' OF orders FROM 'path/' [FORMAT PARQUET|CSV|JSON] [COMMENT '...']
/// [WITH MIGRATION (RENAME COLUMN a TO b, DROP COLUMN c, ALTER COLUMN d TYPE t)] [REASON '...']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterVersion {
    /// The new version's id.
    pub version: String,
    /// The dataset.
    pub dataset: String,
    /// Where the files are: a folder (ending in `/`) or one file, as a path or URL.
    pub location: String,
    /// Their format (`PARQUET` unless given).
    pub format: FileFormat,
    /// A description, shown by `SHOW VERSIONS`.
    pub comment: Option<String>,
    /// The breaking changes it declares (`WITH MIGRATION (...)`), in order; empty for none.
    pub migration: Vec<MigrationStep>,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// `SHOW VERSIONS OF orders`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowVersions {
    /// The dataset.
    pub dataset: String,
}

fn parse_format(p: &mut Parser) -> Result<FileFormat, ParserError> {
    let token = p.next_token();
    let word = match &token.token {
        datafusion::sql::sqlparser::tokenizer::Token::Word(w) => w.value.to_ascii_uppercase(),
        _ => String::new(),
    };
    match word.as_str() {
        "PARQUET" => Ok(FileFormat::Parquet),
        "CSV" => Ok(FileFormat::Csv),
        "JSON" | "NDJSON" => Ok(FileFormat::Json),
        _ => p.expected("PARQUET, CSV or JSON after FORMAT", token),
    }
}

/// `'v' OF dataset`
pub(super) fn parse_version_of(p: &mut Parser) -> Result<(String, String), ParserError> {
    let version = parse_string(p, "a version id in quotes, like 'v2'")?;
    p.expect_keyword(Keyword::OF)?;
    let dataset = parse_name(p, "a dataset name after OF")?;
    Ok((version, dataset))
}

pub(super) fn parse_register(p: &mut Parser) -> Result<RegisterVersion, ParserError> {
    expect_word(p, "REGISTER")?;
    p.expect_keyword(Keyword::VERSION)?;
    let (version, dataset) = parse_version_of(p)?;
    p.expect_keyword(Keyword::FROM)?;
    let location = parse_string(p, "a location in quotes after FROM")?;
    let mut format = None;
    let mut comment = None;
    let mut reason = None;
    let mut migration = None;
    loop {
        if migration.is_none() && p.parse_keyword(Keyword::WITH) {
            migration = Some(parse_changes(p)?);
        } else if format.is_none() && p.parse_keyword(Keyword::FORMAT) {
            format = Some(parse_format(p)?);
        } else if comment.is_none() && p.parse_keyword(Keyword::COMMENT) {
            comment = Some(parse_string(p, "a comment in quotes after COMMENT")?);
        } else if reason.is_none() && parse_word(p, "REASON") {
            reason = Some(parse_string(p, "a reason in quotes after REASON")?);
        } else {
            break;
        }
    }
    Ok(RegisterVersion {
        version,
        dataset,
        location,
        format: format.unwrap_or(FileFormat::Parquet),
        comment,
        migration: migration.unwrap_or_default(),
        reason,
    })
}

pub(super) fn parse_show(p: &mut Parser) -> Result<ShowVersions, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    expect_word(p, "VERSIONS")?;
    p.expect_keyword(Keyword::OF)?;
    Ok(ShowVersions {
        dataset: parse_name(p, "a dataset name after OF")?,
    })
}

impl fmt::Display for RegisterVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "REGISTER VERSION {} OF {} FROM {} FORMAT {}",
            Quoted(&self.version),
            Ident(&self.dataset),
            Quoted(&self.location),
            self.format
        )?;
        if let Some(c) = &self.comment {
            write!(f, " COMMENT {}", Quoted(c))?;
        }
        write!(
            f,
            "{}{}",
            MigrationClause(&self.migration),
            ReasonClause(&self.reason)
        )
    }
}

impl fmt::Display for ShowVersions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW VERSIONS OF {}", Ident(&self.dataset))
    }
}

/// The checks a new version must pass against a state: valid names, dataset known, id free.
pub(super) fn check_new_version(state: &State, dataset: &str, version: &str) -> Result<()> {
    validate_version_id(version)?;
    let ds = state.dataset(dataset)?;
    if ds.version(version).is_some() {
        return Err(Error::VersionExists {
            dataset: dataset.to_string(),
            version: version.to_string(),
        });
    }
    Ok(())
}

/// Where a new version comes from, and how it is recorded.
pub(super) struct NewVersion<'a> {
    pub(super) operation: &'static str,
    pub(super) statement: String,
    pub(super) dataset: &'a str,
    pub(super) version: &'a str,
    pub(super) location: String,
    pub(super) format: FileFormat,
    pub(super) managed: bool,
    pub(super) comment: Option<String>,
    pub(super) reason: Option<String>,
    /// The versions its query read (`CREATE VERSION ... AS`).
    pub(super) inputs: Vec<VersionRef>,
    /// The breaking changes it declares (`WITH MIGRATION`).
    pub(super) migration: Vec<MigrationStep>,
}

/// Commits a scanned version through the guarded path: the dataset's contract runs over its
/// files (read through a temporary table) with drift against the stable version; a failure
/// does not refuse the registration but records the version as `rejected`, with the checks as
/// the entry's evidence. Name and schema are re-checked against the latest state.
pub(super) async fn commit_version(
    env: &Env<'_>,
    mut new: NewVersion<'_>,
    scanned: Scanned,
) -> Result<Outcome> {
    let columns = columns_from_schema(&scanned.schema);
    new.migration = normalize_steps(&new.migration, &columns);
    let pending = format!("__rollout_pending_{}", uuid::Uuid::new_v4().simple());
    // Its contract reads it as its readers will: with the old names of a declared migration.
    let (table, read_as) = with_compat_columns(
        env,
        (new.dataset, new.version),
        &new.migration,
        &columns,
        Arc::clone(&scanned.table) as _,
    )?;
    env.session.register_table(pending.as_str(), table)?;
    let gate = Gate {
        operation: new.operation,
        dataset: new.dataset,
        candidate: Target {
            version: new.version.to_string(),
            table: Ident(&pending).to_string(),
            columns: read_as,
            // Drift against stable reads the new version's profile, computed here from the
            // temporary table and kept for its later guards (a version that declares a
            // migration is profiled later, through its pinned table, as its readers see it).
            profile: new.migration.is_empty().then(|| {
                VersionKey::registering(
                    new.dataset,
                    new.version,
                    &scanned.files,
                    Ident(&pending).to_string(),
                )
            }),
        },
        on_failure: OnFailure::Record,
        force: false,
        actor: env.actor,
    };
    let done = guarded_commit(env, gate, |state, verdict| {
        plan_version(env, state, &new, &columns, &scanned, verdict).map(Some)
    })
    .await;
    env.session.deregister_table(pending.as_str())?;
    let done = done?;
    Ok(Outcome::of_commit(done.outcome, done.report, || {
        "nothing to do".into()
    }))
}

fn plan_version(
    env: &Env<'_>,
    state: &State,
    new: &NewVersion<'_>,
    columns: &[ColumnDef],
    scanned: &Scanned,
    verdict: &Verdict,
) -> Result<Commit> {
    let (dataset, version) = (new.dataset, new.version);
    check_new_version(state, dataset, version)?;
    let ds = state.dataset(dataset)?;
    let binding = ds.binding_columns();
    let previous = ds.latest_exposed_columns();
    let breaking = if new.migration.is_empty() {
        check_compatible(&binding, columns, previous)
    } else {
        if let Some(v) = ds.unfinished_migration() {
            return Err(Error::refused(Refusal::MigrationInProgress {
                dataset: dataset.to_string(),
                version: v.id.clone(),
            }));
        }
        let problems = check_steps(&binding, columns, &new.migration);
        if !problems.is_empty() {
            return Err(Error::InvalidMigration {
                dataset: dataset.to_string(),
                version: version.to_string(),
                problems,
            });
        }
        let previous = previous.map(|p| apply_steps(p, &new.migration));
        check_compatible(
            &apply_steps(&binding, &new.migration),
            columns,
            previous.as_deref(),
        )
    };
    if !breaking.is_empty() {
        return Err(Error::BreakingSchemaChange {
            dataset: dataset.to_string(),
            version: version.to_string(),
            changes: breaking,
        });
    }
    let (files, rows) = (scanned.files.len(), scanned.row_count);
    let (status, message) = match verdict {
        Verdict::Failed(failures) => (
            VersionStatus::Rejected,
            format!(
                "version '{version}' of {dataset} REJECTED by its contract ({rows} rows in {files} file(s)); it is kept but cannot be promoted without FORCE: {}",
                failures.join("; ")
            ),
        ),
        Verdict::Pending | Verdict::Passed => (
            VersionStatus::Registered,
            format!("registered version '{version}' of {dataset}: {rows} rows in {files} file(s)"),
        ),
    };
    let message = if new.migration.is_empty() {
        message
    } else {
        let steps: Vec<String> = new.migration.iter().map(ToString::to_string).collect();
        format!(
            "{message}; it migrates the schema ({}): once exposed, every reader sees the new shape, with the old names as deprecated compatibility columns until ALTER DATASET {dataset} FINISH MIGRATION",
            steps.join(", ")
        )
    };
    let v = Version {
        id: version.to_string(),
        location: new.location.clone(),
        format: new.format,
        schema: columns.to_vec(),
        row_count: rows,
        files: scanned.files.clone(),
        managed: new.managed,
        created_at: Utc::now(),
        created_by: env.actor.to_string(),
        comment: new.comment.clone(),
        status,
        inputs: new.inputs.clone(),
        migration: (!new.migration.is_empty()).then(|| Migration {
            steps: new.migration.clone(),
            finished: false,
        }),
    };
    Ok(Commit {
        operation: new.operation.to_string(),
        dataset: Some(dataset.to_string()),
        statement: new.statement.clone(),
        reason: new.reason.clone(),
        checks: vec![],
        actions: vec![Action::AddVersion {
            dataset: dataset.to_string(),
            version: Box::new(v),
            schema: merge_schema(&ds.all_columns, columns),
        }],
        message,
        blast_radius: None,
    })
}

impl RegisterVersion {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        validate_identifier("dataset name", &self.dataset)?;
        check_new_version(env.store.state().as_ref(), &self.dataset, &self.version)?;
        let url = resolve_location(&self.location, false)?;
        let scanned = scan_location(env, &url, self.format).await?;
        let new = NewVersion {
            operation: "REGISTER VERSION",
            statement: self.to_string(),
            dataset: &self.dataset,
            version: &self.version,
            location: url.to_string(),
            format: self.format,
            managed: false,
            comment: self.comment.clone(),
            reason: self.reason.clone(),
            inputs: vec![],
            migration: steps_of(env, &self.migration)?,
        };
        commit_version(env, new, scanned).await
    }
}

impl ShowVersions {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let ds = state.dataset(&self.dataset)?;
        let vs = &ds.versions;
        let time = |v: &Version| {
            v.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        let batch = Table::new()
            .text("version", vs.iter().map(|v| &v.id))
            .text("status", vs.iter().map(|v| v.status.to_string()))
            .text("format", vs.iter().map(|v| v.format.to_string()))
            .count("rows", vs.iter().map(|v| v.row_count))
            .count("files", vs.iter().map(|v| v.files.len() as u64))
            .count("bytes", vs.iter().map(Version::total_bytes))
            .text("created_at", vs.iter().map(time))
            .text("created_by", vs.iter().map(|v| &v.created_by))
            .text("location", vs.iter().map(|v| &v.location))
            .text_opt("comment", vs.iter().map(|v| v.comment.as_ref()))
            .text_opt("migration", vs.iter().map(migration_text))
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}

/// What `SHOW VERSIONS` says of a version's declared migration.
fn migration_text(v: &Version) -> Option<String> {
    let m = v.migration.as_ref()?;
    let steps: Vec<String> = m.steps.iter().map(ToString::to_string).collect();
    let state = if m.finished {
        "finished"
    } else {
        "in progress"
    };
    Some(format!("{} ({state})", steps.join(", ")))
}
