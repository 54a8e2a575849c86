//! The HTTP side of `rollout serve` (`--http ADDR`): `/metrics` for Prometheus and `/healthz`
//! for load balancers and orchestrators. axum 0.8, the one tonic is built on.
//!
//! `/healthz` answers 200 with the store's log sequence when the store can be read now (the
//! log's head is re-read, with a time limit), 503 saying why when it cannot; it names no
//! dataset, so it needs no login. `/metrics` names every dataset and version, so on a store with
//! users it needs `Authorization: Bearer <token>` (an API token, or a Flight session's bearer)
//! of a principal holding READ ON ALL DATASETS; on an open store it is open like everything
//! else.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use datafusion_rollout::Store;
use datafusion_rollout::catalog::Privilege;
use serde_json::json;
use tonic::Code;
use tonic::metadata::MetadataMap;

use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::sessions::Sessions;
use crate::status::status_of;

/// How long `/healthz` waits for the store.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The store served.
    pub store: Arc<Store>,
    /// The Flight sessions (their bearers log in here too).
    pub sessions: Arc<Sessions>,
    /// The server's metrics.
    pub metrics: Arc<Metrics>,
}

/// The routes: `GET /metrics`, `GET /healthz`.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn healthz(State(state): State<HttpState>) -> Response {
    let refreshed = tokio::time::timeout(HEALTH_TIMEOUT, state.store.refresh()).await;
    let problem = match refreshed {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!(
            "the store did not answer within {}s",
            HEALTH_TIMEOUT.as_secs()
        )),
    };
    let sequence = state.store.state().sequence;
    match problem {
        None => (
            StatusCode::OK,
            axum::Json(json!({"status": "ok", "sequence": sequence})),
        )
            .into_response(),
        Some(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "unavailable", "sequence": sequence, "error": error})),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Err((status, message)) = authorize(&state, headers).await {
        return (status, message).into_response();
    }
    let text = state
        .metrics
        .render(&state.store, state.sessions.all().len());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Open store: anyone. Otherwise a bearer whose principal holds READ ON ALL DATASETS.
async fn authorize(state: &HttpState, headers: HeaderMap) -> Result<(), (StatusCode, String)> {
    if state.store.state().access.is_open() {
        return Ok(());
    }
    if !headers.contains_key(header::AUTHORIZATION) {
        return Err((
            StatusCode::UNAUTHORIZED,
            "/metrics names every dataset and version: send Authorization: Bearer <token> of a \
             user holding READ ON ALL DATASETS\n"
                .to_string(),
        ));
    }
    let session = state
        .sessions
        .session(&MetadataMap::from_headers(headers))
        .await
        .map_err(|s| (http_status(s.code()), format!("{}\n", s.message())))?;
    let principal = session.principal.clone().unwrap_or_default();
    state
        .store
        .state()
        .access
        .check(&principal, Privilege::Read, None)
        .map_err(|e| {
            let s = status_of(&e);
            (http_status(s.code()), format!("{}\n", s.message()))
        })
}

/// The HTTP status of a gRPC one.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
