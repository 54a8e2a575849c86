//! The client side: plans resolved here, run on the cluster.

use std::sync::Arc;

use async_trait::async_trait;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use ballista_core::planner::BallistaQueryPlanner;
use datafusion::catalog::Session;
use datafusion::common::DFSchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::dml::CopyTo;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::LogicalPlanNode;
use datafusion_rollout::StateHook;
use datafusion_rollout::resolve::{RowsReadElsewhere, detach_reads};

use crate::on_cluster::OnCluster;
use url::Url;

/// The scheduler's gRPC address for `cluster`: `df://host[:port]` (port 50050 by default),
/// also given as `host:port`.
pub fn scheduler_url(cluster: &str) -> Result<String> {
    let with_scheme = if cluster.contains("://") {
        cluster.to_string()
    } else {
        format!("df://{cluster}")
    };
    let bad = |why: &str| {
        DataFusionError::Configuration(format!(
            "cluster '{cluster}' is not a Ballista scheduler address (df://host:port): {why}"
        ))
    };
    let url = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "df" {
        return Err(bad(&format!("the scheme is '{}', not df", url.scheme())));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?;
    if !url.path().trim_start_matches('/').is_empty() || url.query().is_some() {
        return Err(bad("a scheduler address has no path or query"));
    }
    Ok(format!("http://{host}:{}", url.port().unwrap_or(50050)))
}

/// The hook that makes a session plan for the cluster at `cluster` (`df://host:port`):
/// Ballista's client state, with [`ClusterPlanner`] deciding where each plan runs.
pub fn cluster_hook(cluster: &str) -> Result<StateHook> {
    let url = scheduler_url(cluster)?;
    let name = cluster.to_string();
    Ok(StateHook::new(format!("cluster {cluster}"), move |state| {
        plan_on_cluster(state, &url, &name)
    }))
}

fn plan_on_cluster(state: SessionState, url: &str, name: &str) -> Result<SessionState> {
    // Ballista's static distributed planner, not its adaptive one (on by default in 55): when
    // an executor dies after a stage's tasks finished on it, the adaptive planner reruns them
    // but then drops their outputs ("Can't find active stage to update stage outputs" in the
    // scheduler's log) and the job never ends; the static planner reruns the stage and the
    // query answers (cluster/tests/cluster.rs kills an executor at that point).
    let config: SessionConfig = state
        .config()
        .clone()
        .upgrade_for_ballista()
        .with_ballista_adaptive_query_planner(false);
    let planner = ClusterPlanner {
        cluster: Arc::new(Cluster {
            planner: BallistaQueryPlanner::<LogicalPlanNode>::new(
                url.to_string(),
                config.ballista_config(),
            ),
            url: url.to_string(),
            name: name.to_string(),
        }),
        local: DefaultPhysicalPlanner::default(),
    };
    let config = config.with_ballista_query_planner(Arc::new(planner));
    let state = datafusion::execution::SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    state.upgrade_for_ballista(url.to_string())
}

/// Plans a query for the cluster when it can run there ([`runs_on_cluster`]), with the reads
/// of datasets recorded on the client around it; otherwise here, as DataFusion would.
pub struct ClusterPlanner {
    cluster: Arc<Cluster>,
    local: DefaultPhysicalPlanner,
}

impl std::fmt::Debug for ClusterPlanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPlanner")
            .field("cluster", &self.cluster)
            .finish()
    }
}

/// Plans for one cluster.
#[derive(Debug)]
struct Cluster {
    planner: BallistaQueryPlanner<LogicalPlanNode>,
    /// The scheduler's gRPC URL.
    url: String,
    /// The cluster as the user named it, for errors.
    name: String,
}

impl Cluster {
    /// `plan` as a job on the cluster; the rows its scans read reported to `rows`.
    async fn plan(
        &self,
        plan: &LogicalPlan,
        state: &dyn Session,
        rows: Option<RowsReadElsewhere>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let exec = self.planner.create_physical_plan(plan, state).await?;
        let rows = rows.map(|r| (self.url.as_str(), r));
        Ok(Arc::new(OnCluster::new(exec, &self.name, rows)))
    }
}

