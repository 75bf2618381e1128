//! The notification service's gRPC API. It has no public RPCs yet: mail is sent only in
//! reaction to events. Health and reflection are added by `gigmesh_grpc::serve`.

use tonic::service::Routes;

/// The service's routes (empty until `NotificationService` exists).
pub fn routes() -> Routes {
    Routes::default()
}
