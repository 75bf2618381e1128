//! The mail port and its two adapters: `.eml` files for development (lettre's file
//! transport) and SMTP for production (lettre's SMTP transport with optional STARTTLS or
//! implicit TLS and credentials).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest as _, Sha256};

use crate::config::{Config, MailerKind, SmtpConfig, SmtpTls};
use crate::domain::Mail;

/// Why a mail could not be built or handed over.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// The message is not a valid mail (bad address or header).
    #[error("cannot build the mail: {0}")]
    Build(String),
    /// The server refused the mail for good (an SMTP 5xx answer, such as an unknown
    /// recipient); sending it again gets the same answer.
    #[error("the mail was rejected: {0}")]
    Rejected(String),
    /// The transport failed or asked to try later (an SMTP 4xx answer, a refused connection,
    /// a timeout); sending again later may work.
    #[error("cannot send the mail: {0}")]
    Send(String),
}

/// Hands finished messages over for delivery.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends one message; `Ok` means the transport accepted it.
    async fn send(&self, message: Message) -> Result<(), MailerError>;
}

/// Addresses a composed mail: From is the configured sender, To the recipient, and the body
/// has plain-text and HTML alternatives; the Message-ID is the one of `event_id`'s mail
/// to this recipient.
pub fn build_message(from: &Mailbox, mail: &Mail, event_id: &str) -> Result<Message, MailerError> {
    let address = mail
        .recipient
        .as_str()
        .parse()
        .map_err(|error| MailerError::Build(format!("recipient address: {error}")))?;
    let recipient = Mailbox::new(mail.recipient_name.clone(), address);
    let message_id = message_id(from, mail, event_id);
    Message::builder()
        .message_id(Some(message_id))
        .from(from.clone())
        .to(recipient)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text_body.clone(),
            mail.html_body.clone(),
        ))
        .map_err(|error| MailerError::Build(error.to_string()))
}

/// The Message-ID of the mail `event_id` sends to its recipient, in the sender's domain
/// (relays and spam filters expect one): the same every time the event is handled. Sending
/// is at least once (a crash between the handover and the commit sends again), and a mail
/// sent again carries the same Message-ID, by which mail clients show it once.
fn message_id(from: &Mailbox, mail: &Mail, event_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(event_id.as_bytes())
        .chain_update([0])
        .chain_update(mail.kind.as_str().as_bytes())
        .chain_update([0])
        .chain_update(mail.recipient.as_str().as_bytes())
        .finalize();
    format!("<{}@{}>", hex::encode(&digest[..16]), from.email.domain())
}

/// Writes every mail as an `.eml` file into a directory, where a developer opens it with a
/// mail client (dev mode uses `.gigmesh/mail/`).
#[derive(Debug)]
pub struct FileMailer {
    directory: PathBuf,
    transport: AsyncFileTransport<Tokio1Executor>,
}

impl FileMailer {
    /// A mailer writing into `directory`, which is created when missing.
    pub fn new(directory: impl AsRef<Path>) -> std::io::Result<Self> {
        let directory = directory.as_ref().to_path_buf();
        std::fs::create_dir_all(&directory)?;
        Ok(Self {
            transport: AsyncFileTransport::new(&directory),
            directory,
        })
    }

    /// Where the files go.
    pub fn directory(&self) -> &Path {
        &self.directory
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, message: Message) -> Result<(), MailerError> {
        let id = self
            .transport
            .send(message)
            .await
            .map_err(|error| MailerError::Send(error.to_string()))?;
        tracing::info!(file = %self.directory.join(format!("{id}.eml")).display(), "mail written");
        Ok(())
    }
}

