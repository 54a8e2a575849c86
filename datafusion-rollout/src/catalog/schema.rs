//! Column lists as stored in the log, and the rules for evolving them across versions.
//!
//! A version may add nullable columns (older versions read them as NULL). Dropping or
//! renaming a column, changing its type (other than a lossless widening), or making a nullable
//! column NOT NULL is a breaking change and refused at registration.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One column as stored in the log; the type is arrow's textual form (`Int64`, `Utf8`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// The column's name.
    pub name: String,
    /// Arrow's textual form of its type (`Int64`, `Timestamp(Microsecond, None)`).
    pub data_type: String,
    /// Whether it may hold NULL.
    pub nullable: bool,
}

/// The stored column list of an arrow schema (metadata is not kept).
pub fn columns_from_schema(schema: &Schema) -> Vec<ColumnDef> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnDef {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
        })
        .collect()
}

/// The arrow schema of a stored column list.
pub fn schema_from_columns(columns: &[ColumnDef]) -> Result<SchemaRef> {
    let fields = columns
        .iter()
        .map(|c| {
            let data_type: DataType =
                c.data_type
                    .parse()
                    .map_err(
                        |e: datafusion::arrow::error::ArrowError| Error::UnsupportedType {
                            column: c.name.clone(),
                            data_type: c.data_type.clone(),
                            reason: e.to_string(),
                        },
                    )?;
            Ok(Field::new(&c.name, data_type, c.nullable))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// Every change in `new` that would break a reader of `current`; empty when compatible.
///
/// Nullability is compared with `previous` (the latest version's own columns) when given: a
/// column that version had nullable may not become NOT NULL. A column the dataset only reads as
/// nullable because older versions lack it is not held to that.
pub fn check_compatible(
    current: &[ColumnDef],
    new: &[ColumnDef],
    previous: Option<&[ColumnDef]>,
) -> Vec<String> {
    let mut breaking = Vec::new();
    for old in current {
        match new.iter().find(|c| c.name == old.name) {
            None => {
                let similar = new
                    .iter()
                    .find(|c| {
                        !current.iter().any(|o| o.name == c.name) && c.data_type == old.data_type
                    })
                    .map(|c| format!(" (renamed to '{}'?)", c.name))
                    .unwrap_or_default();
                breaking.push(format!("column '{}' was dropped{similar}", old.name));
            }
            Some(c) => {
                if c.data_type != old.data_type && !is_widening(&old.data_type, &c.data_type) {
                    breaking.push(format!(
                        "column '{}' changed type from {} to {}",
                        old.name, old.data_type, c.data_type
                    ));
                }
                let was_nullable = match previous {
                    Some(prev) => prev.iter().any(|p| p.name == old.name && p.nullable),
                    None => old.nullable,
                };
                if was_nullable && !c.nullable {
                    breaking.push(format!(
                        "column '{}' changed from nullable to NOT NULL",
                        old.name
                    ));
                }
            }
        }
    }
    breaking
}

/// The reader schema after adding `new`: existing columns keep their place, widened types win,
/// new columns are appended and nullable (older versions read them as NULL).
pub fn merge_schema(current: &[ColumnDef], new: &[ColumnDef]) -> Vec<ColumnDef> {
    let first_version = current.is_empty();
    let mut merged: Vec<ColumnDef> = current
        .iter()
        .map(|old| match new.iter().find(|c| c.name == old.name) {
            Some(c) => ColumnDef {
                name: old.name.clone(),
                data_type: c.data_type.clone(),
                nullable: old.nullable || c.nullable,
            },
            None => old.clone(),
        })
        .collect();
    for c in new {
        if !merged.iter().any(|m| m.name == c.name) {
            merged.push(ColumnDef {
                nullable: c.nullable || !first_version,
                ..c.clone()
            });
        }
    }
    merged
}

/// Lossless widenings that readers of older versions can follow by casting.
fn is_widening(from: &str, to: &str) -> bool {
    const INTS: [&str; 4] = ["Int8", "Int16", "Int32", "Int64"];
    const UINTS: [&str; 4] = ["UInt8", "UInt16", "UInt32", "UInt64"];
    let rank = |list: &[&str], t: &str| list.iter().position(|x| *x == t);
    if let (Some(a), Some(b)) = (rank(&INTS, from), rank(&INTS, to)) {
        return b > a;
    }
    if let (Some(a), Some(b)) = (rank(&UINTS, from), rank(&UINTS, to)) {
        return b > a;
    }
    matches!((from, to), ("Float32", "Float64") | ("Utf8", "LargeUtf8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: &str, nullable: bool) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            data_type: t.into(),
            nullable,
        }
    }

    #[test]
    fn additive_nullable_columns_are_compatible() {
        let v1 = vec![col("id", "Int64", false), col("amount", "Float64", true)];
        let v2 = vec![
            col("id", "Int64", false),
            col("amount", "Float64", true),
            col("note", "Utf8", true),
        ];
        assert!(check_compatible(&v1, &v2, None).is_empty());
        let merged = merge_schema(&v1, &v2);
        assert_eq!(merged.len(), 3);
        assert!(merged[2].nullable);
    }

    #[test]
    fn breaking_changes_are_listed() {
        let v1 = vec![
            col("id", "Int64", true),
            col("amount", "Float64", true),
            col("name", "Utf8", true),
        ];
        let v2 = vec![
            col("id", "Int32", false),
            col("amount_eur", "Float64", true),
            col("name", "Utf8", true),
        ];
        let changes = check_compatible(&v1, &v2, None);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes[0].contains("Int64 to Int32"));
        assert!(changes[1].contains("nullable to NOT NULL"));
        assert!(changes[2].contains("renamed to 'amount_eur'"));
    }

    #[test]
    fn widening_is_allowed() {
        let v1 = vec![col("n", "Int32", true)];
        let v2 = vec![col("n", "Int64", true)];
        assert!(check_compatible(&v1, &v2, None).is_empty());
        assert_eq!(merge_schema(&v1, &v2)[0].data_type, "Int64");
    }

    #[test]
    fn types_round_trip_through_text() {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new(
                "b",
                DataType::Timestamp(
                    datafusion::arrow::datatypes::TimeUnit::Microsecond,
                    Some("UTC".into()),
                ),
                true,
            ),
            Field::new("c", DataType::Decimal128(12, 2), true),
            Field::new("d", DataType::Utf8View, true),
            Field::new("e", DataType::Date32, true),
        ]);
        let back = schema_from_columns(&columns_from_schema(&schema)).unwrap();
        assert_eq!(back.as_ref(), &schema);
    }
}
