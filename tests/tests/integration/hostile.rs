//! Hostile and broken input: property tests over the statement parser and over log-entry
//! decoding (no panic, only errors), broken log files, checkpoints that disagree with their
//! log, and names that try to become paths outside the store.
//!
//! Proptest runs 256 cases per property (2,000 hostile inputs and 3,000 round trips of
//! generated statements of every form for the parser's); `ROLLOUT_SOAK=1` runs 20x more, and
//! `PROPTEST_CASES` overrides all.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::object_store::ObjectStoreExt;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion_rollout::statement::{
    CheckTarget, CohortChange, CreateUser, Granted, SettingAction, ShowPrincipals, Statement,
    parse_sql, parse_statement,
};
use datafusion_rollout::store::{Store, StoreOptions, object_store_for, resolve_location};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::*;
use crate::reliability::{open, replayed_state, soak};

fn cases(ci: u32) -> u32 {
    match std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
    {
        Some(n) => n,
        None if soak() => ci * 20,
        None => ci,
    }
}

fn runner(ci: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: cases(ci),
        failure_persistence: None,
        ..Config::default()
    })
}

const VALID: &[&str] = &[
    "CREATE DATASET IF NOT EXISTS orders COMMENT 'it''s' REASON 'r'",
    "REGISTER VERSION 'v1' OF orders FROM 'data/orders/v1/' FORMAT CSV COMMENT 'c' REASON 'r'",
    "CREATE VERSION 'v2' OF orders COMMENT 'x' AS SELECT a, count(*) FROM t GROUP BY a",
    "CREATE COHORT canary MEMBERS ('alice', 'job-42') REASON 'beta'",
    "ALTER COHORT canary ADD MEMBERS ('bob') REASON 'more'",
    "ALTER COHORT canary DROP MEMBERS ('alice', 'job-42')",
    "DROP COHORT canary REASON 'done'",
    "SHOW COHORTS",
    "EXPLAIN PROMOTE orders TO 'v2' AT 10 PERCENT",
    "EXPLAIN ROLLBACK orders TO 'v1'",
    "EXPLAIN ADVANCE orders",
    "DROP VERSION 'v0' OF orders REASON 'old'",
    "ROLLBACK orders CASCADE REASON 'bad upstream'",
    "ROLLBACK orders, order_items REASON 'bad load'",
    "PROMOTE orders TO 'v2', order_items TO 'v5' FOR COHORT canary REASON 'together'",
    "SHOW LINEAGE OF orders VERSION 'v2'",
    "ALTER DATASET orders SET RETENTION (KEEP 10 VERSIONS, INTERVAL '30 days') REASON 'r'",
    "ALTER DATASET orders SET RETENTION NONE",
    "REGISTER VERSION 'v2' OF orders FROM 'data/orders/v2/' WITH MIGRATION (RENAME COLUMN amount TO total, DROP COLUMN legacy, ALTER COLUMN qty TYPE BIGINT) REASON 'r'",
    "ALTER DATASET orders FINISH MIGRATION REASON 'r'",
    "PROMOTE orders TO 'v2' FOR COHORT canary, beta AT 12.5 PERCENT FORCE REASON 'why'",
    "PROMOTE orders TO 'v2'",
    "ROLLBACK orders TO 'v1' REASON 'bad'",
    "ROLLBACK orders",
    "SHOW ROLLOUT orders",
    "SHOW HISTORY OF orders LIMIT 5",
    "SHOW HISTORY OF orders LIMIT 2 WITH CHECKS",
    "SHOW VERSIONS OF orders",
    "SHOW DATASETS",
    "SET rollout.consumer = 'alice'",
    "VACUUM DRY RUN RETAIN '2 hours' REASON 'x'",
    "VERIFY VERSION 'v1' OF orders",
    "VERIFY orders",
    "SELECT * FROM orders VERSION AS OF 'v1' WHERE amount > 1",
    "ASSERT (SELECT count(*) FROM orders) > 0 AS 'non-empty'",
    "CREATE OR REPLACE CONTRACT c FOR orders (order_id BIGINT NOT NULL UNIQUE CHECK (order_id > 0), \
     EXPECT null_fraction(customer_id) < 0.01 WARN WHEN > 0.001, \
     EXPECT avg(amount) BETWEEN 1 AND 100 WARN WHEN BETWEEN 50 AND 60) REASON 'r'",
    "CREATE CONTRACT c FOR orders FROM 'contract.yaml'",
    "SHOW CONTRACT orders",
    "EXPLAIN CHECK orders VERSION 'v2'",
    "CHECK ROLLOUT orders",
    "CHECK ROLLOUTS",
    "ADVANCE orders FORCE REASON 'late'",
    "PROMOTE orders TO 'v2' IN STAGES (1, 10.5, 50, 100) EVERY INTERVAL '1 hour 30 minutes'",
    "RESET rollout.cohort",
    "SHOW rollout.consumer",
];

const VOCAB: &[&str] = &[
    "CREATE",
    "DATASET",
    "VERSION",
    "OF",
    "AS",
    "FROM",
    "REGISTER",
    "PROMOTE",
    "ROLLBACK",
    "TO",
    "FOR",
    "COHORT",
    "AT",
    "PERCENT",
    "FORCE",
    "REASON",
    "SHOW",
    "HISTORY",
    "ROLLOUT",
    "VERSIONS",
    "DATASETS",
    "VACUUM",
    "DRY",
    "RUN",
    "RETAIN",
    "VERIFY",
    "MEMBERS",
    "FORMAT",
    "PARQUET",
    "COMMENT",
    "SET",
    "RESET",
    "ASSERT",
    "SELECT",
    "WHERE",
    "LIMIT",
    "IF",
    "NOT",
    "EXISTS",
    "orders",
    "\"Or ders\"",
    "v1",
    "'v1'",
    "''",
    "'it''s'",
    "'1 hour'",
    "'\u{0}'",
    "'é'",
    "12.5",
    "100",
    "101",
    "-1",
    "1e400",
    "99999999999999999999",
    "(",
    ")",
    ",",
    ";",
    ".",
    "*",
    "=",
    "%",
    "'",
    "\"",
    "`",
    "[",
    "]",
    "--",
    "/*",
    "$1",
    "?",
    "@",
    "\\",
    "\u{0}",
    "rollout.consumer",
    "CONTRACT",
    "EXPECT",
    "WARN",
    "WHEN",
    "BETWEEN",
    "CHECK",
    "ROLLOUTS",
    "EXPLAIN",
    "ADVANCE",
    "IN",
    "STAGES",
    "EVERY",
    "INTERVAL",
    "UNIQUE",
    "NULL",
    "<",
    ">=",
];

/// A valid statement with mutations: cut, bytes removed, tokens inserted.
fn mutated() -> impl Strategy<Value = String> {
    (
        prop::sample::select(VALID),
        prop::collection::vec((0u8..4, any::<u16>(), prop::sample::select(VOCAB)), 1..4),
    )
        .prop_map(|(sql, edits)| {
            let mut chars: Vec<char> = sql.chars().collect();
            for (kind, at, word) in edits {
                let at = at as usize % (chars.len() + 1);
                match kind {
                    0 => chars.truncate(at),
                    1 => {
                        let end = (at + 1 + at % 7).min(chars.len());
                        chars.drain(at.min(end)..end);
                    }
                    2 => {
                        let insert: Vec<char> = format!(" {word} ").chars().collect();
                        chars.splice(at..at, insert);
                    }
                    _ => chars.insert(at, ['\'', '"', '(', ';', '\u{0}', 'é'][at % 6]),
                }
            }
            chars.into_iter().collect()
        })
}

/// Words from our statements and punctuation, in any order.
fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCAB), 0..24).prop_map(|w| w.join(" "))
}

fn literal() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'Z', '0', ' ', '\'', '"', '-', '.', '/', 'é', '\\', '%', '\n', '\t', '日',
        ]),
        0..8,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A name as SQL text: plain, mixed case (normalised to lower case), quoted with odd
