//! The analyzer rule that swaps each dataset scan for the resolved version's `ListingTable`.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::config::ConfigOptions;
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::error::Result;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::AnalyzerRule;

use super::provider::VersionedTable;

/// Replaces `TableScan(VersionedTable)` with `TableScan(ListingTable)` of the version the
/// session resolves to. It runs on every execution (and `EXPLAIN`), after DataFusion's own
/// analyzer rules, with the session's config, so views and prepared plans resolve per query.
#[derive(Debug, Default)]
pub struct ResolveVersions;

impl AnalyzerRule for ResolveVersions {
    fn name(&self) -> &str {
        "rollout_resolve_versions"
    }

    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            let Ok(provider) = source_as_provider(&scan.source) else {
                return Ok(Transformed::no(node));
            };
            let Some(versioned) = provider.downcast_ref::<VersionedTable>() else {
                return Ok(Transformed::no(node));
            };
            let table = versioned.resolved_table(config)?;
            let mut scan = scan.clone();
            scan.source = provider_as_source(table);
            Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
        })
        .map(|t| t.data)
    }
}

/// The rule as a shareable value.
pub fn resolve_versions_rule() -> Arc<dyn AnalyzerRule + Send + Sync> {
    Arc::new(ResolveVersions)
}
