//! How a run ends: the exit code contract of the shell, and the failure that decided it.

use std::fmt;
use std::process::ExitCode;

/// A statement or command that did not succeed, with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    kind: FailureKind,
    message: String,
}

/// Exit code 1 is reserved for data that failed a check, so a CI job can tell "the data is
/// wrong" from "the script is wrong" (exit code 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    Assertion,
    Error,
    /// Standard output was closed (`rollout ... | head`): stop quietly, nobody reads on.
    BrokenPipe,
}

impl Failure {
    /// A failure reported by the library; `ASSERT` failures keep their own exit code.
    pub fn from_rollout(error: &datafusion_rollout::Error) -> Self {
        let kind = if error.is_assertion_failure() {
            FailureKind::Assertion
        } else {
            FailureKind::Error
        };
        Failure {
            kind,
            message: error.user_message(),
        }
    }

    /// Any other error (files, output, the terminal).
    pub fn from_anyhow(error: &anyhow::Error) -> Self {
        let broken_pipe = error.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        });
        Failure {
            kind: if broken_pipe {
                FailureKind::BrokenPipe
            } else {
                FailureKind::Error
            },
            message: format!("{error:#}"),
        }
    }

    /// The same failure with `context` (a file and line) in front of its message.
    pub fn with_location(self, location: &str) -> Self {
        Failure {
            message: format!("{location}: {}", self.message),
            ..self
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self.kind {
            FailureKind::Assertion => ExitCode::from(1),
            FailureKind::Error | FailureKind::BrokenPipe => ExitCode::from(2),
        }
    }

    /// Whether the failure is worth a message on standard error.
    pub fn is_reported(&self) -> bool {
        self.kind != FailureKind::BrokenPipe
    }
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
