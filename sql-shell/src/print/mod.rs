//! Rendering of result batches: an aligned table (comfy-table), CSV or a JSON array.
//!
//! Every format takes the schema separately from the batches, so a query that returns no rows
//! still prints its header (table, CSV) or an empty array (JSON).

use std::io::Write;

use anyhow::Result;
use clap::ValueEnum;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// How results are written to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned table with borders.
    Table,
    /// Comma-separated values with a header line; NULL is an empty field.
    Csv,
    /// A JSON array with one object per row; NULL is `null`.
    Json,
}

/// How NULL appears in tables: visibly, unlike an empty string.
const NULL_TEXT: &str = "NULL";

/// Below this terminal width, wrapping cells makes tables unreadable: let them overflow.
const MIN_WRAP_WIDTH: u16 = 40;

/// Writes `batches` (all of `schema`) to `out` in `format`.
pub fn write_batches(
    out: &mut dyn Write,
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    match format {
        OutputFormat::Table => {
            let table = render_table(schema, batches)?;
            writeln!(out, "{table}")?;
        }
        OutputFormat::Csv => write_csv(out, schema, batches)?,
        OutputFormat::Json => write_json(out, batches)?,
    }
    Ok(())
}

/// Builds the comfy-table for `batches`; numbers are right-aligned.
pub fn render_table(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Table> {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
    // Wrap to the terminal's width, unless it reports none or a useless one (a bare pty).
    if table.width().is_some_and(|width| width >= MIN_WRAP_WIDTH) {
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }

    let options = FormatOptions::default().with_null(NULL_TEXT);
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            table.add_row(
                formatters
                    .iter()
                    .map(|f| Cell::new(f.value(row).to_string())),
            );
        }
    }

    for (index, field) in schema.fields().iter().enumerate() {
        if is_numeric(field.data_type())
            && let Some(column) = table.column_mut(index)
        {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    Ok(table)
}

fn is_numeric(data_type: &DataType) -> bool {
    data_type.is_numeric()
        || matches!(data_type, DataType::Dictionary(_, value) if value.is_numeric())
}

fn write_csv(out: &mut dyn Write, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let mut writer = datafusion::arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(out);
    if batches.is_empty() {
        // The header is written with the first batch; an empty one keeps it for empty results.
        writer.write(&RecordBatch::new_empty(schema.clone()))?;
    }
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(())
}

fn write_json(out: &mut dyn Write, batches: &[RecordBatch]) -> Result<()> {
    let mut writer = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut *out);
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    drop(writer);
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

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
                Arc::new(StringArray::from(vec![Some("a,b"), None])),
                Arc::new(Float64Array::from(vec![Some(1.5), None])),
            ],
        )
        .unwrap();
        (schema, vec![batch])
    }

    fn render(format: OutputFormat, schema: &SchemaRef, batches: &[RecordBatch]) -> String {
        let mut out = Vec::new();
        write_batches(&mut out, format, schema, batches).unwrap();
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
        assert_eq!(text, "id,name,amount\n1,\"a,b\",1.5\n2,,\n");
    }

    #[test]
    fn json_array_with_explicit_nulls() {
        let (schema, batches) = sample();
        let text = render(OutputFormat::Json, &schema, &batches);
        assert_eq!(
            text,
            "[{\"id\":1,\"name\":\"a,b\",\"amount\":1.5},{\"id\":2,\"name\":null,\"amount\":null}]\n"
        );
    }

    #[test]
    fn empty_results_keep_headers() {
        let (schema, _) = sample();
        assert_eq!(render(OutputFormat::Csv, &schema, &[]), "id,name,amount\n");
        assert_eq!(render(OutputFormat::Json, &schema, &[]), "[]\n");
        assert!(render(OutputFormat::Table, &schema, &[]).contains("amount"));
    }
}
