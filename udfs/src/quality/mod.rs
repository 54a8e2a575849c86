//! Data-quality aggregates (see the crate docs for the list and `docs/functions.md` for the
//! SQL reference).

pub mod compare;
pub(crate) mod counts;
pub(crate) mod distinct;
pub(crate) mod extreme;
pub(crate) mod freshness;
mod interned;
mod keyset;
mod packed;
mod pairs;
pub(crate) mod predicate;
pub(crate) mod strings;

use crate::common::{QUALITY_SECTION, doc};
use crate::macros::make_udaf;
use counts::{CountKind, CountUdaf, Output};
use distinct::DistinctUdaf;
use freshness::AgeUdaf;
use strings::LengthUdaf;

make_udaf!(
    NullCount,
    null_count,
    null_count_udaf,
    CountUdaf(CountKind::Null, Output::Count),
    doc(
        QUALITY_SECTION,
        "Number of rows where `x` IS NULL. NaN is a value, not NULL (see `nan_count`). \
         Returns 0 on empty input, never NULL.",
        "null_count(x)",
        "SELECT null_count(email) FROM customers;",
        &[("x", "Column or expression of any type.")],
    ),
    (x)
);

make_udaf!(
    NullFraction,
    null_fraction,
    null_fraction_udaf,
    CountUdaf(CountKind::Null, Output::Fraction),
    doc(
        QUALITY_SECTION,
        "Fraction in [0, 1] of rows where `x` IS NULL: `null_count(x) / count(*)`. \
         NaN is a value, not NULL. NULL on empty input.",
        "null_fraction(x)",
        "SELECT null_fraction(email) <= 0.01 FROM customers;",
        &[("x", "Column or expression of any type.")],
    ),
    (x)
);

make_udaf!(
    NanCount,
    nan_count,
    nan_count_udaf,
    CountUdaf(CountKind::Nan, Output::Count),
    doc(
        QUALITY_SECTION,
        "Number of rows where the floating-point `x` is NaN. NULLs are not counted; integer \
         and decimal columns always give 0. Returns 0 on empty input.",
        "nan_count(x)",
        "SELECT nan_count(price) FROM orders;",
        &[("x", "Numeric column.")],
    ),
    (x)
);

make_udaf!(
    MissingCount,
    missing_count,
    missing_count_udaf,
    CountUdaf(CountKind::Missing, Output::Count),
    doc(
        QUALITY_SECTION,
        "Number of missing rows: `x` IS NULL, or `x` is a blank string (empty or whitespace \
         only; string columns only), or `x` equals one of the optional listed values \
         (e.g. 'N/A'). Returns 0 on empty input.",
        "missing_count(x [, v1, v2, ...])",
        "SELECT missing_count(country, 'N/A', '-') FROM customers;",
        &[
            ("x", "Column of any type."),
            (
                "v1, v2, ...",
                "Optional constants that also mean missing (cast to the type of `x`)."
            ),
        ],
    ),
    (..)
);

make_udaf!(
    MissingFraction,
    missing_fraction,
    missing_fraction_udaf,
    CountUdaf(CountKind::Missing, Output::Fraction),
    doc(
        QUALITY_SECTION,
        "`missing_count(x, ...) / count(*)`: fraction of rows that are NULL, blank strings or \
         one of the listed values. NULL on empty input.",
        "missing_fraction(x [, v1, v2, ...])",
        "SELECT missing_fraction(country, 'N/A') FROM customers;",
        &[
            ("x", "Column of any type."),
            ("v1, v2, ...", "Optional constants that also mean missing."),
        ],
    ),
    (..)
);

const INVALID_NOTE: &str = "NULL rows are neither valid nor invalid: they are excluded from \
     both the count and the denominator (count them with `null_count`).";

make_udaf!(
    InvalidCountIn,
    invalid_count_in,
    invalid_count_in_udaf,
    CountUdaf(CountKind::InvalidIn, Output::Count),
    doc(
        QUALITY_SECTION,
        &format!(
            "Number of non-NULL rows whose value is NOT in the listed set of valid values \
             (SQL equality: a string `x` compares in its own type, numbers and other types in the \
             common type of `x` and the constants, as SQL's `IN` does). {INVALID_NOTE}"
        ),
        "invalid_count_in(x, v1 [, v2, ...])",
        "SELECT invalid_count_in(status, 'new', 'paid', 'shipped') FROM orders;",
        &[
            ("x", "Column to validate."),
            ("v1, v2, ...", "The valid values (constants)."),
        ],
    ),
    (..)
);

