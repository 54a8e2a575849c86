//! [`CountingStore`]: an object store wrapper that counts the requests going through it, for
//! tests and benchmarks ("how many requests does a PROMOTE cost on S3?"). A test instrument,
//! not part of the default API: it is there with the `test-support` feature.
//!
//! Install it for a store's URL with [`super::register_object_store`] before opening the store:
//!
//! ```no_run
//! # async fn f() -> datafusion_rollout::Result<()> {
//! use std::sync::Arc;
//! use datafusion_rollout::store::{CountingStore, object_store_for, register_object_store};
//! let url = url::Url::parse("s3://bucket/team/").unwrap();
//! let counting = Arc::new(CountingStore::new(object_store_for(&url)?));
//! register_object_store(&url, counting.clone());
//! let ctx = datafusion_rollout::RolloutContext::open(url.as_str()).await?;
//! let before = counting.requests();
//! ctx.sql("ROLLBACK orders").await?;
//! println!("{}", counting.requests() - before);
//! # Ok(()) }
//! ```
//!
//! Requests are counted as a cloud store sends them: one `GET` per `get`/`get_range` (a
//! `get_ranges` is counted per coalesced range, as object_store fetches them), one `HEAD` per
//! `head`, one `PUT` per put, one `LIST` per page of up to 1000 keys, one `DELETE` per deleted
//! object, one `COPY` per copy. Retries inside the wrapped client are not visible here.

use std::fmt;
use std::ops::Sub;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result as OsResult,
};
use futures::StreamExt;
use futures::stream::BoxStream;

/// Keys a LIST request returns per page (S3's and object_store's page size).
const LIST_PAGE: u64 = 1000;

/// Requests counted by a [`CountingStore`], per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    /// `GET` requests (one per range fetched).
    pub get: u64,
    /// `HEAD` requests.
    pub head: u64,
    /// `PUT` requests (a multipart upload counts once).
    pub put: u64,
    /// `LIST` requests (one per page of up to 1000 keys).
    pub list: u64,
    /// `DELETE` requests (one per object deleted).
    pub delete: u64,
    /// `COPY` requests.
    pub copy: u64,
}

impl Requests {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.get + self.head + self.put + self.list + self.delete + self.copy
    }
}

impl Sub for Requests {
    type Output = Requests;

    fn sub(self, rhs: Requests) -> Requests {
        Requests {
            get: self.get.saturating_sub(rhs.get),
            head: self.head.saturating_sub(rhs.head),
            put: self.put.saturating_sub(rhs.put),
            list: self.list.saturating_sub(rhs.list),
            delete: self.delete.saturating_sub(rhs.delete),
            copy: self.copy.saturating_sub(rhs.copy),
        }
    }
}

impl fmt::Display for Requests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} requests (GET {}, HEAD {}, PUT {}, LIST {}, DELETE {}, COPY {})",
            self.total(),
            self.get,
            self.head,
            self.put,
            self.list,
            self.delete,
            self.copy
        )
    }
}

#[derive(Debug, Default)]
struct Counters {
    get: AtomicU64,
    head: AtomicU64,
    put: AtomicU64,
    list: AtomicU64,
    delete: AtomicU64,
    copy: AtomicU64,
    /// `"GET path"` per request, oldest first, while recording.
    trace: Mutex<Option<Vec<String>>>,
}

impl Counters {
    fn add(&self, counter: &AtomicU64, kind: &str, path: impl fmt::Display) {
        counter.fetch_add(1, Ordering::Relaxed);
        let mut trace = self.trace.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(trace) = trace.as_mut() {
            trace.push(format!("{kind} {path}"));
        }
    }
}

/// Counts the requests made through it to the wrapped store (see the module docs).
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
}

