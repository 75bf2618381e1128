//! `gigmesh.gigs.v1.GigService` through gRPC on a random port, each scenario on a fresh
//! SQLite database and on a fresh PostgreSQL database. Seller summaries and ratings arrive
//! the way they do in production, as the users and reviews services' events on the bus.

mod support;

mod favourites;
mod gigs_per_seller;
mod lifecycle;
mod listing;
mod moderation;
mod upstream_events;
mod validation;
mod visibility;
