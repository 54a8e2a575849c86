//! Reads of pinned files are verified: a version's file that changed or vanished since
//! registration fails the query, naming the file, instead of returning other data.
//!
//! [`PinnedStoreRegistry`] wraps every object store DataFusion asks for in a [`VerifyingStore`],
//! which checks each read of a pinned file against what the version recorded, without a
//! request of its own: a query through an alias makes the requests a direct read of the same
//! files would, whatever the number of files.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload,
    OBJECT_STORE_COALESCE_DEFAULT, ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, Result as OsResult, coalesce_ranges,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use url::Url;

use crate::catalog::{PinnedFile, State};
use crate::error::Error;
use crate::store::Store;

/// What a pinned path should look like, and whose it is.
#[derive(Debug)]
struct Pin {
    file: PinnedFile,
    dataset: String,
    version: String,
}

/// The pins of the store's current state, rebuilt when the state changes.
#[derive(Debug)]
pub struct Pins {
    store: Arc<Store>,
    cache: Mutex<(u64, Arc<PinMap>)>,
    /// Read the log again when a read finds no pin (see [`Pins::refreshing`]).
    refresh_on_miss: bool,
}

/// Pins by store (`scheme://host`), then by path in it: looked up per read with no allocation.
type PinMap = HashMap<String, HashMap<String, Arc<Pin>>>;

impl Pins {
    /// The pins of `store`, for a [`PinnedStoreRegistry`].
    pub fn new(store: Arc<Store>) -> Arc<Pins> {
        Arc::new(Pins {
            store,
            cache: Mutex::new((u64::MAX, Arc::new(HashMap::new()))),
            refresh_on_miss: false,
        })
    }

    /// The pins of `store` for a process that runs no statements of its own and so never
    /// refreshes the store (a cluster's scheduler or executor): a read of a file that no
    /// pin describes first reads the log's new entries, one request when there are none.
    /// The version a query reads was registered before the query was planned, so it is
    /// known once the log is read after the read began, and its files are verified.
    pub fn refreshing(store: Arc<Store>) -> Arc<Pins> {
        Arc::new(Pins {
            store,
            cache: Mutex::new((u64::MAX, Arc::new(HashMap::new()))),
            refresh_on_miss: true,
        })
    }

    fn current(&self) -> Arc<PinMap> {
        let state = self.store.state();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0 != state.sequence {
            *cache = (state.sequence, Arc::new(build_pins(&state)));
        }
        Arc::clone(&cache.1)
    }
}

fn build_pins(state: &State) -> PinMap {
    let mut pins = PinMap::new();
    for ds in state.datasets.values() {
        for v in &ds.versions {
            for f in &v.files {
                if let Some((base, path)) = pin_key_of_url(&f.url) {
                    let pin = Pin {
                        file: f.clone(),
                        dataset: ds.name.clone(),
                        version: v.id.clone(),
                    };
                    pins.entry(base)
                        .or_default()
                        .insert(path.to_string(), Arc::new(pin));
                }
            }
        }
    }
    pins
}

/// `scheme://host` and the path as object_store normalises it.
fn pin_key_of_url(url: &str) -> Option<(String, Path)> {
    let url = Url::parse(url).ok()?;
    let path = Path::from_url_path(url.path()).ok()?;
    Some((base_of(&url), path))
}

fn base_of(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
}

/// An object store registry whose stores verify pinned files.
#[derive(Debug)]
pub struct PinnedStoreRegistry {
    inner: DefaultObjectStoreRegistry,
    pins: Arc<Pins>,
}

impl PinnedStoreRegistry {
    /// An empty registry (stores are registered or built from the environment on first use)
    /// whose stores verify the files of `pins`.
    pub fn new(pins: Arc<Pins>) -> Self {
        Self {
            inner: DefaultObjectStoreRegistry::new(),
            pins,
        }
    }
}

impl ObjectStoreRegistry for PinnedStoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        self.inner.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> DfResult<Arc<dyn ObjectStore>> {
        let inner = match self.inner.get_store(url) {
            Ok(inner) => inner,
            // A version registered from another bucket (`s3://`, `gs://`, `az://`): its store
            // is built from the environment the way the store's own is, once per bucket.
            Err(_) if !matches!(url.scheme(), "file" | "memory") => {
                let built = crate::store::object_store_for(url)
                    .map_err(datafusion::error::DataFusionError::from)?;
                self.inner.register_store(url, Arc::clone(&built));
                built
            }
            Err(e) => return Err(e),
        };
        Ok(Arc::new(VerifyingStore::new(
            inner,
            url,
            Arc::clone(&self.pins),
        )))
    }
}

/// Wraps a store so that reads of pinned files are checked against their pins.
///
/// A query through an alias makes no request of its own for this: the listing of a pinned file
/// (DataFusion's `HEAD` per file of a `ListingTable`) is answered from the pin, and each read
/// is checked as it happens. A remote read carries the recorded e-tag as `If-Match`, so the
/// object store itself refuses a replaced object; a local one compares the size and
/// modification time of the file it opens. Either way the query fails naming the file.
#[derive(Debug)]
pub(crate) struct VerifyingStore {
    inner: Arc<dyn ObjectStore>,
    base: String,
    local: bool,
    pins: Arc<Pins>,
}

impl VerifyingStore {
    pub fn new(inner: Arc<dyn ObjectStore>, url: &Url, pins: Arc<Pins>) -> Self {
        Self {
            inner,
            base: base_of(url),
            local: url.scheme() == "file",
            pins,
        }
    }

    /// The pin of `location`, if a version pins it.
    fn pin_in(&self, pins: &PinMap, location: &Path) -> Option<Arc<Pin>> {
        pins.get(&self.base)?.get(location.as_ref()).cloned()
    }

