//! The library's errors as gRPC statuses: one mapping, from [`ErrorKind`].

use datafusion::error::DataFusionError;
use datafusion_rollout::{Error, ErrorKind};
use tonic::Status;

/// The status a client sees for a library error; the message is the one the shell prints.
pub fn status_of(e: &Error) -> Status {
    let message = e.user_message();
    match e.kind() {
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
