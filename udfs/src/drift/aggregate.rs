//! The one implementation behind every drift aggregate: argument checks, result and state
//! types, and the choice of accumulator (numeric or categorical).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{GroupsAccumulator, Signature, Volatility};

use super::categorical::CategoricalGroups;
use super::metric::{Metric, summary_fields};
use super::numeric::NumericGroups;
use super::stats::Binning;
use crate::common::{
    is_categorical, is_integer, is_numeric, literal_string_arg, signature, state_field,
};
use crate::udaf::UdafCore;

/// Shared implementation of every drift aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct DriftUdaf {
    name: &'static str,
    metric: Metric,
    signature: Signature,
}

impl DriftUdaf {
    pub(crate) fn new(name: &'static str, metric: Metric) -> Self {
        Self {
            name,
            metric,
            signature: signature(metric.examples(), Volatility::Immutable),
        }
    }
}

/// Object-safe union of the traits our drift accumulators implement.
pub(crate) trait GroupsAccumulatorExt:
    GroupsAccumulator + crate::common::Resize + Sync
{
}
impl<T: GroupsAccumulator + crate::common::Resize + Sync> GroupsAccumulatorExt for T {}

/// Adapter so a boxed drift accumulator can be used where a concrete type is expected.
#[derive(Debug)]
pub(crate) struct Boxed(Box<dyn GroupsAccumulatorExt>);

impl std::fmt::Debug for dyn GroupsAccumulatorExt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DriftGroupsAccumulator")
    }
}

impl crate::common::Resize for Boxed {
    fn resize(&mut self, n: usize) {
        self.0.resize(n)
    }
    fn evaluate_single(&mut self) -> Result<datafusion::common::ScalarValue> {
        self.0.evaluate_single()
    }
}

impl GroupsAccumulator for Boxed {
    fn update_batch(
        &mut self,
        values: &[datafusion::arrow::array::ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&datafusion::arrow::array::BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.0
            .update_batch(values, group_indices, opt_filter, total_num_groups)
    }
    fn evaluate(
        &mut self,
        emit_to: datafusion::logical_expr::EmitTo,
    ) -> Result<datafusion::arrow::array::ArrayRef> {
        self.0.evaluate(emit_to)
    }
    fn state(
        &mut self,
        emit_to: datafusion::logical_expr::EmitTo,
    ) -> Result<Vec<datafusion::arrow::array::ArrayRef>> {
        self.0.state(emit_to)
    }
    fn merge_batch(
        &mut self,
        values: &[datafusion::arrow::array::ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.0.merge_batch(values, group_indices, total_num_groups)
    }
    fn convert_to_state(
        &self,
        values: &[datafusion::arrow::array::ArrayRef],
        opt_filter: Option<&datafusion::arrow::array::BooleanArray>,
    ) -> Result<Vec<datafusion::arrow::array::ArrayRef>> {
        self.0.convert_to_state(values, opt_filter)
    }
    fn size(&self) -> usize {
        self.0.size()
    }
}

impl UdafCore for DriftUdaf {
    type Groups = Boxed;

    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn check(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name;
        let max_args = if self.metric.binned() { 3 } else { 2 };
        if arg_types.len() < 2 || arg_types.len() > max_args {
            let extra = if max_args == 3 { " [, convention]" } else { "" };
            return plan_err!(
                "{name}(value, is_candidate{extra}) takes {} arguments, got {}",
                if max_args == 3 { "2 or 3" } else { "2" },
                arg_types.len()
            );
        }
        let v = &arg_types[0];
        let ok_value = is_numeric(v) || (self.metric.categorical() && is_categorical(v));
        if !ok_value {
            let expected = if self.metric.categorical() {
                "a numeric, string, boolean or integer-coded categorical"
            } else {
                "a numeric"
            };
            return plan_err!("{name}: `value` must be {expected} column, got {v}");
        }
        if !matches!(arg_types[1], DataType::Boolean | DataType::Null) {
            return plan_err!(
                "{name}: `is_candidate` must be BOOLEAN (false = baseline, true = candidate), got {}",
                arg_types[1]
            );
        }
        let mut out = vec![v.clone(), DataType::Boolean];
        if let Some(c) = arg_types.get(2) {
            if !matches!(
                c,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
            ) {
                return plan_err!("{name}: `convention` must be a string literal, got {c}");
            }
            out.push(DataType::Utf8);
        }
        Ok(out)
    }

    fn output_type(&self) -> DataType {
        if self.metric == Metric::Summary {
            DataType::Struct(summary_fields())
        } else {
            DataType::Float64
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
        let t = args
            .input_fields
            .first()
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Float64);
        if is_numeric(&t) {
            Ok(vec![
                state_field(args.name, "baseline", list(DataType::Float64), true),
                state_field(args.name, "candidate", list(DataType::Float64), true),
            ])
        } else {
            Ok(vec![
                state_field(args.name, "categories", list(DataType::Utf8), true),
                state_field(args.name, "baseline", list(DataType::UInt64), true),
                state_field(args.name, "candidate", list(DataType::UInt64), true),
            ])
        }
    }

    fn groups(&self, args: &AccumulatorArgs) -> Result<Boxed> {
        let name = self.name;
        let conv = if self.metric.binned() {
            literal_string_arg(args, 2, name)?
        } else {
            None
        };
        let Some(binning) = Binning::parse(conv.as_deref()) else {
            return plan_err!(
                "{name}: unknown binning convention {conv:?}; use 'evidently' (default) or 'deciles'"
            );
        };
        let Some(t) = args.expr_fields.first().map(|f| f.data_type().clone()) else {
            return plan_err!("{name} needs (value, is_candidate)");
        };
        if is_numeric(&t) {
            Ok(Boxed(Box::new(NumericGroups::new(
                name,
                self.metric,
                binning,
                is_integer(&t),
            ))))
        } else if self.metric.categorical() && is_categorical(&t) {
            if binning == Binning::Deciles {
                return plan_err!(
                    "{name}: the 'deciles' convention needs a numeric value, got {t}"
                );
            }
            Ok(Boxed(Box::new(CategoricalGroups::new(
                name,
                self.metric,
                binning,
            ))))
        } else {
            plan_err!("{name}: unsupported value type {t}")
        }
    }
}