impl CountingStore {
    /// Wraps `inner`, with every count at zero.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            counters: Arc::default(),
        }
    }

    /// The requests counted so far.
    pub fn requests(&self) -> Requests {
        let c = &self.counters;
        Requests {
            get: c.get.load(Ordering::Relaxed),
            head: c.head.load(Ordering::Relaxed),
            put: c.put.load(Ordering::Relaxed),
            list: c.list.load(Ordering::Relaxed),
            delete: c.delete.load(Ordering::Relaxed),
            copy: c.copy.load(Ordering::Relaxed),
        }
    }

    /// Starts (or restarts) recording each request as `"GET path"`, `"LIST prefix > offset"`...
    pub fn start_trace(&self) {
        let mut trace = self
            .counters
            .trace
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *trace = Some(Vec::new());
    }

    /// The requests recorded since [`Self::start_trace`], which stops recording.
    pub fn take_trace(&self) -> Vec<String> {
        let mut trace = self
            .counters
            .trace
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        trace.take().unwrap_or_default()
    }

    /// Counts one LIST per started page of the stream.
    fn counted_list(
        &self,
        description: String,
        stream: BoxStream<'static, OsResult<ObjectMeta>>,
    ) -> BoxStream<'static, OsResult<ObjectMeta>> {
        let counters = Arc::clone(&self.counters);
        let mut seen = 0u64;
        let mut first = true;
        let page = move || {
            counters.add(&counters.list, "LIST", &description);
        };
        // The first page is requested before anything is returned, even when it is empty.
        page();
        stream
            .map(move |item| {
                if !first && seen.is_multiple_of(LIST_PAGE) {
                    page();
                }
                first = false;
                seen += 1;
                item
            })
            .boxed()
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> OsResult<PutResult> {
        self.counters.add(&self.counters.put, "PUT", location);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> OsResult<Box<dyn MultipartUpload>> {
        // Creating the upload is one request; its parts and completion are not seen here.
        self.counters
            .add(&self.counters.put, "PUT (multipart)", location);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> OsResult<GetResult> {
        if options.head {
            self.counters.add(&self.counters.head, "HEAD", location);
        } else {
            self.counters.add(&self.counters.get, "GET", location);
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, OsResult<Path>>,
    ) -> BoxStream<'static, OsResult<Path>> {
        let counters = Arc::clone(&self.counters);
        let locations = locations
            .map(move |location| {
                if let Ok(path) = &location {
                    counters.add(&counters.delete, "DELETE", path);
                }
                location
            })
            .boxed();
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, OsResult<ObjectMeta>> {
        let description = prefix.map(|p| p.to_string()).unwrap_or_default();
        self.counted_list(description, self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, OsResult<ObjectMeta>> {
        let description = format!(
            "{} > {offset}",
            prefix.map(|p| p.to_string()).unwrap_or_default()
        );
        self.counted_list(description, self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> OsResult<ListResult> {
        self.counters.add(
            &self.counters.list,
            "LIST /",
            prefix.map(|p| p.to_string()).unwrap_or_default(),
        );
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> OsResult<()> {
        self.counters
            .add(&self.counters.copy, "COPY", format!("{from} -> {to}"));
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::ObjectStoreExt;
    use datafusion::object_store::memory::InMemory;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn counts_each_kind() {
        let store = CountingStore::new(Arc::new(InMemory::new()));
        store.start_trace();
        let a = Path::from("x/a");
        store.put(&a, PutPayload::from("1")).await.unwrap();
        store.get(&a).await.unwrap().bytes().await.unwrap();
        store.head(&a).await.unwrap();
        let _: Vec<_> = store
            .list(Some(&Path::from("x")))
            .try_collect()
            .await
            .unwrap();
        let _: Vec<_> = store
            .list_with_offset(Some(&Path::from("x")), &a)
            .try_collect()
            .await
            .unwrap();
        store.delete(&a).await.unwrap();
        let r = store.requests();
        assert_eq!(
            r,
            Requests {
                get: 1,
                head: 1,
                put: 1,
                list: 2,
                delete: 1,
                copy: 0
            }
        );
        assert_eq!(r.total(), 6);
        assert_eq!(r - r, Requests::default());
        let trace = store.take_trace();
        assert_eq!(trace[0], "PUT x/a");
        assert_eq!(trace[3], "LIST x");
        assert_eq!(trace[4], "LIST x > x/a");
    }

    #[tokio::test]
    async fn counts_list_pages() {
        let store = CountingStore::new(Arc::new(InMemory::new()));
        for i in 0..1001 {
            store
                .put(&Path::from(format!("p/{i:05}")), PutPayload::from("1"))
                .await
                .unwrap();
        }
        let listed: Vec<_> = store
            .list(Some(&Path::from("p")))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(listed.len(), 1001);
        assert_eq!(store.requests().list, 2);
    }
}
