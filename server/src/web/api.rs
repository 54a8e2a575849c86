//! The JSON API: what the pages show, for scripts, and the four changes an operator makes.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Float64Type;
use datafusion_rollout::catalog::Privilege;
use datafusion_rollout::contract::{ColumnHistogram, histograms};
use datafusion_rollout::statement::{Advance, Approve, Promote, Rollback};
use datafusion_rollout::store::{Event, LogEntry};
use datafusion_rollout::{Outcome, RolloutContext, RolloutOptions, Statement};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::view::{self, DatasetDetail, DatasetSummary, HistoryEntry};
use super::{ApiError, Caller, DRIFT_CACHE, caller, check_csrf, check_origin};
use crate::http::HttpState;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Bins of each histogram of a drift view unless `bins=` says otherwise.
pub const DEFAULT_BINS: usize = 20;

/// The longest reason accepted.
pub const MAX_REASON: usize = 2000;

/// What the store holds now: its history and events (read once per request).
pub(crate) struct Snapshot {
    pub state: Arc<datafusion_rollout::catalog::State>,
    pub history: Arc<Vec<LogEntry>>,
    pub events: Vec<Event>,
}

/// The store's current state, its whole history (entries read once and kept: they never
/// change) and its events.
pub(crate) async fn snapshot(st: &HttpState) -> Result<Snapshot, ApiError> {
    let state = st.store.refresh().await?;
    let history = {
        let mut kept = st.history.lock().await;
        let known = kept.last().map_or(0, |e| e.sequence);
        if known < state.sequence {
            let new = st.store.history_after(known).await?;
            // Copied only while an earlier snapshot still holds the vector.
            Arc::make_mut(&mut *kept).extend(new);
        }
        Arc::clone(&kept)
    };
    let events = st.store.events().read().await?.events;
    Ok(Snapshot {
        state,
        history,
        events,
    })
}

/// `GET /api/datasets`: every dataset the caller may read.
pub async fn datasets(
    State(st): State<HttpState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = caller(&st.sessions, &headers).await?;
    Ok(Json(list(&st, &who).await?).into_response())
}

pub(crate) async fn list(st: &HttpState, who: &Caller) -> Result<Vec<DatasetSummary>, ApiError> {
    let snap = snapshot(st).await?;
    let actor = who.actor();
    Ok(snap
        .state
        .datasets
        .values()
        .filter(|ds| {
            snap.state
                .access
                .allows(&actor, Privilege::Read, Some(&ds.name))
        })
        .map(|ds| view::summary(ds, &snap.history, &snap.events))
        .collect())
}

/// `GET /api/datasets/{name}`.
pub async fn dataset(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = caller(&st.sessions, &headers).await?;
    Ok(Json(detail(&st, &who, &name).await?).into_response())
}

pub(crate) async fn detail(
    st: &HttpState,
    who: &Caller,
    name: &str,
) -> Result<DatasetDetail, ApiError> {
    let snap = snapshot(st).await?;
    who.may_read(&st.store, name)?;
    let ds = snap.state.dataset(name)?;
    Ok(view::detail(
        &snap.state,
        ds,
        &snap.history,
        &snap.events,
        &who.actor(),
    ))
}

/// `?limit=n`.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// Only the last n entries.
    pub limit: Option<usize>,
}

/// `GET /api/datasets/{name}/history[?limit=n]`: the entries with their evidence.
pub async fn history(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let who = caller(&st.sessions, &headers).await?;
    Ok(Json(history_of(&st, &who, &name, q.limit).await?).into_response())
}

pub(crate) async fn history_of(
    st: &HttpState,
    who: &Caller,
    name: &str,
    limit: Option<usize>,
) -> Result<Vec<HistoryEntry>, ApiError> {
    let snap = snapshot(st).await?;
    who.may_read(&st.store, name)?;
    Ok(view::history(&snap.history, name, limit))
}

/// `?baseline=v1&candidate=v2[&bins=n]`.
#[derive(Debug, Deserialize)]
pub struct DriftQuery {
    /// The version compared against.
    pub baseline: String,
    /// The version compared.
    pub candidate: String,
    /// Bins per histogram (1 to 200; 20 by default).
    pub bins: Option<usize>,
}