/// characters, and quoted words that our statements use as keywords.
fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "orders",
        "o_1",
        "Orders",
        "_x",
        "\"Mixed Case\"",
        "\"with space\"",
        "\"q\"\"uote\"",
        "\"é\"",
        "\"1st\"",
        "\"rollout\"",
        "\"rollouts\"",
        "\"to\"",
        "\"transaction\"",
        "\"work\"",
        "\"and\"",
        "\"savepoint\"",
        "\"version\"",
        "\"expect\"",
        "\"for\"",
        "\"at\"",
        "\"in\"",
        "\"of\"",
        "\"reason\"",
        "\"force\"",
        "\"every\"",
        "\"limit\"",
        "\"not\"",
        "\"unique\"",
        "\"check\"",
        "\"from\"",
        "\"select\"",
        "\"explain\"",
    ])
    .prop_map(str::to_string)
}

/// A string literal as SQL text.
fn lit() -> impl Strategy<Value = String> {
    literal().prop_map(|s| quote(&s))
}

/// ` REASON '...'`, or nothing.
fn reason() -> impl Strategy<Value = String> {
    prop::option::of(lit()).prop_map(|r| r.map(|r| format!(" REASON {r}")).unwrap_or_default())
}

/// `clauses` in the order `seed` picks (the parser takes these in any order).
fn shuffled(mut clauses: Vec<String>, mut seed: u64) -> String {
    for i in (1..clauses.len()).rev() {
        clauses.swap(i, (seed % (i as u64 + 1)) as usize);
        seed /= i as u64 + 1;
    }
    clauses.concat()
}

/// A percentage (basis points) as the parser reads it: `12.5`, `12.50`, `7`, `.5`, `100.0`.
fn percent() -> impl Strategy<Value = String> {
    (0u32..=10_000, 0u8..4).prop_map(|(bp, style)| {
        let (whole, frac) = (bp / 100, bp % 100);
        match style {
            0 => format!("{whole}.{frac:02}"),
            1 if frac == 0 => format!("{whole}"),
            2 if whole == 0 && frac % 10 == 0 => format!(".{}", frac / 10),
            3 if frac == 0 => format!("{whole}.0"),
            _ => format!("{whole}.{}", format!("{frac:02}").trim_end_matches('0')),
        }
    })
}

/// `'n unit'` as VACUUM RETAIN reads it.
fn retain() -> impl Strategy<Value = String> {
    (
        0u32..100_000,
        prop::sample::select(vec![
            "s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "h",
            "hour", "hours", "d", "day", "days", "w", "week", "weeks", "HOURS", "Days",
        ]),
    )
        .prop_map(|(n, unit)| format!("'{n} {unit}'"))
}

/// `'n unit [n unit]'` as EVERY INTERVAL reads it.
fn interval() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(vec![
        "second", "seconds", "sec", "secs", "minute", "minutes", "min", "mins", "hour", "hours",
        "day", "days", "week", "weeks", "HOUR",
    ]);
    prop::collection::vec((0u32..1000, unit), 1..3).prop_map(|parts| {
        let parts: Vec<String> = parts.iter().map(|(n, u)| format!("{n} {u}")).collect();
        quote(&parts.join(" "))
    })
}

/// A number as a contract threshold: integers, decimals, negatives, exponents.
fn threshold() -> impl Strategy<Value = String> {
    prop_oneof![
        (-1000i32..1000).prop_map(|n| n.to_string()),
        (0u32..100_000).prop_map(|n| format!("{}.{:03}", n / 1000, n % 1000)),
        (0u32..100).prop_map(|n| format!("-0.{n:02}")),
        (1u32..20).prop_map(|e| format!("1e{e}")),
        (1u32..99).prop_map(|n| format!("+{n}")),
    ]
}

fn comparison() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["<", "<=", ">", ">=", "=", "<>", "!="]),
        threshold(),
    )
        .prop_map(|(op, n)| format!("{op} {n}"))
}

/// `EXPECT <metric> <comparison> [WARN WHEN <comparison>]`.
fn expectation() -> impl Strategy<Value = String> {
    let metric = prop::sample::select(vec![
        "null_fraction(customer_id)",
        "count(*)",
        "drift_psi(amount)",
        "avg(amount) / 2",
        "approx_distinct(\"Mixed Col\")",
        "sum(CASE WHEN channel = 'web' THEN 1 ELSE 0 END)",
        "max(amount) - min(amount)",
    ]);
    let expect = prop_oneof![
        comparison(),
        (any::<bool>(), threshold(), threshold()).prop_map(|(not, a, b)| format!(
            "{}BETWEEN {a} AND {b}",
            if not { "NOT " } else { "" }
        )),
    ];
    let warn = prop_oneof![
        Just(String::new()),
        comparison().prop_map(|c| format!(" WARN WHEN {c}")),
        (threshold(), threshold()).prop_map(|(a, b)| format!(" WARN WHEN BETWEEN {a} AND {b}")),
    ];
    let plain = (metric, expect, warn).prop_map(|(m, e, w)| format!("EXPECT {m} {e}{w}"));
    // Interval thresholds: `freshness(ts) <= INTERVAL '6 hours' [WARN WHEN > INTERVAL '..']`.
    let interval = || {
        (
            1u64..100_000,
            prop::sample::select(vec!["seconds", "minutes", "hours", "days"]),
        )
            .prop_map(|(n, unit)| format!("INTERVAL '{n} {unit}'"))
    };
    let op = || prop::sample::select(vec!["<", "<=", ">", ">=", "=", "<>"]);
    let intervals =
        (op(), interval(), prop::option::of((op(), interval()))).prop_map(|(o, i, warn)| {
            let warn = warn
                .map(|(wo, wi)| format!(" WARN WHEN {wo} {wi}"))
                .unwrap_or_default();
            format!("EXPECT freshness(updated_at) {o} {i}{warn}")
        });
    // Live expectations over a trailing window.
    let live = (
        prop::sample::select(vec![
            "read_error_rate()",
            "latency_ratio()",
            "metric_change('conversion')",
        ]),
        comparison(),
        prop::option::of(interval()),
    )
        .prop_map(|(m, c, window)| {
            let window = window.map(|w| format!(" WINDOW {w}")).unwrap_or_default();
            format!("EXPECT {m} {c}{window}")
        });
    prop_oneof![3 => plain, 1 => intervals, 1 => live]
}

/// A column rule: `<column> [<type>] [NOT NULL] [UNIQUE] [CHECK (...)]...`, in any order.
fn column_rule() -> impl Strategy<Value = String> {
    let data_type = prop::sample::select(vec![
        "",
        " INT",
        " BIGINT",
        " DOUBLE",
        " VARCHAR",
        " DECIMAL(10,2)",
        " TIMESTAMP",
        " BOOLEAN",
        " varchar(20)",
    ]);
    let check = prop::sample::select(vec![
        " CHECK (amount >= 0)",
        " CHECK (channel IN ('web', 'store'))",
        " CHECK (length(\"Mixed Col\") < 10)",
        " CHECK (x IS NOT NULL OR y > 1.5)",
    ]);
    (
        name(),
        data_type,
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(check, 0..3),
        any::<u64>(),
    )
        .prop_map(|(column, data_type, not_null, unique, checks, seed)| {
            let mut clauses: Vec<String> = checks.into_iter().map(str::to_string).collect();
            if not_null {
                clauses.push(" NOT NULL".into());
            }
            if unique {
                clauses.push(" UNIQUE".into());
            }
            format!("{column}{data_type}{}", shuffled(clauses, seed))
        })
}

fn create_contract() -> impl Strategy<Value = String> {
    let items = prop::collection::vec(prop_oneof![column_rule(), expectation()], 1..5);
    (
        any::<bool>(),
        name(),
        name(),
        prop::option::of(lit()),
        items,
        any::<bool>(),
        reason(),
    )
        .prop_map(
            |(or_replace, contract, dataset, source, items, trailing_comma, reason)| {
                let body = match source {
                    Some(file) => format!("FROM {file}"),
                    None => format!(
                        "({}{})",
                        items.join(", "),
                        if trailing_comma { "," } else { "" }
                    ),
                };
                format!(
                    "CREATE {}CONTRACT {contract} FOR {dataset} {body}{reason}",
                    if or_replace { "OR REPLACE " } else { "" }
                )
            },
        )
}

