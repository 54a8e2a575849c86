//! [`Env`]: the narrow context statements and guards run in.

use std::sync::Arc;

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::ObjectStore;
use datafusion::object_store::path::Path;
use datafusion::prelude::SessionContext;
use url::Url;

use crate::catalog::State;
use crate::error::{Error, Result};
use crate::store::{Commit, CommitOutcome, Store};

/// What a statement may use: the DataFusion session (to plan and run queries), the store
/// (to read state and commit), and who acts.
#[derive(Clone, Copy)]
pub struct Env<'a> {
    pub session: &'a SessionContext,
    pub store: &'a Arc<Store>,
    pub actor: &'a str,
}

impl Env<'_> {
    /// Commits what `plan` computes, as the environment's actor (see [`Store::commit`]).
    pub async fn commit(
        &self,
        plan: impl FnMut(&State) -> Result<Option<Commit>>,
    ) -> Result<CommitOutcome> {
        self.commit_as(self.actor, plan).await
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

    /// [`Self::commit`] recorded under another actor (`guard` for automatic rollbacks).
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
            crate::notify::after_commit(self.store, &done.entry, &done.state);
        }
        Ok(outcome)
    }
}

/// A fresh id for a transaction (a commit, or a managed write and its commit).
pub fn new_transaction_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
