//! DataFusion's own statements in a session: planned, checked (on a server), run, and for
//! `EXPLAIN` followed by which version each dataset resolved to.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;

use super::RolloutContext;
use crate::catalog::Privilege;
use crate::error::Result;
use crate::resolve::{Resolution, RolloutConfig, resolutions_in};

impl RolloutContext {
    pub(super) async fn execute_datafusion(&self, statement: &DFStatement) -> Result<DataFrame> {
        let plan = self
            .ctx
            .state()
            .statement_to_plan(statement.clone())
            .await?;
        if self.server_side {
            self.check_server_side(&plan)?;
        }
        let resolutions = match &plan {
            LogicalPlan::Explain(_) | LogicalPlan::Analyze(_) => self.resolutions(&plan)?,
            _ => vec![],
        };
        let df = if matches!(plan, LogicalPlan::Explain(_)) {
            // EXPLAIN plans the scans without running them: nobody read anything.
            let mut state = self.ctx.state();
            if let Some(cfg) = state
                .config_mut()
                .options_mut()
                .extensions
                .get_mut::<RolloutConfig>()
            {
                cfg.explaining = true;
            }
            DataFrame::new(state, plan)
        } else {
            self.ctx.execute_logical_plan(plan).await?
        };
        if resolutions.is_empty() {
            return Ok(df);
        }
        // EXPLAIN says which version each dataset resolved to, and why.
        let schema = Arc::new(df.schema().as_arrow().clone());
        let mut batches = df.collect().await?;
        let mut kinds = vec!["rollout_resolution"; resolutions.len()];
        let mut rows: Vec<String> = resolutions.iter().map(|r| r.to_string()).collect();
        // A migration in progress: which names are deprecated, and what they read.
        let state = self.store.state();
        for r in &resolutions {
            let Ok(ds) = state.dataset(&r.dataset) else {
                continue;
            };
            for c in ds.compat_columns(&[r.version.as_str()]) {
                let reads = match &c.replaced_by {
                    Some(new) => format!("reads '{new}'"),
                    None => "reads NULL in versions without it".into(),
                };
                kinds.push("rollout_migration");
                rows.push(format!(
                    "{}.{} is a deprecated compatibility column of the migration declared by '{}' ({reads}); ALTER DATASET {} FINISH MIGRATION removes it",
                    r.dataset, c.column.name, c.version, r.dataset
                ));
            }
        }
        let plan_type: ArrayRef = Arc::new(StringArray::from(kinds));
        let text: ArrayRef = Arc::new(StringArray::from(rows));
        if schema.fields().len() == 2 {
            batches.push(RecordBatch::try_new(
                Arc::clone(&schema),
                vec![plan_type, text],
            )?);
        }
        Ok(self.ctx.read_batches(batches)?)
    }

    /// On a server, a plan that is not a query (DDL, DML, `SET`) needs ADMIN.
    fn check_server_side(&self, plan: &LogicalPlan) -> Result<()> {
        let queries_only = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        if queries_only.verify_plan(plan).is_ok() {
            return Ok(());
        }
        // On an open store everyone may; with users, only an ADMIN of the whole store.
        self.store
            .state()
            .access
            .check(&self.actor(), Privilege::Admin, None)
    }

    /// How each dataset scanned by `plan` resolves in this session.
    pub fn resolutions(&self, plan: &LogicalPlan) -> Result<Vec<Resolution>> {
        resolutions_in(plan, self.ctx.state().config_options())
    }
}
