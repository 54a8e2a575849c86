//! `VERIFY VERSION 'v2' OF orders` / `VERIFY orders`: compare a version's pinned files with
//! what is stored now.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::ObjectMeta;
use datafusion::object_store::path::Path;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use url::Url;

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_string};
use super::table::Table;
use crate::catalog::{PinnedFile, Version};
use crate::error::{Error, Refusal, Result};
use crate::guard::Env;
use crate::resolve::describe_change;
use crate::sql::{Ident, Quoted};

/// `VERIFY VERSION 'v2' OF orders` (one version) or `VERIFY orders` (every version).
///
/// One row per pinned file: `dataset`, `version`, `path`, `status` (`ok`, `changed`,
/// `missing`, or `error` when the file could not be looked at), what was registered
/// (`expected_size`, `expected_modified`, `expected_e_tag`), what is there now (`found_*`,
/// NULL when missing) and the `problem` in words. The comparison is the one queries make:
/// size, then modification time for local files and e-tag for remote objects. Reads nothing
/// but metadata, and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyVersion {
    /// The dataset.
    pub dataset: String,
    /// `None`: every version of the dataset.
    pub version: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<VerifyVersion, ParserError> {
    expect_word(p, "VERIFY")?;
    let versioned = matches!(p.peek_nth_token(1).token, Token::SingleQuotedString(_));
    if versioned && p.parse_keyword(Keyword::VERSION) {
        let version = parse_string(p, "a version id in quotes, like 'v2'")?;
        p.expect_keyword(Keyword::OF)?;
        let dataset = parse_name(p, "a dataset name after OF")?;
        Ok(VerifyVersion {
            dataset,
            version: Some(version),
        })
    } else {
        Ok(VerifyVersion {
            dataset: parse_name(
                p,
                "VERSION 'id' OF <dataset>, or a dataset name, after VERIFY",
            )?,
            version: None,
        })
    }
}

impl fmt::Display for VerifyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(
                f,
                "VERIFY VERSION {} OF {}",
                Quoted(v),
                Ident(&self.dataset)
            ),
            None => write!(f, "VERIFY {}", Ident(&self.dataset)),
        }
    }
}

/// One file's verdict.
struct Row<'a> {
    version: &'a str,
    pin: &'a PinnedFile,
    found: Option<ObjectMeta>,
    status: &'static str,
    problem: Option<String>,
}

impl VerifyVersion {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let ds = state.dataset(&self.dataset)?;
        let versions: Vec<&Version> = match &self.version {
            Some(v) => vec![state.version(&self.dataset, v)?],
            None => ds.versions.iter().collect(),
        };
        // One listing per folder: metadata as stored, not through the verifying layer.
        let mut folders: HashMap<(String, String), Result<Vec<ObjectMeta>, String>> =
            HashMap::new();
        let mut rows = Vec::new();
        for v in versions {
            for pin in &v.files {
                rows.push(verify_file(env, &mut folders, &v.id, pin).await);
            }
        }
        self.frame(env, &rows)
    }

    fn frame(&self, env: &Env<'_>, rows: &[Row<'_>]) -> Result<Outcome> {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let batch = Table::new()
            .text("dataset", rows.iter().map(|_| &self.dataset))
            .text("version", rows.iter().map(|r| r.version))
            .text("path", rows.iter().map(|r| &r.pin.url))
            .text("status", rows.iter().map(|r| r.status))
            .count("expected_size", rows.iter().map(|r| r.pin.size))
            .count_opt(
                "found_size",
                rows.iter().map(|r| r.found.as_ref().map(|m| m.size)),
            )
            .text(
                "expected_modified",
                rows.iter().map(|r| time(&r.pin.last_modified)),
            )
            .text_opt(
                "found_modified",
                rows.iter()
                    .map(|r| r.found.as_ref().map(|m| time(&m.last_modified))),
            )
            .text_opt("expected_e_tag", rows.iter().map(|r| r.pin.e_tag.as_ref()))
            .text_opt(
                "found_e_tag",
                rows.iter()
                    .map(|r| r.found.as_ref().and_then(|m| m.e_tag.as_ref())),
            )
            .text_opt("problem", rows.iter().map(|r| r.problem.as_ref()))
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}

/// Refuses `operation` when a pinned file of the version it would serve is missing, changed
/// or cannot be looked at: one listing per folder of the version, metadata only.
pub(crate) async fn verify_target(
    env: &Env<'_>,
    operation: &str,
    dataset: &str,
    version: &str,
) -> Result<()> {
    let state = env.store.state();
    let v = state.version(dataset, version)?;
    let mut folders = HashMap::new();
    for pin in &v.files {
        let row = verify_file(env, &mut folders, version, pin).await;
        if let Some(problem) = row.problem {
            return Err(Error::refused(Refusal::TargetFilesChanged {
                operation: operation.to_string(),
                dataset: dataset.to_string(),
                version: version.to_string(),
                path: pin.url.clone(),
                problem,
            }));
        }
    }
    Ok(())
}

async fn verify_file<'a>(
    env: &Env<'_>,
    folders: &mut HashMap<(String, String), Result<Vec<ObjectMeta>, String>>,
    version: &'a str,
    pin: &'a PinnedFile,
) -> Row<'a> {
    let row = |found, status, problem| Row {
        version,
        pin,
        found,
        status,
        problem,
    };
    let located = Url::parse(&pin.url)
        .map_err(|e| e.to_string())
        .and_then(|url| {
            let base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
            let path = Path::from_url_path(url.path()).map_err(|e| e.to_string())?;
            Ok((base, path))
        });
    let (base, path) = match located {
        Ok(found) => found,
        Err(e) => return row(None, "error", Some(format!("not a valid URL: {e}"))),
    };
    let parts: Vec<_> = path.parts().collect();
    let folder = Path::from_iter(parts[..parts.len().saturating_sub(1)].iter().cloned());
    let key = (base.clone(), folder.to_string());
    if !folders.contains_key(&key) {
        let listed = list_folder(env, &base, &folder).await;
        folders.insert(key.clone(), listed);
    }
    match folders.get(&key) {
        Some(Ok(metas)) => match metas.iter().find(|m| m.location == path) {
            None => row(None, "missing", Some("is missing".into())),
            Some(meta) => match describe_change(pin, meta, &base) {
                None => row(Some(meta.clone()), "ok", None),
                Some(problem) => row(Some(meta.clone()), "changed", Some(problem)),
            },
        },
        Some(Err(e)) => row(None, "error", Some(e.clone())),
        None => row(None, "error", Some("not listed".into())),
    }
}

async fn list_folder(env: &Env<'_>, base: &str, folder: &Path) -> Result<Vec<ObjectMeta>, String> {
    let store_url = ObjectStoreUrl::parse(base).map_err(|e| e.to_string())?;
    let store = env
        .session
        .runtime_env()
        .object_store(&store_url)
        .map_err(|e| e.to_string())?;
    match store.list_with_delimiter(Some(folder)).await {
        Ok(listed) => Ok(listed.objects),
        Err(datafusion::object_store::Error::NotFound { .. }) => Ok(vec![]),
        Err(e) => Err(e.to_string()),
    }
}
