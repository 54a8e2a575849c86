//! [`Env`]: the narrow context statements and guards run in.

use std::sync::Arc;

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::ObjectStore;
use datafusion::object_store::path::Path;
use datafusion::prelude::SessionContext;
use url::Url;

use crate::catalog::{Action, Need, State};
use crate::error::{Error, Result};
use crate::store::{Commit, CommitOutcome, Store};

/// What a statement may use: the DataFusion session (to plan and run queries), the store
/// (to read state and commit), who acts, and the privileges the statement needs.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub session: &'a SessionContext,
    pub store: &'a Arc<Store>,
    pub actor: &'a str,
    /// Checked again against the state each commit is planned on, so that a grant revoked
    /// while the statement ran still stops it.
    pub needs: &'a [Need],
    /// Actions every commit of the statement carries besides its own (closing the pending
    /// request an approved statement fulfils).
    pub also: &'a [Action],
}

impl Env<'_> {
    /// Commits what `plan` computes, as the environment's actor (see [`Store::commit`]).
    pub async fn commit(
        &self,
        mut plan: impl FnMut(&State) -> Result<Option<Commit>>,
    ) -> Result<CommitOutcome> {
        let (actor, needs, also) = (self.actor, self.needs, self.also);
        self.commit_as(actor, move |state: &State| {
            state.access.check_all(actor, needs)?;
            let mut commit = plan(state)?;
            if let Some(c) = commit.as_mut() {
                c.actions.extend(also.iter().cloned());
            }
            Ok(commit)
        })
        .await
    }

    /// The session's object store holding `url`, the store's own URL, and the path of `url`
    /// in it. Errors name the location as the user wrote it (`shown`).
    pub fn locate(
        &self,
        url: &Url,
        shown: &str,
    ) -> Result<(Arc<dyn ObjectStore>, ObjectStoreUrl, Path)> {
        let store_url = ObjectStoreUrl::parse(format!(
            "{}://{}",
            url.scheme(),
            &url[url::Position::BeforeHost..url::Position::AfterPort]
        ))?;
        let store = self.session.runtime_env().object_store(&store_url)?;
        let path = Path::from_url_path(url.path()).map_err(|e| Error::InvalidLocation {
            location: shown.to_string(),
            reason: e.to_string(),
        })?;
        Ok((store, store_url, path))
    }

    /// [`Self::commit`] recorded under another actor, unchecked: `guard` for automatic
    /// rollbacks and `controller` for stages, which act on the authority of the AUTO policy or
    /// contract that a privileged principal set.
    pub async fn commit_as(
        &self,
        actor: &str,
        plan: impl FnMut(&State) -> Result<Option<Commit>>,
    ) -> Result<CommitOutcome> {
        let outcome = self
            .store
            .commit(actor, &new_transaction_id(), plan)
            .await?;
        if let CommitOutcome::Committed(done) = &outcome {
            crate::signals::notify::after_commit(self.store, &done.entry, &done.state);
        }
        Ok(outcome)
    }
}

/// A fresh id for a transaction (a commit, or a managed write and its commit).
pub fn new_transaction_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
