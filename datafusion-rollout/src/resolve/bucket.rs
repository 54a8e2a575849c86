//! Stable percentage bucketing of consumers, and `rollout_bucket(consumer, salt)` in SQL.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, StringArray, UInt32Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, TypeSignature, Volatility,
};

use crate::catalog::BucketHash;

/// Number of buckets: a bucket is a basis point of the consumer population.
pub const BUCKETS: u32 = 10_000;

/// `murmur3_x86_32("{salt}:{consumer}", seed 0) mod 10000`.
pub fn bucket(salt: &str, consumer: &str) -> u32 {
    let key = format!("{salt}:{consumer}");
    // Reading from a byte slice cannot fail.
    let hash = murmur3::murmur3_32(&mut key.as_bytes(), 0).unwrap_or(0);
    hash % BUCKETS
}

/// The bucket of `consumer` under the hash a rollout was started with (stored with it, so
/// that buckets never change under a consumer).
pub fn bucket_with(hash: BucketHash, salt: &str, consumer: &str) -> u32 {
    match hash {
        BucketHash::Murmur3X86_32 => bucket(salt, consumer),
    }
}

/// `rollout_bucket(consumer, salt)`: the bucket (0..9999) a consumer falls in for a rollout's
/// salt. A candidate at `p` PERCENT is read by consumers whose bucket is below `p × 100`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RolloutBucket {
    signature: Signature,
}

impl Default for RolloutBucket {
    fn default() -> Self {
        Self {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8]),
                    TypeSignature::Exact(vec![DataType::Utf8View, DataType::Utf8View]),
                    TypeSignature::Exact(vec![DataType::LargeUtf8, DataType::LargeUtf8]),
                ],
                Volatility::Immutable,
            ),
        }
    }
}

/// The `rollout_bucket` function.
pub fn rollout_bucket_udf() -> Arc<ScalarUDF> {
    static UDF: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    Arc::clone(UDF.get_or_init(|| Arc::new(ScalarUDF::from(RolloutBucket::default()))))
}

impl ScalarUDFImpl for RolloutBucket {
    fn name(&self) -> &str {
        "rollout_bucket"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let as_utf8 = |a: &ArrayRef| -> Result<StringArray> {
            let c = cast(a, &DataType::Utf8)?;
            Ok(c.as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .unwrap_or_else(|| StringArray::new_null(a.len())))
        };
        let consumers = as_utf8(&arrays[0])?;
        let salts = as_utf8(&arrays[1])?;
        let out: UInt32Array = consumers
            .iter()
            .zip(salts.iter())
            .map(|(c, s)| Some(bucket(s?, c?)))
            .collect();
        let out: ArrayRef = Arc::new(out);
        if args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)))
        {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            Documentation::builder(
                DocSection {
                    include: true,
                    label: "Rollout functions",
                    description: None,
                },
                "The bucket (0 to 9999) of a consumer for a rollout's salt: murmur3_x86_32 of \
                 '{salt}:{consumer}' with seed 0, modulo 10000. A candidate exposed AT p PERCENT \
                 is read by the consumers whose bucket is below p × 100. NULL in, NULL out.",
                "rollout_bucket(consumer, salt)",
            )
            .with_sql_example(
                "SELECT rollout_bucket('alice', 'c0ffee') < 1000 AS in_first_10_percent",
            )
            .with_argument(
                "consumer",
                "The consumer id (as set by SET rollout.consumer).",
            )
            .with_argument("salt", "The rollout's salt, shown by SHOW ROLLOUT.")
            .build()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_reference_vectors() {
        // Reference values of MurmurHash3_x86_32 with seed 0 (the canonical SMHasher implementation).
        let h = |s: &str| murmur3::murmur3_32(&mut s.as_bytes(), 0).unwrap();
        assert_eq!(h(""), 0);
        assert_eq!(h("hello"), 0x248b_fa47);
        assert_eq!(
            h("The quick brown fox jumps over the lazy dog"),
            0x2e4f_f723
        );
    }

    /// `(salt, consumer, bucket)` from `fixtures/bucket/golden.tsv`, computed by `golden.py`
    /// next to it with an independent murmur3 (Python's `mmh3`).
    fn golden() -> Vec<(&'static str, &'static str, u32)> {
        include_str!("../../fixtures/bucket/golden.tsv")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| {
                let mut f = l.split('\t');
                let (Some(salt), Some(consumer), Some(b), None) =
                    (f.next(), f.next(), f.next(), f.next())
                else {
                    panic!("bad golden line {l:?}");
                };
                (salt, consumer, b.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn buckets_match_the_reference_implementation() {
        let golden = golden();
        // 6 salts x 21 consumers: a truncated or empty file must not pass.
        assert_eq!(golden.len(), 126);
        for (salt, consumer, expected) in golden {
            assert_eq!(
                bucket(salt, consumer),
                expected,
                "bucket({salt:?}, {consumer:?})"
            );
        }
    }

    #[tokio::test]
    async fn the_sql_function_takes_consumer_then_salt_and_matches_the_reference() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_udf(rollout_bucket_udf().as_ref().clone());
        for (salt, consumer, expected) in golden().into_iter().step_by(5) {
            let q = |s: &str| s.replace('\'', "''");
            let sql = format!("SELECT rollout_bucket('{}', '{}')", q(consumer), q(salt));
            let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let col = batches[0].column(0);
            let got = col.as_any().downcast_ref::<UInt32Array>().unwrap().value(0);
            assert_eq!(got, expected, "{sql}");
        }
    }

    /// Consumers `c0 .. c{n-1}` whose bucket for `salt` is below `bp` (a percentage in basis
    /// points, as `AT p PERCENT` stores it).
    fn exposed(salt: &str, bp: u32, n: usize) -> std::collections::BTreeSet<usize> {
        (0..n)
            .filter(|i| bucket(salt, &format!("c{i}")) < bp)
            .collect()
    }

    #[test]
    fn raising_the_percentage_only_adds_consumers_in_proportion() {
        let n = 20_000;
        let steps = [0, 1, 100, 500, 1000, 2500, 5000, 9999, 10_000];
        let mut before = exposed("9f86d081884c7d65", 0, n);
        assert!(before.is_empty(), "0% exposes nobody");
        for bp in steps.into_iter().skip(1) {
            let now = exposed("9f86d081884c7d65", bp, n);
            assert!(
                before.is_subset(&now),
                "raising to {bp} bp dropped a consumer"
            );
            // About bp/10000 of the consumers: within 5 standard deviations of a binomial.
            let p = f64::from(bp) / f64::from(BUCKETS);
            let expected = p * n as f64;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (now.len() as f64 - expected).abs() <= 5.0 * sd + 1.0,
                "{} of {n} consumers at {bp} bp, expected about {expected}",
                now.len()
            );
            before = now;
        }
        assert_eq!(before.len(), n, "100% exposes everybody");
    }

    #[test]
    fn a_new_salt_reshuffles_who_is_exposed() {
        let n = 20_000;
        let a = exposed("c0ffee", 1000, n);
        let b = exposed("00000000deadbeef", 1000, n);
        // Independent draws at 10% each overlap on about 1% of the consumers (200), not 10%.
        let both = a.intersection(&b).count();
        assert!(
            (100..=300).contains(&both),
            "{both} consumers in both 10% samples"
        );
        // And buckets themselves are not shifted copies of each other.
        let same = (0..n)
            .filter(|i| bucket("c0ffee", &format!("c{i}")) == bucket("sål", &format!("c{i}")))
            .count();
        assert!(
            same < 10,
            "{same} consumers kept their bucket under a new salt"
        );
    }
}
