//! The compacted object: one day's events as one Parquet file, columns `kind`, `time`,
//! `dataset` and `event` (the event's JSON line exactly as written, so that kinds this version
//! does not know survive), with the names of the JSON-lines objects it holds in its key-value
//! metadata.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit, TimestampMicrosecondType};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;

use super::{Event, Parsed, lines_of, parse_line};
use crate::error::{Error, Result};

const SOURCES_KEY: &str = "rollout.events.sources";

/// One event as stored: its JSON line and what compaction sorts and filters by.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) kind: Option<String>,
    pub(super) time: Option<DateTime<Utc>>,
    pub(super) dataset: Option<String>,
    pub(super) event: String,
}

/// A JSON-lines object's events as rows, under the rules of [`super::parse_lines`]: an
/// object with a line that is not an event (of a known kind) is corrupt and not compacted.
pub(super) fn raw_lines(bytes: &[u8]) -> std::result::Result<Vec<Row>, String> {
    lines_of(bytes)?
        .into_iter()
        .map(|(n, line)| row_of(line).map_err(|e| format!("line {n}: {e}")))
        .collect()
}

fn row_of(line: &str) -> std::result::Result<Row, String> {
    match parse_line(line)? {
        Some(event) => Ok(Row {
            kind: Some(event.kind().to_string()),
            time: Some(event.time()),
            dataset: Some(event.dataset().to_string()),
            event: line.to_string(),
        }),
        // A kind of a newer version: kept as written.
        None => {
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
            let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            Ok(Row {
                kind: text("kind"),
                time: text("time").and_then(|t| t.parse().ok()),
                dataset: text("dataset"),
                event: line.to_string(),
            })
        }
    }
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("kind", DataType::Utf8, true),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("dataset", DataType::Utf8, true),
        Field::new("event", DataType::Utf8, false),
    ]))
}

fn parquet_error(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("compacted events: {e}"))
}

pub(super) fn write_compacted(rows: &[Row], sources: &HashSet<String>) -> Result<Vec<u8>> {
    let mut names: Vec<&String> = sources.iter().collect();
    names.sort();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.kind.as_deref()),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter(
                rows.iter().map(|r| r.time.map(|t| t.timestamp_micros())),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.dataset.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.event.as_str()),
        )),
    ];
    let batch = RecordBatch::try_new(schema(), columns)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            SOURCES_KEY.to_string(),
            serde_json::to_string(&names)?,
        )]))
        .build();
    let mut body = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut body, schema(), Some(props)).map_err(parquet_error)?;
    writer.write(&batch).map_err(parquet_error)?;
    writer.close().map_err(parquet_error)?;
    Ok(body)
}

/// A compacted object's rows and the names of the objects it holds.
pub(super) fn read_compacted(
    bytes: &bytes::Bytes,
) -> std::result::Result<(Vec<Row>, HashSet<String>), String> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).map_err(|e| e.to_string())?;
    let sources: Vec<String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == SOURCES_KEY))
        .and_then(|k| k.value.as_deref())
        .ok_or_else(|| format!("no {SOURCES_KEY} in its metadata"))
        .and_then(|v| serde_json::from_str(v).map_err(|e| e.to_string()))?;
    let reader = builder.build().map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("no column {name}"))
        };
        let (kind, time, dataset, event) = (
            column("kind")?
                .as_string_opt::<i32>()
                .ok_or("kind is not text")?,
            column("time")?
                .as_primitive_opt::<TimestampMicrosecondType>()
                .ok_or("time is not a timestamp")?,
            column("dataset")?
                .as_string_opt::<i32>()
                .ok_or("dataset is not text")?,
            column("event")?
                .as_string_opt::<i32>()
                .ok_or("event is not text")?,
        );
        for i in 0..batch.num_rows() {
            let text = |a: &datafusion::arrow::array::StringArray| {
                a.is_valid(i).then(|| a.value(i).to_string())
            };
            rows.push(Row {
                kind: text(kind),
                time: time
                    .is_valid(i)
                    .then(|| DateTime::from_timestamp_micros(time.value(i)))
                    .flatten(),
                dataset: text(dataset),
                event: event.value(i).to_string(),
            });
        }
    }
    Ok((rows, sources.into_iter().collect()))
}

/// A compacted object as the reader keeps it: its events and the objects it holds.
pub(super) fn parse_compacted(bytes: &bytes::Bytes) -> Parsed {
    let (rows, sources) = match read_compacted(bytes) {
        Ok(x) => x,
        Err(reason) => return Parsed::Corrupt(reason),
    };
    let mut events: Vec<Event> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        match parse_line(&row.event) {
            Ok(Some(e)) => events.push(e),
            Ok(None) => {}
            Err(e) => return Parsed::Corrupt(format!("row {}: {e}", i + 1)),
        }
    }
    Parsed::Compacted {
        events: Arc::new(events),
        sources: Arc::new(sources),
    }
}
