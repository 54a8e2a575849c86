//! The pages: login, every dataset, one dataset (and its drift panel), rendered on the server
//! with askama (templates in `server/templates`, checked when the crate compiles, every value
//! HTML-escaped unless a template says otherwise). The script only confirms and sends the
//! buttons' changes, loads the drift panel and refreshes a live rollout; the pages read fine
//! without it.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use tonic::metadata::{MetadataMap, MetadataValue};

use super::api::{self, DEFAULT_BINS, DriftColumn, DriftQuery, DriftView};
use super::charts::{
    self, BAR_VIEWBOX, GuardChart, HistogramChart, LINE_VIEWBOX, PLOT_BOTTOM, PLOT_LEFT,
    STAGE_VIEWBOX, StageSegment,
};
use super::view::{self, DatasetDetail, DatasetSummary, HistoryEntry, status_counts};
use super::{ApiError, Caller, SESSION_COOKIE, caller, check_origin, cookie};
use crate::http::HttpState;

/// The stylesheet, served at `/assets/dashboard.css` and inlined in reports.
pub const CSS: &str = include_str!("../../assets/dashboard.css");
/// The script, served at `/assets/dashboard.js`.
pub const JS: &str = include_str!("../../assets/dashboard.js");

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `name` as one URL path segment.
pub fn path_segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    inline_css: Option<&'a str>,
    csrf: &'a str,
    who: &'a str,
    logged_in: bool,
    error: Option<String>,
    next: String,
    open: bool,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    inline_css: Option<&'a str>,
    csrf: &'a str,
    who: &'a str,
    logged_in: bool,
    status: u16,
    message: &'a str,
}

struct OverviewRow {
    s: DatasetSummary,
    href: String,
    segments: Vec<StageSegment>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    inline_css: Option<&'a str>,
    csrf: &'a str,
    who: &'a str,
    logged_in: bool,
    rows: Vec<OverviewRow>,
    sequence: u64,
    live: bool,
    stage_viewbox: &'a str,
}

/// A check result as a table row.
pub struct CheckRow {
    name: String,
    value: String,
    threshold: String,
    status: String,
    detail: String,
}

fn check_rows(checks: &[serde_json::Value]) -> Vec<CheckRow> {
    let text = |c: &serde_json::Value, k: &str| {
        c.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string()
    };
    checks
        .iter()
        .map(|c| CheckRow {
            name: charts::check_name(c),
            value: c
                .get("value")
                .and_then(|v| v.as_f64())
                .map(|v| {
                    format!("{v:.6}")
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string()
                })
                .unwrap_or_default(),
            threshold: text(c, "threshold"),
            status: text(c, "status"),
            detail: text(c, "detail"),
        })
        .collect()
}

/// A history entry as the timeline shows it.
pub struct HistoryRow {
    e: HistoryEntry,
    op_class: String,
    counts: String,
    checks: Vec<CheckRow>,
    blast: Option<String>,
}

#[derive(Template)]
#[template(path = "dataset.html")]
struct DatasetPage<'a> {
    inline_css: Option<&'a str>,
    csrf: &'a str,
    who: &'a str,
    logged_in: bool,
    d: DatasetDetail,
    name_path: String,
    segments: Vec<StageSegment>,
    guards: Vec<GuardChart>,
    guard_rows: Vec<CheckRow>,
    history: Vec<HistoryRow>,
    history_total: usize,
    drift_src: Option<String>,
    drift_html: Option<String>,
    report: bool,
    live: bool,
    generated_at: String,
    stage_viewbox: &'a str,
    line_viewbox: &'a str,
    plot_left: f64,
    plot_bottom: f64,
}

#[derive(Template)]
#[template(path = "drift.html")]
struct DriftPanel<'a> {
    view: &'a DriftView,
    columns: Vec<(&'a DriftColumn, Option<HistogramChart>)>,
    bar_viewbox: &'a str,
}

/// The drift panel of `view`, as an HTML fragment.
pub fn drift_panel(view: &DriftView) -> Result<String, askama::Error> {
    DriftPanel {
        view,
        columns: view
            .columns
            .iter()
            .map(|c| (c, c.histogram.as_ref().map(charts::histogram_chart)))
            .collect(),
        bar_viewbox: BAR_VIEWBOX,
    }
    .render()
}

fn html(result: Result<String, askama::Error>) -> Response {
    match result {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the page failed to render: {e}"),
        )
            .into_response(),
    }
}

