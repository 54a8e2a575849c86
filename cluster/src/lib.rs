//! Apache DataFusion Ballista 55 for datafusion-rollout.
//!
//! A session planned on the client (aliases resolved per consumer, reads recorded there) sends
//! its plans to a Ballista cluster: [`cluster_hook`] goes in
//! [`RolloutOptions::state_hook`](datafusion_rollout::RolloutOptions::state_hook). A plan runs
//! on the cluster when every table it scans is a version's files (a `ListingTable`, which
//! Ballista serializes); plans over the session's own tables (`information_schema`, the events
//! tables, `drift(...)`'s result) and writes run on the client, and what they scan goes
//! through the cluster in turn.
//!
//! [`Node`] is what the cluster's processes share: the store whose pinned files they verify
//! and the library's functions, which Ballista looks up by name on the scheduler and on every
//! executor. The `rollout-scheduler` and `rollout-executor` binaries are Ballista's own
//! processes with a `Node` installed.

mod client;
mod node;
mod on_cluster;
#[cfg(feature = "binaries")]
pub mod process;

pub use client::{ClusterPlanner, cluster_hook, runs_on_cluster, scheduler_url};
pub use node::Node;
