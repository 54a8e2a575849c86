//! `CREATE DATASET` and `SHOW DATASETS`.

use std::fmt;
use std::sync::Arc;

use chrono::Utc;
use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::parser::{expect_word, parse_name, parse_string, parse_word};
use super::{Ident, Quoted, ReasonClause};
use crate::catalog::{Action, Dataset, Rollout, validate_identifier};
use crate::error::{Error, Result};
use crate::session::RolloutContext;
use crate::store::Commit;

/// `CREATE DATASET [IF NOT EXISTS] name [COMMENT '...'] [REASON '...']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDataset {
    pub name: String,
    pub if_not_exists: bool,
    pub comment: Option<String>,
    pub reason: Option<String>,
}

pub(super) fn parse_create(p: &mut Parser) -> Result<CreateDataset, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    expect_word(p, "DATASET")?;
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parse_name(p, "a dataset name")?;
    let mut comment = None;
    let mut reason = None;
    loop {
        if comment.is_none() && p.parse_keyword(Keyword::COMMENT) {
            comment = Some(parse_string(p, "a comment in quotes after COMMENT")?);
        } else if reason.is_none() && parse_word(p, "REASON") {
            reason = Some(parse_string(p, "a reason in quotes after REASON")?);
        } else {
            break;
        }
    }
    Ok(CreateDataset {
        name,
        if_not_exists,
        comment,
        reason,
    })
}

impl fmt::Display for CreateDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE DATASET ")?;
        if self.if_not_exists {
            write!(f, "IF NOT EXISTS ")?;
        }
        write!(f, "{}", Ident(&self.name))?;
        if let Some(c) = &self.comment {
            write!(f, " COMMENT {}", Quoted(c))?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl CreateDataset {
    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        validate_identifier("dataset name", &self.name)?;
        if rc.session().table_exist(self.name.as_str())?
            && !rc.store().state().datasets.contains_key(&self.name)
        {
            return Err(Error::precondition(format!(
                "'{}' is already a table in this session; choose another dataset name",
                self.name
            )));
        }
        let mut exists = false;
        let outcome = rc
            .commit(|state| {
                exists = state.datasets.contains_key(&self.name);
                if exists {
                    return if self.if_not_exists {
                        Ok(None)
                    } else {
                        Err(Error::DatasetExists {
                            dataset: self.name.clone(),
                        })
                    };
                }
                let dataset = Dataset {
                    name: self.name.clone(),
                    comment: self.comment.clone(),
                    created_at: Utc::now(),
                    created_by: rc.actor().to_string(),
                    schema: vec![],
                    versions: vec![],
                    rollout: Rollout::default(),
                    contract: None,
                };
                Ok(Some(Commit {
                    operation: "CREATE DATASET".into(),
                    dataset: Some(self.name.clone()),
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![Action::CreateDataset {
                        dataset: Box::new(dataset),
                    }],
                    message: format!("created dataset {}", self.name),
                }))
            })
            .await?;
        match outcome {
            Some(done) => rc.message(&done),
            None => rc.message_text(&format!("dataset {} already exists", self.name)),
        }
    }
}

/// `SHOW DATASETS`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShowDatasets;

impl fmt::Display for ShowDatasets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW DATASETS")
    }
}

impl ShowDatasets {
    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        let state = rc.store().state();
        let ds: Vec<&Dataset> = state.datasets.values().collect();
        let text = |f: &dyn Fn(&Dataset) -> Option<String>| -> ArrayRef {
            Arc::new(ds.iter().map(|d| f(d)).collect::<StringArray>())
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("dataset", DataType::Utf8, false),
            Field::new("stable", DataType::Utf8, true),
            Field::new("candidate", DataType::Utf8, true),
            Field::new("exposure", DataType::Utf8, true),
            Field::new("versions", DataType::UInt64, false),
            Field::new("comment", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                text(&|d| Some(d.name.clone())),
                text(&|d| d.rollout.stable.clone()),
                text(&|d| d.rollout.candidate.as_ref().map(|c| c.version.clone())),
                text(&|d| d.rollout.candidate.as_ref().map(|c| c.exposure())),
                Arc::new(
                    ds.iter()
                        .map(|d| d.versions.len() as u64)
                        .collect::<UInt64Array>(),
                ),
                text(&|d| d.comment.clone()),
            ],
        )?;
        rc.frame(batch)
    }
}
