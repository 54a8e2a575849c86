//! Histograms of two versions of a dataset, column by column, on shared bins: what a drift
//! panel draws beside the statistics of `drift()`.
//!
//! Numeric columns get `bins` equal-width bins over the range of both versions together (the
//! last bin closed, so the maximum falls in it); string and boolean columns their `bins` most
//! frequent values over both versions, the rest counted as one "other" bar. NULLs are counted
//! apart. Each column costs one scan of its values in each version (Parquet reads only that
//! column), numeric ones one more for the range. Give it a session with
//! `rollout.record_reads` off when looking is not consuming (a dashboard).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::functions::expr_fn::floor;
use datafusion::functions_aggregate::expr_fn::{count, max, min};
use datafusion::logical_expr::{Expr, cast, col, lit};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use super::IS_CANDIDATE;
use super::drift_fn::{Kind, shared_columns};
use crate::error::{Error, Result};
use crate::resolve::VersionedTable;
use crate::store::Store;

/// The most bins a histogram may ask for.
pub const MAX_BINS: usize = 200;

/// One column of two versions on shared bins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnHistogram {
    /// The column.
    pub column: String,
    /// Its Arrow type.
    pub data_type: String,
    /// The bins: numeric ranges or values.
    pub bins: Bins,
    /// Rows of the baseline in each bin.
    pub baseline: Vec<u64>,
    /// Rows of the candidate in each bin.
    pub candidate: Vec<u64>,
    /// NULLs in the baseline.
    pub baseline_nulls: u64,
    /// NULLs in the candidate.
    pub candidate_nulls: u64,
}

/// What the bins of a [`ColumnHistogram`] are.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Bins {
    /// Equal-width ranges: bin `i` is `[edges[i], edges[i+1])`, the last one closed. No edges
    /// when neither version has a value.
    Numeric {
        /// `bins + 1` increasing edges (2 when every value is the same).
        edges: Vec<f64>,
    },
    /// The most frequent values, most frequent first; with `other`, a last bin counts the rest.
    Categorical {
        /// The values (booleans as `true`/`false`).
        values: Vec<String>,
        /// Whether the last bin is "every other value".
        other: bool,
    },
}

/// Histograms of the columns `baseline` and `candidate` of `dataset` share (numeric, string
/// and boolean ones), in the dataset's column order, with at most `bins` bins each. `ctx`
/// runs the scans (it must reach the store's object store).
pub async fn histograms(
    ctx: &SessionContext,
    store: &Arc<Store>,
    dataset: &str,
    baseline: &str,
    candidate: &str,
    bins: usize,
) -> Result<Vec<ColumnHistogram>> {
    if !(1..=MAX_BINS).contains(&bins) {
        return Err(Error::InvalidValue {
            what: "number of histogram bins",
            value: bins.to_string(),
            reason: format!("it must be from 1 to {MAX_BINS}"),
        });
    }
    let columns = shared_columns(&store.state(), dataset, baseline, candidate)?;
    let sides = |exprs: Vec<Expr>| -> Result<DataFrame> {
        let side = |version: &str, flag: bool| -> Result<DataFrame> {
            let table = VersionedTable::try_new(Arc::clone(store), dataset, Some(version))?;
            let mut exprs = exprs.clone();
            exprs.push(lit(flag).alias(IS_CANDIDATE));
            Ok(ctx.read_table(Arc::new(table))?.select(exprs)?)
        };
        Ok(side(baseline, false)?.union(side(candidate, true)?)?)
    };
    let quoted = |name: &str| col(format!("\"{}\"", name.replace('"', "\"\"")));

    // The range of every numeric column over both versions, in one scan.
    let numeric: Vec<&String> = columns
        .iter()
        .filter(|(_, _, k)| matches!(k, Kind::Numeric))
        .map(|(n, _, _)| n)
        .collect();
    let mut ranges: HashMap<&str, Option<(f64, f64)>> = HashMap::new();
    if !numeric.is_empty() {
        let exprs = numeric
            .iter()
            .map(|n| cast(quoted(n), DataType::Float64).alias(n.as_str()))
            .collect();
        let mut aggregates = Vec::new();
        for (i, n) in numeric.iter().enumerate() {
            aggregates.push(min(quoted(n)).alias(format!("min{i}")));
            aggregates.push(max(quoted(n)).alias(format!("max{i}")));
        }
        let batches = sides(exprs)?
            .aggregate(vec![], aggregates)?
            .collect()
            .await?;
        for (i, n) in numeric.iter().enumerate() {
            let value = |name: String| {
                batches.iter().find_map(|b| {
                    let a = b.column_by_name(&name)?.as_primitive_opt::<Float64Type>()?;
                    (a.len() == 1 && a.is_valid(0)).then(|| a.value(0))
                })
            };
            let range = value(format!("min{i}")).zip(value(format!("max{i}")));
            ranges.insert(
                n.as_str(),
                range.filter(|(a, b)| a.is_finite() && b.is_finite()),
            );
        }
    }

    let mut out = Vec::with_capacity(columns.len());
    for (name, data_type, kind) in &columns {
        let histogram = match kind {
            Kind::Numeric => {
                let range = ranges.get(name.as_str()).copied().flatten();
                numeric_histogram(&sides, quoted(name), range, bins).await?
            }
            Kind::Categorical => categorical_histogram(&sides, quoted(name), bins).await?,
        };
        let (bins, counts, nulls) = histogram;
        let [baseline, candidate] = counts;
        let [baseline_nulls, candidate_nulls] = nulls;
        out.push(ColumnHistogram {
            column: name.clone(),
            data_type: data_type.to_string(),
            bins,
            baseline,
            candidate,
            baseline_nulls,
            candidate_nulls,
        });
    }
    Ok(out)
}