fn promote() -> impl Strategy<Value = String> {
    // AT n PERCENT and IN STAGES (...) exclude each other; EVERY needs IN STAGES.
    // Stages weigh double and their pacing is one of three (none, EVERY, AUTO), so that each
    // of the four PROMOTE forms shows up dozens of times in a run, not a handful (the test
    // fails when a form is never generated).
    let exposure = prop_oneof![
        1 => Just(vec![]),
        1 => (percent(), any::<bool>())
            .prop_map(|(p, sign)| vec![format!(" AT {p}{}", if sign { "%" } else { " PERCENT" })]),
        2 => (
            prop::collection::btree_set(0u32..=10_000, 1..5),
            0u8..3,
            interval(),
            prop::option::of(1u32..100),
        )
            .prop_map(|(stages, pacing, interval, after)| {
                let (every, auto) = match pacing {
                    0 => (None, None),
                    1 => (Some(interval), None),
                    _ => (None, Some(after)),
                };
                let stages: Vec<String> = stages
                    .iter()
                    .map(|bp| format!("{}.{:02}", bp / 100, bp % 100))
                    .collect();
                let mut out = vec![format!(" IN STAGES ({})", stages.join(", "))];
                // AUTO needs an EVERY INTERVAL longer than zero.
                match (every, auto) {
                    (_, Some(after)) => {
                        let after = after
                            .map(|n| format!(" ROLLBACK AFTER {n} FAILURES"))
                            .unwrap_or_default();
                        out.push(format!(" EVERY INTERVAL '90 seconds' AUTO{after}"));
                    }
                    (every, None) => out.extend(every.map(|e| format!(" EVERY INTERVAL {e}"))),
                }
                out
            }),
    ];
    (
        name(),
        lit(),
        prop::collection::vec(name(), 0..3),
        exposure,
        any::<bool>(),
        prop::option::of(lit()),
        any::<u64>(),
    )
        .prop_map(
            |(dataset, version, cohorts, exposure, force, reason, seed)| {
                let mut clauses = exposure;
                if !cohorts.is_empty() {
                    clauses.push(format!(" FOR COHORT {}", cohorts.join(", ")));
                }
                // FORCE needs a REASON.
                let reason = if force {
                    reason.or(Some("''".into()))
                } else {
                    reason
                };
                if force {
                    clauses.push(" FORCE".into());
                }
                clauses.extend(reason.map(|r| format!(" REASON {r}")));
                format!("PROMOTE {dataset} TO {version}{}", shuffled(clauses, seed))
            },
        )
}

fn setting() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "rollout.consumer",
        "rollout.cohort",
        "ROLLOUT.CONSUMER",
        "rollout.Cohort",
    ]);
    let value = prop_oneof![
        lit(),
        Just("\"Double Quoted\"".to_string()),
        Just("alice".to_string()),
        Just("Job42".to_string()),
        Just("42".to_string()),
        Just("12.50".to_string()),
        Just("DEFAULT".to_string()),
    ];
    (key, 0u8..4, any::<bool>(), value).prop_map(|(key, verb, to, value)| match verb {
        0 => format!("SHOW {key}"),
        1 => format!("RESET {key}"),
        _ => format!("SET {key} {} {value}", if to { "TO" } else { "=" }),
    })
}

