//! `rollout_reads(['orders'])` and `rollout_metrics(['orders'])`: the events as tables.
//!
//! Each scan reads the events folder (objects already parsed are kept) plus this process's
//! buffer, so a query sees its own process's reads at once and other processes' after their
//! next flush. Corrupt event objects are skipped (`SHOW EXPOSURE` names them).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use crate::catalog::Privilege;
use crate::resolve::{RolloutConfig, reading_principal};
use crate::store::{DeliveryEvent, EvaluationEvent, Event, MetricEvent, ReadEvent, Store};

/// Which events a table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTable {
    /// `rollout_reads`: one row per scan of a dataset through its name.
    Reads,
    /// `rollout_metrics`: one row per reported metric observation.
    Metrics,
    /// `rollout_evaluations`: one row per controller round and live rollout.
    Evaluations,
    /// `rollout_deliveries`: one row per notification delivery (after its retries).
    Deliveries,
}

impl EventTable {
    /// The table function's name.
    pub fn name(self) -> &'static str {
        match self {
            EventTable::Reads => "rollout_reads",
            EventTable::Metrics => "rollout_metrics",
            EventTable::Evaluations => "rollout_evaluations",
            EventTable::Deliveries => "rollout_deliveries",
        }
    }

    /// The table's columns.
    pub fn schema(self) -> SchemaRef {
        let time = Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        );
        let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
        Arc::new(Schema::new(match self {
            EventTable::Reads => vec![
                time,
                text("dataset", false),
                text("version", false),
                text("arm", false),
                text("consumer", true),
                Field::new("rows", DataType::UInt64, true),
                Field::new("elapsed_ms", DataType::Float64, false),
                text("error", true),
                text("reason", false),
            ],
            EventTable::Metrics => vec![
                time,
                text("dataset", false),
                text("metric", false),
                Field::new("value", DataType::Float64, false),
                text("version", false),
                text("arm", false),
                text("consumer", true),
                text("reported_by", false),
            ],
            EventTable::Evaluations => vec![
                time,
                text("dataset", false),
                text("version", false),
                Field::new("stage", DataType::UInt64, false),
                text("decision", false),
                Field::new("consecutive_failures", DataType::UInt64, false),
                text("checks", false),
                text("controller", false),
            ],
            EventTable::Deliveries => vec![
                time,
                text("dataset", false),
                text("notification", false),
                text("event", false),
                Field::new("sequence", DataType::UInt64, true),
                Field::new("delivered", DataType::Boolean, false),
                Field::new("attempts", DataType::UInt64, false),
                Field::new("status", DataType::UInt64, true),
                text("error", true),
                text("url", false),
            ],
        }))
    }

    /// The rows of the events whose dataset `shown` accepts.
    fn batch(self, events: &[Event], shown: &dyn Fn(&str) -> bool) -> Result<RecordBatch> {
        let keep = |e: &&Event| shown(e.dataset());
        let columns: Vec<ArrayRef> = match self {
            EventTable::Reads => {
                let rows: Vec<&ReadEvent> = events
                    .iter()
                    .filter(keep)
                    .filter_map(|e| match e {
                        Event::Read(r) => Some(r),
                        _ => None,
                    })
                    .collect();
                vec![
                    times(rows.iter().map(|r| r.time.timestamp_millis())),
                    texts(rows.iter().map(|r| Some(r.dataset.as_str()))),
                    texts(rows.iter().map(|r| Some(r.version.as_str()))),
                    texts(rows.iter().map(|r| Some(r.arm.as_str()))),
                    texts(rows.iter().map(|r| r.consumer.as_deref())),
                    Arc::new(rows.iter().map(|r| r.rows).collect::<UInt64Array>()),
                    Arc::new(
                        rows.iter()
                            .map(|r| Some(r.elapsed_ms))
                            .collect::<Float64Array>(),
                    ),
                    texts(rows.iter().map(|r| r.error.as_deref())),
                    texts(rows.iter().map(|r| Some(r.reason.as_str()))),
                ]
            }
            EventTable::Metrics => {
                let rows: Vec<&MetricEvent> = events
                    .iter()
                    .filter(keep)
                    .filter_map(|e| match e {
                        Event::Metric(m) => Some(m),
                        _ => None,
                    })
                    .collect();
                vec![
                    times(rows.iter().map(|m| m.time.timestamp_millis())),
                    texts(rows.iter().map(|m| Some(m.dataset.as_str()))),
                    texts(rows.iter().map(|m| Some(m.name.as_str()))),
                    Arc::new(rows.iter().map(|m| Some(m.value)).collect::<Float64Array>()),
                    texts(rows.iter().map(|m| Some(m.version.as_str()))),
                    texts(rows.iter().map(|m| Some(m.arm.as_str()))),
                    texts(rows.iter().map(|m| m.consumer.as_deref())),
                    texts(rows.iter().map(|m| Some(m.reported_by.as_str()))),
                ]
            }
            EventTable::Evaluations => {
                let rows: Vec<&EvaluationEvent> = events
                    .iter()
                    .filter(keep)
                    .filter_map(|e| match e {
                        Event::Evaluation(v) => Some(v),
                        _ => None,
                    })
                    .collect();
                let checks: Vec<String> = rows
                    .iter()
                    .map(|v| serde_json::Value::Array(v.checks.clone()).to_string())
                    .collect();
                vec![
                    times(rows.iter().map(|v| v.time.timestamp_millis())),
                    texts(rows.iter().map(|v| Some(v.dataset.as_str()))),
                    texts(rows.iter().map(|v| Some(v.version.as_str()))),
                    Arc::new(
                        rows.iter()
                            .map(|v| Some(v.stage as u64))
                            .collect::<UInt64Array>(),
                    ),
                    texts(rows.iter().map(|v| Some(v.decision.as_str()))),
                    Arc::new(
                        rows.iter()
                            .map(|v| Some(u64::from(v.consecutive_failures)))
                            .collect::<UInt64Array>(),
                    ),
                    texts(checks.iter().map(|c| Some(c.as_str()))),
                    texts(rows.iter().map(|v| Some(v.controller.as_str()))),
                ]
            }
            EventTable::Deliveries => {
                let rows: Vec<&DeliveryEvent> = events
                    .iter()
                    .filter(keep)
                    .filter_map(|e| match e {
                        Event::Delivery(d) => Some(d),
                        _ => None,
                    })
                    .collect();
                vec![
                    times(rows.iter().map(|d| d.time.timestamp_millis())),
                    texts(rows.iter().map(|d| Some(d.dataset.as_str()))),
                    texts(rows.iter().map(|d| Some(d.notification.as_str()))),
                    texts(rows.iter().map(|d| Some(d.event.as_str()))),
                    Arc::new(rows.iter().map(|d| d.sequence).collect::<UInt64Array>()),
                    Arc::new(
                        rows.iter()
                            .map(|d| Some(d.delivered))
                            .collect::<BooleanArray>(),
                    ),
                    Arc::new(
                        rows.iter()
                            .map(|d| Some(u64::from(d.attempts)))
                            .collect::<UInt64Array>(),
                    ),
                    Arc::new(
                        rows.iter()
                            .map(|d| d.status.map(u64::from))
                            .collect::<UInt64Array>(),
                    ),
                    texts(rows.iter().map(|d| d.error.as_deref())),
                    texts(rows.iter().map(|d| Some(d.url.as_str()))),
                ]
            }
        };
        Ok(RecordBatch::try_new(self.schema(), columns)?)
    }
}

