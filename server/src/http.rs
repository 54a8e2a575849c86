//! The HTTP side of `rollout serve` (`--http ADDR`): `/metrics` for Prometheus, `/healthz`
//! for load balancers and orchestrators, and the dashboard with its JSON API ([`crate::web`]).
//! axum 0.8, the one tonic is built on.
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
use axum::routing::{get, post};
use datafusion_rollout::Store;
use datafusion_rollout::catalog::Privilege;
use datafusion_rollout::store::LogEntry;
use serde_json::json;
use tonic::Code;
use tonic::metadata::MetadataMap;

use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::sessions::Sessions;
use crate::status::status_of;
use crate::web::DriftCache;

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
    /// Served over TLS (the session cookie is then `Secure`).
    pub tls: bool,
    /// The log entries read so far (they never change: only new ones are read).
    pub(crate) history: Arc<tokio::sync::Mutex<Arc<Vec<LogEntry>>>>,
    /// Drift views computed so far (versions never change).
    pub(crate) drift: Arc<DriftCache>,
}

impl HttpState {
    /// The state of a server over `store` with these sessions and metrics.
    pub fn new(
        store: Arc<Store>,
        sessions: Arc<Sessions>,
        metrics: Arc<Metrics>,
        tls: bool,
    ) -> Self {
        Self {
            store,
            sessions,
            metrics,
            tls,
            history: Arc::default(),
            drift: Arc::default(),
        }
    }
}

/// The routes: `GET /metrics`, `GET /healthz`, the JSON API and the dashboard ([`crate::web`]).
pub fn router(state: HttpState) -> Router {
    use crate::web::{api, pages};
    let dashboard = Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/datasets/{name}", get(pages::dataset))
        .route("/datasets/{name}/drift-panel", get(pages::drift_fragment))
        .route("/assets/dashboard.css", get(pages::css))
        .route("/assets/dashboard.js", get(pages::js))
        .route("/api/openapi.json", get(api::openapi))
        .route("/api/datasets", get(api::datasets))
        .route("/api/datasets/{name}", get(api::dataset))
        .route("/api/datasets/{name}/history", get(api::history))
        .route("/api/datasets/{name}/drift", get(api::drift))
        .route("/api/datasets/{name}/{action}", post(api::act))
        .layer(axum::middleware::map_response(pages::security_headers));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .merge(dashboard)
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
pub(crate) fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::InvalidArgument => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