/// Statements of every form the parser accepts (every variant of [`Statement`], every
/// optional clause, clauses in any order), with arbitrary names and literals.
fn valid() -> impl Strategy<Value = String> {
    let forms: Vec<BoxedStrategy<String>> = vec![
        // CREATE DATASET
        (
            any::<bool>(),
            name(),
            prop::option::of(lit()),
            reason(),
            any::<u64>(),
        )
            .prop_map(|(ine, name, comment, reason, seed)| {
                let mut clauses = vec![reason];
                clauses.extend(comment.map(|c| format!(" COMMENT {c}")));
                format!(
                    "CREATE DATASET {}{name}{}",
                    if ine { "IF NOT EXISTS " } else { "" },
                    shuffled(clauses, seed)
                )
            })
            .boxed(),
        // REGISTER VERSION
        (
            lit(),
            name(),
            lit(),
            prop::option::of(prop::sample::select(vec![
                "PARQUET", "CSV", "JSON", "ndjson",
            ])),
            prop::option::of(lit()),
            reason(),
            any::<u64>(),
            prop::collection::vec(
                (
                    0..3u8,
                    name(),
                    name(),
                    prop::sample::select(vec!["BIGINT", "VARCHAR", "DECIMAL(10,2)", "date"]),
                ),
                0..4,
            ),
        )
            .prop_map(
                |(version, name, from, format, comment, reason, seed, changes)| {
                    let mut clauses = vec![reason];
                    clauses.extend(format.map(|f| format!(" FORMAT {f}")));
                    clauses.extend(comment.map(|c| format!(" COMMENT {c}")));
                    let changes: Vec<String> = changes
                        .into_iter()
                        .map(|(kind, a, b, t)| match kind {
                            0 => format!("RENAME COLUMN {a} TO {b}"),
                            1 => format!("DROP COLUMN {a}"),
                            _ => format!("ALTER COLUMN {a} TYPE {t}"),
                        })
                        .collect();
                    if !changes.is_empty() {
                        clauses.push(format!(" WITH MIGRATION ({})", changes.join(", ")));
                    }
                    format!(
                        "REGISTER VERSION {version} OF {name} FROM {from}{}",
                        shuffled(clauses, seed)
                    )
                },
            )
            .boxed(),
        // CREATE VERSION ... AS <query>
        (
            lit(),
            name(),
            prop::option::of(lit()),
            reason(),
            literal(),
            any::<u64>(),
            prop::option::of((name(), name())),
        )
            .prop_map(|(version, name, comment, reason, value, seed, rename)| {
                let mut clauses = vec![reason];
                clauses.extend(comment.map(|c| format!(" COMMENT {c}")));
                clauses.extend(
                    rename.map(|(a, b)| format!(" WITH MIGRATION (RENAME COLUMN {a} TO {b})")),
                );
                format!(
                    "CREATE VERSION {version} OF {name}{} AS SELECT {} AS x",
                    shuffled(clauses, seed),
                    // sqlparser prints a backslash or a run of quotes in a query's literal
                    // back so that it reads differently (its Display, not ours).
                    quote(&value.replace(['\\', '\''], ""))
                )
            })
            .boxed(),
        Just("SHOW DATASETS".to_string()).boxed(),
        name().prop_map(|n| format!("SHOW VERSIONS OF {n}")).boxed(),
        // CREATE COHORT
        (name(), prop::collection::vec(lit(), 0..4), reason())
            .prop_map(|(name, members, reason)| {
                format!(
                    "CREATE COHORT {name} MEMBERS ({}){reason}",
                    members.join(", ")
                )
            })
            .boxed(),
        // ALTER COHORT ... ADD|DROP MEMBERS, DROP COHORT
        (name(), 0..3u8, prop::collection::vec(lit(), 1..4), reason())
            .prop_map(|(name, kind, members, reason)| match kind {
                0 => format!(
                    "ALTER COHORT {name} ADD MEMBERS ({}){reason}",
                    members.join(", ")
                ),
                1 => format!(
                    "ALTER COHORT {name} DROP MEMBERS ({}){reason}",
                    members.join(", ")
                ),
                _ => format!("DROP COHORT {name}{reason}"),
            })
            .boxed(),
        Just("SHOW COHORTS".to_string()).boxed(),
        // EXPLAIN PROMOTE / ROLLBACK / ADVANCE
        (0..3u8, name(), lit(), reason())
            .prop_map(|(kind, name, v, reason)| match kind {
                0 => format!("EXPLAIN PROMOTE {name} TO {v} FOR COHORT canary{reason}"),
                1 => format!("EXPLAIN ROLLBACK {name}{reason}"),
                _ => format!("EXPLAIN ADVANCE {name}{reason}"),
            })
            .boxed(),
        // DROP VERSION
        (lit(), name(), reason())
            .prop_map(|(v, name, reason)| format!("DROP VERSION {v} OF {name}{reason}"))
            .boxed(),
        promote().boxed(),
        // ROLLBACK
        (name(), prop::option::of(lit()), any::<bool>(), reason())
            .prop_map(|(name, to, cascade, reason)| {
                let to = to.map(|v| format!(" TO {v}")).unwrap_or_default();
                let cascade = if cascade { " CASCADE" } else { "" };
                format!("ROLLBACK {name}{to}{cascade}{reason}")
            })
            .boxed(),
        // ALTER DATASET ... SET RETENTION
        (
            name(),
            prop::option::of(1..100u32),
            prop::option::of(prop::sample::select(vec!["1 hour", "30 days", "2 weeks"])),
            reason(),
        )
            .prop_map(|(name, keep, age, reason)| {
                let mut parts = Vec::new();
                if let Some(n) = keep {
                    parts.push(format!("KEEP {n} VERSIONS"));
                }
                if let Some(a) = age {
                    parts.push(format!("INTERVAL '{a}'"));
                }
                let retention = if parts.is_empty() {
                    "NONE".to_string()
                } else {
                    format!("({})", parts.join(", "))
                };
                format!("ALTER DATASET {name} SET RETENTION {retention}{reason}")
            })
            .boxed(),
        // ALTER DATASET ... FINISH MIGRATION
        (name(), reason())
            .prop_map(|(name, reason)| format!("ALTER DATASET {name} FINISH MIGRATION{reason}"))
            .boxed(),
        // PROMOTE a TO 'v', b TO 'w' [AT n PERCENT | IN STAGES (...)]
        (
            lit(),
            lit(),
            prop::option::of(percent()),
            any::<bool>(),
            reason(),
        )
            .prop_map(|(v, w, at, staged, reason)| {
                let at = match (at, staged) {
                    (_, true) => " IN STAGES (10, 50, 100) EVERY INTERVAL '1 hour'".to_string(),
                    (Some(p), false) => format!(" AT {p} PERCENT"),
                    (None, false) => String::new(),
                };
                format!("PROMOTE orders TO {v}, \"Order Items\" TO {w}{at}{reason}")
            })
            .boxed(),
        // ROLLBACK a, b
        (prop::collection::vec(name(), 2..4), any::<bool>(), reason())
            .prop_map(|(mut names, cascade, reason)| {
                // Each dataset once (`orders` and `Orders` are one name).
                let mut seen = Vec::new();
                names.retain(|n| {
                    let key = if n.starts_with('"') {
                        n.clone()
                    } else {
                        n.to_lowercase()
                    };
                    let fresh = !seen.contains(&key);
                    seen.push(key);
                    fresh
                });
                if names.len() < 2 {
                    names.push("\"another one\"".into());
                }
                let cascade = if cascade { " CASCADE" } else { "" };
                format!("ROLLBACK {}{cascade}{reason}", names.join(", "))
            })
            .boxed(),
        // SHOW LINEAGE
        (name(), prop::option::of(lit()))
            .prop_map(|(name, v)| match v {
                Some(v) => format!("SHOW LINEAGE OF {name} VERSION {v}"),
                None => format!("SHOW LINEAGE OF {name}"),
            })
            .boxed(),
        name().prop_map(|n| format!("SHOW ROLLOUT {n}")).boxed(),
        (
            prop::option::of(name()),
            prop::option::of(any::<u64>()),
            any::<bool>(),
        )
            .prop_map(|(of, limit, checks)| {
                let of = of.map(|n| format!(" OF {n}")).unwrap_or_default();
                let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
                let checks = if checks { " WITH CHECKS" } else { "" };
                format!("SHOW HISTORY{of}{limit}{checks}")
            })
            .boxed(),
        setting().boxed(),
        // ASSERT
        (
            prop::sample::select(vec![
                "(SELECT count(*) FROM orders) > 0",
                "1 = 1",
                "NOT EXISTS (SELECT 1 FROM orders WHERE amount < 0)",
            ]),
            prop::option::of(prop_oneof![
                lit(),
                Just("\"double\"".to_string()),
                Just("42".to_string())
            ]),
        )
            .prop_map(|(cond, msg)| {
                let msg = msg.map(|m| format!(" AS {m}")).unwrap_or_default();
                format!("ASSERT {cond}{msg}")
            })
            .boxed(),
        create_contract().boxed(),
        name().prop_map(|n| format!("SHOW CONTRACT {n}")).boxed(),
        // CHECK, CHECK ROLLOUT, CHECK ROLLOUTS, EXPLAIN CHECK ...
        (any::<bool>(), 0u8..3, name(), prop::option::of(lit()))
            .prop_map(|(explain, target, name, version)| {
                let target = match target {
                    0 => format!(
                        "{name}{}",
                        version.map(|v| format!(" VERSION {v}")).unwrap_or_default()
                    ),
                    1 => format!("ROLLOUT {name}"),
                    _ => "ROLLOUTS".to_string(),
                };
                format!("{}CHECK {target}", if explain { "EXPLAIN " } else { "" })
            })
            .boxed(),
        // ADVANCE [FORCE] [REASON]: FORCE needs a REASON.
        (
            name(),
            any::<bool>(),
            prop::option::of(lit()),
            any::<bool>(),
        )
            .prop_map(|(name, force, reason, force_last)| {
                let reason = reason.map(|r| format!(" REASON {r}"));
                match (force, reason) {
                    (true, Some(r)) if force_last => format!("ADVANCE {name}{r} FORCE"),
                    (true, r) => format!(
                        "ADVANCE {name} FORCE{}",
                        r.unwrap_or_else(|| " REASON 'why'".into())
                    ),
                    (false, r) => format!("ADVANCE {name}{}", r.unwrap_or_default()),
                }
            })
            .boxed(),
        // VACUUM [DRY RUN] [RETAIN '...'] [RETAIN EVENTS '...'] [REASON '...']
        (
            any::<bool>(),
            prop::option::of(retain()),
            prop::option::of(retain()),
            reason(),
            any::<u64>(),
        )
            .prop_map(|(dry, retain, events, reason, seed)| {
                let mut clauses = vec![reason];
                if dry {
                    clauses.push(" DRY RUN".into());
                }
                clauses.extend(retain.map(|r| format!(" RETAIN {r}")));
                clauses.extend(events.map(|r| format!(" RETAIN EVENTS {r}")));
                format!("VACUUM{}", shuffled(clauses, seed))
            })
            .boxed(),
        // VERIFY VERSION '...' OF ..., VERIFY ...
        (name(), prop::option::of(lit()))
            .prop_map(|(name, version)| match version {
                Some(v) => format!("VERIFY VERSION {v} OF {name}"),
                None => format!("VERIFY {name}"),
            })
            .boxed(),
        // REPORT METRIC name = value FOR d [CONSUMER '..'] [AT TIMESTAMP '..'], clauses in any order
        (
            name(),
            -1.0e6f64..1.0e6,
            name(),
            prop::option::of(lit()),
            prop::option::of(prop::sample::select(vec![
                "'2026-12-03T10:00:00Z'",
                "'2026-01-31 23:59:59.125'",
                "'2025-06-01T12:00:00+02:00'",
            ])),
            any::<bool>(),
        )
            .prop_map(|(metric, value, dataset, consumer, at, swap)| {
                let consumer = consumer
                    .map(|c| format!(" CONSUMER {c}"))
                    .unwrap_or_default();
                let at = at.map(|t| format!(" AT TIMESTAMP {t}")).unwrap_or_default();
                let (a, b) = if swap { (at, consumer) } else { (consumer, at) };
                format!("REPORT METRIC {metric} = {value} FOR {dataset}{a}{b}")
            })
            .boxed(),
        // CREATE NOTIFICATION n URL '..' [FOR d] [ON (..)] [REASON '..'], DROP, SHOW
        (
            name(),
            prop::sample::select(vec![
                "'http://127.0.0.1:9/hook'",
                "'https://hooks.example.com/x?token=abc'",
                "'http://user:pw@h/p'",
            ]),
            prop::option::of(name()),
            prop::option::of(prop::sample::subsequence(
                vec!["PROMOTE", "advance", "ROLLBACK", "GUARD_FAILED"],
                1..4,
            )),
            reason(),
            any::<bool>(),
        )
            .prop_map(|(n, url, dataset, on, reason, swap)| {
                let dataset = dataset.map(|d| format!(" FOR {d}")).unwrap_or_default();
                let on = on
                    .map(|k| format!(" ON ({})", k.join(", ")))
                    .unwrap_or_default();
                let (a, b) = if swap { (on, dataset) } else { (dataset, on) };
                format!("CREATE NOTIFICATION {n} URL {url}{a}{b}{reason}")
            })
            .boxed(),
        (name(), any::<bool>(), reason())
            .prop_map(|(n, if_exists, reason)| {
                let ie = if if_exists { "IF EXISTS " } else { "" };
                format!("DROP NOTIFICATION {ie}{n}{reason}")
            })
            .boxed(),
        Just("SHOW NOTIFICATIONS".to_string()).boxed(),
        // SHOW EXPOSURE OF d [VERSION '..']
        (name(), prop::option::of(lit()))
            .prop_map(|(name, version)| {
                let version = version.map(|v| format!(" VERSION {v}")).unwrap_or_default();
                format!("SHOW EXPOSURE OF {name}{version}")
            })
            .boxed(),
        // Principals and grants.
        (name(), prop::option::of(lit()), reason())
            .prop_map(|(n, pw, reason)| {
                let pw = pw.map(|p| format!(" PASSWORD {p}")).unwrap_or_default();
                format!("CREATE USER {n}{pw}{reason}")
            })
            .boxed(),
        (name(), lit())
            .prop_map(|(n, pw)| format!("ALTER USER {n} PASSWORD {pw}"))
            .boxed(),
        (name(), any::<bool>(), reason())
            .prop_map(|(n, if_exists, reason)| {
                let ie = if if_exists { "IF EXISTS " } else { "" };
                format!("DROP USER {ie}{n}{reason}")
            })
            .boxed(),
        (name(), any::<bool>(), any::<bool>(), reason())
            .prop_map(|(n, drop, if_exists, reason)| {
                if drop {
                    let ie = if if_exists { "IF EXISTS " } else { "" };
                    format!("DROP ROLE {ie}{n}{reason}")
                } else {
                    format!("CREATE ROLE {n}{reason}")
                }
            })
            .boxed(),
        (
            name(),
            prop::option::of(prop::sample::select(vec![
                "30 days",
                "1 hour",
                "90 minutes",
            ])),
            reason(),
        )
            .prop_map(|(n, expires, reason)| {
                let e = expires
                    .map(|e| format!(" EXPIRES IN INTERVAL '{e}'"))
                    .unwrap_or_default();
                format!("CREATE TOKEN FOR {n}{e}{reason}")
            })
            .boxed(),
        (lit(), reason())
            .prop_map(|(id, reason)| format!("DROP TOKEN {id}{reason}"))
            .boxed(),
        prop::option::of(name())
            .prop_map(|u| match u {
                Some(u) => format!("SHOW TOKENS FOR {u}"),
                None => "SHOW USERS".to_string(),
            })
            .boxed(),
        (
            any::<bool>(),
            prop::sample::subsequence(
                vec![
                    "READ",
                    "register",
                    "PROMOTE",
                    "ROLLBACK",
                    "FORCE",
                    "CONTRACT",
                    "ADMIN",
                    "IMPERSONATE",
                ],
                1..4,
            ),
            prop::option::of(name()),
            prop::option::of(name()),
            name(),
            reason(),
        )
            .prop_map(|(revoke, privileges, dataset, role, grantee, reason)| {
                let (verb, to) = if revoke {
                    ("REVOKE", "FROM")
                } else {
                    ("GRANT", "TO")
                };
                let scope = dataset
                    .map(|d| format!("DATASET {d}"))
                    .unwrap_or_else(|| "ALL DATASETS".into());
                let grantee = role.map(|r| format!("ROLE {r}")).unwrap_or(grantee);
                format!(
                    "{verb} {} ON {scope} {to} {grantee}{reason}",
                    privileges.join(", ")
                )
            })
            .boxed(),
        (any::<bool>(), name(), name(), reason())
            .prop_map(|(revoke, role, user, reason)| {
                let (verb, to) = if revoke {
                    ("REVOKE", "FROM")
                } else {
                    ("GRANT", "TO")
                };
                format!("{verb} ROLE {role} {to} {user}{reason}")
            })
            .boxed(),
        prop::option::of(name())
            .prop_map(|u| match u {
                Some(u) => format!("SHOW GRANTS FOR {u}"),
                None => "SHOW GRANTS".to_string(),
            })
            .boxed(),
        // The two-person rule.
        (
            name(),
            1u32..4,
            prop::option::of(prop::sample::subsequence(vec!["PROMOTE", "force"], 1..3)),
            reason(),
        )
            .prop_map(|(n, k, ops, reason)| {
                let ops = ops
                    .map(|o| format!(" FOR ({})", o.join(", ")))
                    .unwrap_or_default();
                format!("ALTER DATASET {n} SET APPROVALS {k}{ops}{reason}")
            })
            .boxed(),
        (name(), lit(), any::<bool>(), reason(), lit())
            .prop_map(|(n, v, advance, reason, why)| {
                if advance {
                    format!("APPROVE ADVANCE {n} FORCE REASON {why}")
                } else {
                    format!("APPROVE PROMOTE {n} TO {v}{reason}")
                }
            })
            .boxed(),
        prop::option::of(name())
            .prop_map(|d| match d {
                Some(d) => format!("SHOW PENDING OF {d}"),
                None => "SHOW PENDING".to_string(),
            })
            .boxed(),
        // DataFusion's own statements, with a pinned read (rewritten by our parser).
        (any::<bool>(), name(), literal())
            .prop_map(|(explain, name, version)| {
                format!(
                    "{}SELECT * FROM {name} VERSION AS OF {} WHERE amount > 1",
                    if explain { "EXPLAIN " } else { "" },
                    // The version becomes part of a quoted table name, which sqlparser prints
                    // back without escaping a backslash (version ids have neither).
                    quote(&version.replace(['\\', '"'], ""))
                )
            })
            .boxed(),
    ];
    prop::strategy::Union::new(forms)
}

