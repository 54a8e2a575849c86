//! The folded state of a store, and how each [`Action`] changes it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::access::{Access, Grantee};
use super::action::Action;
use super::approvals::Approvals;
use super::model::{Cohort, Dataset, Version, VersionRef, VersionStatus};
use super::notification::Notification;
use super::rollout::check_statuses;
use crate::error::{Error, Result, hint_known};

/// The whole catalog at one log sequence number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Sequence number of the last applied log entry (0 for an empty store).
    pub sequence: u64,
    /// Datasets by name.
    pub datasets: BTreeMap<String, Dataset>,
    /// Cohorts by name.
    pub cohorts: BTreeMap<String, Cohort>,
    /// Webhooks by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notifications: BTreeMap<String, Notification>,
    /// Users, roles, tokens and grants (empty: the store is open).
    #[serde(default, skip_serializing_if = "access_is_empty")]
    pub access: Access,
    /// Two-person rules and the changes waiting for approval.
    #[serde(default, skip_serializing_if = "approvals_is_empty")]
    pub approvals: Approvals,
}

fn approvals_is_empty(approvals: &Approvals) -> bool {
    *approvals == Approvals::default()
}

fn access_is_empty(access: &Access) -> bool {
    *access == Access::default()
}

impl State {
    /// The dataset named `name`, or [`Error::DatasetNotFound`] naming the known ones.
    pub fn dataset(&self, name: &str) -> Result<&Dataset> {
        self.datasets
            .get(name)
            .ok_or_else(|| Error::DatasetNotFound {
                dataset: name.to_string(),
                hint: hint_known("datasets", self.datasets.keys()),
            })
    }

    /// Version `version` of `dataset`, or an error saying which of the two is unknown.
    pub fn version(&self, dataset: &str, version: &str) -> Result<&Version> {
        let ds = self.dataset(dataset)?;
        ds.version(version).ok_or_else(|| Error::VersionNotFound {
            dataset: dataset.to_string(),
            version: version.to_string(),
            hint: hint_known("versions", ds.version_ids()),
        })
    }

    /// [`State::version`], refusing a dropped version: what every read of a version asks.
    pub fn readable_version(&self, dataset: &str, version: &str) -> Result<&Version> {
        let v = self.version(dataset, version)?;
        if v.status == VersionStatus::Dropped {
            return Err(Error::VersionDropped {
                dataset: dataset.to_string(),
                version: version.to_string(),
            });
        }
        Ok(v)
    }

    /// The versions derived from `of`, transitively (the versions whose `CREATE VERSION ...
    /// AS` read it, then those read from them), nearest first, each once with its depth.
    pub fn derived_from(&self, of: &VersionRef) -> Vec<(usize, VersionRef)> {
        self.lineage_walk(of, |r| {
            self.datasets
                .values()
                .flat_map(|ds| {
                    ds.versions
                        .iter()
                        .filter(|v| v.inputs.contains(r))
                        .map(|v| VersionRef {
                            dataset: ds.name.clone(),
                            version: v.id.clone(),
                        })
                })
                .collect()
        })
    }

    /// The versions `of` was derived from, transitively, nearest first, each once.
    pub fn derived_into(&self, of: &VersionRef) -> Vec<(usize, VersionRef)> {
        self.lineage_walk(of, |r| {
            self.datasets
                .get(&r.dataset)
                .and_then(|d| d.version(&r.version))
                .map(|v| v.inputs.clone())
                .unwrap_or_default()
        })
    }

    /// Breadth first from `of` along `next`, each version once (never `of` itself), with its
    /// depth.
    fn lineage_walk(
        &self,
        of: &VersionRef,
        next: impl Fn(&VersionRef) -> Vec<VersionRef>,
    ) -> Vec<(usize, VersionRef)> {
        let mut out: Vec<(usize, VersionRef)> = Vec::new();
        let mut frontier = vec![of.clone()];
        let mut depth = 0;
        while !frontier.is_empty() {
            depth += 1;
            let mut reached = Vec::new();
            for r in frontier.iter().flat_map(&next) {
                if r != *of && !out.iter().any(|(_, o)| *o == r) {
                    out.push((depth, r.clone()));
                    reached.push(r);
                }
            }
            frontier = reached;
        }
        out
    }

