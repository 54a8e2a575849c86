//! `ASSERT <boolean expression> [AS 'message']`: fails the statement (exit code 1 in batch
//! mode) unless the expression is true.

use std::fmt;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::sql::sqlparser::ast::Expr;

use super::Outcome;
use crate::error::{Error, Result};
use crate::guard::Env;
use crate::sql::Quoted;

/// `ASSERT (SELECT count(*) FROM orders) > 0 AS 'orders is not empty'`
#[derive(Debug, Clone, PartialEq)]
pub struct Assert {
    /// The boolean expression that must be true.
    pub condition: Expr,
    /// The `AS '...'` message of the failure; the condition's SQL when `None`.
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
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let df = env
            .session
            .sql(&format!("SELECT ({}) AS assertion", self.condition))
            .await?;
        let batches = df.collect().await?;
        let mut holds = !batches.is_empty();
        for batch in &batches {
            let column = batch.column(0);
            let Some(values) = column.as_any().downcast_ref::<BooleanArray>() else {
                return Err(Error::NotBoolean {
                    data_type: column.data_type().to_string(),
                    condition: self.condition.to_string(),
                });
            };
            holds &= values.null_count() == 0 && values.true_count() == values.len();
        }
        if holds {
            Ok(Outcome::Done)
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
