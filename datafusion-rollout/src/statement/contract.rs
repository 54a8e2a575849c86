//! `CREATE [OR REPLACE] CONTRACT name FOR dataset (...)` and `SHOW CONTRACT dataset`.

use std::fmt;

use chrono::Utc;
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_reason, parse_word, peek_word};
use super::table::Table;
use crate::catalog::{
    Action, ColumnRule, Comparison, Contract, ContractItems, Expectation, validate_identifier,
};
use crate::contract::{Imported, import_odcs, validate_contract};
use crate::error::{Error, Result};
use crate::guard::Env;
use crate::sql::{Ident, Quoted, ReasonClause};
use crate::store::Commit;
use crate::store::resolve_location;
use datafusion::object_store::ObjectStoreExt;

/// `CREATE [OR REPLACE] CONTRACT c FOR orders (items) [REASON '...']`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateContract {
    /// Its name.
    pub name: String,
    /// The dataset it is for.
    pub dataset: String,
    /// `OR REPLACE`: replace the dataset's contract if it has one.
    pub or_replace: bool,
    /// The column rules among the items.
    pub columns: Vec<ColumnRule>,
    /// The `EXPECT` items.
    pub expectations: Vec<Expectation>,
    /// `FROM 'contract.yaml'`: an ODCS v3 document to import instead of the items.
    pub source: Option<String>,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// `SHOW CONTRACT orders`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowContract {
    /// The dataset.
    pub dataset: String,
}

/// A threshold: a number, or an interval in seconds (`INTERVAL '6 hours'`, `INTERVAL '6' HOUR`).
/// Returns the value and whether it was an interval.
fn number(p: &mut Parser, e: &Expr) -> Result<(f64, bool), ParserError> {
    let bad = |p: &Parser| {
        ParserError::ParserError(format!(
            "a contract threshold must be a number or an INTERVAL, found `{e}`{}",
            p.peek_token().span.start
        ))
    };
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().map(|x| (x, false)).map_err(|_| bad(p)),
            _ => Err(bad(p)),
        },
        Expr::Interval(interval) => {
            let text = match interval.value.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(t) | Value::Number(t, _) => t.clone(),
                    _ => return Err(bad(p)),
                },
                _ => return Err(bad(p)),
            };
            if interval.last_field.is_some() {
                return Err(bad(p));
            }
            let text = match &interval.leading_field {
                Some(field) => format!("{text} {field}"),
                None => text,
            };
            let seconds = crate::sql::parse_interval(&text).map_err(|e| {
                ParserError::ParserError(format!("{e}{}", p.peek_token().span.start))
            })?;
            Ok((seconds.as_secs_f64(), true))
        }
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => number(p, expr).map(|(x, interval)| (-x, interval)),
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => number(p, expr),
        Expr::Nested(inner) => number(p, inner),
        _ => Err(bad(p)),
    }
}

/// `<op> <threshold>`; returns the comparison and whether its threshold is an interval.
fn comparison_of(
    p: &mut Parser,
    op: &BinaryOperator,
    right: &Expr,
) -> Result<(Comparison, bool), ParserError> {
    let (value, interval) = number(p, right)?;
    let comparison = match op {
        BinaryOperator::Lt => Comparison::Lt { value },
        BinaryOperator::LtEq => Comparison::LtEq { value },
        BinaryOperator::Gt => Comparison::Gt { value },
        BinaryOperator::GtEq => Comparison::GtEq { value },
        BinaryOperator::Eq => Comparison::Eq { value },
        BinaryOperator::NotEq => Comparison::NotEq { value },
        other => {
            return Err(ParserError::ParserError(format!(
                "EXPECT needs a comparison (<, <=, >, >=, =, <>, BETWEEN), found {other}{}",
                p.peek_token().span.start
            )));
        }
    };
    Ok((comparison, interval))
}

/// `[NOT] BETWEEN low AND high` of two thresholds of the same kind.
fn between(
    p: &mut Parser,
    negated: bool,
    low: &Expr,
    high: &Expr,
) -> Result<(Comparison, bool), ParserError> {
    let ((low, a), (high, b)) = (number(p, low)?, number(p, high)?);
    if a != b {
        return Err(mixed(p));
    }
    let c = if negated {
        Comparison::NotBetween { low, high }
    } else {
        Comparison::Between { low, high }
    };
    Ok((c, a))
}

