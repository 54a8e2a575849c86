//! Tab completion from what the session knows: keywords (ours and SQL's), datasets, versions,
//! cohorts, tables, columns, functions and meta commands.
//!
//! The names are gathered before each prompt ([`Names::gather`]), because rustyline asks for
//! completions synchronously while the catalog is read asynchronously.

use std::collections::BTreeMap;

use datafusion_rollout::RolloutContext;
use rustyline::completion::Pair;

use crate::meta::COMMANDS;
use crate::meta::quote_ident;
use crate::remote::Remote;

/// Datasets whose versions completion asks a server for, before each prompt.
const MAX_REMOTE_DATASETS: usize = 64;

/// Keywords of our statements.
pub const ROLLOUT_KEYWORDS: &[&str] = &[
    "ADD",
    "ADVANCE",
    "AT",
    "CHECK",
    "CHECKS",
    "COHORT",
    "COHORTS",
    "CONTRACT",
    "DATASET",
    "DATASETS",
    "EVERY",
    "EXPECT",
    "FORCE",
    "HISTORY",
    "MEMBERS",
    "OF",
    "PERCENT",
    "PROMOTE",
    "REASON",
    "REGISTER",
    "ROLLBACK",
    "ROLLOUT",
    "ROLLOUTS",
    "STAGES",
    "VERSION",
    "VERSIONS",
    "WARN",
    "CASCADE",
    "LINEAGE",
    "RETENTION",
    "KEEP",
    "MIGRATION",
    "FINISH",
    "RENAME",
    "COLUMN",
];

/// SQL keywords worth completing (sqlparser's full list has hundreds of rarely typed ones).
const SQL_KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "ANALYZE",
    "AND",
    "AS",
    "ASC",
    "ASSERT",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "COLUMNS",
    "COMMENT",
    "COPY",
    "CREATE",
    "CROSS",
    "DESC",
    "DESCRIBE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "EXPLAIN",
    "EXTERNAL",
    "FALSE",
    "FILTER",
    "FIRST",
    "FOR",
    "FORMAT",
    "FROM",
    "FULL",
    "FUNCTIONS",
    "GROUP",
    "HAVING",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INTERSECT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOIN",
    "LAST",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LOCATION",
    "NOT",
    "NULL",
    "NULLS",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARQUET",
    "PARTITION",
    "QUALIFY",
    "REPLACE",
    "RESET",
    "RIGHT",
    "SELECT",
    "SET",
    "SHOW",
    "STORED",
    "TABLE",
    "TABLES",
    "THEN",
    "TO",
    "TRUE",
    "UNION",
    "UNIQUE",
    "USING",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];

/// Everything completion can offer, gathered before a prompt.
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub datasets: Vec<String>,
    pub versions: BTreeMap<String, Vec<String>>,
    pub cohorts: Vec<String>,
    pub tables: Vec<String>,
    pub columns: Vec<String>,
    pub functions: Vec<String>,
}

impl Names {
    /// Reads the store's catalog and the session's tables, columns and functions.
    pub async fn gather(ctx: &RolloutContext) -> Names {
        let state = ctx.store().state();
        let mut names = Names {
            datasets: state.datasets.keys().cloned().collect(),
            cohorts: state.cohorts.keys().cloned().collect(),
            ..Names::default()
        };
        for (name, dataset) in &state.datasets {
            names
                .versions
                .insert(name.clone(), dataset.version_ids().cloned().collect());
            names
                .columns
                .extend(dataset.reader_columns(&[]).into_iter().map(|c| c.name));
        }
        let session = ctx.session();
        for catalog_name in session.catalog_names() {
            let Some(catalog) = session.catalog(&catalog_name) else {
                continue;
            };
            for schema_name in catalog.schema_names() {
                if schema_name == "information_schema" {
                    continue;
                }
                let Some(schema) = catalog.schema(&schema_name) else {
                    continue;
                };
                for table in schema.table_names() {
                    if names.datasets.contains(&table) {
                        continue;
                    }
                    // A table that fails to open simply offers no columns.
                    if let Ok(Some(provider)) = schema.table(&table).await {
                        names
                            .columns
                            .extend(provider.schema().fields().iter().map(|f| f.name().clone()));
                    }
                    names.tables.push(table);
                }
            }
        }
        let state = session.state();
        names
            .functions
            .extend(state.scalar_functions().keys().cloned());
        names
            .functions
            .extend(state.aggregate_functions().keys().cloned());
        names
            .functions
            .extend(state.window_functions().keys().cloned());
        for list in [&mut names.columns, &mut names.functions, &mut names.tables] {
            list.sort();
            list.dedup();
        }
        names
    }

