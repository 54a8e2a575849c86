//! `rollout.*` settings on a datafusion-python session, and reading them back in a scan.
//!
//! `SessionConfig().with_extension(RolloutConfig())` registers an `FFI_ExtensionOptions` in
//! the reserved `datafusion_ffi` namespace; DataFusion then routes every key whose namespace it
//! does not know there, so `SET rollout.consumer = 'alice'` is stored as `rollout.consumer`.
//! The session reaches our scan through `FFI_SessionConfig`, where the same values appear both
//! under their own keys and under `datafusion_ffi.rollout.*`; `to_extension` reads the former.

use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion_ffi::config::extension_options::FFI_ExtensionOptions;
use datafusion_rollout::RolloutConfig;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::Reader;

/// The `rollout.*` settings as a datafusion-python config extension.
///
/// `SessionContext(SessionConfig().with_extension(RolloutConfig()))` makes
/// `SET rollout.consumer = 'alice'` and `SET rollout.cohort = 'canary'` work on that context;
/// rollout tables and catalogs read them in each scan. Once an FFI extension is registered,
/// DataFusion accepts any `SET` of an unknown namespace; a misspelt `rollout.*` key fails the
/// next scan of a rollout table.
#[pyclass(module = "datafusion_rollout", name = "RolloutConfig", frozen)]
pub struct PyRolloutConfig {
    consumer: Option<String>,
    cohort: Option<String>,
}

#[pymethods]
impl PyRolloutConfig {
    #[new]
    #[pyo3(signature = (consumer = None, cohort = None))]
    fn new(consumer: Option<String>, cohort: Option<String>) -> Self {
        Self { consumer, cohort }
    }

    #[getter]
    fn consumer(&self) -> Option<String> {
        self.consumer.clone()
    }

    #[getter]
    fn cohort(&self) -> Option<String> {
        self.cohort.clone()
    }

    fn __datafusion_extension_options__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // Keys built here rather than with `add_config`, which prefixes our entries' keys
        // (already `rollout.consumer`) a second time.
        let mut options = FFI_ExtensionOptions::default();
        let keys = RolloutConfig::KEYS
            .iter()
            .zip([&self.consumer, &self.cohort]);
        for (key, value) in keys {
            if let Some(value) = value {
                datafusion::config::ExtensionOptions::set(
                    &mut options,
                    &format!("rollout.{key}"),
                    value,
                )
                .map_err(|e| crate::to_py_err(e.into()))?;
            }
        }
        PyCapsule::new_with_value(py, options, c"datafusion_extension_options")
    }

    fn __repr__(&self) -> String {
        format!(
            "RolloutConfig(consumer={:?}, cohort={:?})",
            self.consumer, self.cohort
        )
    }
}

/// Who a scan reads as: the session's `rollout.*` settings (ours when the session is local,
/// else those carried through FFI), each falling back to the provider's own.
pub fn reader_of(options: &ConfigOptions, default: &Reader) -> Result<Reader> {
    let settings = match options.extensions.get::<RolloutConfig>() {
        Some(local) => local.clone(),
        None => match options.extensions.get::<FFI_ExtensionOptions>() {
            // A misspelt key was accepted silently by `SET` (the namespace takes anything);
            // say so here rather than read as nobody.
            Some(ffi) => ffi.to_extension::<RolloutConfig>().map_err(|e| {
                DataFusionError::Configuration(format!(
                    "the session's rollout settings: {}",
                    e.strip_backtrace()
                ))
            })?,
            None => RolloutConfig::default(),
        },
    };
    Ok(Reader {
        consumer: settings.consumer.or_else(|| default.consumer.clone()),
        cohort: settings.cohort.or_else(|| default.cohort.clone()),
        record_reads: settings.record_reads && default.record_reads,
    })
}
