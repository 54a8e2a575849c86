//! `rollout-bench dashboard`: how long `rollout serve` takes to answer the dashboard's pages
//! and API for a dataset with a long history, over loopback, and how heavy each page is.
//!
//! A fresh store gets `entries` real commits (PROMOTE to a cohort and ROLLBACK, in pairs);
//! the server is started in this process; each URL is fetched once cold (the server reads the
//! log for the first time) and then `rounds` times. Raw HTTP/1.1 over a TCP socket: the time is
//! the server's, plus loopback.

use std::net::SocketAddr;
use std::time::Instant;

use datafusion::prelude::SessionContext;
use datafusion_rollout::{RolloutOptions, Store, StoreOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::measure::{Scratch, setup};

/// One GET: (status line, body bytes).
async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(String, usize)> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("").to_string();
    anyhow::ensure!(status.contains(" 200 "), "GET {path}: {status}");
    Ok((status, body.len()))
}

pub async fn dashboard(entries: u64, rounds: usize) -> anyhow::Result<Value> {
    let scratch = Scratch::new("dashboard")?;
    let data = scratch.0.join("data");
    let ctx = SessionContext::new();
    ctx.sql(&format!(
        "COPY (SELECT value AS id, random() AS amount, CASE WHEN value % 3 = 0 THEN 'a' ELSE 'b' END AS kind \
         FROM generate_series(1, 100000)) TO '{}' STORED AS PARQUET",
        data.join("part-0.parquet").display()
    ))
    .await?
    .collect()
    .await?;
    let store_path = scratch.0.join("store");
    let rc = setup(&store_path, &data.display().to_string()).await?;
    let t = Instant::now();
    while rc.store().state().sequence < entries {
        rc.sql("PROMOTE d TO 'v2' FOR COHORT canary REASON 'try the candidate'")
            .await?;
        rc.sql("ROLLBACK d REASON 'back to stable'").await?;
    }
    let fill_seconds = t.elapsed().as_secs_f64();
    let history = rc.store().state().sequence;
    drop(rc);

    let store = Store::open(&store_path.display().to_string(), StoreOptions::default()).await?;
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    let (flight, _) = rollout_server::bind(any).await?;
    let (http, addr) = rollout_server::bind(any).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        rollout_server::Server::new(store, RolloutOptions::default()).run(
            flight,
            Some(http),
            async move {
                let _ = stopped.await;
            },
        ),
    );
    let paths = [
        "/datasets/d",
        "/datasets/d?history=all",
        "/",
        "/api/datasets/d",
        "/api/datasets/d/history",
        "/datasets/d/drift-panel?baseline=v1&candidate=v2",
        "/assets/dashboard.css",
        "/assets/dashboard.js",
    ];
    let mut out = Vec::new();
    for path in paths {
        let t = Instant::now();
        let (_, bytes) = get(addr, path).await?;
        let cold = t.elapsed().as_secs_f64();
        let mut warm = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let t = Instant::now();
            get(addr, path).await?;
            warm.push(t.elapsed().as_secs_f64());
        }
        out.push(json!({"path": path, "bytes": bytes, "cold": cold, "warm": warm}));
    }
    let _ = stop.send(());
    server.await??;
    Ok(json!({"entries": history, "fill_seconds": fill_seconds, "pages": out}))
}
