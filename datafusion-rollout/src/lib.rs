//! Incremental rollouts of datasets inside Apache DataFusion.
//!
//! A dataset (`orders`) points at immutable versions. A new version is exposed first to a
//! cohort of consumers (a named group or a stable percentage), then promoted to everyone or
//! rolled back, each change an entry in an append-only log on object storage. One
//! `SELECT * FROM orders` resolves to the version this consumer should see.
//!
//! ```
//! # use datafusion_rollout::{RolloutContext, RolloutOptions};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion_rollout::Result<()> {
//! let dir = std::env::temp_dir().join(format!("rollout-doc-{}", std::process::id()));
//! let data = dir.join("v1");
//! let rollout = RolloutContext::open(&format!("memory://doc-{}", std::process::id())).await?;
//! // Write a version's files (any Parquet folder will do).
//! rollout
//!     .sql(&format!(
//!         "COPY (SELECT * FROM (VALUES (1, 9.5), (2, 20.0)) AS t(id, amount)) TO '{}/part.parquet'",
//!         data.display()
//!     ))
//!     .await?
//!     .collect()
//!     .await?;
//! rollout.sql("CREATE DATASET orders").await?;
//! rollout
//!     .sql(&format!("REGISTER VERSION 'v1' OF orders FROM '{}/'", data.display()))
//!     .await?;
//! rollout.sql("PROMOTE orders TO 'v1'").await?;
//! rollout.set_consumer(Some("alice"))?;
//! let rows = rollout.sql("SELECT count(*) FROM orders").await?.collect().await?;
//! assert_eq!(rows[0].num_rows(), 1);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod catalog;
pub mod contract;
pub mod controller;
pub mod error;
mod guard;
pub mod resolve;
mod session;
pub mod signals;
mod sql;
pub mod statement;
pub mod store;

pub use controller::{Controller, Decision, Round};
pub use error::{Error, Result};
pub use error::{ErrorKind, Refusal};
pub use resolve::{Consistency, Resolution, RolloutConfig, bucket};
pub use session::{RolloutContext, RolloutOptions, StateHook};
pub use sql::parse_interval;
pub use statement::{
    Outcome, Secret, Statement, StatementText, complete_statements, is_complete, parse_sql,
    split_statements,
};
pub use store::{Store, StoreOptions};
