//! `\h`: the syntax of each statement.

/// (topic, syntax). Ours first, then DataFusion's. Topics are matched by their leading words.
const STATEMENTS: &[(&str, &str)] = &[
    (
        "CREATE DATASET",
        "CREATE DATASET [IF NOT EXISTS] name [COMMENT '...'];",
    ),
    (
        "REGISTER VERSION",
        "REGISTER VERSION 'v1' OF dataset FROM 'path/' [FORMAT PARQUET|CSV|JSON] [COMMENT '...']\n\
         \x20   [WITH MIGRATION (RENAME COLUMN a TO b, DROP COLUMN c, ALTER COLUMN d TYPE t)] [REASON '...'];\n\
         -- pins the files as they are now; the dataset's contract runs on them;\n\
         -- WITH MIGRATION declares breaking changes: once exposed, readers see the new shape\n\
         -- and the old names as deprecated compatibility columns until FINISH MIGRATION",
    ),
    (
        "CREATE VERSION",
        "CREATE VERSION 'v2' OF dataset [WITH MIGRATION (...)] AS SELECT ... [REASON '...'];\n\
         -- a managed version: the query's result is written as Parquet into the store",
    ),
    ("SHOW DATASETS", "SHOW DATASETS;"),
    ("SHOW VERSIONS", "SHOW VERSIONS OF dataset;"),
    (
        "ALTER DATASET",
        "ALTER DATASET dataset SET RETENTION (KEEP n VERSIONS [, INTERVAL '30 days']) | NONE;\n\
         ALTER DATASET dataset SET APPROVALS n FOR (PROMOTE, FORCE);\n\
         ALTER DATASET dataset FINISH MIGRATION [REASON '...'];\n\
         -- removes the compatibility columns; refused while a consumer's latest read uses one",
    ),
    (
        "DROP VERSION",
        "DROP VERSION 'v1' OF dataset [REASON '...'];\n\
         -- never read or exposed again (not the stable, candidate or rollback target);\n\
         -- VACUUM then reclaims its data if the store wrote it (CREATE VERSION)",
    ),
    (
        "CREATE COHORT",
        "CREATE COHORT name MEMBERS ('alice', 'job-42', ...);",
    ),
    (
        "ALTER COHORT",
        "ALTER COHORT name ADD MEMBERS ('carol', ...) [REASON '...'];\n\
         ALTER COHORT name DROP MEMBERS ('alice', ...) [REASON '...'];\n\
         -- members read what the cohort is exposed to from their next query",
    ),
    (
        "DROP COHORT",
        "DROP COHORT name [REASON '...'];   -- refused while a live rollout exposes it",
    ),
    (
        "SHOW COHORTS",
        "SHOW COHORTS;   -- name, members, the rollouts exposing each",
    ),
    (
        "SET ROLLOUT",
        "SET rollout.consumer = 'alice';   -- who is reading (\\consumer)\n\
         SET rollout.cohort = 'canary';    -- join a cohort for the session (\\cohort)\n\
         SHOW rollout.consumer;  RESET rollout.cohort;",
    ),
    (
        "SELECT VERSION AS OF",
        "SELECT ... FROM dataset [VERSION AS OF 'v1'] ...;\n\
         -- without VERSION AS OF, the version this consumer should see",
    ),
    (
        "PROMOTE",
        "PROMOTE dataset TO 'v2' [FOR COHORT name | AT n PERCENT] [FORCE] [REASON '...'];\n\
         PROMOTE dataset TO 'v2' IN STAGES (1, 10, 50, 100) [EVERY INTERVAL '1 hour'] [REASON '...'];\n\
         PROMOTE a TO 'v2', b TO 'v5' [FOR COHORT name | AT n PERCENT | IN STAGES (..)];\n\
         -- several datasets: one commit, one salt; released IN STAGES, ADVANCE or ROLLBACK\n\
         -- of any one of them moves all\n\
         -- without FOR/AT/IN STAGES, v2 becomes stable for everyone; guards run first,\n\
         -- FORCE REASON '...' overrides failing guards (recorded in the history)",
    ),
    (
        "ADVANCE",
        "ADVANCE dataset [REASON '...'];\n\
         -- next stage of a staged rollout, if the guards pass and the soak interval has passed\n\
         -- (of every dataset released with it in stages, in one commit)",
    ),
    (
        "ROLLBACK",
        "ROLLBACK dataset [TO 'v1'] [CASCADE] [REASON '...'];\n\
         ROLLBACK dataset, dataset2, ... [CASCADE] [REASON '...'];   -- one commit\n\
         -- aborts a live rollout, or restores the previous stable version;\n\
         -- CASCADE also rolls back the live versions derived from the one taken away",
    ),
    (
        "SHOW LINEAGE",
        "SHOW LINEAGE OF dataset [VERSION 'v'];   -- upstream and downstream versions",
    ),
    ("SHOW ROLLOUT", "SHOW ROLLOUT dataset;"),
    (
        "SHOW HISTORY",
        "SHOW HISTORY [OF dataset] [LIMIT n] [WITH CHECKS];\n\
         -- WITH CHECKS: one row per check that gated each entry (value, threshold, status)",
    ),
    (
        "CREATE CONTRACT",
        "CREATE CONTRACT name FOR dataset (\n\
         \x20 column TYPE [NOT NULL] [UNIQUE] [CHECK (expr)],\n\
         \x20 EXPECT metric(...) <comparison> [WARN WHEN <comparison>],\n\
         \x20 ...\n\
         );\n\
         CREATE CONTRACT name FOR dataset FROM 'contract.yaml';   -- ODCS v3",
    ),
    ("SHOW CONTRACT", "SHOW CONTRACT dataset;"),
    (
        "CHECK",
        "CHECK dataset [VERSION 'v'];    -- the contract's checks: check, column, value, threshold, status\n\
         CHECK ROLLOUT dataset;          -- guards of a live rollout; a FAIL rolls it back\n\
         CHECK ROLLOUTS;                 -- every live rollout (see `rollout watch`)\n\
         -- in -c/-f mode: exit 1 on a fail (or a warn with --fail-on-warn), 2 on an error",
    ),
    ("EXPLAIN CHECK", "EXPLAIN CHECK dataset [VERSION 'v'];"),
    (
        "EXPLAIN PROMOTE",
        "EXPLAIN PROMOTE ...;  EXPLAIN ROLLBACK ...;  EXPLAIN ADVANCE ...;\n\
         -- what the change would do, the checks it would run, the files it would verify, and\n\
         -- which consumers seen in the reads ledger would switch version; nothing is committed",
    ),
    (
        "ASSERT",
        "ASSERT <boolean expression> [AS 'message'];   -- exit 1 in -c/-f mode when false",
    ),
    (
        "SELECT",
        "[WITH ...] SELECT [DISTINCT] expr [, ...] [FROM from_item [, ...]] [WHERE condition]\n\
         \x20 [GROUP BY ...] [HAVING condition] [QUALIFY condition] [WINDOW ...]\n\
         \x20 [UNION|INTERSECT|EXCEPT [ALL] select] [ORDER BY expr [ASC|DESC] [NULLS FIRST|LAST]]\n\
         \x20 [LIMIT n] [OFFSET n];",
    ),
    (
        "EXPLAIN",
        "EXPLAIN [ANALYZE] [VERBOSE] [FORMAT tree|indent|pgjson|graphviz] statement;\n\
         -- also lists which version each dataset resolved to",
    ),
    (
        "CREATE EXTERNAL TABLE",
        "CREATE [UNBOUNDED] EXTERNAL TABLE [IF NOT EXISTS] name [(column type, ...)]\n\
         \x20 STORED AS PARQUET|CSV|JSON|AVRO|ARROW [PARTITIONED BY (...)] [WITH ORDER (...)]\n\
         \x20 LOCATION 'path' [OPTIONS ('key' 'value', ...)];",
    ),
    (
        "CREATE TABLE",
        "CREATE [OR REPLACE] TABLE [IF NOT EXISTS] name [(column type, ...)] [AS query];",
    ),
    ("CREATE VIEW", "CREATE [OR REPLACE] VIEW name AS query;"),
    (
        "COPY",
        "COPY {table | (query)} TO 'path' [STORED AS PARQUET|CSV|JSON] [PARTITIONED BY (...)]\n\
         \x20 [OPTIONS ('key' 'value', ...)];",
    ),
    (
        "INSERT",
        "INSERT INTO table [(column, ...)] {VALUES (...), ... | query};",
    ),
    ("DROP", "DROP {TABLE | VIEW} [IF EXISTS] name;"),
    ("DESCRIBE", "DESCRIBE table;   -- same as \\d table"),
    (
        "SET",
        "SET datafusion.option = value;   SHOW datafusion.option;   SHOW ALL;",
    ),
    (
        "SHOW",
        "SHOW TABLES;  SHOW COLUMNS FROM table;  SHOW FUNCTIONS [LIKE 'pattern'];  SHOW ALL;",
    ),
    (
        "PREPARE",
        "PREPARE name [(type, ...)] AS statement;   EXECUTE name(value, ...);",
    ),
];

