//! [`Change`]: what a transition does to a dataset, as log actions and a line for the user;
//! and the check that statuses agree with the rollout.

use super::super::action::Action;
use super::super::model::{Dataset, Rollout, VersionStatus};
use crate::sql::format_percent;

/// What a transition does to a dataset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Change {
    pub dataset: String,
    pub rollout: Rollout,
    /// Versions whose status changes, in order.
    pub statuses: Vec<(String, VersionStatus)>,
    pub event: Event,
}

/// What happened, for the user and the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    Started {
        version: String,
        exposure: String,
        stable: String,
    },
    Widened {
        version: String,
        exposure: String,
        stable: String,
    },
    Advanced {
        version: String,
        /// 1-based.
        stage: usize,
        stages: usize,
        percent_bp: u32,
    },
    MadeStable {
        version: String,
        was: Option<String>,
        last_stage: bool,
    },
    Aborted {
        version: String,
        stable: Option<String>,
    },
    RestoredPrevious {
        from: String,
        to: String,
    },
    RestoredTo {
        to: String,
    },
}

impl Change {
    /// The log actions: the status changes, then the rollout.
    pub fn actions(&self) -> Vec<Action> {
        let mut actions: Vec<Action> = self
            .statuses
            .iter()
            .map(|(version, status)| Action::SetVersionStatus {
                dataset: self.dataset.clone(),
                version: version.clone(),
                status: *status,
            })
            .collect();
        actions.push(Action::SetRollout {
            dataset: self.dataset.clone(),
            rollout: self.rollout.clone(),
        });
        actions
    }

    /// A line for the user saying what happened.
    pub fn message(&self) -> String {
        let ds = &self.dataset;
        match &self.event {
            Event::Started {
                version,
                exposure,
                stable,
            } => format!(
                "rollout started: '{version}' is now the candidate of {ds}, exposed to {exposure} (stable: '{stable}')"
            ),
            Event::Widened {
                version,
                exposure,
                stable,
            } => format!(
                "exposure changed: '{version}' is now the candidate of {ds}, exposed to {exposure} (stable: '{stable}')"
            ),
            Event::Advanced {
                version,
                stage,
                stages,
                percent_bp,
            } => format!(
                "'{version}' on {ds} advanced to stage {stage} of {stages}: {} of consumers",
                format_percent(*percent_bp)
            ),
            Event::MadeStable {
                version,
                was,
                last_stage,
            } => format!(
                "{}'{version}' is now the stable version of {ds}{}",
                if *last_stage { "last stage: " } else { "" },
                was.as_ref()
                    .map(|w| format!(" (was '{w}')"))
                    .unwrap_or_default()
            ),
            Event::Aborted { version, stable } => format!(
                "rolled back the rollout of '{version}' on {ds}; everyone reads '{}'",
                stable.as_deref().unwrap_or("?")
            ),
            Event::RestoredPrevious { from, to } => {
                format!("rolled back {ds} from '{from}' to the previous stable version '{to}'")
            }
            Event::RestoredTo { to } => format!("rolled back {ds} to '{to}'"),
        }
    }
}

/// Whether the versions' statuses agree with the rollout: the stable version and only it is
/// `stable`, the candidate and only it is `candidate`.
pub(crate) fn check_statuses(ds: &Dataset) -> std::result::Result<(), String> {
    let stable = ds.rollout.stable.as_deref();
    let candidate = ds.rollout.candidate.as_ref().map(|c| c.version.as_str());
    for v in &ds.versions {
        let expected = if Some(v.id.as_str()) == stable {
            Some(VersionStatus::Stable)
        } else if Some(v.id.as_str()) == candidate {
            Some(VersionStatus::Candidate)
        } else {
            None
        };
        let agrees = match expected {
            Some(status) => v.status == status,
            None => !matches!(v.status, VersionStatus::Stable | VersionStatus::Candidate),
        };
        if !agrees {
            return Err(format!(
                "version '{}' of '{}' has status {} but the rollout has stable {} and candidate {}",
                v.id,
                ds.name,
                v.status,
                stable
                    .map(|s| format!("'{s}'"))
                    .unwrap_or_else(|| "none".into()),
                candidate
                    .map(|s| format!("'{s}'"))
                    .unwrap_or_else(|| "none".into()),
            ));
        }
    }
    Ok(())
}
