//! The services of the mesh, in start order. Every command, the configuration sections, the
//! gateway's routes and `--help` follow from this list: a new service is one line here.

use gigmesh_runtime::{ServiceEntry, service};

/// Every gigmesh service, in start order (the one that issues tokens first).
pub static SERVICES: &[&dyn ServiceEntry] = &[
    &service::<gigmesh_auth_service::App>(),
    &service::<gigmesh_users::App>(),
    &service::<gigmesh_notifications::App>(),
    &service::<gigmesh_gigs::App>(),
    &service::<gigmesh_search::App>(),
    &service::<gigmesh_orders::App>(),
    &service::<gigmesh_payments::App>(),
    &service::<gigmesh_chat::App>(),
];
