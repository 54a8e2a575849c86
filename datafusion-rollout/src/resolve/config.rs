//! `rollout.*` session settings: who is querying, and which cohort the session joined.

use std::any::Any;

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
    /// Set by `EXPLAIN` (not a user setting): scans are planned, shown, and not recorded.
    pub explaining: bool,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            consumer: None,
            cohort: None,
            record_reads: true,
            explaining: false,
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

    /// The setting names, without the prefix.
    pub const KEYS: [&'static str; 3] = ["consumer", "cohort", "record_reads"];

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
            "record_reads" => {
                self.record_reads = match value.as_deref().map(str::to_ascii_lowercase) {
                    None => true,
                    Some(v) if v == "true" || v == "on" => true,
                    Some(v) if v == "false" || v == "off" => false,
                    Some(v) => {
                        return Err(DataFusionError::Configuration(format!(
                            "rollout.record_reads is true or false, not '{v}'"
                        )));
                    }
                }
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
        ]
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
