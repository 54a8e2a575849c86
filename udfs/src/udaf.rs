//! What one aggregate of this crate has to say about itself; [`make_udaf!`] turns it into the
//! `AggregateUDFImpl` of the public struct, so the plumbing (coercion through
//! [`lenient`](crate::common::lenient), the single-group adapter, the groups accumulator, the
//! documentation) is written once.
//!
//! [`make_udaf!`]: crate::macros::make_udaf

use std::fmt::Debug;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{GroupsAccumulator, Signature, StatisticsArgs};

use crate::common::Resize;

/// The parts of an aggregate that differ from one function to the next. Every aggregate of
/// this crate coerces through `check`, always supports groups accumulation and evaluates a
/// single group with the same [`GroupsAccumulator`] (see [`crate::common::single`]).
pub(crate) trait UdafCore: Debug + Send + Sync {
    /// The accumulator of one aggregation, for any number of groups.
    type Groups: GroupsAccumulator + Resize + Debug + Sync + 'static;

    /// SQL name.
    fn name(&self) -> &str;

    fn signature(&self) -> &Signature;

    /// Validates the argument types and returns the types they are coerced to; the error is the
    /// planning error the user sees.
    fn check(&self, arg_types: &[DataType]) -> Result<Vec<DataType>>;

    /// The result type, for arguments that passed [`check`](Self::check).
    fn output_type(&self) -> DataType;

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>>;

    /// A fresh accumulator (literal arguments are read here).
    fn groups(&self, args: &AccumulatorArgs) -> Result<Self::Groups>;

    /// As [`AggregateUDFImpl::is_nullable`](datafusion::logical_expr::AggregateUDFImpl::is_nullable).
    fn is_nullable(&self) -> bool {
        true
    }

    /// As [`AggregateUDFImpl::default_value`](datafusion::logical_expr::AggregateUDFImpl::default_value).
    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        ScalarValue::try_from(data_type)
    }

    /// As [`AggregateUDFImpl::value_from_stats`](datafusion::logical_expr::AggregateUDFImpl::value_from_stats).
    fn value_from_stats(&self, _args: &StatisticsArgs) -> Option<ScalarValue> {
        None
    }
}
