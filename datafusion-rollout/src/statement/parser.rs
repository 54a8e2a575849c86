//! The parser: DataFusion's `DFParser`, with our statements recognised first.

use std::ops::ControlFlow;

use datafusion::sql::parser::{CopyToSource, DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr, Ident as SqlIdent, Query, Statement as SqlStatement, TableAlias, TableFactor, Value,
    VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Word};

use super::*;
use crate::error::{Error, Result};
use crate::resolve::PIN_SEPARATOR;

/// DataFusion's default recursion limit.
const RECURSION_LIMIT: usize = 50;

/// Parses `sql` (any number of `;`-separated statements) with the generic dialect.
pub fn parse_sql(sql: &str) -> Result<Vec<Statement>> {
    parse_sql_with_dialect(sql, &GenericDialect {}, RECURSION_LIMIT)
}

/// Parses exactly one statement.
pub fn parse_statement(sql: &str) -> Result<Statement> {
    let mut statements = parse_sql(sql)?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(Error::Parse {
            message: "no SQL statement given".into(),
        }),
        n => Err(Error::Parse {
            message: format!("expected one statement, found {n}"),
        }),
    }
}

/// Parses `sql` with a dialect (the session's `datafusion.sql_parser.dialect`).
pub fn parse_sql_with_dialect(
    sql: &str,
    dialect: &dyn Dialect,
    recursion_limit: usize,
) -> Result<Vec<Statement>> {
    let tokens = Tokenizer::new(dialect, sql)
        .tokenize_with_location()
        .map_err(|e| parse_error(ParserError::from(e)))?;
    let tokens = rewrite_version_as_of(tokens);
    let mut df = DFParserBuilder::new(datafusion::sql::parser::ParserInput::Tokens(tokens))
        .with_dialect(dialect)
        .with_recursion_limit(recursion_limit)
        .build()
        .map_err(|e| Error::Parse {
            message: e.to_string(),
        })?;
    let mut out = Vec::new();
    let mut expecting_delimiter = false;
    loop {
        while df.parser.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        if df.parser.peek_token().token == Token::EOF {
            break;
        }
        if expecting_delimiter {
            let found = df.parser.peek_token();
            return Err(parse_error_at("end of statement (;)", found));
        }
        let statement = match parse_ours(&mut df.parser).map_err(parse_error)? {
            Some(s) => s,
            None => {
                // DataFusion's own statements keep DataFusion's own errors, word for word.
                let statement = df.parse_statement().map_err(Error::from)?;
                from_datafusion(statement)
            }
        };
        out.push(statement);
        expecting_delimiter = true;
    }
    Ok(out)
}

fn parse_error(e: ParserError) -> Error {
    Error::Parse {
        message: strip_sql_prefix(&e.to_string()),
    }
}

fn parse_error_at(expected: &str, found: TokenWithSpan) -> Error {
    Error::Parse {
        message: format!(
            "Expected: {expected}, found: {} at line {}, column {}",
            found.token, found.span.start.line, found.span.start.column
        ),
    }
}

/// "SQL error: ParserError(\"...\")" and "sql parser error: ..." become the message itself,
/// and sqlparser's "at Line: 1, Column: 5" becomes "at line 1, column 5".
fn strip_sql_prefix(message: &str) -> String {
    let mut m = message.to_string();
    for prefix in [
        "SQL error: ParserError(\"",
        "SQL error: TokenizerError(\"",
        "sql parser error: ",
    ] {
        if let Some(rest) = m.strip_prefix(prefix) {
            m = rest.trim_end_matches("\")").to_string();
        }
    }
    m.replace(" at Line: ", " at line ")
        .replace(", Column: ", ", column ")
}

/// Post-processing of what DataFusion parsed: `ASSERT` is ours, pinned reads get their alias.
fn from_datafusion(mut statement: DFStatement) -> Statement {
    if let DFStatement::Statement(s) = &statement
        && let SqlStatement::Assert { condition, message } = s.as_ref()
    {
        let message = message.as_ref().map(|m| match m {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                other => other.to_string(),
            },
            other => other.to_string(),
        });
        return Statement::Assert(Assert {
            condition: condition.clone(),
            message,
        });
    }
    alias_pinned_tables_df(&mut statement);
    Statement::DataFusion(Box::new(statement))
}

