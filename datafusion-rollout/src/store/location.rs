//! Turning what users type (`./rollout_store`, `memory://t`, `s3://b/p`) into object stores.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use datafusion::object_store::ObjectStore;
use datafusion::object_store::local::LocalFileSystem;
use datafusion::object_store::memory::InMemory;
use datafusion::object_store::path::Path;
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

/// Object stores the application registered for URL prefixes (see [`register_object_store`]).
type Registered = RwLock<Vec<(String, Arc<dyn ObjectStore>)>>;

fn registered() -> &'static Registered {
    static REGISTERED: OnceLock<Registered> = OnceLock::new();
    REGISTERED.get_or_init(Default::default)
}

/// `scheme://host/path/` of `url`: the form prefixes are compared in.
fn prefix_key(url: &Url) -> String {
    let mut key = format!(
        "{}://{}{}",
        url.scheme(),
        &url[url::Position::BeforeHost..url::Position::AfterPort],
        url.path()
    );
    if !key.ends_with('/') {
        key.push('/');
    }
    key
}

/// Makes every store opened at `prefix` or under it (a bucket `s3://b`, or a folder of it
/// `s3://b/team/`) use `store` instead of one built from the environment: for credentials
/// providers or client options the environment cannot express, and for wrappers such as
/// `CountingStore` (feature `test-support`). `store` serves paths relative to the bucket (or file system) root,
/// like the stores object_store builds. Returns the store registered before for that prefix.
pub fn register_object_store(
    prefix: &Url,
    store: Arc<dyn ObjectStore>,
) -> Option<Arc<dyn ObjectStore>> {
    let key = prefix_key(prefix);
    let mut registered = registered().write().unwrap_or_else(|p| p.into_inner());
    let old = registered
        .iter()
        .position(|(k, _)| *k == key)
        .map(|i| registered.remove(i).1);
    registered.push((key, store));
    old
}

/// Undoes [`register_object_store`] for exactly `prefix`.
pub fn deregister_object_store(prefix: &Url) -> Option<Arc<dyn ObjectStore>> {
    let key = prefix_key(prefix);
    let mut registered = registered().write().unwrap_or_else(|p| p.into_inner());
    registered
        .iter()
        .position(|(k, _)| *k == key)
        .map(|i| registered.remove(i).1)
}

fn registered_for(url: &Url) -> Option<Arc<dyn ObjectStore>> {
    let key = prefix_key(url);
    let registered = registered().read().unwrap_or_else(|p| p.into_inner());
    registered
        .iter()
        .filter(|(prefix, _)| key.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, store)| Arc::clone(store))
}

/// The folder of a `file://` store read through object_store's own `LocalFileSystem` (not a
/// store registered for it, such as a request counter), for the few reads that go to the file
/// system directly.
pub(super) fn local_folder(url: &Url) -> Option<std::path::PathBuf> {
    if url.scheme() != "file" || registered_for(url).is_some() {
        return None;
    }
    url.to_file_path().ok()
}

/// The object store serving `url`. `memory://name` stores live for the process, so opening the
/// same name twice sees the same data (tests use this to simulate a restart).
///
/// Cloud stores are configured the way their SDKs are:
/// - `s3://bucket/prefix`: `AWS_*` environment variables as object_store's
///   `AmazonS3Builder::from_env` reads them (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
///   `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` for
///   S3-compatible servers, `AWS_ALLOW_HTTP=true` to allow a plain-HTTP endpoint, ...), then,
///   for what the environment leaves unset, the shared files `~/.aws/credentials` and
///   `~/.aws/config` (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`, profile `AWS_PROFILE`
///   or `default`: `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`, `region`,
///   `endpoint_url`); path-style requests unless `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`;
/// - `gs://bucket/prefix`: `GOOGLE_*` variables (`GOOGLE_SERVICE_ACCOUNT`, ...);
/// - `az://container/prefix` (also `abfs[s]://`, `azure://`): `AZURE_*` variables.
///
/// Requests time out (connect 5 s, request 60 s unless set) and are retried a few times
/// within 15 s, so an unreachable endpoint fails in seconds rather than minutes.
/// [`register_object_store`] overrides all of this for a prefix.
pub fn object_store_for(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    if let Some(store) = registered_for(url) {
        return Ok(store);
    }
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
        "s3" | "s3a" => cloud::s3(url),
        "gs" => cloud::gcs(url),
        "az" | "abfs" | "abfss" | "azure" | "adl" => cloud::azure(url),
        other => Err(Error::InvalidLocation {
            location: url.to_string(),
            reason: format!(
                "no object store for scheme '{other}' (supported: a folder path, file://, \
                 memory://, s3://, gs://, az://)"
            ),
        }),
    }
}

