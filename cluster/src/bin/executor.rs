//! `rollout-executor`: Apache DataFusion Ballista 55's executor, running the functions of
//! datafusion-rollout and reading a rollout store's pinned files verified: a file changed
//! since its version was registered fails the task, naming it.
//!
//! ```text
//! rollout-executor --store ./rollout-store --scheduler-port 50050 -p 50051
//! ```
//!
//! Every flag of Ballista's own `ballista-executor` is taken as it is; a second executor on
//! one host moves all three ports (`-p`, `--bind-grpc-port`, `--bind-health-port`).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::error::{BallistaError, Result};
use ballista_core::extension::SessionConfigExt;
use ballista_executor::config::Config;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::health::spawn_health_server;
use clap::Parser;
use datafusion::prelude::SessionConfig;
use rollout_cluster::Node;
use rollout_cluster::process::{block_on, init_logging};

#[derive(Parser)]
#[command(
    name = "rollout-executor",
    about = "Ballista's executor with datafusion-rollout's functions and verified pinned files"
)]
struct Args {
    /// The rollout store whose versions the cluster reads (a folder, file:// or s3:// URL;
    /// S3 credentials from the environment).
    #[arg(long, env = "ROLLOUT_STORE")]
    store: String,
    #[command(flatten)]
    ballista: Config,
}

fn main() -> Result<()> {
    block_on(run(Args::parse()))
}

async fn run(args: Args) -> Result<()> {
    let health_addr: SocketAddr = format!(
        "{}:{}",
        args.ballista.bind_host, args.ballista.bind_health_port
    )
    .parse()
    .map_err(|e| BallistaError::Configuration(format!("--bind-health-port: {e}")))?;
    let node = Node::open(&args.store)
        .await
        .map_err(|e| BallistaError::Configuration(format!("store {}: {e}", args.store)))?;
    let mut config: ExecutorProcessConfig = args.ballista.try_into()?;
    init_logging(
        &config.special_mod_log_level,
        config.log_dir.as_deref(),
        &config.log_file_name_prefix(),
        config.log_rotation_policy,
        config.print_thread_info,
    );
    let work_dir = config.work_dir.clone();
    let runtime_node = node.clone();
    config.override_config_producer = Some(Arc::new(SessionConfig::new_with_ballista));
    config.override_runtime_producer =
        Some(Arc::new(move |_| runtime_node.runtime(work_dir.as_deref())));
    config.override_function_registry = Some(Arc::new(node.function_registry()?));

    let (stop_health, health_stopped) = tokio::sync::oneshot::channel();
    let health = spawn_health_server(health_addr, config.health.clone(), health_stopped);
    let result = start_executor_process(Arc::new(config)).await;
    let _ = stop_health.send(());
    let _ = health.await;
    result
}