#[async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (detached, reads) = detach_reads(plan.clone())?;
        let planned = match &detached {
            LogicalPlan::Copy(copy) if runs_on_cluster(&copy.input)? => {
                self.write_here(copy, state, reads.sole_read()).await
            }
            // Ballista runs the query and reads the job's metrics back from the scheduler.
            LogicalPlan::Analyze(analyze) if runs_on_cluster(&analyze.input)? => {
                self.cluster.plan(&detached, state, None).await
            }
            _ if runs_on_cluster(&detached)? => {
                self.cluster.plan(&detached, state, reads.sole_read()).await
            }
            _ => return self.local.create_physical_plan(plan, state).await,
        };
        match planned {
            Ok(exec) => Ok(reads.wrap(exec)),
            Err(e) => {
                reads.fail(&e);
                Err(e)
            }
        }
    }
}

impl ClusterPlanner {
    /// A write (`COPY`, and `CREATE VERSION ... AS SELECT`, which writes through it) whose
    /// query runs on the cluster and whose files are written here: the query becomes a leaf
    /// ([`ClusterQuery`]) that the local planner hands back to the cluster.
    async fn write_here(
        &self,
        copy: &CopyTo,
        state: &dyn Session,
        rows: Option<RowsReadElsewhere>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let query = ClusterQuery {
            plan: copy.input.as_ref().clone(),
        };
        let write = LogicalPlan::Copy(CopyTo {
            input: Arc::new(LogicalPlan::Extension(Extension {
                node: Arc::new(query),
            })),
            ..copy.clone()
        });
        let planner = DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(
            ClusterQueries(Arc::clone(&self.cluster), rows),
        )]);
        planner.create_physical_plan(&write, state).await
    }
}

/// A query planned on the cluster inside a plan that runs here (see
/// [`ClusterPlanner::write_here`]). It has no inputs, so the local planner does not plan
/// the query too.
#[derive(Debug, PartialEq, Eq, Hash, PartialOrd)]
struct ClusterQuery {
    plan: LogicalPlan,
}

impl UserDefinedLogicalNodeCore for ClusterQuery {
    fn name(&self) -> &str {
        "ClusterQuery"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.plan.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ClusterQuery")
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, _inputs: Vec<LogicalPlan>) -> Result<Self> {
        Ok(ClusterQuery {
            plan: self.plan.clone(),
        })
    }
}

/// Plans [`ClusterQuery`] leaves on the cluster, reporting the rows their scans read.
struct ClusterQueries(Arc<Cluster>, Option<RowsReadElsewhere>);

#[async_trait]
impl ExtensionPlanner for ClusterQueries {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        _physical_inputs: &[Arc<dyn ExecutionPlan>],
        state: &dyn Session,
        _planning: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        match node.as_any().downcast_ref::<ClusterQuery>() {
            Some(query) => Ok(Some(self.0.plan(&query.plan, state, self.1.clone()).await?)),
            None => Ok(None),
        }
    }
}

/// Whether `plan` can run on a cluster: a query (not a write, DDL or `EXPLAIN`) that scans
/// tables, every one of them files (a `ListingTable`, which Ballista serializes with its
/// pinned paths). A query of no table is cheaper here.
pub fn runs_on_cluster(plan: &LogicalPlan) -> Result<bool> {
    match plan {
        LogicalPlan::Explain(_)
        | LogicalPlan::Analyze(_)
        | LogicalPlan::Dml(_)
        | LogicalPlan::Copy(_)
        | LogicalPlan::Ddl(_)
        | LogicalPlan::Statement(_)
        | LogicalPlan::DescribeTable(_) => return Ok(false),
        _ => {}
    }
    let (mut files, mut other) = (0usize, false);
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let is_files = source_as_provider(&scan.source)
                .map(|p| p.downcast_ref::<ListingTable>().is_some())
                .unwrap_or(false);
            if is_files {
                files += 1;
            } else {
                other = true;
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(files > 0 && !other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses() {
        assert_eq!(
            scheduler_url("df://h:1").ok().as_deref(),
            Some("http://h:1")
        );
        assert_eq!(
            scheduler_url("df://h").ok().as_deref(),
            Some("http://h:50050")
        );
        assert_eq!(
            scheduler_url("127.0.0.1:7").ok().as_deref(),
            Some("http://127.0.0.1:7")
        );
        for bad in ["grpc://h:1", "df://", "df://h:1/x", "df://h:99999"] {
            let e = scheduler_url(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.contains(bad) && e.contains("df://host:port"),
                "{bad}: {e}"
            );
        }
    }
}
