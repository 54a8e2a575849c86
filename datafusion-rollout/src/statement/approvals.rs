//! The two-person rule: `ALTER DATASET d SET APPROVALS n [FOR (PROMOTE, FORCE)]`, the pending
//! request a gated statement becomes, `APPROVE <statement>`, and `SHOW PENDING [OF d]`.
//!
//! A gated statement (a PROMOTE, or anything FORCEd, on a dataset whose policy asks for it) by
//! a principal is recorded as a pending request instead of running. Each `APPROVE` by another
//! principal who holds what the statement needs is recorded; the last one runs the statement as
//! its requester, and the same log entry closes the request with the names of the approvers.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{Duration as ChronoDuration, Utc};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::parser::{expect_word, parse_name, parse_reason, parse_word};
use super::table::Table;
use super::{Outcome, Statement};
use crate::catalog::{Action, ApprovalOp, ApprovalPolicy, PendingRequest, State};
use crate::error::{Error, Refusal, Result};
use crate::guard::Env;
use crate::sql::{Ident, ReasonClause};
use crate::store::Commit;

/// How long a request can be approved.
pub const PENDING_LIFETIME_HOURS: i64 = 24;

/// `ALTER DATASET orders SET APPROVALS 2 [FOR (PROMOTE, FORCE)] [REASON '...']` (1 removes the
/// rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetApprovals {
    /// The dataset.
    pub dataset: String,
    /// Principals in all a gated change needs (the requester included).
    pub required: u32,
    /// What is gated (empty: PROMOTE and FORCE).
    pub ops: Vec<ApprovalOp>,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// `APPROVE PROMOTE orders TO 'v2' ...`: approves the pending request for that statement
/// (named without its REASON).
#[derive(Debug, Clone, PartialEq)]
pub struct Approve {
    /// The statement approved.
    pub statement: Box<Statement>,
}

/// `SHOW PENDING [OF orders]`: the requests waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowPending {
    /// Only this dataset's.
    pub dataset: Option<String>,
}

pub(super) fn parse_set(p: &mut Parser) -> Result<SetApprovals, ParserError> {
    p.expect_keyword(Keyword::ALTER)?;
    expect_word(p, "DATASET")?;
    let dataset = parse_name(p, "a dataset name after ALTER DATASET")?;
    p.expect_keyword(Keyword::SET)?;
    expect_word(p, "APPROVALS")?;
    let token = p.next_token();
    let required = match &token.token {
        Token::Number(n, _) => n.parse::<u32>().ok().filter(|n| (1..=10).contains(n)),
        _ => None,
    };
    let Some(required) = required else {
        return p.expected("a number of principals from 1 to 10 after APPROVALS", token);
    };
    let mut ops = Vec::new();
    if p.parse_keyword(Keyword::FOR) {
        p.expect_token(&Token::LParen)?;
        ops = p.parse_comma_separated(|p| {
            let token = p.next_token();
            match &token.token {
                Token::Word(w) if w.quote_style.is_none() => match ApprovalOp::parse(&w.value) {
                    Some(op) => Ok(op),
                    None => p.expected("PROMOTE or FORCE", token),
                },
                _ => p.expected("PROMOTE or FORCE", token),
            }
        })?;
        p.expect_token(&Token::RParen)?;
    }
    let reason = parse_reason(p)?;
    Ok(SetApprovals {
        dataset,
        required,
        ops,
        reason,
    })
}

pub(super) fn parse_approve(
    p: &mut Parser,
    inner: impl FnOnce(&mut Parser) -> Result<Option<Statement>, ParserError>,
) -> Result<Approve, ParserError> {
    expect_word(p, "APPROVE")?;
    let found = p.peek_token();
    match inner(p)? {
        Some(s @ Statement::Promote(_)) | Some(s @ Statement::Advance(_)) => Ok(Approve {
            statement: Box::new(s),
        }),
        _ => p.expected("PROMOTE or ADVANCE after APPROVE", found),
    }
}

pub(super) fn parse_show(p: &mut Parser) -> Result<ShowPending, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    expect_word(p, "PENDING")?;
    let dataset = if parse_word(p, "OF") {
        Some(parse_name(p, "a dataset name after OF")?)
    } else {
        None
    };
    Ok(ShowPending { dataset })
}

impl fmt::Display for SetApprovals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALTER DATASET {} SET APPROVALS {}",
            Ident(&self.dataset),
            self.required
        )?;
        if !self.ops.is_empty() {
            let ops: Vec<&str> = self.ops.iter().map(|o| o.as_str()).collect();
            write!(f, " FOR ({})", ops.join(", "))?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl fmt::Display for Approve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "APPROVE {}", self.statement)
    }
}

