//! SQL behaviour as sqllogictest (`.slt`) files, run through our front end.
//!
//! Two suites share one engine, [`RolloutEngine`], a sqllogictest `AsyncDB` over
//! [`RolloutContext::sql`] that converts results with datafusion-sqllogictest's own
//! `convert_batches` / `convert_schema_to_types` (so the text of a value is exactly what
//! DataFusion's suite expects) and runs each file with DataFusion's runner settings
//! (`df_value_validator`, `value_normalizer`, strict column types):
//!
//! - `tests/slt/*.slt`: our statements. Each file gets a fresh `memory://` store, a fresh
//!   context (actor `slt`, no consumer) and a fresh temp folder that the engine substitutes
//!   for `${TMPDIR}` in the SQL text, so files can `COPY ... TO '${TMPDIR}/...'` their own
//!   inputs. Errors are reported with our `Error`'s `Display` (what users see), so
//!   `statement error <regex>` matches our messages. `connection <name>` records open another
//!   session on the same store (a second consumer). On a store with users, the harness line
//!   `\login <user> <password>` (as a `statement`) reopens the connection's session logged in
//!   as that user, what `rollout --user` does; a failed login keeps the session it had.
//!
//!   To (re)generate expected output, run
//!   `ROLLOUT_SLT_COMPLETE=1 cargo test -p rollout-tests --test integration slt::` — the
//!   equivalent of DataFusion's `--complete`: each file is rewritten with what the engine
//!   returns (only `query`/`statement` results are filled; SQL is untouched). Read the diff
//!   before committing it: completion records whatever happens, bugs included.
//!   `ROLLOUT_SLT_FILTER=<substring>` restricts either mode to matching file names.
//!
//! - DataFusion's own `.slt` files (shipped in the datafusion-sqllogictest 55.2 package), a
//!   subset that needs no external data, run unchanged through our engine: ordinary SQL must
//!   behave exactly as in plain DataFusion. There, DataFusion's errors are shown the way
//!   DataFusion's harness shows them ("DataFusion error: ..."), because those files' regexes
//!   expect that harness text. A file that fails is re-run on a plain DataFusion engine (the
//!   equivalent of datafusion-sqllogictest's `DataFusion` engine, whose constructor needs an
//!   `indicatif` progress bar we do not depend on) to tell our deviations from the file's.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use datafusion::error::DataFusionError;
use datafusion::physical_plan::common::collect;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_rollout::{Error, RolloutContext, RolloutOptions, Secret};
use datafusion_sqllogictest::{
    DFColumnType, DFOutput, DFSqlLogicTestError, TestContext, convert_batches,
    convert_schema_to_types, df_value_validator, value_normalizer,
};
use sqllogictest::{AsyncDB, DBOutput, MakeConnection, Record, Runner, strict_column_validator};

