//! `ROLLBACK`: abort a live rollout, or go back to an earlier stable version. Metadata only.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Utc;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Outcome;
use super::parser::{parse_name, parse_reason, parse_string};
use crate::catalog::{Action, Rollout, State, Transition, VersionRef, VersionStatus};
use crate::error::{Error, Refusal, Result};
use crate::guard::Env;
use crate::signals::blast_radius;
use crate::sql::{Ident, Quoted, ReasonClause};
use crate::store::{Commit, Event};

/// `ROLLBACK orders [TO 'v1'] [CASCADE] [REASON '...']`, `ROLLBACK orders, order_items
/// [CASCADE] [REASON '...']`
///
/// Without `TO`: a live candidate is aborted (it becomes `rolled_back`, everyone reads
/// stable); with no candidate, the previous stable version is restored. With `TO 'v'`: any
/// candidate is aborted and `v` becomes stable. Either way a new history entry; the same
/// history always yields the same state. The message names the live versions derived from
/// the version taken away (their `CREATE VERSION ... AS` read it); with `CASCADE` those are
/// rolled back in the same commit (a derived candidate is aborted, a derived stable version
/// gives way to its previous one), all or nothing. Several datasets are rolled back in one
/// commit, each as if alone, all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    /// The dataset.
    pub dataset: String,
    /// `TO 'v'`: the version to make stable.
    pub to: Option<String>,
    /// `CASCADE`: roll back the live versions derived from the one taken away, too.
    pub cascade: bool,
    /// `ROLLBACK a, b`: the datasets after the first, rolled back in the same commit.
    pub more: Vec<String>,
    /// Why, for the history.
    pub reason: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<Rollback, ParserError> {
    p.expect_keyword(Keyword::ROLLBACK)?;
    let dataset = parse_name(p, "a dataset name after ROLLBACK")?;
    let mut more = Vec::new();
    while p.consume_token(&Token::Comma) {
        let at = p.peek_token().span.start;
        let next = parse_name(p, "a dataset name after ','")?;
        if next == dataset || more.contains(&next) {
            return Err(ParserError::ParserError(format!(
                "ROLLBACK names {next} twice; each dataset is rolled back once{at}"
            )));
        }
        more.push(next);
    }
    if !more.is_empty() && p.peek_keyword(Keyword::TO) {
        return Err(ParserError::ParserError(
            "ROLLBACK of several datasets rolls each back to its own previous version; TO names a version of one dataset".into(),
        ));
    }
    let to = if p.parse_keyword(Keyword::TO) {
        Some(parse_string(
            p,
            "a version id in quotes after TO, like 'v1'",
        )?)
    } else {
        None
    };
    let cascade = p.parse_keyword(Keyword::CASCADE);
    let reason = parse_reason(p)?;
    Ok(Rollback {
        dataset,
        to,
        cascade,
        more,
        reason,
    })
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A dataset named like a word of DataFusion's own ROLLBACK is quoted, or it reads as one.
        if matches!(
            self.dataset.as_str(),
            "transaction" | "work" | "and" | "to" | "savepoint"
        ) {
            write!(f, "ROLLBACK \"{}\"", self.dataset)?;
        } else {
            write!(f, "ROLLBACK {}", Ident(&self.dataset))?;
        }
        for d in &self.more {
            write!(f, ", {}", Ident(d))?;
        }
        if let Some(v) = &self.to {
            write!(f, " TO {}", Quoted(v))?;
        }
        if self.cascade {
            write!(f, " CASCADE")?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl Rollback {
    /// The commit of this rollback against `state`. A plain `ROLLBACK` means "undo what I am
    /// looking at": `seen` keeps the rollout as first planned, and if another writer changed it
    /// before the commit lands, rolling back again would undo their change too, so it refuses
    /// instead (two concurrent ROLLBACKs yield one).
    pub(crate) fn plan(
        &self,
        state: &State,
        seen: &mut BTreeMap<String, Rollout>,
        events: &[Event],
    ) -> Result<Option<Commit>> {
        if !self.more.is_empty() {
            return self.plan_all(state, seen, events);
        }
        let ds = state.dataset(&self.dataset)?;
        match seen.get(&self.dataset) {
            Some(first) if *first != ds.rollout && self.to.is_none() => {
                return Err(Error::refused(Refusal::ChangedMeanwhile {
                    dataset: self.dataset.clone(),
                    operation: "ROLLBACK".into(),
                }));
            }
            Some(_) => {}
            None => {
                seen.insert(self.dataset.clone(), ds.rollout.clone());
            }
        }
        let transition = Transition::Rollback {
            to: self.to.clone(),
        };
        let Some(change) = ds.transition(&transition, Utc::now())? else {
            return Ok(None);
        };
        // The version this takes away from its readers: the candidate, else the stable one.
        let taken = ds.rollout.candidate.as_ref().map(|c| &c.version);
        let taken = taken.or(ds.rollout.stable.as_ref());
        let radius = taken.map(|v| (v, blast_radius(events, &self.dataset, v)));
        let mut message = change.message();
        let mut actions = change.actions();
        if let Some(taken) = taken {
            let taken = VersionRef {
                dataset: self.dataset.clone(),
                version: taken.clone(),
            };
            self.cascade(state, &taken, &mut actions, &mut message)?;
        }
        match &radius {
            Some((v, Some(r))) => message.push_str(&format!("; '{v}' was {r}")),
            Some((v, None)) => message.push_str(&format!("; no read of '{v}' was recorded")),
            None => {}
        }
        let blast_radius = radius.and_then(|(v, r)| {
            let r = r?;
            Some(serde_json::json!({
                "version": v,
                "consumers": r.consumers,
                "queries": r.queries,
                "errors": r.errors,
                "first_read": r.first_read,
                "last_read": r.last_read,
            }))
        });
        Ok(Some(Commit {
            operation: "ROLLBACK".into(),
            dataset: Some(self.dataset.clone()),
            statement: self.to_string(),
            reason: self.reason.clone(),
            checks: vec![],
            actions,
            message,
            blast_radius,
        }))
    }

    /// `ROLLBACK a, b`: each dataset as if alone, against the state the earlier ones leave,
    /// in one commit; any refusal refuses all.
    fn plan_all(
        &self,
        state: &State,
        seen: &mut BTreeMap<String, Rollout>,
        events: &[Event],
    ) -> Result<Option<Commit>> {
        let all = super::combined::in_turn(state, self.datasets(), |working, dataset| {
            let one = Rollback {
                dataset: dataset.clone(),
                to: None,
                cascade: self.cascade,
                more: vec![],
                reason: self.reason.clone(),
            };
            one.plan(working, seen, events)
        })?;
        Ok(all.map(|mut c| {
            c.statement = self.to_string();
            c
        }))
    }

    /// This rollback with the datasets released in stages with those it names added: they roll
    /// back together. Refused for `ROLLBACK d TO 'v'`, which would split such a release.
    pub(crate) fn with_linked(&self, state: &State) -> Result<Rollback> {
        let mut all = self.clone();
        for d in self.datasets() {
            let ds = state.dataset(d)?;
            for other in ds.rollout.candidate.iter().flat_map(|c| &c.linked) {
                if self.to.is_some() {
                    return Err(Error::refused(Refusal::Linked {
                        dataset: d.clone(),
                        other: other.clone(),
                        operation: "ROLLBACK ... TO".into(),
                    }));
                }
                if *other != all.dataset && !all.more.contains(other) {
                    all.more.push(other.clone());
                }
            }
        }
        Ok(all)
    }

    /// Every dataset this rolls back, the first one first.
    pub fn datasets(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.dataset).chain(&self.more)
    }

    /// The live versions derived from `taken`: named in `message`, and with `CASCADE` rolled
    /// back by more `actions` of the same commit.
    fn cascade(
        &self,
        state: &State,
        taken: &VersionRef,
        actions: &mut Vec<Action>,
        message: &mut String,
    ) -> Result<()> {
        let live = |s: &State, r: &VersionRef| {
            s.version(&r.dataset, &r.version)
                .is_ok_and(|v| matches!(v.status, VersionStatus::Stable | VersionStatus::Candidate))
        };
        let derived: Vec<VersionRef> = state
            .derived_from(taken)
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| live(state, r))
            .collect();
        if derived.is_empty() {
            return Ok(());
        }
        if !self.cascade {
            let named: Vec<String> = derived.iter().map(VersionRef::to_string).collect();
            message.push_str(&format!(
                "; still served, and derived from {taken}: {} (ROLLBACK {} CASCADE rolls them back too)",
                named.join(", "),
                Ident(&self.dataset)
            ));
            return Ok(());
        }
        // Each derived version against the state the earlier actions leave.
        let mut working = state.clone();
        working
            .apply(working.sequence + 1, actions)
            .map_err(Error::internal)?;
        for r in derived {
            if !live(&working, &r) {
                continue;
            }
            let ds = working.dataset(&r.dataset)?;
            let blocked = |why: String| {
                Error::refused(Refusal::CascadeBlocked {
                    dataset: self.dataset.clone(),
                    derived: r.to_string(),
                    why,
                })
            };
            if ds.rollout.stable.as_ref() == Some(&r.version)
                && let Some(c) = &ds.rollout.candidate
            {
                return Err(blocked(format!(
                    "{} has candidate '{}' live as well; ROLLBACK {} first",
                    r.dataset,
                    c.version,
                    Ident(&r.dataset)
                )));
            }
            let change = ds
                .transition(&Transition::Rollback { to: None }, Utc::now())
                .map_err(|e| blocked(e.to_string()))?
                .ok_or_else(|| blocked("nothing to roll back".into()))?;
            let more = change.actions();
            working
                .apply(working.sequence + 1, &more)
                .map_err(Error::internal)?;
            message.push_str(&format!("; cascade: {}", change.message()));
            actions.extend(more);
        }
        Ok(())
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let linked = self.with_linked(&env.store.state())?;
        if linked.more.len() > self.more.len() {
            return Box::pin(linked.execute_as_named(env)).await;
        }
        self.execute_as_named(env).await
    }

    async fn execute_as_named(&self, env: &Env<'_>) -> Result<Outcome> {
        let mut seen = BTreeMap::new();
        let why = || {
            format!(
                "nothing to do: {} already reads '{}'",
                self.dataset,
                self.to.as_deref().unwrap_or("?")
            )
        };
        // The reads to report are needed only by a rollback that undoes something; with no
        // candidate they would be every read ever recorded, paid again by each release manager
        // who repeats a ROLLBACK that is refused or has nothing to do. So when the state seen
        // has nothing to undo, the commit is first tried without them: it refuses or answers
        // from the latest state as it would with them, and only if that state has something to
        // undo after all is the rollback planned again, with the reads.
        if !matches!(
            self.plan(&env.store.state(), &mut BTreeMap::new(), &[]),
            Ok(Some(_))
        ) {
            let mut undo = false;
            let outcome = env
                .commit(|state| {
                    undo = self.plan(state, &mut BTreeMap::new(), &[])?.is_some();
                    Ok(None)
                })
                .await?;
            if !undo {
                return Ok(Outcome::of_commit(outcome, None, why));
            }
        }
        // Reads recorded so far (a store whose events cannot be read still rolls back): since
        // the candidates were exposed, when every dataset has one.
        let state = env.store.state();
        let mut since = Some(Utc::now());
        for d in self.datasets() {
            let started = state
                .dataset(d)?
                .rollout
                .candidate
                .as_ref()
                .map(|c| c.started_at);
            since = since.zip(started).map(|(a, b)| a.min(b));
        }
        let events = match env.store.events().read_since(since).await {
            Ok(read) => read.events,
            Err(_) => vec![],
        };
        // Every version everyone will read afterwards (of each dataset named, and of each one
        // a CASCADE rolls back) must be readable as registered: the commit is planned once
        // here to see them. (A rollback the state refuses is refused by the commit, which says
        // why.)
        let planned = self.plan(&state, &mut seen.clone(), &events).ok().flatten();
        for action in planned.iter().flat_map(|c| &c.actions) {
            let Action::SetRollout { dataset, rollout } = action else {
                continue;
            };
            let before = state.dataset(dataset)?.rollout.stable.as_ref();
            if let Some(target) = rollout.stable.as_ref().filter(|t| Some(*t) != before) {
                super::verify::verify_target(env, "ROLLBACK", dataset, target).await?;
            }
        }
        let outcome = env
            .commit(|state| self.plan(state, &mut seen, &events))
            .await?;
        Ok(Outcome::of_commit(outcome, None, why))
    }
}
