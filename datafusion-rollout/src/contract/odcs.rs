//! Importing a contract from an Open Data Contract Standard (ODCS v3) YAML document.
//!
//! What maps: the schema object named like the dataset (or the only one); per property
//! `physicalType` → declared type, `required` → NOT NULL, `unique` → UNIQUE, `primaryKey` →
//! NOT NULL UNIQUE; `quality` rules of type `library` (the default) with metrics `rowCount`,
//! `nullValues`, `missingValues` (`arguments.missingValues`), `invalidValues`
//! (`arguments.validValues` or `arguments.pattern`) and `duplicateValues` (property level, or
//! schema level with `arguments.properties`), in `rows` or `percent` units, with the operators
//! `mustBe`, `mustNotBe`, `mustBeGreaterThan`, `mustBeGreaterOrEqualTo`, `mustBeLessThan`,
//! `mustBeLessOrEqualTo`, `mustBeBetween`, `mustNotBeBetween`.
//!
//! What does not map, and is listed in the import's result instead of silently dropped:
//! `logicalType` without a `physicalType`, quality rules of type `sql`, `text` or `custom`,
//! `severity` (every imported rule fails the check; there is no warn-only rule), SLA properties,
//! relationships, nested properties.

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::catalog::{ColumnRule, Comparison, Expectation};
use crate::error::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    schema: Vec<SchemaObject>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaObject {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    properties: Vec<Property>,
    #[serde(default)]
    quality: Vec<Quality>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Property {
    name: String,
    #[serde(default)]
    physical_type: Option<String>,
    #[serde(default)]
    logical_type: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    unique: bool,
    #[serde(default)]
    primary_key: bool,
    #[serde(default)]
    quality: Vec<Quality>,
    #[serde(default)]
    properties: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Quality {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
    #[serde(default)]
    must_be: Option<f64>,
    #[serde(default)]
    must_not_be: Option<f64>,
    #[serde(default)]
    must_be_greater_than: Option<f64>,
    #[serde(default)]
    must_be_greater_or_equal_to: Option<f64>,
    #[serde(default)]
    must_be_less_than: Option<f64>,
    #[serde(default)]
    must_be_less_or_equal_to: Option<f64>,
    #[serde(default)]
    must_be_between: Option<[f64; 2]>,
    #[serde(default)]
    must_not_be_between: Option<[f64; 2]>,
    #[serde(default)]
    severity: Option<String>,
}

/// A contract's items from an ODCS document, plus what could not be mapped.
#[derive(Debug, Default)]
pub(crate) struct Imported {
    pub columns: Vec<ColumnRule>,
    pub expectations: Vec<Expectation>,
    pub not_mapped: Vec<String>,
}

fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn value_list(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(sql_string(s)),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

impl Quality {
    fn comparison(&self) -> Option<Comparison> {
        Some(if let Some(v) = self.must_be {
            Comparison::Eq { value: v }
        } else if let Some(v) = self.must_not_be {
            Comparison::NotEq { value: v }
        } else if let Some(v) = self.must_be_greater_than {
            Comparison::Gt { value: v }
        } else if let Some(v) = self.must_be_greater_or_equal_to {
            Comparison::GtEq { value: v }
        } else if let Some(v) = self.must_be_less_than {
            Comparison::Lt { value: v }
        } else if let Some(v) = self.must_be_less_or_equal_to {
            Comparison::LtEq { value: v }
        } else if let Some([low, high]) = self.must_be_between {
            Comparison::Between { low, high }
        } else if let Some([low, high]) = self.must_not_be_between {
            Comparison::NotBetween { low, high }
        } else {
            return None;
        })
    }

    /// The metric as SQL over `column` (None at schema level), or why it does not map.
    fn metric(&self, column: Option<&str>) -> std::result::Result<String, String> {
        let kind = self.kind.as_deref().unwrap_or("library");
        if kind != "library" {
            return Err(format!("quality rules of type '{kind}' are not imported"));
        }
        let metric = self
            .metric
            .as_deref()
            .or(self.rule.as_deref())
            .unwrap_or("");
        let percent = self.unit.as_deref() == Some("percent");
        let arg = |name: &str| self.arguments.as_ref().and_then(|a| a.get(name)).cloned();
        let col = column.map(crate::sql::ident);
        let need_col = || {
            col.clone()
                .ok_or_else(|| format!("metric '{metric}' needs a property"))
        };
        let (count, fraction) = match metric {
            "rowCount" => return Ok("row_count()".into()),
            "nullValues" => {
                let c = need_col()?;
                (format!("null_count({c})"), format!("null_fraction({c})"))
            }
            "missingValues" => {
                let c = need_col()?;
                let values: Vec<String> = arg("missingValues")
                    .map(|v| value_list(&v))
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|v| v != "null")
                    .collect();
                let extra = if values.is_empty() {
                    String::new()
                } else {
                    format!(", {}", values.join(", "))
                };
                (
                    format!("missing_count({c}{extra})"),
                    format!("missing_fraction({c}{extra})"),
                )
            }
            "invalidValues" => {
                let c = need_col()?;
                if let Some(valid) = arg("validValues") {
                    let values = value_list(&valid).join(", ");
                    (
                        format!("invalid_count_in({c}, {values})"),
                        format!("invalid_fraction_in({c}, {values})"),
                    )
                } else if let Some(Value::String(p)) = arg("pattern") {
                    let p = sql_string(&p);
                    (
                        format!("invalid_count_regex({c}, {p})"),
                        format!("invalid_fraction_regex({c}, {p})"),
                    )
                } else {
                    return Err(
                        "invalidValues needs arguments.validValues or arguments.pattern".into(),
                    );
                }
            }
            "duplicateValues" => {
                let keys = match (&col, arg("properties")) {
                    (Some(c), _) => c.clone(),
                    (None, Some(Value::Sequence(props))) => props
                        .iter()
                        .filter_map(|p| p.as_str().map(crate::sql::ident))
                        .collect::<Vec<_>>()
                        .join(", "),
                    _ => {
                        return Err(
                            "duplicateValues at schema level needs arguments.properties".into()
                        );
                    }
                };
                (
                    format!("duplicate_count({keys})"),
                    format!("duplicate_count({keys}) / count(*)"),
                )
            }
            "" => return Err("a quality rule without a metric".into()),
            other => return Err(format!("metric '{other}' is not supported")),
        };
        Ok(if percent {
            format!("{fraction} * 100")
        } else {
            count
        })
    }
}

/// Reads an ODCS v3 document for `dataset`.
pub(crate) fn import_odcs(yaml: &str, dataset: &str, source: &str) -> Result<Imported> {
    let doc: Document = serde_yaml_ng::from_str(yaml).map_err(|e| Error::Parse {
        message: format!("{source}: not an ODCS document: {e}"),
    })?;
    if let Some(kind) = &doc.kind
        && kind != "DataContract"
    {
        return Err(Error::Parse {
            message: format!("{source}: kind is '{kind}', expected 'DataContract'"),
        });
    }
    let object = match doc.schema.len() {
        0 => {
            return Err(Error::Parse {
                message: format!("{source}: the document has no schema objects"),
            });
        }
        1 => &doc.schema[0],
        _ => doc
            .schema
            .iter()
            .find(|o| o.name.as_deref() == Some(dataset))
            .ok_or_else(|| Error::Parse {
                message: format!(
                    "{source}: several schema objects and none named '{dataset}' ({})",
                    doc.schema
                        .iter()
                        .filter_map(|o| o.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?,
    };
    let mut out = Imported::default();
    let add_quality = |q: &Quality, column: Option<&str>, out: &mut Imported| {
        let label = q
            .name
            .clone()
            .unwrap_or_else(|| q.metric.clone().unwrap_or_default());
        let place = column
            .map(|c| format!("property '{c}'"))
            .unwrap_or_else(|| "schema".into());
        if let Some(sev) = &q.severity
            && !matches!(sev.as_str(), "error" | "fail" | "critical")
        {
            out.not_mapped.push(format!(
                "{place}: quality '{label}' severity '{sev}' (imported as a failing check)"
            ));
        }
        match (q.metric(column), q.comparison()) {
            (Ok(metric), Some(expect)) => out.expectations.push(Expectation {
                metric,
                expect,
                warn_when: None,
                interval: false,
                window_seconds: None,
            }),
            (Ok(_), None) => out.not_mapped.push(format!(
                "{place}: quality '{label}' has no mustBe... threshold"
            )),
            (Err(why), _) => out.not_mapped.push(format!("{place}: {why}")),
        }
    };
    for p in &object.properties {
        if p.physical_type.is_none() && p.logical_type.is_some() {
            out.not_mapped.push(format!(
                "property '{}': logicalType '{}' without physicalType (no type check)",
                p.name,
                p.logical_type.as_deref().unwrap_or_default()
            ));
        }
        if !p.properties.is_empty() {
            out.not_mapped
                .push(format!("property '{}': nested properties", p.name));
        }
        out.columns.push(ColumnRule {
            column: p.name.clone(),
            data_type: p.physical_type.clone(),
            not_null: p.required || p.primary_key,
            unique: p.unique || p.primary_key,
            checks: vec![],
        });
        for q in &p.quality {
            add_quality(q, Some(&p.name), &mut out);
        }
    }
    for q in &object.quality {
        add_quality(q, None, &mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"
apiVersion: v3.0.2
kind: DataContract
id: orders
schema:
  - name: orders
    properties:
      - name: order_id
        physicalType: BIGINT
        primaryKey: true
      - name: customer_id
        logicalType: integer
        quality:
          - metric: nullValues
            unit: percent
            mustBeLessThan: 1
      - name: status
        physicalType: VARCHAR
        quality:
          - metric: invalidValues
            arguments:
              validValues: ['new', 'paid']
            mustBe: 0
          - type: sql
            query: SELECT 1
            mustBe: 1
    quality:
      - metric: rowCount
        mustBeBetween: [1000, 100000000]
"#;

    #[test]
    fn maps_what_it_can_and_lists_the_rest() {
        let imported = import_odcs(DOC, "orders", "x.yaml").unwrap();
        assert_eq!(imported.columns.len(), 3);
        assert!(imported.columns[0].not_null && imported.columns[0].unique);
        let metrics: Vec<String> = imported
            .expectations
            .iter()
            .map(|e| format!("{} {}", e.metric, e.expect))
            .collect();
        assert_eq!(
            metrics,
            vec![
                "null_fraction(customer_id) * 100 < 1",
                "invalid_count_in(status, 'new', 'paid') = 0",
                "row_count() BETWEEN 1000 AND 100000000",
            ]
        );
        assert_eq!(imported.not_mapped.len(), 2, "{:?}", imported.not_mapped);
    }

    #[test]
    fn broken_yaml_names_the_line() {
        let err = import_odcs("schema:\n  - name: [unclosed\n", "orders", "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.yaml") && err.contains("line"), "{err}");
    }
}
