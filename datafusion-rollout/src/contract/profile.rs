//! Version profiles: a column of a version as its distinct values in ascending order with how
//! often each occurs, computed once and stored beside the version, so that drift against a
//! version reads its profile instead of rescanning it.
//!
//! - **Where:** `_rollout_profiles/<dataset>/<version>-<fingerprint>/<column key>.<kind>.parquet`.
//!   The fingerprint hashes the version's pinned files (URL, size, e-tag, modification time), so
//!   a version dropped and registered again over other files never meets an old profile.
//! - **What:** numeric columns (read as DOUBLE, NULL / NaN / ±inf left out, -0.0 as 0.0) as
//!   `(value DOUBLE, count UBIGINT)` runs, with the side's size, distinct count, extremes and
//!   in-order sum in the file's key-value metadata; text and boolean columns as
//!   `(value VARCHAR, count UBIGINT)` per category in byte order.
//! - **How:** a DataFusion `ORDER BY` (numeric) or `GROUP BY ... ORDER BY` (categorical) over the
//!   version's pinned table, so a profile larger than memory spills through DataFusion's
//!   external sort under the session's memory limit; the runs are written as they stream out.
//! - **Reading:** numeric drift merges the two sides' files in one streaming pass (two for decile
//!   bins) and never holds the values ([`NumericDrift`]); each file is checked as it is read
//!   (ascending, finite, counts adding up to its recorded size) and a file that does not is an
//!   error naming it.
//!
//! Versions are immutable, so nothing invalidates a profile. A profile is derived data: it is
//! not pinned in the log, and object-store permissions must protect `_rollout_profiles/` as they
//! protect the log.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Builder, RecordBatch, UInt64Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::object_store::ObjectStoreExt;
use datafusion::object_store::buffered::BufWriter;
use datafusion::object_store::path::Path;
use datafusion::parquet::arrow::async_writer::AsyncArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use datafusion_rollout_udfs::drift::profile::{
    Binning, Input, Metric, NumericDrift, NumericValues, SideSummary, SummaryBuilder,
    categorical_value, empty_side_error,
};
use futures::StreamExt;

use crate::catalog::{PinnedFile, State, files_fingerprint};
use crate::error::{Error, Result};
use crate::sql::ident;
use crate::store::{PROFILE_DIR, Store};

use super::profile_read::{BATCH, Stored, categories, merge_into, profile_error, reader};

/// Version of the file layout below (in each file's metadata).
const FORMAT: &str = "1";

/// `"orders@v2"`: the pinned table of a version in the session's default schema.
pub(crate) fn pinned_table(dataset: &str, version: &str) -> String {
    format!("\"{dataset}{}{version}\"", crate::resolve::PIN_SEPARATOR)
}

/// A version as profiles know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionKey {
    pub dataset: String,
    pub version: String,
    fingerprint: String,
    /// The SQL table a profile of it is computed from.
    table: String,
}

impl VersionKey {
    /// The key of a registered version of `dataset`, profiled through its pinned table.
    pub fn of(state: &State, dataset: &str, version: &str) -> Result<Self> {
        let v = state.version(dataset, version)?;
        Ok(Self {
            dataset: dataset.to_string(),
            version: version.to_string(),
            fingerprint: v.fingerprint(),
            table: pinned_table(dataset, version),
        })
    }

    /// The key a version being registered over `files` will have, profiled through `table`
    /// (the statement's temporary table over those files): its profiles are found again once
    /// it is registered.
    pub fn registering(dataset: &str, version: &str, files: &[PinnedFile], table: String) -> Self {
        Self {
            dataset: dataset.to_string(),
            version: version.to_string(),
            fingerprint: files_fingerprint(files),
            table,
        }
    }

    fn describe(&self) -> String {
        format!("{} '{}'", self.dataset, self.version)
    }
}

/// How a column is profiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Numeric,
    Categorical,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Categorical => "categorical",
        }
    }
}

fn profile_schema(kind: Kind) -> SchemaRef {
    let value = match kind {
        Kind::Numeric => DataType::Float64,
        Kind::Categorical => DataType::Utf8,
    };
    Arc::new(Schema::new(vec![
        Field::new("value", value, false),
        Field::new("count", DataType::UInt64, false),
    ]))
}

/// Where the profile of `column` of a version lives, relative to the store's root.
fn relative_path(key: &VersionKey, column: &str, kind: Kind) -> String {
    let column_key = &blake3::hash(column.as_bytes()).to_hex()[..24];
    format!(
        "{PROFILE_DIR}/{}/{}-{}/{column_key}.{}.parquet",
        key.dataset,
        key.version,
        key.fingerprint,
        kind.name()
    )
}

