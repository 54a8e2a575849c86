//! `PROMOTE`: expose a version to cohorts or a percentage of consumers, or make it stable.

use std::collections::BTreeSet;
use std::fmt;

use chrono::Utc;
use datafusion::dataframe::DataFrame;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::parser::{expect_word, parse_name, parse_percent, parse_string, parse_word, peek_word};
use super::{Ident, Quoted, ReasonClause};
use crate::catalog::format_percent;
use crate::catalog::{Action, Candidate, State, VersionStatus};
use crate::contract::summarize_failures;
use crate::error::{Error, Result};
use crate::guard;
use crate::resolve::BUCKET_HASH;
use crate::session::RolloutContext;
use crate::store::Commit;

/// `PROMOTE orders TO 'v2' [FOR COHORT a[, b]] [AT n PERCENT] [FORCE] [REASON '...']`
///
/// With `FOR COHORT` and/or `AT n PERCENT` the version becomes the dataset's candidate for
/// those consumers (extending the exposure when it is the candidate already). Without them
/// it becomes the stable version for everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promote {
    pub dataset: String,
    pub version: String,
    pub cohorts: Vec<String>,
    /// Basis points (0..=10000).
    pub percent_bp: Option<u32>,
    /// `IN STAGES (1, 10, 50, 100)`: basis points of each stage.
    pub stages: Vec<u32>,
    /// `EVERY INTERVAL '1 hour'`: the soak time of each stage, as written.
    pub every: Option<String>,
    pub force: bool,
    pub reason: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<Promote, ParserError> {
    expect_word(p, "PROMOTE")?;
    let dataset = parse_name(p, "a dataset name after PROMOTE")?;
    p.expect_keyword(Keyword::TO)?;
    let version = parse_string(p, "a version id in quotes after TO, like 'v2'")?;
    let mut cohorts = Vec::new();
    let mut percent_bp = None;
    let mut force = false;
    let mut reason = None;
    let mut stages = Vec::new();
    let mut every = None;
    loop {
        if cohorts.is_empty() && p.parse_keyword(Keyword::FOR) {
            expect_word(p, "COHORT")?;
            cohorts = p.parse_comma_separated(|p| parse_name(p, "a cohort name"))?;
        } else if percent_bp.is_none() && p.parse_keyword(Keyword::AT) {
            percent_bp = Some(parse_percent(p)?);
            if !parse_word(p, "PERCENT") && !p.consume_token(&Token::Mod) {
                return p.expected("PERCENT", p.peek_token());
            }
        } else if stages.is_empty() && p.parse_keyword(Keyword::IN) {
            expect_word(p, "STAGES")?;
            p.expect_token(&Token::LParen)?;
            stages = p.parse_comma_separated(parse_percent)?;
            p.expect_token(&Token::RParen)?;
            if stages.windows(2).any(|w| w[0] >= w[1]) {
                return Err(ParserError::ParserError(
                    "IN STAGES needs increasing percentages, like (1, 10, 50, 100)".into(),
                ));
            }
        } else if every.is_none() && parse_word(p, "EVERY") {
            p.expect_keyword(Keyword::INTERVAL)?;
            let text = parse_string(p, "an interval in quotes, like '1 hour'")?;
            interval_seconds(&text).map_err(ParserError::ParserError)?;
            every = Some(text);
        } else if !force && parse_word(p, "FORCE") {
            force = true;
        } else if reason.is_none() && parse_word(p, "REASON") {
            reason = Some(parse_string(p, "a reason in quotes after REASON")?);
        } else {
            break;
        }
    }
    if !stages.is_empty() && percent_bp.is_some() {
        return Err(ParserError::ParserError(
            "use either AT n PERCENT or IN STAGES (...), not both".into(),
        ));
    }
    if every.is_some() && stages.is_empty() {
        return Err(ParserError::ParserError(
            "EVERY INTERVAL '...' sets the soak time of IN STAGES (...)".into(),
        ));
    }
    if force && reason.is_none() && !peek_word(p, "REASON") {
        return Err(ParserError::ParserError(
            "PROMOTE ... FORCE needs a REASON '...' saying why the guards are bypassed".into(),
        ));
    }
    Ok(Promote {
        dataset,
        version,
        cohorts,
        percent_bp,
        stages,
        every,
        force,
        reason,
    })
}

