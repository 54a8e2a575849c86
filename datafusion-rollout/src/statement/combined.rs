//! One commit out of several planned in turn: `PROMOTE a TO .., b TO ..`, `ROLLBACK a, b`.

use crate::catalog::State;
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
