//! Test support for gigmesh crates: what an integration test needs to start the same
//! components production runs, isolated per test.
//!
//! [`TestDatabase`] gives each test an empty database on SQLite or PostgreSQL (iterate
//! [`Backend::ALL`] to cover both); [`TestKafka`] runs a throwaway Kafka-protocol broker;
//! [`TestSmtpServer`] runs a throwaway SMTP server whose deliveries the test reads back;
//! [`publish_event`] feeds a service the events another service would publish;
//! [`TestServer`] serves a service's routes exactly as production does, on a random port,
//! and [`TestBus`] gives it an embedded event log of its own. [`TestDeps`] bundles what a
//! service is built from (database, bus, a trusted signing key with `token_for(roles)`),
//! and [`EmittedEvents`] relays a service's outbox and reads back what it published.
//! [`TestMailTokenKeys`] is a mail-token key pair: auth seals to it, notifications opens.
//! [`TestStripe`] is a fake of Stripe (localstripe behind a proxy that fills in Connect and
//! what localstripe lacks) with the buyer's and the seller's side of it; see [`stripe`].

mod db;
mod deps;
mod events;
mod grpc;
mod kafka;
mod mail_token;
mod ports;
mod server;
mod smtp;
pub mod stripe;

pub use db::TestDatabase;
pub use deps::{TestDeps, TestUser};
pub use events::{EmittedEvents, publish_envelope, publish_event};
pub use gigmesh_db::Backend;
pub use grpc::{signed_in, violated_fields};
pub use kafka::TestKafka;
pub use mail_token::TestMailTokenKeys;
pub use ports::free_port;
pub use server::{TestBus, TestServer};
pub use smtp::TestSmtpServer;
pub use stripe::TestStripe;

/// Runs each named scenario (an `async fn(Backend)` in the same module) as its own test on
/// SQLite and on PostgreSQL: `on_sqlite_and_postgres!(a_scenario, another_scenario);`.
#[macro_export]
macro_rules! on_sqlite_and_postgres {
    ($($scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario($crate::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario($crate::Backend::Postgres).await;
                }
            )+
        }
    };
}
