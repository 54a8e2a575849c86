//! Webhooks as the log stores them: which commits they are sent for, and their URLs with
//! secrets hidden.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A commit (or a guard's failure) a notification is sent for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NotifyOn {
    /// `PROMOTE` (a rollout starts or widens, or a version becomes stable).
    Promote,
    /// `ADVANCE` (by a person or the controller).
    Advance,
    /// `ROLLBACK` (by a person, or automatic by `guard`).
    Rollback,
    /// A live guard failed in a controller round.
    GuardFailed,
}

impl NotifyOn {
    /// Every kind, the default of `CREATE NOTIFICATION` without `ON (...)`.
    pub const ALL: [NotifyOn; 4] = [
        NotifyOn::Promote,
        NotifyOn::Advance,
        NotifyOn::Rollback,
        NotifyOn::GuardFailed,
    ];

    /// The keyword (`PROMOTE`, `ADVANCE`, `ROLLBACK`, `GUARD_FAILED`).
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyOn::Promote => "PROMOTE",
            NotifyOn::Advance => "ADVANCE",
            NotifyOn::Rollback => "ROLLBACK",
            NotifyOn::GuardFailed => "GUARD_FAILED",
        }
    }

    /// The kind named by `word` (case-insensitive).
    pub fn parse(word: &str) -> Option<NotifyOn> {
        NotifyOn::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(word))
    }
}

/// A webhook: a JSON POST after each matching commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Its name.
    pub name: String,
    /// Where to POST (http or https).
    pub url: String,
    /// Only commits of this dataset (`FOR d`); all datasets when `None`.
    pub dataset: Option<String>,
    /// What it is sent for.
    pub on: BTreeSet<NotifyOn>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl Notification {
    /// The URL with secrets hidden: a password in it and the values of query parameters whose
    /// name mentions a token, key, secret, password or signature become `***`.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// See [`Notification::redacted_url`].
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "(unparseable URL)".into();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let secret = |k: &str| {
        let k = k.to_ascii_lowercase();
        ["token", "key", "secret", "password", "sig", "auth"]
            .iter()
            .any(|s| k.contains(s))
    };
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if secret(&k) {
                "***".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if !pairs.is_empty() {
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}
