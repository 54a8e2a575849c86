//! `SET`, `SHOW` and `RESET` of `rollout.consumer` and `rollout.cohort`.

use std::fmt;

use datafusion::common::config::ExtensionOptions;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Outcome;
use super::table::Table;
use crate::error::{Error, Result};
use crate::guard::Env;
use crate::resolve::{RolloutConfig, set_rollout_setting};
use crate::sql::Quoted;

/// What to do with a rollout setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingAction {
    /// `SET rollout.key = 'value'`.
    Set(String),
    /// `SHOW rollout.key`.
    Show,
    /// `RESET rollout.key`: back to its default.
    Reset,
}

/// `SET rollout.consumer = 'alice'`, `SHOW rollout.cohort`, `RESET rollout.consumer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutSetting {
    /// The name after `rollout.` (`consumer`, `cohort`, ...).
    pub key: String,
    /// What to do with it.
    pub action: SettingAction,
}

pub(super) fn parse(p: &mut Parser) -> Result<RolloutSetting, ParserError> {
    let verb = p.next_token();
    let Token::Word(w) = &verb.token else {
        return p.expected("SET, SHOW or RESET", verb);
    };
    let verb_kw = w.keyword;
    p.next_token(); // rollout
    p.expect_token(&Token::Period)?;
    let key_token = p.next_token();
    let key = match &key_token.token {
        Token::Word(w) => w.value.to_lowercase(),
        _ => return p.expected("a setting name after rollout.", key_token),
    };
    if !RolloutConfig::KEYS.contains(&key.as_str()) {
        return Err(ParserError::ParserError(format!(
            "unknown setting 'rollout.{key}'; the rollout settings are {}{}",
            RolloutConfig::keys_listed(),
            key_token.span.start
        )));
    }
    let action = match verb_kw {
        Keyword::SHOW => SettingAction::Show,
        Keyword::RESET => SettingAction::Reset,
        _ => {
            if !p.consume_token(&Token::Eq) && !p.parse_keyword(Keyword::TO) {
                return p.expected("= or TO", p.peek_token());
            }
            let value = p.next_token();
            match value.token {
                Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                    SettingAction::Set(s)
                }
                Token::Word(w) if w.keyword == Keyword::DEFAULT && w.quote_style.is_none() => {
                    SettingAction::Reset
                }
                Token::Word(w) => SettingAction::Set(w.value),
                Token::Number(n, _) => SettingAction::Set(n),
                _ => return p.expected("a value in quotes", value),
            }
        }
    };
    Ok(RolloutSetting { key, action })
}

impl fmt::Display for RolloutSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.action {
            SettingAction::Set(v) => write!(f, "SET rollout.{} = {}", self.key, Quoted(v)),
            SettingAction::Show => write!(f, "SHOW rollout.{}", self.key),
            SettingAction::Reset => write!(f, "RESET rollout.{}", self.key),
        }
    }
}

impl RolloutSetting {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let name = format!("rollout.{}", self.key);
        match &self.action {
            SettingAction::Set(value) => {
                if self.key == "cohort" && !value.is_empty() {
                    env.store.state().cohort(value)?;
                }
                set_rollout_setting(env.session, &self.key, Some(value))?;
                Ok(Outcome::Setting {
                    name,
                    value: Some(value.clone()),
                })
            }
            SettingAction::Reset => {
                // A logged-in session's consumer is its principal again.
                let cfg = RolloutConfig::of(env.session);
                let value = match self.key.as_str() {
                    "consumer" => cfg.principal,
                    _ => None,
                };
                set_rollout_setting(env.session, &self.key, value.as_deref())?;
                Ok(Outcome::Setting { name, value })
            }
            SettingAction::Show => {
                // The value as the setting lists itself (`SHOW ALL` and df_settings show the same).
                let key = format!("rollout.{}", self.key);
                let entry = RolloutConfig::of(env.session)
                    .entries()
                    .into_iter()
                    .find(|e| e.key == key)
                    .ok_or_else(|| Error::Config(format!("unknown setting {key}")))?;
                let value = entry.value;
                let batch = Table::new()
                    .text("name", [name])
                    .text_opt("value", [value])
                    .build()?;
                Ok(Outcome::Query(env.session.read_batch(batch)?))
            }
        }
    }
}
