//! How a run ends: the exit code contract of the shell, and the failure that decided it.
//!
//! A failure prints as `error: <what>`; a syntax error also shows the offending line of its
//! script with a caret under the column the parser stopped at.

use std::fmt;
use std::process::ExitCode;

/// A statement or command that did not succeed, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    kind: FailureKind,
    message: String,
    /// The offending line and the 1-based column of a syntax error.
    snippet: Option<(String, usize)>,
    /// Printed already (with `--continue-on-error`, or by the REPL): not to be printed again.
    reported: bool,
}

/// Exit code 1 is reserved for data that failed a check, so a CI job can tell "the data is
/// wrong" from "the script is wrong" (exit code 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum FailureKind {
    /// A failed `ASSERT`, a `CHECK` with a `fail` (or, with `--fail-on-warn`, a `warn`).
    DataCheck,
    Error,
    /// Standard output was closed (`rollout ... | head`): stop quietly, nobody reads on.
    BrokenPipe,
}

impl Failure {
    /// A failure reported by the library; `ASSERT` failures keep their own exit code.
    pub fn from_rollout(error: &datafusion_rollout::Error) -> Self {
        let kind = if error.is_data_check() {
            FailureKind::DataCheck
        } else {
            FailureKind::Error
        };
        Failure::new(kind, error.user_message())
    }

    /// Any other error (files, output, the terminal).
    pub fn from_anyhow(error: &anyhow::Error) -> Self {
        let broken_pipe = error.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        });
        let kind = if broken_pipe {
            FailureKind::BrokenPipe
        } else {
            FailureKind::Error
        };
        Failure::new(kind, format!("{error:#}"))
    }

    /// Checks that ran and found bad data (exit code 1).
    pub fn data_check(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::DataCheck, message.into())
    }

    /// A usage error or a check that could not run (exit code 2).
    pub fn error(message: impl Into<String>) -> Self {
        Failure::new(FailureKind::Error, message.into())
    }

    fn new(kind: FailureKind, message: String) -> Self {
        Failure {
            kind,
            message,
            snippet: None,
            reported: false,
        }
    }

    /// The same failure with `location` (a file and line) in front of its message.
    pub fn with_location(self, location: &str) -> Self {
        Failure {
            message: format!("{location}: {}", self.message),
            ..self
        }
    }

    /// Points a syntax error into `script`: the message's `at line L, column C` picks the
    /// line to show. A parser that stopped at the end of the input names no position; then
    /// the end of the statement (`statement_end`, a 0-based byte offset in `script`) is used.
    pub fn locate(mut self, script: &str, statement_end: Option<usize>) -> Self {
        if self.kind != FailureKind::Error {
            return self;
        }
        let position = parse_position(&self.message).or_else(|| {
            let end = statement_end.filter(|_| self.message.ends_with("found: EOF"))?;
            let (line, column) = line_column(script, end);
            self.message = format!("{} at line {line}, column {column}", self.message);
            Some((line, column))
        });
        if let Some((line, column)) = position
            && let Some(text) = script.lines().nth(line.saturating_sub(1))
        {
            self.snippet = Some((text.to_string(), column));
        }
        self
    }

    /// Marks the failure as printed.
    pub fn reported(self) -> Self {
        Failure {
            reported: true,
            ..self
        }
    }

    /// The more severe of two failures (an error outranks a failed check), for the exit code
    /// of a script that went on after failures.
    pub fn worst(self, other: Failure) -> Failure {
        if other.kind > self.kind { other } else { self }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.kind {
            FailureKind::DataCheck => ExitCode::from(1),
            FailureKind::Error | FailureKind::BrokenPipe => ExitCode::from(2),
        }
    }

    /// Whether the failure is worth a message on standard error.
    fn is_reported(&self) -> bool {
        self.kind != FailureKind::BrokenPipe && !self.reported
    }

    /// Prints the report on standard error, unless it was printed already or nobody reads it.
    pub fn print_report(&self) {
        if self.is_reported() {
            eprintln!("{}", self.report());
        }
    }

    /// The whole report: `error: ...`, then the offending line and a caret, if known.
    pub fn report(&self) -> String {
        let mut text = format!("error: {}", self.message);
        if let Some((line, column)) = &self.snippet {
            let line = line.replace('\t', " ");
            let pad = " ".repeat(column.saturating_sub(1).min(line.chars().count()));
            text.push_str(&format!("\n  {line}\n  {pad}^"));
        }
        text
    }
}

/// The last `at line L, column C` of a message.
fn parse_position(message: &str) -> Option<(usize, usize)> {
    let at = message.rfind(" at line ")?;
    let rest = message.get(at + " at line ".len()..)?;
    let (line, rest) = rest.split_once(", column ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.parse().ok()?, digits.parse().ok()?))
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::from_anyhow(&error)
    }
}

impl From<datafusion_rollout::Error> for Failure {
    fn from(error: datafusion_rollout::Error) -> Self {
        Failure::from_rollout(&error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Failure::from_anyhow(&anyhow::Error::from(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_under_the_reported_column() {
        let failure = Failure::error("Expected: an expression, found: c at line 2, column 5")
            .locate("SELECT a,\n  b c d\n", None);
        assert_eq!(
            failure.report(),
            "error: Expected: an expression, found: c at line 2, column 5\n    b c d\n      ^"
        );
    }

    #[test]
    fn end_of_input_points_after_the_statement() {
        let script = "SELECT 1;\nPROMOTE orders TO";
        let failure =
            Failure::error("Expected: a version id, found: EOF").locate(script, Some(script.len()));
        assert_eq!(
            failure.report(),
            "error: Expected: a version id, found: EOF at line 2, column 18\n  \
             PROMOTE orders TO\n                   ^"
        );
    }

    #[test]
    fn errors_outrank_failed_checks() {
        let worst = Failure::data_check("x").worst(Failure::error("y"));
        assert_eq!(worst.exit_code(), ExitCode::from(2));
    }
}