/// The error for a store that could not be opened at `url`: the URL (never a credential)
/// and what went wrong.
pub(crate) fn open_error(url: &Url, error: Error) -> Error {
    match error {
        e @ (Error::InvalidLocation { .. } | Error::ReadOnly { .. }) => e,
        other => Error::InvalidLocation {
            location: url.to_string(),
            reason: format!("cannot open a store there: {other}"),
        },
    }
}

/// Refuses to start a new store in a remote prefix that already holds other objects (a data
/// folder, another tool's files): `url` has no log, so it is not a store. Only the log folder
/// and the managed-data folder (left by a first commit that crashed) may be there. One list
/// request, made only when the log is empty; nothing is written.
pub(crate) async fn ensure_new_store_location(
    url: &Url,
    object_store: &Arc<dyn ObjectStore>,
    root: &Path,
) -> Result<()> {
    if matches!(url.scheme(), "file" | "memory") {
        return Ok(());
    }
    let prefix = (!root.as_ref().is_empty()).then_some(root);
    let listed = object_store
        .list_with_delimiter(prefix)
        .await
        .map_err(|e| open_error(url, e.into()))?;
    let ours = |p: &Path| {
        p.filename()
            .is_some_and(|name| name == super::LOG_DIR || name == super::DATA_DIR)
    };
    let foreign = listed
        .objects
        .iter()
        .map(|m| &m.location)
        .chain(listed.common_prefixes.iter().filter(|p| !ours(p)))
        .next();
    match foreign {
        None => Ok(()),
        Some(found) => Err(Error::InvalidLocation {
            location: url.to_string(),
            reason: format!(
                "it is not a rollout store: it holds '{}' but no {}/ log; point the store at \
                 an empty prefix or at an existing store",
                found.filename().unwrap_or_default(),
                super::LOG_DIR
            ),
        }),
    }
}

mod cloud {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;

    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    use object_store::azure::MicrosoftAzureBuilder;
    use object_store::gcp::GoogleCloudStorageBuilder;
    use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
    use url::Url;

    use crate::error::{Error, Result};

