//! One commit out of several planned in turn: `PROMOTE a TO .., b TO ..`, `ROLLBACK a, b`,
//! `ADVANCE` of a release of several datasets; and the commit of one rollout change.

use crate::catalog::{Change, State};
use crate::error::{Error, Result};
use crate::store::Commit;

/// Plans each of `items` against the state the earlier ones leave and folds the commits into
/// the first one (actions appended, messages joined by ` | `); any error refuses all. `None`
/// when none changes anything.
pub(super) fn in_turn<T>(
    state: &State,
    items: impl IntoIterator<Item = T>,
    mut plan: impl FnMut(&State, T) -> Result<Option<Commit>>,
) -> Result<Option<Commit>> {
    let mut working = state.clone();
    let mut all: Option<Commit> = None;
    for item in items {
        let Some(commit) = plan(&working, item)? else {
            continue;
        };
        working
            .apply(working.sequence + 1, &commit.actions)
            .map_err(Error::internal)?;
        match &mut all {
            None => all = Some(commit),
            Some(all) => {
                all.actions.extend(commit.actions);
                all.message.push_str(" | ");
                all.message.push_str(&commit.message);
            }
        }
    }
    Ok(all)
}

/// The commit recording `change` of `dataset`'s rollout, made by `statement`.
pub(super) fn change_commit(
    operation: &str,
    dataset: &str,
    statement: &impl std::fmt::Display,
    reason: Option<String>,
    change: &Change,
) -> Commit {
    Commit {
        operation: operation.into(),
        dataset: Some(dataset.to_string()),
        statement: statement.to_string(),
        reason,
        checks: vec![],
        actions: change.actions(),
        message: change.message(),
        blast_radius: None,
    }
}