/// `\h topic`: the syntax of the statements whose topic starts like `topic`; `\h` alone lists
/// the topics.
pub fn statement_help(topic: &str) -> String {
    let words: Vec<String> = topic
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    if words.is_empty() {
        let topics: Vec<&str> = STATEMENTS.iter().map(|(t, _)| *t).collect();
        return format!(
            "Help on a statement: \\h STATEMENT, one of\n  {}",
            topics.join(", ")
        );
    }
    let wanted = words.join(" ");
    // Exact topic first; else every topic starting with what was typed (`\h CREATE`).
    let exact: Vec<&(&str, &str)> = STATEMENTS.iter().filter(|(t, _)| *t == wanted).collect();
    let found: Vec<&(&str, &str)> = if exact.is_empty() {
        STATEMENTS
            .iter()
            .filter(|(t, _)| t.starts_with(&wanted) || wanted.starts_with(t))
            .collect()
    } else {
        exact
    };
    if found.is_empty() {
        return format!("No help on '{topic}'; \\h lists the statements.");
    }
    found
        .iter()
        .map(|(t, syntax)| format!("{t}\n{}", indent(syntax)))
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_topics_by_leading_words() {
        assert!(statement_help("promote").contains("IN STAGES"));
        assert!(statement_help("CREATE").contains("CREATE CONTRACT"));
        assert!(statement_help("check rollouts").contains("CHECK ROLLOUTS"));
        assert!(statement_help("nope").starts_with("No help"));
    }
}