fn bits(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

fn unbits(s: &str) -> Option<f64> {
    u64::from_str_radix(s, 16).ok().map(f64::from_bits)
}

/// Computes or opens the profile of `column` of a version.
async fn ensure(
    ctx: &SessionContext,
    store: &Store,
    key: &VersionKey,
    column: &str,
    kind: Kind,
) -> Result<Stored> {
    let path = store.path_of(&relative_path(key, column, kind));
    match store.object_store().head(&path).await {
        Ok(meta) => return open(store, path, meta.size, key, column, kind).await,
        Err(datafusion::object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    compute(ctx, store, path, key, column, kind).await
}

/// The session a profile query runs in: the caller's, except under a memory limit L, where
/// the sort runs as one partition that keeps L / 2 for merging what it spilled. A partition
/// sorts what it buffered before spilling it, which takes as much again; with several
/// partitions under DataFusion's greedy pool one may buffer all that the others left and find
/// no room to sort it. Measured on two versions of 300 M doubles under 4 GB: the default (two
/// partitions, 10 MB set aside) and two partitions with L / 3 each set aside both failed; one
/// partition with L / 2 completes. Without a limit the caller's session is used as it is.
fn profile_session(ctx: &SessionContext) -> SessionContext {
    let MemoryLimit::Finite(limit) = ctx.runtime_env().memory_pool.memory_limit() else {
        return ctx.clone();
    };
    let mut state = ctx.state();
    let options = state.config_mut().options_mut();
    options.execution.target_partitions = 1;
    options.execution.sort_spill_reservation_bytes = (limit / 2).max(1 << 20);
    SessionContext::new_with_state(state)
}

/// Runs the profile query of `column` over the version and writes its runs as they stream out.
async fn compute(
    ctx: &SessionContext,
    store: &Store,
    path: Path,
    key: &VersionKey,
    column: &str,
    kind: Kind,
) -> Result<Stored> {
    let c = ident(column);
    let table = &key.table;
    let sql = match kind {
        Kind::Numeric => {
            format!("SELECT CAST({c} AS DOUBLE) AS v FROM {table} WHERE {c} IS NOT NULL ORDER BY v")
        }
        Kind::Categorical => format!(
            "SELECT CAST({c} AS VARCHAR) AS v, count(*) AS n FROM {table} WHERE {c} IS NOT NULL \
             GROUP BY 1 ORDER BY 1"
        ),
    };
    let mut rows = profile_session(ctx)
        .sql(&sql)
        .await?
        .execute_stream()
        .await?;
    let schema = profile_schema(kind);
    let writer = BufWriter::new(Arc::clone(store.object_store()), path.clone());
    // Sorted values and counts that are mostly 1 compress well; zstd's fastest level.
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut out = AsyncArrowWriter::try_new(writer, Arc::clone(&schema), Some(props))
        .map_err(|e| profile_error(&path, e))?;
    let mut summary = SummaryBuilder::default();
    let mut n = 0u64;
    match kind {
        Kind::Numeric => {
            let mut runs = NumericRuns::new(Arc::clone(&schema));
            while let Some(batch) = rows.next().await {
                let batch = batch?;
                let v = batch.column(0).as_primitive::<Float64Type>();
                for x in v.iter().flatten() {
                    if x.is_finite() {
                        runs.push(x + 0.0, &mut summary);
                    }
                }
                if let Some(b) = runs.take_full()? {
                    out.write(&b).await.map_err(|e| profile_error(&path, e))?;
                }
            }
            if let Some(b) = runs.finish(&mut summary)? {
                out.write(&b).await.map_err(|e| profile_error(&path, e))?;
            }
        }
        Kind::Categorical => {
            while let Some(batch) = rows.next().await {
                let batch = batch?;
                let v = cast(batch.column(0), &DataType::Utf8)?;
                let counts = cast(batch.column(1), &DataType::UInt64)?;
                let counts = counts.as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
                n += counts.values().iter().sum::<u64>();
                let b =
                    RecordBatch::try_new(Arc::clone(&schema), vec![v, Arc::new(counts.clone())])?;
                out.write(&b).await.map_err(|e| profile_error(&path, e))?;
            }
        }
    }
    let summary = summary.finish();
    if let Some(s) = &summary {
        n = s.n;
    }
    let mut kv = vec![
        ("rollout.profile.format", FORMAT.to_string()),
        ("rollout.profile.kind", kind.name().to_string()),
        ("rollout.profile.column", column.to_string()),
        ("rollout.profile.n", n.to_string()),
    ];
    if let Some(s) = &summary {
        kv.push(("rollout.profile.distinct", s.distinct.to_string()));
        kv.push(("rollout.profile.min", bits(s.min)));
        kv.push(("rollout.profile.max", bits(s.max)));
        kv.push(("rollout.profile.sum", bits(s.sum)));
    }
    for (k, v) in kv {
        out.append_key_value_metadata(KeyValue::new(k.to_string(), v));
    }
    out.close().await.map_err(|e| profile_error(&path, e))?;
    let size = store
        .object_store()
        .head(&path)
        .await
        .map_err(|e| profile_error(&path, e))?
        .size;
    Ok(Stored {
        path,
        size,
        summary,
        n,
    })
}

/// Run-length encoding of an ascending stream of values into batches of runs.
struct NumericRuns {
    schema: SchemaRef,
    current: Option<(f64, u64)>,
    values: Float64Builder,
    counts: UInt64Builder,
}

impl NumericRuns {
    fn new(schema: SchemaRef) -> Self {
        Self {
            schema,
            current: None,
            values: Float64Builder::with_capacity(BATCH),
            counts: UInt64Builder::with_capacity(BATCH),
        }
    }

    fn push(&mut self, x: f64, summary: &mut SummaryBuilder) {
        match &mut self.current {
            Some((v, c)) if *v == x => *c += 1,
            _ => {
                if let Some((v, c)) = self.current.replace((x, 1)) {
                    summary.push(v, c);
                    self.values.append_value(v);
                    self.counts.append_value(c);
                }
            }
        }
    }

    fn batch(&mut self) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.values.finish()),
            Arc::new(self.counts.finish()),
        ];
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), cols)?)
    }

    fn take_full(&mut self) -> Result<Option<RecordBatch>> {
        if self.values.values_slice().len() >= BATCH {
            self.batch().map(Some)
        } else {
            Ok(None)
        }
    }

    fn finish(&mut self, summary: &mut SummaryBuilder) -> Result<Option<RecordBatch>> {
        if let Some((v, c)) = self.current.take() {
            summary.push(v, c);
            self.values.append_value(v);
            self.counts.append_value(c);
        }
        if self.values.values_slice().is_empty() {
            Ok(None)
        } else {
            self.batch().map(Some)
        }
    }
}

