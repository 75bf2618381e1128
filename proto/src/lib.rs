//! The gigmesh wire contracts. Every service, the gateway and the tests use these generated
//! types; nothing else defines a message that crosses a process boundary.

#![allow(clippy::all, missing_docs)]

/// Generated code, one module per protobuf package.
pub mod gigmesh {
    pub mod api {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.api.v1.rs"));
        }
    }
    pub mod events {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.events.v1.rs"));
        }
    }
    pub mod auth {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.auth.v1.rs"));
        }
    }
    pub mod users {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.users.v1.rs"));
        }
    }
    pub mod types {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.types.v1.rs"));
        }
    }
    pub mod gigs {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.gigs.v1.rs"));
        }
    }
    pub mod search {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.search.v1.rs"));
        }
    }
    pub mod reviews {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.reviews.v1.rs"));
        }
    }
}

pub use gigmesh::api::v1 as api;
pub use gigmesh::auth::v1 as auth;
pub use gigmesh::events::v1 as events;
pub use gigmesh::gigs::v1 as gigs;
pub use gigmesh::reviews::v1 as reviews;
pub use gigmesh::search::v1 as search;
pub use gigmesh::types::v1 as types;
pub use gigmesh::users::v1 as users;

/// The encoded `FileDescriptorSet` of every gigmesh proto file (with imports), for server
/// reflection and for reading method options such as the access policy.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/gigmesh_descriptor.bin"));

/// Names the protobuf type of an event message, so the bus can tag envelopes with it.
pub trait EventMessage: prost::Message + Default {
    /// Fully qualified protobuf name, e.g. `gigmesh.auth.v1.UserRegistered`.
    const EVENT_TYPE: &'static str;
}

macro_rules! event_messages {
    ($package:literal, $module:ident: $($message:ident),+ $(,)?) => {
        $(
            impl EventMessage for $module::$message {
                const EVENT_TYPE: &'static str = concat!($package, ".", stringify!($message));
            }
        )+
    };
}

use gigmesh::{
    auth::v1 as auth_v1, gigs::v1 as gigs_v1, reviews::v1 as reviews_v1, users::v1 as users_v1,
};

event_messages!(
    "gigmesh.auth.v1",
    auth_v1:
    UserRegistered,
    EmailVerificationRequested,
    EmailVerified,
    PasswordResetRequested,
    PasswordChanged,
    RolesChanged,
    AccountSuspended,
    AccountUnsuspended,
);

event_messages!(
    "gigmesh.users.v1",
    users_v1:
    ProfileChanged,
    SellerActivated,
);

event_messages!("gigmesh.gigs.v1", gigs_v1: GigChanged);

event_messages!("gigmesh.reviews.v1", reviews_v1: RatingsChanged);
