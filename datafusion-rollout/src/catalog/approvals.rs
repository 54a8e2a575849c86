//! The two-person rule: a dataset may require `n` principals for a PROMOTE (or anything
//! FORCEd). The first asks, and the change is pending until `n - 1` others approve it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What needs approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApprovalOp {
    /// Any `PROMOTE` of the dataset.
    Promote,
    /// Any statement with `FORCE` (`PROMOTE`, `ADVANCE`).
    Force,
}

impl ApprovalOp {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalOp::Promote => "PROMOTE",
            ApprovalOp::Force => "FORCE",
        }
    }

    /// The op named by `word` (case-insensitive).
    pub fn parse(word: &str) -> Option<ApprovalOp> {
        [ApprovalOp::Promote, ApprovalOp::Force]
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(word))
    }
}

/// How many principals a dataset's changes of some kinds need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    /// Principals in all, the requester included (at least 2).
    pub required: u32,
    /// The kinds of change it applies to.
    pub ops: BTreeSet<ApprovalOp>,
}

/// A change waiting for approvals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The sequence of the entry that made the request.
    pub id: u64,
    /// The dataset.
    pub dataset: String,
    /// The statement, canonical SQL with its reason (what runs once approved).
    pub statement: String,
    /// The same statement without its reason: what `APPROVE` names.
    pub approves: String,
    /// Who asked; the statement runs as them.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// After this it can no longer be approved.
    pub expires_at: DateTime<Utc>,
    /// Who approved so far.
    pub approved_by: BTreeSet<String>,
    /// Principals in all the change needs.
    pub required: u32,
}

impl PendingRequest {
    /// Approvals still missing (besides the requester).
    pub fn missing(&self) -> u32 {
        (self.required.saturating_sub(1)).saturating_sub(self.approved_by.len() as u32)
    }
}

/// Policies by dataset, and the requests pending.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Approvals {
    /// Each dataset's policy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, ApprovalPolicy>,
    /// Pending requests by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<u64, PendingRequest>,
}

impl Approvals {
    /// The policy that applies to a change of `dataset` (a PROMOTE when `promote`, FORCEd when
    /// `force`), if it needs more than one principal.
    pub fn policy_for(&self, dataset: &str, promote: bool, force: bool) -> Option<&ApprovalPolicy> {
        self.policies.get(dataset).filter(|p| {
            p.required > 1
                && ((promote && p.ops.contains(&ApprovalOp::Promote))
                    || (force && p.ops.contains(&ApprovalOp::Force)))
        })
    }

    /// The live request on `dataset` for the statement `approves`, at `now`.
    pub fn find(
        &self,
        dataset: &str,
        approves: &str,
        now: DateTime<Utc>,
    ) -> Option<&PendingRequest> {
        self.pending
            .values()
            .find(|r| r.dataset == dataset && r.approves == approves && r.expires_at > now)
    }
}