/// An error as a page: 401 sends the browser to the login page, others say what went wrong.
fn error_page(e: ApiError, next: &str) -> Response {
    if e.status == StatusCode::UNAUTHORIZED {
        return Redirect::to(&format!("/login?next={}", path_segment(next))).into_response();
    }
    let mut response = html(
        ErrorPage {
            inline_css: None,
            csrf: "",
            who: "",
            logged_in: false,
            status: e.status.as_u16(),
            message: &e.message,
        }
        .render(),
    );
    *response.status_mut() = e.status;
    response
}

fn who_of(c: &Caller) -> (String, bool) {
    (
        c.session.principal.clone().unwrap_or_else(|| c.actor()),
        c.session.principal.is_some(),
    )
}

/// `GET /`: every dataset the caller may read.
pub async fn overview(State(st): State<HttpState>, headers: HeaderMap) -> Response {
    let who = match caller(&st.sessions, &headers).await {
        Ok(c) => c,
        Err(e) => return error_page(e, "/"),
    };
    let rows = match api::list(&st, &who).await {
        Ok(rows) => rows,
        Err(e) => return error_page(e, "/"),
    };
    let (name, logged_in) = who_of(&who);
    let live = rows.iter().any(|r| r.candidate.is_some());
    html(
        OverviewPage {
            inline_css: None,
            csrf: &who.session.csrf,
            who: &name,
            logged_in,
            sequence: st.store.state().sequence,
            rows: rows
                .into_iter()
                .map(|s| OverviewRow {
                    href: path_segment(&s.name),
                    segments: s
                        .candidate
                        .as_ref()
                        .and_then(|c| Some(charts::stage_segments(&c.stages, c.stage?)))
                        .unwrap_or_default(),
                    s,
                })
                .collect(),
            live,
            stage_viewbox: STAGE_VIEWBOX,
        }
        .render(),
    )
}

/// What a dataset page needs besides its template's constants.
pub(crate) struct DatasetParts {
    pub detail: DatasetDetail,
    /// The entries shown (the last ones).
    pub history: Vec<HistoryEntry>,
    /// How many the dataset has.
    pub history_total: usize,
}

/// Renders a dataset page: served (`report` false: buttons, script, drift loaded later) or as a
/// self-contained report (`drift` rendered in, CSS inlined, no script).
pub(crate) fn render_dataset(
    parts: DatasetParts,
    who: &str,
    logged_in: bool,
    csrf: &str,
    drift_html: Option<String>,
    report: bool,
) -> Result<String, askama::Error> {
    let DatasetParts {
        detail: d,
        history,
        history_total,
    } = parts;
    let name_path = path_segment(&d.summary.name);
    let segments = d
        .summary
        .candidate
        .as_ref()
        .and_then(|c| Some(charts::stage_segments(&c.stages, c.stage?)))
        .unwrap_or_default();
    let drift_src = d.drift_pair.as_ref().map(|(b, c)| {
        format!(
            "/datasets/{name_path}/drift-panel?baseline={}&candidate={}",
            path_segment(b),
            path_segment(c)
        )
    });
    let history = history
        .into_iter()
        .rev()
        .map(|e| {
            let counts = status_counts(&e.checks)
                .into_iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect::<Vec<_>>()
                .join(", ");
            HistoryRow {
                op_class: e.operation.to_lowercase().replace(' ', "-"),
                counts,
                checks: check_rows(&e.checks),
                blast: e.blast_radius.as_ref().map(|b| b.to_string()),
                e,
            }
        })
        .collect();
    DatasetPage {
        inline_css: report.then_some(CSS),
        csrf,
        who,
        logged_in,
        guards: charts::guard_charts(&d.evaluations),
        guard_rows: check_rows(&d.guards),
        live: !report && d.summary.candidate.is_some(),
        d,
        name_path,
        segments,
        history,
        history_total,
        drift_src,
        drift_html,
        report,
        generated_at: chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        stage_viewbox: STAGE_VIEWBOX,
        line_viewbox: LINE_VIEWBOX,
        plot_left: PLOT_LEFT,
        plot_bottom: PLOT_BOTTOM,
    }
    .render()
}

/// The most history entries a dataset page shows unless asked for all (`?history=all`): the
/// page refreshes itself while a rollout is live, and a long history would be sent each time.
pub const HISTORY_ON_PAGE: usize = 100;

/// `?history=all`.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    history: Option<String>,
}

