//! How a session is opened: its options, the user they log in as, and who it acts as.

use std::fmt;
use std::sync::Arc;

use datafusion::execution::SessionState;
use datafusion::prelude::SessionConfig;

use crate::error::{Error, Result};
use crate::resolve::Consistency;
use crate::statement::Secret;
use crate::store::Store;
use crate::store::StoreOptions;

/// How to open a [`RolloutContext`](crate::RolloutContext).
#[derive(Debug, Clone)]
pub struct RolloutOptions {
    /// How the store is opened (checkpoints, commit retries, event flushes).
    pub store: StoreOptions,
    /// Who is recorded as making changes; defaults to the consumer, then the OS user.
    pub actor: Option<String>,
    /// The initial `rollout.consumer`.
    pub consumer: Option<String>,
    /// The initial `rollout.cohort`.
    pub cohort: Option<String>,
    /// DataFusion settings to start from (information_schema is always enabled).
    pub config: Option<SessionConfig>,
    /// The initial `rollout.record_reads`: record each read through a dataset's name in the
    /// reads ledger (on by default).
    pub record_reads: bool,
    /// The initial `rollout.consistency`: `Statement` (each statement resolves afresh, the
    /// default) or `Session` (each dataset keeps the version it first resolved to, for batch
    /// jobs that must not mix versions while a rollout advances under them).
    pub consistency: Consistency,
    /// Who logs in, with [`Self::password`], on a store with users (on an open store: the
    /// actor's name).
    pub user: Option<String>,
    /// The user's password.
    pub password: Option<Secret>,
    /// An API token (`rollout_<id>_<secret>`) to log in with instead of a password.
    pub token: Option<Secret>,
    /// The session runs on a server for a remote principal: DataFusion's own DDL, DML and
    /// `SET` (`CREATE EXTERNAL TABLE`, `COPY ... TO`, `SET datafusion.*`), which would act on
    /// the server's machine, need ADMIN on all datasets.
    pub server_side: bool,
    /// Changes the session's DataFusion state before the session is made from it: how
    /// plans run elsewhere (`rollout-cluster` sends them to a Ballista cluster). The
    /// library's functions are registered after it, so a hook may replace the state's own.
    pub state_hook: Option<StateHook>,
}

/// A change to a session's DataFusion state (see [`RolloutOptions::state_hook`]): the rollout
/// analyzer rule and object stores are in the state it is given.
#[derive(Clone)]
pub struct StateHook {
    name: String,
    hook: Arc<dyn Fn(SessionState) -> datafusion::error::Result<SessionState> + Send + Sync>,
}

impl StateHook {
    /// A hook called `name` (shown by `Debug`, e.g. the cluster it plans for).
    pub fn new(
        name: impl Into<String>,
        hook: impl Fn(SessionState) -> datafusion::error::Result<SessionState> + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            hook: Arc::new(hook),
        }
    }

    /// What the hook is for.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn apply(&self, state: SessionState) -> Result<SessionState> {
        Ok((self.hook)(state)?)
    }
}

impl fmt::Debug for StateHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StateHook").field(&self.name).finish()
    }
}

impl Default for RolloutOptions {
    fn default() -> Self {
        Self {
            store: StoreOptions::default(),
            actor: None,
            consumer: None,
            cohort: None,
            config: None,
            record_reads: true,
            consistency: Consistency::Statement,
            user: None,
            password: None,
            token: None,
            server_side: false,
            state_hook: None,
        }
    }
}

/// Who a session acts as: the name in the history, and the principal that logged in (none
/// on an open store).
#[derive(Debug, Clone)]
pub(super) struct Identity {
    pub(super) actor: String,
    pub(super) principal: Option<String>,
}

/// Logs in on a store with users: the user `options` authenticates as. On an open store,
/// nobody logs in (`None`).
pub(super) async fn authenticate(
    store: &Store,
    options: &RolloutOptions,
) -> Result<Option<String>> {
    let state = store.state();
    if state.access.is_open() {
        return Ok(None);
    }
    let (user, password, token) = (
        options.user.clone(),
        options.password.clone(),
        options.token.clone(),
    );
    let user = tokio::task::spawn_blocking(move || -> Result<String> {
        let access = &state.access;
        match (user, password, token) {
            (user, _, Some(token)) => {
                let who = access.login_token(token.expose(), chrono::Utc::now())?;
                match user {
                    Some(u) if u != who => Err(Error::Unauthenticated {
                        message: format!("the token given does not belong to user '{u}'"),
                    }),
                    _ => Ok(who),
                }
            }
            (Some(user), Some(password), None) => access.login_password(&user, password.expose()),
            (Some(user), None, None) => Err(Error::Unauthenticated {
                message: format!(
                    "a password is needed to log in as '{user}' (prompted by the shell, or \
                     ROLLOUT_PASSWORD), or a token (ROLLOUT_TOKEN)"
                ),
            }),
            (None, _, None) => Err(Error::Unauthenticated {
                message: "the store has users, so every session logs in: rollout --user NAME \
                          (password prompted, or ROLLOUT_PASSWORD), or a token in ROLLOUT_TOKEN"
                    .into(),
            }),
        }
    })
    .await
    .map_err(|e| Error::internal(format!("login: {e}")))??;
    Ok(Some(user))
}