    /// The cohort named `name`, or [`Error::CohortNotFound`] naming the known ones.
    pub fn cohort(&self, name: &str) -> Result<&Cohort> {
        self.cohorts.get(name).ok_or_else(|| Error::CohortNotFound {
            cohort: name.to_string(),
            hint: hint_known("cohorts", self.cohorts.keys()),
        })
    }

    /// Applies the actions of the entry with sequence `self.sequence + 1`.
    /// On error the state is unchanged (actions are applied to a copy first).
    pub fn apply(&mut self, sequence: u64, actions: &[Action]) -> Result<(), String> {
        if sequence != self.sequence + 1 {
            return Err(format!(
                "expected sequence {}, found {sequence}",
                self.sequence + 1
            ));
        }
        let mut next = self.clone();
        let mut touched = std::collections::BTreeSet::new();
        for action in actions {
            next.apply_one(action)?;
            if let Some(dataset) = action.dataset() {
                touched.insert(dataset);
            }
        }
        // Statuses follow the rollout: an entry that makes them disagree does not apply.
        for name in touched {
            if let Some(ds) = next.datasets.get(name) {
                check_statuses(ds)?;
            }
        }
        next.sequence = sequence;
        *self = next;
        Ok(())
    }

    fn apply_one(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::CreateDataset { dataset } => {
                if self.datasets.contains_key(&dataset.name) {
                    return Err(format!("dataset '{}' created twice", dataset.name));
                }
                self.datasets
                    .insert(dataset.name.clone(), dataset.as_ref().clone());
            }
            Action::AddVersion {
                dataset,
                version,
                schema,
            } => {
                let ds = self.dataset_mut(dataset)?;
                if ds.version(&version.id).is_some() {
                    return Err(format!(
                        "version '{}' of '{dataset}' added twice",
                        version.id
                    ));
                }
                ds.versions.push(version.as_ref().clone());
                ds.all_columns = schema.clone();
            }
            Action::SetVersionStatus {
                dataset,
                version,
                status,
            } => {
                let ds = self.dataset_mut(dataset)?;
                let v = ds
                    .version_mut(version)
                    .ok_or_else(|| format!("unknown version '{version}' of '{dataset}'"))?;
                v.status = *status;
            }
            Action::SetRollout { dataset, rollout } => {
                let ds = self.dataset_mut(dataset)?;
                for id in rollout
                    .stable
                    .iter()
                    .chain(rollout.candidate.as_ref().map(|c| &c.version))
                {
                    if ds.version(id).is_none() {
                        return Err(format!(
                            "rollout of '{dataset}' names unknown version '{id}'"
                        ));
                    }
                }
                ds.rollout = rollout.clone();
            }
            Action::SetContract { dataset, contract } => {
                let ds = self.dataset_mut(dataset)?;
                ds.contract = contract.as_deref().cloned();
            }
            Action::CreateCohort { cohort } => {
                if self.cohorts.contains_key(&cohort.name) {
                    return Err(format!("cohort '{}' created twice", cohort.name));
                }
                self.cohorts.insert(cohort.name.clone(), cohort.clone());
            }
            Action::SetRetention { dataset, retention } => {
                self.dataset_mut(dataset)?.retention = *retention;
            }
            Action::FinishMigration { dataset, version } => {
                let v = self
                    .dataset_mut(dataset)?
                    .version_mut(version)
                    .ok_or_else(|| format!("unknown version '{version}' of {dataset}"))?;
                match v.migration.as_mut() {
                    Some(m) => m.finished = true,
                    None => {
                        return Err(format!(
                            "version '{version}' of {dataset} declared no migration"
                        ));
                    }
                }
            }
            Action::SetCohortMembers { cohort, members } => {
                let c = self
                    .cohorts
                    .get_mut(cohort)
                    .ok_or_else(|| format!("unknown cohort '{cohort}'"))?;
                c.members = members.clone();
            }
            Action::DropCohort { cohort } => {
                if self.cohorts.remove(cohort).is_none() {
                    return Err(format!("unknown cohort '{cohort}' dropped"));
                }
            }
            Action::CreateNotification { notification } => {
                if self.notifications.contains_key(&notification.name) {
                    return Err(format!(
                        "notification '{}' created twice",
                        notification.name
                    ));
                }
                self.notifications
                    .insert(notification.name.clone(), notification.as_ref().clone());
            }
            Action::DropNotification { name } => {
                if self.notifications.remove(name).is_none() {
                    return Err(format!("unknown notification '{name}' dropped"));
                }
            }
            Action::SetApprovals { dataset, policy } => {
                self.dataset_mut(dataset)?;
                match policy {
                    Some(p) => self.approvals.policies.insert(dataset.clone(), p.clone()),
                    None => self.approvals.policies.remove(dataset),
                };
            }
            Action::RequestApproval { request } => {
                self.approvals
                    .pending
                    .insert(request.id, request.as_ref().clone());
            }
            Action::Approve { id, by } => {
                let r = self
                    .approvals
                    .pending
                    .get_mut(id)
                    .ok_or_else(|| format!("approval of unknown request #{id}"))?;
                r.approved_by.insert(by.clone());
            }
            Action::ClosePending { id, .. } => {
                self.approvals
                    .pending
                    .remove(id)
                    .ok_or_else(|| format!("unknown pending request #{id} closed"))?;
            }
            other => apply_access(&mut self.access, other)?,
        }
        Ok(())
    }

    fn dataset_mut(&mut self, name: &str) -> Result<&mut Dataset, String> {
        self.datasets
            .get_mut(name)
            .ok_or_else(|| format!("unknown dataset '{name}'"))
    }
}

