//! The gigmesh notification service: sends the mails other services ask for through events.
//!
//! It consumes auth's events (`gigmesh.auth.v1`) and turns `EmailVerificationRequested`,
//! `PasswordResetRequested` and `PasswordChanged` into mails with plain-text and HTML
//! alternatives, written as `.eml` files in development or sent through SMTP in production
//! (the [`Mailer`] port). Each sent mail is recorded in the service's `sent_mail` table in
//! the transaction that marks the event as handled. The tokens in those events arrive sealed
//! to a key only this service holds (`mail_token.rs`); one that does not open sends no mail
//! and is dead-lettered.

mod api;
mod app;
mod config;
mod domain;
mod error;
mod events;
mod mail_token;
mod mailer;
mod store;

pub use app::{App, MIGRATIONS};
pub use config::{Config, MailerKind, SmtpConfig, SmtpTls};
pub use events::CONSUMER_NAME;
pub use mail_token::{MailTokenKeys, OpenError, create_dev_key_pair, public_key_file};
pub use mailer::{FileMailer, Mailer, MailerError, SmtpMailer};
pub use store::SentMail;
