//! Reading stored version profiles: parquet's reader over the object store, a cursor per side
//! that checks each run as it comes, the merge that feeds the statistics (see `profile.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::Float64Type;
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStore, ObjectStoreExt};
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use datafusion_rollout_udfs::drift::profile::{NumericDrift, SideSummary};
use futures::FutureExt;
use futures::StreamExt;
use futures::future::BoxFuture;

use crate::error::{Error, Result};
use crate::store::Store;

/// Runs per written batch and per read batch.
pub(super) const BATCH: usize = 64 * 1024;

/// A stored profile, checked against what it says it holds.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub path: Path,
    pub size: u64,
    /// Numeric: the side's summary (`None`: no finite value). Categorical: the value count.
    pub summary: Option<SideSummary>,
    pub n: u64,
}

pub(super) fn profile_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Profile {
        path: path.to_string(),
        reason: e.to_string(),
    }
}

fn not_a_profile(path: &Path) -> Error {
    profile_error(
        path,
        "does not have the columns of a profile (value, count); delete it and it is computed again",
    )
}

/// A profile batch's value column and its counts.
fn columns<'a>(batch: &'a RecordBatch, path: &Path) -> Result<(&'a ArrayRef, &'a UInt64Array)> {
    match batch.columns() {
        [v, c] => match c.as_any().downcast_ref::<UInt64Array>() {
            Some(c) => Ok((v, c)),
            None => Err(not_a_profile(path)),
        },
        _ => Err(not_a_profile(path)),
    }
}

/// Parquet's reader over a profile in the object store (its size known from the listing).
pub(super) struct ProfileReader {
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
pub(super) async fn reader(
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
                    let (v, c) = columns(&batch, &self.path)?;
                    let Some(v) = v.as_primitive_opt::<Float64Type>() else {
                        return Err(not_a_profile(&self.path));
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
pub(super) async fn merge_into(
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

/// The category counts of both sides over the union of their categories, in byte order.
pub(super) async fn categories(
    store: &Store,
    base: &Stored,
    cand: &Stored,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut merged: std::collections::BTreeMap<String, [f64; 2]> = Default::default();
    for (side, stored) in [base, cand].into_iter().enumerate() {
        let (mut stream, _) = reader(store, &stored.path, stored.size).await?;
        let mut seen = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| profile_error(&stored.path, e))?;
            let (v, c) = columns(&batch, &stored.path)?;
            let Some(v) = v.as_string_opt::<i32>() else {
                return Err(not_a_profile(&stored.path));
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