/// Which form a statement is: every variant of [`Statement`], and the variants within them.
/// The match has no catch-all, so a new statement does not compile here until it is named
/// (and then the generator must produce it: see the coverage check).
fn form(s: &Statement) -> &'static str {
    match s {
        Statement::DataFusion(_) => "DataFusion",
        Statement::CreateDataset(_) => "CREATE DATASET",
        Statement::RegisterVersion(r) if !r.migration.is_empty() => {
            "REGISTER VERSION WITH MIGRATION"
        }
        Statement::CreateVersion(c) if !c.migration.is_empty() => "CREATE VERSION WITH MIGRATION",
        Statement::RegisterVersion(_) => "REGISTER VERSION",
        Statement::CreateVersion(_) => "CREATE VERSION",
        Statement::ShowDatasets(_) => "SHOW DATASETS",
        Statement::ShowVersions(_) => "SHOW VERSIONS",
        Statement::CreateCohort(_) => "CREATE COHORT",
        Statement::AlterCohort(a) => match a.change {
            CohortChange::AddMembers(_) => "ALTER COHORT ADD MEMBERS",
            CohortChange::DropMembers(_) => "ALTER COHORT DROP MEMBERS",
            CohortChange::Drop => "DROP COHORT",
        },
        Statement::ShowCohorts(_) => "SHOW COHORTS",
        Statement::DropVersion(_) => "DROP VERSION",
        Statement::ExplainChange(e) => match e.statement.as_ref() {
            Statement::Promote(_) => "EXPLAIN PROMOTE",
            Statement::Rollback(_) => "EXPLAIN ROLLBACK",
            _ => "EXPLAIN ADVANCE",
        },
        Statement::Promote(p) if !p.more.is_empty() => "PROMOTE a, b",
        Statement::Promote(p) if p.auto.is_some_and(|a| a.rollback_after > 1) => {
            "PROMOTE IN STAGES EVERY AUTO ROLLBACK AFTER"
        }
        Statement::Promote(p) if p.auto.is_some() => "PROMOTE IN STAGES EVERY AUTO",
        Statement::Promote(p) if !p.stages.is_empty() && p.every.is_some() => {
            "PROMOTE IN STAGES EVERY"
        }
        Statement::Promote(p) if !p.stages.is_empty() => "PROMOTE IN STAGES",
        Statement::Promote(p) if p.percent_bp.is_some() => "PROMOTE AT PERCENT",
        Statement::Promote(_) => "PROMOTE",
        Statement::Rollback(r) if !r.more.is_empty() => "ROLLBACK a, b",
        Statement::Rollback(r) if r.cascade => "ROLLBACK CASCADE",
        Statement::Rollback(_) => "ROLLBACK",
        Statement::ShowLineage(_) => "SHOW LINEAGE",
        Statement::SetRetention(_) => "ALTER DATASET SET RETENTION",
        Statement::FinishMigration(_) => "ALTER DATASET FINISH MIGRATION",
        Statement::ShowRollout(_) => "SHOW ROLLOUT",
        Statement::ShowHistory(h) if h.with_checks => "SHOW HISTORY WITH CHECKS",
        Statement::ShowHistory(_) => "SHOW HISTORY",
        Statement::Setting(s) => match s.action {
            SettingAction::Set(_) => "SET rollout",
            SettingAction::Show => "SHOW rollout",
            SettingAction::Reset => "RESET rollout",
        },
        Statement::Assert(_) => "ASSERT",
        Statement::CreateContract(c) if c.source.is_some() => "CREATE CONTRACT FROM",
        Statement::CreateContract(c) if c.expectations.iter().any(|e| e.warn_when.is_some()) => {
            "CREATE CONTRACT with WARN WHEN"
        }
        Statement::CreateContract(_) => "CREATE CONTRACT",
        Statement::ShowContract(_) => "SHOW CONTRACT",
        Statement::Check(c) if c.explain => "EXPLAIN CHECK",
        Statement::Check(c) => match c.target {
            CheckTarget::Version { .. } => "CHECK",
            CheckTarget::Rollout { .. } => "CHECK ROLLOUT",
            CheckTarget::Rollouts => "CHECK ROLLOUTS",
        },
        Statement::Advance(a) if a.force => "ADVANCE FORCE",
        Statement::Advance(_) => "ADVANCE",
        Statement::Vacuum(_) => "VACUUM",
        Statement::VerifyVersion(v) if v.version.is_some() => "VERIFY VERSION",
        Statement::VerifyVersion(_) => "VERIFY",
        Statement::ReportMetric(_) => "REPORT METRIC",
        Statement::ShowExposure(_) => "SHOW EXPOSURE",
        Statement::CreateNotification(_) => "CREATE NOTIFICATION",
        Statement::DropNotification(_) => "DROP NOTIFICATION",
        Statement::ShowNotifications(_) => "SHOW NOTIFICATIONS",
        Statement::CreateUser(u) if u.password.is_some() => "CREATE USER PASSWORD",
        Statement::CreateUser(_) => "CREATE USER",
        Statement::AlterUser(_) => "ALTER USER",
        Statement::DropUser(_) => "DROP USER",
        Statement::Role(r) if r.drop => "DROP ROLE",
        Statement::Role(_) => "CREATE ROLE",
        Statement::CreateToken(_) => "CREATE TOKEN",
        Statement::DropToken(_) => "DROP TOKEN",
        Statement::ShowPrincipals(ShowPrincipals::Users) => "SHOW USERS",
        Statement::ShowPrincipals(ShowPrincipals::Tokens { .. }) => "SHOW TOKENS",
        Statement::ChangeGrants(g) => match (&g.granted, g.revoke) {
            (Granted::Role(_), false) => "GRANT ROLE",
            (Granted::Role(_), true) => "REVOKE ROLE",
            (Granted::Privileges { .. }, false) => "GRANT",
            (Granted::Privileges { .. }, true) => "REVOKE",
        },
        Statement::ShowGrants(_) => "SHOW GRANTS",
        Statement::SetApprovals(_) => "ALTER DATASET SET APPROVALS",
        Statement::Approve(_) => "APPROVE",
        Statement::ShowPending(_) => "SHOW PENDING",
    }
}

