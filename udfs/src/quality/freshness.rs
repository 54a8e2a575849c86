//! `freshness(ts [, now])` = now − max(ts) and `retention(ts [, now])` = now − min(ts), as
//! `INTERVAL` values. State: the extreme timestamp in nanoseconds since the epoch (UTC).
//! Memory: 9 bytes per group.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, IntervalMonthDayNanoArray};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, FieldRef, Int64Type,
    IntervalMonthDayNano, IntervalUnit, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Signature, Volatility};

use crate::common::{literal_arg, signature, state_field};
use crate::quality::extreme::{ExtremeGroups, ExtremeOf};
use crate::udaf::UdafCore;

const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// Shared implementation: `newest = true` → `freshness`, `false` → `retention`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct AgeUdaf {
    name: &'static str,
    newest: bool,
    signature: Signature,
}

impl AgeUdaf {
    pub(crate) fn new(name: &'static str, newest: bool) -> Self {
        Self {
            name,
            newest,
            signature: signature(
                vec![vec![DataType::Timestamp(TimeUnit::Nanosecond, None)]],
                Volatility::Volatile,
            ),
        }
    }
}

fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    )
}

/// A timestamp / date scalar as nanoseconds since the epoch.
fn scalar_nanos(v: &ScalarValue) -> Option<i64> {
    let arr = v.to_array().ok()?;
    let ns = to_nanos(&arr).ok()?;
    (!ns.is_empty() && ns.is_valid(0)).then(|| ns.value(0))
}

/// Converts a timestamp / date array to nanoseconds since the epoch (UTC instants; a time zone
/// only changes how a value is displayed, not the instant).
fn to_nanos(x: &ArrayRef) -> Result<Int64Array> {
    fn scale<T: ArrowPrimitiveType>(
        x: &ArrayRef,
        k: i64,
        f: impl Fn(T::Native) -> i64,
    ) -> Int64Array {
        x.as_primitive::<T>()
            .unary::<_, Int64Type>(|v| f(v).saturating_mul(k))
    }
    Ok(match x.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            scale::<TimestampSecondType>(x, 1_000_000_000, |v| v)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scale::<TimestampMillisecondType>(x, 1_000_000, |v| v)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            scale::<TimestampMicrosecondType>(x, 1_000, |v| v)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scale::<TimestampNanosecondType>(x, 1, |v| v)
        }
        DataType::Date32 => scale::<Date32Type>(x, NANOS_PER_DAY, i64::from),
        DataType::Date64 => scale::<Date64Type>(x, 1_000_000, |v| v),
        DataType::Null => Int64Array::new_null(x.len()),
        other => return exec_err!("expected a timestamp or date, got {other}"),
    })
}

impl UdafCore for AgeUdaf {
    type Groups = ExtremeGroups<Age>;

    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn check(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_temporal(t) => Ok(arg_types.to_vec()),
            [t, n] if is_temporal(t) && (is_temporal(n) || n.is_null()) => Ok(arg_types.to_vec()),
            _ => plan_err!(
                "{}(ts [, now]) takes a timestamp or date column and optionally a timestamp `now`, got {arg_types:?}",
                self.name
            ),
        }
    }
    fn output_type(&self) -> DataType {
        DataType::Interval(IntervalUnit::MonthDayNano)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![state_field(
            args.name,
            "extreme_ns",
            DataType::Int64,
            true,
        )])
    }
    fn groups(&self, args: &AccumulatorArgs) -> Result<Self::Groups> {
        let now = if args.exprs.len() > 1 {
            let v = literal_arg(args, 1, self.name)?;
            match scalar_nanos(&v) {
                Some(n) => n,
                None => {
                    return plan_err!(
                        "{}: `now` must be a non-NULL timestamp, got {v:?}",
                        self.name
                    );
                }
            }
        } else {
            match SystemTime::now().duration_since(UNIX_EPOCH) {
                Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
                Err(e) => return exec_err!("{}: system clock before 1970: {e}", self.name),
            }
        };
        Ok(ExtremeGroups::new(Age { now }, self.newest))
    }
}

/// The per-row value of `freshness` / `retention`: the timestamp in nanoseconds; evaluates to
/// the age `now - extreme`.
#[derive(Debug)]
pub(crate) struct Age {
    now: i64,
}

/// Nanoseconds as an interval normalised to whole days plus the remaining nanoseconds
/// (months are always 0).
fn interval(ns: i64) -> IntervalMonthDayNano {
    let days = ns.div_euclid(NANOS_PER_DAY);
    let rest = ns.rem_euclid(NANOS_PER_DAY);
    IntervalMonthDayNano::new(0, i32::try_from(days).unwrap_or(i32::MAX), rest)
}

impl ExtremeOf for Age {
    const LABEL: &'static str = "freshness";

    fn values(&self, x: &ArrayRef) -> Result<Int64Array> {
        to_nanos(x)
    }

    fn evaluate(&self, best: Vec<Option<i64>>) -> ArrayRef {
        let now = self.now;
        Arc::new(IntervalMonthDayNanoArray::from_iter(
            best.into_iter()
                .map(|b| b.map(|b| interval(now.saturating_sub(b)))),
        ))
    }
}
