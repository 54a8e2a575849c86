//! Staged schema migrations: `REGISTER VERSION ... WITH MIGRATION (RENAME COLUMN a TO b, DROP
//! COLUMN c, ALTER COLUMN d TYPE t)` declares a version's breaking changes, and `ALTER DATASET d
//! FINISH MIGRATION` removes the deprecated compatibility columns once no consumer reads
//! through them (see `catalog::migration` for what readers see meanwhile).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chrono::{Duration, Utc};
use datafusion::catalog::TableProvider;
use datafusion::common::DFSchema;
use datafusion::logical_expr::ExprSchemable;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Outcome;
use super::explain_change::KNOWN_CONSUMERS_DAYS;
use super::parser::{expect_word, parse_name, parse_reason, parse_word};
use crate::catalog::{Action, ColumnDef, MigrationStep};
use crate::contract::validate_contract;
use crate::error::{Error, Refusal, Result};
use crate::guard::Env;
use crate::resolve::mapped_table;
use crate::sql::{Ident, ReasonClause};
use crate::store::{Commit, Event};

/// `WITH MIGRATION (change, ...)`, after `WITH` was consumed. An `ALTER COLUMN`'s type is kept
/// as SQL (`VARCHAR`) until [`steps_of`] maps it as DataFusion does.
pub(super) fn parse_changes(p: &mut Parser) -> Result<Vec<MigrationStep>, ParserError> {
    expect_word(p, "MIGRATION")?;
    p.expect_token(&Token::LParen)?;
    let mut changes = Vec::new();
    loop {
        let change = if parse_word(p, "RENAME") {
            expect_word(p, "COLUMN")?;
            let from = parse_name(p, "a column name after RENAME COLUMN")?;
            p.expect_keyword(Keyword::TO)?;
            let to = parse_name(p, "the new column name after TO")?;
            MigrationStep::Rename { from, to }
        } else if p.parse_keyword(Keyword::DROP) {
            expect_word(p, "COLUMN")?;
            MigrationStep::Drop {
                column: parse_name(p, "a column name after DROP COLUMN")?,
            }
        } else if p.parse_keyword(Keyword::ALTER) {
            expect_word(p, "COLUMN")?;
            let column = parse_name(p, "a column name after ALTER COLUMN")?;
            // `TYPE t`, or the standard's `SET DATA TYPE t`.
            let _ = p.parse_keywords(&[Keyword::SET, Keyword::DATA]);
            expect_word(p, "TYPE")?;
            MigrationStep::AlterType {
                column,
                data_type: p.parse_data_type()?.to_string(),
            }
        } else {
            return p.expected(
                "RENAME COLUMN a TO b, DROP COLUMN c or ALTER COLUMN d TYPE t in WITH MIGRATION (...)",
                p.peek_token(),
            );
        };
        changes.push(change);
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    Ok(changes)
}

/// ` WITH MIGRATION (...)`, or nothing when no change is declared.
pub(super) struct MigrationClause<'a>(pub(super) &'a [MigrationStep]);

impl fmt::Display for MigrationClause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        let changes: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, " WITH MIGRATION ({})", changes.join(", "))
    }
}

/// The declared changes as the log records them: each SQL type as DataFusion maps it to arrow.
pub(super) fn steps_of(env: &Env<'_>, changes: &[MigrationStep]) -> Result<Vec<MigrationStep>> {
    changes
        .iter()
        .map(|change| match change {
            MigrationStep::AlterType { column, data_type } => {
                let empty = DFSchema::empty();
                let expr = env
                    .session
                    .state()
                    .create_logical_expr(&format!("CAST(NULL AS {data_type})"), &empty)?;
                Ok(MigrationStep::AlterType {
                    column: column.clone(),
                    data_type: expr.get_type(&empty)?.to_string(),
                })
            }
            other => Ok(other.clone()),
        })
        .collect()
}

/// `ALTER DATASET d FINISH MIGRATION [REASON '...']`: the deprecated compatibility columns of
/// the dataset's migration go away. Refused while a consumer's latest read of the dataset in
/// the reads ledger (over the last [`KNOWN_CONSUMERS_DAYS`] days) used one of them, naming
/// the consumers and columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishMigration {
    /// The dataset.
    pub dataset: String,
    /// Why, for the history.
    pub reason: Option<String>,
}

pub(super) fn parse_finish(p: &mut Parser) -> Result<FinishMigration, ParserError> {
    p.expect_keyword(Keyword::ALTER)?;
    expect_word(p, "DATASET")?;
    let dataset = parse_name(p, "a dataset name after ALTER DATASET")?;
    expect_word(p, "FINISH")?;
    expect_word(p, "MIGRATION")?;
    let reason = parse_reason(p)?;
    Ok(FinishMigration { dataset, reason })
}

impl fmt::Display for FinishMigration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALTER DATASET {} FINISH MIGRATION{}",
            Ident(&self.dataset),
            ReasonClause(&self.reason)
        )
    }
}

