//! `CREATE VERSION 'v2' OF orders AS SELECT ...`: a managed version, the query's result written
//! as Parquet into the store, with the dataset versions it read as its lineage.

use std::fmt;

use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Query, Statement as SqlStatement};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::migration::{MigrationClause, parse_changes, steps_of};
use super::parser::{alias_pinned_tables_query, parse_string, parse_word};
use super::scan::scan_location;
use super::version::{NewVersion, check_new_version, commit_version, parse_version_of};
use crate::catalog::{
    FileFormat, MigrationStep, VersionRef, check_steps, columns_from_schema, normalize_steps,
    validate_identifier,
};
use crate::error::{Error, Result};
use crate::guard::{Env, new_transaction_id};
use crate::resolve::resolutions_in;
use crate::sql::{Ident, Quoted, ReasonClause};

/// `CREATE VERSION 'v2' OF orders [COMMENT '...'] [WITH MIGRATION (...)] [REASON '...'] AS <query>`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateVersion {
    /// The new version's id.
    pub version: String,
    /// The dataset.
    pub dataset: String,
    /// A description, shown by `SHOW VERSIONS`.
    pub comment: Option<String>,
    /// The breaking changes it declares (`WITH MIGRATION (...)`), in order; empty for none.
    pub migration: Vec<MigrationStep>,
    /// Why, for the history.
    pub reason: Option<String>,
    /// The query whose rows become the version.
    pub query: Box<Query>,
}

pub(super) fn parse_create(p: &mut Parser) -> Result<CreateVersion, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    p.expect_keyword(Keyword::VERSION)?;
    let (version, dataset) = parse_version_of(p)?;
    let mut comment = None;
    let mut reason = None;
    let mut migration = None;
    loop {
        if comment.is_none() && p.parse_keyword(Keyword::COMMENT) {
            comment = Some(parse_string(p, "a comment in quotes after COMMENT")?);
        } else if reason.is_none() && parse_word(p, "REASON") {
            reason = Some(parse_string(p, "a reason in quotes after REASON")?);
        } else if migration.is_none() && p.parse_keyword(Keyword::WITH) {
            migration = Some(parse_changes(p)?);
        } else {
            break;
        }
    }
    p.expect_keyword(Keyword::AS)?;
    let mut query = p.parse_query()?;
    alias_pinned_tables_query(&mut query);
    Ok(CreateVersion {
        version,
        dataset,
        comment,
        migration: migration.unwrap_or_default(),
        reason,
        query,
    })
}

impl fmt::Display for CreateVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE VERSION {} OF {}",
            Quoted(&self.version),
            Ident(&self.dataset)
        )?;
        if let Some(c) = &self.comment {
            write!(f, " COMMENT {}", Quoted(c))?;
        }
        write!(
            f,
            "{}{} AS {}",
            MigrationClause(&self.migration),
            ReasonClause(&self.reason),
            self.query
        )
    }
}

impl CreateVersion {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        validate_identifier("dataset name", &self.dataset)?;
        check_new_version(env.store.state().as_ref(), &self.dataset, &self.version)?;
        let migration = steps_of(env, &self.migration)?;
        let statement = DFStatement::Statement(Box::new(SqlStatement::Query(self.query.clone())));
        let plan = env.session.state().statement_to_plan(statement).await?;
        if !migration.is_empty() {
            // Declared changes that do not describe the query's columns are refused before
            // anything is written (they are checked again, with the written files, at commit).
            let columns = columns_from_schema(plan.schema().as_arrow());
            let ds = env.store.state();
            let binding = ds.dataset(&self.dataset)?.binding_columns();
            let problems = check_steps(&binding, &columns, &normalize_steps(&migration, &columns));
            if !problems.is_empty() {
                return Err(Error::InvalidMigration {
                    dataset: self.dataset.clone(),
                    version: self.version.clone(),
                    problems,
                });
            }
        }
        // Its lineage: the version of each dataset the query reads, as this session resolves it.
        let inputs = resolutions_in(&plan, env.session.state().config_options())?
            .into_iter()
            .map(|r| VersionRef {
                dataset: r.dataset,
                version: r.version,
            })
            .collect();
        let df = env.session.execute_logical_plan(plan).await?;
        // A folder of its own per attempt: a crashed or refused attempt leaves only
        // unreferenced files (VACUUM's business), never files inside a version.
        let folder = env.store.url_of(&format!(
            "data/{}/{}/{}/",
            self.dataset,
            self.version,
            new_transaction_id()
        ))?;
        df.write_parquet(folder.as_str(), DataFrameWriteOptions::new(), None)
            .await?;
        let scanned = scan_location(env, &folder, FileFormat::Parquet).await?;
        let new = NewVersion {
            operation: "CREATE VERSION",
            statement: self.to_string(),
            dataset: &self.dataset,
            version: &self.version,
            location: folder.to_string(),
            format: FileFormat::Parquet,
            managed: true,
            comment: self.comment.clone(),
            reason: self.reason.clone(),
            inputs,
            migration,
        };
        commit_version(env, new, scanned).await
    }
}
