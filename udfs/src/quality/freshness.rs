//! `freshness(ts [, now])` = now − max(ts) and `retention(ts [, now])` = now − min(ts), as
//! `INTERVAL` values. State: the extreme timestamp in nanoseconds since the epoch (UTC).
//! Memory: 9 bytes per group.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, IntervalMonthDayNanoArray,
};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, FieldRef, Int64Type, IntervalMonthDayNano,
    IntervalUnit, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator, Signature, Volatility};

use crate::common::{Resize, for_each_row, literal_arg, signature};
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
    to_nanos(&arr).ok()?.first().copied().flatten()
}

/// Converts a timestamp / date array to nanoseconds since the epoch (UTC instants; a time zone
/// only changes how a value is displayed, not the instant).
fn to_nanos(x: &ArrayRef) -> Result<Vec<Option<i64>>> {
    fn scale<T: datafusion::arrow::datatypes::ArrowPrimitiveType>(
        x: &ArrayRef,
        k: i64,
        f: impl Fn(T::Native) -> i64,
    ) -> Vec<Option<i64>> {
        x.as_primitive::<T>()
            .iter()
            .map(|v| v.map(|v| f(v).saturating_mul(k)))
            .collect()
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
        DataType::Null => vec![None; x.len()],
        other => return exec_err!("expected a timestamp or date, got {other}"),
    })
}

impl UdafCore for AgeUdaf {
    type Groups = AgeGroups;

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
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "extreme_ns"),
            DataType::Int64,
            true,
        ))])
    }
    fn groups(&self, args: &AccumulatorArgs) -> Result<AgeGroups> {
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
        Ok(AgeGroups {
            newest: self.newest,
            now,
            best: Vec::new(),
        })
    }
}

#[derive(Debug)]
pub(crate) struct AgeGroups {
    newest: bool,
    now: i64,
    best: Vec<Option<i64>>,
}

impl AgeGroups {
    #[inline]
    fn offer(newest: bool, slot: &mut Option<i64>, v: i64) {
        *slot = Some(match *slot {
            None => v,
            Some(b) if newest => b.max(v),
            Some(b) => b.min(v),
        });
    }
}

impl Resize for AgeGroups {
    fn resize(&mut self, n: usize) {
        if self.best.len() < n {
            self.best.resize(n, None);
        }
    }
}

/// Nanoseconds as an interval normalised to whole days plus the remaining nanoseconds
/// (months are always 0).
fn interval(ns: i64) -> IntervalMonthDayNano {
    let days = ns.div_euclid(NANOS_PER_DAY);
    let rest = ns.rem_euclid(NANOS_PER_DAY);
    IntervalMonthDayNano::new(0, i32::try_from(days).unwrap_or(i32::MAX), rest)
}

impl GroupsAccumulator for AgeGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let Some(x) = values.first() else {
            return exec_err!("freshness called without input");
        };
        let ns = to_nanos(x)?;
        let newest = self.newest;
        let best = &mut self.best;
        for_each_row(group_indices, opt_filter, |row, g| {
            if let Some(v) = ns[row] {
                Self::offer(newest, &mut best[g], v);
            }
        });
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let now = self.now;
        let best = emit_to.take_needed(&mut self.best);
        Ok(Arc::new(IntervalMonthDayNanoArray::from_iter(
            best.into_iter()
                .map(|b| b.map(|b| interval(now.saturating_sub(b)))),
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![Arc::new(Int64Array::from(
            emit_to.take_needed(&mut self.best),
        ))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.resize(total_num_groups);
        let Some(s) = values.first() else {
            return exec_err!("freshness: missing state");
        };
        let s = s.as_primitive::<Int64Type>();
        for (row, &g) in group_indices.iter().enumerate() {
            if s.is_valid(row) {
                Self::offer(self.newest, &mut self.best[g], s.value(row));
            }
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let Some(x) = values.first() else {
            return exec_err!("freshness called without input");
        };
        let ns = to_nanos(x)?;
        let out: Int64Array = ns
            .into_iter()
            .enumerate()
            .map(|(row, v)| {
                v.filter(|_| opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row)))
            })
            .collect();
        Ok(vec![Arc::new(out)])
    }

    fn size(&self) -> usize {
        self.best.capacity() * size_of::<Option<i64>>() + size_of::<Self>()
    }
}