fn times(millis: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from_iter_values(millis).with_timezone("UTC"))
}

fn texts<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// The table function: `rollout_reads()` over every dataset, `rollout_reads('orders')` over
/// one (which must exist).
#[derive(Debug)]
pub struct EventTableFunction {
    store: Arc<Store>,
    table: EventTable,
}

impl EventTableFunction {
    /// The function showing `table`'s events of `store`.
    pub fn new(store: Arc<Store>, table: EventTable) -> Self {
        Self { store, table }
    }
}

impl TableFunctionImpl for EventTableFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let name = self.table.name();
        let dataset = match args.exprs() {
            [] => None,
            [
                Expr::Literal(
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::Utf8View(Some(s))
                    | ScalarValue::LargeUtf8(Some(s)),
                    _,
                ),
            ] => {
                // Name a dataset that is not there and the answer is an error, not no rows.
                self.store
                    .state()
                    .dataset(s)
                    .map_err(DataFusionError::from)?;
                Some(s.clone())
            }
            other => {
                return Err(DataFusionError::Plan(format!(
                    "{name}([dataset]): the dataset must be one string literal, got {} argument(s)",
                    other.len()
                )));
            }
        };
        Ok(Arc::new(EventsProvider {
            store: Arc::clone(&self.store),
            table: self.table,
            dataset,
        }))
    }
}

/// The events of one kind, read when scanned.
#[derive(Debug)]
struct EventsProvider {
    store: Arc<Store>,
    table: EventTable,
    dataset: Option<String>,
}

#[async_trait]
impl TableProvider for EventsProvider {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let state_now = self.store.state();
        let cfg = RolloutConfig::from_options(state.config_options());
        let what = format!("{}()", self.table.name());
        let principal = reading_principal(&state_now, &cfg, &what)?;
        let access = &state_now.access;
        if let (Some(p), Some(d)) = (principal, self.dataset.as_deref()) {
            access
                .check(p, Privilege::Read, Some(d))
                .map_err(DataFusionError::from)?;
        }
        // Across datasets, only those the principal may read: events name versions,
        // consumers and metrics, which are as private as the data.
        let shown = |d: &str| {
            self.dataset.as_deref().is_none_or(|only| only == d)
                && principal.is_none_or(|p| access.holds(p, Privilege::Read, Some(d)))
        };
        let read = self
            .store
            .events()
            .read()
            .await
            .map_err(DataFusionError::from)?;
        let batch = self.table.batch(&read.events, &shown)?;
        let table = MemTable::try_new(self.table.schema(), vec![vec![batch]])?;
        table.scan(state, projection, filters, limit).await
    }
}
