//! The library's error type and its bridge to [`DataFusionError`].

use std::sync::Arc;

use datafusion::error::DataFusionError;

mod convert;
mod kind;
mod refusal;
mod text;

pub(crate) use convert::message_of;

pub use kind::ErrorKind;
pub use refusal::Refusal;
pub(crate) use text::hint_known;
use text::{permission_denied, strip_datafusion_prefixes};

/// Result with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in datafusion-rollout, with enough context to act on.
/// Cheap to clone, so that an error of ours that travelled through DataFusion comes back whole.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A SQL statement could not be parsed; the message carries the position.
    #[error("{message}")]
    Parse {
        /// The parser's message.
        message: String,
    },

    /// A dataset name was not found in the store.
    #[error("unknown dataset '{dataset}'{hint}")]
    DatasetNotFound {
        /// The name asked for.
        dataset: String,
        /// The known names appended to the message (or that there are none yet).
        hint: String,
    },

    /// A dataset of that name exists already.
    #[error("dataset '{dataset}' already exists")]
    DatasetExists {
        /// The name.
        dataset: String,
    },

    /// A version id was not found for a dataset.
    #[error("dataset '{dataset}' has no version '{version}'{hint}")]
    VersionNotFound {
        /// The dataset.
        dataset: String,
        /// The version id asked for.
        version: String,
        /// The known names appended to the message (or that there are none yet).
        hint: String,
    },

    /// A version was dropped: it is never read or exposed again.
    #[error(
        "version '{version}' of '{dataset}' was dropped (DROP VERSION; SHOW HISTORY OF {dataset} says when and why); it cannot be read or exposed"
    )]
    VersionDropped {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
    },

    /// A version id is taken already for this dataset.
    #[error(
        "dataset '{dataset}' already has a version '{version}'; version ids are immutable, choose a new one"
    )]
    VersionExists {
        /// The dataset.
        dataset: String,
        /// The version id.
        version: String,
    },

    /// A cohort name was not found.
    #[error("unknown cohort '{cohort}'{hint}")]
    CohortNotFound {
        /// The name asked for.
        cohort: String,
        /// The known names appended to the message (or that there are none yet).
        hint: String,
    },

    /// A notification name was not found.
    #[error("unknown notification '{name}'{hint}")]
    NotificationNotFound {
        /// The name asked for.
        name: String,
        /// The known names appended to the message (or that there are none yet).
        hint: String,
    },

    /// A metric reported for a dataset whose contract observes no metric of that name.
    #[error(
        "dataset '{dataset}' observes no metric '{metric}'{hint}; a dataset observes the metrics its \
         contract judges with EXPECT metric_change('{metric}') ..."
    )]
    MetricNotFound {
        /// The dataset.
        dataset: String,
        /// The metric reported.
        metric: String,
        /// The known names appended to the message (or that there are none yet).
        hint: String,
    },

    /// A notification of that name exists already.
    #[error("notification '{name}' already exists")]
    NotificationExists {
        /// The name.
        name: String,
    },

    /// A user name was not found.
    #[error("unknown user '{user}'{hint}")]
    UserNotFound {
        /// The name.
        user: String,
        /// A suggestion, or empty.
        hint: String,
    },

    /// A role name was not found.
    #[error("unknown role '{role}'{hint}")]
    RoleNotFound {
        /// The name.
        role: String,
        /// A suggestion, or empty.
        hint: String,
    },

    /// An API token id was not found.
    #[error("unknown token '{id}'; SHOW TOKENS lists them")]
    TokenNotFound {
        /// The token's id.
        id: String,
    },

    /// A user of that name exists already.
    #[error("user '{user}' already exists")]
    UserExists {
        /// The name.
        user: String,
    },

    /// A role of that name exists already.
    #[error("role '{role}' already exists")]
    RoleExists {
        /// The name.
        role: String,
    },

    /// Credentials were missing, wrong or expired. Says nothing of which users exist.
    #[error("not logged in: {message}")]
    Unauthenticated {
        /// What was wrong, without naming users.
        message: String,
    },

    /// The actor lacks a privilege the statement needs; nothing was changed.
    #[error("{}", permission_denied(actor, privilege, scope, *not_a_user))]
    PermissionDenied {
        /// Who tried.
        actor: String,
        /// The missing privilege (`PROMOTE`).
        privilege: String,
        /// Where it is missing (`DATASET orders`, `ALL DATASETS`).
        scope: String,
        /// The actor is not a user of a store that has users.
        not_a_user: bool,
    },

    /// A cohort of that name exists already.
    #[error("cohort '{cohort}' already exists")]
    CohortExists {
        /// The name.
        cohort: String,
    },

    /// A name that would become part of a path, or an identifier, is not acceptable.
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        /// What the name is for (`dataset name`, `version id`, `consumer id`, ...).
        kind: &'static str,
        /// The name given.
        name: String,
        /// Why it is not acceptable.
        reason: String,
    },

    /// A value given to a statement is out of its domain (a metric that is not a finite
    /// number, a zero interval, ...).
    #[error("invalid {what} {value}: {reason}")]
    InvalidValue {
        /// What the value is for.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it is not acceptable.
        reason: String,
    },

    /// A new version's schema breaks readers of the dataset.
    #[error("version '{version}' of '{dataset}' breaks the dataset's schema:\n  - {}\nto roll a breaking change out in stages, declare it: REGISTER VERSION ... WITH MIGRATION (RENAME COLUMN a TO b, DROP COLUMN c, ALTER COLUMN d TYPE t)", changes.join("\n  - "))]
    BreakingSchemaChange {
        /// The dataset.
        dataset: String,
        /// The new version.
        version: String,
        /// One line per breaking change (a dropped column, a changed type, ...).
        changes: Vec<String>,
    },

    /// `WITH MIGRATION` steps that do not describe the new version's files.
    #[error("WITH MIGRATION of version '{version}' of '{dataset}' does not match:\n  - {}", problems.join("\n  - "))]
    InvalidMigration {
        /// The dataset.
        dataset: String,
        /// The new version.
        version: String,
        /// One line per problem.
        problems: Vec<String>,
    },

    /// A rollout change that the dataset's current state does not allow.
    #[error("{0}")]
    Refused(Box<Refusal>),

    /// A dataset is read with no stable version to resolve to.
    #[error(
        "dataset '{dataset}' has no stable version yet: PROMOTE {dataset} TO '<version>' first, \
         or read one version with {dataset} VERSION AS OF '<version>'"
    )]
    NoStableVersion {
        /// The dataset.
        dataset: String,
    },

    /// A statement needs the dataset's contract and there is none.
    #[error(
        "{dataset} has no contract, so there is nothing to check; CREATE CONTRACT name FOR {dataset} (...) attaches one"
    )]
    NoContract {
        /// The dataset.
        dataset: String,
    },

    /// `CREATE CONTRACT` on a dataset that has one, without `OR REPLACE`.
    #[error("{dataset} already has contract '{contract}'; CREATE OR REPLACE CONTRACT replaces it")]
    ContractExists {
        /// The dataset.
        dataset: String,
        /// The name of its contract.
        contract: String,
    },

    /// `CHECK d` on a dataset with neither candidate nor stable version.
    #[error(
        "{dataset} has no candidate or stable version; CHECK {dataset} VERSION '<v>' checks a registered one"
    )]
    NothingToCheck {
        /// The dataset.
        dataset: String,
    },

    /// `CHECK ROLLOUT d` with no candidate live.
    #[error("{dataset} has no live rollout to check")]
    NoLiveRollout {
        /// The dataset.
        dataset: String,
    },

    /// A dataset name that is already a table of the session.
    #[error("'{name}' is already a table in this session; choose another dataset name")]
    NameTaken {
        /// The name.
        name: String,
    },

    /// A contract that cannot be compiled or run against its dataset.
    #[error("{message}")]
    InvalidContract {
        /// What is wrong, naming the item.
        message: String,
    },

    /// `ASSERT` of something that is not a boolean.
    #[error("ASSERT needs a boolean expression, got {data_type}: {condition}")]
    NotBoolean {
        /// The type the expression has.
        data_type: String,
        /// The expression, as SQL.
        condition: String,
    },

    /// A stored column type this build cannot read back.
    #[error("column '{column}' has a type the log cannot restore ({data_type}): {reason}")]
    UnsupportedType {
        /// The column.
        column: String,
        /// Its type as stored.
        data_type: String,
        /// Why it cannot be read back.
        reason: String,
    },

    /// Something that should not happen did; the message says what.
    #[error("internal error: {message}")]
    Internal {
        /// What happened.
        message: String,
    },

    /// A pinned file of a version no longer matches what was registered.
    #[error(
        "pinned file '{path}' of {dataset}@{version} {problem}; the version's data changed after registration, so it is not read"
    )]
    PinnedFileChanged {
        /// The dataset.
        dataset: String,
        /// The version.
        version: String,
        /// The file's URL.
        path: String,
        /// What changed (`is missing`, `changed size (...)`, `was replaced (...)`).
        problem: String,
    },

    /// Guards (the dataset's contract, drift against stable) failed, so nothing was exposed.
    #[error("{operation} {dataset} TO '{version}' refused: {} check(s) failed:\n  - {}\n(PROMOTE ... FORCE REASON '...' exposes it anyway)", failures.len(), failures.join("\n  - "))]
    GuardFailed {
        /// The statement refused (`PROMOTE`, `ADVANCE`).
        operation: String,
        /// The dataset.
        dataset: String,
        /// The version that would have been exposed.
        version: String,
        /// One line per failing check.
        failures: Vec<String>,
    },

    /// A commit kept losing the race for its sequence number.
    #[error(
        "concurrent modification: gave up after {attempts} attempts to commit '{operation}' (other writers kept committing first); retry the statement"
    )]
    ConcurrentModification {
        /// The statement that could not commit (`PROMOTE`, ...).
        operation: String,
        /// How many times it tried.
        attempts: usize,
    },

    /// A log entry that does not parse or does not apply; the store is read-only past it.
    #[error("corrupt log entry {path}: {reason}")]
    CorruptLogEntry {
        /// The entry's path in the store.
        path: String,
        /// Why it does not parse or apply.
        reason: String,
    },

    /// A stored version profile that cannot be written or read, or does not hold what it says.
    #[error("profile {path}: {reason}")]
    Profile {
        /// The profile's path in the store.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The store was opened read-only because of a corrupt log entry.
    #[error(
        "the store is read-only: {reason}; it was opened up to the last good entry and cannot be changed until the log is repaired"
    )]
    ReadOnly {
        /// The corrupt entry and what is wrong with it.
        reason: String,
    },

    /// A location or store URL that cannot be used.
    #[error("invalid location '{location}': {reason}")]
    InvalidLocation {
        /// The location given.
        location: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// An `ASSERT` whose condition was not true.
    #[error("assertion failed: {message}")]
    AssertionFailed {
        /// The `ASSERT`'s message, or its condition when it has none.
        message: String,
    },

    /// A setting that does not exist or has a bad value.
    #[error("{0}")]
    Config(String),

    /// Object storage failed.
    #[error("object store: {0}")]
    ObjectStore(#[source] Arc<datafusion::object_store::Error>),

    /// Arrow reported an error building a result.
    #[error("arrow: {0}")]
    Arrow(#[source] Arc<datafusion::arrow::error::ArrowError>),

    /// (De)serialization of log entries or checkpoints failed.
    #[error("json: {0}")]
    Json(#[source] Arc<serde_json::Error>),

    /// DataFusion reported an error while planning or running a query.
    #[error("{}", strip_datafusion_prefixes(.0))]
    DataFusion(#[source] Arc<DataFusionError>),
}

impl Error {
    /// Whether the error says the data failed a check (exit code 1 in batch mode) rather than
    /// that the statement was wrong.
    pub fn is_data_check(&self) -> bool {
        self.kind() == ErrorKind::DataCheck
    }

    /// The message for a person: like `Display`, with DataFusion's SQL parser errors
    /// (`SQL error: ParserError("... at Line: 1, Column: 5")`) unwrapped to
    /// `... at line 1, column 5`. `Display` keeps DataFusion's own wording, so that ordinary
    /// SQL reports exactly what plain DataFusion reports.
    pub fn user_message(&self) -> String {
        let m = self.to_string();
        let m = ["SQL error: ParserError(\"", "SQL error: TokenizerError(\""]
            .iter()
            .find_map(|p| m.strip_prefix(p))
            .map(|rest| rest.strip_suffix("\")").unwrap_or(rest).to_string())
            .unwrap_or(m);
        m.replace(" at Line: ", " at line ")
            .replace(", Column: ", ", column ")
    }

    pub(crate) fn refused(refusal: Refusal) -> Self {
        Error::Refused(Box::new(refusal))
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests;
