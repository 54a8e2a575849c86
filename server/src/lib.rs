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
pub mod sessions;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use datafusion_rollout::{RolloutOptions, Store};
use tokio::net::TcpListener;

pub use flight::RolloutFlightSql;
pub use sessions::Sessions;

/// The largest gRPC message accepted from a client (a request, not a result).
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// Serves Flight SQL for `store` on `listener` until `shutdown` completes; then stops taking
/// calls, lets the ones in flight end, and flushes the events the sessions buffered.
pub async fn serve_flight(
    store: Arc<Store>,
    template: RolloutOptions,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> datafusion_rollout::Result<()> {
    let sessions = Arc::new(Sessions::new(Arc::clone(&store), template));
    let service = FlightServiceServer::new(RolloutFlightSql::new(Arc::clone(&sessions)))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let served = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    // Whatever happened, what the sessions read and reported reaches the store.
    let flushed = store.events().flush().await;
    served.map_err(|e| {
        datafusion_rollout::Error::Config(format!("the Flight SQL server failed: {e}"))
    })?;
    flushed.map(|_| ())
}

/// Binds `addr` (port 0 picks a free one) and returns the listener with its real address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
