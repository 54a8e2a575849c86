//! [`ErrorKind`]: the classes of failure that exit codes, exceptions and statuses map from.

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
