//! `rollout.*` session settings: who is querying, and which cohort the session joined.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};

/// Session settings read by resolution. Set with `SET rollout.consumer = 'alice'` and
/// `SET rollout.cohort = 'canary'`.
///
/// Written by hand rather than with `extensions_options!` so that `entries()` carries the
/// `rollout.` prefix: that makes `SHOW rollout.consumer` and `information_schema.df_settings`
/// show the full key, and lets the settings travel with a serialized session config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutConfig {
    /// The consumer's identity; `None` reads the stable version.
    pub consumer: Option<String>,
    /// A cohort the session joined explicitly.
    pub cohort: Option<String>,
    /// Whether scans through a dataset's name are recorded in the reads ledger
    /// (`rollout.record_reads`, on unless set to `false`).
    pub record_reads: bool,
    /// Whether a scan through a dataset's name gives each partition a run of whole row groups
    /// with about the same number of rows, once the files' footers are cached
    /// (`rollout.balance_scans`, on unless set to `false`; off, a scan is split as DataFusion
    /// splits a direct read, into equal byte ranges).
    pub balance_scans: bool,
    /// Whether a contract's row checks (`NOT NULL`, `CHECK (..)`) may be settled from the
    /// exact statistics of the version's files (null counts, minimum and maximum) instead of a
    /// scan (`rollout.check_statistics`, on unless set to `false`; off, every check reads its
    /// rows).
    pub check_statistics: bool,
    /// Whether `PROMOTE` and `ROLLBACK` first look at every pinned file of the version they
    /// would serve (one metadata request per file; a listing per 1,000 objects of a bucket's
    /// folder) and refuse when one changed (`rollout.verify_targets`, off unless set to
    /// `true`). Off, both are metadata-only, whatever the number of files, and a changed file
    /// fails the read that opens it (and a guard whose checks read it).
    pub verify_targets: bool,
    /// Set by `EXPLAIN` (not a user setting): scans are planned, shown, and not recorded.
    pub explaining: bool,
    /// Who logged in (not a user setting: set when a session authenticates). On a store with
    /// users, reads check this principal's READ grant, and reading as another consumer or
    /// cohort its IMPERSONATE grant.
    pub principal: Option<String>,
    /// `rollout.consistency`: `statement` (each statement resolves afresh) or `session`
    /// (each dataset keeps the version it first resolved to, until that version is rolled
    /// back).
    pub consistency: Consistency,
    /// The versions a session in `session` consistency resolved to, shared by every copy of
    /// this session's settings.
    pub session_versions: SessionVersions,
}

/// How long a resolution holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Consistency {
    /// Every statement resolves afresh (the default of the library and the REPL).
    #[default]
    Statement,
    /// A dataset keeps, for the rest of the session, the version it first resolved to (the
    /// default of `rollout -f` scripts); a rolled-back version is dropped at the next statement.
    Session,
}

impl Consistency {
    /// The setting's value (`statement`, `session`).
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Statement => "statement",
            Consistency::Session => "session",
        }
    }
}

/// Dataset → the version a session kept (one map per session, shared by its config's copies).
#[derive(Debug, Clone, Default)]
pub struct SessionVersions(Arc<Mutex<HashMap<String, String>>>);

impl SessionVersions {
    /// The version kept for `dataset`, if any.
    pub fn get(&self, dataset: &str) -> Option<String> {
        self.lock().get(dataset).cloned()
    }

    /// Keeps `version` for `dataset`.
    pub fn keep(&self, dataset: &str, version: &str) {
        self.lock().insert(dataset.to_string(), version.to_string());
    }

    /// Forgets every kept version.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Settings compare by value; the kept versions are the session's state, not a setting.
impl PartialEq for SessionVersions {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for SessionVersions {}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            consumer: None,
            cohort: None,
            record_reads: true,
            balance_scans: true,
            check_statistics: true,
            verify_targets: false,
            explaining: false,
            principal: None,
            consistency: Consistency::Statement,
            session_versions: SessionVersions::default(),
        }
    }
}

impl RolloutConfig {
    /// The settings of a session (defaults when the extension is not registered).
    pub fn from_options(options: &ConfigOptions) -> RolloutConfig {
        options
            .extensions
            .get::<RolloutConfig>()
            .cloned()
            .unwrap_or_default()
    }

    /// The settings of `ctx`'s session, read in place (`ctx.state()` would copy the whole
    /// session state first).
    pub fn of(ctx: &datafusion::prelude::SessionContext) -> RolloutConfig {
        Self::from_options(ctx.state_ref().read().config_options())
    }

    /// The setting names, without the prefix.
    pub const KEYS: [&'static str; 7] = [
        "consumer",
        "cohort",
        "record_reads",
        "balance_scans",
        "check_statistics",
        "verify_targets",
        "consistency",
    ];