const FORMS: &[&str] = &[
    "DataFusion",
    "CREATE USER PASSWORD",
    "CREATE USER",
    "ALTER USER",
    "DROP USER",
    "DROP ROLE",
    "CREATE ROLE",
    "CREATE TOKEN",
    "DROP TOKEN",
    "SHOW USERS",
    "SHOW TOKENS",
    "GRANT ROLE",
    "REVOKE ROLE",
    "GRANT",
    "REVOKE",
    "SHOW GRANTS",
    "ALTER DATASET SET APPROVALS",
    "APPROVE",
    "SHOW PENDING",
    "REPORT METRIC",
    "SHOW EXPOSURE",
    "CREATE NOTIFICATION",
    "DROP NOTIFICATION",
    "SHOW NOTIFICATIONS",
    "CREATE DATASET",
    "REGISTER VERSION",
    "CREATE VERSION",
    "SHOW DATASETS",
    "SHOW VERSIONS",
    "CREATE COHORT",
    "ALTER COHORT ADD MEMBERS",
    "ALTER COHORT DROP MEMBERS",
    "DROP COHORT",
    "SHOW COHORTS",
    "EXPLAIN PROMOTE",
    "EXPLAIN ROLLBACK",
    "EXPLAIN ADVANCE",
    "DROP VERSION",
    "PROMOTE",
    "PROMOTE AT PERCENT",
    "PROMOTE IN STAGES",
    "PROMOTE IN STAGES EVERY",
    "PROMOTE IN STAGES EVERY AUTO",
    "PROMOTE IN STAGES EVERY AUTO ROLLBACK AFTER",
    "ROLLBACK",
    "ROLLBACK CASCADE",
    "ROLLBACK a, b",
    "PROMOTE a, b",
    "SHOW LINEAGE",
    "ALTER DATASET SET RETENTION",
    "ALTER DATASET FINISH MIGRATION",
    "REGISTER VERSION WITH MIGRATION",
    "CREATE VERSION WITH MIGRATION",
    "SHOW ROLLOUT",
    "SHOW HISTORY",
    "SHOW HISTORY WITH CHECKS",
    "SET rollout",
    "SHOW rollout",
    "RESET rollout",
    "ASSERT",
    "CREATE CONTRACT",
    "CREATE CONTRACT with WARN WHEN",
    "CREATE CONTRACT FROM",
    "SHOW CONTRACT",
    "CHECK",
    "CHECK ROLLOUT",
    "CHECK ROLLOUTS",
    "EXPLAIN CHECK",
    "ADVANCE",
    "ADVANCE FORCE",
    "VACUUM",
    "VERIFY VERSION",
    "VERIFY",
];