make_udaf!(
    InvalidFractionIn,
    invalid_fraction_in,
    invalid_fraction_in_udaf,
    CountUdaf(CountKind::InvalidIn, Output::Fraction),
    doc(
        QUALITY_SECTION,
        &format!(
            "`invalid_count_in(x, ...) / count(x)`: fraction of non-NULL rows not in the valid \
             set; NULL when there is no non-NULL row. {INVALID_NOTE}"
        ),
        "invalid_fraction_in(x, v1 [, v2, ...])",
        "SELECT invalid_fraction_in(status, 'new', 'paid') <= 0.001 FROM orders;",
        &[
            ("x", "Column to validate."),
            ("v1, v2, ...", "The valid values (constants)."),
        ],
    ),
    (..)
);

make_udaf!(
    InvalidCountRegex,
    invalid_count_regex,
    invalid_count_regex_udaf,
    CountUdaf(CountKind::InvalidRegex, Output::Count),
    doc(
        QUALITY_SECTION,
        &format!(
            "Number of non-NULL strings the regular expression does not match. The pattern \
             (Rust `regex` syntax) is searched anywhere in the string: anchor it with `^...$` \
             for a full match. An invalid pattern is a planning error. {INVALID_NOTE}"
        ),
        "invalid_count_regex(x, pattern)",
        "SELECT invalid_count_regex(country, '^[A-Z]{2}$') FROM customers;",
        &[
            ("x", "String column to validate."),
            (
                "pattern",
                "String constant: the regular expression valid values match."
            ),
        ],
    ),
    (x, pattern)
);

make_udaf!(
    InvalidFractionRegex,
    invalid_fraction_regex,
    invalid_fraction_regex_udaf,
    CountUdaf(CountKind::InvalidRegex, Output::Fraction),
    doc(
        QUALITY_SECTION,
        &format!(
            "`invalid_count_regex(x, pattern) / count(x)`; NULL when there is no non-NULL row. \
             {INVALID_NOTE}"
        ),
        "invalid_fraction_regex(x, pattern)",
        "SELECT invalid_fraction_regex(email, '^[^@]+@[^@]+$') FROM customers;",
        &[
            ("x", "String column to validate."),
            (
                "pattern",
                "String constant: the regular expression valid values match."
            ),
        ],
    ),
    (x, pattern)
);

make_udaf!(
    InvalidCountRange,
    invalid_count_range,
    invalid_count_range_udaf,
    CountUdaf(CountKind::InvalidRange, Output::Count),
    doc(
        QUALITY_SECTION,
        &format!(
            "Number of non-NULL rows outside the closed range `[lo, hi]`. A NULL bound is open \
             (no limit on that side). NaN sorts above every number (Arrow's total order), so it only \
             fails an upper bound. Numeric columns are compared as DOUBLE; other types \
             (dates, timestamps, strings) in their own type. {INVALID_NOTE}"
        ),
        "invalid_count_range(x, lo, hi)",
        "SELECT invalid_count_range(age, 0, 130) FROM people;",
        &[
            ("x", "Column to validate."),
            (
                "lo",
                "Smallest valid value (constant, NULL = no lower bound)."
            ),
            (
                "hi",
                "Largest valid value (constant, NULL = no upper bound)."
            ),
        ],
    ),
    (x, lo, hi)
);

make_udaf!(
    InvalidFractionRange,
    invalid_fraction_range,
    invalid_fraction_range_udaf,
    CountUdaf(CountKind::InvalidRange, Output::Fraction),
    doc(
        QUALITY_SECTION,
        &format!(
            "`invalid_count_range(x, lo, hi) / count(x)`; NULL when there is no non-NULL row. \
             {INVALID_NOTE}"
        ),
        "invalid_fraction_range(x, lo, hi)",
        "SELECT invalid_fraction_range(amount, 0, NULL) FROM orders;",
        &[
            ("x", "Column to validate."),
            (
                "lo",
                "Smallest valid value (constant, NULL = no lower bound)."
            ),
            (
                "hi",
                "Largest valid value (constant, NULL = no upper bound)."
            ),
        ],
    ),
    (x, lo, hi)
);