/// Two versions compared column by column: `drift()`'s statistics and the histograms.
#[derive(Debug, Clone, Serialize)]
pub struct DriftView {
    /// The dataset.
    pub dataset: String,
    /// The version compared against.
    pub baseline: String,
    /// The version compared.
    pub candidate: String,
    /// One per column both versions have.
    pub columns: Vec<DriftColumn>,
}

/// One column of a [`DriftView`].
#[derive(Debug, Clone, Serialize)]
pub struct DriftColumn {
    /// The column.
    pub column: String,
    /// Its type.
    pub data_type: String,
    /// `stable`, `moderate` or `drift` (the thresholds of `drift()`).
    pub verdict: String,
    /// Two-sample Kolmogorov-Smirnov statistic (numeric columns).
    pub ks_statistic: Option<f64>,
    /// Its p-value.
    pub ks_pvalue: Option<f64>,
    /// Wasserstein distance over the baseline's standard deviation (numeric columns).
    pub wasserstein_normed: Option<f64>,
    /// Population stability index.
    pub psi: Option<f64>,
    /// Jensen-Shannon distance.
    pub js_distance: Option<f64>,
    /// Chi-squared p-value (categorical columns).
    pub chi2_pvalue: Option<f64>,
    /// Both versions on shared bins.
    pub histogram: Option<ColumnHistogram>,
}

/// `GET /api/datasets/{name}/drift?baseline=v1&candidate=v2`.
pub async fn drift(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    query: Result<Query<DriftQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let who = caller(&st.sessions, &headers).await?;
    let bins = q.bins.unwrap_or(DEFAULT_BINS);
    Ok(Json(&*drift_of(&st, &who, &name, &q.baseline, &q.candidate, bins).await?).into_response())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub(crate) async fn drift_of(
    st: &HttpState,
    who: &Caller,
    name: &str,
    baseline: &str,
    candidate: &str,
    bins: usize,
) -> Result<Arc<DriftView>, ApiError> {
    st.store.refresh().await?;
    who.may_read(&st.store, name)?;
    let state = st.store.state();
    let b = state.version(name, baseline)?;
    let c = state.version(name, candidate)?;
    let key = (
        format!("{name}\u{0}{bins}"),
        baseline.to_string(),
        candidate.to_string(),
        b.created_at.timestamp_micros(),
        c.created_at.timestamp_micros(),
    );
    if let Some(hit) = st.drift.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(Arc::clone(hit));
    }
    let view = Arc::new(compute_drift(&who.session.ctx, name, baseline, candidate, bins).await?);
    let mut cache = st.drift.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= DRIFT_CACHE {
        cache.clear();
    }
    cache.insert(key, Arc::clone(&view));
    Ok(view)
}

/// `drift()`'s statistics and the histograms of two versions, scanned as `ctx`'s principal
/// (without recording reads).
pub async fn compute_drift(
    ctx: &RolloutContext,
    name: &str,
    baseline: &str,
    candidate: &str,
    bins: usize,
) -> Result<DriftView, ApiError> {
    // Its own session that records no reads: looking at a version is not consuming it.
    let ctx = &RolloutContext::for_principal(
        Arc::clone(ctx.store()),
        ctx.principal(),
        RolloutOptions {
            actor: Some(ctx.actor()),
            record_reads: false,
            server_side: true,
            ..RolloutOptions::default()
        },
    )?;
    let sql = format!(
        "SELECT * FROM drift({}, {}, {})",
        quote(name),
        quote(baseline),
        quote(candidate)
    );
    let batches = ctx
        .session()
        .sql(&sql)
        .await
        .map_err(|e| ApiError::from(datafusion_rollout::Error::from(e)))?
        .collect()
        .await
        .map_err(|e| ApiError::from(datafusion_rollout::Error::from(e)))?;
    let mut hists = histograms(ctx.session(), ctx.store(), name, baseline, candidate, bins).await?;
    let mut columns = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let column = text(batch, "column", row).unwrap_or_default();
            let histogram = hists
                .iter()
                .position(|h| h.column == column)
                .map(|i| hists.swap_remove(i));
            columns.push(DriftColumn {
                data_type: text(batch, "type", row).unwrap_or_default(),
                verdict: text(batch, "verdict", row).unwrap_or_default(),
                ks_statistic: number(batch, "ks_statistic", row),
                ks_pvalue: number(batch, "ks_pvalue", row),
                wasserstein_normed: number(batch, "wasserstein_normed", row),
                psi: number(batch, "psi", row),
                js_distance: number(batch, "js_distance", row),
                chi2_pvalue: number(batch, "chi2_pvalue", row),
                histogram,
                column,
            });
        }
    }
    Ok(DriftView {
        dataset: name.to_string(),
        baseline: baseline.to_string(),
        candidate: candidate.to_string(),
        columns,
    })
}