#[test]
fn the_parser_never_panics_and_canonical_sql_round_trips() {
    let errors = Cell::new(0usize);
    let parsed = Cell::new(0usize);
    let hostile = prop_oneof![mutated(), soup()];
    runner(2000)
        .run(&hostile, |sql| {
            // Only errors, and they say something.
            match parse_sql(&sql) {
                Ok(statements) => {
                    parsed.set(parsed.get() + 1);
                    // Whatever of ours parsed prints as SQL that parses again (DataFusion's
                    // own statements print as sqlparser prints them: `RESET ''` as `RESET `).
                    for s in statements
                        .iter()
                        .filter(|s| !matches!(s, Statement::DataFusion(_)))
                    {
                        let text = s.to_string();
                        prop_assert!(parse_sql(&text).is_ok(), "{sql:?} printed as {text:?}");
                    }
                }
                Err(e) => {
                    errors.set(errors.get() + 1);
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Ok(())
        })
        .unwrap();
    let round_trips = Cell::new(0usize);
    let seen: RefCell<BTreeMap<&'static str, usize>> = RefCell::default();
    // Enough cases that the rarest form (about 1 in 500) is never missing by chance: the
    // coverage check below fails the test when one is (3,000 cases missed one in ~30 runs).
    runner(12_000)
        .run(&valid(), |sql: String| {
            let first =
                parse_statement(&sql).map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
            let text = first.to_string();
            let second = parse_statement(&text)
                .map_err(|e| TestCaseError::fail(format!("{sql} -> {text}: {e}")))?;
            // parse(display(s)) == s. A query's AST carries source positions, which a reprint
            // moves: compare statements holding one by their canonical text only.
            // Secrets print redacted, so a statement holding one compares by its text too.
            if !matches!(
                first,
                Statement::CreateVersion(_)
                    | Statement::DataFusion(_)
                    | Statement::AlterUser(_)
                    | Statement::CreateUser(CreateUser {
                        password: Some(_),
                        ..
                    })
            ) {
                prop_assert_eq!(&first, &second, "{} -> {}", sql, text);
            }
            prop_assert_eq!(form(&second), form(&first), "{} -> {}", sql, text);
            prop_assert_eq!(second.to_string(), text);
            *seen.borrow_mut().entry(form(&first)).or_default() += 1;
            round_trips.set(round_trips.get() + 1);
            Ok(())
        })
        .unwrap();
    let seen = seen.into_inner();
    let missing: Vec<&&str> = FORMS.iter().filter(|f| !seen.contains_key(**f)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
    println!(
        "hostile: parser ran on {} hostile inputs ({} parsed, {} refused), {} canonical round \
         trips over {} forms: {seen:?}",
        parsed.get() + errors.get(),
        parsed.get(),
        errors.get(),
        round_trips.get(),
        seen.len()
    );
}

static STORES: AtomicUsize = AtomicUsize::new(0);

/// The entries of a small real history (bytes as written), from a `memory://` store.
async fn real_entries() -> Vec<Vec<u8>> {
    let name = format!("memory://fuzz-seed-{}", std::process::id());
    let rc = open(&name, 0, "seed").await;
    for sql in [
        "CREATE DATASET orders",
        "CREATE COHORT canary MEMBERS ('alice')",
        "CREATE VERSION 'v1' OF orders AS SELECT 1 AS id",
        "PROMOTE orders TO 'v1' REASON 'first'",
    ] {
        run(&rc, sql).await;
    }
    let store = rc.store().object_store();
    let mut out = Vec::new();
    for seq in 1..=4u64 {
        let path = ObjectPath::from(format!("_rollout_log/{seq:020}.json"));
        out.push(
            store
                .get(&path)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec(),
        );
    }
    out
}

/// Bytes derived from a valid entry: flipped, cut, spliced, or random.
fn mutated_bytes(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (prop::collection::vec((0u8..4, any::<u32>(), any::<u8>()), 1..6)).prop_map(move |edits| {
            let mut b = valid.clone();
            for (kind, at, byte) in edits {
                let at = at as usize % (b.len() + 1);
                match kind {
                    0 => b.truncate(at),
                    1 if at < b.len() => b[at] ^= byte | 1,
                    2 => b.insert(at, byte),
                    _ => {
                        let end = (at + 1 + byte as usize).min(b.len());
                        b.drain(at.min(end)..end);
                    }
                }
            }
            b
        }),
    ]
}

#[test]
fn a_mutated_log_entry_never_panics_and_stops_the_store_before_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let entries = rt.block_on(real_entries());
    let outcomes: RefCell<BTreeMap<&str, usize>> = RefCell::new(BTreeMap::new());
    let last = entries[3].clone();
    runner(256)
        .run(&mutated_bytes(last), |bytes| {
            let name = format!(
                "memory://fuzz-{}-{}",
                std::process::id(),
                STORES.fetch_add(1, Ordering::Relaxed)
            );
            let url = resolve_location(&name, false).unwrap();
            let os = object_store_for(&url).unwrap();
            let outcome = rt.block_on(async {
                for (i, e) in entries[..3].iter().enumerate() {
                    let path = ObjectPath::from(format!("_rollout_log/{:020}.json", i + 1));
                    os.put(&path, e.clone().into()).await.unwrap();
                }
                let path = ObjectPath::from(format!("_rollout_log/{:020}.json", 4));
                os.put(&path, bytes.clone().into()).await.unwrap();
                Store::open(&name, StoreOptions::default()).await
            });
            let store = outcome.map_err(|e| TestCaseError::fail(format!("open failed: {e}")))?;
            match store.read_only_reason() {
                Some(reason) => {
                    prop_assert_eq!(store.state().sequence, 3);
                    prop_assert!(reason.contains("00000000000000000004.json"), "{}", reason);
                    *outcomes
                        .borrow_mut()
                        .entry("refused, read-only at 3")
                        .or_default() += 1;
                }
                None => {
                    // Still a valid entry (a mutation inside a string, say): it applied.
                    prop_assert_eq!(store.state().sequence, 4);
                    *outcomes
                        .borrow_mut()
                        .entry("still valid, applied")
                        .or_default() += 1;
                }
            }
            Ok(())
        })
        .unwrap();
    let outcomes = outcomes.into_inner();
    println!(
        "hostile: log decoding ran on {} mutated entries: {outcomes:?}",
        outcomes.values().sum::<usize>()
    );
}

/// A store with `n` commits and checkpoints every 2, its folder.
async fn store_with_commits(fx: &Fixture, n: usize, prefix: &str) -> RolloutContextAndDir {
    let rc = open(&fx.store(), 2, "test").await;
    run(&rc, "CREATE DATASET orders").await;
    for i in 1..n {
        run(
            &rc,
            &format!("CREATE COHORT {prefix}{i} MEMBERS ('{prefix}-member-{i}')"),
        )
        .await;
    }
    RolloutContextAndDir(fx.path("store"))
}

struct RolloutContextAndDir(std::path::PathBuf);

fn entry(dir: &Path, seq: u64) -> std::path::PathBuf {
    dir.join(format!("_rollout_log/{seq:020}.json"))
}

async fn reopen(dir: &Path) -> datafusion_rollout::RolloutContext {
    open(&dir.display().to_string(), 2, "test").await
}

#[tokio::test]
async fn broken_log_files_are_named_and_the_store_stops_before_them() {
    let fx = Fixture::new().await;
    let RolloutContextAndDir(dir) = store_with_commits(&fx, 5, "c").await;
    let good = std::fs::read(entry(&dir, 5)).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "does not parse",
        ),
        ("empty", vec![], "is empty"),
        ("not JSON", b"\xff\xfe garbage".to_vec(), "does not parse"),
        (
            "out of order",
            text.replace("\"sequence\": 5", "\"sequence\": 6")
                .into_bytes(),
            "file name says sequence 5 but the entry says 6",
        ),
        (
            "newer format",
            text.replace("\"format\": 1", "\"format\": 99").into_bytes(),
            "newer datafusion-rollout",
        ),
        (
            "does not apply",
            text.replace("\"c4\"", "\"c1\"").into_bytes(),
            "does not apply: cohort 'c1' created twice",
        ),
    ];
    for (what, bytes, expected) in cases {
        std::fs::write(entry(&dir, 5), &bytes).unwrap();
        // Without checkpoints, and with the checkpoint at 4 (read after it).
        for hint in [false, true] {
            let hint_file = dir.join("_rollout_log/_last_checkpoint");
            let saved = std::fs::read(&hint_file).ok();
            if !hint {
                let _ = std::fs::remove_file(&hint_file);
            }
            let rc = reopen(&dir).await;
            let reason = rc
                .store()
                .read_only_reason()
                .unwrap_or_else(|| panic!("{what}: not read-only"));
            assert!(
                reason.contains("00000000000000000005.json"),
                "{what}: {reason}"
            );
            assert!(reason.contains(expected), "{what}: {reason}");
            assert_eq!(rc.store().state().sequence, 4, "{what}");
            let err = try_run(&rc, "CREATE COHORT z MEMBERS ()")
                .await
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("read-only") && err.contains(expected),
                "{what}: {err}"
            );
            assert!(!entry(&dir, 6).exists(), "{what}: nothing written past it");
            if let Some(saved) = saved {
                std::fs::write(&hint_file, saved).unwrap();
            }
        }
    }
    std::fs::write(entry(&dir, 5), &good).unwrap();

    // Files that are not entries are ignored.
    for name in [
        "foo.json",
        "5.json",
        "00000000000000000005.json.tmp",
        "0000000000000000000x.json",
    ] {
        std::fs::write(dir.join("_rollout_log").join(name), b"junk").unwrap();
    }
    let rc = reopen(&dir).await;
    assert_eq!(rc.store().read_only_reason(), None);
    assert_eq!(rc.store().state().sequence, 5);

    // A gap: entry 3 missing, 4 and 5 there. Stops at 2, names the gap.
    let third = std::fs::read(entry(&dir, 3)).unwrap();
    std::fs::remove_file(entry(&dir, 3)).unwrap();
    for e in std::fs::read_dir(dir.join("_rollout_log")).unwrap() {
        let p = e.unwrap().path();
        if p.display().to_string().contains("checkpoint") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let rc = reopen(&dir).await;
    let reason = rc.store().read_only_reason().unwrap();
    assert!(reason.contains("entry 3 is missing before it"), "{reason}");
    assert_eq!(rc.store().state().sequence, 2);
    std::fs::write(entry(&dir, 3), third).unwrap();
    assert_eq!(reopen(&dir).await.store().state().sequence, 5);
}

