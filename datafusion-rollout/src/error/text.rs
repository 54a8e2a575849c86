//! Text and kinds that need nothing of [`super::Error`]: the permission refusal, the "known
//! names" hint, and how a DataFusion error of not ours is classified and shown.

use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;

use super::kind::ErrorKind;

/// "alice lacks PROMOTE ON DATASET orders; ...": the refusal names the missing privilege and
/// the statement that would give it.
pub(super) fn permission_denied(
    actor: &str,
    privilege: &str,
    scope: &str,
    not_a_user: bool,
) -> String {
    if not_a_user {
        format!(
            "permission denied: '{actor}' is not a user of this store, and a store with users \
             needs {privilege} ON {scope}; log in as a user who holds it (rollout --user NAME, \
             or a token in ROLLOUT_TOKEN)"
        )
    } else {
        format!(
            "permission denied: {actor} lacks {privilege} ON {scope}; an ADMIN can \
             GRANT {privilege} ON {scope} TO {actor}"
        )
    }
}

/// The kind of a DataFusion error that is not one of ours.
pub(super) fn datafusion_kind(e: &DataFusionError) -> ErrorKind {
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

/// DataFusion wraps errors in layers ("Error during planning: External error: ..."); users want
/// the innermost message, and our own errors carried through DataFusion verbatim.
pub(super) fn strip_datafusion_prefixes(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::External(inner) => inner.to_string(),
        DataFusionError::ObjectStore(inner) => inner.to_string(),
        root => root.to_string(),
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
