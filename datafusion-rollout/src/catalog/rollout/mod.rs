//! The rollout state machine: every change of which versions a dataset serves goes through
//! [`Dataset::transition`].
//!
//! A [`Transition`] (expose a version, advance a stage, make a version stable, roll back) is
//! checked against the dataset as it is and yields a [`Change`]: the rollout it leaves, the
//! version statuses that follow from it, and the [`Event`] that says what happened. It is pure:
//! the clock and the salt are inputs, so the same dataset and transition always give the same
//! change, and every legal and illegal transition is a unit test on a hand-built dataset.
//! Statuses are never set apart from the rollout: [`check_statuses`] runs on every
//! [`State::apply`](super::State::apply), so a log entry whose statuses disagree with its
//! rollout does not apply.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

mod change;
#[cfg(test)]
mod tests;

pub(crate) use change::{Change, Event, check_statuses};

use super::model::{
    AutoPolicy, BucketHash, Candidate, Dataset, FULL_EXPOSURE_BP, Rollout, VersionStatus,
};
use crate::error::{Error, Refusal, Result, hint_known};
use crate::sql::format_percent;

/// A change of a dataset's rollout, as a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transition {
    /// `version` becomes (or stays) the candidate, for more consumers: a rollout starts, or
    /// the live one's exposure widens.
    Expose(Exposure),
    /// The candidate moves to the next stage of its staged rollout; after the last stage short
    /// of 100% it stays put, and a stage of 100% makes it stable.
    Advance { force: bool },
    /// `version` becomes the stable version for everyone (any candidate of it ends).
    MakeStable { version: String, force: bool },
    /// Without `to`: abort the live candidate, or with none live restore the previous stable
    /// version. With `to`: abort any candidate and make `to` stable.
    Rollback { to: Option<String> },
}

/// Who a candidate is exposed to, as `PROMOTE ... FOR COHORT / AT PERCENT / IN STAGES` asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exposure {
    pub version: String,
    pub cohorts: Vec<String>,
    /// Basis points.
    pub percent_bp: Option<u32>,
    /// Basis points of each stage (empty when not staged).
    pub stages: Vec<u32>,
    pub soak_seconds: Option<u64>,
    /// `AUTO [ROLLBACK AFTER n FAILURES]`: stages driven by a controller.
    pub auto: Option<AutoPolicy>,
    /// Fixed here when the rollout starts, kept while it lives.
    pub salt: String,
    /// Expose a rejected version anyway.
    pub force: bool,
}

impl Dataset {
    /// The change `transition` makes at `now`, `None` when it changes nothing, or a
    /// refusal saying why it is not allowed.
    pub(crate) fn transition(
        &self,
        transition: &Transition,
        now: DateTime<Utc>,
    ) -> Result<Option<Change>> {
        let refuse = |refusal| Err(Error::refused(refusal));
        let mut next = Machine {
            ds: self,
            rollout: self.rollout.clone(),
            statuses: Vec::new(),
        };
        let event = match transition {
            Transition::Expose(exposure) => next.expose(exposure, now)?,
            Transition::Advance { force } => next.advance(*force, now)?,
            Transition::MakeStable { version, force } => {
                next.version_usable(version, *force)?;
                if let Some(c) = &self.rollout.candidate {
                    if c.version != *version {
                        return refuse(self.other_candidate(c, version));
                    }
                    if let Some(next) = c.next_stage().filter(|_| !force) {
                        return refuse(self.stages_remain(c, next));
                    }
                }
                next.make_stable(version, false)
            }
            Transition::Rollback { to } => next.rollback(to.as_deref())?,
        };
        let Some(event) = event else {
            return Ok(None);
        };
        Ok(Some(Change {
            dataset: self.name.clone(),
            rollout: next.rollout,
            statuses: next.statuses,
            event,
        }))
    }

    fn stages_remain(&self, c: &Candidate, next: u32) -> Refusal {
        Refusal::StagesRemain {
            dataset: self.name.clone(),
            version: c.version.clone(),
            stage: c.stage + 1,
            stages: c.stages.len(),
            percent: format_percent(c.percent_bp),
            next: format_percent(next),
        }
    }

    fn other_candidate(&self, candidate: &Candidate, new: &str) -> Refusal {
        Refusal::OtherCandidate {
            dataset: self.name.clone(),
            candidate: candidate.version.clone(),
            exposure: candidate.exposure(),
            new: new.to_string(),
        }
    }
}

