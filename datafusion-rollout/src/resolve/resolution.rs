//! Which version does this consumer read? The rules of DESIGN.md, as one pure function.

use std::fmt;

use crate::catalog::State;
use crate::error::{Error, Result};
use crate::store::Arm;

use super::bucket::bucket_with;

/// A dataset resolved to a version, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The dataset.
    pub dataset: String,
    /// The version read.
    pub version: String,
    /// Why that version.
    pub reason: Reason,
}

/// Why a version was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `VERSION AS OF` in the query.
    Pinned,
    /// The consumer is a member of an exposed cohort.
    CohortMember {
        /// The consumer.
        consumer: String,
        /// The exposed cohort it is a member of.
        cohort: String,
    },
    /// The session joined an exposed cohort (`SET rollout.cohort`).
    SessionCohort {
        /// The cohort the session joined.
        cohort: String,
    },
    /// The consumer's bucket is below the exposed percentage.
    Bucket {
        /// The consumer.
        consumer: String,
        /// Its bucket, 0..10000.
        bucket: u32,
        /// The exposed percentage, in basis points.
        percent_bp: u32,
    },
    /// Not exposed to the candidate (or there is none): the stable version.
    Stable {
        /// The consumer; `None` when the session has none.
        consumer: Option<String>,
    },
    /// `rollout.consistency = 'session'`: the version this session first read, kept although
    /// the rollout has moved on (a rolled-back version is not kept).
    KeptForSession,
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> '{}': ", self.dataset, self.version)?;
        match &self.reason {
            Reason::Pinned => write!(f, "pinned by VERSION AS OF"),
            Reason::CohortMember { consumer, cohort } => write!(
                f,
                "candidate, consumer '{consumer}' is a member of exposed cohort {cohort}"
            ),
            Reason::SessionCohort { cohort } => {
                write!(f, "candidate, the session joined exposed cohort {cohort}")
            }
            Reason::Bucket {
                consumer,
                bucket,
                percent_bp,
            } => write!(
                f,
                "candidate, consumer '{consumer}' is in bucket {bucket} < {percent_bp}"
            ),
            Reason::Stable { consumer: Some(c) } => {
                write!(f, "stable, consumer '{c}' is not exposed to a candidate")
            }
            Reason::Stable { consumer: None } => write!(f, "stable, the session has no consumer"),
            Reason::KeptForSession => write!(
                f,
                "kept for the session (rollout.consistency = 'session'); the rollout now serves another version, and a ROLLBACK of this one would end it"
            ),
        }
    }
}

/// Resolves `dataset` for a consumer: a version pinned in the query, else the candidate if
/// the consumer (or the session's cohort) is in an exposed cohort, else the candidate if the
/// consumer's bucket is below the exposed percentage, else stable.
pub fn resolve(
    state: &State,
    dataset: &str,
    pinned: Option<&str>,
    consumer: Option<&str>,
    session_cohort: Option<&str>,
) -> Result<Resolution> {
    let ds = state.dataset(dataset)?;
    let chosen = |version: &str, reason| Resolution {
        dataset: dataset.to_string(),
        version: version.to_string(),
        reason,
    };
    if let Some(v) = pinned {
        state.readable_version(dataset, v)?;
        return Ok(chosen(v, Reason::Pinned));
    }
    if let Some(candidate) = &ds.rollout.candidate {
        if let Some(consumer) = consumer {
            for cohort in &candidate.cohorts {
                if state
                    .cohorts
                    .get(cohort)
                    .is_some_and(|c| c.members.contains(consumer))
                {
                    return Ok(chosen(
                        &candidate.version,
                        Reason::CohortMember {
                            consumer: consumer.to_string(),
                            cohort: cohort.clone(),
                        },
                    ));
                }
            }
        }
        if let Some(cohort) = session_cohort
            && candidate.cohorts.contains(cohort)
        {
            return Ok(chosen(
                &candidate.version,
                Reason::SessionCohort {
                    cohort: cohort.to_string(),
                },
            ));
        }
        if let Some(consumer) = consumer
            && candidate.percent_bp > 0
        {
            let b = bucket_with(candidate.hash, &candidate.salt, consumer);
            if b < candidate.percent_bp {
                return Ok(chosen(
                    &candidate.version,
                    Reason::Bucket {
                        consumer: consumer.to_string(),
                        bucket: b,
                        percent_bp: candidate.percent_bp,
                    },
                ));
            }
        }
    }
    match &ds.rollout.stable {
        Some(v) => Ok(chosen(
            v,
            Reason::Stable {
                consumer: consumer.map(str::to_string),
            },
        )),
        None => Err(Error::NoStableVersion {
            dataset: dataset.to_string(),
        }),
    }
}

/// The arm of the rollout a resolution puts its consumer on.
pub fn arm_of(reason: &Reason) -> Arm {
    match reason {
        Reason::Pinned => Arm::Pinned,
        Reason::CohortMember { .. } | Reason::SessionCohort { .. } | Reason::Bucket { .. } => {
            Arm::Candidate
        }
        Reason::Stable { .. } => Arm::Stable,
        // Outside the rollout's comparison, like a version named in the query.
        Reason::KeptForSession => Arm::Pinned,
    }
}
