//! [`RolloutContext`]: a DataFusion session on a store, running our statements and DataFusion's.

use std::sync::{Arc, RwLock};

use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use datafusion_rollout_udfs::quality::compare::FusedFilterCounts;
use url::Url;

mod options;
mod statements;

use options::{Identity, authenticate};
pub use options::{RolloutOptions, StateHook};

use crate::catalog::{Need, Privilege};
use crate::error::{Error, Result};
use crate::guard::Env;
use crate::resolve::{
    PinnedStoreRegistry, Pins, RecordReads, RolloutConfig, RolloutSchemaProvider, VerifyingStore,
    ensure_rollout_config, resolve_versions_rule, set_rollout_setting,
};
use crate::signals::register_functions;
use crate::statement::{Outcome, Statement, parse_sql_with_dialect};
use crate::store::Store;

/// A DataFusion `SessionContext` with a rollout store attached: datasets appear as tables that
/// resolve per consumer, and [`RolloutContext::sql`] runs our statements as well as DataFusion's.
#[derive(Clone)]
pub struct RolloutContext {
    ctx: SessionContext,
    store: Arc<Store>,
    identity: Arc<RwLock<Identity>>,
    server_side: bool,
}

impl std::fmt::Debug for RolloutContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutContext")
            .field("store", &self.store.url().as_str())
            .field("actor", &self.actor())
            .field("principal", &self.principal())
            .finish()
    }
}

impl RolloutContext {
    /// Opens (or creates) the store at `location` with default options.
    pub async fn open(location: &str) -> Result<Self> {
        Self::open_with(location, RolloutOptions::default()).await
    }

    /// Opens (or creates) the store at `location`.
    pub async fn open_with(location: &str, options: RolloutOptions) -> Result<Self> {
        let store = Store::open(location, options.store.clone()).await?;
        let principal = authenticate(&store, &options).await?;
        Self::on_store(store, principal, options)
    }

    /// A session on a store already open, for `principal`, whose credentials the caller
    /// verified (a server that authenticated a connection: see
    /// [`crate::catalog::Access::login_password`] and [`crate::catalog::Access::login_token`]).
    /// `None` is only allowed on an open store. The credentials in `options` are not used.
    pub fn for_principal(
        store: Arc<Store>,
        principal: Option<String>,
        options: RolloutOptions,
    ) -> Result<Self> {
        let state = store.state();
        match &principal {
            Some(p) if !state.access.is_open() => {
                state.access.user(p)?;
            }
            None if !state.access.is_open() => {
                return Err(Error::Unauthenticated {
                    message: "the store has users, so every session logs in".into(),
                });
            }
            _ => {}
        }
        Self::on_store(store, principal, options)
    }

    /// A session for a system principal such as the controller inside a server (`controller`,
    /// and `guard` for its rollbacks), which acts on the authority of the AUTO policies that
    /// privileged principals set. It logs in as nobody: it cannot read datasets of a store
    /// with users, and its own statements are checked like any non-user's.
    pub fn for_system(store: Arc<Store>, actor: &str, options: RolloutOptions) -> Result<Self> {
        let mut context = Self::on_store(store, None, options)?;
        context.identity = Arc::new(RwLock::new(Identity {
            actor: actor.to_string(),
            principal: None,
        }));
        Ok(context)
    }

    fn on_store(
        store: Arc<Store>,
        principal: Option<String>,
        options: RolloutOptions,
    ) -> Result<Self> {
        // A logged-in session reads as its principal unless told (and allowed) otherwise.
        let consumer = options
            .consumer
            .clone()
            .or_else(|| principal.clone())
            .or_else(|| options.user.clone());
        if let Some(p) = &principal {
            let as_other = consumer.as_deref() != Some(p) || options.cohort.is_some();
            if as_other {
                store
                    .state()
                    .access
                    .check(p, Privilege::Impersonate, None)?;
            }
        }
        let registry = Arc::new(PinnedStoreRegistry::new(Pins::new(Arc::clone(&store))));
        registry.register_store(store.url(), Arc::clone(store.object_store()));
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(registry)
            .build_arc()?;
        let config = options
            .config
            .clone()
            .unwrap_or_default()
            .with_information_schema(true)
            .with_option_extension(RolloutConfig {
                consumer: consumer.clone(),
                cohort: options.cohort.clone(),
                principal: principal.clone(),
                record_reads: options.record_reads,
                consistency: options.consistency,
                ..Default::default()
            });
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_analyzer_rule(resolve_versions_rule())
            .with_physical_optimizer_rule(Arc::new(RecordReads))
            .with_optimizer_rule(FusedFilterCounts::new())
            .build();
        let state = match &options.state_hook {
            Some(hook) => hook.apply(state)?,
            None => state,
        };
        let ctx = SessionContext::new_with_state(state);
        register_functions(&ctx, &store)?;
        wrap_default_schema(&ctx, &store)?;
        // The actor of every commit is the principal; on an open store, the name given.
        let actor = principal
            .clone()
            .or(options.user)
            .or(options.actor)
            .or(options.consumer)
            .unwrap_or_else(os_user);
        let mut context = Self::from_parts(ctx, store, actor, principal);
        context.server_side = options.server_side;
        Ok(context)
    }

