//! [`OnCluster`]: a plan sent to the cluster, whose errors say so.

use std::fmt;
use std::sync::Arc;

use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::protobuf::GetJobMetricsParams;
use ballista_core::serde::protobuf::operator_metric::Metric;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::utils::{GrpcClientConfig, create_grpc_client_connection};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::LogicalPlanNode;
use datafusion_rollout::resolve::RowsReadElsewhere;
use futures::{StreamExt, TryStreamExt};

/// Pass-through over Ballista's `DistributedQueryExec`: an error of the job (the scheduler out
/// of reach, a task failed on an executor) names the cluster it ran on.
/// When the job's scans all read one dataset through its name, the rows they read are asked
/// of the scheduler once the job is done and reported to the reads ledger.
#[derive(Debug, Clone)]
pub(crate) struct OnCluster {
    input: Arc<dyn ExecutionPlan>,
    cluster: Arc<str>,
    /// The scheduler's gRPC URL and where to report the rows read.
    rows: Option<(Arc<str>, RowsReadElsewhere)>,
}

impl OnCluster {
    pub(crate) fn new(
        input: Arc<dyn ExecutionPlan>,
        cluster: &str,
        rows: Option<(&str, RowsReadElsewhere)>,
    ) -> Self {
        Self {
            input,
            cluster: cluster.into(),
            rows: rows.map(|(url, rows)| (url.into(), rows)),
        }
    }
}

/// The rows the scans (`DataSourceExec`) of job `job` produced, from the scheduler at `url`;
/// `None` if it cannot say (the ledger then says the count is not known).
async fn rows_scanned(url: &str, job: String, config: &SessionConfig) -> Option<u64> {
    let grpc = GrpcClientConfig::from(&config.ballista_config());
    let channel = create_grpc_client_connection(url.to_string(), &grpc)
        .await
        .ok()?;
    let metrics = SchedulerGrpcClient::new(channel)
        .get_job_metrics(GetJobMetricsParams { job_id: job })
        .await
        .ok()?
        .into_inner();
    let scans = metrics
        .stages
        .iter()
        .flat_map(|stage| &stage.operators)
        .filter(|op| op.operator_type == "DataSourceExec");
    let mut rows = 0;
    for op in scans {
        for metric in &op.metrics {
            if let Some(Metric::OutputRows(n)) = metric.metric {
                rows += n;
            }
        }
    }
    Some(rows)
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
            rows: self.rows.clone(),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let config = context.session_config().clone();
        let stream = self
            .input
            .execute(partition, context)
            .map_err(|e| on(&self.cluster, e))?;
        let cluster = Arc::clone(&self.cluster);
        let (input, rows) = (Arc::clone(&self.input), self.rows.clone());
        // After the last batch: the rows the job's scans read, for the ledger.
        let count = futures::stream::once(async move {
            let job = input
                .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
                .and_then(|exec| exec.job_id());
            if let (Some((url, report)), Some(job)) = (rows, job)
                && let Some(n) = rows_scanned(&url, job.to_string(), &config).await
            {
                report.counted(n);
            }
            None
        })
        .filter_map(futures::future::ready);
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            stream.schema(),
            stream.map_err(move |e| on(&cluster, e)).chain(count),
        )))
    }
}
