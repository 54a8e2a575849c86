//! [`RolloutContext`]: a DataFusion session on a store, running our statements and DataFusion's.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
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
use crate::resolve::{
    PinnedStoreRegistry, Pins, Resolution, RolloutConfig, RolloutSchemaProvider, VerifyingStore,
    VersionedTable, resolve_versions_rule, rollout_bucket_udf,
};
use crate::statement::{Statement, parse_sql_with_dialect};
use crate::store::{Commit, Committed, Store, StoreOptions};

/// How to open a [`RolloutContext`].
#[derive(Debug, Clone, Default)]
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
            });
        let state = SessionStateBuilder::new()
            .with_default_features()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_analyzer_rule(resolve_versions_rule())
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udf(rollout_bucket_udf().as_ref().clone());
        datafusion_rollout_udfs::register_all(&ctx)?;
        ctx.register_udtf(
            "drift",
            Arc::new(crate::guard::DriftFunction::new(Arc::clone(&store))),
        );
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
        {
            let state_ref = ctx.state_ref();
            let mut state = state_ref.write();
            let options = state.config_mut().options_mut();
            if options.extensions.get::<RolloutConfig>().is_none() {
                options.extensions.insert(RolloutConfig::default());
            }
        }
        ctx.add_analyzer_rule(resolve_versions_rule());
        ctx.register_udf(rollout_bucket_udf().as_ref().clone());
        datafusion_rollout_udfs::register_all(ctx)?;
        ctx.register_udtf(
            "drift",
            Arc::new(crate::guard::DriftFunction::new(Arc::clone(store))),
        );
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

    pub(crate) fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        let state_ref = self.ctx.state_ref();
        let mut state = state_ref.write();
        let options = state.config_mut().options_mut();
        if options.extensions.get::<RolloutConfig>().is_none() {
            options.extensions.insert(RolloutConfig::default());
        }
        options
            .set(&format!("rollout.{key}"), value.unwrap_or(""))
            .map_err(Error::from)
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
    /// of the last one. Queries are lazy: the returned DataFrame runs when collected.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let statements = self.parse(sql)?;
        if statements.is_empty() {
            return Err(Error::Parse {
                message: "no SQL statement given".into(),
            });
        }
        let mut last = None;
        for statement in &statements {
            last = Some(self.execute(statement).await?);
        }
        last.ok_or_else(|| Error::Parse {
            message: "no SQL statement given".into(),
        })
    }

    /// A DataFusion query (used by `ASSERT`), planned without our statements.
    pub(crate) async fn run_sql(&self, sql: &str) -> Result<DataFrame> {
        match self.parse(sql)?.as_slice() {
            [Statement::DataFusion(s)] => Box::pin(self.execute_datafusion(s)).await,
            _ => Err(Error::Parse {
                message: format!("expected one query: {sql}"),
            }),
        }
    }

    /// Runs one parsed statement.
    pub async fn execute(&self, statement: &Statement) -> Result<DataFrame> {
        // Every statement sees what other writers committed before it started.
        self.store.refresh().await?;
        match statement {
            Statement::DataFusion(s) => self.execute_datafusion(s).await,
            Statement::CreateDataset(s) => s.execute(self).await,
            Statement::RegisterVersion(s) => s.execute(self).await,
            Statement::CreateVersion(s) => s.execute(self).await,
            Statement::ShowDatasets(s) => s.execute(self).await,
            Statement::ShowVersions(s) => s.execute(self).await,
            Statement::CreateCohort(s) => s.execute(self).await,
            Statement::Promote(s) => s.execute(self).await,
            Statement::Rollback(s) => s.execute(self).await,
            Statement::ShowRollout(s) => s.execute(self).await,
            Statement::ShowHistory(s) => s.execute(self).await,
            Statement::Setting(s) => s.execute(self).await,
            Statement::Assert(s) => s.execute(self).await,
            Statement::CreateContract(s) => s.execute(self).await,
            Statement::ShowContract(s) => s.execute(self).await,
            Statement::Check(s) => s.execute(self).await,
            Statement::Advance(s) => s.execute(self).await,
            Statement::Vacuum(s) => s.execute(self).await,
            Statement::VerifyVersion(s) => s.execute(self).await,
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
        let df = self.ctx.execute_logical_plan(plan).await?;
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

    // ---- helpers for statements ----

    /// Commits what `plan` computes (see [`Store::commit`]); `Ok(None)` from `plan` means
    /// there is nothing to change, and nothing is written.
    pub(crate) async fn commit(
        &self,
        plan: impl FnMut(&crate::catalog::State) -> Result<Option<Commit>>,
    ) -> Result<Option<Committed>> {
        self.commit_as(&self.actor, plan).await
    }

    /// [`Self::commit`] recorded under another actor (`guard` for automatic rollbacks).
    pub(crate) async fn commit_as(
        &self,
        actor: &str,
        mut plan: impl FnMut(&crate::catalog::State) -> Result<Option<Commit>>,
    ) -> Result<Option<Committed>> {
        let transaction_id = new_transaction_id();
        let mut noop = false;
        let result = self
            .store
            .commit(actor, &transaction_id, |state| match plan(state)? {
                Some(commit) => {
                    noop = false;
                    Ok(commit)
                }
                None => {
                    noop = true;
                    Err(Error::precondition("nothing to do"))
                }
            })
            .await;
        match result {
            Ok(done) => Ok(Some(done)),
            Err(_) if noop => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn frame(&self, batch: RecordBatch) -> Result<DataFrame> {
        Ok(self.ctx.read_batch(batch)?)
    }

    pub(crate) fn message_text(&self, text: &str) -> Result<DataFrame> {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "result",
            DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec![text]))])?;
        self.frame(batch)
    }

    pub(crate) fn message(&self, done: &Committed) -> Result<DataFrame> {
        self.message_text(&format!("{} (#{})", done.message, done.entry.sequence))
    }

    pub(crate) fn empty(&self) -> Result<DataFrame> {
        Ok(self.ctx.read_empty()?)
    }
}

pub(crate) fn new_transaction_id() -> String {
    uuid::Uuid::new_v4().to_string()
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
