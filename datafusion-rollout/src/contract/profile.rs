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

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, RecordBatch, UInt64Array, UInt64Builder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::object_store::buffered::BufWriter;
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStore, ObjectStoreExt};
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use datafusion::parquet::arrow::async_writer::AsyncArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::{KeyValue, ParquetMetaData, ParquetMetaDataReader};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use datafusion_rollout_udfs::drift::profile::{
    Binning, Input, Metric, NumericDrift, NumericValues, SideSummary, SummaryBuilder,
    categorical_value, empty_side_error,
};
use futures::FutureExt;
use futures::StreamExt;
use futures::future::BoxFuture;

use crate::catalog::{PinnedFile, State, files_fingerprint};
use crate::error::{Error, Result};
use crate::sql::ident;
use crate::store::{PROFILE_DIR, Store};

/// Version of the file layout below (in each file's metadata).
const FORMAT: &str = "1";
/// Runs per written batch and per read batch.
const BATCH: usize = 64 * 1024;

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

/// A stored profile, checked against what it says it holds.
#[derive(Debug, Clone)]
struct Stored {
    path: Path,
    size: u64,
    /// Numeric: the side's summary (`None`: no finite value). Categorical: the value count.
    summary: Option<SideSummary>,
    n: u64,
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
        Err(e) => return Err(profile_error(&path, e)),
    }
    compute(ctx, store, path, key, column, kind).await
}

fn profile_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Profile {
        path: path.to_string(),
        reason: e.to_string(),
    }
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

/// Parquet's reader over a profile in the object store (its size known from the listing).
struct ProfileReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

fn parquet_io(e: datafusion::object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for ProfileReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(parquet_io)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(parquet_io)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// A reader of a stored profile, with its key-value metadata.
async fn reader(
    store: &Store,
    path: &Path,
    size: u64,
) -> Result<(
    ParquetRecordBatchStream<ProfileReader>,
    HashMap<String, String>,
)> {
    let r = ProfileReader {
        store: Arc::clone(store.object_store()),
        path: path.clone(),
        size,
    };
    let builder = ParquetRecordBatchStreamBuilder::new(r).await.map_err(|e| {
        profile_error(
            path,
            format!("cannot be read ({e}); delete it and it is computed again"),
        )
    })?;
    let kv: HashMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.clone()?)))
        .collect();
    let stream = builder
        .with_batch_size(BATCH)
        .build()
        .map_err(|e| profile_error(path, e))?;
    Ok((stream, kv))
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

/// One side's runs as they are read, checked as they come.
struct Cursor {
    /// Batches decoded ahead by a task of their own, so that both sides decode while the
    /// merge runs.
    batches: tokio::sync::mpsc::Receiver<datafusion::parquet::errors::Result<RecordBatch>>,
    path: Path,
    values: Vec<f64>,
    counts: Vec<u64>,
    at: usize,
    done: bool,
    last: f64,
    seen: u64,
    expected: u64,
}

impl Cursor {
    async fn open(store: &Store, stored: &Stored) -> Result<Self> {
        let (mut stream, _) = reader(store, &stored.path, stored.size).await?;
        let (tx, batches) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move {
            while let Some(batch) = stream.next().await {
                if tx.send(batch).await.is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            batches,
            path: stored.path.clone(),
            values: Vec::new(),
            counts: Vec::new(),
            at: 0,
            done: false,
            last: f64::NEG_INFINITY,
            seen: 0,
            expected: stored.n,
        })
    }

    /// Makes sure a run is buffered unless the file is exhausted.
    async fn fill(&mut self) -> Result<()> {
        while !self.done && self.at >= self.values.len() {
            match self.batches.recv().await {
                None => {
                    self.done = true;
                    if self.seen != self.expected {
                        return Err(profile_error(
                            &self.path,
                            format!(
                                "holds {} values where its metadata says {}; delete it and it is computed again",
                                self.seen, self.expected
                            ),
                        ));
                    }
                }
                Some(batch) => {
                    let batch = batch.map_err(|e| profile_error(&self.path, e))?;
                    let (Some(v), Some(c)) = (
                        batch.column(0).as_primitive_opt::<Float64Type>(),
                        batch.column(1).as_any().downcast_ref::<UInt64Array>(),
                    ) else {
                        return Err(profile_error(&self.path, "has unexpected column types"));
                    };
                    self.values.clear();
                    self.counts.clear();
                    self.values.extend_from_slice(v.values());
                    self.counts.extend_from_slice(c.values());
                    self.at = 0;
                    for (&x, &n) in self.values.iter().zip(&self.counts) {
                        if !(x.is_finite() && x > self.last && n > 0) || v.null_count() > 0 {
                            return Err(profile_error(
                                &self.path,
                                "is not a profile (values must be finite and ascending, counts positive); delete it and it is computed again",
                            ));
                        }
                        self.last = x;
                        self.seen += n;
                    }
                }
            }
        }
        Ok(())
    }

    fn peek(&self) -> Option<f64> {
        self.values.get(self.at).copied()
    }
}

/// Feeds `drift` the merged runs of both sides, every pass it needs.
async fn merge_into(
    store: &Store,
    base: &Stored,
    cand: &Stored,
    drift: &mut NumericDrift,
) -> Result<()> {
    for pass in 0..drift.passes() {
        let mut a = Cursor::open(store, base).await?;
        let mut b = Cursor::open(store, cand).await?;
        loop {
            a.fill().await?;
            b.fill().await?;
            if a.done && b.done && a.peek().is_none() && b.peek().is_none() {
                break;
            }
            // Merge until one side's buffered runs are used up (it is refilled before the next
            // comparison, whose value may equal the other side's).
            loop {
                let (x, y) = (a.peek(), b.peek());
                let v = match (x, y) {
                    (Some(x), Some(y)) => x.min(y),
                    (Some(x), None) if b.done => x,
                    (None, Some(y)) if a.done => y,
                    _ => break,
                };
                let mut ca = 0;
                let mut cb = 0;
                if x == Some(v) {
                    ca = a.counts[a.at];
                    a.at += 1;
                }
                if y == Some(v) {
                    cb = b.counts[b.at];
                    b.at += 1;
                }
                drift.visit(pass, v, ca, cb);
            }
        }
        drift.end_pass(pass);
    }
    Ok(())
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

/// The category counts of both sides over the union of their categories, in byte order.
async fn categories(store: &Store, base: &Stored, cand: &Stored) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut merged: std::collections::BTreeMap<String, [f64; 2]> = Default::default();
    for (side, stored) in [base, cand].into_iter().enumerate() {
        let (mut stream, _) = reader(store, &stored.path, stored.size).await?;
        let mut seen = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| profile_error(&stored.path, e))?;
            let (Some(v), Some(c)) = (
                batch.column(0).as_string_opt::<i32>(),
                batch.column(1).as_any().downcast_ref::<UInt64Array>(),
            ) else {
                return Err(profile_error(&stored.path, "has unexpected column types"));
            };
            for (v, &c) in v.iter().zip(c.values()) {
                let Some(v) = v else {
                    return Err(profile_error(&stored.path, "holds a NULL category"));
                };
                merged.entry(v.to_string()).or_default()[side] += c as f64;
                seen += c;
            }
        }
        if seen != stored.n {
            return Err(profile_error(
                &stored.path,
                format!(
                    "holds {seen} values where its metadata says {}; delete it and it is computed again",
                    stored.n
                ),
            ));
        }
    }
    Ok(merged.values().map(|c| (c[0], c[1])).unzip())
}
