//! Structured log lines on stderr, one per event: logfmt (`ts=... level=info event=statement
//! principal="alice" ...`, the default) or one JSON object per line (`--log-format json`).
//! Every line has `ts` (UTC, RFC 3339 with milliseconds), `level` and `event`; values are
//! quoted and escaped so that a line always parses back, whatever a statement's text holds.
//! Secrets never reach here: statements are logged by their redacted canonical text.
//!
//! A few fixed events from one binary need no spans or subscribers, so this is a small writer
//! over `serde_json` rather than `tracing-subscriber` and its dependencies.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `key=value` pairs, values quoted when needed.
    #[default]
    Logfmt,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "logfmt" => Ok(LogFormat::Logfmt),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown log format '{other}': use logfmt or json")),
        }
    }
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Sets the format for the rest of the process (the first call wins).
pub fn set_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

/// An `info` line.
pub fn line(event: &str, fields: &[(&str, &str)]) {
    write_line("info", event, fields);
}

/// A `warn` line.
pub fn warn(event: &str, fields: &[(&str, &str)]) {
    write_line("warn", event, fields);
}

/// An `error` line.
pub fn error(event: &str, fields: &[(&str, &str)]) {
    write_line("error", event, fields);
}

fn write_line(level: &str, event: &str, fields: &[(&str, &str)]) {
    let ts = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let text = render(
        FORMAT.get().copied().unwrap_or_default(),
        &ts,
        level,
        event,
        fields,
    );
    // One write per line, so lines from concurrent calls do not interleave.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The line (with its newline) for these values.
pub fn render(
    format: LogFormat,
    ts: &str,
    level: &str,
    event: &str,
    fields: &[(&str, &str)],
) -> String {
    let all = [("ts", ts), ("level", level), ("event", event)];
    let pairs = all.iter().chain(fields.iter());
    match format {
        LogFormat::Json => {
            let mut object = serde_json::Map::new();
            for (k, v) in pairs {
                object.insert((*k).to_string(), serde_json::Value::from(*v));
            }
            format!("{}\n", serde_json::Value::Object(object))
        }
        LogFormat::Logfmt => {
            let mut out = String::new();
            for (i, (k, v)) in pairs.enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{k}={}", logfmt_value(v));
            }
            out.push('\n');
            out
        }
    }
}

/// A value as logfmt writes it: bare when it is a plain word, else quoted with `"`, `\` and
/// control characters escaped.
fn logfmt_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+,".contains(c));
    if plain {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_quotes_what_would_break_a_line() {
        let line = render(
            LogFormat::Logfmt,
            "2026-12-04T00:00:00.000Z",
            "info",
            "statement",
            &[
                ("principal", "alice"),
                ("sql", "SELECT \"a b\"\nFROM t"),
                ("empty", ""),
            ],
        );
        assert_eq!(
            line,
            "ts=2026-12-04T00:00:00.000Z level=info event=statement principal=alice \
             sql=\"SELECT \\\"a b\\\"\\nFROM t\" empty=\"\"\n"
        );
    }

    #[test]
    fn json_lines_parse_back() {
        let line = render(LogFormat::Json, "t", "warn", "x", &[("sql", "a\"b\nc")]);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["sql"], "a\"b\nc");
        assert_eq!(v["level"], "warn");
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn formats_by_name() {
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert!(
            "xml"
                .parse::<LogFormat>()
                .unwrap_err()
                .contains("logfmt or json")
        );
    }
}