    /// The pin of `location`, if a version pins it, reading the log's new entries first when
    /// the pins are [refreshing](Pins::refreshing) and none is known yet.
    async fn pin_of(&self, location: &Path) -> OsResult<Option<Arc<Pin>>> {
        if let Some(pin) = self.pin_in(&self.pins.current(), location) {
            return Ok(Some(pin));
        }
        if !self.pins.refresh_on_miss {
            return Ok(None);
        }
        // A store that cannot be read cannot say the file is unpinned: the read fails.
        self.pins.store.refresh_to_read().await.map_err(|e| {
            datafusion::object_store::Error::Generic {
                store: "rollout",
                source: Box::new(e),
            }
        })?;
        Ok(self.pin_in(&self.pins.current(), location))
    }

    /// A read of a pinned file that failed or found it changed, as the query's error.
    fn changed(pin: &Pin, problem: String) -> datafusion::object_store::Error {
        datafusion::object_store::Error::Generic {
            store: "rollout",
            source: Box::new(Error::PinnedFileChanged {
                dataset: pin.dataset.clone(),
                version: pin.version.clone(),
                path: pin.file.url.clone(),
                problem,
            }),
        }
    }

    /// `found` (the metadata a read returned, or its error) checked against `pin`.
    fn check(
        &self,
        pin: &Pin,
        found: Result<&ObjectMeta, &datafusion::object_store::Error>,
    ) -> OsResult<()> {
        let problem = match found {
            Err(datafusion::object_store::Error::NotFound { .. }) => "is missing".to_string(),
            Err(datafusion::object_store::Error::Precondition { .. }) => format!(
                "was replaced (registered with e-tag {:?}, the object store now holds another)",
                pin.file.e_tag.as_deref().unwrap_or("")
            ),
            Err(_) => return Ok(()),
            Ok(meta) => match describe_change(&pin.file, meta, self.base.starts_with("file://")) {
                Some(problem) => problem,
                None => return Ok(()),
            },
        };
        Err(Self::changed(pin, problem))
    }

    /// A remote read of `pin` is conditional on its recorded e-tag.
    fn condition(&self, pin: &Pin, options: &mut GetOptions) {
        if !self.local && options.if_match.is_none() {
            options.if_match.clone_from(&pin.file.e_tag);
        }
    }
}

/// The object a pin describes, as a `HEAD` would: what DataFusion lists a pinned file as.
fn listed(pin: &Pin, location: &Path) -> GetResult {
    GetResult {
        payload: GetResultPayload::Stream(futures::stream::empty().boxed()),
        meta: ObjectMeta {
            location: location.clone(),
            last_modified: pin.file.last_modified,
            size: pin.file.size,
            e_tag: pin.file.e_tag.clone(),
            version: None,
        },
        range: 0..pin.file.size,
        attributes: Default::default(),
    }
}

/// Whether `options` ask for nothing but the metadata.
fn plain_head(options: &GetOptions) -> bool {
    options.head
        && options.range.is_none()
        && options.if_match.is_none()
        && options.if_none_match.is_none()
        && options.if_modified_since.is_none()
        && options.if_unmodified_since.is_none()
        && options.version.is_none()
}

/// How `meta` differs from the pin, if it does. Local files are compared by size and
/// modification time (their e-tag includes the inode, which a copy of the store changes);
/// remote objects by size and e-tag.
pub(crate) fn describe_change(pin: &PinnedFile, meta: &ObjectMeta, local: bool) -> Option<String> {
    if meta.size != pin.size {
        return Some(format!(
            "changed size (registered with {} bytes, now {} bytes)",
            pin.size, meta.size
        ));
    }
    if local || pin.e_tag.is_none() {
        if meta.last_modified != pin.last_modified {
            return Some(format!(
                "was modified (registered with mtime {}, now {})",
                pin.last_modified, meta.last_modified
            ));
        }
    } else if meta.e_tag != pin.e_tag {
        return Some(format!(
            "was replaced (registered with e-tag {:?}, now {:?})",
            pin.e_tag.as_deref().unwrap_or(""),
            meta.e_tag.as_deref().unwrap_or("")
        ));
    }
    None
}

impl fmt::Display for VerifyingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifying({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for VerifyingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> OsResult<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> OsResult<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, mut options: GetOptions) -> OsResult<GetResult> {
        let Some(pin) = self.pin_of(location).await? else {
            return self.inner.get_opts(location, options).await;
        };
        if plain_head(&options) {
            return Ok(listed(&pin, location));
        }
        self.condition(&pin, &mut options);
        match self.inner.get_opts(location, options).await {
            Ok(result) => {
                self.check(&pin, Ok(&result.meta))?;
                Ok(result)
            }
            Err(e) => {
                self.check(&pin, Err(&e))?;
                Err(e)
            }
        }
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> OsResult<Vec<bytes::Bytes>> {
        let Some(pin) = self.pin_of(location).await? else {
            return self.inner.get_ranges(location, ranges).await;
        };
        if self.local {
            // One `stat` beside the read (local files have no conditional reads).
            let found = self.inner.head(location).await;
            self.check(&pin, found.as_ref())?;
            return self.inner.get_ranges(location, ranges).await;
        }
        // As the object store's own `get_ranges`, each coalesced range one conditional GET.
        coalesce_ranges(
            ranges,
            |range| self.get_range(location, range),
            OBJECT_STORE_COALESCE_DEFAULT,
        )
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, OsResult<Path>>,
    ) -> BoxStream<'static, OsResult<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, OsResult<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, OsResult<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> OsResult<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> OsResult<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