/// The placeholder the engine replaces with the file's temp folder.
const TMPDIR_PLACEHOLDER: &str = "${TMPDIR}";

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How errors are rendered for `statement error <regex>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorStyle {
    /// Our `Error`'s `Display`: the message a user of the shell or the library sees.
    Rollout,
    /// DataFusion's errors as datafusion-sqllogictest renders them (for DataFusion's files).
    DataFusionHarness,
}

/// An error as text; sqllogictest matches regexes against its `Display`.
#[derive(Debug)]
struct EngineError(String);

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EngineError {}

/// A sqllogictest connection: one [`RolloutContext`] (session) on the file's store.
struct RolloutEngine {
    rc: RolloutContext,
    tmp: String,
    style: ErrorStyle,
    setup: FileSetup,
}

impl RolloutEngine {
    fn error(&self, e: Error) -> EngineError {
        match (self.style, e) {
            (ErrorStyle::DataFusionHarness, Error::DataFusion(inner)) => {
                let inner =
                    std::sync::Arc::try_unwrap(inner).unwrap_or_else(DataFusionError::Shared);
                EngineError(DFSqlLogicTestError::from(inner).to_string())
            }
            (_, e) => EngineError(e.to_string()),
        }
    }

    fn df_error(&self, e: DataFusionError) -> EngineError {
        match self.style {
            ErrorStyle::Rollout => EngineError(Error::from(e).to_string()),
            ErrorStyle::DataFusionHarness => self.error(Error::from(e)),
        }
    }

    /// `\login <user> <password>`: a new session on the file's store, logged in.
    async fn login(&mut self, line: &str) -> Result<DFOutput, EngineError> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [_, user, password] = words[..] else {
            return Err(EngineError(format!(
                "harness: \\login <user> <password>, not {line:?}"
            )));
        };
        self.rc = RolloutContext::open_with(
            &self.setup.store,
            RolloutOptions {
                user: Some(user.to_string()),
                password: Some(Secret::new(password)),
                config: self.setup.config.clone(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| self.error(e))?;
        Ok(DBOutput::StatementComplete(0))
    }

    /// What datafusion-sqllogictest's `run_query` does, on our front end.
    async fn run_sql(&mut self, sql: &str) -> Result<DFOutput, EngineError> {
        if sql.trim_start().starts_with("\\login") {
            return self.login(sql.trim()).await;
        }
        let sql = sql.replace(TMPDIR_PLACEHOLDER, &self.tmp);
        let df = self.rc.sql(&sql).await.map_err(|e| self.error(e))?;
        let task_ctx = Arc::new(df.task_ctx());
        let plan = df
            .create_physical_plan()
            .await
            .map_err(|e| self.df_error(e))?;
        let schema = plan.schema();
        let stream = execute_stream(plan, task_ctx).map_err(|e| self.df_error(e))?;
        let types = convert_schema_to_types(stream.schema().fields());
        let batches = collect(stream).await.map_err(|e| self.df_error(e))?;
        let rows = convert_batches(&schema, batches, false).map_err(|e| match e {
            DFSqlLogicTestError::DataFusion(e) => self.df_error(e),
            other => EngineError(other.to_string()),
        })?;
        if rows.is_empty() && types.is_empty() {
            Ok(DBOutput::StatementComplete(0))
        } else {
            Ok(DBOutput::Rows { types, rows })
        }
    }
}

// `AsyncDB` is an `#[async_trait]` trait; this is its desugaring (we do not depend on the
// `async-trait` crate).
impl AsyncDB for RolloutEngine {
    type Error = EngineError;
    type ColumnType = DFColumnType;

    fn run<'life0, 'life1, 'async_trait>(
        &'life0 mut self,
        sql: &'life1 str,
    ) -> BoxFuture<'async_trait, Result<DFOutput, EngineError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.run_sql(sql).await })
    }

    fn shutdown<'life0, 'async_trait>(&'life0 mut self) -> BoxFuture<'async_trait, ()>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async {})
    }

    fn engine_name(&self) -> &str {
        "rollout"
    }
}

/// Everything the connections of one file share: the store, the temp folder, the settings.
#[derive(Clone)]
struct FileSetup {
    store: String,
    tmp: String,
    config: Option<SessionConfig>,
    style: ErrorStyle,
}

impl FileSetup {
    /// Each call is a new session on the same store (sqllogictest's `connection` records).
    fn make_connection(&self) -> impl MakeConnection<Conn = RolloutEngine> + use<> {
        let setup = self.clone();
        move || {
            let setup = setup.clone();
            async move {
                let rc = RolloutContext::open_with(
                    &setup.store,
                    RolloutOptions {
                        actor: Some("slt".into()),
                        config: setup.config.clone(),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| EngineError(format!("opening {}: {e}", setup.store)))?;
                Ok(RolloutEngine {
                    rc,
                    tmp: setup.tmp.clone(),
                    style: setup.style,
                    setup: setup.clone(),
                })
            }
        }
    }
}

/// A fresh, process-unique `memory://` store name for one file.
fn fresh_store(file: &Path) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let stem = file
        .file_stem()
        .map(|s| {
            s.to_string_lossy()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "-")
        })
        .unwrap_or_default();
    format!(
        "memory://slt-{stem}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Applies DataFusion's runner settings.
fn configure<D: AsyncDB<ColumnType = DFColumnType>, M: MakeConnection<Conn = D>>(
    runner: &mut Runner<D, M>,
) {
    runner.with_column_validator(strict_column_validator);
    runner.with_normalizer(value_normalizer);
    runner.with_validator(df_value_validator);
}

/// Runs every record of `path` (not stopping at the first failure, as DataFusion's runner
/// does) and returns one message per failed record, each naming the file and line.
async fn run_records<D: AsyncDB, M: MakeConnection<Conn = D>>(
    runner: &mut Runner<D, M>,
    path: &Path,
) -> Vec<String> {
    let records = match sqllogictest::parse_file::<D::ColumnType>(path) {
        Ok(records) => records,
        Err(e) => return vec![format!("{}: cannot parse: {e}", path.display())],
    };
    let mut errors = Vec::new();
    for record in records {
        if let Record::Halt { .. } = record {
            break;
        }
        if let Err(e) = runner.run_async(record).await {
            errors.push(e.to_string());
        }
    }
    runner.shutdown_async().await;
    errors
}

/// Runs one file through a fresh [`RolloutEngine`] setup; `complete` rewrites its results.
async fn run_rollout_file(
    path: &Path,
    config: Option<SessionConfig>,
    style: ErrorStyle,
    label: Option<&str>,
    complete: bool,
) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let setup = FileSetup {
        store: fresh_store(path),
        tmp: tmp.path().display().to_string(),
        config,
        style,
    };
    let mut runner = Runner::new(setup.make_connection());
    configure(&mut runner);
    if let Some(label) = label {
        runner.add_label(label);
    }
    if complete {
        return match runner
            .update_test_file(
                path,
                " ",
                df_value_validator,
                value_normalizer,
                strict_column_validator,
            )
            .await
        {
            Ok(()) => vec![],
            Err(e) => vec![format!("{}: completing failed: {e}", path.display())],
        };
    }
    run_records(&mut runner, path).await
}

