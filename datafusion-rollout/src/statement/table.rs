//! A small builder for the result tables of our statements (`SHOW ...`, `VERIFY`, `VACUUM`).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, StringArray, UInt32Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;

/// Columns added one at a time, each from an iterator over the rows.
#[derive(Default)]
pub(crate) struct Table {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl Table {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn push(mut self, name: &str, data_type: DataType, nullable: bool, column: ArrayRef) -> Self {
        self.fields.push(Field::new(name, data_type, nullable));
        self.columns.push(column);
        self
    }

    /// A text column without nulls.
    pub(crate) fn text<S: AsRef<str>>(self, name: &str, rows: impl IntoIterator<Item = S>) -> Self {
        let column: StringArray = rows
            .into_iter()
            .map(|s| Some(s.as_ref().to_string()))
            .collect();
        self.push(name, DataType::Utf8, false, Arc::new(column))
    }

    /// A text column that may hold nulls.
    pub(crate) fn text_opt<S: AsRef<str>>(
        self,
        name: &str,
        rows: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        let column: StringArray = rows
            .into_iter()
            .map(|s| s.map(|s| s.as_ref().to_string()))
            .collect();
        self.push(name, DataType::Utf8, true, Arc::new(column))
    }

    /// A count column without nulls.
    pub(crate) fn count(self, name: &str, rows: impl IntoIterator<Item = u64>) -> Self {
        let column: UInt64Array = rows.into_iter().map(Some).collect();
        self.push(name, DataType::UInt64, false, Arc::new(column))
    }

    /// A count column that may hold nulls.
    pub(crate) fn count_opt(self, name: &str, rows: impl IntoIterator<Item = Option<u64>>) -> Self {
        let column: UInt64Array = rows.into_iter().collect();
        self.push(name, DataType::UInt64, true, Arc::new(column))
    }

    /// A floating-point column that may hold nulls.
    pub(crate) fn float_opt(self, name: &str, rows: impl IntoIterator<Item = Option<f64>>) -> Self {
        let column: Float64Array = rows.into_iter().collect();
        self.push(name, DataType::Float64, true, Arc::new(column))
    }

    /// A floating-point column without nulls.
    pub(crate) fn float(self, name: &str, rows: impl IntoIterator<Item = f64>) -> Self {
        let column: Float64Array = rows.into_iter().map(Some).collect();
        self.push(name, DataType::Float64, false, Arc::new(column))
    }

    /// A percentage in basis points that may be null.
    pub(crate) fn basis_points_opt(
        self,
        name: &str,
        rows: impl IntoIterator<Item = Option<u32>>,
    ) -> Self {
        let column: UInt32Array = rows.into_iter().collect();
        self.push(name, DataType::UInt32, true, Arc::new(column))
    }

    pub(crate) fn build(self) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(self.fields)),
            self.columns,
        )?)
    }
}
