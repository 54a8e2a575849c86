//! `REGISTER VERSION`, `CREATE VERSION ... AS SELECT` and `SHOW VERSIONS OF`.

use std::fmt;
use std::sync::Arc;

use chrono::Utc;
use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::datasource::file_format::FileFormat as DfFileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectMeta, ObjectStoreExt};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Query, Statement as SqlStatement};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use futures::TryStreamExt;
use url::Url;

use super::parser::{alias_pinned_tables_query, expect_word, parse_name, parse_string, parse_word};
use super::{Ident, Quoted, ReasonClause};
use crate::catalog::{
    Action, FileFormat, PinnedFile, State, Version, VersionStatus, check_compatible,
    columns_from_schema, merge_schema, validate_identifier, validate_version_id,
};
use crate::contract::{CheckResult, Target, run_contract, summarize_failures};
use crate::error::{Error, Result};
use crate::guard;
use crate::session::RolloutContext;
use crate::store::{Commit, resolve_location};

/// `REGISTER VERSION 'v1' OF orders FROM 'path/' [FORMAT PARQUET|CSV|JSON] [COMMENT '...'] [REASON '...']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterVersion {
    pub version: String,
    pub dataset: String,
    pub location: String,
    pub format: FileFormat,
    pub comment: Option<String>,
    pub reason: Option<String>,
}

/// `CREATE VERSION 'v2' OF orders [COMMENT '...'] [REASON '...'] AS <query>`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateVersion {
    pub version: String,
    pub dataset: String,
    pub comment: Option<String>,
    pub reason: Option<String>,
    pub query: Box<Query>,
}

/// `SHOW VERSIONS OF orders`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowVersions {
    pub dataset: String,
}

fn parse_format(p: &mut Parser) -> Result<FileFormat, ParserError> {
    let token = p.next_token();
    let word = match &token.token {
        datafusion::sql::sqlparser::tokenizer::Token::Word(w) => w.value.to_ascii_uppercase(),
        _ => String::new(),
    };
    match word.as_str() {
        "PARQUET" => Ok(FileFormat::Parquet),
        "CSV" => Ok(FileFormat::Csv),
        "JSON" | "NDJSON" => Ok(FileFormat::Json),
        _ => p.expected("PARQUET, CSV or JSON after FORMAT", token),
    }
}

/// `'v' OF dataset`
fn parse_version_of(p: &mut Parser) -> Result<(String, String), ParserError> {
    let version = parse_string(p, "a version id in quotes, like 'v2'")?;
    p.expect_keyword(Keyword::OF)?;
    let dataset = parse_name(p, "a dataset name after OF")?;
    Ok((version, dataset))
}

pub(super) fn parse_register(p: &mut Parser) -> Result<RegisterVersion, ParserError> {
    expect_word(p, "REGISTER")?;
    p.expect_keyword(Keyword::VERSION)?;
    let (version, dataset) = parse_version_of(p)?;
    p.expect_keyword(Keyword::FROM)?;
    let location = parse_string(p, "a location in quotes after FROM")?;
    let mut format = None;
    let mut comment = None;
    let mut reason = None;
    loop {
        if format.is_none() && p.parse_keyword(Keyword::FORMAT) {
            format = Some(parse_format(p)?);
        } else if comment.is_none() && p.parse_keyword(Keyword::COMMENT) {
            comment = Some(parse_string(p, "a comment in quotes after COMMENT")?);
        } else if reason.is_none() && parse_word(p, "REASON") {
            reason = Some(parse_string(p, "a reason in quotes after REASON")?);
        } else {
            break;
        }
    }
    Ok(RegisterVersion {
        version,
        dataset,
        location,
        format: format.unwrap_or(FileFormat::Parquet),
        comment,
        reason,
    })
}

