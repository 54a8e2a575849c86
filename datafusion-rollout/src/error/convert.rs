//! Errors across DataFusion: ours travel through `DataFusionError` (as `External`, through Arrow
//! as `ExternalError`, through object stores as `Generic`) and come back out intact.

use std::sync::Arc;

use datafusion::error::DataFusionError;

use super::Error;
use super::text::strip_datafusion_prefixes;

/// An error of ours anywhere in `e`'s chain of sources (DataFusion carries ours as `External`,
/// through Arrow as `ExternalError`, and through object stores as `Generic`).
fn ours_in(e: &DataFusionError) -> Option<&Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(current) = next {
        if let Some(ours) = current.downcast_ref::<Error>() {
            return Some(ours);
        }
        next = current.source();
    }
    None
}

/// What a user should read of a DataFusion error without taking it: ours verbatim, else its
/// innermost message.
pub(crate) fn message_of(e: &DataFusionError) -> String {
    match ours_in(e) {
        Some(ours) => ours.to_string(),
        None => strip_datafusion_prefixes(e),
    }
}

impl From<DataFusionError> for Error {
    fn from(e: DataFusionError) -> Self {
        match ours_in(&e) {
            Some(ours) => ours.clone(),
            None => Error::DataFusion(Arc::new(e)),
        }
    }
}

impl From<Error> for DataFusionError {
    fn from(e: Error) -> Self {
        match e {
            Error::DataFusion(inner) => {
                Arc::try_unwrap(inner).unwrap_or_else(DataFusionError::Shared)
            }
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

impl From<datafusion::object_store::Error> for Error {
    fn from(e: datafusion::object_store::Error) -> Self {
        Error::ObjectStore(Arc::new(e))
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::Arrow(Arc::new(e))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(Arc::new(e))
    }
}
