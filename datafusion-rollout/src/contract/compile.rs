//! Contract → checks: each rule and expectation becomes an aggregate over a version (or over
//! baseline ∪ candidate for drift), with the comparison that judges it.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, Value, Visit, VisitMut, Visitor,
    VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::catalog::{Comparison, Contract, Threshold};
use crate::error::{Error, Result};

/// The column added to `baseline UNION ALL candidate`: true on the candidate's rows.
pub(crate) const IS_CANDIDATE: &str = "__rollout_is_candidate";

/// How a check is computed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CheckKind {
    /// The version's column type against a declared SQL type (no scan).
    Type { declared: String },
    /// An aggregate over the version (all of them share one scan).
    Metric { sql: String },
    /// A two-sample aggregate over baseline ∪ candidate (all of them share one scan).
    Drift { sql: String },
    /// What consumers experience while a rollout is live, candidate arm against stable arm
    /// over the rollout's window: evaluated from the events, never by a scan.
    Live(LiveSignal),
}

/// The live expectations of a contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LiveSignal {
    /// `read_error_rate()`: failed reads of the candidate / its reads.
    ReadErrorRate,
    /// `latency_ratio()`: p95 elapsed time of candidate reads / that of stable reads.
    LatencyRatio,
    /// `metric_change('name')`: relative change of the metric's mean, candidate vs stable,
    /// decided by an anytime-valid test.
    MetricChange { metric: String },
}

impl LiveSignal {
    /// The live function `expr` calls (the whole expression), if it is one.
    fn of(expr: &Expr) -> std::result::Result<Option<LiveSignal>, String> {
        let Expr::Function(f) = expr else {
            return Ok(None);
        };
        let name = f.name.to_string().to_ascii_lowercase();
        let args: Vec<&Expr> = match &f.args {
            FunctionArguments::List(list) => list
                .args
                .iter()
                .filter_map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        let signal = match name.as_str() {
            "read_error_rate" => LiveSignal::ReadErrorRate,
            "latency_ratio" => LiveSignal::LatencyRatio,
            "metric_change" => match args.as_slice() {
                [Expr::Value(v)] => match &v.value {
                    Value::SingleQuotedString(m) => LiveSignal::MetricChange { metric: m.clone() },
                    _ => {
                        return Err(
                            "metric_change('name') takes the metric's name in quotes".into()
                        );
                    }
                },
                _ => return Err("metric_change('name') takes the metric's name in quotes".into()),
            },
            _ => return Ok(None),
        };
        if !matches!(signal, LiveSignal::MetricChange { .. }) && !args.is_empty() {
            return Err(format!("{name}() takes no arguments"));
        }
        Ok(Some(signal))
    }
}

/// One check of a compiled contract.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CheckSpec {
    pub check: String,
    pub column: Option<String>,
    pub kind: CheckKind,
    pub expect: Comparison,
    pub warn_when: Option<Comparison>,
    /// The thresholds (and the metric's value) are intervals, in seconds.
    pub interval: bool,
    /// A live expectation's trailing window (`WINDOW INTERVAL`), in seconds; `None` is the
    /// current stage.
    pub window_seconds: Option<u64>,
    /// A column rule whose value the files' statistics may give without a scan.
    pub settle: Option<Settle>,
}

/// A row check, as the statistics of a version's files can settle it (`super::statistics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Settle {
    /// A metric that is one call of an aggregate (`NOT NULL`'s `null_count(x)`, an `EXPECT`
    /// of `count(*)`, `max(x)`, ..): the aggregate's own answer from statistics, if it has one.
    Aggregate,
    /// `CHECK (condition)`: no row can fail the condition (a count of 0).
    NoViolation { condition: String },
}

impl CheckSpec {
    /// A check judged by `expect` with no warning, no interval, no window.
    fn plain(check: String, column: Option<String>, kind: CheckKind, expect: Comparison) -> Self {
        CheckSpec {
            check,
            column,
            kind,
            expect,
            warn_when: None,
            interval: false,
            window_seconds: None,
            settle: None,
        }
    }

    /// The same check, which the files' statistics may settle as `settle` says.
    fn settled_by(self, settle: Settle) -> Self {
        CheckSpec {
            settle: Some(settle),
            ..self
        }
    }

    /// What the check holds its value to, as SQL: `<= INTERVAL '6 hours' (warn when > ...)`.
    pub fn threshold(&self) -> String {
        let t = |comparison| Threshold {
            comparison,
            interval: self.interval,
        };
        match &self.warn_when {
            Some(w) => format!("{} (warn when {})", t(&self.expect), t(w)),
            None => t(&self.expect).to_string(),
        }
    }
}

/// Two-sample drift functions of the udfs crate, under their `drift_*` contract names.
fn drift_function(name: &str) -> Option<&'static str> {
    Some(match name.strip_prefix("drift_")? {
        "psi" => "psi",
        "ks" | "ks_statistic" => "ks_statistic",
        "ks_pvalue" => "ks_pvalue",
        "wasserstein" | "wasserstein_distance" => "wasserstein_distance",
        "wasserstein_normed" => "wasserstein_normed",
        "js" | "js_distance" => "js_distance",
        "hellinger" => "hellinger",
        "chi2" | "chi2_statistic" => "chi2_statistic",
        "chi2_pvalue" => "chi2_pvalue",
        _ => return None,
    })
}

/// Rewrites a metric: `row_count()` → `count(*)`, `drift_psi(x)` → `psi(x, __rollout_is_candidate)`.
/// Returns whether it contains drift functions.
struct RewriteMetric {
    drift: bool,
    unknown_drift: Option<String>,
}

