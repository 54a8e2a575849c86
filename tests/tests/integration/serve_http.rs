//! `rollout serve`'s HTTP side (`/metrics`, `/healthz`) and TLS, on loopback: a real server,
//! arrow-flight's Flight SQL client and reqwest, as Prometheus and a load balancer would call.

use std::path::PathBuf;

use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use rollout_server::Tls;
use tempfile::TempDir;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use crate::access::governed_store;
use crate::common::*;
use crate::serve::{Server, admin_session, query, value};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls")
        .join(name)
}

/// GET `url` with an optional bearer: (status, content type, body).
async fn get(client: &reqwest::Client, url: &str, bearer: Option<&str>) -> (u16, String, String) {
    let mut request = client.get(url);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// The value of the sample `series` (name and labels exactly as exposed) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn metrics_count_each_versions_reads_and_healthz_reports_the_store() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let admin = admin_session(&store).await;
    let token = run(&admin, "CREATE TOKEN FOR bob").await;
    let token = token
        .split(|c: char| c.is_whitespace() || c == '|')
        .find(|w| w.starts_with("rollout_"))
        .expect("the token is shown")
        .to_string();
    let server = Server::start_with(&store, true, None).await;
    let base = format!("http://{}", server.http.unwrap());
    let http = reqwest::Client::new();

    let mut alice = server.client().await;
    let alice_bearer = alice.handshake("alice", "alice-password").await.unwrap();
    let alice_bearer = String::from_utf8(alice_bearer.to_vec()).unwrap();
    let mut bob = server.login("bob", "bob-password").await;
    assert!(
        server
            .client()
            .await
            .handshake("bob", "wrong")
            .await
            .is_err()
    );
    value(
        &mut alice,
        "PROMOTE orders TO 'v2' FOR COHORT canary REASON 'canary'",
    )
    .await;
    for _ in 0..3 {
        assert_eq!(value(&mut alice, "SELECT sum(v) FROM orders").await, "20");
    }
    for _ in 0..2 {
        assert_eq!(value(&mut bob, "SELECT sum(v) FROM orders").await, "10");
    }
    query(&mut bob, "SELECT * FROM nope").await.unwrap_err();

    // Health: no login needed, the store's sequence.
    let (status, _, body) = get(&http, &format!("{base}/healthz"), None).await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    admin.store().refresh().await.unwrap();
    assert_eq!(health["sequence"], admin.store().state().sequence);

    // Metrics name every dataset: a login that may READ them all.
    let (status, _, body) = get(&http, &format!("{base}/metrics"), None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = get(&http, &format!("{base}/metrics"), Some(&alice_bearer)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("alice lacks READ ON ALL DATASETS"), "{body}");
    let (status, _, body) = get(&http, &format!("{base}/metrics"), Some("made-up")).await;
    assert_eq!(status, 401, "{body}");

    let (status, content_type, text) = get(&http, &format!("{base}/metrics"), Some(&token)).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    let reads = |version: &str, arm: &str| {
        sample(
            &text,
            &format!(
                "rollout_reads_total{{dataset=\"orders\",version=\"{version}\",arm=\"{arm}\"}}"
            ),
        )
    };
    assert_eq!(reads("v2", "candidate"), Some(3.0), "{text}");
    assert_eq!(reads("v1", "stable"), Some(2.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "rollout_read_rows_total{dataset=\"orders\",version=\"v2\",arm=\"candidate\"}"
        ),
        Some(30.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "rollout_read_duration_seconds_count{dataset=\"orders\",version=\"v1\",arm=\"stable\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "rollout_logins_total{method=\"password\",outcome=\"ok\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "rollout_logins_total{method=\"password\",outcome=\"refused\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "rollout_logins_total{method=\"token\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "{text}"
    );
    // PROMOTE and five SELECTs succeeded; the unknown table did not.
    assert_eq!(
        sample(&text, "rollout_statements_total{status=\"ok\"}"),
        Some(6.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "rollout_statements_total{status=\"InvalidArgument\"}"
        )
        .or_else(|| sample(&text, "rollout_statements_total{status=\"NotFound\"}")),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "rollout_log_sequence"),
        Some(admin.store().state().sequence as f64),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_open_store_shows_its_metrics_to_anyone() {
    let dir = TempDir::new().unwrap();
    let store = dir.path().join("store").display().to_string();
    let rc = datafusion_rollout::RolloutContext::open(&store)
        .await
        .unwrap();
    run(&rc, "CREATE DATASET orders").await;
    run(
        &rc,
        "CREATE VERSION 'v1' OF orders AS SELECT value AS id FROM generate_series(1, 4)",
    )
    .await;
    run(&rc, "PROMOTE orders TO 'v1'").await;
    let server = Server::start_with(&store, true, None).await;
    let mut client = server.client().await;
    assert_eq!(
        value(&mut client, "SELECT count(id) FROM orders").await,
        "4"
    );
    let (status, _, text) = get(
        &reqwest::Client::new(),
        &format!("http://{}/metrics", server.http.unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        sample(
            &text,
            "rollout_reads_total{dataset=\"orders\",version=\"v1\",arm=\"stable\"}"
        ),
        Some(1.0),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn tls_serves_flight_and_http_and_plain_text_gets_nothing() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let tls = Tls::from_files(&fixture("server.pem"), &fixture("server.key")).unwrap();
    let server = Server::start_with(&store, true, Some(tls)).await;
    let ca = std::fs::read(fixture("ca.pem")).unwrap();

    let channel = Channel::from_shared(format!("https://localhost:{}", server.addr.port()))
        .unwrap()
        .tls_config(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&ca))
                .domain_name("localhost"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut bob = arrow_flight::sql::client::FlightSqlServiceClient::new(channel);
    bob.handshake("bob", "bob-password").await.unwrap();
    assert_eq!(value(&mut bob, "SELECT max(v) FROM orders").await, "1");

    // The same port in plain text: no login, no query.
    let mut plain = server.client().await;
    assert!(plain.handshake("bob", "bob-password").await.is_err());

    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let port = server.http.unwrap().port();
    let (status, _, body) = get(&https, &format!("https://localhost:{port}/healthz"), None).await;
    assert_eq!(status, 200, "{body}");
    // A client that does not trust the certificate, and one speaking plain HTTP, get nothing.
    let untrusting = reqwest::Client::new();
    assert!(
        untrusting
            .get(format!("https://localhost:{port}/healthz"))
            .send()
            .await
            .is_err()
    );
    assert!(
        untrusting
            .get(format!("http://localhost:{port}/healthz"))
            .send()
            .await
            .is_err()
    );
    server.stop().await;
}

/// `--tls-client-ca`: a client without a certificate, or with one another CA signed, is
/// refused at the handshake on both endpoints; one the CA signed still logs in as a user.
#[tokio::test]
async fn mutual_tls_lets_in_only_clients_with_a_certificate_the_ca_signed() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let tls = Tls::from_files(&fixture("server.pem"), &fixture("server.key"))
        .unwrap()
        .with_client_ca_file(&fixture("client-ca.pem"))
        .unwrap();
    assert!(tls.requires_client_certificates());
    let server = Server::start_with(&store, true, Some(tls)).await;
    let ca = std::fs::read(fixture("ca.pem")).unwrap();
    let identity = |name: &str| {
        let cert = std::fs::read(fixture(&format!("{name}.pem"))).unwrap();
        let key = std::fs::read(fixture(&format!("{name}.key"))).unwrap();
        (cert, key)
    };
    let flight = |client: Option<(Vec<u8>, Vec<u8>)>| {
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&ca))
            .domain_name("localhost");
        if let Some((cert, key)) = client {
            config = config.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        let url = format!("https://localhost:{}", server.addr.port());
        async move {
            let channel = Channel::from_shared(url)
                .unwrap()
                .tls_config(config)
                .unwrap()
                .connect()
                .await?;
            let mut client = FlightSqlServiceClient::new(channel);
            client.handshake("bob", "bob-password").await?;
            Ok::<_, Box<dyn std::error::Error>>(client)
        }
    };
    let mut bob = flight(Some(identity("client")))
        .await
        .expect("a client the CA signed");
    assert_eq!(value(&mut bob, "SELECT max(v) FROM orders").await, "1");
    assert!(flight(None).await.is_err(), "no client certificate");
    assert!(
        flight(Some(identity("stranger"))).await.is_err(),
        "a certificate the CA did not sign"
    );

    let https = |client: Option<(Vec<u8>, Vec<u8>)>| {
        let mut builder = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
        if let Some((mut cert, key)) = client {
            cert.extend_from_slice(&key);
            builder = builder.identity(reqwest::Identity::from_pem(&cert).unwrap());
        }
        builder.build().unwrap()
    };
    let health = format!("https://localhost:{}/healthz", server.http.unwrap().port());
    let (status, _, body) = get(&https(Some(identity("client"))), &health, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(https(None).get(&health).send().await.is_err());
    assert!(
        https(Some(identity("stranger")))
            .get(&health)
            .send()
            .await
            .is_err()
    );
    server.stop().await;
}

#[test]
fn bad_client_cas_are_refused_naming_the_file() {
    let tls = || Tls::from_files(&fixture("server.pem"), &fixture("server.key")).unwrap();
    let missing = tls().with_client_ca_file(&fixture("nope.pem")).unwrap_err();
    assert!(missing.contains("nope.pem"), "{missing}");
    let not_a_cert = tls()
        .with_client_ca_file(&fixture("client.key"))
        .unwrap_err();
    assert!(
        not_a_cert.contains("client.key") && not_a_cert.contains("no CERTIFICATE"),
        "{not_a_cert}"
    );
    assert!(!not_a_cert.contains("BEGIN"), "{not_a_cert}");
}

#[test]
fn bad_certificates_and_keys_are_refused_naming_the_file() {
    let missing = Tls::from_files(&fixture("nope.pem"), &fixture("server.key")).unwrap_err();
    assert!(missing.contains("nope.pem"), "{missing}");
    // The CA's certificate is not the server's key; a key is not a certificate.
    let wrong_pair = Tls::from_files(&fixture("ca.pem"), &fixture("server.key")).unwrap_err();
    assert!(wrong_pair.contains("does not fit"), "{wrong_pair}");
    let not_a_cert = Tls::from_files(&fixture("server.key"), &fixture("server.key")).unwrap_err();
    assert!(not_a_cert.contains("no CERTIFICATE"), "{not_a_cert}");
    let not_a_key = Tls::from_files(&fixture("server.pem"), &fixture("ca.pem")).unwrap_err();
    assert!(
        not_a_key.contains("server.pem") && not_a_key.contains("key"),
        "{not_a_key}"
    );
    assert!(!not_a_key.contains("BEGIN"), "{not_a_key}");
}

/// Runs `sql` and returns what the server says it did (the `FlightInfo`'s app_metadata) and
/// the first value of its result; or the error's `x-rollout-kind` and message.
pub(crate) async fn described(
    client: &mut FlightSqlServiceClient<Channel>,
    sql: &str,
) -> Result<(serde_json::Value, String), (String, String)> {
    let info = client.execute(sql.to_string(), None).await.map_err(|e| {
        let status = match &e {
            FlightError::Tonic(status) => Some(status.clone()),
            _ => None,
        };
        let kind = status
            .as_ref()
            .and_then(|s| s.metadata().get("x-rollout-kind"))
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (kind, e.to_string())
    })?;
    let what: serde_json::Value = serde_json::from_slice(&info.app_metadata).unwrap();
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let stream = client.do_get(endpoint.ticket.unwrap()).await.unwrap();
        batches.extend(stream.try_collect::<Vec<_>>().await.unwrap());
    }
    Ok((what, text_of(&batches)))
}

#[tokio::test]
async fn each_statement_says_what_it_did_and_each_error_its_kind() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let server = Server::start_with(&store, false, None).await;
    let mut alice = server.login("alice", "alice-password").await;
    let mut bob = server.login("bob", "bob-password").await;

    let (what, text) = described(&mut alice, "PROMOTE orders TO 'v2' FOR COHORT canary")
        .await
        .unwrap();
    assert_eq!(what["outcome"], "committed", "{what}");
    assert_eq!(what["operation"], "PROMOTE", "{what}");
    let sequence = what["sequence"].as_u64().unwrap();
    assert!(text.ends_with(&format!("(#{sequence})")), "{text}");
    let (what, _) = described(&mut alice, "PROMOTE orders TO 'v2' FOR COHORT canary")
        .await
        .unwrap();
    assert_eq!(what["outcome"], "unchanged", "{what}");
    let (what, text) = described(&mut bob, "SELECT count(*) FROM orders")
        .await
        .unwrap();
    assert_eq!(
        (what["outcome"].as_str(), text.as_str()),
        (Some("query"), "10")
    );

    // A change FORCEd past failing checks reports no verdict (its exit code is 0, as locally);
    // a CHECK reports its counts.
    let mut admin = server.login("admin", "admin-password").await;
    described(
        &mut admin,
        "CREATE CONTRACT c FOR orders (EXPECT row_count() > 100)",
    )
    .await
    .unwrap();
    let (what, _) = described(&mut admin, "CHECK orders VERSION 'v2'")
        .await
        .unwrap();
    assert_eq!(what["outcome"], "checked", "{what}");
    assert_eq!(what["checks"]["fail"], 1, "{what}");
    let (what, _) = described(
        &mut admin,
        "PROMOTE orders TO 'v2' FORCE REASON 'knowingly'",
    )
    .await
    .unwrap();
    assert_eq!(what["forced"], true, "{what}");
    assert!(what["checks"].is_null(), "{what}");

    let (kind, message) = described(&mut bob, "PROMOTE orders TO 'v2'")
        .await
        .unwrap_err();
    assert_eq!(kind, "permission_denied", "{message}");
    let (kind, message) = described(&mut bob, "SELECT * FROM nope").await.unwrap_err();
    assert_eq!(kind, "not_found", "{message}");
    let (kind, message) = described(&mut alice, "PROMOT orders").await.unwrap_err();
    assert_eq!(kind, "parse", "{message}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_concurrent_promotes_rollbacks_and_reads_no_commit_is_lost_or_doubled() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let admin = admin_session(&store).await;
    // Six release managers (alice's role) and six readers, three of them alice (in the canary
    // cohort, so her reads follow the PROMOTEs and ROLLBACKs).
    let mut setup = Vec::new();
    for i in 0..6 {
        setup.push(format!("CREATE USER rm{i} PASSWORD 'password-rm{i}'"));
        setup.push(format!("GRANT ROLE release TO rm{i}"));
        setup.push(format!("CREATE USER rd{i} PASSWORD 'password-rd{i}'"));
        setup.push(format!("GRANT READ ON DATASET orders TO rd{i}"));
    }
    for sql in &setup {
        run(&admin, sql).await;
    }
    let since = admin.store().state().sequence;
    let server = Server::start_with(&store, false, None).await;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(3);

    let mut writers = Vec::new();
    for i in 0..6 {
        let mut client = server
            .login(&format!("rm{i}"), &format!("password-rm{i}"))
            .await;
        writers.push(tokio::spawn(async move {
            let mut told = Vec::new();
            let mut n = 0;
            while std::time::Instant::now() < until {
                let sql = if n % 2 == 0 {
                    "PROMOTE orders TO 'v2' FOR COHORT canary REASON 'load'"
                } else {
                    "ROLLBACK orders REASON 'load'"
                };
                n += 1;
                // A refusal (another manager got there first) is intended; a commit tells its
                // sequence.
                if let Ok((what, _)) = described(&mut client, sql).await {
                    told.extend(what["sequence"].as_u64());
                }
            }
            told
        }));
    }
    let mut readers = Vec::new();
    for i in 0..6 {
        let mut client = if i < 3 {
            server.login("alice", "alice-password").await
        } else {
            server
                .login(&format!("rd{i}"), &format!("password-rd{i}"))
                .await
        };
        readers.push(tokio::spawn(async move {
            let mut sums = Vec::new();
            while std::time::Instant::now() < until {
                sums.push(value(&mut client, "SELECT sum(v) FROM orders").await);
            }
            sums
        }));
    }
    let mut told: Vec<(String, u64)> = Vec::new();
    for (i, w) in writers.into_iter().enumerate() {
        told.extend(w.await.unwrap().into_iter().map(|s| (format!("rm{i}"), s)));
    }
    for r in readers {
        // Every read saw one whole version: v1 (10 rows of 1) or v2 (10 rows of 2).
        let sums = r.await.unwrap();
        assert!(!sums.is_empty());
        assert!(sums.iter().all(|s| s == "10" || s == "20"), "{sums:?}");
    }
    server.stop().await;

    admin.store().refresh().await.unwrap();
    let log: Vec<_> = admin
        .store()
        .history()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.sequence > since)
        .collect();
    assert!(
        told.len() >= 4,
        "too few commits to prove anything: {told:?}"
    );
    let mut sequences: Vec<u64> = told.iter().map(|(_, s)| *s).collect();
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(
        sequences.len(),
        told.len(),
        "a sequence was told twice: {told:?}"
    );
    // The log holds exactly the commits the clients were told of, each by its principal.
    assert_eq!(
        log.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        sequences,
        "the log and the clients disagree"
    );
    for (user, seq) in &told {
        let entry = log.iter().find(|e| e.sequence == *seq).unwrap();
        assert_eq!(&entry.actor, user, "#{seq}");
    }
}

/// The first value of a result, as text ("" when it has no rows).
fn text_of(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> String {
    batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| datafusion::arrow::util::display::array_value_to_string(b.column(0), 0).unwrap())
        .unwrap_or_default()
}
