//! `ASSERT <boolean expression> [AS 'message']`: fails the statement (exit code 1 in batch
//! mode) unless the expression is true.

use std::fmt;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::dataframe::DataFrame;
use datafusion::sql::sqlparser::ast::Expr;

use super::Quoted;
use crate::error::{Error, Result};
use crate::session::RolloutContext;

/// `ASSERT (SELECT count(*) FROM orders) > 0 AS 'orders is not empty'`
#[derive(Debug, Clone, PartialEq)]
pub struct Assert {
    pub condition: Expr,
    pub message: Option<String>,
}

impl fmt::Display for Assert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ASSERT {}", self.condition)?;
        if let Some(m) = &self.message {
            write!(f, " AS {}", Quoted(m))?;
        }
        Ok(())
    }
}

impl Assert {
    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        let df = rc
            .run_sql(&format!("SELECT ({}) AS assertion", self.condition))
            .await?;
        let batches = df.collect().await?;
        let mut holds = !batches.is_empty();
        for batch in &batches {
            let column = batch.column(0);
            let Some(values) = column.as_any().downcast_ref::<BooleanArray>() else {
                return Err(Error::precondition(format!(
                    "ASSERT needs a boolean expression, got {}: {}",
                    column.data_type(),
                    self.condition
                )));
            };
            holds &= values.null_count() == 0 && values.true_count() == values.len();
        }
        if holds {
            rc.empty()
        } else {
            Err(Error::AssertionFailed {
                message: match &self.message {
                    Some(m) => m.clone(),
                    None => self.condition.to_string(),
                },
            })
        }
    }
}