/// `GET /datasets/{name}[?history=all]`.
pub async fn dataset(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let here = format!("/datasets/{}", path_segment(&name));
    let who = match caller(&st.sessions, &headers).await {
        Ok(c) => c,
        Err(e) => return error_page(e, &here),
    };
    let all = q.history.as_deref() == Some("all");
    let parts = async {
        let snap = api::snapshot(&st).await?;
        who.may_read(&st.store, &name)?;
        let ds = snap.state.dataset(&name)?;
        let history = view::history(&snap.history, &name, None);
        let total = history.len();
        let shown = if all { None } else { Some(HISTORY_ON_PAGE) };
        Ok::<_, ApiError>(DatasetParts {
            detail: view::detail(&snap.state, ds, &snap.history, &snap.events, &who.actor()),
            history: view::history(&snap.history, &name, shown),
            history_total: total,
        })
    }
    .await;
    let parts = match parts {
        Ok(p) => p,
        Err(e) => return error_page(e, &here),
    };
    let (name, logged_in) = who_of(&who);
    html(render_dataset(
        parts,
        &name,
        logged_in,
        &who.session.csrf,
        None,
        false,
    ))
}

/// `GET /datasets/{name}/drift-panel?baseline=..&candidate=..`: the panel as a fragment.
pub async fn drift_fragment(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    query: Result<Query<DriftQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
        let who = caller(&st.sessions, &headers).await?;
        api::drift_of(
            &st,
            &who,
            &name,
            &q.baseline,
            &q.candidate,
            q.bins.unwrap_or(DEFAULT_BINS),
        )
        .await
    }
    .await;
    match result {
        Ok(view) => html(drift_panel(&view)),
        Err(e) => {
            let mut response = html(
                ErrorFragment {
                    message: &e.message,
                }
                .render(),
            );
            *response.status_mut() = e.status;
            response
        }
    }
}

/// A message as an HTML fragment (the drift panel's place when it cannot be computed).
#[derive(Template)]
#[template(
    source = "<p class=\"error\" role=\"alert\">{{ message }}</p>",
    ext = "html"
)]
pub(crate) struct ErrorFragment<'a> {
    /// What went wrong.
    pub message: &'a str,
}

/// `?next=/path`.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path on this server (never `//host` or a scheme): no open redirect.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

/// `GET /login`.
pub async fn login_form(State(st): State<HttpState>, Query(q): Query<NextQuery>) -> Response {
    html(
        LoginPage {
            inline_css: None,
            csrf: "",
            who: "",
            logged_in: false,
            error: None,
            next: safe_next(q.next.as_deref()),
            open: st.store.state().access.is_open(),
        }
        .render(),
    )
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    user: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// `POST /login`: the password checked like the Flight handshake's; the bearer goes into an
/// `HttpOnly`, `SameSite=Strict` cookie (`Secure` under TLS).
pub async fn login(
    State(st): State<HttpState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(e) = check_origin(&headers) {
        return error_page(e, "/");
    }
    let next = safe_next(form.next.as_deref());
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", form.user, form.password));
    let mut metadata = MetadataMap::new();
    let bearer = match MetadataValue::try_from(format!("Basic {basic}")) {
        Ok(v) => {
            metadata.insert("authorization", v);
            st.sessions
                .handshake(&metadata)
                .await
                .map_err(ApiError::from)
        }
        Err(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the user name is not text",
        )),
    };
    match bearer {
        Ok(bearer) => {
            let secure = if st.tls { "; Secure" } else { "" };
            let cookie =
                format!("{SESSION_COOKIE}={bearer}; Path=/; HttpOnly; SameSite=Strict{secure}");
            let mut response = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            response
        }
        Err(e) => {
            let mut response = html(
                LoginPage {
                    inline_css: None,
                    csrf: "",
                    who: "",
                    logged_in: false,
                    error: Some(e.message),
                    next,
                    open: st.store.state().access.is_open(),
                }
                .render(),
            );
            *response.status_mut() = e.status;
            response
        }
    }
}

/// `POST /logout`: ends the page's session and forgets the cookie.
pub async fn logout(State(st): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(bearer) = cookie(&headers, SESSION_COOKIE) {
        st.sessions.end(bearer);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("rollout_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// `GET /assets/dashboard.css`.
pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        CSS,
    )
        .into_response()
}

/// `GET /assets/dashboard.js`.
pub async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        JS,
    )
        .into_response()
}

/// Headers every response of the dashboard carries: nothing but this server's own script and
/// style runs (an injected `<script>` would not, were escaping ever to fail), no framing, no
/// sniffing, no referrer to other sites (the same site gets it, so browsers send `Origin`).
pub async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
