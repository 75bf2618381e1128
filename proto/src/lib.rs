//! The gigmesh wire contracts. Every service, the gateway and the tests use these generated
//! types; nothing else defines a message that crosses a process boundary.

#![allow(clippy::all, missing_docs)]

/// An event message: its protobuf type names it in envelopes, and it is published on the
/// topic of the package that defines it.
pub trait EventMessage: prost::Message + Default {
    /// Fully qualified protobuf name, e.g. `gigmesh.auth.v1.UserRegistered`.
    const EVENT_TYPE: &'static str;
    /// The topic it is published on, e.g. `gigmesh.auth.v1`: the package's `TOPIC`.
    const TOPIC: &'static str;
    /// Whether the event carries a secret (a mailed token, even sealed): its outbox row is
    /// deleted as soon as it is published, not kept for inspection, and a consumer that
    /// gives up on it keeps no copy of its payload among the dead letters.
    const CARRIES_SECRET: bool = false;
}

/// Inside a package module: the package's `TOPIC` (one per producing domain, named like the
/// package) and the [`EventMessage`] impls of the events published on it, so a topic is
/// spelled once, here. An event written `Name: carries_secret` is marked
/// [`EventMessage::CARRIES_SECRET`].
macro_rules! events_on_topic {
    ($topic:literal: $($message:ident $(: $marker:ident)?),+ $(,)?) => {
        /// The topic this package's events are published on, keyed by aggregate id.
        pub const TOPIC: &str = $topic;

        $(
            impl $crate::EventMessage for $message {
                const EVENT_TYPE: &'static str = concat!($topic, ".", stringify!($message));
                const TOPIC: &'static str = TOPIC;
                const CARRIES_SECRET: bool = $crate::carries_secret!($($marker)?);
            }
        )+
    };
}
pub(crate) use events_on_topic;

/// The value of [`EventMessage::CARRIES_SECRET`] for an event's marker in
/// `events_on_topic!`: none, or `carries_secret` (any other word does not compile).
macro_rules! carries_secret {
    () => {
        false
    };
    (carries_secret) => {
        true
    };
}
pub(crate) use carries_secret;

/// Generated code, one module per protobuf package.
pub mod gigmesh {
    pub mod api {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.api.v1.rs"));
        }
    }
    pub mod chat {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.chat.v1.rs"));

            crate::events_on_topic!(
                "gigmesh.chat.v1":
                ConversationStarted,
                MessageSent,
                ConversationRead,
                CustomOfferChanged,
                ConversationReported,
                SellerResponseTimeChanged,
            );
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

            crate::events_on_topic!(
                "gigmesh.auth.v1":
                UserRegistered,
                EmailVerificationRequested: carries_secret,
                EmailVerified,
                PasswordResetRequested: carries_secret,
                PasswordChanged,
                RolesChanged,
                AccountSuspended,
                AccountUnsuspended,
                SessionsRevoked,
            );
        }
    }
    pub mod users {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.users.v1.rs"));

            crate::events_on_topic!(
                "gigmesh.users.v1":
                ProfileChanged,
                SellerActivated,
            );
        }
    }
    pub mod types {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.types.v1.rs"));

            impl From<gigmesh_types::Money> for Money {
                fn from(money: gigmesh_types::Money) -> Self {
                    Self {
                        amount_minor: money.amount_minor,
                        currency: money.currency.code().to_owned(),
                    }
                }
            }
        }
    }
    pub mod gigs {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.gigs.v1.rs"));

            crate::events_on_topic!(
                "gigmesh.gigs.v1":
                GigChanged,
            );
        }
    }
    pub mod notifications {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.notifications.v1.rs"));
        }
    }
    pub mod orders {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.orders.v1.rs"));

            crate::events_on_topic!(
                "gigmesh.orders.v1":
                OrderChanged,
            );
        }
    }
    pub mod payments {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gigmesh.payments.v1.rs"));

            crate::events_on_topic!(
                "gigmesh.payments.v1":
                PaymentSucceeded,
                PaymentFailed,
                RefundIssued,
                InvoiceIssued,
                FundsCleared,
                WithdrawalSent,
                WithdrawalFailed,
            );
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

            crate::events_on_topic!(
                "gigmesh.reviews.v1":
                RatingsChanged,
            );
        }
    }
}

pub use gigmesh::api::v1 as api;
pub use gigmesh::auth::v1 as auth;
pub use gigmesh::chat::v1 as chat;
pub use gigmesh::events::v1 as events;
pub use gigmesh::gigs::v1 as gigs;
pub use gigmesh::notifications::v1 as notifications;
pub use gigmesh::orders::v1 as orders;
pub use gigmesh::payments::v1 as payments;
pub use gigmesh::reviews::v1 as reviews;
pub use gigmesh::search::v1 as search;
pub use gigmesh::types::v1 as types;
pub use gigmesh::users::v1 as users;

/// The encoded `FileDescriptorSet` of every gigmesh proto file (with imports), for server
/// reflection and for reading method options such as the access policy.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/gigmesh_descriptor.bin"));