/// Sends through an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SmtpMailer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for the server in `config`. Connections are opened when mail is sent; call
    /// it inside a Tokio runtime (the connection pool starts a task).
    pub fn new(config: &SmtpConfig) -> Result<Self, MailerError> {
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .map_err(|error| MailerError::Build(error.to_string()))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|error| MailerError::Build(error.to_string()))?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(Duration::from_secs(config.timeout_seconds)));
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose().clone(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            server: format!("{}:{}", config.host, config.port),
        })
    }

    /// A 5xx answer is final, so it becomes [`MailerError::Rejected`]; everything else (4xx
    /// answers, connection, TLS and protocol failures, timeouts) may pass and becomes
    /// [`MailerError::Send`].
    fn classify(&self, error: &lettre::transport::smtp::Error) -> MailerError {
        let description = format!("{}: {error}", self.server);
        if error.is_permanent() {
            MailerError::Rejected(description)
        } else {
            MailerError::Send(description)
        }
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: Message) -> Result<(), MailerError> {
        let response = self
            .transport
            .send(message)
            .await
            .map_err(|error| self.classify(&error))?;
        tracing::info!(server = %self.server, code = %response.code(), "mail accepted by smtp server");
        Ok(())
    }
}

/// The mailer `config` chooses.
pub fn mailer_from_config(config: &Config) -> anyhow::Result<Arc<dyn Mailer>> {
    Ok(match config.mailer {
        MailerKind::File => Arc::new(FileMailer::new(&config.file_dir).map_err(|error| {
            anyhow::anyhow!(
                "cannot create the mail directory {}: {error}",
                config.file_dir.display()
            )
        })?),
        MailerKind::Smtp => Arc::new(SmtpMailer::new(&config.smtp)?),
    })
}

#[cfg(test)]
mod tests {
    use gigmesh_types::Email;

    use super::*;
    use crate::domain::{WebApp, password_changed_mail};

    /// Building an SMTP transport starts its connection pool, which needs a runtime.
    #[tokio::test]
    async fn every_tls_mode_builds_a_transport() {
        for tls in [SmtpTls::None, SmtpTls::Starttls, SmtpTls::Tls] {
            let config = SmtpConfig {
                host: "smtp.example.com".to_owned(),
                tls,
                username: Some("mailer".to_owned()),
                password: Some(gigmesh_config::Secret::new("secret".to_owned())),
                ..SmtpConfig::default()
            };
            let mailer = SmtpMailer::new(&config).expect("transport");
            assert!(!format!("{mailer:?}").contains("secret"));
        }
    }

    #[test]
    fn messages_carry_sender_recipient_and_both_alternatives() {
        let from: Mailbox = "gigmesh <no-reply@gigmesh.example>"
            .parse()
            .expect("sender");
        let mail = password_changed_mail(
            &WebApp::new("https://gigmesh.example"),
            Email::parse("email", "ada@example.com").expect("email"),
            0,
        );
        let message =
            build_message(&from, &mail, "01a23351-252d-762f-ace6-0e9186fd1b0a").expect("message");
        let formatted = String::from_utf8(message.formatted()).expect("utf-8");
        assert!(formatted.contains("From: gigmesh <no-reply@gigmesh.example>"));
        assert!(formatted.contains("To: ada@example.com"));
        assert!(formatted.contains("multipart/alternative"));
        assert!(formatted.contains("text/plain"));
        assert!(formatted.contains("text/html"));
        assert!(
            formatted.contains("@gigmesh.example>"),
            "message id in the sender's domain"
        );
    }

    #[test]
    fn a_mail_sent_again_for_its_event_carries_the_same_message_id() {
        let from: Mailbox = "gigmesh <no-reply@gigmesh.example>"
            .parse()
            .expect("sender");
        let mail = |address: &str| {
            password_changed_mail(
                &WebApp::new("https://gigmesh.example"),
                Email::parse("email", address).expect("email"),
                0,
            )
        };
        let ada = mail("ada@example.com");
        let id = message_id(&from, &ada, "event-1");
        assert_eq!(id, message_id(&from, &ada, "event-1"));
        assert_ne!(id, message_id(&from, &ada, "event-2"));
        assert_ne!(id, message_id(&from, &mail("bob@example.com"), "event-1"));
        let message = build_message(&from, &ada, "event-1").expect("message");
        let formatted = String::from_utf8(message.formatted()).expect("utf-8");
        assert!(
            formatted.contains(&format!("Message-ID: {id}")),
            "{formatted}"
        );
    }
}