impl FinishMigration {
    /// The dataset's contract must still plan once the old names are gone: a check that
    /// names one would fail every later registration and guard.
    async fn check_contract(&self, env: &Env<'_>) -> Result<()> {
        let state = env.store.refresh().await?;
        let ds = state.dataset(&self.dataset)?;
        let (Some(contract), Some(version)) = (&ds.contract, ds.unfinished_migration()) else {
            return Ok(());
        };
        let mut after = state.as_ref().clone();
        let finish = Action::FinishMigration {
            dataset: self.dataset.clone(),
            version: version.id.clone(),
        };
        after
            .apply(after.sequence + 1, &[finish])
            .map_err(|e| Error::Internal {
                message: format!("finishing a migration: {e}"),
            })?;
        if let Some(d) = after.datasets.get_mut(&self.dataset) {
            d.all_columns = d.reader_columns(&[]);
        }
        validate_contract(contract, &after, env.session)
            .await
            .map_err(|e| {
                Error::refused(Refusal::ContractUsesOldNames {
                    dataset: self.dataset.clone(),
                    contract: contract.name.clone(),
                    problem: e.to_string(),
                })
            })
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let since = Utc::now() - Duration::days(KNOWN_CONSUMERS_DAYS);
        // Buffered reads count: a consumer who just read through an old name still uses it.
        env.store.events().flush().await?;
        let events = env.store.events().read_since(Some(since)).await?.events;
        self.check_contract(env).await?;
        let done = env
            .commit(|state| {
                let ds = state.dataset(&self.dataset)?;
                let Some(version) = ds.unfinished_migration() else {
                    return Err(Error::refused(Refusal::NoMigration {
                        dataset: self.dataset.clone(),
                    }));
                };
                let compat: Vec<String> = ds
                    .compat_columns(&[version.id.as_str()])
                    .into_iter()
                    .map(|c| c.column.name)
                    .collect();
                // Each consumer's latest read of the dataset: did it use an old name?
                let mut latest: BTreeMap<String, (chrono::DateTime<Utc>, Vec<String>)> =
                    BTreeMap::new();
                for event in &events {
                    let Event::Read(read) = event else { continue };
                    if read.dataset != self.dataset {
                        continue;
                    }
                    let who = read.consumer.clone().unwrap_or_else(|| "(no consumer)".into());
                    let used: Vec<String> = read
                        .deprecated
                        .iter()
                        .filter(|c| compat.contains(c))
                        .cloned()
                        .collect();
                    let slot = latest.entry(who).or_insert((read.time, vec![]));
                    if read.time >= slot.0 {
                        *slot = (read.time, used);
                    }
                }
                let still: Vec<String> = latest
                    .iter()
                    .filter(|(_, (_, used))| !used.is_empty())
                    .map(|(who, (_, used))| format!("'{who}' reads {}", used.join(", ")))
                    .collect();
                if !still.is_empty() {
                    return Err(Error::refused(Refusal::CompatColumnsInUse {
                        dataset: self.dataset.clone(),
                        version: version.id.clone(),
                        readers: still.join("; "),
                    }));
                }
                let steps = version
                    .migration
                    .as_ref()
                    .map(|m| {
                        m.steps
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                let removed = if compat.is_empty() {
                    "no compatibility columns".to_string()
                } else {
                    format!("compatibility column(s) {}", compat.join(", "))
                };
                Ok(Some(Commit {
                    operation: "ALTER DATASET".into(),
                    dataset: Some(self.dataset.clone()),
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![Action::FinishMigration {
                        dataset: self.dataset.clone(),
                        version: version.id.clone(),
                    }],
                    message: format!(
                        "finished the migration of {} declared by '{}' ({steps}): readers no longer see the {removed}",
                        self.dataset, version.id
                    ),
                    blast_radius: None,
                }))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || "nothing to do".into()))
    }
}

/// The table the contract of a new version reads, with its columns: its files, plus (when it
/// declares a migration) the old names its readers keep as compatibility columns.
pub(super) fn with_compat_columns(
    env: &Env<'_>,
    (dataset, version): (&str, &str),
    migration: &[MigrationStep],
    columns: &[ColumnDef],
    table: Arc<dyn TableProvider>,
) -> Result<(Arc<dyn TableProvider>, Vec<ColumnDef>)> {
    let state = env.store.state();
    let ds = state.dataset(dataset)?;
    let in_progress = ds.compat_columns(&[]);
    if migration.is_empty() && in_progress.is_empty() {
        return Ok((table, columns.to_vec()));
    }
    let binding = ds.binding_columns();
    let mut read_as: Vec<(ColumnDef, Option<String>)> = columns
        .iter()
        .map(|c| (c.clone(), Some(c.name.clone())))
        .collect();
    // The old names of the migration in progress: what the version has under the new name.
    for compat in in_progress {
        if read_as.iter().any(|(c, _)| c.name == compat.column.name) {
            continue;
        }
        let source = compat
            .replaced_by
            .filter(|to| columns.iter().any(|c| &c.name == to));
        read_as.push((compat.column, source));
    }
    for step in migration {
        let (old, source) = match step {
            MigrationStep::Rename { from, to } => (from, Some(to.clone())),
            MigrationStep::Drop { column } => (column, None),
            MigrationStep::AlterType { .. } => continue,
        };
        let Some(was) = binding.iter().find(|c| &c.name == old) else {
            continue;
        };
        if read_as.iter().any(|(c, _)| &c.name == old) {
            continue;
        }
        let data_type = source
            .as_ref()
            .and_then(|s| columns.iter().find(|c| &c.name == s))
            .map_or_else(|| was.data_type.clone(), |c| c.data_type.clone());
        let column = ColumnDef {
            name: old.clone(),
            data_type,
            nullable: true,
        };
        read_as.push((column, source));
    }
    let table = mapped_table(table, &format!("{dataset}@{version}"), &read_as)?;
    Ok((table, read_as.into_iter().map(|(c, _)| c).collect()))
}
