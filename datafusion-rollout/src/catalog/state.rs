//! The folded state of a store and the actions that change it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{Cohort, Dataset, Notification, Rollout, Version, VersionStatus};
use super::rollout::check_statuses;
use super::schema::ColumnDef;
use crate::error::{Error, Result, hint_known};

/// The whole catalog at one log sequence number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Sequence number of the last applied log entry (0 for an empty store).
    pub sequence: u64,
    pub datasets: BTreeMap<String, Dataset>,
    pub cohorts: BTreeMap<String, Cohort>,
    /// Webhooks by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notifications: BTreeMap<String, Notification>,
}

/// One change recorded in a log entry. Actions are results, not requests: applying them needs
/// no clock, randomness or I/O, which is what makes replay deterministic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A new dataset (with no versions yet).
    CreateDataset { dataset: Box<Dataset> },
    /// A new version, appended to the dataset, with the dataset's resulting reader schema.
    AddVersion {
        dataset: String,
        version: Box<Version>,
        schema: Vec<ColumnDef>,
    },
    /// A version's status changes.
    SetVersionStatus {
        dataset: String,
        version: String,
        status: VersionStatus,
    },
    /// The dataset's rollout becomes this.
    SetRollout { dataset: String, rollout: Rollout },
    /// A new cohort.
    CreateCohort { cohort: Cohort },
    /// The dataset's contract becomes this (or none).
    SetContract {
        dataset: String,
        contract: Option<Box<super::contract::Contract>>,
    },
    /// A new notification.
    CreateNotification { notification: Box<Notification> },
    /// A notification is removed.
    DropNotification { name: String },
}

impl Action {
    /// The dataset the action changes, if any.
    pub fn dataset(&self) -> Option<&str> {
        match self {
            Action::CreateDataset { dataset } => Some(&dataset.name),
            Action::AddVersion { dataset, .. }
            | Action::SetVersionStatus { dataset, .. }
            | Action::SetRollout { dataset, .. }
            | Action::SetContract { dataset, .. } => Some(dataset),
            Action::CreateCohort { .. }
            | Action::CreateNotification { .. }
            | Action::DropNotification { .. } => None,
        }
    }
}

impl State {
    pub fn dataset(&self, name: &str) -> Result<&Dataset> {
        self.datasets
            .get(name)
            .ok_or_else(|| Error::DatasetNotFound {
                dataset: name.to_string(),
                hint: hint_known("datasets", self.datasets.keys()),
            })
    }

    pub fn version(&self, dataset: &str, version: &str) -> Result<&Version> {
        let ds = self.dataset(dataset)?;
        ds.version(version).ok_or_else(|| Error::VersionNotFound {
            dataset: dataset.to_string(),
            version: version.to_string(),
            hint: hint_known("versions", ds.version_ids()),
        })
    }

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
                ds.schema = schema.clone();
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
        }
        Ok(())
    }

    fn dataset_mut(&mut self, name: &str) -> Result<&mut Dataset, String> {
        self.datasets
            .get_mut(name)
            .ok_or_else(|| format!("unknown dataset '{name}'"))
    }
}
