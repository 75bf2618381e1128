//! The gigmesh notification service: sends the mails other services ask for through events.
//!
//! It consumes auth's events (`gigmesh.auth.v1`) and turns `EmailVerificationRequested`,
//! `PasswordResetRequested` and `PasswordChanged` into mails, keeping the addresses of
//! `UserRegistered` and `EmailVerified` meanwhile; and it consumes orders', payments' and
//! users' events (`gigmesh.orders.v1`, `gigmesh.payments.v1`, `gigmesh.users.v1`), mailing
//! the buyer, the seller or both at every step of an order and its money, greeting them by
//! the display name of their profile. Mails have plain-text and HTML alternatives and are
//! written as `.eml` files in development or sent through SMTP in production (the
//! [`Mailer`] port). Each sent mail is recorded in the service's `sent_mail` table in
//! the transaction that marks the event as handled. The tokens in those events arrive sealed
//! to a key only this service holds (`mail_token.rs`); one that does not open sends no mail
//! and is dead-lettered. From chat's messages and reads (`gigmesh.chat.v1`) it mails a
//! participant once about a conversation's messages left unread for ten minutes
//! (`digests.rs`), not once per message.

mod amount;
mod api;
mod app;
mod config;
mod digests;
mod domain;
mod error;
mod events;
mod mail_token;
mod mailer;
mod notice;
mod order_events;
mod order_mails;
mod payment_mails;
mod store;

pub use app::{App, MIGRATIONS};
pub use config::{Config, MailerKind, SmtpConfig, SmtpTls};
pub use digests::{CHAT_EVENTS_CONSUMER_NAME, DigestLoop};
pub use events::CONSUMER_NAME;
pub use mail_token::{MailTokenKeys, OpenError, create_dev_key_pair, public_key_file};
pub use mailer::{FileMailer, Mailer, MailerError, SmtpMailer};
pub use order_events::ORDER_EVENTS_CONSUMER_NAME;
pub use store::SentMail;
