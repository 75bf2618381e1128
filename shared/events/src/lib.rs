//! Domain events between gigmesh services, delivered at least once and applied exactly once.
//!
//! A service writes events into its own `outbox` table in the transaction that changes its
//! state ([`enqueue`]); a [`Relay`] publishes committed rows to the [`EventBus`] in order.
//! Other services read them with a [`Consumer`], which records each applied event in an
//! `inbox` table in the same transaction as the effect, retries failures and moves poison
//! events to `dead_letters`. An event that carries a secret (a mailed token, even sealed;
//! see `EventMessage::CARRIES_SECRET`) leaves no copy behind: its outbox row is deleted
//! when it is published and its dead letter keeps no payload. The bus is a port with two adapters: [`EmbeddedBus`] (a durable
//! log in a SQLite file, for `gigmesh dev`) and [`KafkaBus`] (distributed mode).
//! Every service migrates [`EVENTS_MIGRATIONS`] into its database next to its own tables.

mod bus;
mod consumer;
mod consumer_spec;
mod embedded;
mod kafka;
mod metrics;
mod outbox;
mod relay;
mod task;

pub use bus::{
    BusError, EventBus, IncomingRecord, OutgoingRecord, PartialPublish, SharedBus, Subscription,
    TopicLag,
};
pub use consumer::{Consumer, ConsumerError, EventHandler, HandlerError, PollOutcome};
pub use consumer_spec::ConsumerSpec;
pub use embedded::EmbeddedBus;
pub use gigmesh_proto::gigmesh::events::v1::Envelope;
pub use kafka::{KafkaBus, KafkaOptions, group_instance_id};
pub use outbox::{decode, enqueue, new_envelope};
pub use relay::{CARRIES_SECRET_HEADER, Relay, RelayError, carries_secret_header};
pub use task::BackgroundTask;

/// The `outbox`, `inbox` and `dead_letters` tables (versions 900000000 and up), to migrate
/// into every service database: `db.migrate(&[&MIGRATIONS, &gigmesh_events::EVENTS_MIGRATIONS])`.
pub static EVENTS_MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();
