//! The dashboard and its JSON API on `rollout serve --http`.
//!
//! - `GET /api/datasets`, `GET /api/datasets/{name}`, `GET /api/datasets/{name}/history`,
//!   `GET /api/datasets/{name}/drift?baseline=v1&candidate=v2`, `POST
//!   /api/datasets/{name}/{rollback|advance|promote|approve}`, `GET /api/openapi.json`
//!   ([`api`]);
//! - pages: `/login`, `/` (every dataset), `/datasets/{name}` ([`pages`]), with their CSS and
//!   script served by the binary (no CDN, nothing fetched from elsewhere).
//!
//! Who calls: `Authorization: Bearer <token>` (an API token or a Flight session's bearer), or
//! the page's session cookie (set by `/login`, `HttpOnly`, `SameSite=Strict`). A POST made with
//! the cookie must also carry the session's CSRF token in `x-rollout-csrf` (the page has it; a
//! form or script on another site cannot read it), so a forged request changes nothing. On a
//! store without users everyone is the anonymous caller, as on Flight.
//!
//! The POSTs run the statements themselves (`ROLLBACK`, `ADVANCE`, `PROMOTE`, `APPROVE`) in the
//! caller's session: the library checks the grants and the guards, and the history records the
//! principal as the actor.

pub mod api;
pub mod pages;
pub mod report;
pub mod view;

mod charts;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use datafusion_rollout::catalog::Privilege;
use datafusion_rollout::{Error, ErrorKind, Store};
use serde_json::json;
use tonic::metadata::{MetadataMap, MetadataValue};

use crate::sessions::{Session, Sessions};

/// The cookie that holds a page session's bearer.
pub const SESSION_COOKIE: &str = "rollout_session";
/// The header a cookie-authenticated POST must carry, equal to the session's CSRF token.
pub const CSRF_HEADER: &str = "x-rollout-csrf";

/// Drift views already computed, by dataset and versions (versions never change).
pub(crate) type DriftCache = Mutex<HashMap<DriftKey, Arc<api::DriftView>>>;
pub(crate) type DriftKey = (String, String, String, i64, i64);
/// The most drift views kept.
const DRIFT_CACHE: usize = 64;

/// A refusal or failure, as the API answers it: the status and `{"error": ..., "kind": ...}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
    /// The library's [`ErrorKind`] name, when the library refused.
    pub kind: &'static str,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let kind = match status {
            StatusCode::UNAUTHORIZED => ErrorKind::Unauthenticated.name(),
            StatusCode::FORBIDDEN => ErrorKind::PermissionDenied.name(),
            StatusCode::NOT_FOUND => ErrorKind::NotFound.name(),
            StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ErrorKind::InvalidInput.name()
            }
            _ => ErrorKind::Internal.name(),
        };
        Self {
            status,
            message: message.into(),
            kind,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let kind = e.kind();
        Self {
            status: http_status(kind),
            message: e.user_message(),
            kind: kind.name(),
        }
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        Self::new(crate::http::http_status(s.code()), s.message())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": self.message, "kind": self.kind}));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"rollout\""),
            );
        }
        response
    }
}

/// The HTTP status of a library error.
pub fn http_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict | ErrorKind::Refused => StatusCode::CONFLICT,
        ErrorKind::Parse | ErrorKind::InvalidInput | ErrorKind::Query => StatusCode::BAD_REQUEST,
        // Data that failed its checks: the request was understood, the data refused it.
        ErrorKind::DataCheck => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Io => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Who is calling, and how they proved it.
pub struct Caller {
    /// Their session (its context acts as them).
    pub session: Arc<Session>,
    /// Authenticated by the page's cookie (POSTs then need the CSRF token).
    pub by_cookie: bool,
}

impl Caller {
    /// The actor the library checks grants against.
    pub fn actor(&self) -> String {
        self.session.ctx.actor()
    }

    /// Refuses unless the caller may read `dataset`. READ first, then existence: someone who may not read a name is refused alike whether
    /// a dataset of that name exists or not, so the answer does not tell.
    pub fn may_read(&self, store: &Store, dataset: &str) -> Result<(), ApiError> {
        let state = store.state();
        state
            .access
            .check(&self.actor(), Privilege::Read, Some(dataset))?;
        state.dataset(dataset)?;
        Ok(())
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The caller of a request: its bearer header, else its session cookie, else (on an open
/// store) the anonymous caller.
pub async fn caller(sessions: &Sessions, headers: &HeaderMap) -> Result<Caller, ApiError> {
    if headers.contains_key(header::AUTHORIZATION) {
        let metadata = MetadataMap::from_headers(headers.clone());
        return Ok(Caller {
            session: sessions.session(&metadata).await?,
            by_cookie: false,
        });
    }
    let mut metadata = MetadataMap::new();
    if let Some(bearer) = cookie(headers, SESSION_COOKIE) {
        let value = MetadataValue::try_from(format!("Bearer {bearer}")).map_err(|_| {
            ApiError::new(StatusCode::UNAUTHORIZED, "the session cookie is not text")
        })?;
        metadata.insert("authorization", value);
    }
    let session = sessions.session(&metadata).await?;
    // Without a bearer header the caller is a browser: with the page's cookie, or the
    // anonymous caller of an open store. Either way its changes need the page's token.
    Ok(Caller {
        session,
        by_cookie: true,
    })
}

/// Refuses a state-changing request made with the page's cookie (or with no credentials at
/// all) whose CSRF header does not match the session's.
pub fn check_csrf(caller: &Caller, headers: &HeaderMap) -> Result<(), ApiError> {
    if !caller.by_cookie {
        return Ok(());
    }
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if sent.is_some_and(|s| constant_time_eq(s.as_bytes(), caller.session.csrf.as_bytes())) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "a change made with the page's session needs its {CSRF_HEADER} header (the page \
             sends it); send Authorization: Bearer <token> instead from a script"
        ),
    ))
}

/// Refuses a POST whose `Origin` (browsers send it with every POST) is another site than the
/// one it was sent to: defence in depth beside the CSRF token and `SameSite`, and what guards
/// the login form (so another site cannot log a browser in as someone else).
pub fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "a request from another site (its Origin is not this server) changes nothing",
        )),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