impl VisitorMut for RewriteMetric {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        let name = f.name.to_string().to_lowercase();
        let no_args = match &f.args {
            FunctionArguments::None => true,
            FunctionArguments::List(l) => l.args.is_empty(),
            FunctionArguments::Subquery(_) => false,
        };
        if name == "row_count" && no_args {
            if let Ok(count) = Parser::new(&GenericDialect {})
                .try_with_sql("count(*)")
                .and_then(|mut p| p.parse_expr())
            {
                *expr = count;
            }
            return ControlFlow::Continue(());
        }
        if name.starts_with("drift_") {
            let Some(target) = drift_function(&name) else {
                self.unknown_drift = Some(name);
                return ControlFlow::Continue(());
            };
            f.name = datafusion::sql::sqlparser::ast::ObjectName::from(vec![Ident::new(target)]);
            if let FunctionArguments::List(list) = &mut f.args {
                list.args.push(FunctionArg::Unnamed(FunctionArgExpr::Expr(
                    Expr::Identifier(Ident::new(IS_CANDIDATE)),
                )));
            }
            self.drift = true;
        }
        ControlFlow::Continue(())
    }
}

/// The first column a metric mentions (for the result's `column`).
struct FirstColumn(Option<String>);

impl Visitor for FirstColumn {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(i) if self.0.is_none() => self.0 = Some(i.value.clone()),
            Expr::CompoundIdentifier(parts) if self.0.is_none() => {
                self.0 = parts.last().map(|i| i.value.clone())
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn parse_expr(sql: &str) -> Result<Expr> {
    Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| Error::Parse {
            message: format!("in contract expression `{sql}`: {e}"),
        })
}

/// Compiles a contract into its checks, in declaration order.
pub(crate) fn compile(contract: &Contract) -> Result<Vec<CheckSpec>> {
    let mut out = Vec::new();
    let zero = Comparison::Eq { value: 0.0 };
    for rule in &contract.columns {
        let col = crate::sql::ident(&rule.column);
        if let Some(t) = &rule.data_type {
            out.push(CheckSpec::plain(
                "type".into(),
                Some(rule.column.clone()),
                CheckKind::Type {
                    declared: t.clone(),
                },
                zero.clone(),
            ));
        }
        if rule.not_null {
            out.push(
                CheckSpec::plain(
                    "not_null".into(),
                    Some(rule.column.clone()),
                    CheckKind::Metric {
                        sql: format!("null_count({col})"),
                    },
                    zero.clone(),
                )
                .settled_by(Settle::Aggregate),
            );
        }
        if rule.unique {
            out.push(CheckSpec::plain(
                "unique".into(),
                Some(rule.column.clone()),
                CheckKind::Metric {
                    sql: format!("duplicate_count({col})"),
                },
                zero.clone(),
            ));
        }
        for c in &rule.checks {
            out.push(
                CheckSpec::plain(
                    format!("check ({c})"),
                    Some(rule.column.clone()),
                    CheckKind::Metric {
                        // SQL's CHECK: a row fails when the condition is false (NULL passes, as
                        // FILTER drops the NULL of `NOT NULL`). `NOT` is one bitwise kernel where
                        // `IS FALSE` compares row by row, and it refuses a non-boolean condition.
                        sql: format!("count(*) FILTER (WHERE NOT ({c}))"),
                    },
                    zero.clone(),
                )
                .settled_by(Settle::NoViolation {
                    condition: c.clone(),
                }),
            );
        }
    }
    for e in &contract.expectations {
        let mut expr = parse_expr(&e.metric)?;
        let live = LiveSignal::of(&expr).map_err(|message| Error::InvalidContract {
            message: format!("in `{}`: {message}", e.metric),
        })?;
        if let Some(signal) = live {
            if e.interval {
                return Err(Error::InvalidContract {
                    message: format!(
                        "in `{e}`: a live expectation's thresholds are numbers, not INTERVALs"
                    ),
                });
            }
            out.push(CheckSpec {
                check: e.metric.clone(),
                column: None,
                kind: CheckKind::Live(signal),
                expect: e.expect.clone(),
                warn_when: e.warn_when.clone(),
                interval: false,
                window_seconds: e.window_seconds,
                settle: None,
            });
            continue;
        }
        if e.window_seconds.is_some() {
            return Err(Error::InvalidContract {
                message: format!(
                    "in `{e}`: WINDOW applies to live expectations only (read_error_rate(), \
                     latency_ratio(), metric_change('..')); data checks judge a whole version"
                ),
            });
        }
        let mut first = FirstColumn(None);
        let _ = Visit::visit(&expr, &mut first);
        let mut rewrite = RewriteMetric {
            drift: false,
            unknown_drift: None,
        };
        let _ = VisitMut::visit(&mut expr, &mut rewrite);
        if let Some(name) = rewrite.unknown_drift {
            return Err(Error::InvalidContract {
                message: format!(
                    "unknown drift function {name}() in `{}`; drift functions are drift_psi, drift_ks, \
                 drift_ks_pvalue, drift_wasserstein, drift_wasserstein_normed, drift_js, \
                 drift_hellinger, drift_chi2, drift_chi2_pvalue",
                    e.metric
                ),
            });
        }
        let sql = expr.to_string();
        out.push(CheckSpec {
            check: e.metric.clone(),
            column: first.0,
            kind: if rewrite.drift {
                CheckKind::Drift { sql }
            } else {
                CheckKind::Metric { sql }
            },
            expect: e.expect.clone(),
            warn_when: e.warn_when.clone(),
            interval: e.interval,
            window_seconds: None,
            // Only one call of an aggregate can be answered from statistics; anything else
            // does not cost a planning of the version for them.
            settle: (!rewrite.drift && matches!(expr, Expr::Function(_)))
                .then_some(Settle::Aggregate),
        });
    }
    Ok(out)
}
