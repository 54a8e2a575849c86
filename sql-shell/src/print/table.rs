//! The formats for people: a bordered table, one block per record, and markdown.

use std::io::Write;

use anyhow::Result;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// Below this terminal width, wrapping cells makes tables unreadable: let them overflow.
const MIN_WRAP_WIDTH: u16 = 40;

/// Calls `row` with the formatted cells of every row, NULL shown as `null`.
fn for_each_row(
    batches: &[RecordBatch],
    null: &str,
    mut row: impl FnMut(Vec<String>) -> Result<()>,
) -> Result<()> {
    let options = FormatOptions::default().with_null(null);
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for index in 0..batch.num_rows() {
            row(formatters
                .iter()
                .map(|f| f.value(index).to_string())
                .collect())?;
        }
    }
    Ok(())
}

/// Builds the comfy-table for `batches`; numbers are right-aligned.
pub fn render_table(schema: &SchemaRef, batches: &[RecordBatch], null: &str) -> Result<Table> {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
    // Wrap to the terminal's width, unless it reports none or a useless one (a bare pty).
    if table.width().is_some_and(|width| width >= MIN_WRAP_WIDTH) {
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    for_each_row(batches, null, |cells| {
        table.add_row(cells.into_iter().map(Cell::new));
        Ok(())
    })?;
    for (index, field) in schema.fields().iter().enumerate() {
        if is_numeric(field.data_type())
            && let Some(column) = table.column_mut(index)
        {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    Ok(table)
}

/// psql's expanded display: a `-[ RECORD n ]` rule, then `column | value` per line.
pub fn write_expanded(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    null: &str,
) -> Result<()> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut record = 0;
    for_each_row(batches, null, |cells| {
        record += 1;
        let rule = format!("-[ RECORD {record} ]");
        writeln!(
            out,
            "{rule}{}",
            "-".repeat((width + 3).saturating_sub(rule.len()))
        )?;
        for (name, value) in names.iter().zip(cells) {
            let mut lines = value.lines();
            writeln!(out, "{name:<width$} | {}", lines.next().unwrap_or_default())?;
            for more in lines {
                writeln!(out, "{:<width$} | {more}", "")?;
            }
        }
        Ok(())
    })?;
    if record == 0 {
        writeln!(out, "(no rows)")?;
    }
    Ok(())
}

/// A GitHub-flavoured markdown table; numeric columns right-aligned, `|` escaped.
pub fn write_markdown(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    null: &str,
) -> Result<()> {
    let escape = |text: &str| text.replace('|', "\\|").replace('\n', "<br>");
    let header: Vec<String> = schema.fields().iter().map(|f| escape(f.name())).collect();
    writeln!(out, "| {} |", header.join(" | "))?;
    let rule: Vec<&str> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_numeric(f.data_type()) {
                "---:"
            } else {
                "---"
            }
        })
        .collect();
    writeln!(out, "|{}|", rule.join("|"))?;
    for_each_row(batches, null, |cells| {
        let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
        Ok(())
    })
}

fn is_numeric(data_type: &DataType) -> bool {
    data_type.is_numeric()
        || matches!(data_type, DataType::Dictionary(_, value) if value.is_numeric())
}