fn filter_matches(path: &Path) -> bool {
    match std::env::var("ROLLOUT_SLT_FILTER") {
        Ok(filter) => path.to_string_lossy().contains(&filter),
        Err(_) => true,
    }
}

fn our_slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_slt_files() {
    let complete = std::env::var("ROLLOUT_SLT_COMPLETE").is_ok_and(|v| v == "1");
    let files = our_slt_files();
    assert!(!files.is_empty(), "no .slt files under tests/slt");
    let mut failures = Vec::new();
    let mut ran = 0;
    for path in files.iter().filter(|p| filter_matches(p)) {
        let started = Instant::now();
        let errors = run_rollout_file(path, None, ErrorStyle::Rollout, None, complete).await;
        ran += 1;
        eprintln!(
            "slt {} {} in {:.2?}",
            path.file_name().unwrap().to_string_lossy(),
            if errors.is_empty() { "ok" } else { "FAILED" },
            started.elapsed()
        );
        failures.extend(errors);
    }
    assert!(ran > 0, "ROLLOUT_SLT_FILTER matched no file");
    assert!(
        failures.is_empty(),
        "{} failed record(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---- DataFusion's own suite through our front end ----

/// DataFusion 55.2 `.slt` files that create their own data (`VALUES`, `generate_series`, ...),
/// need no files outside the package and no table registered by DataFusion's test harness,
/// and pass on plain DataFusion. Chosen to cover queries, DDL/DML, EXPLAIN plans (our analyzer
/// rule must not change them) and errors. Left out although self-contained:
/// - files that read tables DataFusion's harness registers (`arrow_field`, `async_udf`,
///   `cast_extension_type_metadata`, `dictionary_struct`, `metadata`, `range_partitioning`,
///   `union_function`), and `select`/`aggregate` & co., which read `../../testing` data;
const DATAFUSION_FILES: &[&str] = &[
    "aggregates_simplify.slt",
    "alias.slt",
    "case.slt",
    "cast.slt",
    "coalesce.slt",
    "count_star_rule.slt",
    "create_function.slt",
    "dml_delete.slt",
    "dml_update.slt",
    "eliminate_outer_join.slt",
    "functional_dependencies.slt",
    "in_list.slt",
    "insert_values_placeholders.slt",
    "join_lists.slt",
    "lateral_join.slt",
    "merge_into.slt",
    "misc.slt",
    "named_arguments.slt",
    "nullif.slt",
    "operator.slt",
    "options.slt",
    "pipe_operator.slt",
    "prepare.slt",
    "qualify.slt",
    "simplify_expr.slt",
    "strings.slt",
    "struct.slt",
    "truncate.slt",
    "type_coercion.slt",
    "union_by_name.slt",
    "update.slt",
];

/// The `test_files` folder of the datafusion-sqllogictest package: `DATAFUSION_SLT_DIR`, or
/// where cargo unpacked the dev-dependency (`$CARGO_HOME/registry/src/*/`).
fn datafusion_test_files() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("DATAFUSION_SLT_DIR") {
        return Some(PathBuf::from(dir));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let registries = std::fs::read_dir(cargo_home.join("registry").join("src")).ok()?;
    registries
        .filter_map(|r| r.ok())
        .map(|r| {
            r.path()
                .join("datafusion-sqllogictest-55.2.0")
                .join("test_files")
        })
        .find(|p| p.is_dir())
}

/// The baseline: datafusion-sqllogictest's `DataFusion` engine, minus its progress bar, on the
/// context its harness builds for the file.
struct PlainDataFusion {
    ctx: SessionContext,
}

impl PlainDataFusion {
    async fn run_sql(&self, sql: &str) -> Result<DFOutput, DFSqlLogicTestError> {
        let df = self.ctx.sql(sql).await?;
        let task_ctx = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await?;
        let schema = plan.schema();
        let stream = execute_stream(plan, task_ctx)?;
        let types = convert_schema_to_types(stream.schema().fields());
        let batches = collect(stream).await?;
        let rows = convert_batches(&schema, batches, false)?;
        if rows.is_empty() && types.is_empty() {
            Ok(DBOutput::StatementComplete(0))
        } else {
            Ok(DBOutput::Rows { types, rows })
        }
    }
}

impl AsyncDB for PlainDataFusion {
    type Error = DFSqlLogicTestError;
    type ColumnType = DFColumnType;

    fn run<'life0, 'life1, 'async_trait>(
        &'life0 mut self,
        sql: &'life1 str,
    ) -> BoxFuture<'async_trait, Result<DFOutput, DFSqlLogicTestError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.run_sql(sql).await })
    }

    fn shutdown<'life0, 'async_trait>(&'life0 mut self) -> BoxFuture<'async_trait, ()>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async {})
    }

    fn engine_name(&self) -> &str {
        "DataFusion"
    }
}