make_udaf!(
    DistinctCount,
    distinct_count,
    distinct_count_udaf,
    DistinctUdaf(false),
    doc(
        QUALITY_SECTION,
        "Exact number of distinct non-NULL values of `x` (like `count(DISTINCT x)`, \
         mergeable across partitions). Floating-point values are compared by bit pattern \
         after Arrow's row encoding: NaN is one value. Memory grows with the number of \
         distinct values and is accounted in DataFusion's memory pool. 0 on empty input.",
        "distinct_count(x)",
        "SELECT distinct_count(customer_id) FROM orders;",
        &[("x", "Column of any type.")],
    ),
    (x)
);

make_udaf!(
    DuplicateCount,
    duplicate_count,
    duplicate_count_udaf,
    DistinctUdaf(true),
    doc(
        QUALITY_SECTION,
        "Number of rows beyond the first per key: `count(*) - count(DISTINCT (k1, k2, ...))` \
         over the rows where every key column is non-NULL (rows with a NULL key are ignored). \
         A key seen 3 times contributes 2. 0 means the key is unique. Memory grows with the \
         number of distinct keys and is accounted in DataFusion's memory pool.",
        "duplicate_count(k1 [, k2, ...])",
        "SELECT duplicate_count(order_id, line_no) = 0 AS is_unique FROM order_lines;",
        &[("k1, k2, ...", "Key columns (any types).")],
    ),
    (..)
);

make_udaf!(
    MinLength,
    min_length,
    min_length_udaf,
    LengthUdaf(false),
    doc(
        QUALITY_SECTION,
        "Smallest length in characters (Unicode scalar values) of the non-NULL strings. \
         NULL when there is no non-NULL string.",
        "min_length(x)",
        "SELECT min_length(country) FROM customers;",
        &[("x", "String column.")],
    ),
    (x)
);

make_udaf!(
    MaxLength,
    max_length,
    max_length_udaf,
    LengthUdaf(true),
    doc(
        QUALITY_SECTION,
        "Largest length in characters (Unicode scalar values) of the non-NULL strings. \
         NULL when there is no non-NULL string.",
        "max_length(x)",
        "SELECT max_length(name) <= 64 FROM customers;",
        &[("x", "String column.")],
    ),
    (x)
);

const AGE_NOTE: &str = "The result is an INTERVAL normalised to whole days plus the remaining \
     time (< 24 h, months always 0), so comparisons with literals such as `INTERVAL '2 days'` or \
     `INTERVAL '6 hours'` are exact (avoid hour counts >= 24 in the literal: intervals compare \
     field by field). `now` defaults to the wall clock when the query starts executing; pass \
     `now()` or a timestamp constant for a reproducible value. Time zones do not change the \
     instant compared. NULLs are ignored; NULL when there is no non-NULL timestamp.";

make_udaf!(
    Freshness,
    freshness,
    freshness_udaf,
    AgeUdaf(true),
    doc(
        QUALITY_SECTION,
        &format!("Age of the newest row: `now - max(ts)`. {AGE_NOTE}"),
        "freshness(ts [, now])",
        "SELECT freshness(updated_at, now()) < INTERVAL '1 day' FROM orders;",
        &[
            ("ts", "Timestamp or date column."),
            (
                "now",
                "Optional timestamp constant used as the current time."
            ),
        ],
    ),
    (..)
);

make_udaf!(
    Retention,
    retention,
    retention_udaf,
    AgeUdaf(false),
    doc(
        QUALITY_SECTION,
        &format!("Age of the oldest row (history kept): `now - min(ts)`. {AGE_NOTE}"),
        "retention(ts [, now])",
        "SELECT retention(created_at) >= INTERVAL '1095 days' FROM orders;",
        &[
            ("ts", "Timestamp or date column."),
            (
                "now",
                "Optional timestamp constant used as the current time."
            ),
        ],
    ),
    (..)
);