fn checkpoint_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("_rollout_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.display().to_string().ends_with(".checkpoint.json"))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_checkpoint_that_disagrees_with_its_log_is_ignored() {
    // Two stores with the same number of commits but different cohorts.
    let (fa, fb) = (Fixture::new().await, Fixture::new().await);
    let RolloutContextAndDir(a) = store_with_commits(&fa, 5, "a").await;
    let RolloutContextAndDir(b) = store_with_commits(&fb, 5, "b").await;
    let truth = replayed_state(&a).await;
    let cp = checkpoint_files(&a).pop().unwrap();
    assert!(
        cp.display()
            .to_string()
            .ends_with("00000000000000000004.checkpoint.json")
    );
    let original = std::fs::read(&cp).unwrap();
    let check = |what: &'static str| {
        let a = a.clone();
        let truth = truth.clone();
        async move {
            let rc = reopen(&a).await;
            assert_eq!(rc.store().read_only_reason(), None, "{what}");
            let state = serde_json::to_string(rc.store().state().as_ref()).unwrap();
            assert_eq!(state, truth, "{what}: the log is the truth");
        }
    };
    check("untouched").await;

    // Its content edited (a member renamed): the hash no longer matches.
    let edited = String::from_utf8(original.clone())
        .unwrap()
        .replace("a-member-3", "intruder");
    assert_ne!(edited.as_bytes(), original.as_slice());
    std::fs::write(&cp, edited).unwrap();
    check("edited").await;

    // Another store's checkpoint at the same sequence (consistent in itself): its entry 4 has
    // another transaction id.
    std::fs::copy(checkpoint_files(&b).pop().unwrap(), &cp).unwrap();
    check("from another log").await;

    // The pre-hash format (a bare state): ignored, replayed.
    let state: serde_json::Value = serde_json::from_str(&truth).unwrap();
    let mut at4 = state.clone();
    at4["sequence"] = 4.into();
    std::fs::write(&cp, serde_json::to_vec(&at4).unwrap()).unwrap();
    check("old format").await;

    // The log cut short under its checkpoint (entries 3 to 5 gone): the checkpoint's entry is
    // missing, so the store is what the log says (2 commits), not what the checkpoint says.
    std::fs::write(&cp, &original).unwrap();
    for seq in 3..=5 {
        std::fs::remove_file(entry(&a, seq)).unwrap();
    }
    let rc = reopen(&a).await;
    assert_eq!(rc.store().state().sequence, 2);
    assert_eq!(
        serde_json::to_string(rc.store().state().as_ref()).unwrap(),
        replayed_state(&a).await
    );
}

/// Every file and folder under `dir`, with sizes.
fn tree(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = e.metadata().unwrap();
            out.insert(
                e.path().display().to_string(),
                if meta.is_dir() { 0 } else { meta.len() },
            );
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

#[tokio::test]
async fn hostile_names_get_clear_errors_and_nothing_is_written_outside_the_store() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let v2 = fx.path("orders_v2").display().to_string();
    let root = fx.dir.path().to_path_buf();
    let parent = root.parent().unwrap().to_path_buf();
    let before = tree(&root);
    let seq = rc.store().state().sequence;
    let long = "x".repeat(10_000);
    let statements = vec![
        (
            "CREATE DATASET \"../evil\"".to_string(),
            "invalid dataset name",
        ),
        ("CREATE DATASET \"a/b\"".into(), "invalid dataset name"),
        ("CREATE DATASET \"a\u{0}b\"".into(), "invalid dataset name"),
        (
            format!("CREATE DATASET \"{long}\""),
            "longer than 128 bytes",
        ),
        ("CREATE DATASET \"évil\"".into(), "invalid dataset name"),
        (
            "CREATE VERSION '../../evil' OF orders AS SELECT 1 AS order_id".into(),
            "invalid version id",
        ),
        (
            "CREATE VERSION '..' OF orders AS SELECT 1 AS order_id".into(),
            "invalid version id",
        ),
        (
            "CREATE VERSION 'a/b' OF orders AS SELECT 1 AS order_id".into(),
            "invalid version id",
        ),
        (
            "CREATE VERSION 'a\u{0}b' OF orders AS SELECT 1 AS order_id".into(),
            "invalid version id",
        ),
        (
            "CREATE VERSION 'a\\b' OF orders AS SELECT 1 AS order_id".into(),
            "invalid version id",
        ),
        (
            format!("CREATE VERSION '{long}' OF orders AS SELECT 1 AS order_id"),
            "longer than 128 bytes",
        ),
        (
            "CREATE VERSION 'ok' OF \"../evil\" AS SELECT 1 AS order_id".into(),
            "invalid dataset name",
        ),
        (
            format!("REGISTER VERSION '../evil' OF orders FROM '{v2}/'"),
            "invalid version id",
        ),
        (
            format!("REGISTER VERSION 'ok' OF \"../../evil\" FROM '{v2}/'"),
            "invalid dataset name",
        ),
        (
            "REGISTER VERSION 'ok' OF orders FROM '/tmp/a\u{0}b/'".into(),
            "NUL",
        ),
        (
            "REGISTER VERSION 'ok' OF orders FROM ''".into(),
            "it is empty",
        ),
        (
            "CREATE COHORT \"../evil\" MEMBERS ('a')".into(),
            "invalid cohort name",
        ),
        (
            "CREATE COHORT ok MEMBERS ('')".into(),
            "invalid consumer id",
        ),
        (
            "PROMOTE \"../evil\" TO 'v1'".into(),
            "unknown dataset '../evil'",
        ),
        (
            "PROMOTE orders TO '../../v1'".into(),
            "has no version '../../v1'",
        ),
        (
            "ROLLBACK orders TO '/etc/passwd'".into(),
            "has no version '/etc/passwd'",
        ),
        (
            "VERIFY VERSION '../../etc' OF orders".into(),
            "has no version",
        ),
        (
            "SELECT * FROM orders VERSION AS OF '../v1'".into(),
            "has no version '../v1'",
        ),
    ];
    for (sql, expected) in &statements {
        let err = try_run(&rc, sql).await.map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(expected), "{sql:.80}: {err:.300}");
        assert!(
            err.len() < 2_000 || err.contains(&long),
            "short message: {sql:.80}"
        );
    }
    assert_eq!(rc.store().state().sequence, seq, "nothing committed");
    assert_eq!(tree(&root), before, "nothing written anywhere");
    assert!(!parent.join("evil").exists() && !root.join("evil").exists());

    // A data folder with a file whose name is not UTF-8: a clear outcome, no panic.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let weird = fx.path("weird");
        std::fs::create_dir_all(&weird).unwrap();
        std::fs::copy(
            fx.path("orders_v2/part-0.parquet"),
            weird.join("part-0.parquet"),
        )
        .unwrap();
        let name = std::ffi::OsStr::from_bytes(b"part-\xff\xfe.parquet");
        std::fs::copy(fx.path("orders_v2/part-1.parquet"), weird.join(name)).unwrap();
        let result = try_run(
            &rc,
            &format!(
                "REGISTER VERSION 'weird' OF orders FROM '{}/'",
                weird.display()
            ),
        )
        .await;
        match result {
            Ok(out) => assert!(out.contains("registered version 'weird'"), "{out}"),
            Err(e) => {
                let e = e.to_string();
                println!("hostile: non-UTF-8 file name: {e}");
                assert!(
                    e.contains("weird") || e.contains("UTF-8") || e.contains("utf"),
                    "{e}"
                );
            }
        }
        println!(
            "hostile: non-UTF-8 file name in a registered folder: {:?}",
            rc.store().state().datasets["orders"]
                .version("weird")
                .map(|v| v.files.len())
        );
    }
}