/// A transition in progress: the rollout being built and the statuses that go with it.
struct Machine<'a> {
    ds: &'a Dataset,
    rollout: Rollout,
    statuses: Vec<(String, VersionStatus)>,
}

impl Machine<'_> {
    fn refused<T>(&self, refusal: Refusal) -> Result<T> {
        Err(Error::refused(refusal))
    }

    fn set(&mut self, version: &str, status: VersionStatus) {
        self.statuses.push((version.to_string(), status));
    }

    /// The version exists, and is not rejected (unless forced).
    fn version_usable(&self, version: &str, force: bool) -> Result<()> {
        let v = self
            .ds
            .version(version)
            .ok_or_else(|| Error::VersionNotFound {
                dataset: self.ds.name.clone(),
                version: version.to_string(),
                hint: hint_known("versions", self.ds.version_ids()),
            })?;
        if v.status == VersionStatus::Dropped {
            return Err(Error::VersionDropped {
                dataset: self.ds.name.clone(),
                version: version.to_string(),
            });
        }
        if v.status == VersionStatus::Rejected && !force {
            return self.refused(Refusal::Rejected {
                dataset: self.ds.name.clone(),
                version: version.to_string(),
            });
        }
        Ok(())
    }

    fn expose(&mut self, e: &Exposure, now: DateTime<Utc>) -> Result<Option<Event>> {
        let dataset = self.ds.name.clone();
        self.version_usable(&e.version, e.force)?;
        let current = self.ds.rollout.candidate.as_ref();
        if let Some(c) = current
            && c.version != e.version
        {
            return self.refused(self.ds.other_candidate(c, &e.version));
        }
        let Some(stable) = self.ds.rollout.stable.clone() else {
            return self.refused(Refusal::NoStable {
                dataset,
                version: e.version.clone(),
            });
        };
        if stable == e.version {
            return self.refused(Refusal::AlreadyStable {
                dataset,
                version: e.version.clone(),
            });
        }
        let mut candidate = current.cloned().unwrap_or_else(|| Candidate {
            version: e.version.clone(),
            cohorts: BTreeSet::new(),
            percent_bp: 0,
            salt: e.salt.clone(),
            hash: BucketHash::default(),
            started_at: now,
            stages: vec![],
            stage: 0,
            soak_seconds: None,
            stage_started_at: None,
            auto: None,
            linked: vec![],
        });
        if let Some(&first) = e.stages.first() {
            if current.is_some() {
                return self.refused(Refusal::AlreadyRollingOut {
                    dataset,
                    version: e.version.clone(),
                });
            }
            candidate.stages = e.stages.clone();
            candidate.stage = 0;
            candidate.percent_bp = first;
            candidate.soak_seconds = e.soak_seconds;
            candidate.stage_started_at = Some(now);
            candidate.auto = e.auto;
        }
        candidate.cohorts.extend(e.cohorts.iter().cloned());
        if let Some(bp) = e.percent_bp {
            if let Some(c) = current.filter(|_| !e.force) {
                // Consumers who read the candidate must not flip back, and stages run in turn.
                if bp < c.percent_bp {
                    return self.refused(Refusal::LowerExposure {
                        dataset,
                        version: e.version.clone(),
                        from: format_percent(c.percent_bp),
                        to: format_percent(bp),
                    });
                }
                if let Some(next) = c.next_stage().filter(|_| bp != c.percent_bp) {
                    return self.refused(self.ds.stages_remain(c, next));
                }
            }
            candidate.percent_bp = bp;
            if !candidate.stages.is_empty() {
                // A forced percentage puts the rollout at the last stage it covers.
                candidate.stage = candidate.stages.iter().rposition(|&s| s <= bp).unwrap_or(0);
            }
        }
        if current == Some(&candidate) {
            return Ok(None);
        }
        if self.ds.version(&e.version).map(|v| v.status) != Some(VersionStatus::Candidate) {
            self.set(&e.version, VersionStatus::Candidate);
        }
        let exposure = candidate.exposure();
        self.rollout.candidate = Some(candidate);
        let version = e.version.clone();
        Ok(Some(if current.is_some() {
            Event::Widened {
                version,
                exposure,
                stable,
            }
        } else {
            Event::Started {
                version,
                exposure,
                stable,
            }
        }))
    }

    fn advance(&mut self, force: bool, now: DateTime<Utc>) -> Result<Option<Event>> {
        let dataset = self.ds.name.clone();
        let Some(candidate) = self
            .ds
            .rollout
            .candidate
            .as_ref()
            .filter(|c| !c.stages.is_empty())
        else {
            return self.refused(Refusal::NotStaged { dataset });
        };
        let version = candidate.version.clone();
        let (Some(index), Some(next)) = (candidate.next_stage_index(), candidate.next_stage())
        else {
            return self.refused(Refusal::LastStage { dataset, version });
        };
        if let Some(until) = candidate.may_advance_at()
            && now < until
            && !force
        {
            return self.refused(Refusal::Soaking {
                dataset,
                version,
                stage: candidate.stage + 1,
                stages: candidate.stages.len(),
                percent: format_percent(candidate.percent_bp),
                next: format_percent(next),
                until,
                remaining_seconds: (until - now).num_seconds(),
            });
        }
        if next >= FULL_EXPOSURE_BP {
            return Ok(self.make_stable(&version, true));
        }
        let stages = candidate.stages.len();
        let stage = index;
        if let Some(c) = self.rollout.candidate.as_mut() {
            c.stage = stage;
            c.percent_bp = next;
            c.stage_started_at = Some(now);
        }
        Ok(Some(Event::Advanced {
            version,
            stage: stage + 1,
            stages,
            percent_bp: next,
        }))
    }

    /// `version` stable for everyone; the old stable retires (and can be restored).
    fn make_stable(&mut self, version: &str, last_stage: bool) -> Option<Event> {
        let was = self.ds.rollout.stable.clone();
        if was.as_deref() == Some(version) {
            return None;
        }
        if let Some(old) = &was {
            self.set(old, VersionStatus::Retired);
            self.rollout.previous_stable.push(old.clone());
        }
        self.set(version, VersionStatus::Stable);
        self.rollout.stable = Some(version.to_string());
        self.rollout.candidate = None;
        Some(Event::MadeStable {
            version: version.to_string(),
            was,
            last_stage,
        })
    }

    fn rollback(&mut self, to: Option<&str>) -> Result<Option<Event>> {
        let dataset = self.ds.name.clone();
        let stable = self.ds.rollout.stable.clone();
        let candidate = self
            .ds
            .rollout
            .candidate
            .as_ref()
            .map(|c| c.version.clone());
        if let Some(target) = to {
            let v = self
                .ds
                .version(target)
                .ok_or_else(|| Error::VersionNotFound {
                    dataset: dataset.clone(),
                    version: target.to_string(),
                    hint: hint_known("versions", self.ds.version_ids()),
                })?;
            if v.status == VersionStatus::Dropped {
                return Err(Error::VersionDropped {
                    dataset,
                    version: target.to_string(),
                });
            }
            if v.status == VersionStatus::Rejected {
                return self.refused(Refusal::RejectedCannotBeStable {
                    dataset,
                    version: target.to_string(),
                });
            }
        }
        if let Some(c) = &candidate {
            self.set(c, VersionStatus::RolledBack);
            self.rollout.candidate = None;
        }
        match (to, candidate) {
            (None, Some(version)) => Ok(Some(Event::Aborted { version, stable })),
            (None, None) => {
                let (Some(from), Some(previous)) = (stable, self.rollout.previous_stable.pop())
                else {
                    return self.refused(Refusal::NothingToRollBack { dataset });
                };
                self.set(&from, VersionStatus::RolledBack);
                self.set(&previous, VersionStatus::Stable);
                self.rollout.stable = Some(previous.clone());
                Ok(Some(Event::RestoredPrevious { from, to: previous }))
            }
            (Some(target), candidate) => {
                if stable.as_deref() == Some(target) {
                    if candidate.is_none() {
                        return Ok(None);
                    }
                } else {
                    if let Some(current) = &stable {
                        self.set(current, VersionStatus::RolledBack);
                    }
                    let previous = &mut self.rollout.previous_stable;
                    match previous.iter().rposition(|p| p == target) {
                        Some(at) => previous.truncate(at),
                        None => previous.extend(stable.iter().cloned()),
                    }
                    self.set(target, VersionStatus::Stable);
                    self.rollout.stable = Some(target.to_string());
                }
                Ok(Some(Event::RestoredTo {
                    to: target.to_string(),
                }))
            }
        }
    }
}
