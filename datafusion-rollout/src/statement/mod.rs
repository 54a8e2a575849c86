//! Statements: our SQL forms as types, each with a canonical `Display` and an executor.
//!
//! [`parse_sql`] wraps DataFusion's `DFParser`: it peeks at the first tokens of each statement
//! and parses our forms (`PROMOTE`, `ROLLBACK <dataset>`, `SHOW VERSIONS OF`, ...) itself,
//! handing everything else to DataFusion unchanged. `Display` prints canonical SQL that parses
//! back to the same statement. Each mutating statement compiles, against the current state, to
//! the actions of one log entry ([`crate::store::LogEntry`]).

mod advance;
mod approvals;
mod assert;
mod authorize;
mod check;
mod cohort;
mod combined;
mod contract;
mod create_version;
mod dataset;
mod drop_version;
mod explain_change;
mod exposure;
mod grants;
mod lineage;
mod migration;
mod notification;
mod outcome;
mod parser;
mod principals;
mod promote;
mod report;
mod retention;
mod rollback;
mod scan;
mod secret;
mod settings;
mod show;
mod split;
mod stages;
mod table;
mod tokens;
mod vacuum;
mod verify;
mod version;

use std::fmt;

use datafusion::sql::parser::Statement as DFStatement;

use crate::error::{Error, Result};
use crate::guard::Env;

pub use advance::Advance;
pub(crate) use approvals::gate as gate_for_approval;
pub use approvals::{Approve, PENDING_LIFETIME_HOURS, SetApprovals, ShowPending};
pub use assert::Assert;
pub use check::{Check, CheckTarget};
pub use cohort::{AlterCohort, CohortChange, CreateCohort, ShowCohorts};
pub use contract::{CreateContract, ShowContract};
pub use create_version::CreateVersion;
pub use dataset::{CreateDataset, ShowDatasets};
pub use drop_version::DropVersion;
pub use explain_change::{ExplainChange, KNOWN_CONSUMERS_DAYS};
pub use exposure::ShowExposure;
pub use grants::{ChangeGrants, Granted, ShowGrants};
pub use lineage::ShowLineage;
pub use migration::FinishMigration;
pub use notification::{CreateNotification, DropNotification, ShowNotifications};
pub use outcome::Outcome;
pub use parser::{parse_sql, parse_sql_with_dialect, parse_statement};
pub use principals::{AlterUser, CreateUser, DropUser, MIN_PASSWORD_LEN, RoleStatement};
pub use promote::Promote;
pub use report::ReportMetric;
pub use retention::SetRetention;
pub use rollback::Rollback;
pub use secret::Secret;
pub use settings::{RolloutSetting, SettingAction};
pub use show::{ShowHistory, ShowRollout};
pub use split::{StatementText, complete_statements, is_complete, split_statements};
pub use tokens::{CreateToken, DEFAULT_TOKEN_LIFETIME, DropToken, ShowPrincipals};
pub use vacuum::Vacuum;
pub use verify::VerifyVersion;
pub use version::{RegisterVersion, ShowVersions};

