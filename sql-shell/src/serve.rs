//! `rollout serve`: the store over Arrow Flight SQL ([`rollout_server`]), with the controller
//! running in the same process, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion_rollout::{Controller, RolloutContext, RolloutOptions, Store, StoreOptions};

use crate::outcome::Failure;

/// Serves until a signal; in-flight calls end, buffered events are flushed, then it returns.
pub async fn run(
    location: &str,
    flight: SocketAddr,
    controller_interval: Duration,
) -> Result<(), Failure> {
    let store = Store::open(location, StoreOptions::default()).await?;
    let (listener, addr) = rollout_server::bind(flight)
        .await
        .map_err(|e| Failure::from_anyhow(&anyhow::anyhow!("cannot listen on {flight}: {e}")))?;
    if store.state().access.is_open() {
        eprintln!(
            "rollout-serve event=warning message=\"the store has no users: anyone who reaches \
             {addr} may do anything; CREATE USER makes the first (ADMIN) user\""
        );
    }
    eprintln!(
        "rollout-serve event=listening flight=grpc://{addr} store={:?}",
        store.url().as_str()
    );

    // A stop flag every task watches.
    let stop = tokio::sync::watch::channel(false);
    let controller = if controller_interval.is_zero() {
        None
    } else {
        let ctx = RolloutContext::for_system(
            Arc::clone(&store),
            "controller",
            RolloutOptions::default(),
        )?;
        let id = format!("serve@{addr}:{}", std::process::id());
        Some(tokio::spawn(controller_loop(
            Controller::new(ctx, id),
            controller_interval,
            stop.1.clone(),
        )))
    };
    let mut signalled = stop.1.clone();
    let served = rollout_server::serve_flight(
        Arc::clone(&store),
        RolloutOptions::default(),
        listener,
        async move {
            let _ = signalled.changed().await;
        },
    );
    let watcher = async move {
        shutdown_signal().await;
        eprintln!("rollout-serve event=stopping");
        let _ = stop.0.send(true);
    };
    let (served, ()) = tokio::join!(served, watcher);
    if let Some(handle) = controller {
        let _ = handle.await;
    }
    served?;
    eprintln!("rollout-serve event=stopped");
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
                    eprintln!(
                        "rollout-serve event=controller dataset={:?} version={:?} decision={} sequence={} detail={:?}",
                        d.dataset,
                        d.version,
                        d.decision,
                        d.sequence.map(|s| s.to_string()).unwrap_or_default(),
                        d.detail
                    );
                }
            }
            Err(e) => eprintln!(
                "rollout-serve event=controller_error error={:?}",
                e.to_string()
            ),
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