/// The bins, the counts of each side, the NULLs of each side.
type Counted = (Bins, [Vec<u64>; 2], [u64; 2]);

/// Rows per (side, key) of a grouped count: the key column as text, or as a bucket number.
async fn grouped(frame: DataFrame) -> Result<Vec<(bool, Option<String>, Option<i64>, u64)>> {
    let mut rows = Vec::new();
    for batch in frame.collect().await? {
        let side = batch.column(0).as_boolean();
        let key = batch.column(1);
        let n = batch.column(2).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            let (text, bucket) = if key.is_null(i) {
                (None, None)
            } else if let Some(k) = key.as_primitive_opt::<Int64Type>() {
                (None, Some(k.value(i)))
            } else {
                let k = key.as_string_opt::<i32>().ok_or_else(|| {
                    Error::internal(format!("histogram key of type {}", key.data_type()))
                })?;
                (Some(k.value(i).to_string()), None)
            };
            rows.push((side.value(i), text, bucket, n.value(i).max(0) as u64));
        }
    }
    Ok(rows)
}

async fn numeric_histogram(
    sides: &impl Fn(Vec<Expr>) -> Result<DataFrame>,
    value: Expr,
    range: Option<(f64, f64)>,
    bins: usize,
) -> Result<Counted> {
    let Some((lo, hi)) = range else {
        // No value on either side: only NULLs to count.
        let rows = grouped(
            sides(vec![lit(ScalarValue::Int64(None)).alias("k")])?.aggregate(
                vec![col(IS_CANDIDATE), col("k")],
                vec![count(lit(1)).alias("n")],
            )?,
        )
        .await?;
        let mut nulls = [0, 0];
        for (side, _, _, n) in rows {
            nulls[usize::from(side)] += n;
        }
        return Ok((Bins::Numeric { edges: vec![] }, [vec![], vec![]], nulls));
    };
    let bins = if hi > lo { bins } else { 1 };
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let x = cast(value, DataType::Float64);
    let bucket = cast(floor((x - lit(lo)) / lit(width)), DataType::Int64).alias("k");
    let rows = grouped(sides(vec![bucket])?.aggregate(
        vec![col(IS_CANDIDATE), col("k")],
        vec![count(lit(1)).alias("n")],
    )?)
    .await?;
    let mut counts = [vec![0; bins], vec![0; bins]];
    let mut nulls = [0, 0];
    for (side, _, bucket, n) in rows {
        let side = usize::from(side);
        match bucket {
            // NaN casts to NULL too; the maximum lands on `bins`, in the closed last bin.
            None => nulls[side] += n,
            Some(b) => counts[side][(b.max(0) as usize).min(bins - 1)] += n,
        }
    }
    // The last edge is the maximum itself (not lo + bins * width, which rounding may move).
    let edges = (0..=bins)
        .map(|i| if i == bins { hi } else { lo + width * i as f64 })
        .collect();
    Ok((Bins::Numeric { edges }, counts, nulls))
}

async fn categorical_histogram(
    sides: &impl Fn(Vec<Expr>) -> Result<DataFrame>,
    value: Expr,
    bins: usize,
) -> Result<Counted> {
    let key = cast(value, DataType::Utf8).alias("k");
    let rows = grouped(sides(vec![key])?.aggregate(
        vec![col(IS_CANDIDATE), col("k")],
        vec![count(lit(1)).alias("n")],
    )?)
    .await?;
    let mut nulls = [0, 0];
    let mut by_value: HashMap<String, [u64; 2]> = HashMap::new();
    for (side, text, _, n) in rows {
        let side = usize::from(side);
        match text {
            None => nulls[side] += n,
            Some(t) => by_value.entry(t).or_default()[side] += n,
        }
    }
    let mut ranked: Vec<(String, [u64; 2])> = by_value.into_iter().collect();
    // Most rows over both versions first; ties by value, so the order is the same every time.
    ranked.sort_by(|a, b| {
        (b.1[0] + b.1[1])
            .cmp(&(a.1[0] + a.1[1]))
            .then_with(|| a.0.cmp(&b.0))
    });
    let other = ranked.len() > bins;
    let rest: [u64; 2] = ranked
        .iter()
        .skip(bins)
        .fold([0, 0], |acc, (_, n)| [acc[0] + n[0], acc[1] + n[1]]);
    ranked.truncate(bins);
    let mut counts = [
        ranked.iter().map(|(_, n)| n[0]).collect::<Vec<_>>(),
        ranked.iter().map(|(_, n)| n[1]).collect::<Vec<_>>(),
    ];
    if other {
        counts[0].push(rest[0]);
        counts[1].push(rest[1]);
    }
    let values = ranked.into_iter().map(|(v, _)| v).collect();
    Ok((Bins::Categorical { values, other }, counts, nulls))
}