/// One parsed statement.
// Statements are parsed one at a time and never stored in bulk; boxing them buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// Anything DataFusion itself handles (queries, DDL, `SET datafusion.*`, `EXPLAIN`, ...).
    DataFusion(Box<DFStatement>),
    /// `CREATE DATASET`: a new dataset with no versions.
    CreateDataset(CreateDataset),
    /// `REGISTER VERSION`: a version from files that exist already.
    RegisterVersion(RegisterVersion),
    /// `CREATE VERSION ... AS <query>`: a version written into the store from a query.
    CreateVersion(CreateVersion),
    /// `SHOW DATASETS`.
    ShowDatasets(ShowDatasets),
    /// `SHOW VERSIONS OF`.
    ShowVersions(ShowVersions),
    /// `CREATE COHORT`: a named set of consumers.
    CreateCohort(CreateCohort),
    /// `ALTER COHORT ... ADD|DROP MEMBERS`, `DROP COHORT`.
    AlterCohort(AlterCohort),
    /// `SHOW COHORTS`.
    ShowCohorts(ShowCohorts),
    /// `EXPLAIN PROMOTE|ROLLBACK|ADVANCE ...`: what the change would do; nothing committed.
    ExplainChange(ExplainChange),
    /// `DROP VERSION`: a version is never read or exposed again; VACUUM reclaims its data.
    DropVersion(DropVersion),
    /// `SHOW LINEAGE`: what a version was derived from, and what was derived from it.
    ShowLineage(ShowLineage),
    /// `ALTER DATASET ... SET RETENTION`: which versions VACUUM drops.
    SetRetention(SetRetention),
    /// `ALTER DATASET ... FINISH MIGRATION`: the compatibility columns of a migration go away.
    FinishMigration(FinishMigration),
    /// `PROMOTE`: expose a version to some consumers, or make it stable.
    Promote(Promote),
    /// `ROLLBACK`: abort a rollout, or go back to an earlier stable version.
    Rollback(Rollback),
    /// `SHOW ROLLOUT`.
    ShowRollout(ShowRollout),
    /// `SHOW HISTORY`: the commit log.
    ShowHistory(ShowHistory),
    /// `SET` / `SHOW` / `RESET` of `rollout.consumer` and `rollout.cohort`.
    Setting(RolloutSetting),
    /// `ASSERT`: fail unless a condition holds.
    Assert(Assert),
    /// `CREATE [OR REPLACE] CONTRACT`: the checks a dataset's versions must pass.
    CreateContract(CreateContract),
    /// `SHOW CONTRACT`.
    ShowContract(ShowContract),
    /// `CHECK`: run a contract's checks, changing nothing (unless a live guard fails).
    Check(Check),
    /// `ADVANCE`: move a staged rollout to its next stage.
    Advance(Advance),
    /// `VACUUM`: remove unreferenced data files, compact and expire old events.
    Vacuum(Vacuum),
    /// `VERIFY VERSION`: compare a version's files with what was registered.
    VerifyVersion(VerifyVersion),
    /// `REPORT METRIC`: one observation of an outcome metric.
    ReportMetric(ReportMetric),
    /// `SHOW EXPOSURE`: who read which version.
    ShowExposure(ShowExposure),
    /// `CREATE NOTIFICATION`: a webhook.
    CreateNotification(CreateNotification),
    /// `DROP NOTIFICATION`.
    DropNotification(DropNotification),
    /// `SHOW NOTIFICATIONS`.
    ShowNotifications(ShowNotifications),
    /// `CREATE USER`.
    CreateUser(CreateUser),
    /// `ALTER USER ... PASSWORD`.
    AlterUser(AlterUser),
    /// `DROP USER`.
    DropUser(DropUser),
    /// `CREATE ROLE` / `DROP ROLE`.
    Role(RoleStatement),
    /// `CREATE TOKEN FOR`: an API token, shown once.
    CreateToken(CreateToken),
    /// `DROP TOKEN`.
    DropToken(DropToken),
    /// `SHOW USERS` / `SHOW TOKENS`.
    ShowPrincipals(ShowPrincipals),
    /// `GRANT` / `REVOKE`.
    ChangeGrants(ChangeGrants),
    /// `SHOW GRANTS`.
    ShowGrants(ShowGrants),
    /// `ALTER DATASET ... SET APPROVALS`: the two-person rule.
    SetApprovals(SetApprovals),
    /// `APPROVE`: approve a pending change.
    Approve(Approve),
    /// `SHOW PENDING`.
    ShowPending(ShowPending),
}

impl Statement {
    /// Whether running the statement commits to the log.
    pub fn is_mutating(&self) -> bool {
        matches!(
            self,
            Statement::CreateDataset(_)
                | Statement::RegisterVersion(_)
                | Statement::CreateVersion(_)
                | Statement::CreateCohort(_)
                | Statement::AlterCohort(_)
                | Statement::DropVersion(_)
                | Statement::SetRetention(_)
                | Statement::FinishMigration(_)
                | Statement::Promote(_)
                | Statement::Rollback(_)
                | Statement::CreateContract(_)
                | Statement::Advance(_)
                | Statement::CreateNotification(_)
                | Statement::DropNotification(_)
                | Statement::CreateUser(_)
                | Statement::AlterUser(_)
                | Statement::DropUser(_)
                | Statement::Role(_)
                | Statement::CreateToken(_)
                | Statement::DropToken(_)
                | Statement::ChangeGrants(_)
                | Statement::SetApprovals(_)
                | Statement::Approve(_)
        ) || matches!(self, Statement::Vacuum(v) if !v.dry_run)
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::DataFusion(s) => write!(f, "{s}"),
            Statement::CreateDataset(s) => write!(f, "{s}"),
            Statement::RegisterVersion(s) => write!(f, "{s}"),
            Statement::CreateVersion(s) => write!(f, "{s}"),
            Statement::ShowDatasets(s) => write!(f, "{s}"),
            Statement::ShowVersions(s) => write!(f, "{s}"),
            Statement::CreateCohort(s) => write!(f, "{s}"),
            Statement::AlterCohort(s) => write!(f, "{s}"),
            Statement::ShowCohorts(s) => write!(f, "{s}"),
            Statement::ExplainChange(s) => write!(f, "{s}"),
            Statement::DropVersion(s) => write!(f, "{s}"),
            Statement::ShowLineage(s) => write!(f, "{s}"),
            Statement::SetRetention(s) => write!(f, "{s}"),
            Statement::FinishMigration(s) => write!(f, "{s}"),
            Statement::Promote(s) => write!(f, "{s}"),
            Statement::Rollback(s) => write!(f, "{s}"),
            Statement::ShowRollout(s) => write!(f, "{s}"),
            Statement::ShowHistory(s) => write!(f, "{s}"),
            Statement::Setting(s) => write!(f, "{s}"),
            Statement::Assert(s) => write!(f, "{s}"),
            Statement::CreateContract(s) => write!(f, "{s}"),
            Statement::ShowContract(s) => write!(f, "{s}"),
            Statement::Check(s) => write!(f, "{s}"),
            Statement::Advance(s) => write!(f, "{s}"),
            Statement::Vacuum(s) => write!(f, "{s}"),
            Statement::VerifyVersion(s) => write!(f, "{s}"),
            Statement::ReportMetric(s) => write!(f, "{s}"),
            Statement::ShowExposure(s) => write!(f, "{s}"),
            Statement::CreateNotification(s) => write!(f, "{s}"),
            Statement::DropNotification(s) => write!(f, "{s}"),
            Statement::ShowNotifications(s) => write!(f, "{s}"),
            Statement::CreateUser(s) => write!(f, "{s}"),
            Statement::AlterUser(s) => write!(f, "{s}"),
            Statement::DropUser(s) => write!(f, "{s}"),
            Statement::Role(s) => write!(f, "{s}"),
            Statement::CreateToken(s) => write!(f, "{s}"),
            Statement::DropToken(s) => write!(f, "{s}"),
            Statement::ShowPrincipals(s) => write!(f, "{s}"),
            Statement::ChangeGrants(s) => write!(f, "{s}"),
            Statement::ShowGrants(s) => write!(f, "{s}"),
            Statement::SetApprovals(s) => write!(f, "{s}"),
            Statement::Approve(s) => write!(f, "{s}"),
            Statement::ShowPending(s) => write!(f, "{s}"),
        }
    }
}

