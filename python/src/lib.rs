//! Python bindings for datafusion-rollout, built with maturin as `datafusion_rollout._native`.
//!
//! - [`Session`] wraps a [`RolloutContext`]: `sql(text)` runs any statement (ours and
//!   DataFusion's) with the GIL released, on a tokio runtime this module owns, polling for
//!   signals so that Ctrl-C / a kernel interrupt stops a long query.
//! - [`QueryResult`] holds the Arrow batches and exports them through the Arrow PyCapsule
//!   interface (`__arrow_c_stream__`), so pyarrow, pandas and polars read them without copies.
//! - Errors raise one exception class per kind, all subclasses of `RolloutError`.
//! - [`ffi`] exposes the store, the functions and the `rollout.*` settings to a
//!   `datafusion.SessionContext` of datafusion-python, as `datafusion-ffi` capsules.

mod ffi;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arrow::ffi::FFI_ArrowSchema;
use arrow::ffi_stream::FFI_ArrowArrayStream;
use datafusion::arrow::array::{RecordBatch, RecordBatchIterator};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion_rollout::signals::{MetricReport, report_metric};
use datafusion_rollout::{
    Consistency, Controller, Error, ErrorKind, RolloutContext, RolloutOptions, Secret,
};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

create_exception!(
    datafusion_rollout,
    RolloutError,
    PyException,
    "Base class of every datafusion-rollout error."
);
create_exception!(
    datafusion_rollout,
    ParseError,
    RolloutError,
    "A statement could not be parsed (the message carries the position)."
);
create_exception!(
    datafusion_rollout,
    NotFoundError,
    RolloutError,
    "A dataset, version, cohort or table does not exist."
);
create_exception!(
    datafusion_rollout,
    GuardFailedError,
    RolloutError,
    "A PROMOTE/ADVANCE was refused because a guard (contract, drift) failed."
);
create_exception!(
    datafusion_rollout,
    ConcurrentModificationError,
    RolloutError,
    "Other writers kept committing first; retry the statement."
);
create_exception!(
    datafusion_rollout,
    AssertionFailedError,
    RolloutError,
    "An ASSERT whose condition was not true."
);

create_exception!(
    datafusion_rollout,
    AuthenticationError,
    RolloutError,
    "Credentials were missing, wrong or expired (the message never says which users exist)."
);
create_exception!(
    datafusion_rollout,
    PermissionDeniedError,
    RolloutError,
    "The logged-in user lacks a privilege; the message names it. Nothing was changed."
);

/// The runtime every query of this module runs on (the module's own copy of tokio).
pub fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .thread_name("datafusion-rollout")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| RolloutError::new_err(format!("cannot start the tokio runtime: {e}")))
}

/// How often a running query checks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Runs `fut` on the module's runtime with the GIL released. Every [`SIGNAL_POLL`] the GIL is
/// taken back to run Python's signal handlers; if one raises (KeyboardInterrupt), the query
/// task is aborted and the exception propagates.
pub fn run<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime()?;
    let mut handle = rt.spawn(fut);
    loop {
        // The timer must be created inside the runtime (it needs its time driver).
        let polled = py
            .detach(|| rt.block_on(async { tokio::time::timeout(SIGNAL_POLL, &mut handle).await }));
        match polled {
            Ok(Ok(result)) => return result.map_err(to_py_err),
            Ok(Err(join)) => {
                return Err(RolloutError::new_err(format!(
                    "the query task failed: {join}"
                )));
            }
            Err(_elapsed) => {
                if let Err(interrupt) = py.check_signals() {
                    handle.abort();
                    return Err(interrupt);
                }
            }
        }
    }
}

/// The Python exception for a library error: the class says what kind, the message is the
/// one the shell prints.
pub fn to_py_err(e: Error) -> PyErr {
    let message = e.user_message();
    match e.kind() {
        ErrorKind::Parse => ParseError::new_err(message),
        ErrorKind::NotFound => NotFoundError::new_err(message),
        ErrorKind::Conflict => ConcurrentModificationError::new_err(message),
        ErrorKind::Unauthenticated => AuthenticationError::new_err(message),
        ErrorKind::PermissionDenied => PermissionDeniedError::new_err(message),
        ErrorKind::DataCheck if matches!(e, Error::AssertionFailed { .. }) => {
            AssertionFailedError::new_err(message)
        }
        // A guard that failed, or a version its contract rejected.
        ErrorKind::DataCheck => GuardFailedError::new_err(message),
        _ => RolloutError::new_err(message),
    }
}

/// One controller decision as Python sees it: (dataset, version, decision, sequence, detail).
type RoundDecision = (String, String, String, Option<u64>, String);

/// A session on a rollout store: `sql()` runs our statements and DataFusion's.
#[pyclass(module = "datafusion_rollout", name = "Session", frozen)]
pub struct Session {
    ctx: RolloutContext,
}

impl Session {
    /// The Rust context (used by the FFI layer).
    pub fn context(&self) -> &RolloutContext {
        &self.ctx
    }
}

