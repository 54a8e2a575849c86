//! Rendering of result batches in the formats `--format` and `\pset format` offer.
//!
//! Every format takes the schema separately from the batches, so a query that returns no rows
//! still prints its header (table, CSV, TSV, markdown) or an empty array (JSON). The formats
//! for people (table, expanded, markdown) honour `--maxrows` and the NULL display setting; the
//! formats for programs (CSV, TSV, JSON, NDJSON) print every row, NULL as empty or `null`.

mod table;
mod text;

use std::io::Write;

use anyhow::Result;
use clap::ValueEnum;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned table with borders, wrapped to the terminal's width.
    Table,
    /// Comma-separated values with a header line; NULL is an empty field.
    Csv,
    /// Tab-separated values with a header line; NULL is an empty field.
    Tsv,
    /// A JSON array with one object per row; NULL is `null`.
    Json,
    /// One JSON object per line; NULL is `null`.
    Ndjson,
    /// A GitHub-flavoured markdown table.
    Markdown,
}

impl OutputFormat {
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Tsv => "tsv",
            OutputFormat::Json => "json",
            OutputFormat::Ndjson => "ndjson",
            OutputFormat::Markdown => "markdown",
        }
    }

    /// Whether the format is read by people, and so truncated by `--maxrows`.
    fn is_for_people(self) -> bool {
        matches!(self, OutputFormat::Table | OutputFormat::Markdown)
    }
}

/// The user's output preferences.
#[derive(Debug, Clone)]
pub struct PrintOptions {
    pub format: OutputFormat,
    /// One block per record instead of a table (`\x`), for the table format.
    pub expanded: bool,
    /// At most this many rows in the formats for people; `None` for all.
    pub maxrows: Option<usize>,
    /// How NULL appears in the formats for people.
    pub null: String,
}

impl Default for PrintOptions {
    fn default() -> Self {
        PrintOptions {
            format: OutputFormat::Table,
            expanded: false,
            maxrows: None,
            null: "NULL".to_string(),
        }
    }
}

/// What was printed, for the footer.
#[derive(Debug, Clone, Copy)]
pub struct Printed {
    pub shown: usize,
    pub total: usize,
}

/// Writes `batches` (all of `schema`) to `out`.
pub fn write_batches(
    out: &mut dyn Write,
    options: &PrintOptions,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<Printed> {
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let limit = match options.maxrows {
        Some(max) if options.format.is_for_people() => max.min(total),
        _ => total,
    };
    let shown = limit_rows(batches, limit);
    match options.format {
        OutputFormat::Table if options.expanded => {
            table::write_expanded(out, schema, &shown, &options.null)?
        }
        OutputFormat::Table => {
            let table = table::render_table(schema, &shown, &options.null)?;
            writeln!(out, "{table}")?;
        }
        OutputFormat::Markdown => table::write_markdown(out, schema, &shown, &options.null)?,
        OutputFormat::Csv => text::write_delimited(out, schema, &shown, b',')?,
        OutputFormat::Tsv => text::write_delimited(out, schema, &shown, b'\t')?,
        OutputFormat::Json => text::write_json(out, &shown)?,
        OutputFormat::Ndjson => text::write_ndjson(out, &shown)?,
    }
    Ok(Printed {
        shown: limit,
        total,
    })
}

/// The first `limit` rows of `batches` (zero-copy slices).
fn limit_rows(batches: &[RecordBatch], limit: usize) -> Vec<RecordBatch> {
    let mut left = limit;
    let mut out = Vec::new();
    for batch in batches {
        if left == 0 {
            break;
        }
        let take = batch.num_rows().min(left);
        out.push(batch.slice(0, take));
        left -= take;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn sample() -> (SchemaRef, Vec<RecordBatch>) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("amount", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a,b|c"), None])),
                Arc::new(Float64Array::from(vec![Some(1.5), None])),
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    fn render(format: OutputFormat, schema: &SchemaRef, batches: &[RecordBatch]) -> String {
        let options = PrintOptions {
            format,
            ..PrintOptions::default()
        };
        let mut out = Vec::new();
        write_batches(&mut out, &options, schema, batches).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_shows_null() {
        let (schema, batches) = sample();
        let text = render(OutputFormat::Table, &schema, &batches);
        assert!(text.contains("NULL"), "{text}");
        assert!(text.contains("a,b"), "{text}");
    }

    #[test]
    fn csv_quotes_and_empty_nulls() {
        let (schema, batches) = sample();
        let text = render(OutputFormat::Csv, &schema, &batches);
        assert_eq!(text, "id,name,amount\n1,\"a,b|c\",1.5\n2,,\n");
    }

    #[test]
    fn tsv_and_markdown() {
        let (schema, batches) = sample();
        let text = render(OutputFormat::Tsv, &schema, &batches);
        assert_eq!(text, "id\tname\tamount\n1\ta,b|c\t1.5\n2\t\t\n");
        let text = render(OutputFormat::Markdown, &schema, &batches);
        assert_eq!(
            text,
            "| id | name | amount |\n|---:|---|---:|\n| 1 | a,b\\|c | 1.5 |\n| 2 | NULL | NULL |\n"
        );
    }

    #[test]
    fn json_array_and_lines_with_explicit_nulls() {
        let (schema, batches) = sample();
        let text = render(OutputFormat::Json, &schema, &batches);
        assert_eq!(
            text,
            "[{\"id\":1,\"name\":\"a,b|c\",\"amount\":1.5},{\"id\":2,\"name\":null,\"amount\":null}]\n"
        );
        let text = render(OutputFormat::Ndjson, &schema, &batches);
        assert_eq!(
            text,
            "{\"id\":1,\"name\":\"a,b|c\",\"amount\":1.5}\n{\"id\":2,\"name\":null,\"amount\":null}\n"
        );
    }

    #[test]
    fn empty_results_keep_headers() {
        let (schema, _) = sample();
        assert_eq!(render(OutputFormat::Csv, &schema, &[]), "id,name,amount\n");
        assert_eq!(render(OutputFormat::Json, &schema, &[]), "[]\n");
        assert_eq!(render(OutputFormat::Ndjson, &schema, &[]), "");
        assert!(render(OutputFormat::Table, &schema, &[]).contains("amount"));
    }

    #[test]
    fn maxrows_limits_only_formats_for_people() {
        let (schema, batches) = sample();
        let options = PrintOptions {
            maxrows: Some(1),
            ..PrintOptions::default()
        };
        let mut out = Vec::new();
        let printed = write_batches(&mut out, &options, &schema, &batches).unwrap();
        assert_eq!((printed.shown, printed.total), (1, 2));
        let options = PrintOptions {
            format: OutputFormat::Csv,
            ..options
        };
        let printed = write_batches(&mut out, &options, &schema, &batches).unwrap();
        assert_eq!((printed.shown, printed.total), (2, 2));
    }
}