impl fmt::Display for ShowPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dataset {
            Some(d) => write!(f, "SHOW PENDING OF {}", Ident(d)),
            None => f.write_str("SHOW PENDING"),
        }
    }
}

/// The dataset a statement changes, whether it is a PROMOTE and whether it is FORCEd (what a
/// policy may gate); `None` for statements no policy gates.
pub(super) fn gated_kind(statement: &Statement) -> Option<(&str, bool, bool)> {
    match statement {
        Statement::Promote(p) => Some((&p.dataset, true, p.force)),
        Statement::Advance(a) => Some((&a.dataset, false, a.force)),
        _ => None,
    }
}

/// The approval rule `statement` falls under on `state`, if any: for a `PROMOTE` of several
/// datasets, the most demanding rule among them (the request is filed under the first dataset
/// named, and an approver needs the statement's privileges on every dataset).
pub(super) fn policy_of(statement: &Statement, state: &State) -> Option<ApprovalPolicy> {
    let (_, promote, force) = gated_kind(statement)?;
    let datasets: Vec<&str> = match statement {
        Statement::Promote(p) => p.targets().map(|(d, _)| d.as_str()).collect(),
        Statement::Advance(a) => vec![a.dataset.as_str()],
        _ => vec![],
    };
    datasets
        .into_iter()
        .filter_map(|d| state.approvals.policy_for(d, promote, force))
        .max_by_key(|p| p.required)
        .cloned()
}

/// The `REASON` an approver gave (`APPROVE PROMOTE ... REASON '...'`).
fn reason_of(statement: &Statement) -> Option<String> {
    match statement {
        Statement::Promote(p) => p.reason.clone(),
        Statement::Advance(a) => a.reason.clone(),
        _ => None,
    }
}

/// The statement's text without its reason: what an `APPROVE` names.
fn without_reason(statement: &Statement) -> String {
    let mut s = statement.clone();
    match &mut s {
        Statement::Promote(p) => p.reason = None,
        Statement::Advance(a) => a.reason = None,
        _ => {}
    }
    s.to_string()
}

/// If `statement` needs approvals on `state`, records it as a pending request (or says it is
/// pending already) and returns that outcome; `None`: it runs as usual.
pub(crate) async fn gate(statement: &Statement, env: &Env<'_>) -> Result<Option<Outcome>> {
    let state = env.store.state();
    if state.access.is_open() {
        return Ok(None);
    }
    let Some((dataset, _, _)) = gated_kind(statement) else {
        return Ok(None);
    };
    let Some(policy) = policy_of(statement, &state) else {
        return Ok(None);
    };
    // The statement must make sense now; it is checked again when it runs.
    state.dataset(dataset)?;
    let approves = without_reason(statement);
    let text = statement.to_string();
    let mut pending = None;
    let done = env
        .commit(|s| {
            let now = Utc::now();
            if let Some(r) = s.approvals.find(dataset, &approves, now) {
                pending = Some(r.id);
                return Ok(None);
            }
            let request = PendingRequest {
                id: s.sequence + 1,
                dataset: dataset.to_string(),
                statement: text.clone(),
                approves: approves.clone(),
                requested_by: env.actor.to_string(),
                requested_at: now,
                expires_at: now + ChronoDuration::hours(PENDING_LIFETIME_HOURS),
                approved_by: BTreeSet::new(),
                required: policy.required,
            };
            let missing = request.missing();
            Ok(Some(Commit {
                operation: "REQUEST APPROVAL".into(),
                dataset: Some(dataset.to_string()),
                statement: text.clone(),
                reason: None,
                checks: vec![],
                message: format!(
                    "pending approval #{}: {missing} other principal(s) holding its privileges \
                     must APPROVE {text} (its REASON is not compared)",
                    request.id
                ),
                actions: vec![Action::RequestApproval {
                    request: Box::new(request),
                }],
                blast_radius: None,
            }))
        })
        .await?;
    Ok(Some(Outcome::of_commit(done, None, || {
        format!(
            "nothing to do: {approves} is pending approval already (#{})",
            pending.unwrap_or_default()
        )
    })))
}

