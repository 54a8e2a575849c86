//! `rollout serve`: the store over Arrow Flight SQL ([`rollout_server`]), `/metrics` and
//! `/healthz` over HTTP when asked, the controller in the same process, until Ctrl-C or SIGTERM.
//! Log lines are structured ([`rollout_server::log`]): logfmt, or JSON with `--log-format json`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion_rollout::{Controller, RolloutContext, RolloutOptions, Store, StoreOptions};
use rollout_server::log::{self, LogFormat};
use rollout_server::{Server, Tls};

use crate::outcome::Failure;

/// `rollout serve`'s options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the Flight SQL endpoint (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub flight: SocketAddr,
    /// Address of the HTTP endpoint: GET /metrics (Prometheus) and GET /healthz. None unless
    /// given.
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// PEM certificate chain: both endpoints then speak TLS only (grpc+tls://, https://).
    #[arg(long, requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): mutual TLS, every client of both endpoints must present a
    /// certificate it signed (users still log in; the certificate is not an identity).
    #[arg(long, requires = "tls_cert", value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// Time between controller rounds (0s: no controller in this process).
    #[arg(long, default_value = "60s", value_parser = datafusion_rollout::parse_interval)]
    pub controller_interval: Duration,
    /// Log lines on stderr as logfmt or json.
    #[arg(long, default_value = "logfmt")]
    pub log_format: LogFormat,
}

fn cannot(what: String) -> Failure {
    Failure::from_anyhow(&anyhow::anyhow!(what))
}

/// Serves until a signal; in-flight calls end, buffered events are flushed, then it returns.
pub async fn run(location: &str, args: &ServeArgs) -> Result<(), Failure> {
    log::set_format(args.log_format);
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = Tls::from_files(cert, key).map_err(cannot)?;
            match &args.tls_client_ca {
                Some(ca) => Some(tls.with_client_ca_file(ca).map_err(cannot)?),
                None => Some(tls),
            }
        }
        _ => None,
    };
    let store = Store::open(location, StoreOptions::default()).await?;
    let (flight, flight_addr) = rollout_server::bind(args.flight)
        .await
        .map_err(|e| cannot(format!("cannot listen on {}: {e}", args.flight)))?;
    let http = match args.http {
        Some(addr) => Some(
            rollout_server::bind(addr)
                .await
                .map_err(|e| cannot(format!("cannot listen on {addr}: {e}")))?,
        ),
        None => None,
    };
    if store.state().access.is_open() {
        log::warn(
            "open_store",
            &[(
                "message",
                &format!(
                    "the store has no users: anyone who reaches {flight_addr} may do anything; \
                     CREATE USER makes the first (ADMIN) user"
                ),
            )],
        );
    }
    let (grpc, web) = if tls.is_some() {
        ("grpc+tls", "https")
    } else {
        ("grpc", "http")
    };
    let flight_url = format!("{grpc}://{flight_addr}");
    let http_url = http
        .as_ref()
        .map(|(_, addr)| format!("{web}://{addr}"))
        .unwrap_or_default();
    log::line(
        "listening",
        &[
            ("flight", &flight_url),
            ("http", &http_url),
            (
                "client_certificates",
                match &tls {
                    Some(tls) if tls.requires_client_certificates() => "required",
                    _ => "none",
                },
            ),
            ("store", store.url().as_str()),
        ],
    );

    // A stop flag every task watches.
    let stop = tokio::sync::watch::channel(false);
    let controller = if args.controller_interval.is_zero() {
        None
    } else {
        let ctx = RolloutContext::for_system(
            Arc::clone(&store),
            "controller",
            RolloutOptions::default(),
        )?;
        let id = format!("serve@{flight_addr}:{}", std::process::id());
        Some(tokio::spawn(controller_loop(
            Controller::new(ctx, id),
            args.controller_interval,
            stop.1.clone(),
        )))
    };
    let mut signalled = stop.1.clone();
    let mut server = Server::new(Arc::clone(&store), RolloutOptions::default());
    if let Some(tls) = tls {
        server = server.with_tls(tls);
    }
    let served = server.run(flight, http.map(|(listener, _)| listener), async move {
        let _ = signalled.changed().await;
    });
    let watcher = async move {
        shutdown_signal().await;
        log::line("stopping", &[]);
        let _ = stop.0.send(true);
    };
    let (served, ()) = tokio::join!(served, watcher);
    if let Some(handle) = controller {
        let _ = handle.await;
    }
    served?;
    log::line("stopped", &[]);
    Ok(())
}

async fn controller_loop(
    controller: Controller,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match controller.round().await {
            Ok(round) => {
                for d in &round.decisions {
                    let sequence = d.sequence.map(|s| s.to_string()).unwrap_or_default();
                    log::line(
                        "controller",
                        &[
                            ("dataset", &d.dataset),
                            ("version", &d.version),
                            ("decision", &d.decision.to_string()),
                            ("sequence", &sequence),
                            ("detail", &d.detail),
                        ],
                    );
                }
            }
            Err(e) => log::error("controller_error", &[("error", &e.to_string())]),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => break,
        }
    }
}

/// Ctrl-C, or SIGTERM where there is one.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