fn text(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let a = batch.column_by_name(name)?;
    if a.is_null(row) {
        return None;
    }
    let cast =
        datafusion::arrow::compute::cast(a, &datafusion::arrow::datatypes::DataType::Utf8).ok()?;
    Some(cast.as_string::<i32>().value(row).to_string())
}

fn number(batch: &RecordBatch, name: &str, row: usize) -> Option<f64> {
    let a = batch
        .column_by_name(name)?
        .as_primitive_opt::<Float64Type>()?;
    (a.is_valid(row) && a.value(row).is_finite()).then(|| a.value(row))
}

/// The body of a POST.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// Why: required, recorded in the history.
    pub reason: Option<String>,
    /// promote: the version.
    pub version: Option<String>,
    /// promote: who reads it (absent: everyone, it becomes stable).
    pub exposure: Option<ExposureBody>,
    /// rollback: the version to make stable (absent: abort the rollout, or the previous
    /// stable version).
    pub to: Option<String>,
    /// promote, advance: go ahead although guards fail (recorded).
    #[serde(default)]
    pub force: bool,
    /// approve: the pending request's id.
    pub request: Option<u64>,
}

/// promote's `exposure`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExposureBody {
    /// Cohorts that read the candidate.
    #[serde(default)]
    pub cohorts: Vec<String>,
    /// Percent of consumers (0 to 100, two decimals).
    pub percent: Option<f64>,
    /// Stages in percent (`[5, 25, 100]`).
    #[serde(default)]
    pub stages: Vec<f64>,
    /// Soak time of each stage (`"1 hour"`).
    pub every: Option<String>,
    /// A controller advances and rolls back on its own.
    #[serde(default)]
    pub auto: bool,
}

fn basis_points(percent: f64) -> Result<u32, ApiError> {
    let bp = (percent * 100.0).round();
    if !(0.0..=10_000.0).contains(&bp) || !percent.is_finite() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("a percentage must be from 0 to 100, not {percent}"),
        ));
    }
    Ok(bp as u32)
}

