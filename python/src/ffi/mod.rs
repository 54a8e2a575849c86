//! Rollout datasets and functions for a `datafusion.SessionContext` of datafusion-python 55,
//! through the C ABI of `datafusion-ffi` (PyCapsules, no shared Rust types).
//!
//! Only providers, functions and config extensions cross that boundary: our statements and our
//! analyzer rule do not. So a dataset is resolved by its provider's own `scan`, from the
//! consumer of the querying session (`SET rollout.consumer`, read through the session's FFI
//! config, see [`config`]) or else the one the provider was made with, and the store is
//! refreshed on every lookup and scan so that `PROMOTE`/`ROLLBACK` run through `connect()` are
//! seen without registering anything again.
//!
//! The foreign session comes with an empty object store registry and does not run our futures
//! on our tokio runtime: [`table::RolloutTableProvider`] does its I/O on this module's runtime
//! and executes its plan with its own registry (which verifies pinned files).

mod catalog;
mod config;
mod functions;
mod table;

use std::ptr::NonNull;
use std::sync::Arc;

use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion_ffi::proto::logical_extension_codec::FFI_LogicalExtensionCodec;
use datafusion_rollout::Store;
use datafusion_rollout::resolve::{PinnedStoreRegistry, Pins};
use datafusion_rollout::store::StoreOptions;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::{RolloutError, run, to_py_err};

pub use catalog::PyRolloutCatalog;
pub use config::PyRolloutConfig;
pub use functions::{PyAggregateFunction, PyScalarFunction, all_functions};
pub use table::PyRolloutTable;

/// Who reads, when the querying session does not say (`rollout.consumer` / `rollout.cohort`).
#[derive(Debug, Clone)]
pub struct Reader {
    pub consumer: Option<String>,
    pub cohort: Option<String>,
    /// Record each scan in the reads ledger (`rollout.record_reads`).
    pub record_reads: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Self {
            consumer: None,
            cohort: None,
            record_reads: true,
        }
    }
}

/// A store opened for FFI providers, with the runtime environment their plans execute in.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    pub store: Arc<Store>,
    /// Object stores for the pinned files, verifying them on read (as `RolloutContext` does).
    pub runtime_env: Arc<RuntimeEnv>,
}

impl StoreHandle {
    /// Opens (or creates) the store at `location` (a `str` or `os.PathLike`) on the module's
    /// runtime, GIL released.
    pub fn open(location: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = location.py();
        let location: String = py
            .import("os")?
            .call_method1("fspath", (location,))?
            .extract()?;
        let store = run(py, async move {
            Store::open(&location, StoreOptions::default()).await
        })?;
        let registry = Arc::new(PinnedStoreRegistry::new(Pins::new(Arc::clone(&store))));
        registry.register_store(store.url(), Arc::clone(store.object_store()));
        let runtime_env = RuntimeEnvBuilder::new()
            .with_object_store_registry(registry)
            .build_arc()
            .map_err(|e| to_py_err(e.into()))?;
        Ok(Self { store, runtime_env })
    }
}

/// The handle of the module's runtime, given to every FFI struct so that the streams it
/// returns are polled inside it.
fn runtime_handle() -> PyResult<tokio::runtime::Handle> {
    Ok(crate::runtime()?.handle().clone())
}

/// The logical extension codec of a datafusion-python session. datafusion-python passes
/// either its `SessionContext` (to `__datafusion_table_provider__`) or the codec's capsule
/// itself (to `__datafusion_catalog_provider__`). The codec carries the session's function
/// registry, which decodes the filters pushed into our scans.
fn session_codec(session: &Bound<'_, PyAny>) -> PyResult<FFI_LogicalExtensionCodec> {
    const METHOD: &str = "__datafusion_logical_extension_codec__";
    let capsule = if session.hasattr(METHOD)? {
        session.call_method0(METHOD)?
    } else {
        session.clone()
    };
    let capsule = capsule.cast::<PyCapsule>().map_err(|_| {
        RolloutError::new_err(
            "expected a datafusion.SessionContext (datafusion-python 55) or its \
             logical extension codec capsule",
        )
    })?;
    let pointer: NonNull<FFI_LogicalExtensionCodec> = capsule
        .pointer_checked(Some(c"datafusion_logical_extension_codec"))?
        .cast();
    // SAFETY: `pointer_checked` verified the capsule's name, which datafusion-python gives only
    // to capsules holding an `FFI_LogicalExtensionCodec` (the `#[repr(C)]` struct of
    // datafusion-ffi 55, the major both sides are pinned to); the capsule is alive while we
    // hold `capsule`, and we only clone the struct (its `clone` is one of its own C functions).
    #[allow(unsafe_code)]
    let codec = unsafe { pointer.as_ref() };
    Ok(codec.clone())
}
