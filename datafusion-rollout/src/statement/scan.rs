//! Reading a new version's files at registration: list them (pinning size, e-tag and
//! modification time), infer the schema, count the rows.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::file_format::FileFormat as DfFileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectMeta, ObjectStoreExt};
use futures::TryStreamExt;
use url::Url;

use crate::catalog::{FileFormat, PinnedFile};
use crate::error::{Error, Result};
use crate::guard::Env;

fn df_format(format: FileFormat) -> Arc<dyn DfFileFormat> {
    match format {
        FileFormat::Parquet => Arc::new(ParquetFormat::default()),
        FileFormat::Csv => Arc::new(CsvFormat::default().with_has_header(true)),
        FileFormat::Json => Arc::new(JsonFormat::default()),
    }
}

/// Everything about a version that is read from its files at registration.
pub(super) struct Scanned {
    pub(super) files: Vec<PinnedFile>,
    pub(super) schema: SchemaRef,
    pub(super) row_count: u64,
    pub(super) table: Arc<ListingTable>,
}

/// Lists the files of `location` (a folder: every file with the format's extension, hidden
/// and `_` files skipped; or one file), infers the schema and counts the rows.
pub(super) async fn scan_location(env: &Env<'_>, url: &Url, format: FileFormat) -> Result<Scanned> {
    let (store, store_url, path) = env.locate(url, url.as_str())?;
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
    let base = Url::parse(store_url.as_str()).map_err(|e| Error::InvalidLocation {
        location: url.to_string(),
        reason: e.to_string(),
    })?;
    let files: Vec<PinnedFile> = metas
        .iter()
        .map(|m| PinnedFile {
            url: object_url(&base, &m.location),
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
    let state = env.session.state();
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
    let row_count = env
        .session
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

/// The URL of the object at `location` in the store at `base`, each part percent-encoded as
/// object_store's local store encodes it (`#`, `?`, `%`, spaces, ...), so that parsing it gives
/// `location` back. (A folder or file named with `#` ended the path there, the rest read as a
/// fragment; one with `%20` in its name read as a space.)
fn object_url(base: &Url, location: &Path) -> String {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(location.parts());
    }
    url.to_string()
}