/// The statement a POST asks for.
fn statement_of(
    action: &str,
    dataset: &str,
    body: ActionBody,
    state: &datafusion_rollout::catalog::State,
    parse: impl Fn(&str) -> datafusion_rollout::Result<Vec<Statement>>,
) -> Result<Statement, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let reason = body
        .reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            bad(format!(
                "{action} needs a \"reason\" (it goes into the history)"
            ))
        })?;
    if reason.len() > MAX_REASON {
        return Err(bad(format!(
            "the reason is {} bytes; at most {MAX_REASON}",
            reason.len()
        )));
    }
    let unexpected = |field: &str, present: bool| {
        if present {
            Err(bad(format!("{action} takes no \"{field}\"")))
        } else {
            Ok(())
        }
    };
    let typed = match action {
        "rollback" => {
            unexpected("version", body.version.is_some())?;
            unexpected("exposure", body.exposure.is_some())?;
            unexpected("force", body.force)?;
            unexpected("request", body.request.is_some())?;
            Statement::Rollback(Rollback {
                dataset: dataset.to_string(),
                cascade: false,
                more: vec![],
                to: body.to,
                reason: Some(reason),
            })
        }
        "advance" => {
            unexpected("version", body.version.is_some())?;
            unexpected("exposure", body.exposure.is_some())?;
            unexpected("to", body.to.is_some())?;
            unexpected("request", body.request.is_some())?;
            Statement::Advance(Advance {
                dataset: dataset.to_string(),
                force: body.force,
                reason: Some(reason),
            })
        }
        "promote" => {
            unexpected("to", body.to.is_some())?;
            unexpected("request", body.request.is_some())?;
            let version = body
                .version
                .ok_or_else(|| bad("promote needs a \"version\"".into()))?;
            let e = body.exposure.unwrap_or_default();
            Statement::Promote(Promote {
                dataset: dataset.to_string(),
                version,
                cohorts: e.cohorts,
                percent_bp: e.percent.map(basis_points).transpose()?,
                stages: e
                    .stages
                    .into_iter()
                    .map(basis_points)
                    .collect::<Result<_, _>>()?,
                every: e.every,
                auto: e.auto.then(Default::default),
                force: body.force,
                reason: Some(reason),
                more: vec![],
            })
        }
        "approve" => {
            unexpected("version", body.version.is_some())?;
            unexpected("exposure", body.exposure.is_some())?;
            unexpected("to", body.to.is_some())?;
            unexpected("force", body.force)?;
            let id = body.request.ok_or_else(|| {
                bad("approve needs the \"request\" id (GET the dataset: pending)".into())
            })?;
            let request = state
                .approvals
                .pending
                .get(&id)
                .filter(|r| r.dataset == dataset)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        format!("{dataset} has no pending request #{id}"),
                    )
                })?;
            let mut inner = parse(&request.approves)?
                .into_iter()
                .next()
                .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "empty request"))?;
            match &mut inner {
                Statement::Promote(p) => p.reason = Some(reason),
                Statement::Advance(a) => a.reason = Some(reason),
                _ => {}
            }
            Statement::Approve(Approve {
                statement: Box::new(inner),
            })
        }
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no action {other:?}: rollback, advance, promote or approve"),
            ));
        }
    };
    // Through the SQL text, so the request is checked by the same grammar as a typed one.
    let mut parsed = parse(&typed.to_string())?;
    match (parsed.pop(), parsed.is_empty()) {
        (Some(s), true) => Ok(s),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request makes no single statement",
        )),
    }
}

/// `POST /api/datasets/{name}/{rollback|advance|promote|approve}` with a JSON body.
pub async fn act(
    State(st): State<HttpState>,
    Path((name, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_origin(&headers)?;
    let who = caller(&st.sessions, &headers).await?;
    check_csrf(&who, &headers)?;
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim() == "application/json")
        });
    if !json_body {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as Content-Type: application/json",
        ));
    }
    let body: ActionBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("the JSON body: {e}")))?;
    let state = st.store.refresh().await?;
    // An unknown name is a 404 only to someone who may read it; anyone else gets the
    // statement's own refusal (naming what they lack), whether the dataset exists or not.
    if state
        .access
        .allows(&who.actor(), Privilege::Read, Some(&name))
    {
        state.dataset(&name)?;
    }
    let ctx = &who.session.ctx;
    let statement = statement_of(&action, &name, body, &state, |sql| ctx.parse(sql))?;
    let started = Instant::now();
    let shown = statement.to_string();
    let result = ctx.execute(&statement).await;
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.kind().name().to_string(),
    };
    st.metrics.statement(&status, elapsed);
    crate::log::line(
        "statement",
        &[
            ("principal", who.actor().as_str()),
            ("via", "http"),
            ("status", &status),
            ("elapsed_ms", &elapsed.as_millis().to_string()),
            ("sql", &shown),
        ],
    );
    let outcome = result?;
    // What the caller read and did reaches the store now, so the next page shows it; a
    // failure only delays that (the timer flushes again), so the change still answers ok.
    if let Err(e) = st.store.events().flush().await {
        crate::log::warn("flush", &[("error", &e.to_string())]);
    }
    Ok(Json(describe(&outcome)).into_response())
}

/// What a change did, as JSON.
pub fn describe(outcome: &Outcome) -> serde_json::Value {
    let mut value = json!({ "outcome": outcome.name() });
    match outcome {
        Outcome::Committed {
            sequence,
            operation,
            message,
            report,
            forced,
            ..
        } => {
            value["sequence"] = (*sequence).into();
            value["operation"] = operation.as_str().into();
            value["message"] = message.as_str().into();
            value["forced"] = (*forced).into();
            value["checks"] = report
                .as_ref()
                .map(|r| r.to_json())
                .unwrap_or_default()
                .into();
        }
        Outcome::Unchanged { why } => value["message"] = why.as_str().into(),
        _ => {}
    }
    value
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