/// Opens a stored profile and checks that it is the profile asked for.
async fn open(
    store: &Store,
    path: Path,
    size: u64,
    key: &VersionKey,
    column: &str,
    kind: Kind,
) -> Result<Stored> {
    let (_, kv) = reader(store, &path, size).await?;
    let get = |k: &str| kv.get(&format!("rollout.profile.{k}")).map(String::as_str);
    let bad = |what: &str| {
        profile_error(
            &path,
            format!(
                "is not a valid profile of column '{column}' of {} ({what}); delete it and it is computed again",
                key.describe()
            ),
        )
    };
    if get("format") != Some(FORMAT) {
        return Err(bad("unknown format"));
    }
    if get("kind") != Some(kind.name()) || get("column") != Some(column) {
        return Err(bad("it profiles another column"));
    }
    let n: u64 = get("n")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no value count"))?;
    let summary = match (kind, n) {
        (Kind::Numeric, n) if n > 0 => {
            let f = |k: &str| get(k).and_then(unbits).ok_or_else(|| bad("no summary"));
            Some(SideSummary {
                n,
                distinct: get("distinct")
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad("no distinct count"))?,
                min: f("min")?,
                max: f("max")?,
                sum: f("sum")?,
            })
        }
        _ => None,
    };
    Ok(Stored {
        path,
        size,
        summary,
        n,
    })
}

/// A drift statistic of a column between two registered versions, from their profiles
/// (computed and stored on first use).
#[derive(Debug, Clone)]
pub(crate) enum DriftValue {
    /// Every statistic the metric asked for.
    Numeric(NumericValues),
    /// Counts per category (union of both sides, byte order): baseline, candidate.
    Categorical(Vec<f64>, Vec<f64>),
}

impl DriftValue {
    /// The value of `metric` (`None` for `drift_summary`, or a metric not computed or not
    /// defined for the input).
    pub fn get(&self, metric: Metric, binning: Binning) -> Option<f64> {
        match self {
            DriftValue::Numeric(v) => v.get(metric),
            DriftValue::Categorical(ca, cb) => categorical_value(metric, binning, ca, cb).ok(),
        }
    }
}

/// What to compute: the function as the user named it (for errors), its metric and binning.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat<'a> {
    pub function: &'a str,
    pub metric: Metric,
    pub binning: Binning,
}

/// `stat` of `column` (of type `t` as both versions are read) between `base` and `cand`.
pub(crate) async fn drift(
    ctx: &SessionContext,
    store: &Store,
    (base, cand): (&VersionKey, &VersionKey),
    column: &str,
    t: &DataType,
    stat: Stat<'_>,
) -> Result<DriftValue> {
    let Some(input) = datafusion_rollout_udfs::drift::profile::input(stat.metric, t) else {
        return Err(datafusion::error::DataFusionError::Plan(format!(
            "{}: unsupported value type {t} (column '{column}')",
            stat.function
        ))
        .into());
    };
    let kind = match input {
        Input::Numeric { .. } => Kind::Numeric,
        Input::Categorical => Kind::Categorical,
    };
    let b = ensure(ctx, store, base, column, kind).await?;
    let c = ensure(ctx, store, cand, column, kind).await?;
    if b.n == 0 {
        return Err(empty_side_error(stat.function, false).into());
    }
    if c.n == 0 {
        return Err(empty_side_error(stat.function, true).into());
    }
    match (input, b.summary, c.summary) {
        (Input::Numeric { integer }, Some(bs), Some(cs)) => {
            let mut d = NumericDrift::new(stat.metric, stat.binning, integer, bs, cs);
            merge_into(store, &b, &c, &mut d).await?;
            Ok(DriftValue::Numeric(d.finish()))
        }
        (Input::Categorical, ..) => {
            let (ca, cb) = categories(store, &b, &c).await?;
            Ok(DriftValue::Categorical(ca, cb))
        }
        _ => Err(Error::internal("a numeric profile without its summary")),
    }
}
