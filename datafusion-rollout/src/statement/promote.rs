//! `PROMOTE`: expose a version to cohorts or a percentage of consumers, or make it stable.

use std::fmt;

use chrono::Utc;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::parser::{expect_word, parse_name, parse_percent, parse_string, parse_word, peek_word};
use super::{Outcome, stages};
use crate::catalog::{Action, AutoPolicy, Exposure, State, Transition};
use crate::error::{Error, Result};
use crate::guard::{Env, Gate, OnFailure, guarded_commit, version_target};
use crate::sql::{Ident, Quoted, ReasonClause, format_percent, interval_seconds};
use crate::store::Commit;

/// `PROMOTE orders TO 'v2' [FOR COHORT a[, b]] [AT n PERCENT | IN STAGES (..) [EVERY
/// INTERVAL '..' [AUTO [ROLLBACK AFTER n FAILURES]]]] [FORCE] [REASON '...']`
///
/// With `FOR COHORT` and/or `AT n PERCENT` the version becomes the dataset's candidate for
/// those consumers (extending the exposure when it is the candidate already). Without them
/// it becomes the stable version for everyone.
///
/// `PROMOTE orders TO 'v2', order_items TO 'v5' [FOR COHORT .. | AT n PERCENT] ...`: related
/// datasets in one commit, with one salt, so the same consumers read both new versions; the
/// guards of every dataset run first, and any failure refuses all (unless `FORCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promote {
    /// The dataset.
    pub dataset: String,
    /// The version to expose.
    pub version: String,
    /// `FOR COHORT a, b`: cohorts exposed to the version.
    pub cohorts: Vec<String>,
    /// Basis points (0..=10000).
    pub percent_bp: Option<u32>,
    /// `IN STAGES (1, 10, 50, 100)`: basis points of each stage.
    pub stages: Vec<u32>,
    /// `EVERY INTERVAL '1 hour'`: the soak time of each stage, as written.
    pub every: Option<String>,
    /// `AUTO [ROLLBACK AFTER n FAILURES]`: a controller advances the stages while the guards
    /// hold and rolls back after `n` (default 1) consecutive failing evaluations.
    pub auto: Option<AutoPolicy>,
    /// Go ahead although guards fail, the version was rejected, stages would be skipped or
    /// the exposure lowered.
    pub force: bool,
    /// Why, for the history.
    pub reason: Option<String>,
    /// `PROMOTE a TO 'v2', b TO 'v5'`: the datasets after the first, with their versions.
    pub more: Vec<(String, String)>,
}

pub(super) fn parse(p: &mut Parser) -> Result<Promote, ParserError> {
    expect_word(p, "PROMOTE")?;
    let dataset = parse_name(p, "a dataset name after PROMOTE")?;
    p.expect_keyword(Keyword::TO)?;
    let version = parse_string(p, "a version id in quotes after TO, like 'v2'")?;
    let mut more: Vec<(String, String)> = Vec::new();
    while p.consume_token(&Token::Comma) {
        let at = p.peek_token().span.start;
        let name = parse_name(p, "a dataset name after ','")?;
        if name == dataset || more.iter().any(|(d, _)| *d == name) {
            return Err(ParserError::ParserError(format!(
                "PROMOTE names {name} twice; each dataset is promoted once{at}"
            )));
        }
        p.expect_keyword(Keyword::TO)?;
        let v = parse_string(p, "a version id in quotes after TO, like 'v2'")?;
        more.push((name, v));
    }
    let mut cohorts = Vec::new();
    let mut percent_bp = None;
    let mut force = false;
    let mut reason = None;
    let mut stages = Vec::new();
    let mut every = None;
    let mut auto: Option<AutoPolicy> = None;
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
            stages = stages::parse_stages(p)?;
        } else if every.is_none() && parse_word(p, "EVERY") {
            every = Some(stages::parse_every(p)?);
        } else if auto.is_none() && parse_word(p, "AUTO") {
            auto = Some(stages::parse_auto(p)?);
        } else if !force && parse_word(p, "FORCE") {
            force = true;
        } else if reason.is_none() && parse_word(p, "REASON") {
            reason = Some(parse_string(p, "a reason in quotes after REASON")?);
        } else {
            break;
        }
    }
    stages::check_combination(
        percent_bp.is_some(),
        &stages,
        every.as_deref(),
        auto.is_some(),
    )?;
    if !more.is_empty() && auto.is_some() {
        return Err(ParserError::ParserError(
            "PROMOTE of several datasets IN STAGES ... AUTO is not supported yet: ADVANCE them (one ADVANCE moves all), or stage each with AUTO".into(),
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
        auto,
        force,
        reason,
        more,
    })
}