    /// The same names from a server, by SQL as the user who logged in: what that user may
    /// see. A query the server refuses leaves its names out.
    pub async fn gather_remote(remote: &Remote) -> Names {
        let strings = |sql: String, columns: &'static [&'static str]| async move {
            remote.strings(&sql, columns).await.unwrap_or_default()
        };
        let mut names = Names::default();
        for row in strings("SHOW DATASETS".into(), &["dataset"]).await {
            names.datasets.extend(row);
        }
        for row in strings("SHOW COHORTS".into(), &["name"]).await {
            names.cohorts.extend(row);
        }
        // A session's datasets are a handful; a store of thousands offers the first ones.
        for dataset in names.datasets.iter().take(MAX_REMOTE_DATASETS) {
            let sql = format!("SHOW VERSIONS OF {}", quote_ident(dataset));
            let versions = strings(sql, &["version"]).await.into_iter().flatten();
            names.versions.insert(dataset.clone(), versions.collect());
        }
        let columns = "SELECT table_name, column_name FROM information_schema.columns \
            WHERE table_schema <> 'information_schema'";
        for row in strings(columns.into(), &["table_name", "column_name"]).await {
            let [table, column] = <[String; 2]>::try_from(row).unwrap_or_default();
            if !names.datasets.contains(&table) {
                names.tables.push(table);
            }
            names.columns.push(column);
        }
        let functions = "SELECT DISTINCT routine_name FROM information_schema.routines";
        for row in strings(functions.into(), &["routine_name"]).await {
            names.functions.extend(row);
        }
        for list in [&mut names.columns, &mut names.functions, &mut names.tables] {
            list.sort();
            list.dedup();
        }
        names
    }

    /// The start of the word at `pos` and what may replace it.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = line.get(..pos).unwrap_or(line);
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '\\' || c == '.'))
            .map_or(0, |i| {
                i + before[i..].chars().next().map_or(1, char::len_utf8)
            });
        let word = &before[start..];
        let context = words_before(&before[..start]);

        // Inside a string literal: a version id after VERSION AS OF ' / TO ' / VERSION '.
        if before[..start].ends_with('\'') {
            let quote_context = words_before(&before[..start - 1]);
            if is_version_context(&quote_context) {
                let dataset = quote_context
                    .iter()
                    .rev()
                    .find_map(|w| self.dataset_named(w));
                let versions: Vec<&String> = match dataset {
                    Some(d) => self.versions.get(d).into_iter().flatten().collect(),
                    None => self.versions.values().flatten().collect(),
                };
                return (start, pairs(versions, word, "'", false));
            }
            if quote_context.last().is_some_and(|w| w == "=")
                && quote_context
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case("rollout.cohort"))
            {
                return (start, pairs(&self.cohorts, word, "'", false));
            }
            return (start, Vec::new());
        }

        if start == 0 && word.starts_with('\\') {
            let commands = COMMANDS.iter().map(|c| c.name());
            return (start, pairs(commands, word, " ", false));
        }
        let previous = context.last().map(|w| w.to_ascii_uppercase());
        let first = context.first().map(String::as_str).unwrap_or_default();
        let candidates: Vec<&str> = match previous.as_deref() {
            Some("COHORT") | Some("\\COHORT") => self.cohorts.iter().map(String::as_str).collect(),
            _ if first == "\\cohort" => self.cohorts.iter().map(String::as_str).collect(),
            Some("PROMOTE" | "ROLLBACK" | "ADVANCE" | "OF" | "ROLLOUT" | "CONTRACT" | "\\D")
            | Some("CHECK") => self.datasets.iter().map(String::as_str).collect(),
            Some("FROM" | "JOIN" | "TABLE" | "INTO" | "DESCRIBE") => self
                .datasets
                .iter()
                .chain(&self.tables)
                .map(String::as_str)
                .collect(),
            Some("FOR") if context.iter().any(|w| w.eq_ignore_ascii_case("CONTRACT")) => {
                self.datasets.iter().map(String::as_str).collect()
            }
            _ if first == "\\df" => self.functions.iter().map(String::as_str).collect(),
            _ => {
                let mut all: Vec<&str> = Vec::new();
                all.extend(ROLLOUT_KEYWORDS);
                all.extend(SQL_KEYWORDS);
                all.extend(self.datasets.iter().map(String::as_str));
                all.extend(self.tables.iter().map(String::as_str));
                all.extend(self.columns.iter().map(String::as_str));
                all.extend(self.functions.iter().map(String::as_str));
                all
            }
        };
        if word.is_empty() && previous.is_none() {
            return (start, Vec::new());
        }
        (start, pairs(candidates, word, "", true))
    }

    fn dataset_named(&self, word: &str) -> Option<&String> {
        let word = word.trim_matches('"');
        self.datasets
            .iter()
            .find(|d| d.as_str() == word || d.eq_ignore_ascii_case(word))
    }
}