/// The baseline run of one DataFusion file.
async fn run_plain_datafusion(path: &Path) -> Vec<String> {
    let relative = PathBuf::from(path.file_name().unwrap());
    let Some(test_ctx) = TestContext::try_new_for_test_file(&relative).await else {
        return vec![format!(
            "{}: skipped by DataFusion's harness",
            path.display()
        )];
    };
    let ctx = test_ctx.session_ctx().clone();
    let mut runner = Runner::new(move || {
        let ctx = ctx.clone();
        async move { Ok::<_, DFSqlLogicTestError>(PlainDataFusion { ctx }) }
    });
    configure(&mut runner);
    runner.add_label("Datafusion");
    run_records(&mut runner, path).await
}

/// The same settings as DataFusion's harness (`TestContext::try_new_for_test_file`).
fn datafusion_harness_config() -> SessionConfig {
    SessionConfig::new().with_target_partitions(4)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datafusion_slt_files_through_rollout() {
    let Some(dir) = datafusion_test_files() else {
        panic!(
            "datafusion-sqllogictest 55.2's test_files not found under $CARGO_HOME/registry/src; \
             set DATAFUSION_SLT_DIR to that folder"
        );
    };
    // ROLLOUT_DF_SLT_FILES=a.slt,b.slt runs other files (to try candidates for the list).
    let chosen = std::env::var("ROLLOUT_DF_SLT_FILES").ok();
    let names: Vec<&str> = match &chosen {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect(),
        None => DATAFUSION_FILES.to_vec(),
    };
    let mut failures = Vec::new();
    for name in names {
        let path = dir.join(name);
        if !filter_matches(&path) {
            continue;
        }
        let started = Instant::now();
        let errors = run_rollout_file(
            &path,
            Some(datafusion_harness_config()),
            ErrorStyle::DataFusionHarness,
            Some("Datafusion"),
            false,
        )
        .await;
        eprintln!(
            "datafusion slt {name} {} in {:.2?}",
            if errors.is_empty() { "ok" } else { "FAILED" },
            started.elapsed()
        );
        if errors.is_empty() {
            continue;
        }
        let baseline = run_plain_datafusion(&path).await;
        let verdict = if baseline.is_empty() {
            "passes on plain DataFusion, fails through our front end"
        } else {
            "fails on plain DataFusion too (take it off the list)"
        };
        failures.push(format!("{name}: {verdict}:\n{}", errors.join("\n\n")));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
