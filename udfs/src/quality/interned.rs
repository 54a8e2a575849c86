//! The keys of `distinct_count` / `duplicate_count` that are not one or two numbers.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, UInt64Array};
use datafusion::arrow::compute::{filter, not};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::error::Result;
use datafusion::logical_expr::EmitTo;
use datafusion::physical_plan::aggregates::group_values::{GroupValues, new_group_values};
use datafusion::physical_plan::aggregates::order::GroupOrdering;

/// Keys that are not one or two numbers (three or more columns, text, dates, ...): interned by
/// DataFusion's group-values machinery, the one its `GROUP BY` and `count(DISTINCT)` use, keyed
/// by (this aggregate's group, key columns): the keys live in its column buffers, with no
/// allocation per key.
pub(crate) struct Interned {
    schema: SchemaRef,
    /// (`GroupValues` is `Send` but not `Sync`; only ever used through `&mut`.)
    pub(crate) values: Mutex<Box<dyn GroupValues>>,
    /// Distinct keys per group.
    pub(crate) distinct: Vec<u64>,
    pub(crate) ids: Vec<usize>,
}

impl std::fmt::Debug for Interned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interned")
            .field("keys", &self.values.lock().map(|v| v.len()).unwrap_or(0))
            .field("groups", &self.distinct.len())
            .finish()
    }
}

impl Interned {
    pub(crate) fn new(key_types: &[DataType]) -> Result<Self> {
        let mut fields = vec![Field::new("group", DataType::UInt64, false)];
        fields.extend(
            key_types
                .iter()
                .enumerate()
                .map(|(i, t)| Field::new(format!("k{i}"), t.clone(), true)),
        );
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        Ok(Self {
            values: Mutex::new(new_group_values(Arc::clone(&schema), &GroupOrdering::None)?),
            schema,
            distinct: Vec::new(),
            ids: Vec::new(),
        })
    }

    /// Adds complete keys (no NULL), each with the group it belongs to.
    pub(crate) fn add(&mut self, groups: Vec<u64>, keys: &[ArrayRef]) -> Result<()> {
        if groups.is_empty() {
            return Ok(());
        }
        let values = self.values.get_mut().unwrap_or_else(|p| p.into_inner());
        let before = values.len();
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(keys.len() + 1);
        cols.push(Arc::new(UInt64Array::from(groups)));
        cols.extend(keys.iter().cloned());
        values.intern(&cols, &mut self.ids)?;
        let groups = cols[0].as_primitive::<UInt64Type>().values();
        let mut counted = vec![false; values.len() - before];
        for (&id, &g) in self.ids.iter().zip(groups.iter()) {
            if let Some(seen) = id.checked_sub(before).and_then(|i| counted.get_mut(i))
                && !*seen
            {
                *seen = true;
                self.distinct[g as usize] += 1;
            }
        }
        Ok(())
    }

    /// Takes every key out: (group, key columns).
    fn take_all(&mut self) -> Result<(Vec<u64>, Vec<ArrayRef>)> {
        let values = self.values.get_mut().unwrap_or_else(|p| p.into_inner());
        if values.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut cols = values.emit(EmitTo::All)?;
        *values = new_group_values(Arc::clone(&self.schema), &GroupOrdering::None)?;
        let groups = cols.remove(0);
        Ok((groups.as_primitive::<UInt64Type>().values().to_vec(), cols))
    }

    /// Removes the first `n` groups (or all): their keys as (group, key columns), the groups
    /// after them renumbered from 0.
    pub(crate) fn take_groups(&mut self, emit_to: EmitTo) -> Result<(Vec<u64>, Vec<ArrayRef>)> {
        let (groups, keys) = self.take_all()?;
        let n = match emit_to {
            EmitTo::All => {
                self.distinct.clear();
                return Ok((groups, keys));
            }
            EmitTo::First(n) => n as u64,
        };
        self.distinct.drain(..(n as usize).min(self.distinct.len()));
        let taken = BooleanArray::from_iter(groups.iter().map(|&g| Some(g < n)));
        let kept = not(&taken)?;
        let pick = |mask: &BooleanArray| -> Result<Vec<ArrayRef>> {
            keys.iter()
                .map(|k| Ok(filter(k, mask)?))
                .collect::<Result<Vec<_>>>()
        };
        let (out_keys, rest_keys) = (pick(&taken)?, pick(&kept)?);
        let out_groups: Vec<u64> = groups.iter().copied().filter(|&g| g < n).collect();
        let rest_groups: Vec<u64> = groups.iter().filter(|&&g| g >= n).map(|g| g - n).collect();
        // Re-interning the rest counts each of its keys once more: undo that.
        let before: Vec<u64> = std::mem::take(&mut self.distinct);
        self.distinct = vec![0; before.len()];
        self.add(rest_groups, &rest_keys)?;
        debug_assert_eq!(self.distinct, before);
        self.distinct = before;
        Ok((out_groups, out_keys))
    }
}