/// Our statements, or `None` to let DataFusion parse.
fn parse_ours(p: &mut Parser) -> Result<Option<Statement>, ParserError> {
    let t0 = p.peek_nth_token(0).token;
    let t1 = p.peek_nth_token(1).token;
    let t2 = p.peek_nth_token(2).token;
    let w = |t: &Token| match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    let (w0, w1) = (w(&t0), w(&t1));
    let statement = match (w0.as_deref(), w1.as_deref()) {
        (Some("CREATE"), Some("DATASET")) => Statement::CreateDataset(dataset::parse_create(p)?),
        (Some("CREATE"), Some("COHORT")) => Statement::CreateCohort(cohort::parse_create(p)?),
        (Some("DROP"), Some("VERSION")) => Statement::DropVersion(drop_version::parse(p)?),
        (Some("ALTER" | "DROP"), Some("COHORT")) => Statement::AlterCohort(cohort::parse_alter(p)?),
        (Some("SHOW"), Some("LINEAGE")) => Statement::ShowLineage(lineage::parse(p)?),
        (Some("SHOW"), Some("COHORTS")) => Statement::ShowCohorts(cohort::parse_show(p)?),
        (Some("CREATE"), Some("CONTRACT")) => Statement::CreateContract(contract::parse_create(p)?),
        (Some("CREATE"), Some("OR"))
            if w(&p.peek_nth_token(3).token).as_deref() == Some("CONTRACT") =>
        {
            Statement::CreateContract(contract::parse_create(p)?)
        }
        (Some("SHOW"), Some("CONTRACT")) => Statement::ShowContract(contract::parse_show(p)?),
        (Some("CHECK"), _) | (Some("EXPLAIN"), Some("CHECK")) => Statement::Check(check::parse(p)?),
        (Some("EXPLAIN"), Some("PROMOTE" | "ROLLBACK" | "ADVANCE")) => {
            p.next_token();
            let Some(statement) = parse_ours(p)? else {
                // Only a ROLLBACK without a dataset (DataFusion's transaction word) is not ours.
                p.next_token();
                return p.expected("a dataset name after EXPLAIN ROLLBACK", p.peek_token());
            };
            Statement::ExplainChange(ExplainChange {
                statement: Box::new(statement),
            })
        }
        (Some("ADVANCE"), _) => Statement::Advance(advance::parse(p)?),
        (Some("CREATE"), Some("VERSION")) => {
            Statement::CreateVersion(create_version::parse_create(p)?)
        }
        (Some("REGISTER"), _) => Statement::RegisterVersion(version::parse_register(p)?),
        (Some("SHOW"), Some("DATASETS")) => {
            p.next_token();
            p.next_token();
            Statement::ShowDatasets(ShowDatasets)
        }
        (Some("SHOW"), Some("VERSIONS")) => Statement::ShowVersions(version::parse_show(p)?),
        (Some("SHOW"), Some("ROLLOUT")) if t2 != Token::Period => {
            Statement::ShowRollout(show::parse_show_rollout(p)?)
        }
        (Some("CREATE"), Some("NOTIFICATION")) => {
            Statement::CreateNotification(notification::parse_create(p)?)
        }
        (Some("DROP"), Some("NOTIFICATION")) => {
            Statement::DropNotification(notification::parse_drop(p)?)
        }
        (Some("SHOW"), Some("NOTIFICATIONS")) => {
            Statement::ShowNotifications(notification::parse_show(p)?)
        }
        (Some("SHOW"), Some("EXPOSURE")) => Statement::ShowExposure(exposure::parse(p)?),
        (Some("REPORT"), Some("METRIC")) => Statement::ReportMetric(report::parse(p)?),
        (Some("SHOW"), Some("HISTORY")) => Statement::ShowHistory(show::parse_show_history(p)?),
        (Some("PROMOTE"), _) => Statement::Promote(promote::parse(p)?),
        // A bare `ROLLBACK` (or `ROLLBACK TRANSACTION`) stays DataFusion's; a quoted name
        // (`ROLLBACK "Orders"`, as Display prints it) is a dataset.
        (Some("ROLLBACK"), w1)
            if matches!(&t1, Token::Word(w) if w.quote_style.is_some())
                || w1.is_some_and(|w| {
                    !matches!(w, "TRANSACTION" | "WORK" | "AND" | "TO" | "SAVEPOINT")
                }) =>
        {
            Statement::Rollback(rollback::parse(p)?)
        }
        (Some("SET" | "SHOW" | "RESET"), Some("ROLLOUT")) if t2 == Token::Period => {
            Statement::Setting(settings::parse(p)?)
        }
        (Some("CREATE"), Some("USER")) => Statement::CreateUser(principals::parse_create_user(p)?),
        (Some("ALTER"), Some("USER")) => Statement::AlterUser(principals::parse_alter_user(p)?),
        (Some("DROP"), Some("USER")) => Statement::DropUser(principals::parse_drop_user(p)?),
        (Some("CREATE" | "DROP"), Some("ROLE")) => Statement::Role(principals::parse_role(p)?),
        (Some("CREATE"), Some("TOKEN")) => Statement::CreateToken(tokens::parse_create_token(p)?),
        (Some("DROP"), Some("TOKEN")) => Statement::DropToken(tokens::parse_drop_token(p)?),
        (Some("SHOW"), Some("USERS" | "TOKENS")) => {
            Statement::ShowPrincipals(tokens::parse_show(p)?)
        }
        (Some("GRANT" | "REVOKE"), _) => Statement::ChangeGrants(grants::parse_change(p)?),
        (Some("SHOW"), Some("GRANTS")) => Statement::ShowGrants(grants::parse_show(p)?),
        (Some("ALTER"), Some("DATASET"))
            if w(&p.peek_nth_token(4).token).as_deref() == Some("RETENTION") =>
        {
            Statement::SetRetention(retention::parse(p)?)
        }
        (Some("ALTER"), Some("DATASET"))
            if w(&p.peek_nth_token(3).token).as_deref() == Some("FINISH") =>
        {
            Statement::FinishMigration(migration::parse_finish(p)?)
        }
        (Some("ALTER"), Some("DATASET")) => Statement::SetApprovals(approvals::parse_set(p)?),
        (Some("APPROVE"), _) => Statement::Approve(approvals::parse_approve(p, parse_ours)?),
        (Some("SHOW"), Some("PENDING")) => Statement::ShowPending(approvals::parse_show(p)?),
        (Some("VACUUM"), _) => Statement::Vacuum(vacuum::parse(p)?),
        (Some("VERIFY"), _) => Statement::VerifyVersion(verify::parse(p)?),
        _ => return Ok(None),
    };
    Ok(Some(statement))
}

