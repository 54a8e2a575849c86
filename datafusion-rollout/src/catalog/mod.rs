//! The catalog: what the commit log describes once folded.
//!
//! [`State`] is a pure value: datasets with their immutable [`Version`]s and [`Rollout`], and
//! [`Cohort`]s. It changes only by applying the [`Action`]s of a log entry, in sequence order,
//! so the same log always folds to the same state (byte for byte, since every map is ordered).
//! Statements never mutate it directly: they compile to actions that the commit log makes durable
//! first.

mod access;
mod action;
mod approvals;
mod contract;
mod lifecycle;
mod migration;
mod model;
mod names;
mod notification;
mod rollout;
mod schema;
mod state;

pub use crate::sql::format_percent;
pub use access::{
    Access, ApiToken, Grant, Grantee, Need, Privilege, Role, SYSTEM_PRINCIPALS, Scope,
    TOKEN_PREFIX, User, split_token, verify_secret,
};
pub use action::Action;
pub use approvals::{ApprovalOp, ApprovalPolicy, Approvals, PendingRequest};
pub use contract::{
    ColumnRule, Comparison, Contract, ContractItems, Expectation, Threshold, interval_text,
};

pub use migration::{CompatColumn, apply_steps, check_steps, normalize_steps};
pub use model::{
    AutoPolicy, BucketHash, Candidate, Cohort, Dataset, FULL_EXPOSURE_BP, FileFormat, Migration,
    MigrationStep, PinnedFile, Retention, Rollout, Version, VersionRef, VersionStatus,
    files_fingerprint,
};
pub use names::{validate_identifier, validate_version_id};
pub use notification::{Notification, NotifyOn, redact_url};
pub(crate) use rollout::{Change, Exposure, Transition};
pub use schema::{
    ColumnDef, check_compatible, columns_from_schema, merge_schema, schema_from_columns,
};
pub use state::State;
