//! [`ErrorKind`]: the classes of failure that exit codes, exceptions and statuses map from,
//! and which class each [`Error`] is.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;

use super::{Error, Refusal};

/// What kind of failure an [`super::Error`] is: what the shell's exit code, Python's exception
/// class and a server's status are decided from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Malformed SQL or statement text.
    Parse,
    /// An unknown dataset, version, cohort, table or column.
    NotFound,
    /// A name that is taken.
    AlreadyExists,
    /// A bad name, location, setting, type or contract.
    InvalidInput,
    /// Not allowed in the current state of the rollout.
    Refused,
    /// Data failed a check: an `ASSERT`, a guard, a version its contract rejected.
    DataCheck,
    /// Other writers kept committing first.
    Conflict,
    /// The log or a version's data is damaged; the store may be read-only.
    Corrupt,
    /// Object storage failed.
    Io,
    /// DataFusion failed to plan or run a query.
    Query,
    /// Credentials were missing, wrong or expired.
    Unauthenticated,
    /// The principal lacks a privilege.
    PermissionDenied,
    /// A bug.
    Internal,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 13] = [
        ErrorKind::Parse,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::InvalidInput,
        ErrorKind::Refused,
        ErrorKind::DataCheck,
        ErrorKind::Conflict,
        ErrorKind::Corrupt,
        ErrorKind::Io,
        ErrorKind::Query,
        ErrorKind::Unauthenticated,
        ErrorKind::PermissionDenied,
        ErrorKind::Internal,
    ];

    /// The kind's stable name (`data_check`, `permission_denied`, ...), as a server sends it
    /// to clients (the `x-rollout-kind` gRPC metadata).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Parse => "parse",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Refused => "refused",
            ErrorKind::DataCheck => "data_check",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Io => "io",
            ErrorKind::Query => "query",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind named `name` ([`ErrorKind::name`]).
    pub fn from_name(name: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind as K;
        match self {
            Error::Parse { .. } => K::Parse,
            Error::DatasetNotFound { .. }
            | Error::VersionNotFound { .. }
            | Error::VersionDropped { .. }
            | Error::CohortNotFound { .. }
            | Error::NotificationNotFound { .. }
            | Error::MetricNotFound { .. }
            | Error::UserNotFound { .. }
            | Error::RoleNotFound { .. }
            | Error::TokenNotFound { .. } => K::NotFound,
            Error::DatasetExists { .. }
            | Error::VersionExists { .. }
            | Error::CohortExists { .. }
            | Error::NotificationExists { .. }
            | Error::ContractExists { .. }
            | Error::NameTaken { .. }
            | Error::UserExists { .. }
            | Error::RoleExists { .. } => K::AlreadyExists,
            Error::Unauthenticated { .. } => K::Unauthenticated,
            Error::PermissionDenied { .. } => K::PermissionDenied,
            Error::InvalidName { .. }
            | Error::InvalidValue { .. }
            | Error::InvalidLocation { .. }
            | Error::InvalidContract { .. }
            | Error::NotBoolean { .. }
            | Error::UnsupportedType { .. }
            | Error::BreakingSchemaChange { .. }
            | Error::InvalidMigration { .. }
            | Error::Config(_) => K::InvalidInput,
            Error::Refused(r)
                if matches!(
                    **r,
                    Refusal::Rejected { .. } | Refusal::RejectedCannotBeStable { .. }
                ) =>
            {
                K::DataCheck
            }
            Error::Refused(_)
            | Error::NoStableVersion { .. }
            | Error::NoContract { .. }
            | Error::NothingToCheck { .. }
            | Error::NoLiveRollout { .. } => K::Refused,
            Error::AssertionFailed { .. } | Error::GuardFailed { .. } => K::DataCheck,
            Error::ConcurrentModification { .. } => K::Conflict,
            Error::CorruptLogEntry { .. }
            | Error::Profile { .. }
            | Error::ReadOnly { .. }
            | Error::PinnedFileChanged { .. } => K::Corrupt,
            Error::ObjectStore(_) => K::Io,
            Error::Json(_) => K::Corrupt,
            Error::Arrow(_) | Error::Internal { .. } => K::Internal,
            Error::DataFusion(e) => datafusion_kind(e),
        }
    }
}

/// The kind of a DataFusion error that is not one of ours.
fn datafusion_kind(e: &DataFusionError) -> ErrorKind {
    match e.find_root() {
        DataFusionError::SQL(..) => ErrorKind::Parse,
        DataFusionError::SchemaError(e, _) => match e.as_ref() {
            SchemaError::FieldNotFound { .. } => ErrorKind::NotFound,
            _ => ErrorKind::InvalidInput,
        },
        // DataFusion reports an unknown table only in words.
        DataFusionError::Plan(m) if m.starts_with("table '") && m.ends_with("not found") => {
            ErrorKind::NotFound
        }
        DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => ErrorKind::Io,
        DataFusionError::Internal(_) => ErrorKind::Internal,
        _ => ErrorKind::Query,
    }
}
