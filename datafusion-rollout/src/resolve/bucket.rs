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

    #[test]
    fn bucket_is_in_range_and_stable() {
        assert_eq!(bucket("s", "alice"), bucket("s", "alice"));
        for i in 0..1000 {
            assert!(bucket("salt", &format!("c{i}")) < BUCKETS);
        }
    }
}
