//! The dashboard's JSON API and pages on a real `rollout serve` over loopback, called with
//! reqwest as a script or a browser would: every endpoint, every refusal (nothing changed),
//! the session cookie with its CSRF token, and hostile text rendered as text. (The pages in a
//! real browser: python/tests/test_dashboard.py.)

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::access::governed_store;
use crate::common::*;
use crate::serve::{Server, admin_session};

struct Http {
    base: String,
    client: reqwest::Client,
}

/// A response: status, headers, body.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// The page's cookie, with this CSRF header (or none).
    Cookie(&'a str, Option<&'a str>),
}

impl Http {
    fn new(server: &Server) -> Self {
        Self {
            base: format!("http://{}", server.http.unwrap()),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, auth: Auth<'_>) -> Answer {
        let request = match auth {
            Auth::None => request,
            Auth::Bearer(b) => request.bearer_auth(b),
            Auth::Cookie(c, csrf) => {
                let r = request.header("cookie", format!("rollout_session={c}"));
                match csrf {
                    Some(t) => r.header("x-rollout-csrf", t),
                    None => r,
                }
            }
        };
        let response = request.send().await.unwrap();
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, auth: Auth<'_>) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.base)), auth)
            .await
    }

    async fn post(&self, path: &str, body: &str, auth: Auth<'_>) -> Answer {
        let request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(request, auth).await
    }

    /// The last history entry of orders, as `auth` reads it.
    async fn last_entry(&self, auth: Auth<'_>) -> Value {
        let history = self
            .get("/api/datasets/orders/history?limit=1", auth)
            .await
            .json();
        history[0].clone()
    }

    /// POSTs the login form's `body`, from `origin` when given.
    async fn login_form(&self, body: &str, origin: Option<&str>) -> Answer {
        let mut request = self
            .client
            .post(format!("{}/login", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if let Some(o) = origin {
            request = request.header("origin", o);
        }
        self.send(request, Auth::None).await
    }

    /// Logs in through the page's form: the session cookie and the page's CSRF token.
    async fn login_page(&self, user: &str, password: &str) -> (String, String) {
        let form = format!("user={user}&password={password}&next=%2Fdatasets%2Forders");
        let answer = self.login_form(&form, None).await;
        assert_eq!(answer.status, 303, "{}", answer.body);
        assert_eq!(answer.headers["location"], "/datasets/orders");
        let cookie = answer.headers["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let bearer = cookie
            .strip_prefix("rollout_session=")
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_string();
        let page = self
            .get("/datasets/orders", Auth::Cookie(&bearer, None))
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page
            .body
            .split("name=\"csrf-token\" content=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        (bearer, csrf)
    }
}

async fn token_for(admin: &datafusion_rollout::RolloutContext, user: &str) -> String {
    let shown = run(admin, &format!("CREATE TOKEN FOR {user}")).await;
    shown
        .split(|c: char| c.is_whitespace() || c == '|')
        .find(|w| w.starts_with("rollout_"))
        .expect("the token is shown")
        .to_string()
}

async fn sequence(admin: &datafusion_rollout::RolloutContext) -> u64 {
    admin.store().refresh().await.unwrap().sequence
}

#[tokio::test]
async fn the_api_shows_what_the_caller_may_read_and_refuses_the_rest() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let admin = admin_session(&store).await;
    run(&admin, "CREATE DATASET secret COMMENT 'only admins'").await;
    let alice = token_for(&admin, "alice").await;
    let bob = token_for(&admin, "bob").await;
    let svc = token_for(&admin, "svc").await;
    let server = Server::start_with(&store, true, None).await;
    let http = Http::new(&server);

    // No credentials: 401 with a JSON error naming its kind, for the API and the list.
    let a = http.get("/api/datasets", Auth::None).await;
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(a.json()["kind"], "unauthenticated");
    assert!(a.headers.contains_key("www-authenticate"));
    assert_eq!(
        http.get("/api/datasets", Auth::Bearer("made-up"))
            .await
            .status,
        401
    );

    // Each caller sees the datasets they may READ.
    let names = |a: &Answer| -> Vec<String> {
        a.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&http.get("/api/datasets", Auth::Bearer(&bob)).await),
        ["orders", "secret"]
    );
    assert_eq!(
        names(&http.get("/api/datasets", Auth::Bearer(&svc)).await),
        ["orders"]
    );
    let a = http.get("/api/datasets", Auth::Bearer(&alice)).await;
    let list = a.json();
    assert_eq!(list[0]["stable"], "v1");
    assert_eq!(list[0]["health"], "stable");
    assert_eq!(list[0]["versions"], 2);

    // One dataset: its versions, what the caller may do.
    let a = http.get("/api/datasets/orders", Auth::Bearer(&alice)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let d = a.json();
    assert_eq!(d["versions"].as_array().unwrap().len(), 2);
    assert_eq!(d["versions"][0]["rows"], 10);
    assert_eq!(d["allowed"]["rollback"], true);
    assert_eq!(d["allowed"]["promote"], true);
    let d = http
        .get("/api/datasets/orders", Auth::Bearer(&bob))
        .await
        .json();
    assert_eq!(d["allowed"]["rollback"], false);
    // READ is needed; a dataset that does not exist is a 404 naming it.
    let a = http.get("/api/datasets/secret", Auth::Bearer(&svc)).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.json()["error"].as_str().unwrap().contains("READ"),
        "{}",
        a.body
    );
    for path in [
        "/api/datasets/secret/history",
        "/api/datasets/secret/drift?baseline=v1&candidate=v2",
        "/datasets/secret",
        "/datasets/secret/drift-panel?baseline=v1&candidate=v2",
    ] {
        let a = http.get(path, Auth::Bearer(&svc)).await;
        assert_eq!(a.status, 403, "{path}: {}", a.body);
        assert!(a.body.contains("svc lacks READ"), "{path}: {}", a.body);
    }
    // A name svc may not read is refused alike whether it exists or not (no leak of names).
    let a = http.get("/api/datasets/nope", Auth::Bearer(&svc)).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(
        a.body.contains("svc lacks READ ON DATASET nope"),
        "{}",
        a.body
    );
    let a = http.get("/api/datasets/nope", Auth::Bearer(&bob)).await;
    assert_eq!(a.status, 404, "{}", a.body);
    assert!(a.body.contains("nope"), "{}", a.body);
    let a = http
        .get("/api/datasets/nope/history", Auth::Bearer(&bob))
        .await;
    assert_eq!(a.status, 404, "{}", a.body);

    // History with its evidence, all or the last n.
    let h = http
        .get("/api/datasets/orders/history", Auth::Bearer(&bob))
        .await
        .json();
    let ops: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    // The GRANTs on orders are its entries too.
    assert_eq!(
        ops,
        [
            "CREATE DATASET",
            "CREATE VERSION",
            "CREATE VERSION",
            "PROMOTE",
            "GRANT",
            "GRANT"
        ]
    );
    let h = http
        .get("/api/datasets/orders/history?limit=1", Auth::Bearer(&bob))
        .await
        .json();
    assert_eq!(h.as_array().unwrap().len(), 1);
    assert_eq!(h[0]["statement"], "GRANT READ ON DATASET orders TO svc");
    assert_eq!(h[0]["actor"], "admin");
    assert_eq!(
        http.get("/api/datasets/orders/history?limit=x", Auth::Bearer(&bob))
            .await
            .status,
        400
    );

    // Drift: statistics and histograms whose bars count every row of each version.
    let a = http
        .get(
            "/api/datasets/orders/drift?baseline=v1&candidate=v2&bins=5",
            Auth::Bearer(&bob),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let drift = a.json();
    let columns = drift["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 2, "{drift}");
    let v = columns.iter().find(|c| c["column"] == "v").unwrap();
    assert_eq!(v["verdict"], "drift");
    assert_eq!(v["ks_statistic"], 1.0);
    let hist = &v["histogram"];
    assert_eq!(hist["bins"]["kind"], "numeric");
    let sum = |k: &str| {
        hist[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!((sum("baseline"), sum("candidate")), (10, 10));
    // v1 is all 1s, v2 all 2s: the lowest and the highest bin.
    assert_eq!(hist["baseline"][0], 10);
    assert_eq!(hist["candidate"][4], 10);
    for (query, status) in [
        ("baseline=v1&candidate=v9", 404),
        ("baseline=v1", 400),
        ("baseline=v1&candidate=v2&bins=0", 400),
        ("baseline=v1&candidate=v2&bins=1000", 400),
    ] {
        let a = http
            .get(
                &format!("/api/datasets/orders/drift?{query}"),
                Auth::Bearer(&bob),
            )
            .await;
        assert_eq!(a.status, status, "{query}: {}", a.body);
    }
    // Looking is not consuming: the drift scans recorded no read.
    admin.store().events().flush().await.unwrap();
    let d = http
        .get("/api/datasets/orders", Auth::Bearer(&bob))
        .await
        .json();
    assert_eq!(d["reads"], json!([]), "{d}");

    // The OpenAPI document describes every path and every error kind.
    let a = http.get("/api/openapi.json", Auth::None).await;
    assert_eq!(a.status, 200);
    let doc = a.json();
    for path in [
        "/api/datasets",
        "/api/datasets/{name}",
        "/api/datasets/{name}/history",
        "/api/datasets/{name}/drift",
        "/api/datasets/{name}/rollback",
        "/api/datasets/{name}/advance",
        "/api/datasets/{name}/promote",
        "/api/datasets/{name}/approve",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    let kinds = doc["components"]["schemas"]["Error"]["properties"]["kind"]["enum"].to_string();
    for kind in datafusion_rollout::ErrorKind::ALL {
        assert!(
            kinds.contains(&format!("\"{}\"", kind.name())),
            "{kind:?} missing"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn posts_run_the_statements_as_the_caller_and_refusals_change_nothing() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let admin = admin_session(&store).await;
    let alice = token_for(&admin, "alice").await;
    let bob = token_for(&admin, "bob").await;
    let server = Server::start_with(&store, true, None).await;
    let http = Http::new(&server);
    let promote =
        r#"{"reason": "canary for alice", "version": "v2", "exposure": {"cohorts": ["canary"]}}"#;

    // Refusals, each leaving the log as it was.
    let before = sequence(&admin).await;
    for (path, body, auth, status, says) in [
        (
            "/api/datasets/orders/promote",
            promote,
            Auth::None,
            401,
            "credentials",
        ),
        (
            "/api/datasets/orders/promote",
            promote,
            Auth::Bearer(&bob),
            403,
            "bob lacks PROMOTE",
        ),
        (
            "/api/datasets/orders/rollback",
            r#"{"reason": "x"}"#,
            Auth::Bearer(&bob),
            403,
            "ROLLBACK",
        ),
        (
            "/api/datasets/orders/promote",
            r#"{"version": "v2"}"#,
            Auth::Bearer(&alice),
            400,
            "reason",
        ),
        (
            "/api/datasets/orders/promote",
            r#"{"reason": " ", "version": "v2"}"#,
            Auth::Bearer(&alice),
            400,
            "reason",
        ),
        (
            "/api/datasets/orders/promote",
            r#"{"reason": "x"}"#,
            Auth::Bearer(&alice),
            400,
            "version",
        ),
        (
            "/api/datasets/orders/promote",
            r#"{"reason": "x", "version": "v2""#,
            Auth::Bearer(&alice),
            400,
            "JSON",
        ),
        (
            "/api/datasets/orders/promote",
            r#"{"reason": "x", "version": "v2", "colour": 1}"#,
            Auth::Bearer(&alice),
            400,
            "colour",
        ),
        (
            "/api/datasets/orders/promote",
            r#"{"reason": "x", "version": "v9"}"#,
            Auth::Bearer(&alice),
            404,
            "v9",
        ),
        (
            "/api/datasets/orders/promote",
            r#"{"reason": "x", "version": "v2", "exposure": {"percent": 101}}"#,
            Auth::Bearer(&alice),
            400,
            "percent",
        ),
        (
            "/api/datasets/orders/rollback",
            r#"{"reason": "x", "version": "v2"}"#,
            Auth::Bearer(&alice),
            400,
            "version",
        ),
        (
            "/api/datasets/orders/approve",
            r#"{"reason": "x", "request": 99}"#,
            Auth::Bearer(&alice),
            404,
            "#99",
        ),
        (
            "/api/datasets/orders/explode",
            r#"{"reason": "x"}"#,
            Auth::Bearer(&alice),
            404,
            "explode",
        ),
        (
            "/api/datasets/nope/rollback",
            r#"{"reason": "x"}"#,
            Auth::Bearer(&bob),
            404,
            "nope",
        ),
        (
            // alice may not read "nope": refused as for any dataset she lacks ROLLBACK on.
            "/api/datasets/nope/rollback",
            r#"{"reason": "x"}"#,
            Auth::Bearer(&alice),
            403,
            "alice lacks ROLLBACK ON DATASET nope",
        ),
        (
            "/api/datasets/orders/advance",
            r#"{"reason": "x"}"#,
            Auth::Bearer(&alice),
            409,
            "no staged rollout",
        ),
    ] {
        let a = http.post(path, body, auth).await;
        assert_eq!(a.status, status, "{path} {body}: {}", a.body);
        assert!(a.body.contains(says), "{path} {body}: {}", a.body);
    }
    // Not JSON at all.
    let a = http
        .send(
            http.client
                .post(format!("{}/api/datasets/orders/rollback", http.base))
                .header("content-type", "text/plain")
                .body("reason=x"),
            Auth::Bearer(&alice),
        )
        .await;
    assert_eq!(a.status, 415, "{}", a.body);
    // Sent from another site's page (its Origin is not this server): refused whatever else.
    let a = http
        .send(
            http.client
                .post(format!("{}/api/datasets/orders/promote", http.base))
                .header("content-type", "application/json")
                .header("origin", "https://evil.example")
                .body(promote),
            Auth::Bearer(&alice),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("another site"), "{}", a.body);
    let a = http
        .login_form(
            "user=alice&password=alice-password",
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(!a.headers.contains_key("set-cookie"));
    assert_eq!(sequence(&admin).await, before, "a refusal changed the log");

    // A promotion with a bearer: committed as alice, with her reason.
    let a = http
        .post(
            "/api/datasets/orders/promote",
            promote,
            Auth::Bearer(&alice),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let done = a.json();
    assert_eq!(done["outcome"], "committed");
    assert_eq!(done["operation"], "PROMOTE");
    let d = http
        .get("/api/datasets/orders", Auth::Bearer(&alice))
        .await
        .json();
    assert_eq!(d["candidate"]["version"], "v2");
    assert_eq!(d["candidate"]["cohorts"], json!(["canary"]));
    assert_eq!(d["health"], "healthy");
    let last = http.last_entry(Auth::Bearer(&alice)).await;
    assert_eq!(last["actor"], "alice");
    assert_eq!(last["reason"], "canary for alice");
    assert_eq!(
        last["statement"],
        "PROMOTE orders TO 'v2' FOR COHORT canary REASON 'canary for alice'"
    );

    // The page's session: its cookie alone cannot change anything (a forged cross-site
    // request carries the cookie but cannot know the token); with the token it can.
    let (cookie, csrf) = http.login_page("alice", "alice-password").await;
    let rollback = r#"{"reason": "candidate looks wrong"}"#;
    let before = sequence(&admin).await;
    for auth in [
        Auth::Cookie(&cookie, None),
        Auth::Cookie(&cookie, Some("forged")),
    ] {
        let a = http
            .post("/api/datasets/orders/rollback", rollback, auth)
            .await;
        assert_eq!(a.status, 403, "{}", a.body);
        assert!(a.body.contains("x-rollout-csrf"), "{}", a.body);
    }
    assert_eq!(sequence(&admin).await, before);
    let a = http
        .post(
            "/api/datasets/orders/rollback",
            rollback,
            Auth::Cookie(&cookie, Some(&csrf)),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let last = http.last_entry(Auth::Bearer(&alice)).await;
    assert_eq!(last["operation"], "ROLLBACK");
    assert_eq!(last["actor"], "alice");
    assert_eq!(last["reason"], "candidate looks wrong");
    // The rollback's blast radius is its evidence; the dataset is stable again.
    let d = http
        .get("/api/datasets/orders", Auth::Cookie(&cookie, None))
        .await
        .json();
    assert!(d["candidate"].is_null());
    assert_eq!(d["health"], "rolled_back");
    assert_eq!(d["drift_pair"], json!(["v1", "v2"]));

    // Logging out ends the session: the cookie no longer works.
    let a = http
        .send(
            http.client.post(format!("{}/logout", http.base)),
            Auth::Cookie(&cookie, None),
        )
        .await;
    assert_eq!(a.status, 303);
    let a = http.get("/api/datasets", Auth::Cookie(&cookie, None)).await;
    assert_eq!(a.status, 401, "{}", a.body);
    server.stop().await;
}

#[tokio::test]
async fn approvals_and_stages_through_the_api() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let admin = admin_session(&store).await;
    run(&admin, "GRANT PROMOTE ON DATASET orders TO bob").await;
    run(&admin, "ALTER DATASET orders SET APPROVALS 2 FOR (PROMOTE)").await;
    let alice = token_for(&admin, "alice").await;
    let bob = token_for(&admin, "bob").await;
    let server = Server::start_with(&store, true, None).await;
    let http = Http::new(&server);

    // Alice's staged promotion waits for a second principal.
    let body = r#"{"reason": "staged", "version": "v2", "exposure": {"stages": [10, 50, 100]}}"#;
    let a = http
        .post("/api/datasets/orders/promote", body, Auth::Bearer(&alice))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["operation"], "REQUEST APPROVAL", "{}", a.body);
    let d = http
        .get("/api/datasets/orders", Auth::Bearer(&alice))
        .await
        .json();
    assert!(d["candidate"].is_null());
    let pending = d["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{d}");
    let id = pending[0]["id"].as_u64().unwrap();
    assert_eq!(pending[0]["requested_by"], "alice");
    // The requester cannot approve her own request; the button is for others.
    assert_eq!(d["allowed"]["approve"], false);
    let a = http
        .post(
            "/api/datasets/orders/approve",
            &format!(r#"{{"reason": "me", "request": {id}}}"#),
            Auth::Bearer(&alice),
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.body);
    let d = http
        .get("/api/datasets/orders", Auth::Bearer(&bob))
        .await
        .json();
    assert_eq!(d["allowed"]["approve"], true);
    // svc may READ orders but not PROMOTE it: approving is not for svc.
    let svc = token_for(&admin, "svc").await;
    let d = http
        .get("/api/datasets/orders", Auth::Bearer(&svc))
        .await
        .json();
    assert_eq!(d["allowed"]["approve"], false, "{d}");
    let a = http
        .post(
            "/api/datasets/orders/approve",
            &format!(r#"{{"reason": "reviewed", "request": {id}}}"#),
            Auth::Bearer(&bob),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let d = http
        .get("/api/datasets/orders", Auth::Bearer(&bob))
        .await
        .json();
    assert_eq!(d["candidate"]["version"], "v2", "{d}");
    assert_eq!(d["candidate"]["stage"], 1);
    assert_eq!(d["candidate"]["stages"], json!([10.0, 50.0, 100.0]));
    assert_eq!(d["candidate"]["next_stage"], 50.0);
    assert_eq!(d["pending"], json!([]));

    // ADVANCE moves to the next stage, as alice (who holds PROMOTE through her role).
    let a = http
        .post(
            "/api/datasets/orders/advance",
            r#"{"reason": "looks fine"}"#,
            Auth::Bearer(&alice),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let d = http
        .get("/api/datasets/orders", Auth::Bearer(&alice))
        .await
        .json();
    assert_eq!(d["candidate"]["stage"], 2);
    assert_eq!(d["candidate"]["percent"], 50.0);
    let last = http.last_entry(Auth::Bearer(&alice)).await;
    assert_eq!(last["operation"], "ADVANCE");
    assert_eq!(last["actor"], "alice");
    server.stop().await;
}

#[tokio::test]
async fn pages_escape_hostile_text_and_send_strangers_to_the_login() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let admin = admin_session(&store).await;
    let evil = r#"<script>alert(1)</script>"#;
    run(
        &admin,
        &format!("CREATE DATASET hostile COMMENT '{evil}\"><img src=x onerror=alert(2)>'"),
    )
    .await;
    run(
        &admin,
        "CREATE VERSION 'v1' OF hostile AS SELECT '<b>bold</b>' AS label, 1 AS n",
    )
    .await;
    run(&admin, &format!("PROMOTE hostile TO 'v1' REASON '{evil}'")).await;
    let server = Server::start_with(&store, true, None).await;
    let http = Http::new(&server);

    // Strangers are sent to the login page, with where they were going.
    let a = http.get("/datasets/hostile", Auth::None).await;
    assert_eq!(a.status, 303);
    assert_eq!(a.headers["location"], "/login?next=%2Fdatasets%2Fhostile");
    let a = http.get("/login?next=//evil.example/", Auth::None).await;
    assert!(
        a.body.contains(r#"name="next" value="/""#),
        "an open redirect: {}",
        a.body
    );
    // A wrong password says so on the login page, the same for a user that does not exist.
    let form = |u: &str| format!("user={u}&password=wrong");
    let mut texts = Vec::new();
    for user in ["admin", "nobody"] {
        let a = http.login_form(&form(user), None).await;
        assert_eq!(a.status, 401);
        assert!(!a.headers.contains_key("set-cookie"));
        texts.push(a.body);
    }
    assert_eq!(texts[0], texts[1]);

    let bob = token_for(&admin, "bob").await;
    for path in ["/", "/datasets/hostile"] {
        let a = http.get(path, Auth::Bearer(&bob)).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert!(
            !a.body.contains("<script>alert"),
            "{path} has a raw script: {}",
            a.body
        );
        assert!(!a.body.contains("<img src=x"), "{path} has a raw tag");
        let csp = a.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(a.headers["x-frame-options"], "DENY");
    }
    let page = http.get("/datasets/hostile", Auth::Bearer(&bob)).await.body;
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{page}"
    );
    // bob may not roll back: no button.
    assert!(!page.contains("data-action=\"rollback\""));
    // Who may roll back sees the button.
    run(&admin, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
    let (cookie, _) = http.login_page("admin", "admin-password").await;
    let admin_page = http
        .get("/datasets/orders", Auth::Cookie(&cookie, None))
        .await
        .body;
    assert!(
        admin_page.contains("data-action=\"rollback\""),
        "{admin_page}"
    );
    // A name in the URL that is no dataset: 404, the name escaped.
    let a = http
        .get(
            "/datasets/%3Cscript%3Ealert(3)%3C%2Fscript%3E",
            Auth::Bearer(&bob),
        )
        .await;
    assert_eq!(a.status, 404);
    assert!(a.body.contains("&#60;script&#62;alert(3)"), "{}", a.body);
    assert!(!a.body.contains("<script>alert(3)"));
    // The drift panel fragment escapes category values too.
    run(
        &admin,
        "CREATE VERSION 'v2' OF hostile AS SELECT '<i>it</i>' AS label, 2 AS n",
    )
    .await;
    let a = http
        .get(
            "/datasets/hostile/drift-panel?baseline=v1&candidate=v2",
            Auth::Bearer(&bob),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("&#60;b&#62;bold&#60;/b&#62;"), "{}", a.body);
    assert!(!a.body.contains("<b>bold"));
    server.stop().await;
}

#[tokio::test]
async fn an_open_store_needs_no_login_but_its_pages_still_need_the_csrf_token() {
    let dir = TempDir::new().unwrap();
    let store = dir.path().join("store").display().to_string();
    let rc = datafusion_rollout::RolloutContext::open(&store)
        .await
        .unwrap();
    for sql in [
        "CREATE DATASET orders",
        "CREATE VERSION 'v1' OF orders AS SELECT value AS id FROM generate_series(1, 5)",
        "CREATE VERSION 'v2' OF orders AS SELECT value AS id FROM generate_series(1, 6)",
        "PROMOTE orders TO 'v1'",
        "PROMOTE orders TO 'v2' AT 10 PERCENT",
    ] {
        run(&rc, sql).await;
    }
    let server = Server::start_with(&store, true, None).await;
    let http = Http::new(&server);
    let a = http.get("/", Auth::None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("/datasets/orders"));
    // A script on another site can make the browser POST, but not send the header.
    let a = http
        .post(
            "/api/datasets/orders/rollback",
            r#"{"reason": "x"}"#,
            Auth::None,
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let page = http.get("/datasets/orders", Auth::None).await.body;
    let csrf = page
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let a = http
        .send(
            http.client
                .post(format!("{}/api/datasets/orders/rollback", http.base))
                .header("content-type", "application/json")
                .header("x-rollout-csrf", &csrf)
                .body(r#"{"reason": "from the page"}"#),
            Auth::None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    server.stop().await;
}

#[tokio::test]
async fn the_report_is_one_file_with_nothing_to_fetch() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let admin = admin_session(&store).await;
    run(
        &admin,
        "PROMOTE orders TO 'v2' FOR COHORT canary REASON 'try'",
    )
    .await;
    let html = rollout_server::web::report::report(&admin, "orders")
        .await
        .unwrap();
    assert!(html.contains("<style>"), "the CSS is inlined");
    assert!(!html.contains("<script"), "a report runs no script");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "nothing fetched"
    );
    assert!(
        !html.contains("/assets/"),
        "nothing fetched from the server"
    );
    assert!(
        html.contains("class=\"drift-panel\""),
        "the drift panel is rendered in"
    );
    assert!(
        html.contains("PROMOTE orders TO &#39;v2&#39; FOR COHORT canary"),
        "the history"
    );
    // READ is needed, as for the page.
    let bob_no_read = datafusion_rollout::RolloutContext::open_with(
        &store,
        datafusion_rollout::RolloutOptions {
            user: Some("svc".into()),
            token: Some(datafusion_rollout::Secret::new(
                token_for(&admin, "svc").await,
            )),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    run(&admin, "CREATE DATASET secret").await;
    let e = rollout_server::web::report::report(&bob_no_read, "secret")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("READ"), "{e}");
    let e = rollout_server::web::report::report(&admin, "nope")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

#[tokio::test]
async fn each_approval_keeps_the_approvers_reason() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let admin = admin_session(&store).await;
    run(&admin, "GRANT PROMOTE ON DATASET orders TO bob").await;
    run(&admin, "ALTER DATASET orders SET APPROVALS 3 FOR (PROMOTE)").await;
    let alice = token_for(&admin, "alice").await;
    let bob = token_for(&admin, "bob").await;
    let root = token_for(&admin, "admin").await;
    let server = Server::start_with(&store, true, None).await;
    let http = Http::new(&server);
    let body = r#"{"reason": "ship it", "version": "v2"}"#;
    let a = http
        .post("/api/datasets/orders/promote", body, Auth::Bearer(&alice))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let d = http
        .get("/api/datasets/orders", Auth::Bearer(&bob))
        .await
        .json();
    let id = d["pending"][0]["id"].as_u64().unwrap();
    let approve = |reason: &str| format!(r#"{{"reason": "{reason}", "request": {id}}}"#);
    let a = http
        .post(
            "/api/datasets/orders/approve",
            &approve("first look"),
            Auth::Bearer(&bob),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let last = http.last_entry(Auth::Bearer(&bob)).await;
    assert_eq!(last["operation"], "APPROVE");
    assert_eq!(last["actor"], "bob");
    assert_eq!(last["reason"], "first look");
    // The last approval runs the change as its requester, with her reason.
    let a = http
        .post(
            "/api/datasets/orders/approve",
            &approve("second look"),
            Auth::Bearer(&root),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let last = http.last_entry(Auth::Bearer(&bob)).await;
    assert_eq!(last["operation"], "PROMOTE");
    assert_eq!(last["actor"], "alice");
    assert_eq!(last["reason"], "ship it");
    let d = http
        .get("/api/datasets/orders", Auth::Bearer(&bob))
        .await
        .json();
    assert_eq!(d["stable"], "v2");
    server.stop().await;
}

#[tokio::test]
async fn a_long_history_shows_its_last_entries_and_all_on_request() {
    let dir = TempDir::new().unwrap();
    let store = dir.path().join("store").display().to_string();
    let rc = datafusion_rollout::RolloutContext::open(&store)
        .await
        .unwrap();
    for sql in [
        "CREATE DATASET orders",
        "CREATE VERSION 'v1' OF orders AS SELECT 1 AS id",
        "CREATE VERSION 'v2' OF orders AS SELECT 2 AS id",
        "PROMOTE orders TO 'v1'",
        "CREATE COHORT canary MEMBERS ('alice')",
    ] {
        run(&rc, sql).await;
    }
    for i in 0..60 {
        run(
            &rc,
            &format!("PROMOTE orders TO 'v2' FOR COHORT canary REASON 'try {i}'"),
        )
        .await;
        run(&rc, "ROLLBACK orders").await;
    }
    let server = Server::start_with(&store, true, None).await;
    let http = Http::new(&server);
    let entries = |page: &str| page.matches("<li class=\"entry").count();
    let page = http.get("/datasets/orders", Auth::None).await.body;
    // 4 entries of orders before the loop (the cohort is no dataset's), 120 in it.
    assert_eq!(entries(&page), 100);
    assert!(page.contains("All 124 entries"), "{page}");
    // Newest first.
    let first = page.find("try 59").unwrap();
    assert!(page.find("try 58").unwrap() > first);
    let page = http
        .get("/datasets/orders?history=all", Auth::None)
        .await
        .body;
    assert_eq!(entries(&page), 124);
    assert!(!page.contains("All 124 entries"));
    server.stop().await;
}
