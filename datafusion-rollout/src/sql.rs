//! SQL text on the ground floor: identifiers and literals printed so that they parse back.
//!
//! Every canonical statement (`Display` of a statement, a contract, a check query) prints names
//! and strings through these, so quoting is decided in one place.

use std::fmt;
use std::time::Duration;

/// An identifier as canonical SQL (quoted when needed).
pub(crate) fn ident(name: &str) -> String {
    Ident(name).to_string()
}

/// A SQL string literal.
pub(crate) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.0.replace('\'', "''"))
    }
}

/// An identifier, quoted when it would not survive unquoted (normalisation lowercases).
pub(crate) struct Ident<'a>(pub &'a str);

impl fmt::Display for Ident<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = !self.0.is_empty()
            && self
                .0
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !self.0.starts_with(|c: char| c.is_ascii_digit());
        if plain {
            f.write_str(self.0)
        } else {
            write!(f, "\"{}\"", self.0.replace('"', "\"\""))
        }
    }
}

/// ` REASON '...'` when there is one.
pub(crate) struct ReasonClause<'a>(pub &'a Option<String>);

impl fmt::Display for ReasonClause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(r) => write!(f, " REASON {}", Quoted(r)),
            None => Ok(()),
        }
    }
}

/// Numbers print as SQL literals (`0.25`, `1000`, `-1`).
pub(crate) fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// `1250` basis points → `"12.5%"`.
pub fn format_percent(bp: u32) -> String {
    if bp.is_multiple_of(100) {
        format!("{}%", bp / 100)
    } else {
        let s = format!("{}.{:02}", bp / 100, bp % 100);
        format!("{}%", s.trim_end_matches('0'))
    }
}

/// The one interval grammar of every statement and flag (`EVERY INTERVAL '1 hour'`,
/// `RETAIN '2 days'`, `rollout watch --every 30s`): humantime's spans (`'90 minutes'`,
/// `'1 day 12 hours'`, `'2h'`, `'0 seconds'`; units from `ms` to `years`), case-insensitive; a
/// bare number is seconds.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("interval '{text}' is too long"));
    }
    humantime::parse_duration(&trimmed.to_ascii_lowercase()).map_err(|e| {
        format!(
            "cannot read interval '{text}' ({e}); write it like '1 hour', '30 minutes', '2 days' or '90s'"
        )
    })
}

const INTERVAL_UNITS: [(&str, &str, u64); 4] = [
    ("week", "weeks", 7 * 86_400),
    ("day", "days", 86_400),
    ("hour", "hours", 3_600),
    ("minute", "minutes", 60),
];

/// 5400 → `90 minutes`: an interval in the largest unit that divides it exactly.
pub(crate) fn format_interval(seconds: u64) -> String {
    for (one, many, size) in INTERVAL_UNITS {
        if seconds > 0 && seconds.is_multiple_of(size) {
            let n = seconds / size;
            return format!("{n} {}", if n == 1 { one } else { many });
        }
    }
    format!(
        "{seconds} {}",
        if seconds == 1 { "second" } else { "seconds" }
    )
}

/// [`parse_interval`] in whole seconds.
pub fn interval_seconds(text: &str) -> Result<u64, String> {
    parse_interval(text).map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(ident("orders_2"), "orders_2");
        assert_eq!(ident("Orders"), "\"Orders\"");
        assert_eq!(ident("2x"), "\"2x\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident(""), "\"\"");
        assert_eq!(Quoted("it's").to_string(), "'it''s'");
        assert_eq!(number(1000.0), "1000");
        assert_eq!(number(-0.25), "-0.25");
    }

    #[test]
    fn one_interval_grammar() {
        for (text, seconds) in [
            ("1 hour", 3600),
            ("2 h", 7200),
            ("2h", 7200),
            ("90 Minutes", 5400),
            ("1 day 12 hours", 129_600),
            ("0 seconds", 0),
            ("45", 45),
            ("1 week", 604_800),
        ] {
            assert_eq!(interval_seconds(text), Ok(seconds), "{text}");
        }
        for seconds in [0, 1, 60, 5400, 86_400, 172_800, 1_814_400, 3601] {
            assert_eq!(interval_seconds(&format_interval(seconds)), Ok(seconds));
        }
        assert_eq!(format_interval(5400), "90 minutes");
        for bad in ["", "hour", "1 parsec", "-1 hour", "1.5.2 h"] {
            let err = interval_seconds(bad).unwrap_err();
            assert!(err.contains("cannot read interval"), "{bad}: {err}");
        }
    }
}
