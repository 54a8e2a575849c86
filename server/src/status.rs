//! The library's errors as gRPC statuses: one mapping, from [`ErrorKind`]. Each status also
//! carries the kind itself as the `x-rollout-kind` metadata (`data_check`, `refused`, ...), so
//! a client can tell what gRPC's codes cannot: data that failed its checks from a statement
//! refused in the rollout's state.

use datafusion::error::DataFusionError;
use datafusion_rollout::{Error, ErrorKind};
use tonic::Status;
use tonic::metadata::MetadataValue;

/// The metadata key that names the [`ErrorKind`] of a failed call.
pub const KIND_KEY: &str = "x-rollout-kind";

/// The status a client sees for a library error; the message is the one the shell prints.
pub fn status_of(e: &Error) -> Status {
    let kind = e.kind();
    let mut status = code_of(kind, e.user_message());
    status
        .metadata_mut()
        .insert(KIND_KEY, MetadataValue::from_static(kind.name()));
    status
}

fn code_of(kind: ErrorKind, message: String) -> Status {
    match kind {
        ErrorKind::Unauthenticated => Status::unauthenticated(message),
        ErrorKind::PermissionDenied => Status::permission_denied(message),
        ErrorKind::NotFound => Status::not_found(message),
        ErrorKind::AlreadyExists => Status::already_exists(message),
        ErrorKind::Parse | ErrorKind::InvalidInput | ErrorKind::Query => {
            Status::invalid_argument(message)
        }
        ErrorKind::Refused | ErrorKind::DataCheck => Status::failed_precondition(message),
        ErrorKind::Conflict => Status::aborted(message),
        ErrorKind::Io => Status::unavailable(message),
        _ => Status::internal(message),
    }
}

/// [`status_of`] for an error that came through DataFusion (ours keep their kind).
pub fn status_of_df(e: DataFusionError) -> Status {
    status_of(&Error::from(e))
}
