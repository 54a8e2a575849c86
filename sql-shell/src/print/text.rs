//! The formats for programs: CSV, TSV, JSON and NDJSON.

use std::io::Write;

use anyhow::Result;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::writer::{JsonArray, LineDelimited};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

/// CSV (RFC 4180 quoting) or TSV. Written by hand rather than with arrow's CSV writer so that
/// nested values (lists, structs; `SHOW FUNCTIONS` has them) print as text instead of failing.
pub fn write_delimited(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    delimiter: u8,
) -> Result<()> {
    let delimiter = char::from(delimiter);
    let field = |text: &str| {
        if text.contains([delimiter, '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_string()
        }
    };
    let separator = delimiter.to_string();
    let header: Vec<String> = schema.fields().iter().map(|f| field(f.name())).collect();
    writeln!(out, "{}", header.join(&separator))?;
    let options = FormatOptions::default().with_null("");
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| field(&f.value(row).to_string()))
                .collect();
            writeln!(out, "{}", cells.join(&separator))?;
        }
    }
    Ok(())
}

pub fn write_json(out: &mut dyn Write, batches: &[RecordBatch]) -> Result<()> {
    let mut writer = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(&mut *out);
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    drop(writer);
    writeln!(out)?;
    Ok(())
}

pub fn write_ndjson(out: &mut dyn Write, batches: &[RecordBatch]) -> Result<()> {
    let mut writer = datafusion::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, LineDelimited>(&mut *out);
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(())
}
