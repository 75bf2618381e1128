//! `gigmesh.payments.v1.PaymentService` through gRPC on a random port, each scenario on a
//! fresh SQLite database and on a fresh PostgreSQL database, with the sandbox provider and
//! a manual clock. Orders arrive as orders' events on the bus; payments become paid only
//! through the sandbox's signed webhooks. Every scenario ends by checking the ledger.

mod support;

mod access;
mod admin;
mod invoices;
mod payment_flow;
mod retention;
mod settlements;
mod webhooks;
mod withdrawals;
