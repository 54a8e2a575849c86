//! Turning what users type (`./rollout_store`, `memory://t`, `s3://b/p`) into object stores.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::object_store::ObjectStore;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::memory::InMemory;
use url::Url;

use crate::error::{Error, Result};

/// A URL for `location`: URLs are kept, anything else is a local path made absolute against
/// the working directory. Folders get a trailing `/`. With `create`, a local folder is created.
pub fn resolve_location(location: &str, create: bool) -> Result<Url> {
    let invalid = |reason: String| Error::InvalidLocation {
        location: location.to_string(),
        reason,
    };
    if location.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    if location.contains('\0') {
        return Err(invalid("it contains a NUL byte".into()));
    }
    let looks_like_url = location.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+')
    });
    let mut url = if looks_like_url {
        Url::parse(location).map_err(|e| invalid(e.to_string()))?
    } else {
        let path = std::path::Path::new(location);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| invalid(format!("no working directory: {e}")))?
                .join(path)
        };
        if create {
            std::fs::create_dir_all(&absolute)
                .map_err(|e| invalid(format!("cannot create folder: {e}")))?;
        }
        let absolute = if absolute.exists() {
            absolute
                .canonicalize()
                .map_err(|e| invalid(e.to_string()))?
        } else {
            absolute
        };
        let is_dir = absolute.is_dir();
        let mut url =
            Url::from_file_path(&absolute).map_err(|()| invalid("not a valid file path".into()))?;
        if is_dir && !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        return Ok(url);
    };
    if url.scheme() == "file" && create {
        let path = url
            .to_file_path()
            .map_err(|()| invalid("not a valid file path".into()))?;
        std::fs::create_dir_all(&path)
            .map_err(|e| invalid(format!("cannot create folder: {e}")))?;
    }
    if !url.path().ends_with('/') && (create || location.ends_with('/')) {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

/// The object store serving `url`. `memory://name` stores live for the process, so opening the
/// same name twice sees the same data (tests use this to simulate a restart).
pub fn object_store_for(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    match url.scheme() {
        "file" => Ok(Arc::new(LocalFileSystem::new())),
        "memory" => {
            static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
            let stores = STORES.get_or_init(Default::default);
            let mut stores = stores.lock().unwrap_or_else(|p| p.into_inner());
            let name = url.host_str().unwrap_or_default().to_string();
            let store = stores
                .entry(name)
                .or_insert_with(|| Arc::new(InMemory::new()));
            Ok(Arc::clone(store) as Arc<dyn ObjectStore>)
        }
        _ => {
            let (store, _path) =
                datafusion::object_store::parse_url(url).map_err(|e| Error::InvalidLocation {
                    location: url.to_string(),
                    reason: format!(
                        "no object store for scheme '{}' in this build: {e}",
                        url.scheme()
                    ),
                })?;
            Ok(Arc::from(store))
        }
    }
}
