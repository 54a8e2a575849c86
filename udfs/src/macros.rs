//! The one crate-private macro that turns an implementation type into a public function.
//!
//! Pattern of DataFusion's `functions-aggregate/src/macros.rs`: every SQL function gets
//! - a public struct `UpperCamel` (a thin wrapper around a shared implementation type),
//! - a singleton accessor `snake_case_udaf()`,
//! - an `expr_fn::snake_case(..)` builder (re-exported from [`crate::expr_fn`]),
//! - its [`Documentation`](datafusion::logical_expr::Documentation), built once.

/// `make_udaf!(Struct, sql_name, sql_name_udaf, Inner(ctor args..), doc_fn, (arg, ..))`
///
/// `Inner` must implement [`UdafCore`](crate::udaf::UdafCore) (everything that differs between
/// functions) and have `fn new(name: &'static str, ..) -> Self`; the `AggregateUDFImpl` is
/// written here once: coercion through `check` + [`lenient`](crate::common::lenient), a
/// groups accumulator always, the single-group accumulator through
/// [`single`](crate::common::single).
/// `doc_fn` is an expression of type `Documentation`, evaluated once.
/// The argument list is either fixed identifiers `(value, is_candidate)` or `(..)` for variadic.
macro_rules! make_udaf {
    (@common $Struct:ident, $name:ident, $udaf_fn:ident, $Inner:ident ($($ctor:expr),*), $doc:expr) => {
        #[doc = concat!("The `", stringify!($name), "` aggregate function (see its SQL documentation in `docs/functions.md`).")]
        #[derive(Debug, PartialEq, Eq, Hash)]
        pub struct $Struct($Inner);

        impl Default for $Struct {
            fn default() -> Self {
                Self($Inner::new(stringify!($name) $(, $ctor)*))
            }
        }

        impl datafusion::logical_expr::AggregateUDFImpl for $Struct {
            fn name(&self) -> &str {
                crate::udaf::UdafCore::name(&self.0)
            }
            fn signature(&self) -> &datafusion::logical_expr::Signature {
                crate::udaf::UdafCore::signature(&self.0)
            }
            fn return_type(
                &self,
                arg_types: &[datafusion::arrow::datatypes::DataType],
            ) -> datafusion::error::Result<datafusion::arrow::datatypes::DataType> {
                crate::udaf::UdafCore::check(&self.0, arg_types)?;
                Ok(crate::udaf::UdafCore::output_type(&self.0))
            }
            fn is_nullable(&self) -> bool {
                crate::udaf::UdafCore::is_nullable(&self.0)
            }
            fn default_value(
                &self,
                data_type: &datafusion::arrow::datatypes::DataType,
            ) -> datafusion::error::Result<datafusion::scalar::ScalarValue> {
                crate::udaf::UdafCore::default_value(&self.0, data_type)
            }
            fn coerce_types(
                &self,
                arg_types: &[datafusion::arrow::datatypes::DataType],
            ) -> datafusion::error::Result<Vec<datafusion::arrow::datatypes::DataType>> {
                crate::common::lenient(crate::udaf::UdafCore::check(&self.0, arg_types), arg_types)
            }
            fn accumulator(
                &self,
                args: datafusion::logical_expr::function::AccumulatorArgs,
            ) -> datafusion::error::Result<Box<dyn datafusion::logical_expr::Accumulator>> {
                Ok(crate::common::single(crate::udaf::UdafCore::groups(&self.0, &args)?))
            }
            fn state_fields(
                &self,
                args: datafusion::logical_expr::function::StateFieldsArgs,
            ) -> datafusion::error::Result<Vec<datafusion::arrow::datatypes::FieldRef>> {
                crate::udaf::UdafCore::state_fields(&self.0, args)
            }
            fn groups_accumulator_supported(
                &self,
                _args: datafusion::logical_expr::function::AccumulatorArgs,
            ) -> bool {
                true
            }
            fn create_groups_accumulator(
                &self,
                args: datafusion::logical_expr::function::AccumulatorArgs,
            ) -> datafusion::error::Result<Box<dyn datafusion::logical_expr::GroupsAccumulator>> {
                Ok(Box::new(crate::udaf::UdafCore::groups(&self.0, &args)?))
            }
            fn value_from_stats(
                &self,
                args: &datafusion::logical_expr::StatisticsArgs,
            ) -> Option<datafusion::scalar::ScalarValue> {
                crate::udaf::UdafCore::value_from_stats(&self.0, args)
            }
            fn documentation(&self) -> Option<&datafusion::logical_expr::Documentation> {
                static DOC: std::sync::LazyLock<datafusion::logical_expr::Documentation> =
                    std::sync::LazyLock::new(|| $doc);
                Some(&DOC)
            }
        }

        #[doc = concat!("Singleton [`AggregateUDF`](datafusion::logical_expr::AggregateUDF) for `", stringify!($name), "`.")]
        pub fn $udaf_fn() -> std::sync::Arc<datafusion::logical_expr::AggregateUDF> {
            static INSTANCE: std::sync::LazyLock<std::sync::Arc<datafusion::logical_expr::AggregateUDF>> =
                std::sync::LazyLock::new(|| {
                    std::sync::Arc::new(datafusion::logical_expr::AggregateUDF::from($Struct::default()))
                });
            std::sync::Arc::clone(&INSTANCE)
        }
    };
    ($Struct:ident, $name:ident, $udaf_fn:ident, $Inner:ident ($($ctor:expr),*), $doc:expr, (..)) => {
        make_udaf!(@common $Struct, $name, $udaf_fn, $Inner ($($ctor),*), $doc);

        #[doc = concat!("Builds a call to `", stringify!($name), "` (variadic).")]
        pub fn $name(args: Vec<datafusion::logical_expr::Expr>) -> datafusion::logical_expr::Expr {
            $udaf_fn().call(args)
        }
    };
    ($Struct:ident, $name:ident, $udaf_fn:ident, $Inner:ident ($($ctor:expr),*), $doc:expr, ($($arg:ident),*)) => {
        make_udaf!(@common $Struct, $name, $udaf_fn, $Inner ($($ctor),*), $doc);

        #[doc = concat!("Builds a call to `", stringify!($name), "(", stringify!($($arg),*), ")`.")]
        pub fn $name($($arg: datafusion::logical_expr::Expr),*) -> datafusion::logical_expr::Expr {
            $udaf_fn().call(vec![$($arg),*])
        }
    };
}

pub(crate) use make_udaf;