pub(super) fn parse_create(p: &mut Parser) -> Result<CreateVersion, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    p.expect_keyword(Keyword::VERSION)?;
    let (version, dataset) = parse_version_of(p)?;
    let mut comment = None;
    let mut reason = None;
    loop {
        if comment.is_none() && p.parse_keyword(Keyword::COMMENT) {
            comment = Some(parse_string(p, "a comment in quotes after COMMENT")?);
        } else if reason.is_none() && parse_word(p, "REASON") {
            reason = Some(parse_string(p, "a reason in quotes after REASON")?);
        } else {
            break;
        }
    }
    p.expect_keyword(Keyword::AS)?;
    let mut query = p.parse_query()?;
    alias_pinned_tables_query(&mut query);
    Ok(CreateVersion {
        version,
        dataset,
        comment,
        reason,
        query,
    })
}

pub(super) fn parse_show(p: &mut Parser) -> Result<ShowVersions, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    expect_word(p, "VERSIONS")?;
    p.expect_keyword(Keyword::OF)?;
    Ok(ShowVersions {
        dataset: parse_name(p, "a dataset name after OF")?,
    })
}

impl fmt::Display for RegisterVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "REGISTER VERSION {} OF {} FROM {} FORMAT {}",
            Quoted(&self.version),
            Ident(&self.dataset),
            Quoted(&self.location),
            self.format
        )?;
        if let Some(c) = &self.comment {
            write!(f, " COMMENT {}", Quoted(c))?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl fmt::Display for CreateVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE VERSION {} OF {}",
            Quoted(&self.version),
            Ident(&self.dataset)
        )?;
        if let Some(c) = &self.comment {
            write!(f, " COMMENT {}", Quoted(c))?;
        }
        write!(f, "{} AS {}", ReasonClause(&self.reason), self.query)
    }
}

impl fmt::Display for ShowVersions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW VERSIONS OF {}", Ident(&self.dataset))
    }
}

/// The checks a new version must pass against a state: valid names, dataset known, id free.
fn check_new_version(state: &State, dataset: &str, version: &str) -> Result<()> {
    validate_version_id(version)?;
    let ds = state.dataset(dataset)?;
    if ds.version(version).is_some() {
        return Err(Error::VersionExists {
            dataset: dataset.to_string(),
            version: version.to_string(),
        });
    }
    Ok(())
}

fn df_format(format: FileFormat) -> Arc<dyn DfFileFormat> {
    match format {
        FileFormat::Parquet => Arc::new(ParquetFormat::default()),
        FileFormat::Csv => Arc::new(CsvFormat::default().with_has_header(true)),
        FileFormat::Json => Arc::new(JsonFormat::default()),
    }
}

/// Everything about a version that is read from its files at registration.
struct Scanned {
    files: Vec<PinnedFile>,
    schema: SchemaRef,
    row_count: u64,
    table: Arc<ListingTable>,
}