fn mixed(p: &Parser) -> ParserError {
    ParserError::ParserError(format!(
        "an EXPECT's thresholds are all numbers or all INTERVALs, not both{}",
        p.peek_token().span.start
    ))
}

/// `EXPECT metric <cmp> threshold | BETWEEN a AND b [WARN WHEN <cmp>] [WINDOW INTERVAL '..']`
fn parse_expectation(p: &mut Parser) -> Result<Expectation, ParserError> {
    let start = p.peek_token().span.start;
    let expr = p.parse_expr()?;
    let (metric, (expect, interval)) = match &expr {
        Expr::BinaryOp { left, op, right } => (left.to_string(), comparison_of(p, op, right)?),
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => (expr.to_string(), between(p, *negated, low, high)?),
        other => {
            return Err(ParserError::ParserError(format!(
                "EXPECT needs `<metric> <comparison> <number>`, found `{other}`{start}"
            )));
        }
    };
    let warn_when = if parse_word(p, "WARN") {
        p.expect_keyword(Keyword::WHEN)?;
        let op_token = p.next_token();
        let (warn, warn_interval) = match &op_token.token {
            Token::Word(w) if w.keyword == Keyword::BETWEEN => {
                let low = p.parse_prefix()?;
                p.expect_keyword(Keyword::AND)?;
                let high = p.parse_prefix()?;
                between(p, false, &low, &high)?
            }
            token => {
                let op = match token {
                    Token::Lt => BinaryOperator::Lt,
                    Token::LtEq => BinaryOperator::LtEq,
                    Token::Gt => BinaryOperator::Gt,
                    Token::GtEq => BinaryOperator::GtEq,
                    Token::Eq => BinaryOperator::Eq,
                    Token::Neq => BinaryOperator::NotEq,
                    _ => return p.expected("a comparison after WARN WHEN", op_token),
                };
                let right = p.parse_prefix()?;
                comparison_of(p, &op, &right)?
            }
        };
        if warn_interval != interval {
            return Err(mixed(p));
        }
        Some(warn)
    } else {
        None
    };
    let window_seconds = if parse_word(p, "WINDOW") {
        let _ = p.parse_keyword(Keyword::INTERVAL);
        let at = p.peek_token().span.start;
        let text =
            super::parser::parse_string(p, "a window in quotes, like WINDOW INTERVAL '1 hour'")?;
        let seconds = crate::sql::interval_seconds(&text)
            .map_err(|e| ParserError::ParserError(format!("WINDOW {e}{at}")))?;
        if seconds == 0 {
            return Err(ParserError::ParserError(format!(
                "WINDOW must be at least 1 second, found '{text}'{at}"
            )));
        }
        Some(seconds)
    } else {
        None
    };
    Ok(Expectation {
        metric,
        expect,
        warn_when,
        interval,
        window_seconds,
    })
}

/// `column [type] [NOT NULL] [UNIQUE] [CHECK (expr)]...`
fn parse_column_rule(p: &mut Parser) -> Result<ColumnRule, ParserError> {
    let column = parse_name(p, "a column name or EXPECT")?;
    let mut rule = ColumnRule {
        column,
        data_type: None,
        not_null: false,
        unique: false,
        checks: vec![],
    };
    let ends = |p: &Parser| {
        matches!(p.peek_token().token, Token::Comma | Token::RParen)
            || peek_word(p, "NOT")
            || peek_word(p, "UNIQUE")
            || peek_word(p, "CHECK")
    };
    if !ends(p) {
        rule.data_type = Some(p.parse_data_type()?.to_string());
    }
    loop {
        if p.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
            rule.not_null = true;
        } else if p.parse_keyword(Keyword::UNIQUE) {
            rule.unique = true;
        } else if p.parse_keyword(Keyword::CHECK) {
            p.expect_token(&Token::LParen)?;
            rule.checks.push(p.parse_expr()?.to_string());
            p.expect_token(&Token::RParen)?;
        } else {
            break;
        }
    }
    Ok(rule)
}