// ---- helpers shared by the statement parsers ----

/// Consumes a non-keyword word such as `DATASET` or `COHORT` (case-insensitive).
pub(super) fn expect_word(p: &mut Parser, word: &str) -> Result<(), ParserError> {
    if parse_word(p, word) {
        Ok(())
    } else {
        p.expected(word, p.peek_token())
    }
}

/// Consumes `word` if it is next.
pub(super) fn parse_word(p: &mut Parser, word: &str) -> bool {
    match p.peek_token().token {
        Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word) => {
            p.next_token();
            true
        }
        _ => false,
    }
}

/// Whether `word` is next (without consuming it).
pub(super) fn peek_word(p: &Parser, word: &str) -> bool {
    matches!(p.peek_token().token,
        Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// Whether `first` then `second` are next (without consuming them).
pub(super) fn peek_words(p: &Parser, first: &str, second: &str) -> bool {
    let is = |n: usize, word: &str| {
        matches!(p.peek_nth_token(n).token,
            Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
    };
    is(0, first) && is(1, second)
}

/// An identifier, normalised as DataFusion does: unquoted ones are lowercased.
pub(super) fn parse_name(p: &mut Parser, what: &str) -> Result<String, ParserError> {
    match p.peek_token().token {
        Token::Word(w) => {
            p.next_token();
            Ok(normalize(&w))
        }
        _ => p.expected(what, p.peek_token()),
    }
}

fn normalize(w: &Word) -> String {
    if w.quote_style.is_some() {
        w.value.clone()
    } else {
        w.value.to_lowercase()
    }
}

/// A string literal.
pub(super) fn parse_string(p: &mut Parser, what: &str) -> Result<String, ParserError> {
    match p.peek_token().token {
        Token::SingleQuotedString(s) => {
            p.next_token();
            Ok(s)
        }
        _ => p.expected(what, p.peek_token()),
    }
}

/// Trailing `[FORCE] [REASON '...']` clauses, in any order.
pub(super) fn parse_reason(p: &mut Parser) -> Result<Option<String>, ParserError> {
    if parse_word(p, "REASON") {
        Ok(Some(parse_string(p, "a reason in quotes after REASON")?))
    } else {
        Ok(None)
    }
}

/// `12.5` → 1250 basis points; at most two decimals, 0 to 100.
pub(super) fn parse_percent(p: &mut Parser) -> Result<u32, ParserError> {
    let token = p.next_token();
    let Token::Number(text, _) = &token.token else {
        return p.expected("a percentage between 0 and 100", token);
    };
    let (whole, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let out_of_range = || {
        ParserError::ParserError(format!(
            "percentage {text} is not between 0 and 100 with at most two decimals{}",
            token.span.start
        ))
    };
    if frac.len() > 2 || whole.is_empty() && frac.is_empty() {
        return Err(out_of_range());
    }
    let whole: u32 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| out_of_range())?
    };
    let frac: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().map_err(|_| out_of_range())?
    };
    let bp = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(out_of_range)?;
    if bp > 10_000 {
        return Err(out_of_range());
    }
    Ok(bp)
}

// ---- VERSION AS OF ----

/// `orders VERSION AS OF 'v1'` becomes a read of the table `"orders@v1"` (a pinned
/// [`crate::resolve::VersionedTable`]), aliased back to `orders` after parsing. Done on
/// tokens so that it works in every dialect, in subqueries, joins, views and `EXPLAIN`.
fn rewrite_version_as_of(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .map(|(i, _)| i)
        .collect();
    let is_kw = |i: usize, k: Keyword| matches!(&tokens[i].token, Token::Word(w) if w.keyword == k && w.quote_style.is_none());
    let mut replace: Vec<(usize, String, Vec<usize>)> = Vec::new();
    for window in significant.windows(5) {
        let [name, version, as_, of, literal] =
            [window[0], window[1], window[2], window[3], window[4]];
        let Token::Word(w) = &tokens[name].token else {
            continue;
        };
        let Token::SingleQuotedString(v) = &tokens[literal].token else {
            continue;
        };
        if is_kw(version, Keyword::VERSION) && is_kw(as_, Keyword::AS) && is_kw(of, Keyword::OF) {
            replace.push((
                name,
                format!("{}{PIN_SEPARATOR}{v}", normalize(w)),
                vec![version, as_, of, literal],
            ));
        }
    }
    if replace.is_empty() {
        return tokens;
    }
    let mut drop = std::collections::HashSet::new();
    let mut tokens = tokens;
    for (name, pinned, dropped) in replace {
        tokens[name].token = Token::Word(Word {
            value: pinned,
            quote_style: Some('"'),
            keyword: Keyword::NoKeyword,
        });
        drop.extend(dropped);
    }
    tokens
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, t)| t)
        .collect()
}

struct AliasPinned;

impl VisitorMut for AliasPinned {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, alias, .. } = factor
            && alias.is_none()
            && let Some(last) = name.0.last()
            && let Some(ident) = last.as_ident()
            && ident.quote_style == Some('"')
            && let Some((dataset, _)) = ident.value.split_once(PIN_SEPARATOR)
        {
            *alias = Some(TableAlias {
                explicit: true,
                name: SqlIdent::with_quote('"', dataset),
                columns: vec![],
                at: None,
            });
        }
        ControlFlow::Continue(())
    }
}

fn alias_pinned_tables_df(statement: &mut DFStatement) {
    match statement {
        DFStatement::Statement(s) => {
            let _ = s.visit(&mut AliasPinned);
        }
        DFStatement::Explain(e) => alias_pinned_tables_df(&mut e.statement),
        DFStatement::CopyTo(c) => {
            if let CopyToSource::Query(q) = &mut c.source {
                let _ = q.visit(&mut AliasPinned);
            }
        }
        _ => {}
    }
}

pub(super) fn alias_pinned_tables_query(query: &mut Query) {
    let _ = query.visit(&mut AliasPinned);
}
