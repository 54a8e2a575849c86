//! Text that needs nothing of [`super::Error`]: the permission refusal, the "known names"
//! hint, and how a DataFusion error not of ours is shown.

use datafusion::error::DataFusionError;

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
