//! `SHOW LINEAGE OF orders [VERSION 'v2']`: which dataset versions a version was derived from
//! (upstream) and which were derived from it (downstream), as `CREATE VERSION ... AS` recorded.

use std::fmt;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_string};
use super::table::Table;
use crate::catalog::{Privilege, VersionRef};
use crate::error::Result;
use crate::guard::Env;
use crate::sql::{Ident, Quoted};

/// `SHOW LINEAGE OF orders [VERSION 'v2']`: one row per related version: `version` (of the
/// dataset asked about), `direction` (`upstream`: it was read to derive `version`;
/// `downstream`: it was derived from `version`), `depth` (1 for a direct relation), `dataset`,
/// `related_version` and that version's `status`. Without `VERSION`, every version of the
/// dataset that has relations. Versions of datasets the caller may not READ are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowLineage {
    /// The dataset.
    pub dataset: String,
    /// One version, or all of them.
    pub version: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<ShowLineage, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    expect_word(p, "LINEAGE")?;
    p.expect_keyword(Keyword::OF)?;
    let dataset = parse_name(p, "a dataset name after SHOW LINEAGE OF")?;
    let version = if p.parse_keyword(Keyword::VERSION) {
        Some(parse_string(p, "a version id in quotes, like 'v2'")?)
    } else {
        None
    };
    Ok(ShowLineage { dataset, version })
}

impl fmt::Display for ShowLineage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW LINEAGE OF {}", Ident(&self.dataset))?;
        if let Some(v) = &self.version {
            write!(f, " VERSION {}", Quoted(v))?;
        }
        Ok(())
    }
}

impl ShowLineage {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let ds = state.dataset(&self.dataset)?;
        let versions: Vec<&String> = match &self.version {
            Some(v) => vec![&state.version(&self.dataset, v)?.id],
            None => ds.version_ids().collect(),
        };
        // (version, direction, depth, related)
        let mut rows: Vec<(&String, &str, usize, VersionRef)> = Vec::new();
        for v in versions {
            let of = VersionRef {
                dataset: self.dataset.clone(),
                version: v.clone(),
            };
            for (depth, r) in state.derived_into(&of) {
                rows.push((v, "upstream", depth, r));
            }
            for (depth, r) in state.derived_from(&of) {
                rows.push((v, "downstream", depth, r));
            }
        }
        // Related versions of datasets the caller may not read are left out, unnamed.
        rows.retain(|r| {
            state
                .access
                .allows(env.actor, Privilege::Read, Some(&r.3.dataset))
        });
        let status = |r: &VersionRef| {
            state
                .version(&r.dataset, &r.version)
                .map(|v| v.status.to_string())
                .unwrap_or_else(|_| "unknown".into())
        };
        let batch = Table::new()
            .text("version", rows.iter().map(|r| r.0))
            .text("direction", rows.iter().map(|r| r.1))
            .count("depth", rows.iter().map(|r| r.2 as u64))
            .text("dataset", rows.iter().map(|r| &r.3.dataset))
            .text("related_version", rows.iter().map(|r| &r.3.version))
            .text("status", rows.iter().map(|r| status(&r.3)))
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}
