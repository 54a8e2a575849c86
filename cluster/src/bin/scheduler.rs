//! `rollout-scheduler`: Apache DataFusion Ballista 55's scheduler, planning with the
//! functions of datafusion-rollout and reading a rollout store's pinned files verified.
//!
//! ```text
//! rollout-scheduler --store ./rollout-store -p 50050
//! rollout-executor  --store ./rollout-store --scheduler-port 50050 -p 50051
//! rollout --cluster df://localhost:50050 --store ./rollout-store
//! ```
//!
//! Every flag of Ballista's own `ballista-scheduler` is taken as it is.

use std::sync::Arc;

use ballista_core::error::{BallistaError, Result};
use ballista_core::extension::SessionConfigExt;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{Config, SchedulerConfig};
use ballista_scheduler::scheduler_process::start_server;
use clap::Parser;
use datafusion::prelude::SessionConfig;
use rollout_cluster::Node;
use rollout_cluster::process::{block_on, init_logging};

#[derive(Parser)]
#[command(
    name = "rollout-scheduler",
    about = "Ballista's scheduler with datafusion-rollout's functions and verified pinned files"
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
    let opt = args.ballista;
    init_logging(
        &opt.log_level_setting,
        opt.log_dir.as_deref(),
        &format!(
            "scheduler_{}_{}_{}",
            opt.namespace, opt.external_host, opt.bind_port
        ),
        opt.log_rotation_policy,
        opt.print_thread_info,
    );
    let addr = format!("{}:{}", opt.bind_host, opt.bind_port)
        .parse()
        .map_err(|e: std::net::AddrParseError| BallistaError::Configuration(e.to_string()))?;
    let node = Node::open(&args.store)
        .await
        .map_err(|e| BallistaError::Configuration(format!("store {}: {e}", args.store)))?;
    let config: SchedulerConfig = opt.try_into()?;
    let config = config
        .with_override_config_producer(Arc::new(SessionConfig::new_with_ballista))
        .with_override_session_builder(Arc::new(move |cfg| node.session_state(cfg, None)));
    let cluster = BallistaCluster::new_from_config(&config).await?;
    start_server(cluster, addr, Arc::new(config)).await
}
