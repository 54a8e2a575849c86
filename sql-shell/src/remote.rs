//! `rollout --server grpc://host:port`: the same shell against `rollout serve`, over Flight SQL.
//!
//! Each statement is sent as text and runs on the server as the principal that logged in
//! (the Flight handshake with `--user` and its password, or `ROLLOUT_TOKEN` as the bearer).
//! What the statement did comes back as the `FlightInfo`'s app_metadata (checks and their
//! counts decide the exit code, as locally) and a failure's kind as the `x-rollout-kind`
//! metadata (data that failed its checks exits 1, anything else 2), so a batch job behaves the
//! same against a server as against a local store.

use std::path::{Path, PathBuf};

use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion_rollout::ErrorKind;
use datafusion_rollout::contract::CheckCounts;
use futures::TryStreamExt;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use crate::outcome::Failure;

/// The PEM files of a TLS connection to a server: a CA to trust besides the system's roots,
/// and the client's own certificate and key (for a server that requires them).
#[derive(Debug, Default, Clone)]
pub struct TlsFiles {
    pub ca: Option<PathBuf>,
    pub client: Option<(PathBuf, PathBuf)>,
}

/// How to log in to the server.
pub enum Login {
    /// The handshake with a user name and password.
    Password { user: String, password: String },
    /// An API token sent as the bearer.
    Token(String),
    /// No credentials (a server of an open store).
    Anonymous,
}

/// A connection to `rollout serve`.
pub struct Remote {
    client: FlightSqlServiceClient<Channel>,
    url: String,
}

/// A Failure from a Flight error: its `x-rollout-kind` decides the exit code.
fn failure(context: &str, e: &FlightError) -> Failure {
    let FlightError::Tonic(status) = e else {
        return Failure::error(format!("{context}: {e}"));
    };
    let kind = status
        .metadata()
        .get("x-rollout-kind")
        .and_then(|v| v.to_str().ok())
        .and_then(ErrorKind::from_name);
    let message = status.message().to_string();
    match kind {
        Some(ErrorKind::DataCheck) => Failure::data_check(message),
        Some(_) => Failure::error(message),
        None => Failure::error(format!("{context}: {}", e)),
    }
}

impl Remote {
    /// The rows of `sql`'s answer as text, `columns` (by name) of each, NULL as "": for the
    /// shell's own questions to the server (completion, `\\df`).
    pub async fn strings(&self, sql: &str, columns: &[&str]) -> Result<Vec<Vec<String>>, Failure> {
        let (_, batches, _) = self.execute(sql).await?;
        let mut rows = Vec::new();
        for batch in batches {
            let mut texts = Vec::with_capacity(columns.len());
            for name in columns {
                let column = batch.column_by_name(name).ok_or_else(|| {
                    Failure::error(format!("the server's answer to {sql} has no column {name}"))
                })?;
                let text = cast(column, &DataType::Utf8)
                    .map_err(|e| Failure::error(format!("{name} in the server's answer: {e}")))?;
                texts.push(text.as_string::<i32>().clone());
            }
            for row in 0..batch.num_rows() {
                let text = |t: &StringArray| match t.is_valid(row) {
                    true => t.value(row).to_string(),
                    false => String::new(),
                };
                rows.push(texts.iter().map(text).collect());
            }
        }
        Ok(rows)
    }

    /// Connects to `url` (`grpc://host:port`, or `grpc+tls://host:port` trusting the system's
    /// roots or `tls`'s CA, presenting `tls`'s client certificate if any) and logs in.
    pub async fn connect(url: &str, login: Login, tls_files: &TlsFiles) -> Result<Remote, Failure> {
        let ca = tls_files.ca.as_deref();
        let (endpoint, tls) = if let Some(rest) = url.strip_prefix("grpc+tls://") {
            (format!("https://{rest}"), true)
        } else if let Some(rest) = url.strip_prefix("grpc://") {
            (format!("http://{rest}"), false)
        } else {
            return Err(Failure::error(format!(
                "--server {url}: expected grpc://host:port or grpc+tls://host:port"
            )));
        };
        let mut channel = Channel::from_shared(endpoint)
            .map_err(|e| Failure::error(format!("--server {url}: {e}")))?;
        if tls {
            let read = |path: &Path, what: &str| {
                std::fs::read(path).map_err(|e| {
                    Failure::error(format!("cannot read the {what} {}: {e}", path.display()))
                })
            };
            let mut config = ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = ca {
                config = config.ca_certificate(Certificate::from_pem(read(ca, "CA certificate")?));
            }
            if let Some((cert, key)) = &tls_files.client {
                config = config.identity(Identity::from_pem(
                    read(cert, "TLS client certificate")?,
                    read(key, "TLS client key")?,
                ));
            }
            channel = channel
                .tls_config(config)
                .map_err(|e| Failure::error(format!("--server {url}: TLS: {e}")))?;
        } else if ca.is_some() || tls_files.client.is_some() {
            return Err(Failure::error(
                "--tls-ca and --tls-client-cert are for a grpc+tls:// server".to_string(),
            ));
        }
        let channel = channel
            .connect()
            .await
            .map_err(|e| Failure::error(format!("cannot reach {url}: {e}")))?;
        let mut client = FlightSqlServiceClient::new(channel);
        match login {
            Login::Password { user, password } => {
                client
                    .handshake(&user, &password)
                    .await
                    .map_err(|e| failure(&format!("logging in to {url}"), &e))?;
            }
            Login::Token(token) => client.set_token(token),
            Login::Anonymous => {}
        }
        Ok(Remote {
            client,
            url: url.to_string(),
        })
    }

    /// The server's URL, for the prompt and the banner.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs one statement on the server: its schema, rows, and the counts of the checks it
    /// ran, if any.
    pub async fn execute(
        &self,
        sql: &str,
    ) -> Result<(SchemaRef, Vec<RecordBatch>, Option<CheckCounts>), Failure> {
        let mut client = self.client.clone();
        let mut info = client
            .execute(sql.to_string(), None)
            .await
            .map_err(|e| failure("the server", &e))?;
        let what: serde_json::Value =
            serde_json::from_slice(&info.app_metadata).unwrap_or_default();
        let endpoints = std::mem::take(&mut info.endpoint);
        let schema: SchemaRef = match info.try_decode_schema() {
            Ok(schema) => std::sync::Arc::new(schema),
            Err(_) => std::sync::Arc::new(Schema::empty()),
        };
        let mut batches = Vec::new();
        for endpoint in endpoints {
            let Some(ticket) = endpoint.ticket else {
                continue;
            };
            let stream = client
                .do_get(ticket)
                .await
                .map_err(|e| failure("the server", &e))?;
            batches.extend(
                stream
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(|e| failure("the server", &e))?,
            );
        }
        Ok((schema, batches, counts(&what["checks"])))
    }
}

/// The check counts of a statement's app_metadata.
fn counts(checks: &serde_json::Value) -> Option<CheckCounts> {
    let n = |k: &str| checks[k].as_u64().map(|v| v as usize);
    Some(CheckCounts {
        pass: n("pass")?,
        warn: n("warn")?,
        fail: n("fail")?,
        error: n("error")?,
        pending: n("pending").unwrap_or_default(),
    })
}