#[pymethods]
impl Session {
    /// Runs every statement in `text` in order and returns the result of the last one,
    /// collected. The GIL is released meanwhile; Ctrl-C interrupts.
    fn sql(&self, py: Python<'_>, text: String) -> PyResult<QueryResult> {
        let ctx = self.ctx.clone();
        run(py, async move {
            let outcome = ctx.run(&text).await?;
            let sequence = outcome.sequence();
            let kind = outcome.name();
            let df = outcome.into_frame(ctx.session())?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            Ok(QueryResult {
                schema,
                batches,
                outcome: kind,
                sequence,
            })
        })
    }

    /// Reports one observation of an outcome metric for `dataset`'s rollout, attributed to the
    /// version and arm `consumer` (default: the session's consumer) resolves at `at` (a
    /// `datetime`, default now). Returns the (version, arm) it was attributed to.
    #[pyo3(signature = (name, value, dataset, consumer = None, at = None))]
    fn report_metric(
        &self,
        py: Python<'_>,
        name: String,
        value: f64,
        dataset: String,
        consumer: Option<String>,
        at: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(String, String)> {
        let at = at.map(timestamp_of).transpose()?;
        let ctx = self.ctx.clone();
        run(py, async move {
            let settings = ctx.settings();
            let report = MetricReport {
                dataset,
                name,
                value,
                consumer: consumer.or(settings.consumer),
                cohort: settings.cohort,
                at,
            };
            let event = report_metric(ctx.store(), &report, &ctx.actor()).await?;
            Ok((event.version, event.arm.as_str().to_string()))
        })
    }

    /// Runs one controller round over the store's self-running (`AUTO`) rollouts: evaluates
    /// their live guards, advances or rolls back, records the evaluation. Returns one
    /// `(dataset, version, decision, sequence, detail)` per rollout; `sequence` is the log
    /// entry a decision committed (None when it waited). Call it on a timer (what
    /// `rollout watch` does).
    #[pyo3(signature = (controller = "python"))]
    fn controller_round(&self, py: Python<'_>, controller: &str) -> PyResult<Vec<RoundDecision>> {
        let ctx = self.ctx.clone();
        let id = controller.to_string();
        run(py, async move {
            let round = Controller::new(ctx, id).round().await?;
            Ok(round
                .decisions
                .into_iter()
                .map(|d| (d.dataset, d.version, d.decision, d.sequence, d.detail))
                .collect())
        })
    }

    /// Writes buffered events (reads, metrics) to the store now; returns how many. They are
    /// also written every few seconds, and by `close()`.
    fn flush_events(&self, py: Python<'_>) -> PyResult<usize> {
        let ctx = self.ctx.clone();
        run(py, async move { ctx.flush_events().await })
    }

    /// Flushes buffered events. Call it (or use the session as a context manager) before the
    /// process exits: events still buffered when a process dies are lost.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let ctx = self.ctx.clone();
        run(py, async move { ctx.close().await })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// The consumer reads resolve for (`rollout.consumer`), or None.
    #[getter]
    fn consumer(&self) -> Option<String> {
        self.ctx.consumer()
    }

    #[setter]
    fn set_consumer(&self, consumer: Option<String>) -> PyResult<()> {
        self.ctx
            .set_consumer(consumer.as_deref())
            .map_err(to_py_err)
    }

    /// The cohort this session joined explicitly (`rollout.cohort`), or None.
    #[getter]
    fn cohort(&self) -> Option<String> {
        self.ctx.settings().cohort
    }

    #[setter]
    fn set_cohort(&self, cohort: Option<String>) -> PyResult<()> {
        self.ctx.set_cohort(cohort.as_deref()).map_err(to_py_err)
    }

    /// Who is recorded in the history as making changes.
    #[getter]
    fn actor(&self) -> String {
        self.ctx.actor().to_string()
    }

    /// The store's URL.
    #[getter]
    fn store_url(&self) -> String {
        self.ctx.store_url()
    }

    fn __repr__(&self) -> String {
        format!(
            "Session(store={:?}, consumer={:?}, cohort={:?})",
            self.ctx.store_url(),
            self.ctx.consumer(),
            self.ctx.settings().cohort
        )
    }
}

/// The collected result of a statement. Exports the Arrow C stream interface.
#[pyclass(module = "datafusion_rollout", name = "Result", frozen)]
pub struct QueryResult {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    /// What the statement did (`query`, `committed`, `unchanged`, `checked`, `setting`, `done`).
    outcome: &'static str,
    /// The log sequence a commit landed at.
    sequence: Option<u64>,
}

#[pymethods]
impl QueryResult {
    /// Arrow PyCapsule interface: an `ArrowArrayStream` over the result's batches (no copy).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The requested schema is a hint; consumers cast if they need to.
        let _ = requested_schema;
        let reader = RecordBatchIterator::new(
            self.batches.clone().into_iter().map(Ok),
            Arc::clone(&self.schema),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(reader));
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }

    /// Arrow PyCapsule interface: the result's schema.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = FFI_ArrowSchema::try_from(self.schema.as_ref())
            .map_err(|e| to_py_err(Error::from(e)))?;
        PyCapsule::new_with_value(py, schema, c"arrow_schema")
    }

    /// What the statement did: `"query"`, `"committed"`, `"unchanged"`, `"checked"`,
    /// `"setting"` or `"done"`.
    #[getter]
    fn outcome(&self) -> &'static str {
        self.outcome
    }

    /// The history sequence a commit landed at, or None.
    #[getter]
    fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    /// The number of rows.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The column names.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __len__(&self) -> usize {
        self.num_rows()
    }

    /// A `pyarrow.Table` (zero-copy, through the C stream).
    fn to_arrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py()
            .import("pyarrow")?
            .call_method1("table", (slf.clone(),))
    }

    /// A `pandas.DataFrame` (through pyarrow).
    fn to_pandas<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::to_arrow(slf)?.call_method0("to_pandas")
    }

    /// A `polars.DataFrame` (through the C stream).
    fn to_polars<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let table = Self::to_arrow(slf)?;
        slf.py()
            .import("polars")?
            .call_method1("from_arrow", (table,))
    }

    /// A list of rows, each a dict (small results; for checks in scripts).
    fn to_pylist<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::to_arrow(slf)?.call_method0("to_pylist")
    }

    fn __repr__(&self) -> PyResult<String> {
        const SHOWN: usize = 20;
        let total = self.num_rows();
        let mut shown = Vec::new();
        let mut left = SHOWN;
        for batch in &self.batches {
            if left == 0 {
                break;
            }
            let take = batch.num_rows().min(left);
            shown.push(batch.slice(0, take));
            left -= take;
        }
        let table = if shown.is_empty() {
            let names = self.column_names();
            format!("(no rows; columns: {})", names.join(", "))
        } else {
            pretty_format_batches(&shown)
                .map_err(|e| to_py_err(Error::from(e)))?
                .to_string()
        };
        let more = if total > SHOWN {
            format!("\n({total} rows, {SHOWN} shown)")
        } else {
            String::new()
        };
        Ok(format!("{table}{more}"))
    }
}

/// A `datetime` (naive ones are UTC) or an ISO 8601 / RFC 3339 string, as a UTC time.
fn timestamp_of(value: &Bound<'_, PyAny>) -> PyResult<chrono::DateTime<chrono::Utc>> {
    let text: String = if value.hasattr("isoformat")? {
        value.call_method0("isoformat")?.extract()?
    } else {
        value.extract()?
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f"))
        .map(|t| t.and_utc())
        .map_err(|_| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "at: expected a datetime or an ISO 8601 time, got '{text}'"
            ))
        })
}

/// Opens (or creates) the store at `store` (a path, `file://`, `memory://name`, `s3://...`).
#[pyfunction]
#[pyo3(signature = (store, consumer = None, cohort = None, actor = None, record_reads = true, consistency = "statement", user = None, password = None, token = None, cluster = None))]
#[allow(clippy::too_many_arguments)]
fn connect(
    py: Python<'_>,
    store: String,
    consumer: Option<String>,
    cohort: Option<String>,
    actor: Option<String>,
    record_reads: bool,
    consistency: &str,
    user: Option<String>,
    password: Option<String>,
    token: Option<String>,
    cluster: Option<String>,
) -> PyResult<Session> {
    let consistency = match consistency {
        "statement" => Consistency::Statement,
        "session" => Consistency::Session,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "consistency is 'statement' or 'session', not '{other}'"
            )));
        }
    };
    let state_hook = match cluster {
        Some(cluster) => Some(
            rollout_cluster::cluster_hook(&cluster)
                .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("cluster: {e}")))?,
        ),
        None => None,
    };
    let options = RolloutOptions {
        consumer,
        cohort,
        state_hook,
        actor,
        record_reads,
        consistency,
        user,
        password: password.map(Secret::new),
        token: token.map(Secret::new),
        ..Default::default()
    };
    let ctx = run(py, async move {
        RolloutContext::open_with(&store, options).await
    })?;
    Ok(Session { ctx })
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    m.add_class::<Session>()?;
    m.add_class::<QueryResult>()?;
    m.add_class::<ffi::PyRolloutCatalog>()?;
    m.add_class::<ffi::PyRolloutTable>()?;
    m.add_class::<ffi::PyRolloutConfig>()?;
    m.add_class::<ffi::PyAggregateFunction>()?;
    m.add_class::<ffi::PyScalarFunction>()?;
    m.add_function(wrap_pyfunction!(ffi::all_functions, m)?)?;
    m.add("RolloutError", py.get_type::<RolloutError>())?;
    m.add("ParseError", py.get_type::<ParseError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("GuardFailedError", py.get_type::<GuardFailedError>())?;
    m.add(
        "ConcurrentModificationError",
        py.get_type::<ConcurrentModificationError>(),
    )?;
    m.add(
        "AssertionFailedError",
        py.get_type::<AssertionFailedError>(),
    )?;
    m.add("AuthenticationError", py.get_type::<AuthenticationError>())?;
    m.add(
        "PermissionDeniedError",
        py.get_type::<PermissionDeniedError>(),
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
