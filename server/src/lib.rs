//! `rollout serve`: one process in front of a datafusion-rollout store.
//!
//! Arrow Flight SQL ([`RolloutFlightSql`]) where every query and statement runs as the
//! authenticated principal: the consumer is who logged in, the actor of every commit too, and
//! the library checks each statement against that principal's grants. Logins are the Flight
//! handshake (user and password, against the argon2 hashes in the store's log) or an API token
//! sent as the bearer ([`sessions`]). The library decides; this crate only transports, and
//! maps the library's [`datafusion_rollout::ErrorKind`] to gRPC statuses in one place
//! ([`status`]).

#![warn(missing_docs)]

pub mod flight;
pub mod http;
pub mod log;
pub mod metrics;
pub mod sessions;
pub mod status;
pub mod tls;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use datafusion_rollout::{RolloutOptions, Store};
use futures::FutureExt;
use tokio::net::TcpListener;

pub use flight::RolloutFlightSql;
pub use metrics::Metrics;
pub use sessions::Sessions;
pub use tls::Tls;

/// The largest gRPC message accepted from a client (a request, not a result).
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// One `rollout serve`: Flight SQL, and optionally HTTP (`/metrics`, `/healthz`), over one
/// store, with one set of sessions and metrics, in TLS when given a certificate.
pub struct Server {
    store: Arc<Store>,
    sessions: Arc<Sessions>,
    metrics: Arc<Metrics>,
    tls: Option<Tls>,
}

impl Server {
    /// A server for `store` whose sessions open with `template`. Its metrics count what this
    /// process records in the store's event log from now on.
    pub fn new(store: Arc<Store>, template: RolloutOptions) -> Self {
        let metrics = Arc::new(Metrics::new());
        metrics::observe_events(&store, &metrics);
        let sessions = Arc::new(Sessions::new(
            Arc::clone(&store),
            template,
            Arc::clone(&metrics),
        ));
        Self {
            store,
            sessions,
            metrics,
            tls: None,
        }
    }

    /// Serves both listeners through TLS with this certificate.
    pub fn with_tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The metrics `/metrics` shows.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Serves Flight SQL on `flight` (and HTTP on `http`, if given) until `shutdown`
    /// completes; then stops taking calls, lets the ones in flight end, and flushes the events
    /// the sessions buffered.
    pub async fn run(
        self,
        flight: TcpListener,
        http: Option<TcpListener>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> datafusion_rollout::Result<()> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            datafusion_rollout::Error::Config(format!("the {what} server failed: {e}"))
        };
        let shutdown = shutdown.shared();
        let service = FlightServiceServer::new(RolloutFlightSql::new(Arc::clone(&self.sessions)))
            .max_decoding_message_size(MAX_REQUEST_BYTES);
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &self.tls {
            builder = builder
                .tls_config(tls.for_tonic())
                .map_err(|e| failed("Flight SQL", &e))?;
        }
        let incoming = tonic::transport::server::TcpIncoming::from(flight).with_nodelay(Some(true));
        let grpc = builder
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown.clone());
        let web = async {
            let Some(listener) = http else {
                return Ok(());
            };
            let app = http::router(http::HttpState::new(
                Arc::clone(&self.store),
                Arc::clone(&self.sessions),
                Arc::clone(&self.metrics),
                self.tls.is_some(),
            ));
            match &self.tls {
                Some(tls) => {
                    let listener = tls.listen(listener)?;
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown.clone())
                        .await
                }
                None => {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown.clone())
                        .await
                }
            }
        };
        let (grpc, web) = tokio::join!(grpc, web);
        // Whatever happened, what the sessions read and reported reaches the store.
        let flushed = self.store.events().flush().await;
        grpc.map_err(|e| failed("Flight SQL", &e))?;
        web.map_err(|e| failed("HTTP", &e))?;
        flushed.map(|_| ())
    }
}

/// Serves Flight SQL alone, without TLS: `Server::new(store, template).run(listener, None,
/// shutdown)`.
pub async fn serve_flight(
    store: Arc<Store>,
    template: RolloutOptions,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> datafusion_rollout::Result<()> {
    Server::new(store, template)
        .run(listener, None, shutdown)
        .await
}

/// Binds `addr` (port 0 picks a free one) and returns the listener with its real address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
