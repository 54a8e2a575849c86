//! [`Action`]: the changes a log entry records.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::access::{ApiToken, Grant, Role, User};
use super::approvals::{ApprovalPolicy, PendingRequest};
use super::model::Version;
use super::model::{Cohort, Dataset, Rollout, VersionStatus};
use super::notification::Notification;
use super::schema::ColumnDef;

/// One change recorded in a log entry. Actions are results, not requests: applying them needs
/// no clock, randomness or I/O, which is what makes replay deterministic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A new dataset (with no versions yet).
    CreateDataset {
        /// The dataset as created.
        dataset: Box<Dataset>,
    },
    /// A new version, appended to the dataset, with the dataset's resulting reader schema.
    AddVersion {
        /// The dataset's name.
        dataset: String,
        /// The version as registered.
        version: Box<Version>,
        /// The dataset's reader schema with the version added.
        schema: Vec<ColumnDef>,
    },
    /// A version's status changes.
    SetVersionStatus {
        /// The dataset's name.
        dataset: String,
        /// The version's name.
        version: String,
        /// Its new status.
        status: VersionStatus,
    },
    /// The dataset's rollout becomes this.
    SetRollout {
        /// The dataset's name.
        dataset: String,
        /// Its new rollout.
        rollout: Rollout,
    },
    /// A new cohort.
    CreateCohort {
        /// The cohort as created.
        cohort: Cohort,
    },
    /// The dataset's retention becomes this (or none).
    SetRetention {
        /// The dataset's name.
        dataset: String,
        /// Its retention; `None` keeps every version.
        retention: Option<super::model::Retention>,
    },
    /// A version's migration is finished: its compatibility columns go away.
    FinishMigration {
        /// The dataset's name.
        dataset: String,
        /// The version that declared the migration.
        version: String,
    },
    /// A cohort's members become these.
    SetCohortMembers {
        /// The cohort's name.
        cohort: String,
        /// Its members from now on.
        members: BTreeSet<String>,
    },
    /// A cohort is dropped (never while a rollout exposes it).
    DropCohort {
        /// The cohort's name.
        cohort: String,
    },
    /// The dataset's contract becomes this (or none).
    SetContract {
        /// The dataset's name.
        dataset: String,
        /// Its new contract; `None` removes it.
        contract: Option<Box<super::contract::Contract>>,
    },
    /// A new notification.
    CreateNotification {
        /// The notification as created.
        notification: Box<Notification>,
    },
    /// A notification is removed.
    DropNotification {
        /// The notification's name.
        name: String,
    },
    /// A new user.
    CreateUser {
        /// The user as created.
        user: Box<User>,
    },
    /// A user is removed, with their grants and tokens.
    DropUser {
        /// The user's name.
        name: String,
    },
    /// A user's password hash becomes this (`None`: tokens only).
    SetPassword {
        /// The user's name.
        user: String,
        /// The new PHC hash, or none.
        password_hash: Option<String>,
    },
    /// A new role.
    CreateRole {
        /// The role as created.
        role: Role,
    },
    /// A role is removed, with its grants and memberships.
    DropRole {
        /// The role's name.
        name: String,
    },
    /// A user starts holding a role.
    GrantRole {
        /// The role's name.
        role: String,
        /// The user's name.
        user: String,
    },
    /// A user stops holding a role.
    RevokeRole {
        /// The role's name.
        role: String,
        /// The user's name.
        user: String,
    },
    /// A grant is added.
    AddGrant {
        /// The grant.
        grant: Grant,
    },
    /// A grant is removed.
    RemoveGrant {
        /// The grant.
        grant: Grant,
    },
    /// A new API token.
    CreateToken {
        /// The token as created (its secret only as a hash).
        token: Box<ApiToken>,
    },
    /// An API token is revoked.
    DropToken {
        /// The token's id.
        id: String,
    },
    /// A dataset's two-person rule becomes this (or none).
    SetApprovals {
        /// The dataset's name.
        dataset: String,
        /// The policy, or none to remove it.
        policy: Option<ApprovalPolicy>,
    },
    /// A change waits for approvals.
    RequestApproval {
        /// The pending request.
        request: Box<PendingRequest>,
    },
    /// A principal approves a pending change.
    Approve {
        /// The request's id.
        id: u64,
        /// The approving principal.
        by: String,
    },
    /// A pending change ran (in this entry) with these approvals, and is no longer pending.
    ClosePending {
        /// The request's id.
        id: u64,
        /// The principals who approved it.
        approved_by: Vec<String>,
    },
}

impl Action {
    /// The dataset the action changes, if any.
    pub fn dataset(&self) -> Option<&str> {
        match self {
            Action::CreateDataset { dataset } => Some(&dataset.name),
            Action::AddVersion { dataset, .. }
            | Action::SetVersionStatus { dataset, .. }
            | Action::SetRollout { dataset, .. }
            | Action::SetContract { dataset, .. }
            | Action::SetApprovals { dataset, .. }
            | Action::SetRetention { dataset, .. }
            | Action::FinishMigration { dataset, .. } => Some(dataset),
            _ => None,
        }
    }
}