impl Statement {
    /// Runs one of our statements in `env`. DataFusion's own statements are the session's
    /// business (`RolloutContext::execute`); given one, this refuses.
    pub(crate) async fn execute_ours(&self, env: &Env<'_>) -> Result<Outcome> {
        match self {
            Statement::DataFusion(s) => {
                Err(Error::internal(format!("not one of our statements: {s}")))
            }
            Statement::CreateDataset(s) => s.execute(env).await,
            Statement::RegisterVersion(s) => s.execute(env).await,
            Statement::CreateVersion(s) => s.execute(env).await,
            Statement::ShowDatasets(s) => s.execute(env).await,
            Statement::ShowVersions(s) => s.execute(env).await,
            Statement::CreateCohort(s) => s.execute(env).await,
            Statement::AlterCohort(s) => s.execute(env).await,
            Statement::ShowCohorts(s) => s.execute(env).await,
            Statement::ExplainChange(s) => s.execute(env).await,
            Statement::DropVersion(s) => s.execute(env).await,
            Statement::ShowLineage(s) => s.execute(env).await,
            Statement::SetRetention(s) => s.execute(env).await,
            Statement::FinishMigration(s) => s.execute(env).await,
            Statement::Promote(s) => s.execute(env).await,
            Statement::Rollback(s) => s.execute(env).await,
            Statement::ShowRollout(s) => s.execute(env).await,
            Statement::ShowHistory(s) => s.execute(env).await,
            Statement::Setting(s) => s.execute(env).await,
            Statement::Assert(s) => s.execute(env).await,
            Statement::CreateContract(s) => s.execute(env).await,
            Statement::ShowContract(s) => s.execute(env).await,
            Statement::Check(s) => s.execute(env).await,
            Statement::Advance(s) => s.execute(env).await,
            Statement::Vacuum(s) => s.execute(env).await,
            Statement::VerifyVersion(s) => s.execute(env).await,
            Statement::ReportMetric(s) => s.execute(env).await,
            Statement::ShowExposure(s) => s.execute(env).await,
            Statement::CreateNotification(s) => s.execute(env).await,
            Statement::DropNotification(s) => s.execute(env).await,
            Statement::ShowNotifications(s) => s.execute(env).await,
            Statement::CreateUser(s) => s.execute(env).await,
            Statement::AlterUser(s) => s.execute(env).await,
            Statement::DropUser(s) => s.execute(env).await,
            Statement::Role(s) => s.execute(env).await,
            Statement::CreateToken(s) => s.execute(env).await,
            Statement::DropToken(s) => s.execute(env).await,
            Statement::ShowPrincipals(s) => s.execute(env).await,
            Statement::ChangeGrants(s) => s.execute(env).await,
            Statement::ShowGrants(s) => s.execute(env).await,
            Statement::SetApprovals(s) => s.execute(env).await,
            Statement::Approve(s) => s.execute(env).await,
            Statement::ShowPending(s) => s.execute(env).await,
        }
    }
}
