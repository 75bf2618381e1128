//! Calling a service the way clients do, and reading its answers.

use tonic::{Code, Request, Status};
use tonic_types::StatusExt as _;

/// `message` with `authorization: Bearer <token>`.
pub fn signed_in<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .expect("a token is a valid header value"),
    );
    request
}

/// The fields named by the `google.rpc.BadRequest` details of an `INVALID_ARGUMENT` status.
pub fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_error_details()
        .bad_request()
        .map(|bad_request| {
            bad_request
                .field_violations
                .iter()
                .map(|violation| violation.field.clone())
                .collect()
        })
        .unwrap_or_default()
}