/// Lists the files of `location` (a folder: every file with the format's extension, hidden
/// and `_` files skipped; or one file), infers the schema and counts the rows.
async fn scan_location(rc: &RolloutContext, url: &Url, format: FileFormat) -> Result<Scanned> {
    let store_url = ObjectStoreUrl::parse(format!(
        "{}://{}",
        url.scheme(),
        &url[url::Position::BeforeHost..url::Position::AfterPort]
    ))?;
    let store = rc.session().runtime_env().object_store(&store_url)?;
    let path = Path::from_url_path(url.path()).map_err(|e| Error::InvalidLocation {
        location: url.to_string(),
        reason: e.to_string(),
    })?;
    let not_found = || Error::InvalidLocation {
        location: url.to_string(),
        reason: "nothing is there (no such file or folder)".into(),
    };
    let mut metas: Vec<ObjectMeta> = Vec::new();
    if !url.path().ends_with('/') {
        match store.head(&path).await {
            Ok(meta) => metas.push(meta),
            Err(datafusion::object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if metas.is_empty() {
        let listed: Vec<ObjectMeta> = store.list(Some(&path)).try_collect().await?;
        let ext = format.extension();
        metas = listed
            .into_iter()
            .filter(|m| {
                let hidden = m
                    .location
                    .parts()
                    .skip(path.parts().count())
                    .any(|p| p.as_ref().starts_with('.') || p.as_ref().starts_with('_'));
                let name = m
                    .location
                    .filename()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                !hidden && name.ends_with(ext)
            })
            .collect();
        if metas.is_empty() {
            let exists_local = url.to_file_path().map(|p| p.exists()).unwrap_or(true);
            if !exists_local {
                return Err(not_found());
            }
            return Err(Error::InvalidLocation {
                location: url.to_string(),
                reason: format!("holds no {format} files (*{})", format.extension()),
            });
        }
    }
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let base = store_url.as_str().trim_end_matches('/').to_string();
    let files: Vec<PinnedFile> = metas
        .iter()
        .map(|m| PinnedFile {
            url: format!("{base}/{}", m.location),
            size: m.size,
            e_tag: m.e_tag.clone(),
            last_modified: m.last_modified,
        })
        .collect();
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(&f.url))
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let options = ListingOptions::new(df_format(format)).with_file_extension("");
    let state = rc.session().state();
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .infer_schema(&state)
        .await
        .map_err(|e| Error::InvalidLocation {
            location: url.to_string(),
            reason: format!("cannot read its schema as {format}: {}", Error::from(e)),
        })?;
    let table = Arc::new(ListingTable::try_new(config)?);
    let schema = datafusion::catalog::TableProvider::schema(table.as_ref());
    let row_count = rc
        .session()
        .read_table(Arc::clone(&table) as _)?
        .count()
        .await? as u64;
    Ok(Scanned {
        files,
        schema,
        row_count,
        table,
    })
}

/// Commits a scanned version, re-checking name and schema against the latest state.
#[allow(clippy::too_many_arguments)]
async fn commit_version(
    rc: &RolloutContext,
    operation: &str,
    statement: String,
    dataset: &str,
    version: &str,
    location: String,
    format: FileFormat,
    managed: bool,
    comment: Option<String>,
    reason: Option<String>,
    scanned: Scanned,
) -> Result<DataFrame> {
    let columns = columns_from_schema(&scanned.schema);
    let results = run_contract_on_new(rc, dataset, version, &columns, &scanned).await?;
    let rejected = results.as_ref().is_some_and(|r| guard::failed(r));
    let checks = results
        .as_deref()
        .map(guard::checks_json)
        .unwrap_or_default();
    let failures = results
        .as_deref()
        .map(summarize_failures)
        .unwrap_or_default();
    let done = rc
        .commit(|state| {
            check_new_version(state, dataset, version)?;
            let ds = state.dataset(dataset)?;
            let latest = ds.versions.last().map(|v| v.schema.as_slice());
            let breaking = check_compatible(&ds.schema, &columns, latest);
            if !breaking.is_empty() {
                return Err(Error::BreakingSchemaChange {
                    dataset: dataset.to_string(),
                    version: version.to_string(),
                    changes: breaking,
                });
            }
            let v = Version {
                id: version.to_string(),
                location: location.clone(),
                format,
                schema: columns.clone(),
                row_count: scanned.row_count,
                files: scanned.files.clone(),
                managed,
                created_at: Utc::now(),
                created_by: rc.actor().to_string(),
                comment: comment.clone(),
                status: if rejected {
                    VersionStatus::Rejected
                } else {
                    VersionStatus::Registered
                },
            };
            Ok(Some(Commit {
                operation: operation.to_string(),
                dataset: Some(dataset.to_string()),
                statement: statement.clone(),
                reason: reason.clone(),
                checks: checks.clone(),
                actions: vec![Action::AddVersion {
                    dataset: dataset.to_string(),
                    version: Box::new(v),
                    schema: merge_schema(&ds.schema, &columns),
                }],
                message: if rejected {
                    format!(
                        "version '{version}' of {dataset} REJECTED by its contract ({} rows in {} file(s)); it is kept but cannot be promoted without FORCE: {}",
                        scanned.row_count,
                        scanned.files.len(),
                        failures.join("; ")
                    )
                } else {
                    format!(
                        "registered version '{version}' of {dataset}: {} rows in {} file(s)",
                        scanned.row_count,
                        scanned.files.len()
                    )
                },
            }))
        })
        .await?;
    match done {
        Some(done) => rc.message(&done),
        None => rc.message_text("nothing to do"),
    }
}

/// Runs the dataset's contract over a version that is not committed yet (read through a
/// temporary table of its files), with drift against the stable version.
async fn run_contract_on_new(
    rc: &RolloutContext,
    dataset: &str,
    version: &str,
    columns: &[crate::catalog::ColumnDef],
    scanned: &Scanned,
) -> Result<Option<Vec<CheckResult>>> {
    let state = rc.store().refresh().await?;
    let ds = state.dataset(dataset)?;
    let Some(contract) = &ds.contract else {
        return Ok(None);
    };
    let name = format!("__rollout_pending_{}", uuid::Uuid::new_v4().simple());
    rc.session()
        .register_table(name.as_str(), Arc::clone(&scanned.table) as _)?;
    let candidate = Target {
        version: version.to_string(),
        table: format!("\"{name}\""),
        columns: columns.to_vec(),
    };
    let baseline = match ds.rollout.stable.as_deref() {
        Some(stable) => Some(guard::version_target(&state, dataset, stable)?),
        None => None,
    };
    let results = run_contract(rc.session(), contract, &candidate, baseline.as_ref()).await;
    rc.session().deregister_table(name.as_str())?;
    results.map(Some)
}

impl RegisterVersion {
    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        validate_identifier("dataset name", &self.dataset)?;
        check_new_version(rc.store().state().as_ref(), &self.dataset, &self.version)?;
        let url = resolve_location(&self.location, false)?;
        let scanned = scan_location(rc, &url, self.format).await?;
        commit_version(
            rc,
            "REGISTER VERSION",
            self.to_string(),
            &self.dataset,
            &self.version,
            url.to_string(),
            self.format,
            false,
            self.comment.clone(),
            self.reason.clone(),
            scanned,
        )
        .await
    }
}

impl CreateVersion {
    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        validate_identifier("dataset name", &self.dataset)?;
        check_new_version(rc.store().state().as_ref(), &self.dataset, &self.version)?;
        let statement = DFStatement::Statement(Box::new(SqlStatement::Query(self.query.clone())));
        let plan = rc.session().state().statement_to_plan(statement).await?;
        let df = rc.session().execute_logical_plan(plan).await?;
        // A folder of its own per attempt: a crashed or refused attempt leaves only
        // unreferenced files (VACUUM's business), never files inside a version.
        let folder = rc.store().url_of(&format!(
            "data/{}/{}/{}/",
            self.dataset,
            self.version,
            crate::session::new_transaction_id()
        ))?;
        df.write_parquet(folder.as_str(), DataFrameWriteOptions::new(), None)
            .await?;
        let scanned = scan_location(rc, &folder, FileFormat::Parquet).await?;
        commit_version(
            rc,
            "CREATE VERSION",
            self.to_string(),
            &self.dataset,
            &self.version,
            folder.to_string(),
            FileFormat::Parquet,
            true,
            self.comment.clone(),
            self.reason.clone(),
            scanned,
        )
        .await
    }
}

