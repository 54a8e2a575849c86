//! Introspection meta commands: `\d` (datasets and tables), `\d name`, `\df [pattern]`.

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::Documentation;

use crate::outcome::Failure;
use crate::remote::Remote;
use crate::shell::{Shell, StatementOutput};

/// `SHOW TABLES` without the information_schema views, which would bury the user's tables.
const LIST_TABLES: &str = "SELECT table_catalog, table_schema, table_name, table_type \
    FROM information_schema.tables WHERE table_schema <> 'information_schema' \
    ORDER BY table_catalog, table_schema, table_name";

/// `\d`: datasets, then tables.
pub async fn list(shell: &mut Shell) -> Result<(), Failure> {
    for sql in ["SHOW DATASETS", LIST_TABLES] {
        shell.run_one(sql, 1).await?;
    }
    Ok(())
}

/// `\d name`: a dataset's columns, versions and rollout; a table's columns.
pub async fn describe(shell: &mut Shell, name: &str) -> Result<(), Failure> {
    if shell.remote().is_some() {
        return describe_remote(shell, name).await;
    }
    let state = shell.context()?.store().state();
    if let Some(dataset) = state.datasets.get(name) {
        let comment = dataset
            .comment
            .as_deref()
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        shell.write_text(&format!("Dataset {name}{comment}"))?;
        let columns = dataset.reader_columns(&[]);
        let names = columns.iter().map(|c| c.name.as_str());
        let types = columns.iter().map(|c| c.data_type.as_str());
        let nullable = columns
            .iter()
            .map(|c| if c.nullable { "YES" } else { "NO" });
        let batch = strings(&[
            ("column_name", names.collect()),
            ("data_type", types.collect()),
            ("is_nullable", nullable.collect()),
        ])?;
        shell.print(&output(batch))?;
        shell.write_text("Versions")?;
        shell
            .run_one(&format!("SHOW VERSIONS OF {}", quote_ident(name)), 1)
            .await?;
        shell.write_text("Rollout")?;
        shell
            .run_one(&format!("SHOW ROLLOUT {}", quote_ident(name)), 1)
            .await?;
        return Ok(());
    }
    let columns = table_columns(shell, name).await?;
    shell.write_text(&format!("Table {name}"))?;
    shell.print(&columns)?;
    Ok(())
}

/// The columns of the table (or dataset) `name` as the session's catalog has them.
async fn table_columns(shell: &Shell, name: &str) -> Result<StatementOutput, Failure> {
    let sql = format!(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
         WHERE table_name = '{}' AND table_schema <> 'information_schema' \
         ORDER BY table_catalog, table_schema, ordinal_position",
        name.replace('\'', "''")
    );
    let columns = shell.execute(&sql, 1).await?;
    if columns.batches.iter().all(|b| b.num_rows() == 0) {
        return Err(Failure::error(format!(
            "no dataset or table named '{name}'; \\d lists them"
        )));
    }
    Ok(columns)
}

/// `\d name` on a server: what its SQL tells the user who logged in (the columns a dataset's
/// readers see, its versions and rollout; a table's columns).
async fn describe_remote(shell: &mut Shell, name: &str) -> Result<(), Failure> {
    let columns = table_columns(shell, name).await?;
    let is_dataset = match shell.remote() {
        Some(remote) => remote
            .strings("SHOW DATASETS", &["dataset"])
            .await?
            .iter()
            .any(|row| row[0] == name),
        None => false,
    };
    if !is_dataset {
        shell.write_text(&format!("Table {name}"))?;
        return Ok(shell.print(&columns)?);
    }
    shell.write_text(&format!("Dataset {name}"))?;
    shell.print(&columns)?;
    for (title, statement) in [
        ("Versions", "SHOW VERSIONS OF"),
        ("Rollout", "SHOW ROLLOUT"),
    ] {
        shell.write_text(title)?;
        shell
            .run_one(&format!("{statement} {}", quote_ident(name)), 1)
            .await?;
    }
    Ok(())
}

/// One documented function.
struct Function {
    name: String,
    kind: &'static str,
    ours: bool,
    description: String,
    syntax: String,
    /// Names and descriptions of its arguments (not told by a server).
    arguments: Vec<(String, String)>,
    example: Option<String>,
}

/// `\df`: documented functions, ours first; `\df pattern` filters by name (`*` and `?` are
/// wildcards, otherwise a substring); `\df name` of one function shows its documentation.
/// Against a server, the server's functions (its `information_schema.routines`).
pub async fn functions(shell: &mut Shell, pattern: Option<&str>) -> Result<(), Failure> {
    let all = match shell.remote() {
        Some(remote) => served_functions(remote).await?,
        None => documented_functions(shell)?,
    };
    if let Some(pattern) = pattern
        && let Some(f) = all.iter().find(|f| f.name.eq_ignore_ascii_case(pattern))
    {
        shell.write_text(&full_documentation(f))?;
        return Ok(());
    }
    let matching: Vec<&Function> = all
        .iter()
        .filter(|f| pattern.is_none_or(|p| matches_pattern(&f.name, p)))
        .collect();
    if matching.is_empty() && pattern.is_some() {
        return Err(Failure::error(format!(
            "no documented function matches '{}'; \\df lists them all",
            pattern.unwrap_or_default()
        )));
    }
    let batch = strings(&[
        ("name", matching.iter().map(|f| f.name.as_str()).collect()),
        ("kind", matching.iter().map(|f| f.kind).collect()),
        (
            "source",
            matching
                .iter()
                .map(|f| if f.ours { "rollout" } else { "datafusion" })
                .collect(),
        ),
        (
            "description",
            matching
                .iter()
                .map(|f| f.description.lines().next().unwrap_or_default())
                .collect(),
        ),
    ])?;
    shell.print(&output(batch))?;
    Ok(())
}