    fn retry() -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: 4,
            retry_timeout: Duration::from_secs(15),
        }
    }

    fn invalid(url: &Url, reason: String) -> Error {
        Error::InvalidLocation {
            location: url.to_string(),
            reason,
        }
    }

    fn truthy(value: Option<String>) -> bool {
        value.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1"))
    }

    pub(super) fn s3(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let mut builder = AmazonS3Builder::from_env();
        for (key, value) in shared_config(&builder) {
            builder = builder.with_config(key, value);
        }
        let client = |k| AmazonS3ConfigKey::Client(k);
        for (key, default) in [
            (ClientConfigKey::ConnectTimeout, "5 seconds"),
            (ClientConfigKey::Timeout, "60 seconds"),
        ] {
            if builder.get_config_value(&client(key)).is_none() {
                builder = builder.with_config(client(key), default);
            }
        }
        for key in [AmazonS3ConfigKey::Endpoint, AmazonS3ConfigKey::S3Endpoint] {
            if let Some(endpoint) = builder.get_config_value(&key)
                && endpoint.trim().to_ascii_lowercase().starts_with("http://")
                && !truthy(builder.get_config_value(&client(ClientConfigKey::AllowHttp)))
            {
                return Err(invalid(
                    url,
                    format!(
                        "the S3 endpoint {endpoint} is plain HTTP; set AWS_ALLOW_HTTP=true to \
                         allow unencrypted connections"
                    ),
                ));
            }
        }
        let store = builder
            .with_url(url.as_str())
            .with_retry(retry())
            .build()
            .map_err(|e| invalid(url, format!("cannot configure S3: {e}")))?;
        Ok(Arc::new(store))
    }

    pub(super) fn gcs(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let store = GoogleCloudStorageBuilder::from_env()
            .with_url(url.as_str())
            .with_retry(retry())
            .build()
            .map_err(|e| invalid(url, format!("cannot configure Google Cloud Storage: {e}")))?;
        Ok(Arc::new(store))
    }

    pub(super) fn azure(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        let store = MicrosoftAzureBuilder::from_env()
            .with_url(url.as_str())
            .with_retry(retry())
            .build()
            .map_err(|e| invalid(url, format!("cannot configure Azure storage: {e}")))?;
        Ok(Arc::new(store))
    }

    /// Settings from the shared AWS files for what the environment left unset: credentials
    /// only when the environment has no access key (never a key from one place and a secret
    /// from another), region and endpoint each when unset.
    fn shared_config(builder: &AmazonS3Builder) -> Vec<(AmazonS3ConfigKey, String)> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let profile = env("AWS_PROFILE")
            .or_else(|| env("AWS_DEFAULT_PROFILE"))
            .unwrap_or_else(|| "default".to_string());
        let home = env("HOME").or_else(|| env("USERPROFILE"));
        let file = |var: &str, name: &str| {
            env(var).or_else(|| home.as_ref().map(|h| format!("{h}/.aws/{name}")))
        };
        let credentials = file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
            .map(|p| ini_section(&p, &[profile.as_str()]))
            .unwrap_or_default();
        let config_section = format!("profile {profile}");
        let config = file("AWS_CONFIG_FILE", "config")
            .map(|p| ini_section(&p, &[config_section.as_str(), profile.as_str()]))
            .unwrap_or_default();
        let lookup = |k: &str| credentials.get(k).or_else(|| config.get(k)).cloned();

        let mut out = Vec::new();
        if builder
            .get_config_value(&AmazonS3ConfigKey::AccessKeyId)
            .is_none()
            && let (Some(id), Some(secret)) =
                (lookup("aws_access_key_id"), lookup("aws_secret_access_key"))
        {
            out.push((AmazonS3ConfigKey::AccessKeyId, id));
            out.push((AmazonS3ConfigKey::SecretAccessKey, secret));
            if let Some(token) = lookup("aws_session_token") {
                out.push((AmazonS3ConfigKey::Token, token));
            }
        }
        if builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .is_none()
            && let Some(region) = config.get("region")
        {
            out.push((AmazonS3ConfigKey::Region, region.clone()));
        }
        if builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .is_none()
            && builder
                .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
                .is_none()
            && let Some(endpoint) = config.get("endpoint_url")
        {
            out.push((AmazonS3ConfigKey::Endpoint, endpoint.clone()));
        }
        out
    }

    /// `key = value` pairs of the first of `sections` found in an INI file (missing or
    /// unreadable files have none).
    fn ini_section(path: &str, sections: &[&str]) -> HashMap<String, String> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return HashMap::new();
        };
        for wanted in sections {
            let mut inside = false;
            let mut found = false;
            let mut values = HashMap::new();
            for line in text.lines() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                    continue;
                }
                if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                    inside = name.trim() == *wanted;
                    found |= inside;
                    continue;
                }
                if inside && let Some((k, v)) = line.split_once('=') {
                    values.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            if found {
                return values;
            }
        }
        HashMap::new()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reads_a_profile_section() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("config");
            std::fs::write(
                &path,
                "[default]\nregion = eu-west-1\n\n[profile dev]\n# c\nregion=us-east-2\nendpoint_url = http://x\n",
            )
            .unwrap();
            let p = path.to_str().unwrap();
            assert_eq!(ini_section(p, &["default"])["region"], "eu-west-1");
            let dev = ini_section(p, &["profile dev", "dev"]);
            assert_eq!(dev["region"], "us-east-2");
            assert_eq!(dev["endpoint_url"], "http://x");
            assert!(ini_section(p, &["nope"]).is_empty());
            assert!(ini_section("/nonexistent/x", &["default"]).is_empty());
        }
    }
}
