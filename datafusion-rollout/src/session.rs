//! [`RolloutContext`]: a DataFusion session on a store, running our statements and DataFusion's.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::source_as_provider;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use url::Url;

use crate::error::{Error, Result};
use crate::guard::Env;
use crate::resolve::{
    Consistency, PinnedStoreRegistry, Pins, Resolution, RolloutConfig, RolloutSchemaProvider,
    VerifyingStore, VersionedTable, ensure_rollout_config, resolve_versions_rule,
    set_rollout_setting,
};
use crate::signals::register_functions;
use crate::statement::{Outcome, Statement, parse_sql_with_dialect};
use crate::store::{Store, StoreOptions};

/// How to open a [`RolloutContext`].
#[derive(Debug, Clone)]
pub struct RolloutOptions {
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
        }
    }
}

/// A DataFusion `SessionContext` with a rollout store attached: datasets appear as tables that
/// resolve per consumer, and [`RolloutContext::sql`] runs our statements as well as DataFusion's.
#[derive(Clone)]
pub struct RolloutContext {
    ctx: SessionContext,
    store: Arc<Store>,
    actor: String,
}

impl std::fmt::Debug for RolloutContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutContext")
            .field("store", &self.store.url().as_str())
            .field("actor", &self.actor)
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
                consumer: options.consumer.clone(),
                cohort: options.cohort.clone(),
                record_reads: options.record_reads,
                consistency: options.consistency,
                ..Default::default()
            });
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_analyzer_rule(resolve_versions_rule())
            .build();
        let ctx = SessionContext::new_with_state(state);
        register_functions(&ctx, &store)?;
        wrap_default_schema(&ctx, &store)?;
        let actor = options.actor.or(options.consumer).unwrap_or_else(os_user);
        Ok(Self { ctx, store, actor })
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
        Ok(Self {
            ctx,
            store,
            actor: actor.unwrap_or_else(os_user),
        })
    }

    /// Writes this process's buffered events (reads, metrics) to the store now; returns how
    /// many. They are also written on a timer ([`StoreOptions::events_flush_interval`]).
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

    /// Who is recorded as making changes.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The session's `rollout.*` settings.
    pub fn settings(&self) -> RolloutConfig {
        RolloutConfig::from_options(self.ctx.state().config_options())
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
        set_rollout_setting(&self.ctx, key, value)
    }

    /// Parses `sql` with the session's dialect.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        let state = self.ctx.state();
        let options = &state.config_options().sql_parser;
        let dialect = dialect_from_str(options.dialect)
            .ok_or_else(|| Error::Config(format!("unsupported SQL dialect {}", options.dialect)))?;
        parse_sql_with_dialect(sql, dialect.as_ref(), options.recursion_limit.get())
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

    /// Runs one parsed statement.
    pub async fn execute(&self, statement: &Statement) -> Result<Outcome> {
        // Every statement sees what other writers committed before it started.
        self.store.refresh().await?;
        match statement {
            Statement::DataFusion(s) => Ok(Outcome::Query(self.execute_datafusion(s).await?)),
            ours => ours.execute_ours(&self.env()).await,
        }
    }

    /// What our statements run against: the session, the store, the actor.
    pub(crate) fn env(&self) -> Env<'_> {
        Env {
            session: &self.ctx,
            store: &self.store,
            actor: &self.actor,
        }
    }

    async fn execute_datafusion(&self, statement: &DFStatement) -> Result<DataFrame> {
        let plan = self
            .ctx
            .state()
            .statement_to_plan(statement.clone())
            .await?;
        let resolutions = match &plan {
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) => self.resolutions(&plan)?,
            _ => vec![],
        };
        let df = if matches!(plan, LogicalPlan::Explain(_)) {
            // EXPLAIN plans the scans without running them: nobody read anything.
            let mut state = self.ctx.state();
            if let Some(cfg) = state
                .config_mut()
                .options_mut()
                .extensions
                .get_mut::<RolloutConfig>()
            {
                cfg.explaining = true;
            }
            DataFrame::new(state, plan)
        } else {
            self.ctx.execute_logical_plan(plan).await?
        };
        if resolutions.is_empty() {
            return Ok(df);
        }
        // EXPLAIN says which version each dataset resolved to, and why.
        let schema = Arc::new(df.schema().as_arrow().clone());
        let mut batches = df.collect().await?;
        let rows: Vec<String> = resolutions.iter().map(|r| r.to_string()).collect();
        let plan_type: ArrayRef =
            Arc::new(StringArray::from(vec!["rollout_resolution"; rows.len()]));
        let text: ArrayRef = Arc::new(StringArray::from(rows));
        if schema.fields().len() == 2 {
            batches.push(RecordBatch::try_new(
                Arc::clone(&schema),
                vec![plan_type, text],
            )?);
        }
        Ok(self.ctx.read_batches(batches)?)
    }

    /// How each dataset scanned by `plan` resolves in this session.
    pub fn resolutions(&self, plan: &LogicalPlan) -> Result<Vec<Resolution>> {
        let state = self.ctx.state();
        let options = state.config_options();
        let mut out: Vec<Resolution> = Vec::new();
        let mut error = None;
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node
                && let Ok(provider) = source_as_provider(&scan.source)
                && let Some(table) = provider.downcast_ref::<VersionedTable>()
            {
                match table.resolve(options) {
                    Ok(r) => {
                        if !out.contains(&r) {
                            out.push(r);
                        }
                    }
                    Err(e) => {
                        error = Some(e);
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        match error {
            Some(e) => Err(e),
            None => Ok(out),
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