/// Applies an action on principals; any other action is a bug of the caller.
fn apply_access(access: &mut Access, action: &Action) -> Result<(), String> {
    let no_user = |name: &str| format!("unknown user '{name}'");
    match action {
        Action::CreateUser { user } => {
            if access.users.contains_key(&user.name) {
                return Err(format!("user '{}' created twice", user.name));
            }
            access
                .users
                .insert(user.name.clone(), user.as_ref().clone());
        }
        Action::DropUser { name } => {
            access.users.remove(name).ok_or_else(|| no_user(name))?;
            let gone = Grantee::User(name.clone());
            access.grants.retain(|g| g.grantee != gone);
            access.tokens.retain(|_, t| &t.user != name);
        }
        Action::SetPassword {
            user,
            password_hash,
        } => {
            let u = access.users.get_mut(user).ok_or_else(|| no_user(user))?;
            u.password_hash = password_hash.clone();
        }
        Action::CreateRole { role } => {
            if access.roles.contains_key(&role.name) {
                return Err(format!("role '{}' created twice", role.name));
            }
            access.roles.insert(role.name.clone(), role.clone());
        }
        Action::DropRole { name } => {
            access
                .roles
                .remove(name)
                .ok_or_else(|| format!("unknown role '{name}'"))?;
            let gone = Grantee::Role(name.clone());
            access.grants.retain(|g| g.grantee != gone);
            for u in access.users.values_mut() {
                u.roles.remove(name);
            }
        }
        Action::GrantRole { role, user } | Action::RevokeRole { role, user } => {
            if !access.roles.contains_key(role) {
                return Err(format!("unknown role '{role}'"));
            }
            let u = access.users.get_mut(user).ok_or_else(|| no_user(user))?;
            if matches!(action, Action::GrantRole { .. }) {
                u.roles.insert(role.clone());
            } else {
                u.roles.remove(role);
            }
        }
        Action::AddGrant { grant } => {
            let known = match &grant.grantee {
                Grantee::User(u) => access.users.contains_key(u),
                Grantee::Role(r) => access.roles.contains_key(r),
            };
            if !known {
                return Err(format!("grant to unknown {}", grant.grantee));
            }
            access.grants.insert(grant.clone());
        }
        Action::RemoveGrant { grant } => {
            access.grants.remove(grant);
        }
        Action::CreateToken { token } => {
            if !access.users.contains_key(&token.user) {
                return Err(no_user(&token.user));
            }
            if access.tokens.contains_key(&token.id) {
                return Err(format!("token '{}' created twice", token.id));
            }
            access
                .tokens
                .insert(token.id.clone(), token.as_ref().clone());
        }
        Action::DropToken { id } => {
            access
                .tokens
                .remove(id)
                .ok_or_else(|| format!("unknown token '{id}'"))?;
        }
        other => return Err(format!("not an action on principals: {other:?}")),
    }
    Ok(())
}