    fn from_parts(
        ctx: SessionContext,
        store: Arc<Store>,
        actor: String,
        principal: Option<String>,
    ) -> Self {
        Self {
            ctx,
            store,
            identity: Arc::new(RwLock::new(Identity { actor, principal })),
            server_side: false,
        }
    }

    /// Installs the store on a caller's own `SessionContext`: its datasets appear in the
    /// default schema, plain `SELECT`s resolve them for the consumer set with
    /// `SET rollout.consumer`, and reads of pinned files are verified. Our statements
    /// (`PROMOTE`, ...) need [`RolloutContext::sql`]; use [`RolloutContext::with_session`]
    /// to run them on that same context.
    pub fn install(store: &Arc<Store>, ctx: &SessionContext) -> Result<()> {
        let pins = Pins::new(Arc::clone(store));
        let file_url = Url::parse("file://").map_err(|e| Error::Config(e.to_string()))?;
        let local = Arc::new(LocalFileSystem::new());
        ctx.register_object_store(
            &file_url,
            Arc::new(VerifyingStore::new(local, &file_url, Arc::clone(&pins))),
        );
        if store.url().scheme() != "file" {
            ctx.register_object_store(
                store.url(),
                Arc::new(VerifyingStore::new(
                    Arc::clone(store.object_store()),
                    store.url(),
                    pins,
                )),
            );
        }
        ensure_rollout_config(ctx);
        ctx.add_analyzer_rule(resolve_versions_rule());
        ctx.add_optimizer_rule(FusedFilterCounts::new());
        register_functions(ctx, store)?;
        wrap_default_schema(ctx, store)
    }

    /// A context running statements on a caller's `SessionContext` (after [`Self::install`]).
    pub fn with_session(
        store: Arc<Store>,
        ctx: SessionContext,
        actor: Option<String>,
    ) -> Result<Self> {
        Self::install(&store, &ctx)?;
        Ok(Self::from_parts(
            ctx,
            store,
            actor.unwrap_or_else(os_user),
            None,
        ))
    }

    /// Writes this process's buffered events (reads, metrics) to the store now; returns how
    /// many. They are also written on a timer ([`StoreOptions::events_flush_interval`](crate::store::StoreOptions::events_flush_interval)).
    pub async fn flush_events(&self) -> Result<usize> {
        self.store.events().flush().await
    }

    /// Flushes buffered events; call before the process exits (events still buffered when a
    /// process dies are lost, nothing else is).
    pub async fn close(&self) -> Result<()> {
        self.flush_events().await.map(|_| ())
    }

    /// The DataFusion session (for the DataFrame API, registering tables, ...).
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The store's URL.
    pub fn store_url(&self) -> String {
        self.store.url().to_string()
    }

    /// Who is recorded as making changes: the principal that logged in, or on an open store
    /// the name the session was given.
    pub fn actor(&self) -> String {
        self.identity().actor
    }

    /// The user this session logged in as (`None` on an open store).
    pub fn principal(&self) -> Option<String> {
        self.identity().principal
    }

    fn identity(&self) -> Identity {
        self.identity
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The session's `rollout.*` settings.
    pub fn settings(&self) -> RolloutConfig {
        RolloutConfig::of(&self.ctx)
    }

    /// The consumer reads resolve for (`rollout.consumer`).
    pub fn consumer(&self) -> Option<String> {
        self.settings().consumer
    }

    /// Sets (or with `None` clears) `rollout.consumer`.
    pub fn set_consumer(&self, consumer: Option<&str>) -> Result<()> {
        self.set_setting("consumer", consumer)
    }

    /// Sets (or with `None` clears) `rollout.cohort` (not checked against the store).
    pub fn set_cohort(&self, cohort: Option<&str>) -> Result<()> {
        self.set_setting("cohort", cohort)
    }

    fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        if let Some(p) = self.principal() {
            let as_other = match key {
                "consumer" => value.is_some_and(|v| v != p),
                "cohort" => value.is_some(),
                _ => false,
            };
            if as_other {
                self.store
                    .state()
                    .access
                    .check(&p, Privilege::Impersonate, None)?;
            }
        }
        set_rollout_setting(&self.ctx, key, value)
    }

