//! The gigmesh notification service: sends the mails other services ask for through events.
//!
//! It consumes auth's events (`gigmesh.auth.v1`) and turns `EmailVerificationRequested`,
//! `PasswordResetRequested` and `PasswordChanged` into mails with plain-text and HTML
//! alternatives, written as `.eml` files in development or sent through SMTP in production
//! (the [`Mailer`] port). Each sent mail is recorded in the service's `sent_mail` table in
//! the transaction that marks the event as handled.

mod api;
mod app;
mod config;
mod domain;
mod error;
mod events;
mod mailer;
mod store;

pub use app::{App, MIGRATIONS};
pub use config::{Config, MailerKind, SmtpConfig, SmtpTls};
pub use events::CONSUMER_NAME;
pub use mailer::{FileMailer, Mailer, MailerError, SmtpMailer};
pub use store::SentMail;
