//! What the cluster's processes share: the store, its verified files, our functions.

use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::error::Result;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{FunctionRegistry, SessionState};
use datafusion::prelude::SessionConfig;
use datafusion_rollout::contract::functions;
use datafusion_rollout::resolve::{PinnedStoreRegistry, Pins};
use datafusion_rollout::store::resolve_location;
use datafusion_rollout::{Store, StoreOptions};

/// A scheduler's or executor's view of a rollout store: the object stores its plans read
/// through, which verify every pinned file against the store's log (read again when a file
/// of a version registered since shows up), and the library's functions.
#[derive(Debug, Clone)]
pub struct Node {
    store: Arc<Store>,
    registry: Arc<PinnedStoreRegistry>,
}

impl Node {
    /// The node of the store at `location` (a folder, `file://` or `s3://` URL; an S3 store's
    /// credentials come from this process's environment, as for the shell).
    /// A location without a store (a mistyped path, an empty bucket prefix) is refused: the
    /// processes of a cluster read a store, they never start one.
    pub async fn open(location: &str) -> datafusion_rollout::Result<Node> {
        let missing = |reason: &str| datafusion_rollout::Error::InvalidLocation {
            location: location.to_string(),
            reason: format!("{reason}; give the store the shell uses (rollout --store)"),
        };
        let url = resolve_location(location, false)?;
        if url.scheme() == "file" && url.to_file_path().is_ok_and(|p| !p.is_dir()) {
            return Err(missing("there is no folder there"));
        }
        let store = Store::open(location, StoreOptions::default()).await?;
        if store.state().sequence == 0 {
            return Err(missing("no rollout store is there (its log is empty)"));
        }
        let registry = Arc::new(PinnedStoreRegistry::new(Pins::refreshing(Arc::clone(
            &store,
        ))));
        datafusion::execution::object_store::ObjectStoreRegistry::register_store(
            registry.as_ref(),
            store.url(),
            Arc::clone(store.object_store()),
        );
        Ok(Node { store, registry })
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A runtime whose object stores verify pinned files; spill files go to `work_dir`.
    pub fn runtime(&self, work_dir: Option<&str>) -> Result<Arc<RuntimeEnv>> {
        let mut builder = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&self.registry)
                as Arc<dyn datafusion::execution::object_store::ObjectStoreRegistry>);
        if let Some(dir) = work_dir {
            builder = builder.with_temp_file_path(dir);
        }
        builder.build_arc()
    }

    /// A session state for `config` with DataFusion's functions and ours, on [`Self::runtime`]
    /// (the scheduler plans with it).
    pub fn session_state(
        &self,
        config: SessionConfig,
        work_dir: Option<&str>,
    ) -> Result<SessionState> {
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(self.runtime(work_dir)?)
            .with_default_features()
            .build();
        let ours = functions();
        for f in ours.scalar {
            state.register_udf(f)?;
        }
        for f in ours.aggregate {
            state.register_udaf(f)?;
        }
        Ok(state)
    }

    /// DataFusion's functions and ours by name, as an executor looks them up.
    pub fn function_registry(&self) -> Result<BallistaFunctionRegistry> {
        let state = self.session_state(SessionConfig::new(), None)?;
        Ok(BallistaFunctionRegistry::from(&state))
    }
}