impl ShowVersions {
    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        let state = rc.store().state();
        let ds = state.dataset(&self.dataset)?;
        let vs = &ds.versions;
        let text = |f: &dyn Fn(&Version) -> Option<String>| -> ArrayRef {
            Arc::new(vs.iter().map(f).collect::<StringArray>())
        };
        let num = |f: &dyn Fn(&Version) -> u64| -> ArrayRef {
            Arc::new(vs.iter().map(|v| Some(f(v))).collect::<UInt64Array>())
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("version", DataType::Utf8, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("format", DataType::Utf8, false),
            Field::new("rows", DataType::UInt64, false),
            Field::new("files", DataType::UInt64, false),
            Field::new("bytes", DataType::UInt64, false),
            Field::new("created_at", DataType::Utf8, false),
            Field::new("created_by", DataType::Utf8, false),
            Field::new("location", DataType::Utf8, false),
            Field::new("comment", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                text(&|v| Some(v.id.clone())),
                text(&|v| Some(v.status.to_string())),
                text(&|v| Some(v.format.to_string())),
                num(&|v| v.row_count),
                num(&|v| v.files.len() as u64),
                num(&|v| v.total_bytes()),
                text(&|v| {
                    Some(
                        v.created_at
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    )
                }),
                text(&|v| Some(v.created_by.clone())),
                text(&|v| Some(v.location.clone())),
                text(&|v| v.comment.clone()),
            ],
        )?;
        rc.frame(batch)
    }
}
