//! `rollout demo`: generates two versions of an `orders` dataset as Parquet files, opens a
//! store next to them and runs `demo/demo.sql` as a transcript (each statement, then its result).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use datafusion::prelude::SessionContext;
use datafusion_rollout::{RolloutContext, RolloutOptions, split_statements};

use crate::outcome::Failure;
use crate::print::{OutputFormat, PrintOptions};
use crate::shell::{Backend, Shell};

/// The demo script; `{{source}}` stands for the folder of the generated data.
const DEMO_SQL: &str = include_str!("../demo/demo.sql");

/// The file that marks a folder as created by `rollout demo`, and so safe to delete.
const MARKER: &str = ".rollout-demo";

/// Rows of the stable version; the new version has a few more.
const V1_ROWS: u32 = 10_000;
const V2_ROWS: u32 = 10_500;

pub async fn run(dir: &Path, format: OutputFormat, actor: Option<String>) -> Result<(), Failure> {
    let dir = prepare_dir(dir)?;
    let source = dir.join("source");
    generate_data(&source).await?;

    let store = dir.join("store");
    let store = path_str(&store)?;
    let options = RolloutOptions {
        actor,
        ..RolloutOptions::default()
    };
    let ctx = RolloutContext::open_with(store, options).await?;
    let print = PrintOptions {
        format,
        ..PrintOptions::default()
    };
    let mut shell = Shell::new(Backend::Local(ctx), print, false);

    say(&format!(
        "-- demo data in {}\n-- store at {store}\n",
        path_str(&source)?
    ))?;
    let script = DEMO_SQL.replace("{{source}}", &sql_escape(path_str(&source)?));
    let lines: Vec<&str> = script.lines().collect();
    let mut next_line = 1;
    for statement in split_statements(&script)? {
        // Comments between statements narrate the transcript; the splitter drops them.
        let comments = narration(
            lines
                .get(next_line - 1..statement.line.saturating_sub(1))
                .unwrap_or_default(),
        );
        next_line = statement.line + statement.text.lines().count();
        echo(comments, &statement.text).map_err(anyhow::Error::from)?;
        shell
            .run_one(&statement.text, statement.line)
            .await
            .map_err(|f| f.with_location(&format!("demo.sql:{}", statement.line)))?;
        say("")?;
    }
    say(&format!(
        "-- done: open the store yourself with `rollout --store {store}`"
    ))?;
    Ok(())
}

/// Creates `dir`, or empties it if an earlier demo created it. Any other existing, non-empty
/// folder is refused: the demo never deletes what it did not make.
fn prepare_dir(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{} exists and is not a folder", dir.display());
        }
        if dir.join(MARKER).is_file() {
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("cannot remove the old demo in {}", dir.display()))?;
        } else if std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
        {
            bail!(
                "refusing to use {}: the folder exists, is not empty and was not created by \
                 `rollout demo` (it has no {MARKER} file); remove it or pass another --dir",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "created by `rollout demo`, which deletes and recreates this folder\n",
    )
    .with_context(|| format!("cannot write {}", dir.join(MARKER).display()))?;
    dir.canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))
}

/// Writes `orders_v1` and `orders_v2` as Parquet through DataFusion. v2 has 500 more orders,
/// amounts raised by 8% plus 1.50, and a nullable `channel` column (an additive change).
async fn generate_data(source: &Path) -> Result<()> {
    let ctx = SessionContext::new();
    let v1 = format!(
        "COPY (
           SELECT value AS order_id,
                  (value * 37) % 1000 + 1 AS customer_id,
                  CAST((value * 7919) % 10000 AS DOUBLE) / 100.0 + 5.0 AS amount
           FROM generate_series(1, {V1_ROWS})
         ) TO '{}' STORED AS PARQUET",
        sql_escape(path_str(&source.join("orders_v1").join("part-0.parquet"))?)
    );
    let v2 = format!(
        "COPY (
           SELECT value AS order_id,
                  (value * 37) % 1000 + 1 AS customer_id,
                  round((CAST((value * 7919) % 10000 AS DOUBLE) / 100.0 + 5.0) * 1.08 + 1.5, 2)
                    AS amount,
                  CASE value % 4 WHEN 0 THEN 'web' WHEN 1 THEN 'store' WHEN 2 THEN 'app'
                    ELSE NULL END AS channel
           FROM generate_series(1, {V2_ROWS})
         ) TO '{}' STORED AS PARQUET",
        sql_escape(path_str(&source.join("orders_v2").join("part-0.parquet"))?)
    );
    for sql in [v1, v2] {
        ctx.sql(&sql)
            .await
            .context("generating the demo data")?
            .collect()
            .await
            .context("writing the demo data")?;
    }
    Ok(())
}

/// The comment lines before a statement, with blank lines kept only between comment blocks.
fn narration<'a, 'b>(lines: &'b [&'a str]) -> &'b [&'a str] {
    let is_comment = |line: &&str| line.trim_start().starts_with("--");
    match (
        lines.iter().position(is_comment),
        lines.iter().rposition(is_comment),
    ) {
        (Some(first), Some(last)) => lines.get(first..=last).unwrap_or_default(),
        _ => &[],
    }
}

/// Prints a statement like a terminal session: its comments, then the SQL after the prompt.
fn echo(comments: &[&str], text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for comment in comments {
        writeln!(out, "{}", comment.trim())?;
    }
    let lines: Vec<&str> = text.trim().lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let prompt = if index == 0 { "rollout> " } else { "      -> " };
        let end = if index + 1 == lines.len() { ";" } else { "" };
        writeln!(out, "{prompt}{line}{end}")?;
    }
    out.flush()
}

/// One line of the transcript; a closed stdout becomes an error, not a panic.
fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("the path {} is not valid UTF-8", path.display()))
}

/// Doubles single quotes so a path can sit inside a SQL string literal.
fn sql_escape(text: &str) -> String {
    text.replace('\'', "''")
}
