//! Errors keep their identity through DataFusion; kinds decide exit codes.

use datafusion::arrow::error::ArrowError;

use super::*;

fn samples() -> Vec<Error> {
    vec![
        Error::Parse {
            message: "bad".into(),
        },
        Error::VersionNotFound {
            dataset: "d".into(),
            version: "v".into(),
            hint: String::new(),
        },
        Error::CohortExists { cohort: "c".into() },
        Error::refused(Refusal::NotStaged {
            dataset: "d".into(),
        }),
        Error::refused(Refusal::Rejected {
            dataset: "d".into(),
            version: "v".into(),
        }),
        Error::ConcurrentModification {
            operation: "PROMOTE".into(),
            attempts: 3,
        },
        Error::CorruptLogEntry {
            path: "p".into(),
            reason: "r".into(),
        },
        Error::Profile {
            path: "p".into(),
            reason: "r".into(),
        },
        Error::ObjectStore(Arc::new(datafusion::object_store::Error::NotFound {
            path: "x".into(),
            source: "gone".into(),
        })),
        Error::BreakingSchemaChange {
            dataset: "d".into(),
            version: "v".into(),
            changes: vec!["dropped a".into()],
        },
        Error::internal("oops"),
    ]
}

#[test]
fn every_error_survives_datafusion_intact() {
    for e in samples() {
        let wrappings: Vec<DataFusionError> = vec![
            DataFusionError::from(e.clone()),
            DataFusionError::from(e.clone()).context("while planning"),
            DataFusionError::ArrowError(
                Box::new(ArrowError::ExternalError(Box::new(e.clone()))),
                None,
            ),
            DataFusionError::ObjectStore(Box::new(datafusion::object_store::Error::Generic {
                store: "s",
                source: Box::new(e.clone()),
            })),
        ];
        for wrapped in wrappings {
            let back = Error::from(wrapped);
            assert_eq!(back.kind(), e.kind(), "{e}");
            assert_eq!(back.to_string(), e.to_string());
        }
    }
}

#[test]
fn kinds_decide_exit_codes() {
    let rejected = Error::refused(Refusal::Rejected {
        dataset: "d".into(),
        version: "v".into(),
    });
    assert!(rejected.is_data_check());
    assert!(
        !Error::refused(Refusal::NotStaged {
            dataset: "d".into()
        })
        .is_data_check()
    );
    let parse = Error::from(DataFusionError::SQL(
        Box::new(datafusion::sql::sqlparser::parser::ParserError::ParserError("x".into())),
        None,
    ));
    assert_eq!(parse.kind(), ErrorKind::Parse);
    let table = Error::from(DataFusionError::Plan(
        "table 'datafusion.public.t' not found".into(),
    ));
    assert_eq!(table.kind(), ErrorKind::NotFound);
}

#[test]
fn every_kind_has_a_name_that_reads_back() {
    use std::collections::HashSet;
    let names: HashSet<&str> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(names.len(), ErrorKind::ALL.len(), "two kinds share a name");
    for kind in ErrorKind::ALL {
        assert_eq!(ErrorKind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(ErrorKind::from_name("nope"), None);
}
