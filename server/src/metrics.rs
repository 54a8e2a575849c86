//! What `/metrics` shows, in the OpenMetrics text format Prometheus scrapes: reads, their errors
//! and latency per dataset, version and arm (from the reads ledger, as this process records
//! it); controller decisions; notification deliveries; outcome metrics reported; statements,
//! logins and sessions of the server; the store's log sequence and the event buffer.
//!
//! The counters are fed by [`EventObserver::observe`], so they count exactly what the reads
//! ledger records, and by the server's own calls. Crate: `prometheus-client`, the Prometheus
//! project's Rust client (no global registry, no unsafe code).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use datafusion_rollout::Store;
use datafusion_rollout::store::{Event, EventObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabels {
    dataset: String,
    version: String,
    arm: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    dataset: String,
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    notification: String,
    event: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReportLabels {
    dataset: String,
    metric: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    method: String,
    outcome: String,
}

/// Seconds, from 1 ms to about 65 s, doubling.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The server's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    reads: Family<ReadLabels, Counter>,
    read_errors: Family<ReadLabels, Counter>,
    read_rows: Family<ReadLabels, Counter>,
    read_seconds: Family<ReadLabels, Histogram, fn() -> Histogram>,
    decisions: Family<DecisionLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    reports: Family<ReportLabels, Counter>,
    statements: Family<StatusLabels, Counter>,
    statement_seconds: Histogram,
    logins: Family<LoginLabels, Counter>,
    sessions: Gauge,
    log_sequence: Gauge,
    events_buffered: Gauge,
    events_dropped: Gauge<u64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered under the `rollout` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rollout");
        let reads = Family::<ReadLabels, Counter>::default();
        let read_errors = Family::<ReadLabels, Counter>::default();
        let read_rows = Family::<ReadLabels, Counter>::default();
        let read_seconds = Family::<ReadLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency as fn() -> Histogram,
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        let reports = Family::<ReportLabels, Counter>::default();
        let statements = Family::<StatusLabels, Counter>::default();
        let statement_seconds = latency();
        let logins = Family::<LoginLabels, Counter>::default();
        let sessions = Gauge::default();
        let log_sequence = Gauge::default();
        let events_buffered = Gauge::default();
        let events_dropped = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "reads",
            "Scans of a dataset through its name, by the version and arm they resolved to",
            reads.clone(),
        );
        registry.register(
            "read_errors",
            "Scans that ended in an error, by the version they resolved to",
            read_errors.clone(),
        );
        registry.register("read_rows", "Rows the scans produced", read_rows.clone());
        registry.register(
            "read_duration_seconds",
            "Time from planning a scan to the end of its last stream",
            read_seconds.clone(),
        );
        registry.register(
            "controller_decisions",
            "Controller judgements of live rollouts (advance, rollback, wait, pending, failing, done elsewhere)",
            decisions.clone(),
        );
        registry.register(
            "notification_deliveries",
            "Webhook deliveries after their retries, by outcome (delivered, failed)",
            deliveries.clone(),
        );
        registry.register(
            "metric_reports",
            "Outcome metrics reported (REPORT METRIC)",
            reports.clone(),
        );
        registry.register(
            "statements",
            "Flight SQL statements, by gRPC status",
            statements.clone(),
        );
        registry.register(
            "statement_duration_seconds",
            "Time to run or plan a Flight SQL statement (a query's rows stream afterwards)",
            statement_seconds.clone(),
        );
        registry.register(
            "logins",
            "Logins by method (password, token) and outcome (ok, refused)",
            logins.clone(),
        );
        registry.register("sessions", "Live sessions", sessions.clone());
        registry.register(
            "log_sequence",
            "The store's last log sequence this process has seen",
            log_sequence.clone(),
        );
        registry.register(
            "events_buffered",
            "Events recorded and not yet flushed to the store",
            events_buffered.clone(),
        );
        registry.register(
            "events_dropped",
            "Events dropped because flushes kept failing with a full buffer",
            events_dropped.clone(),
        );
        Self {
            registry,
            reads,
            read_errors,
            read_rows,
            read_seconds,
            decisions,
            deliveries,
            reports,
            statements,
            statement_seconds,
            logins,
            sessions,
            log_sequence,
            events_buffered,
            events_dropped,
        }
    }

    /// A statement ended with `status` (`ok`, or a gRPC code) after `elapsed`.
    pub fn statement(&self, status: &str, elapsed: Duration) {
        self.statements
            .get_or_create(&StatusLabels {
                status: status.to_string(),
            })
            .inc();
        self.statement_seconds.observe(elapsed.as_secs_f64());
    }

    /// A login by `method` (`password`, `token`) succeeded or not.
    pub fn login(&self, method: &str, ok: bool) {
        self.logins
            .get_or_create(&LoginLabels {
                method: method.to_string(),
                outcome: if ok { "ok" } else { "refused" }.to_string(),
            })
            .inc();
    }

    /// The text for a scrape: the gauges read now from `store` and `sessions`.
    pub fn render(&self, store: &Store, sessions: usize) -> String {
        self.sessions
            .set(i64::try_from(sessions).unwrap_or(i64::MAX));
        self.log_sequence
            .set(i64::try_from(store.state().sequence).unwrap_or(i64::MAX));
        self.events_buffered
            .set(i64::try_from(store.events().buffered()).unwrap_or(i64::MAX));
        self.events_dropped.set(store.events().dropped());
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

impl EventObserver for Metrics {
    fn observe(&self, event: &Event) {
        match event {
            Event::Read(read) => {
                let labels = ReadLabels {
                    dataset: read.dataset.clone(),
                    version: read.version.clone(),
                    arm: read.arm.as_str().to_string(),
                };
                self.reads.get_or_create(&labels).inc();
                if read.error.is_some() {
                    self.read_errors.get_or_create(&labels).inc();
                }
                if let Some(rows) = read.rows {
                    self.read_rows.get_or_create(&labels).inc_by(rows);
                }
                self.read_seconds
                    .get_or_create(&labels)
                    .observe(read.elapsed_ms / 1000.0);
            }
            Event::Evaluation(evaluation) => {
                self.decisions
                    .get_or_create(&DecisionLabels {
                        dataset: evaluation.dataset.clone(),
                        decision: evaluation.decision.clone(),
                    })
                    .inc();
            }
            Event::Delivery(delivery) => {
                self.deliveries
                    .get_or_create(&DeliveryLabels {
                        notification: delivery.notification.clone(),
                        event: delivery.event.clone(),
                        outcome: if delivery.delivered {
                            "delivered"
                        } else {
                            "failed"
                        }
                        .to_string(),
                    })
                    .inc();
            }
            Event::Metric(metric) => {
                self.reports
                    .get_or_create(&ReportLabels {
                        dataset: metric.dataset.clone(),
                        metric: metric.name.clone(),
                    })
                    .inc();
            }
        }
    }
}

/// Registers `metrics` with the store's event log, so it counts what this process records.
pub fn observe_events(store: &Store, metrics: &Arc<Metrics>) {
    store
        .events()
        .observe(Arc::clone(metrics) as Arc<dyn EventObserver>);
}