impl SetApprovals {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let ops: BTreeSet<ApprovalOp> = if self.ops.is_empty() {
            [ApprovalOp::Promote, ApprovalOp::Force]
                .into_iter()
                .collect()
        } else {
            self.ops.iter().copied().collect()
        };
        let policy = (self.required > 1).then_some(ApprovalPolicy {
            required: self.required,
            ops,
        });
        let done = env
            .commit(|state| {
                state.dataset(&self.dataset)?;
                if state.access.is_open() && policy.is_some() {
                    return Err(Error::refused(Refusal::ApprovalsNeedUsers {
                        dataset: self.dataset.clone(),
                    }));
                }
                if state.approvals.policies.get(&self.dataset) == policy.as_ref() {
                    return Ok(None);
                }
                let message = match &policy {
                    Some(p) => format!(
                        "{} needs {} principals for {}",
                        self.dataset,
                        p.required,
                        p.ops
                            .iter()
                            .map(|o| o.as_str())
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                    None => format!("{} needs no approvals", self.dataset),
                };
                Ok(Some(Commit {
                    operation: "SET APPROVALS".into(),
                    dataset: Some(self.dataset.clone()),
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![Action::SetApprovals {
                        dataset: self.dataset.clone(),
                        policy: policy.clone(),
                    }],
                    message,
                    blast_radius: None,
                }))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || {
            "nothing to do: the dataset has that rule already".into()
        }))
    }
}

impl Approve {
    /// The dataset of the statement approved.
    pub(crate) fn dataset(&self) -> &str {
        gated_kind(&self.statement).map_or("", |(d, _, _)| d)
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let request = self.request(&state)?.clone();
        if request.requested_by == env.actor {
            return Err(Error::refused(Refusal::OwnRequest {
                id: request.id,
                requester: request.requested_by,
            }));
        }
        if request.approved_by.contains(env.actor) {
            return Ok(Outcome::Unchanged {
                why: format!("nothing to do: you approved #{} already", request.id),
            });
        }
        if request.missing() > 1 {
            let done = env
                .commit(|s| {
                    let r = self.request(s)?;
                    Ok(Some(Commit {
                        operation: "APPROVE".into(),
                        dataset: Some(r.dataset.clone()),
                        statement: self.to_string(),
                        reason: reason_of(&self.statement),
                        checks: vec![],
                        message: format!(
                            "approved #{}; {} more approval(s) needed",
                            r.id,
                            r.missing() - 1
                        ),
                        actions: vec![Action::Approve {
                            id: r.id,
                            by: env.actor.to_string(),
                        }],
                        blast_radius: None,
                    }))
                })
                .await?;
            return Ok(Outcome::of_commit(done, None, || "nothing to do".into()));
        }
        // The last approval: the statement runs now, as its requester, and its entry closes
        // the request with everyone who approved it.
        let statement = super::parse_statement(&request.statement)?;
        let mut approved_by: Vec<String> = request.approved_by.iter().cloned().collect();
        approved_by.push(env.actor.to_string());
        let also = [Action::ClosePending {
            id: request.id,
            approved_by,
        }];
        let needs = statement.needs(&request.requested_by, &state);
        state.access.check_all(&request.requested_by, &needs)?;
        let as_requester = Env {
            actor: &request.requested_by,
            needs: &needs,
            also: &also,
            ..*env
        };
        Box::pin(statement.execute_ours(&as_requester)).await
    }

    fn request<'s>(&self, state: &'s State) -> Result<&'s PendingRequest> {
        let approves = without_reason(&self.statement);
        state
            .approvals
            .find(self.dataset(), &approves, Utc::now())
            .ok_or_else(|| {
                Error::refused(Refusal::NothingPending {
                    statement: approves,
                })
            })
    }
}

impl ShowPending {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        if let Some(d) = &self.dataset {
            state.dataset(d)?;
        }
        let now = Utc::now();
        let rows: Vec<&PendingRequest> = state
            .approvals
            .pending
            .values()
            .filter(|r| r.expires_at > now)
            .filter(|r| self.dataset.as_ref().is_none_or(|d| &r.dataset == d))
            .collect();
        let time = |t: &chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        let batch = Table::new()
            .count("id", rows.iter().map(|r| r.id))
            .text("dataset", rows.iter().map(|r| r.dataset.as_str()))
            .text("statement", rows.iter().map(|r| r.statement.as_str()))
            .text("requested_by", rows.iter().map(|r| r.requested_by.as_str()))
            .text(
                "approved_by",
                rows.iter()
                    .map(|r| r.approved_by.iter().cloned().collect::<Vec<_>>().join(", ")),
            )
            .count("missing", rows.iter().map(|r| u64::from(r.missing())))
            .text("expires_at", rows.iter().map(|r| time(&r.expires_at)))
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}
