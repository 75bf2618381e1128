//! One live, resumable stream of events per signed-in client, as chat's `StreamEvents` and
//! the notification center's `StreamNotifications` serve it.
//!
//! A service writes a numbered row in a user's stream ([`store::append`]) in the
//! transaction of the change the row tells of, and wakes the user's streams on its replica
//! after the commit ([`StreamHub::wake`]); other replicas wake theirs when the change's
//! event comes back from the bus. An open stream ([`StreamOpener::open`]) starts with a
//! heartbeat carrying its position, then sends the user's rows after the last one it sent,
//! each with an event id ([`token`]) that resumes exactly after it and only for its user.
//! Reading always starts from the last number sent, so a wake that comes early, late or
//! twice never loses or repeats an event. A stream ends at shutdown ([`StreamCloser`]) and,
//! with `UNAUTHENTICATED`, the moment its session is revoked.

pub mod hub;
pub mod session;
pub mod store;
pub mod token;

use gigmesh_runtime::retention::RetentionRule;

pub use hub::StreamHub;
pub use session::{EventStream, OpenError, StreamCloser, StreamCodec, StreamOpener};

/// The stream tables (`stream_heads`, `stream_events`) every service with streams lists in
/// its migrations.
pub static STREAM_MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// The retention rule of a service's stream events, named `name` (unique across services):
/// rows older than a client could still resume from (72 hours unless configured); a client
/// resuming from an older event is told to reload.
pub const fn stream_events_retention(name: &'static str) -> RetentionRule {
    RetentionRule {
        name,
        table: "stream_events",
        expired: "create_time < $1",
        default_horizon_hours: 72,
    }
}
