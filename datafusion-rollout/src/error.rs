//! The library's error type and its bridge to [`DataFusionError`].

use datafusion::error::DataFusionError;

/// Result with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in datafusion-rollout, with enough context to act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A SQL statement could not be parsed; the message carries the position.
    #[error("{message}")]
    Parse { message: String },

    /// A dataset name was not found in the store.
    #[error("unknown dataset '{dataset}'{hint}")]
    DatasetNotFound { dataset: String, hint: String },

    /// A dataset of that name exists already.
    #[error("dataset '{dataset}' already exists")]
    DatasetExists { dataset: String },

    /// A version id was not found for a dataset.
    #[error("dataset '{dataset}' has no version '{version}'{hint}")]
    VersionNotFound {
        dataset: String,
        version: String,
        hint: String,
    },

    /// A version id is taken already for this dataset.
    #[error(
        "dataset '{dataset}' already has a version '{version}'; version ids are immutable, choose a new one"
    )]
    VersionExists { dataset: String, version: String },

    /// A cohort name was not found.
    #[error("unknown cohort '{cohort}'{hint}")]
    CohortNotFound { cohort: String, hint: String },

    /// A cohort of that name exists already.
    #[error("cohort '{cohort}' already exists")]
    CohortExists { cohort: String },

    /// A name that would become part of a path, or an identifier, is not acceptable.
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        kind: &'static str,
        name: String,
        reason: String,
    },

    /// A new version's schema breaks readers of the dataset.
    #[error("version '{version}' of '{dataset}' breaks the dataset's schema:\n  - {}", changes.join("\n  - "))]
    BreakingSchemaChange {
        dataset: String,
        version: String,
        changes: Vec<String>,
    },

    /// A statement's preconditions do not hold in the current state.
    #[error("{0}")]
    Precondition(String),

    /// A pinned file of a version no longer matches what was registered.
    #[error(
        "pinned file '{path}' of {dataset}@{version} {problem}; the version's data changed after registration, so it is not read"
    )]
    PinnedFileChanged {
        dataset: String,
        version: String,
        path: String,
        problem: String,
    },

    /// Guards (the dataset's contract, drift against stable) failed, so nothing was exposed.
    #[error("{operation} {dataset} TO '{version}' refused: {} check(s) failed:\n  - {}\n(PROMOTE ... FORCE REASON '...' exposes it anyway)", failures.len(), failures.join("\n  - "))]
    GuardFailed {
        operation: String,
        dataset: String,
        version: String,
        failures: Vec<String>,
    },

    /// A commit kept losing the race for its sequence number.
    #[error(
        "concurrent modification: gave up after {attempts} attempts to commit '{operation}' (other writers kept committing first); retry the statement"
    )]
    ConcurrentModification { operation: String, attempts: usize },

    /// A log entry that does not parse or does not apply; the store is read-only past it.
    #[error("corrupt log entry {path}: {reason}")]
    CorruptLogEntry { path: String, reason: String },

    /// The store was opened read-only because of a corrupt log entry.
    #[error(
        "the store is read-only: {reason}; it was opened up to the last good entry and cannot be changed until the log is repaired"
    )]
    ReadOnly { reason: String },

    /// A location or store URL that cannot be used.
    #[error("invalid location '{location}': {reason}")]
    InvalidLocation { location: String, reason: String },

    /// An `ASSERT` whose condition was not true.
    #[error("assertion failed: {message}")]
    AssertionFailed { message: String },

    /// A setting that does not exist or has a bad value.
    #[error("{0}")]
    Config(String),

    /// Object storage failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] datafusion::object_store::Error),

    /// Arrow reported an error building a result.
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),

    /// (De)serialization of log entries or checkpoints failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),

    /// DataFusion reported an error while planning or running a query.
    #[error("{}", strip_datafusion_prefixes(.0))]
    DataFusion(Box<DataFusionError>),
}

impl Error {
    /// Whether the error is a failed `ASSERT` (exit code 1 in batch mode) rather than an error.
    pub fn is_assertion_failure(&self) -> bool {
        match self {
            Error::AssertionFailed { .. } | Error::GuardFailed { .. } => true,
            Error::DataFusion(e) => matches!(
                e.find_root(),
                DataFusionError::External(inner)
                    if inner.downcast_ref::<Error>().is_some_and(Error::is_assertion_failure)
            ),
            _ => false,
        }
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

    pub(crate) fn precondition(message: impl Into<String>) -> Self {
        Error::Precondition(message.into())
    }
}

/// DataFusion wraps errors in layers ("Error during planning: External error: ..."); users want
/// the innermost message, and our own errors carried through DataFusion verbatim.
fn strip_datafusion_prefixes(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::External(inner) => inner.to_string(),
        DataFusionError::ObjectStore(inner) => inner.to_string(),
        root => root.to_string(),
    }
}

impl From<DataFusionError> for Error {
    fn from(e: DataFusionError) -> Self {
        // An error of ours that went through DataFusion comes back as itself.
        if let DataFusionError::External(inner) = e.find_root()
            && let Some(ours) = inner.downcast_ref::<Error>()
            && let Some(cloned) = ours.shallow_clone()
        {
            return cloned;
        }
        Error::DataFusion(Box::new(e))
    }
}

impl From<Error> for DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(inner) => *inner,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

impl Error {
    /// A copy of errors that carry only strings (the ones worth unwrapping from DataFusion).
    fn shallow_clone(&self) -> Option<Error> {
        Some(match self {
            Error::Parse { message } => Error::Parse {
                message: message.clone(),
            },
            Error::DatasetNotFound { dataset, hint } => Error::DatasetNotFound {
                dataset: dataset.clone(),
                hint: hint.clone(),
            },
            Error::VersionNotFound {
                dataset,
                version,
                hint,
            } => Error::VersionNotFound {
                dataset: dataset.clone(),
                version: version.clone(),
                hint: hint.clone(),
            },
            Error::PinnedFileChanged {
                dataset,
                version,
                path,
                problem,
            } => Error::PinnedFileChanged {
                dataset: dataset.clone(),
                version: version.clone(),
                path: path.clone(),
                problem: problem.clone(),
            },
            Error::Precondition(m) => Error::Precondition(m.clone()),
            Error::AssertionFailed { message } => Error::AssertionFailed {
                message: message.clone(),
            },
            Error::Config(m) => Error::Config(m.clone()),
            Error::GuardFailed {
                operation,
                dataset,
                version,
                failures,
            } => Error::GuardFailed {
                operation: operation.clone(),
                dataset: dataset.clone(),
                version: version.clone(),
                failures: failures.clone(),
            },
            _ => return None,
        })
    }
}

/// "; did you mean 'x'?" or "; known: a, b" — a short hint listing what exists.
pub(crate) fn hint_known<'a>(what: &str, known: impl IntoIterator<Item = &'a String>) -> String {
    let known: Vec<&String> = known.into_iter().collect();
    if known.is_empty() {
        format!(" (there are no {what} yet)")
    } else {
        let shown: Vec<String> = known.iter().take(10).map(|k| format!("'{k}'")).collect();
        let more = if known.len() > 10 { ", ..." } else { "" };
        format!(" (known {what}: {}{more})", shown.join(", "))
    }
}