/// Words before the cursor's word, for context (`VERSION AS OF`, `FOR COHORT`, ...).
fn words_before(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() || matches!(c, '_' | '.' | '\\' | '"') {
            current.push(c);
        } else {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            if c == '=' {
                words.push("=".to_string());
            }
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn is_version_context(words: &[String]) -> bool {
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let ends = |suffix: &[&str]| {
        upper.len() >= suffix.len()
            && upper[upper.len() - suffix.len()..]
                .iter()
                .zip(suffix)
                .all(|(a, b)| a == b)
    };
    let registering = upper
        .first()
        .is_some_and(|w| w == "REGISTER" || w == "CREATE");
    ends(&["VERSION", "AS", "OF"]) || ends(&["TO"]) || (ends(&["VERSION"]) && !registering)
}

/// Candidates starting with `word` (case-insensitive), sorted and deduplicated. Keywords
/// follow the case the user types in.
fn pairs<'a, S: AsRef<str> + 'a>(
    candidates: impl IntoIterator<Item = S>,
    word: &str,
    suffix: &str,
    match_case: bool,
) -> Vec<Pair> {
    let lower_typed = match_case && !word.is_empty() && !word.chars().any(char::is_uppercase);
    let word_lower = word.to_lowercase();
    let mut out: Vec<String> = candidates
        .into_iter()
        .map(|c| c.as_ref().to_string())
        .filter(|c| c.to_lowercase().starts_with(&word_lower))
        .map(|c| {
            let is_keyword = c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_');
            if lower_typed && is_keyword {
                c.to_lowercase()
            } else {
                c
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out.into_iter()
        .map(|c| Pair {
            display: c.clone(),
            replacement: format!("{c}{suffix}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            datasets: vec!["orders".into(), "customers".into()],
            versions: BTreeMap::from([
                ("orders".into(), vec!["v1".into(), "v2".into()]),
                ("customers".into(), vec!["c1".into()]),
            ]),
            cohorts: vec!["canary".into()],
            tables: vec!["scratch".into()],
            columns: vec!["order_id".into(), "amount".into()],
            functions: vec!["ks_statistic".into(), "psi".into()],
        }
    }

    fn complete(line: &str) -> Vec<String> {
        let (_, pairs) = names().complete(line, line.len());
        pairs.into_iter().map(|p| p.replacement).collect()
    }

    #[test]
    fn datasets_after_from_and_promote() {
        assert_eq!(complete("SELECT * FROM ord"), vec!["orders"]);
        assert_eq!(complete("PROMOTE c"), vec!["customers"]);
        assert_eq!(complete("select * from s"), vec!["scratch"]);
    }

    #[test]
    fn versions_inside_quotes() {
        assert_eq!(
            complete("SELECT * FROM orders VERSION AS OF '"),
            vec!["v1'", "v2'"]
        );
        assert_eq!(complete("PROMOTE customers TO '"), vec!["c1'"]);
        assert!(complete("REGISTER VERSION '").is_empty());
    }

    #[test]
    fn cohorts_keywords_and_functions() {
        assert_eq!(
            complete("PROMOTE orders TO 'v2' FOR COHORT c"),
            vec!["canary"]
        );
        assert_eq!(complete("\\cohort "), vec!["canary"]);
        assert_eq!(complete("SET rollout.cohort = 'c"), vec!["canary'"]);
        assert_eq!(complete("prom"), vec!["promote"]);
        assert_eq!(complete("SELECT ks_"), vec!["ks_statistic"]);
        assert_eq!(complete("SELECT am"), vec!["amount"]);
        assert_eq!(complete("\\ti"), vec!["\\timing "]);
    }

    #[test]
    fn meta_commands_by_their_names() {
        let names = "\\? \\cohort \\consumer \\d \\df \\h \\i \\o \\pset \\q \\timing \\x";
        let expected: Vec<String> = names.split(' ').map(|n| format!("{n} ")).collect();
        assert_eq!(complete("\\"), expected);
        assert_eq!(complete("\\q"), vec!["\\q "]);
    }
}
