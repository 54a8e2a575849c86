//! Resolution: which version of a dataset a query reads.
//!
//! Each dataset appears in the catalog as one [`VersionedTable`]. The [`ResolveVersions`]
//! analyzer rule replaces each scan of it with the table of the version the session resolves
//! to ([`resolve`]: pinned → exposed cohort → percentage bucket → stable), using the session's
//! [`RolloutConfig`]: a [`PinnedListing`], which plans the scan from the pinned files without
//! listing them. The physical plan is then exactly that of a direct read of the version's
//! files, which [`PinnedStoreRegistry`] verifies on every read, under a
//! pass-through [`RecordReadsExec`] that records the read in the reads ledger (put there by the
//! [`RecordReads`] rule once the plan is optimized).

mod analyzer;
mod balance;
mod bucket;
mod config;
mod detached;
mod listing;
mod pinned;
mod provider;
mod recording;
mod resolution;
mod schema_provider;

pub use analyzer::{ResolveVersions, resolve_versions_rule};
pub use bucket::{BUCKETS, RolloutBucket, bucket, bucket_with, rollout_bucket_udf};
pub use config::{
    Consistency, RolloutConfig, SessionVersions, ensure_rollout_config, set_rollout_setting,
};
pub use detached::{DetachedReads, RowsReadElsewhere, detach_reads};
pub use listing::PinnedListing;
pub use pinned::{PinnedStoreRegistry, Pins};
pub(crate) use pinned::{VerifyingStore, describe_change};
pub(crate) use provider::reading_principal;
pub use provider::{VersionedTable, mapped_table, recorded_table, resolutions_in, version_table};
pub(crate) use recording::unrecorded;
pub use recording::{RecordReads, RecordReadsExec};
pub use resolution::{Reason, Resolution, arm_of, resolve};
pub use schema_provider::PIN_SEPARATOR;
pub(crate) use schema_provider::RolloutSchemaProvider;
