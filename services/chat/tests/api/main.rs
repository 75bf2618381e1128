//! `gigmesh.chat.v1.ChatService` through gRPC on a random port, each scenario on a fresh
//! SQLite database and on a fresh PostgreSQL database. Gigs and orders arrive the way they
//! do in production, as the gig and order services' events on the bus; time moves only
//! when a test moves the service's clock.

mod support;

mod conversations;
mod messages;
mod moderation;
mod offers;
mod streams;
