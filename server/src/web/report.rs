//! `rollout report d -o report.html`: the dataset page as one file (CSS inlined, charts as
//! SVG, the drift panel rendered in, no script), for CI artifacts and sharing; it opens from
//! disk without a server.

use datafusion_rollout::catalog::Privilege;
use datafusion_rollout::{Error, Result, RolloutContext};

use super::api::{DEFAULT_BINS, compute_drift};
use askama::Template;

use super::pages::{DatasetParts, ErrorFragment, drift_panel, render_dataset};
use super::view;

/// The report of `dataset` as `ctx`'s actor sees it (READ on the dataset needed).
pub async fn report(ctx: &RolloutContext, dataset: &str) -> Result<String> {
    let store = ctx.store();
    let state = store.refresh().await?;
    let ds = state.dataset(dataset)?;
    let actor = ctx.actor();
    state.access.check(&actor, Privilege::Read, Some(dataset))?;
    let history = store.history().await?;
    let events = store.events().read().await?.events;
    let detail = view::detail(&state, ds, &history, &events, &actor);
    // A panel that cannot be computed says why; the rest of the report stands.
    let drift = match &detail.drift_pair {
        Some((b, c)) => Some(
            match compute_drift(ctx, dataset, b, c, DEFAULT_BINS).await {
                Ok(view) => drift_panel(&view)
                    .map_err(|e| Error::Config(format!("the report failed to render: {e}")))?,
                Err(e) => ErrorFragment {
                    message: &e.message,
                }
                .render()
                .map_err(|e| Error::Config(format!("the report failed to render: {e}")))?,
            },
        ),
        None => None,
    };
    let entries = view::history(&history, dataset, None);
    let parts = DatasetParts {
        history_total: entries.len(),
        history: entries,
        detail,
    };
    render_dataset(parts, &actor, false, "", drift, true)
        .map_err(|e| Error::Config(format!("the report failed to render: {e}")))
}