impl fmt::Display for Promote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PROMOTE {} TO {}",
            Ident(&self.dataset),
            Quoted(&self.version)
        )?;
        for (d, v) in &self.more {
            write!(f, ", {} TO {}", Ident(d), Quoted(v))?;
        }
        if !self.cohorts.is_empty() {
            let names: Vec<String> = self.cohorts.iter().map(|c| Ident(c).to_string()).collect();
            write!(f, " FOR COHORT {}", names.join(", "))?;
        }
        let number = |bp: &u32| format_percent(*bp).trim_end_matches('%').to_string();
        if let Some(bp) = &self.percent_bp {
            write!(f, " AT {} PERCENT", number(bp))?;
        }
        stages::write_stages(f, &self.stages, self.every.as_deref(), self.auto.as_ref())?;
        if self.force {
            write!(f, " FORCE")?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl Promote {
    /// The transition this promotion asks for.
    pub(super) fn transition(&self, salt: &str) -> Result<Transition> {
        let partial =
            !self.cohorts.is_empty() || self.percent_bp.is_some() || !self.stages.is_empty();
        if !partial {
            return Ok(Transition::MakeStable {
                version: self.version.clone(),
                force: self.force,
            });
        }
        let soak_seconds = match &self.every {
            Some(every) => {
                Some(interval_seconds(every).map_err(|message| Error::Parse { message })?)
            }
            None => None,
        };
        Ok(Transition::Expose(Exposure {
            version: self.version.clone(),
            cohorts: self.cohorts.clone(),
            percent_bp: self.percent_bp,
            stages: self.stages.clone(),
            soak_seconds,
            auto: self.auto,
            salt: salt.to_string(),
            force: self.force,
        }))
    }

    /// The commit of this promotion against `state`, `None` when it changes nothing.
    fn plan(&self, state: &State, transition: &Transition) -> Result<Option<Commit>> {
        for c in &self.cohorts {
            state.cohort(c)?;
        }

        let Some(change) = state
            .dataset(&self.dataset)?
            .transition(transition, Utc::now())?
        else {
            return Ok(None);
        };
        Ok(Some(super::combined::change_commit(
            "PROMOTE",
            &self.dataset,
            self,
            self.reason.clone(),
            &change,
        )))
    }

    /// A release of several datasets in stages changes together: every dataset released with
    /// one this names must be named too.
    fn check_linked(&self, state: &State) -> Result<()> {
        for (d, _) in self.targets() {
            let ds = state.dataset(d)?;
            for other in ds.rollout.candidate.iter().flat_map(|c| &c.linked) {
                if !self.targets().any(|(t, _)| t == other) {
                    return Err(Error::refused(crate::error::Refusal::Linked {
                        dataset: d.clone(),
                        other: other.clone(),
                        operation: "PROMOTE".into(),
                    }));
                }
            }
        }
        Ok(())
    }

    /// The commit of this promotion of every dataset it names (planned in turn, one salt),
    /// `None` when it changes nothing: what `EXPLAIN PROMOTE` shows.
    pub(crate) fn plan_all(&self, state: &State, salt: &str) -> Result<Option<Commit>> {
        self.check_linked(state)?;
        let all = super::combined::in_turn(state, self.targets(), |working, (d, v)| {
            let one = self.one(d, v);
            one.plan(working, &one.transition(salt)?)
        })?;
        Ok(all.map(|mut c| {
            c.statement = self.to_string();
            self.link(&mut c);
            c
        }))
    }

    /// In stages, each dataset's candidate names the others: they advance and roll back as one.
    fn link(&self, commit: &mut Commit) {
        if self.stages.is_empty() || self.more.is_empty() {
            return;
        }
        let all: Vec<&String> = self.targets().map(|(d, _)| d).collect();
        for action in &mut commit.actions {
            if let Action::SetRollout { dataset, rollout } = action
                && let Some(c) = rollout.candidate.as_mut()
            {
                c.linked = all
                    .iter()
                    .filter(|d| **d != dataset)
                    .map(|d| d.to_string())
                    .collect();
            }
        }
        commit.message.push_str(&format!(
            "; released together: ADVANCE {} moves all {} datasets, ROLLBACK {} rolls all back",
            Ident(&self.dataset),
            all.len(),
            Ident(&self.dataset)
        ));
    }

    /// Every (dataset, version) this promotes, the first one first.
    pub fn targets(&self) -> impl Iterator<Item = (&String, &String)> {
        std::iter::once((&self.dataset, &self.version)).chain(self.more.iter().map(|(d, v)| (d, v)))
    }

    /// This promotion for one of its datasets.
    fn one(&self, dataset: &str, version: &str) -> Promote {
        Promote {
            dataset: dataset.to_string(),
            version: version.to_string(),
            more: vec![],
            ..self.clone()
        }
    }

    /// `PROMOTE a TO 'v2', b TO 'v5'`: every target's files verified and guards run (any
    /// failure refuses all, unless FORCE), then one commit exposing all with one salt. The
    /// evidence holds every dataset's checks, each naming its dataset.
    async fn execute_many(&self, env: &Env<'_>, salt: &str) -> Result<Outcome> {
        let state = env.store.state();
        for (d, v) in self.targets() {
            state.readable_version(d, v)?;
            super::verify::verify_target(env, "PROMOTE", d, v).await?;
        }
        let mut results = Vec::new();
        let mut evidence = Vec::new();
        let mut baselines = Vec::new();
        for (d, v) in self.targets() {
            let report = crate::guard::evaluate(env, &state, d, v).await?;
            if let Some(report) = report {
                if report.failed() && !self.force {
                    return Err(Error::GuardFailed {
                        operation: "PROMOTE".into(),
                        dataset: d.clone(),
                        version: v.clone(),
                        failures: report.failures(),
                    });
                }
                for mut check in report.to_json() {
                    if let Some(o) = check.as_object_mut() {
                        o.insert("dataset".into(), serde_json::Value::from(d.as_str()));
                    }
                    evidence.push(check);
                }
                results.extend(report.results);
            }
            baselines.push(state.dataset(d)?.rollout.stable.clone());
        }
        let done = env
            .commit(|s| {
                let targets = self.targets().zip(&baselines);
                let all = super::combined::in_turn(s, targets, |working, ((d, v), baseline)| {
                    // Checks against a stable version that is no longer stable are stale.
                    if s.dataset(d)?.rollout.stable != *baseline {
                        return Err(Error::refused(crate::error::Refusal::ChangedMeanwhile {
                            dataset: d.clone(),
                            operation: "PROMOTE".into(),
                        }));
                    }
                    let one = self.one(d, v);
                    one.plan(working, &one.transition(salt)?)
                })?;
                Ok(all.map(|mut c| {
                    c.statement = self.to_string();
                    c.checks = evidence.clone();
                    self.link(&mut c);
                    c
                }))
            })
            .await?;
        let report = (!results.is_empty()).then(|| crate::contract::CheckReport::new(results));
        Ok(Outcome::of_forced_commit(done, report, self.force, || {
            "nothing to do: every dataset already serves its version that way".into()
        }))
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        // The salt is drawn once per statement, so a retried commit keeps it.
        let salt = format!("{:016x}", uuid::Uuid::new_v4().as_u128() as u64);
        self.check_linked(&env.store.state())?;
        if !self.more.is_empty() {
            return self.execute_many(env, &salt).await;
        }
        let transition = self.transition(&salt)?;
        let state = env.store.state();
        super::verify::verify_target(env, "PROMOTE", &self.dataset, &self.version).await?;
        let gate = Gate {
            operation: "PROMOTE",
            dataset: &self.dataset,
            candidate: version_target(&state, &self.dataset, &self.version)?,
            on_failure: OnFailure::Refuse,
            force: self.force,
            actor: env.actor,
        };
        let done = guarded_commit(env, gate, |s, _| self.plan(s, &transition)).await?;
        Ok(Outcome::of_forced_commit(
            done.outcome,
            done.report,
            self.force,
            || {
                format!(
                    "nothing to do: {} already serves '{}' that way",
                    self.dataset, self.version
                )
            },
        ))
    }
}
