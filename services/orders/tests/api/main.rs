//! `gigmesh.orders.v1.OrderService` through gRPC on a random port, each scenario on a fresh
//! SQLite database and on a fresh PostgreSQL database. Gigs and payments arrive the way
//! they do in production, as the gig and payment services' events on the bus; time moves
//! only when a test moves the service's clock.

mod support;

mod access;
mod custom_offers;
mod delivery;
mod disputes;
mod extensions;
mod listing;
mod mutual_cancellation;
mod payment;
mod placing;
mod requirements;
mod settings;
mod timers;
