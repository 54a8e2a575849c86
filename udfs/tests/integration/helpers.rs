//! Shared test helpers: contexts, in-memory tables, scalar queries.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::scalar::ScalarValue;

pub fn ctx_with(target_partitions: usize) -> SessionContext {
    let cfg = SessionConfig::new()
        .with_target_partitions(target_partitions)
        .with_information_schema(true);
    let ctx = SessionContext::new_with_config(cfg);
    datafusion_rollout_udfs::register_all(&ctx).unwrap();
    ctx
}

pub fn ctx() -> SessionContext {
    ctx_with(4)
}

/// A value column of one of the golden types.
#[derive(Clone, Debug)]
pub enum Values {
    F64(Vec<Option<f64>>),
    I64(Vec<Option<i64>>),
    Str(Vec<Option<String>>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::F64(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::Str(v) => v.len(),
        }
    }
    fn slice(&self, a: usize, b: usize) -> ArrayRef {
        match self {
            Values::F64(v) => Arc::new(Float64Array::from(v[a..b].to_vec())),
            Values::I64(v) => Arc::new(Int64Array::from(v[a..b].to_vec())),
            Values::Str(v) => Arc::new(StringArray::from(v[a..b].to_vec())),
        }
    }
    fn data_type(&self) -> DataType {
        match self {
            Values::F64(_) => DataType::Float64,
            Values::I64(_) => DataType::Int64,
            Values::Str(_) => DataType::Utf8,
        }
    }
    pub fn concat(a: &Values, b: &Values) -> Values {
        match (a, b) {
            (Values::F64(x), Values::F64(y)) => Values::F64([x.clone(), y.clone()].concat()),
            (Values::I64(x), Values::I64(y)) => Values::I64([x.clone(), y.clone()].concat()),
            (Values::Str(x), Values::Str(y)) => Values::Str([x.clone(), y.clone()].concat()),
            _ => panic!("mixed types"),
        }
    }
}

/// Schema `(v, c BOOLEAN)`.
pub fn schema(v: &Values) -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("v", v.data_type(), true),
        Field::new("c", DataType::Boolean, true),
    ]))
}

/// Record batches of at most `batch` rows, with the flag column.
pub fn batches(v: &Values, flags: &[bool], batch: usize) -> Vec<RecordBatch> {
    let s = schema(v);
    let n = v.len();
    let mut out = Vec::new();
    let mut a = 0;
    while a < n {
        let b = (a + batch).min(n);
        let c: ArrayRef = Arc::new(BooleanArray::from(flags[a..b].to_vec()));
        out.push(RecordBatch::try_new(Arc::clone(&s), vec![v.slice(a, b), c]).unwrap());
        a = b;
    }
    out
}

/// Registers `name` as an in-memory table (baseline rows first, then candidate rows), spread
/// over `partitions` partitions of batches of `batch` rows.
pub fn register_pooled(
    ctx: &SessionContext,
    name: &str,
    base: &Values,
    cand: &Values,
    partitions: usize,
    batch: usize,
) {
    let v = Values::concat(base, cand);
    let flags: Vec<bool> = (0..v.len()).map(|i| i >= base.len()).collect();
    let all = batches(&v, &flags, batch);
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
    for (i, b) in all.into_iter().enumerate() {
        parts[i % partitions].push(b);
    }
    let t = MemTable::try_new(schema(&v), parts).unwrap();
    let _ = ctx.deregister_table(name);
    ctx.register_table(name, Arc::new(t)).unwrap();
}

pub async fn scalar(ctx: &SessionContext, sql: &str) -> ScalarValue {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let b = batches.iter().find(|b| b.num_rows() > 0).expect("one row");
    ScalarValue::try_from_array(b.column(0), 0).unwrap()
}

pub async fn f64_of(ctx: &SessionContext, sql: &str) -> f64 {
    match scalar(ctx, sql).await {
        ScalarValue::Float64(Some(v)) => v,
        other => panic!("{sql}: expected a DOUBLE, got {other:?}"),
    }
}

pub async fn error_of(ctx: &SessionContext, sql: &str) -> String {
    match ctx.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(df) => match df.collect().await {
            Err(e) => e.to_string(),
            Ok(b) => panic!("{sql}: expected an error, got {b:?}"),
        },
    }
}

/// `a` equals `b` to `rel` relative (NaN = NaN, inf = inf, 0 = 0 within 1e-300).
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= rel * b.abs() || (a - b).abs() <= 1e-300
}