/// A table-level key: `UNIQUE (a, b)` or `PRIMARY KEY (a, b)`.
struct TableKey {
    columns: Vec<String>,
    primary: bool,
}

impl TableKey {
    /// Written into the contract as what it means: `EXPECT duplicate_count(a, b) = 0` (rows
    /// with a NULL in the key are not compared, as SQL's UNIQUE), and for a primary key
    /// `NOT NULL` on each of its columns.
    fn add_to(self, columns: &mut Vec<ColumnRule>, expectations: &mut Vec<Expectation>) {
        let keys = self
            .columns
            .iter()
            .map(|c| crate::sql::ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        expectations.push(Expectation {
            metric: format!("duplicate_count({keys})"),
            expect: Comparison::Eq { value: 0.0 },
            warn_when: None,
            interval: false,
            window_seconds: None,
        });
        if !self.primary {
            return;
        }
        for c in self.columns {
            match columns.iter_mut().find(|r| r.column == c) {
                Some(rule) => rule.not_null = true,
                None => columns.push(ColumnRule {
                    column: c,
                    data_type: None,
                    not_null: true,
                    unique: false,
                    checks: vec![],
                }),
            }
        }
    }
}

/// `UNIQUE (a, ...)` / `PRIMARY KEY (a, ...)` as a contract item; `None` (nothing consumed)
/// when the item is something else, such as a column that happens to be named `unique`.
fn parse_table_key(p: &mut Parser) -> Result<Option<TableKey>, ParserError> {
    let is_word = |t: &Token, k: Keyword| matches!(t, Token::Word(w) if w.keyword == k && w.quote_style.is_none());
    let [first, second] = [p.peek_nth_token(0).token, p.peek_nth_token(1).token];
    let primary = if is_word(&first, Keyword::UNIQUE) && second == Token::LParen {
        p.next_token();
        false
    } else if is_word(&first, Keyword::PRIMARY) && is_word(&second, Keyword::KEY) {
        p.next_token();
        p.next_token();
        true
    } else {
        return Ok(None);
    };
    let what = if primary { "PRIMARY KEY" } else { "UNIQUE" };
    p.expect_token(&Token::LParen)?;
    let mut columns: Vec<String> = Vec::new();
    loop {
        let at = p.peek_token().span.start;
        let c = parse_name(p, &format!("a column name in {what} (...)"))?;
        if columns.contains(&c) {
            return Err(ParserError::ParserError(format!(
                "{what} names the column {c} twice{at}"
            )));
        }
        columns.push(c);
        if !p.consume_token(&Token::Comma) {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    Ok(Some(TableKey { columns, primary }))
}

pub(super) fn parse_create(p: &mut Parser) -> Result<CreateContract, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    let or_replace = p.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
    expect_word(p, "CONTRACT")?;
    let name = parse_name(p, "a contract name")?;
    p.expect_keyword(Keyword::FOR)?;
    let dataset = parse_name(p, "a dataset name after FOR")?;
    if p.parse_keyword(Keyword::FROM) {
        let source = super::parser::parse_string(p, "an ODCS YAML file in quotes after FROM")?;
        let reason = parse_reason(p)?;
        return Ok(CreateContract {
            name,
            dataset,
            or_replace,
            columns: vec![],
            expectations: vec![],
            source: Some(source),
            reason,
        });
    }
    p.expect_token(&Token::LParen)?;
    let mut columns = Vec::new();
    let mut expectations = Vec::new();
    loop {
        if parse_word(p, "EXPECT") {
            expectations.push(parse_expectation(p)?);
        } else if let Some(key) = parse_table_key(p)? {
            key.add_to(&mut columns, &mut expectations);
        } else {
            columns.push(parse_column_rule(p)?);
        }
        if !p.consume_token(&Token::Comma) {
            break;
        }
        // A trailing comma before `)` is fine.
        if p.peek_token().token == Token::RParen {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    let reason = parse_reason(p)?;
    Ok(CreateContract {
        name,
        dataset,
        or_replace,
        columns,
        expectations,
        source: None,
        reason,
    })
}

pub(super) fn parse_show(p: &mut Parser) -> Result<ShowContract, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    expect_word(p, "CONTRACT")?;
    Ok(ShowContract {
        dataset: parse_name(p, "a dataset name after SHOW CONTRACT")?,
    })
}

impl CreateContract {
    fn contract(&self, actor: &str) -> Contract {
        Contract {
            name: self.name.clone(),
            dataset: self.dataset.clone(),
            columns: self.columns.clone(),
            expectations: self.expectations.clone(),
            created_at: Utc::now(),
            created_by: actor.to_string(),
        }
    }

    /// The items of an ODCS document at `source`, and what did not map.
    async fn import(&self, env: &Env<'_>, source: &str) -> Result<Imported> {
        let url = resolve_location(source, false)?;
        let (store, _, path) = env.locate(&url, source)?;
        let bytes = store.get(&path).await.map_err(|e| Error::InvalidLocation {
            location: source.to_string(),
            reason: format!("cannot be read: {e}"),
        })?;
        let bytes = bytes.bytes().await?;
        let text = std::str::from_utf8(&bytes).map_err(|e| Error::Parse {
            message: format!("{source}: not UTF-8 text: {e}"),
        })?;
        import_odcs(text, &self.dataset, source)
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        validate_identifier("contract name", &self.name)?;
        let mut contract = self.contract(env.actor);
        let mut not_mapped = vec![];
        if let Some(source) = &self.source {
            let imported = self.import(env, source).await?;
            contract.columns = imported.columns;
            contract.expectations = imported.expectations;
            not_mapped = imported.not_mapped;
        }
        let not_mapped = if not_mapped.is_empty() {
            String::new()
        } else {
            format!("; not imported: {}", not_mapped.join("; "))
        };
        validate_contract(&contract, env.store.refresh().await?.as_ref(), env.session).await?;
        let done = env
            .commit(|state| {
                let ds = state.dataset(&self.dataset)?;
                if let Some(existing) = &ds.contract
                    && !self.or_replace
                {
                    return Err(Error::ContractExists {
                        dataset: self.dataset.clone(),
                        contract: existing.name.clone(),
                    });
                }
                let replaced = ds.contract.as_ref().map(|c| c.name.clone());
                Ok(Some(Commit {
                    operation: "CREATE CONTRACT".into(),
                    dataset: Some(self.dataset.clone()),
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![Action::SetContract {
                        dataset: self.dataset.clone(),
                        contract: Some(Box::new(contract.clone())),
                    }],
                    message: match replaced {
                        Some(old) => {
                            format!("contract {} replaces {old} on {}", self.name, self.dataset)
                        }
                        None => format!("contract {} attached to {}", self.name, self.dataset),
                    } + &not_mapped,
                    blast_radius: None,
                }))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || "nothing to do".into()))
    }
}

impl fmt::Display for CreateContract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE {}CONTRACT {} FOR {} ",
            if self.or_replace { "OR REPLACE " } else { "" },
            Ident(&self.name),
            Ident(&self.dataset),
        )?;
        match &self.source {
            Some(s) => write!(f, "FROM {}", Quoted(s))?,
            None => {
                let items = ContractItems {
                    columns: &self.columns,
                    expectations: &self.expectations,
                };
                write!(f, "({items})")?
            }
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl fmt::Display for ShowContract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW CONTRACT {}", Ident(&self.dataset))
    }
}

impl ShowContract {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let ds = state.dataset(&self.dataset)?;
        let contract = ds.contract.as_ref().ok_or_else(|| Error::NoContract {
            dataset: self.dataset.clone(),
        })?;
        let mut items: Vec<(&str, String)> = contract
            .columns
            .iter()
            .map(|c| ("column", c.to_string()))
            .collect();
        items.extend(
            contract
                .expectations
                .iter()
                .map(|e| ("expect", e.to_string())),
        );
        let batch = Table::new()
            .text("contract", items.iter().map(|_| &contract.name))
            .text("kind", items.iter().map(|(k, _)| k))
            .text("item", items.iter().map(|(_, i)| i))
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}