/// `'1 hour'`, `'90 minutes'`, `'1 day 12 hours'`, `'0 seconds'` → seconds.
pub(crate) fn interval_seconds(text: &str) -> std::result::Result<u64, String> {
    let bad = || {
        format!("cannot read interval '{text}'; write it like '1 hour', '30 minutes' or '2 days'")
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return Err(bad());
    }
    let mut total: u64 = 0;
    for pair in words.chunks(2) {
        let n: u64 = pair[0].parse().map_err(|_| bad())?;
        let unit = match pair[1].to_ascii_lowercase().trim_end_matches('s') {
            "second" | "sec" => 1,
            "minute" | "min" => 60,
            "hour" => 3600,
            "day" => 86_400,
            "week" => 604_800,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

impl fmt::Display for Promote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PROMOTE {} TO {}",
            Ident(&self.dataset),
            Quoted(&self.version)
        )?;
        if !self.cohorts.is_empty() {
            let names: Vec<String> = self.cohorts.iter().map(|c| Ident(c).to_string()).collect();
            write!(f, " FOR COHORT {}", names.join(", "))?;
        }
        if let Some(bp) = self.percent_bp {
            write!(
                f,
                " AT {} PERCENT",
                format_percent(bp).trim_end_matches('%')
            )?;
        }
        if !self.stages.is_empty() {
            let stages: Vec<String> = self
                .stages
                .iter()
                .map(|bp| format_percent(*bp).trim_end_matches('%').to_string())
                .collect();
            write!(f, " IN STAGES ({})", stages.join(", "))?;
        }
        if let Some(every) = &self.every {
            write!(f, " EVERY INTERVAL {}", Quoted(every))?;
        }
        if self.force {
            write!(f, " FORCE")?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl Promote {
    fn is_partial(&self) -> bool {
        !self.cohorts.is_empty() || self.percent_bp.is_some() || !self.stages.is_empty()
    }

    /// The commit for this promotion against `state`, `None` when it changes nothing.
    pub(crate) fn plan(&self, state: &State, actor_salt: &str) -> Result<Option<Commit>> {
        let ds = state.dataset(&self.dataset)?;
        let v = state.version(&self.dataset, &self.version)?;
        if v.status == VersionStatus::Rejected && !self.force {
            return Err(Error::precondition(format!(
                "version '{}' of {} was rejected; PROMOTE ... FORCE REASON '...' to expose it anyway",
                self.version, self.dataset
            )));
        }
        for c in &self.cohorts {
            state.cohort(c)?;
        }
        let rollout = &ds.rollout;
        if let Some(candidate) = &rollout.candidate
            && candidate.version != self.version
        {
            return Err(Error::precondition(format!(
                "{ds_name} already has candidate '{cand}' exposed to {exposure}; ROLLBACK {ds_name} \
                 (or PROMOTE {ds_name} TO '{cand}') before promoting '{new}'",
                ds_name = self.dataset,
                cand = candidate.version,
                exposure = candidate.exposure(),
                new = self.version
            )));
        }
        let mut next = rollout.clone();
        let mut actions = Vec::new();
        let message;
        if self.is_partial() {
            let Some(stable) = &rollout.stable else {
                return Err(Error::precondition(format!(
                    "{ds} has no stable version yet, so there is nothing to roll out against: \
                     PROMOTE {ds} TO '{v}' (without FOR COHORT / AT PERCENT) makes it the first stable version",
                    ds = self.dataset,
                    v = self.version
                )));
            };
            if *stable == self.version {
                return Err(Error::precondition(format!(
                    "'{}' is already the stable version of {}",
                    self.version, self.dataset
                )));
            }
            let mut candidate = rollout.candidate.clone().unwrap_or_else(|| Candidate {
                version: self.version.clone(),
                cohorts: BTreeSet::new(),
                percent_bp: 0,
                salt: actor_salt.to_string(),
                hash: BUCKET_HASH.to_string(),
                started_at: Utc::now(),
                stages: vec![],
                stage: 0,
                soak_seconds: None,
                stage_started_at: None,
            });
            if !self.stages.is_empty() {
                if rollout.candidate.is_some() {
                    return Err(Error::precondition(format!(
                        "'{}' is already rolling out on {}; ADVANCE {} moves it to its next stage",
                        self.version, self.dataset, self.dataset
                    )));
                }
                candidate.stages = self.stages.clone();
                candidate.stage = 0;
                candidate.percent_bp = self.stages[0];
                candidate.soak_seconds = match &self.every {
                    Some(e) => Some(interval_seconds(e).map_err(Error::precondition)?),
                    None => None,
                };
                candidate.stage_started_at = Some(Utc::now());
            }
            candidate.cohorts.extend(self.cohorts.iter().cloned());
            if let Some(bp) = self.percent_bp {
                candidate.percent_bp = bp;
            }
            if rollout.candidate.as_ref() == Some(&candidate) {
                return Ok(None);
            }
            message = format!(
                "{} '{}' is now the candidate of {}, exposed to {} (stable: '{stable}')",
                if rollout.candidate.is_some() {
                    "exposure changed:"
                } else {
                    "rollout started:"
                },
                self.version,
                self.dataset,
                candidate.exposure()
            );
            if v.status != VersionStatus::Candidate {
                actions.push(Action::SetVersionStatus {
                    dataset: self.dataset.clone(),
                    version: self.version.clone(),
                    status: VersionStatus::Candidate,
                });
            }
            next.candidate = Some(candidate);
        } else {
            if rollout.stable.as_deref() == Some(self.version.as_str()) {
                return Ok(None);
            }
            if let Some(old) = &rollout.stable {
                actions.push(Action::SetVersionStatus {
                    dataset: self.dataset.clone(),
                    version: old.clone(),
                    status: VersionStatus::Retired,
                });
                next.previous_stable.push(old.clone());
            }
            actions.push(Action::SetVersionStatus {
                dataset: self.dataset.clone(),
                version: self.version.clone(),
                status: VersionStatus::Stable,
            });
            message = match &rollout.stable {
                Some(old) => format!(
                    "'{}' is now the stable version of {} (was '{old}')",
                    self.version, self.dataset
                ),
                None => format!(
                    "'{}' is now the stable version of {}",
                    self.version, self.dataset
                ),
            };
            next.stable = Some(self.version.clone());
            next.candidate = None;
        }
        actions.push(Action::SetRollout {
            dataset: self.dataset.clone(),
            rollout: next,
        });
        Ok(Some(Commit {
            operation: "PROMOTE".into(),
            dataset: Some(self.dataset.clone()),
            statement: self.to_string(),
            reason: self.reason.clone(),
            checks: vec![],
            actions,
            message,
        }))
    }

    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        // The salt is drawn once per statement, so a retried commit keeps it.
        let salt = format!("{:016x}", uuid::Uuid::new_v4().as_u128() as u64);
        // Guards run before anything is exposed (and only if something would change).
        let state = rc.store().state();
        let mut checks = vec![];
        if self.plan(&state, &salt)?.is_some()
            && let Some(results) = guard::evaluate(rc, &state, &self.dataset, &self.version).await?
        {
            if guard::failed(&results) && !self.force {
                return Err(Error::GuardFailed {
                    operation: "PROMOTE".into(),
                    dataset: self.dataset.clone(),
                    version: self.version.clone(),
                    failures: summarize_failures(&results),
                });
            }
            checks = guard::checks_json(&results);
        }
        let planned = rc
            .commit(|state| {
                let mut commit = self.plan(state, &salt)?;
                if let Some(c) = commit.as_mut() {
                    c.checks = checks.clone();
                }
                Ok(commit)
            })
            .await?;
        match planned {
            Some(done) => rc.message(&done),
            None => rc.message_text(&format!(
                "nothing to do: {} already serves '{}' that way",
                self.dataset, self.version
            )),
        }
    }
}