    /// Parses `sql` with the session's dialect.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        // Read under the lock rather than cloning the session's state (its function
        // registries and all) for two settings.
        let (dialect, recursion_limit) = {
            let state = self.ctx.state_ref();
            let state = state.read();
            let options = &state.config_options().sql_parser;
            (options.dialect, options.recursion_limit.get())
        };
        let dialect = dialect_from_str(dialect)
            .ok_or_else(|| Error::Config(format!("unsupported SQL dialect {dialect}")))?;
        parse_sql_with_dialect(sql, dialect.as_ref(), recursion_limit)
    }

    /// Runs every statement in `sql` (ours and DataFusion's) in order and returns the result
    /// of the last one as a table (see [`Outcome::into_frame`]). Queries are lazy: the returned
    /// DataFrame runs when collected.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        self.run(sql).await?.into_frame(&self.ctx)
    }

    /// Runs every statement in `sql` in order and returns what the last one did.
    pub async fn run(&self, sql: &str) -> Result<Outcome> {
        let statements = self.parse(sql)?;
        let Some((last, first)) = statements.split_last() else {
            return Err(Error::Parse {
                message: "no SQL statement given".into(),
            });
        };
        for statement in first {
            self.execute(statement).await?;
        }
        self.execute(last).await
    }

    /// Runs one parsed statement, if the session's actor holds the privileges it needs.
    pub async fn execute(&self, statement: &Statement) -> Result<Outcome> {
        // Every statement sees what other writers committed before it started.
        let state = if statement.is_mutating() {
            self.store.refresh().await?
        } else {
            self.store.refresh_to_read().await?
        };
        let actor = self.actor();
        let needs = statement.needs(&actor, &state);
        state.access.check_all(&actor, &needs)?;
        let env = self.env(&actor, &needs);
        // A change a two-person rule gates becomes a pending request.
        if let Some(pending) = crate::statement::gate_for_approval(statement, &env).await? {
            return Ok(pending);
        }
        let outcome = match statement {
            Statement::DataFusion(s) => Outcome::Query(self.execute_datafusion(s).await?),
            ours => ours.execute_ours(&env).await?,
        };
        if let Statement::CreateUser(created) = statement
            && state.access.is_open()
            && matches!(outcome, Outcome::Committed { .. })
        {
            self.log_in_as_first_user(&created.name);
        }
        Ok(outcome)
    }

    /// The session that created a store's first user (who holds ADMIN) carries on as that
    /// user: from this commit on, the store asks for a login.
    fn log_in_as_first_user(&self, user: &str) {
        {
            let mut identity = self.identity.write().unwrap_or_else(|p| p.into_inner());
            identity.actor = user.to_string();
            identity.principal = Some(user.to_string());
        }
        let state_ref = self.ctx.state_ref();
        let mut state = state_ref.write();
        if let Some(cfg) = state
            .config_mut()
            .options_mut()
            .extensions
            .get_mut::<RolloutConfig>()
        {
            cfg.principal = Some(user.to_string());
            if cfg.consumer.is_none() {
                cfg.consumer = Some(user.to_string());
            }
        }
    }

    /// What our statements run against: the session, the store, the actor and what the
    /// statement needs.
    pub(crate) fn env<'a>(&'a self, actor: &'a str, needs: &'a [Need]) -> Env<'a> {
        Env {
            session: &self.ctx,
            store: &self.store,
            actor,
            needs,
            also: &[],
        }
    }
}

fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".to_string())
}

fn wrap_default_schema(ctx: &SessionContext, store: &Arc<Store>) -> Result<()> {
    let state = ctx.state();
    let defaults = &state.config_options().catalog;
    let catalog = ctx.catalog(&defaults.default_catalog).ok_or_else(|| {
        Error::Config(format!("no default catalog '{}'", defaults.default_catalog))
    })?;
    let inner = catalog
        .schema(&defaults.default_schema)
        .ok_or_else(|| Error::Config(format!("no default schema '{}'", defaults.default_schema)))?;
    if inner.downcast_ref::<RolloutSchemaProvider>().is_some() {
        return Ok(());
    }
    catalog.register_schema(
        &defaults.default_schema,
        Arc::new(RolloutSchemaProvider::new(inner, Arc::clone(store))),
    )?;
    Ok(())
}