/// The names of this build's own functions (a server built from the same release has them).
fn our_function_names() -> Vec<String> {
    let ours = datafusion_rollout_udfs::all_functions();
    ours.scalar
        .iter()
        .map(|f| f.name().to_string())
        .chain(ours.aggregate.iter().map(|f| f.name().to_string()))
        .collect()
}

/// Ours first, then by name.
fn ordered(mut functions: Vec<Function>) -> Vec<Function> {
    functions.sort_by(|a, b| b.ours.cmp(&a.ours).then_with(|| a.name.cmp(&b.name)));
    functions
}

fn documented_functions(shell: &Shell) -> Result<Vec<Function>, Failure> {
    let our_names = our_function_names();
    let state = shell.context()?.session().state();
    let mut out = Vec::new();
    let mut add = |name: &str, kind, doc: Option<&Documentation>| {
        if let Some(doc) = doc {
            out.push(Function {
                name: name.to_string(),
                kind,
                ours: our_names.iter().any(|n| n == name),
                description: doc.description.clone(),
                syntax: doc.syntax_example.clone(),
                arguments: doc.arguments.clone().unwrap_or_default(),
                example: doc.sql_example.clone(),
            });
        }
    };
    for (name, f) in state.scalar_functions() {
        add(name, "scalar", f.documentation());
    }
    for (name, f) in state.aggregate_functions() {
        add(name, "aggregate", f.documentation());
    }
    for (name, f) in state.window_functions() {
        add(name, "window", f.documentation());
    }
    Ok(ordered(out))
}

/// The server's documented functions, as its `information_schema.routines` lists them (one
/// row per return type there, one function here).
async fn served_functions(remote: &Remote) -> Result<Vec<Function>, Failure> {
    let sql = "SELECT DISTINCT routine_name, function_type, description, syntax_example \
        FROM information_schema.routines \
        WHERE description IS NOT NULL AND function_type IN ('SCALAR', 'AGGREGATE', 'WINDOW')";
    let columns = [
        "routine_name",
        "function_type",
        "description",
        "syntax_example",
    ];
    let our_names = our_function_names();
    let mut by_name = std::collections::BTreeMap::new();
    for row in remote.strings(sql, &columns).await? {
        let Ok([name, kind, description, syntax]) = <[String; 4]>::try_from(row) else {
            continue;
        };
        let kind = match kind.as_str() {
            "AGGREGATE" => "aggregate",
            "WINDOW" => "window",
            _ => "scalar",
        };
        by_name.entry(name.clone()).or_insert_with(|| Function {
            ours: our_names.contains(&name),
            name,
            kind,
            description,
            syntax,
            arguments: vec![],
            example: None,
        });
    }
    Ok(ordered(by_name.into_values().collect()))
}

fn full_documentation(f: &Function) -> String {
    let source = if f.ours { "rollout" } else { "datafusion" };
    let mut text = format!(
        "{} ({} function, {source})\n\n{}\n\nSyntax:\n  {}\n",
        f.name,
        f.kind,
        f.description.trim(),
        f.syntax
    );
    if !f.arguments.is_empty() {
        text.push_str("\nArguments:\n");
        for (name, description) in &f.arguments {
            text.push_str(&format!("  {name}: {}\n", description.trim()));
        }
    }
    if let Some(example) = &f.example {
        text.push_str("\nExample:\n");
        for line in example.trim().lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    text.trim_end().to_string()
}

/// Case-insensitive glob with `*` and `?`; without wildcards, a substring match.
fn matches_pattern(name: &str, pattern: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    if !pattern.contains(['*', '?']) {
        return name.contains(&pattern);
    }
    fn glob(name: &[u8], pattern: &[u8]) -> bool {
        match (pattern.first(), name.first()) {
            (None, _) => name.is_empty(),
            (Some(b'*'), _) => {
                glob(name, &pattern[1..]) || (!name.is_empty() && glob(&name[1..], pattern))
            }
            (Some(b'?'), Some(_)) => glob(&name[1..], &pattern[1..]),
            (Some(p), Some(n)) if p == n => glob(&name[1..], &pattern[1..]),
            _ => false,
        }
    }
    glob(name.as_bytes(), pattern.as_bytes())
}

/// A batch of string columns.
fn strings(columns: &[(&str, Vec<&str>)]) -> Result<RecordBatch, Failure> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, _)| Field::new(*name, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let arrays = columns
        .iter()
        .map(|(_, values)| {
            Arc::new(StringArray::from(values.clone())) as datafusion::arrow::array::ArrayRef
        })
        .collect();
    RecordBatch::try_new(schema, arrays).map_err(|e| Failure::error(e.to_string()))
}

fn output(batch: RecordBatch) -> StatementOutput {
    StatementOutput {
        schema: batch.schema(),
        batches: vec![batch],
        elapsed: Duration::ZERO,
        checks: None,
    }
}

/// An identifier for SQL text, quoted unless plain lowercase.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !name.is_empty();
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches_pattern("ks_statistic", "ks"));
        assert!(matches_pattern("ks_statistic", "KS_*"));
        assert!(!matches_pattern("ks_pvalue", "*stat*x"));
        assert!(matches_pattern("psi", "p?i"));
    }
}
