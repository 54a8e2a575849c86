//! `VERIFY VERSION 'v2' OF orders` / `VERIFY orders`: compare a version's pinned files with
//! what is stored now.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::ObjectMeta;
use datafusion::object_store::path::Path;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use url::Url;

use super::parser::{expect_word, parse_name, parse_string};
use super::{Ident, Quoted};
use crate::catalog::{PinnedFile, Version};
use crate::error::Result;
use crate::resolve::describe_change;
use crate::session::RolloutContext;

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
    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        let state = rc.store().state();
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
                rows.push(verify_file(rc, &mut folders, &v.id, pin).await);
            }
        }
        self.frame(rc, &rows)
    }

    fn frame(&self, rc: &RolloutContext, rows: &[Row<'_>]) -> Result<DataFrame> {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let text = |f: &dyn Fn(&Row<'_>) -> Option<String>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<StringArray>())
        };
        let num = |f: &dyn Fn(&Row<'_>) -> Option<u64>| -> ArrayRef {
            Arc::new(rows.iter().map(f).collect::<UInt64Array>())
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("dataset", DataType::Utf8, false),
            Field::new("version", DataType::Utf8, false),
            Field::new("path", DataType::Utf8, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("expected_size", DataType::UInt64, false),
            Field::new("found_size", DataType::UInt64, true),
            Field::new("expected_modified", DataType::Utf8, false),
            Field::new("found_modified", DataType::Utf8, true),
            Field::new("expected_e_tag", DataType::Utf8, true),
            Field::new("found_e_tag", DataType::Utf8, true),
            Field::new("problem", DataType::Utf8, true),
        ]));
        let columns = vec![
            text(&|_| Some(self.dataset.clone())),
            text(&|r| Some(r.version.to_string())),
            text(&|r| Some(r.pin.url.clone())),
            text(&|r| Some(r.status.to_string())),
            num(&|r| Some(r.pin.size)),
            num(&|r| r.found.as_ref().map(|m| m.size)),
            text(&|r| Some(time(&r.pin.last_modified))),
            text(&|r| r.found.as_ref().map(|m| time(&m.last_modified))),
            text(&|r| r.pin.e_tag.clone()),
            text(&|r| r.found.as_ref().and_then(|m| m.e_tag.clone())),
            text(&|r| r.problem.clone()),
        ];
        rc.frame(RecordBatch::try_new(schema, columns)?)
    }
}

async fn verify_file<'a>(
    rc: &RolloutContext,
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
        let listed = list_folder(rc, &base, &folder).await;
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

async fn list_folder(
    rc: &RolloutContext,
    base: &str,
    folder: &Path,
) -> Result<Vec<ObjectMeta>, String> {
    let store_url = ObjectStoreUrl::parse(base).map_err(|e| e.to_string())?;
    let store = rc
        .session()
        .runtime_env()
        .object_store(&store_url)
        .map_err(|e| e.to_string())?;
    match store.list_with_delimiter(Some(folder)).await {
        Ok(listed) => Ok(listed.objects),
        Err(datafusion::object_store::Error::NotFound { .. }) => Ok(vec![]),
        Err(e) => Err(e.to_string()),
    }
}
