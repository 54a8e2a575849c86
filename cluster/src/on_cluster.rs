//! [`OnCluster`]: a plan sent to the cluster, whose errors say so.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use futures::TryStreamExt;

/// Pass-through over Ballista's `DistributedQueryExec`: an error of the job (the scheduler out
/// of reach, a task failed on an executor) names the cluster it ran on.
#[derive(Debug, Clone)]
pub(crate) struct OnCluster {
    input: Arc<dyn ExecutionPlan>,
    cluster: Arc<str>,
}

impl OnCluster {
    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, cluster: &str) -> Self {
        Self {
            input,
            cluster: cluster.into(),
        }
    }
}

/// An error of a job on the cluster: its innermost message, and where it ran.
#[derive(Debug)]
struct ClusterError {
    cluster: Arc<str>,
    message: String,
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "on the Ballista cluster {}: {}",
            self.cluster, self.message
        )
    }
}

impl std::error::Error for ClusterError {}

fn on(cluster: &Arc<str>, e: DataFusionError) -> DataFusionError {
    let message = match e.find_root() {
        DataFusionError::External(inner) => inner.to_string(),
        root => root.to_string(),
    };
    DataFusionError::External(Box::new(ClusterError {
        cluster: Arc::clone(cluster),
        message,
    }))
}

impl DisplayAs for OnCluster {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OnCluster: {}", self.cluster)
    }
}

impl ExecutionPlan for OnCluster {
    fn name(&self) -> &str {
        "OnCluster"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "OnCluster has one child, got {}",
                children.len()
            )));
        }
        Ok(Arc::new(Self {
            input: children.swap_remove(0),
            cluster: Arc::clone(&self.cluster),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self
            .input
            .execute(partition, context)
            .map_err(|e| on(&self.cluster, e))?;
        let cluster = Arc::clone(&self.cluster);
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            stream.schema(),
            stream.map_err(move |e| on(&cluster, e)),
        )))
    }
}