    /// "rollout.consumer, rollout.cohort and ...", for messages.
    pub fn keys_listed() -> String {
        let keys: Vec<String> = Self::KEYS.iter().map(|k| format!("rollout.{k}")).collect();
        match keys.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => keys.join(""),
        }
    }
}

impl ConfigExtension for RolloutConfig {
    const PREFIX: &'static str = "rollout";
}

impl ExtensionOptions for RolloutConfig {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        // An empty value clears the setting.
        let value = (!value.is_empty()).then(|| value.to_string());
        match key.strip_prefix("rollout.").unwrap_or(key) {
            "consumer" => self.consumer = value,
            "cohort" => self.cohort = value,
            "record_reads" => self.record_reads = switch("record_reads", value.as_deref())?,
            "balance_scans" => self.balance_scans = switch("balance_scans", value.as_deref())?,
            "check_statistics" => {
                self.check_statistics = switch("check_statistics", value.as_deref())?
            }
            "verify_targets" => {
                // Cleared, it is off again (its default).
                self.verify_targets = value.is_some() && switch("verify_targets", value.as_deref())?
            }
            "consistency" => {
                self.consistency = match value.as_deref().map(str::to_ascii_lowercase) {
                    None => Consistency::Statement,
                    Some(v) if v == "statement" => Consistency::Statement,
                    Some(v) if v == "session" => Consistency::Session,
                    Some(v) => {
                        return Err(DataFusionError::Configuration(format!(
                            "rollout.consistency is 'statement' or 'session', not '{v}'"
                        )));
                    }
                };
                // Switching (either way) starts afresh.
                self.session_versions.clear();
            }
            other => {
                return Err(DataFusionError::Configuration(format!(
                    "unknown setting 'rollout.{other}'; the rollout settings are {}",
                    Self::keys_listed()
                )));
            }
        }
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: "rollout.consumer".into(),
                value: self.consumer.clone(),
                description: "Who is querying: decides which version of a dataset in rollout this session reads",
            },
            ConfigEntry {
                key: "rollout.cohort".into(),
                value: self.cohort.clone(),
                description: "A cohort this session joins explicitly: it reads the candidate of datasets exposed to that cohort",
            },
            ConfigEntry {
                key: "rollout.record_reads".into(),
                value: Some(self.record_reads.to_string()),
                description: "Whether reads through a dataset's name are recorded in the reads ledger (rollout_reads)",
            },
            ConfigEntry {
                key: "rollout.balance_scans".into(),
                value: Some(self.balance_scans.to_string()),
                description: "Whether scans through a dataset's name give each partition about the same number of rows (whole row groups, once the files' footers are cached) rather than equal byte ranges",
            },
            ConfigEntry {
                key: "rollout.check_statistics".into(),
                value: Some(self.check_statistics.to_string()),
                description: "Whether a contract's NOT NULL and CHECK rules may be settled from the exact statistics of the version's files (null counts, minimum and maximum) instead of reading their rows",
            },
            ConfigEntry {
                key: "rollout.verify_targets".into(),
                value: Some(self.verify_targets.to_string()),
                description: "Whether PROMOTE and ROLLBACK first look at every pinned file of the version they would serve (one metadata request per file) and refuse when one changed; off, they are metadata-only and a changed file fails the read that opens it",
            },
            ConfigEntry {
                key: "rollout.consistency".into(),
                value: Some(self.consistency.as_str().to_string()),
                description: "statement: each statement resolves datasets afresh; session: each dataset keeps the version it first resolved to (a rolled-back one is dropped)",
            },
        ]
    }
}

/// An on/off setting's value (`true`/`on`, `false`/`off`; cleared, on).
fn switch(key: &str, value: Option<&str>) -> Result<bool> {
    match value.map(str::to_ascii_lowercase) {
        None => Ok(true),
        Some(v) if v == "true" || v == "on" => Ok(true),
        Some(v) if v == "false" || v == "off" => Ok(false),
        Some(v) => Err(DataFusionError::Configuration(format!(
            "rollout.{key} is true or false, not '{v}'"
        ))),
    }
}

/// Registers the `rollout.*` settings on a session that does not have them yet.
pub fn ensure_rollout_config(ctx: &datafusion::prelude::SessionContext) {
    let state_ref = ctx.state_ref();
    let mut state = state_ref.write();
    let options = state.config_mut().options_mut();
    if options.extensions.get::<RolloutConfig>().is_none() {
        options.extensions.insert(RolloutConfig::default());
    }
}

/// Sets (or with `None` clears) `rollout.{key}` on a session, registering the settings
/// extension first if the session does not have it.
pub fn set_rollout_setting(
    ctx: &datafusion::prelude::SessionContext,
    key: &str,
    value: Option<&str>,
) -> crate::error::Result<()> {
    ensure_rollout_config(ctx);
    let state_ref = ctx.state_ref();
    let mut state = state_ref.write();
    state
        .config_mut()
        .options_mut()
        .set(&format!("rollout.{key}"), value.unwrap_or(""))
        .map_err(crate::error::Error::from)
}
