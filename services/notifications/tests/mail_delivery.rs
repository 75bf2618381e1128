//! The notification service end to end, on SQLite and PostgreSQL: auth's events are
//! published to an embedded bus, the service's consumer is stepped with `poll_once`, and the
//! mail is read back where it went, as an `.eml` file (file mailer) or from a real SMTP
//! server (`aiosmtpd`, SMTP mailer).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use gigmesh_config::Secret;

use gigmesh_events::{Consumer, Envelope, PollOutcome};
use gigmesh_notifications::{App, Config, MailerKind, SmtpConfig, SmtpTls};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::TOPIC as AUTH_TOPIC;
use gigmesh_proto::auth::{
    EmailVerificationRequested, PasswordChanged, PasswordResetRequested, UserRegistered,
};
use gigmesh_runtime::Service as _;
use gigmesh_testing::{Backend, TestDeps, TestMailTokenKeys, TestSmtpServer};
use gigmesh_types::{now_millis, timestamp_from_millis};
use mail_parser::{Message, MessageParser};
use sqlx::Row as _;
use tempfile::TempDir;
use uuid::Uuid;

/// How long one consumer step waits for a record.
const STEP_WAIT: Duration = Duration::from_millis(300);

const WEB_APP_URL: &str = "https://app.gigmesh.test";
const FROM: &str = "gigmesh <no-reply@gigmesh.test>";

/// The key pair auth seals mailed tokens to in these tests; the service holds its secret
/// half.
fn mail_token_keys() -> &'static TestMailTokenKeys {
    static KEYS: OnceLock<TestMailTokenKeys> = OnceLock::new();
    KEYS.get_or_init(|| TestMailTokenKeys::generate("test_key"))
}

/// `token` sealed as auth seals it.
fn seal(token: &str) -> Vec<u8> {
    mail_token_keys().seal(token)
}

/// A notification service with its deps, mail going where `config` says.
struct TestNotifications {
    consumer: Consumer,
    app: App,
    deps: TestDeps,
    mail_directory: PathBuf,
    _directory: TempDir,
}

impl TestNotifications {
    /// The service on fresh deps on `backend`.
    async fn start(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestNotifications {
        Self::start_on(TestDeps::new(backend).await, configure).await
    }

    /// The service on `deps`, writing `.eml` files into a fresh directory unless `configure`
    /// says otherwise.
    async fn start_on(deps: TestDeps, configure: impl FnOnce(&mut Config)) -> TestNotifications {
        let directory = tempfile::tempdir().expect("test directory");
        let mail_directory = directory.path().join("mail");
        let mut config = Config {
            mailer: MailerKind::File,
            file_dir: mail_directory.clone(),
            from: FROM.to_owned(),
            web_app_url: WEB_APP_URL.to_owned(),
            mail_token_keys: BTreeMap::from([(
                mail_token_keys().key_id.clone(),
                Secret::new(mail_token_keys().secret_key_base64()),
            )]),
            ..Config::default()
        };
        configure(&mut config);
        let app = App::build(deps.service_deps(), config)
            .await
            .expect("build the notification service");
        let consumer = app.auth_events_consumer().await.expect("consumer");
        TestNotifications {
            consumer,
            app,
            deps,
            mail_directory,
            _directory: directory,
        }
    }

    /// Publishes an auth event as auth's relay would.
    async fn publish<E: EventMessage>(&self, event: &E) -> Envelope {
        let user_id = Uuid::now_v7().to_string();
        gigmesh_testing::publish_event(&self.deps.bus(), &user_id, event).await
    }

    async fn publish_envelope(&self, envelope: &Envelope) {
        gigmesh_testing::publish_envelope(&self.deps.bus(), AUTH_TOPIC, envelope).await;
    }

    /// Steps the consumer until no record is left; returns what each step did.
    async fn consume(&mut self) -> Vec<PollOutcome> {
        self.consumer.drain(STEP_WAIT).await.expect("poll")
    }

    /// The `.eml` files written so far.
    fn mail_files(&self) -> Vec<Vec<u8>> {
        eml_files(&self.mail_directory)
    }

    /// `(event_id, kind, recipient)` of every row in `sent_mail`.
    async fn sent_mail(&self) -> Vec<(String, String, String)> {
        sqlx::query("SELECT event_id, kind, recipient FROM sent_mail ORDER BY sent_at, event_id")
            .fetch_all(self.deps.db().pool())
            .await
            .expect("read sent_mail")
            .iter()
            .map(|row| {
                (
                    row.get::<String, _>("event_id"),
                    row.get::<String, _>("kind"),
                    row.get::<String, _>("recipient"),
                )
            })
            .collect()
    }

    /// `(event_id, attempts, error)` of every row in `dead_letters`.
    async fn dead_letters(&self) -> Vec<(String, i64, String)> {
        sqlx::query("SELECT event_id, attempts, error FROM dead_letters ORDER BY id")
            .fetch_all(self.deps.db().pool())
            .await
            .expect("read dead_letters")
            .iter()
            .map(|row| {
                (
                    row.get::<String, _>("event_id"),
                    row.get::<i64, _>("attempts"),
                    row.get::<String, _>("error"),
                )
            })
            .collect()
    }
}

/// Sends through the plain-text SMTP server at `host:port`, waiting `timeout_seconds` for
/// it on each command.
fn through_smtp(host: &str, port: u16, timeout_seconds: u64) -> impl FnOnce(&mut Config) {
    let smtp = SmtpConfig {
        host: host.to_owned(),
        port,
        tls: SmtpTls::None,
        timeout_seconds,
        ..SmtpConfig::default()
    };
    move |config| {
        config.mailer = MailerKind::Smtp;
        config.smtp = smtp;
    }
}

fn eml_files(directory: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "eml"))
        .map(|path| std::fs::read(path).expect("read .eml"))
        .collect()
}

fn parse(raw: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(raw)
        .expect("a parsable mail")
}

fn recipient(message: &Message<'_>) -> String {
    message
        .to()
        .and_then(|to| to.first())
        .and_then(|address| address.address())
        .expect("a To address")
        .to_owned()
}

/// Checks the shape every gigmesh mail has: From, multipart/alternative with a plain-text
/// and an HTML part. Returns (text, html).
fn alternatives(message: &Message<'_>) -> (String, String) {
    let from = message.from().and_then(|from| from.first()).expect("From");
    assert_eq!(from.address(), Some("no-reply@gigmesh.test"));
    assert_eq!(from.name(), Some("gigmesh"));
    let content_type = message.header_raw("Content-Type").expect("Content-Type");
    assert!(
        content_type.contains("multipart/alternative"),
        "{content_type}"
    );
    assert_eq!(message.text_body_count(), 1);
    assert_eq!(message.html_body_count(), 1);
    let text = message.body_text(0).expect("text part").into_owned();
    let html = message.body_html(0).expect("html part").into_owned();
    assert!(!text.contains("<p>"), "the text part is plain text: {text}");
    assert!(html.contains("<p>"), "the html part is html: {html}");
    (text, html)
}

fn verification_event(email: &str, username: &str, token: &str) -> EmailVerificationRequested {
    EmailVerificationRequested {
        user_id: Uuid::now_v7().to_string(),
        email: email.to_owned(),
        username: username.to_owned(),
        sealed_token: seal(token),
        token_key_id: mail_token_keys().key_id.clone(),
        expire_time: Some(timestamp_from_millis(now_millis() + 86_400_000)),
    }
}

async fn verification_mail_is_written_with_link_and_token(backend: Backend) {
    let mut service = TestNotifications::start(backend, |_| {}).await;
    let envelope = service
        .publish(&verification_event(
            "ada@example.com",
            "ada",
            "verify-token-123",
        ))
        .await;
    let outcomes = service.consume().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
        "{outcomes:?}"
    );

    let files = service.mail_files();
    assert_eq!(files.len(), 1);
    let message = parse(&files[0]);
    assert_eq!(recipient(&message), "ada@example.com");
    assert_eq!(message.subject(), Some("Verify your email"));
    let message_id = message.message_id().expect("Message-ID");
    assert!(message_id.ends_with("@gigmesh.test"), "{message_id}");
    let (text, html) = alternatives(&message);
    let link = format!("{WEB_APP_URL}/verify-email?token=verify-token-123");
    assert!(text.contains(&link), "{text}");
    assert!(text.contains("verify-token-123"));
    assert!(text.contains("Hi ada,"));
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");

    assert_eq!(
        service.sent_mail().await,
        [(
            envelope.event_id.clone(),
            "email_verification".to_owned(),
            "ada@example.com".to_owned()
        )]
    );
    let sent = service
        .app
        .sent_mail_to("ada@example.com")
        .await
        .expect("sent mail");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event_id, envelope.event_id);
    assert!(sent[0].sent_at > 0);
}

async fn reset_mail_links_to_the_reset_page_for_one_hour(backend: Backend) {
    let mut service = TestNotifications::start(backend, |_| {}).await;
    service
        .publish(&PasswordResetRequested {
            user_id: Uuid::now_v7().to_string(),
            email: "Bob@Example.com".to_owned(),
            username: "bob".to_owned(),
            sealed_token: seal("reset+token/1"),
            token_key_id: mail_token_keys().key_id.clone(),
            expire_time: Some(timestamp_from_millis(now_millis() + 3_600_000)),
        })
        .await;
    service.consume().await;

    let files = service.mail_files();
    assert_eq!(files.len(), 1);
    let message = parse(&files[0]);
    assert_eq!(recipient(&message), "bob@example.com");
    assert_eq!(message.subject(), Some("Reset your password"));
    let (text, html) = alternatives(&message);
    let link = format!("{WEB_APP_URL}/reset-password?token=reset%2Btoken%2F1");
    assert!(text.contains(&link), "{text}");
    assert!(text.contains("valid for one hour"));
    assert!(html.contains(&link));
    assert!(html.contains("valid for one hour"));
    let sent = service.sent_mail().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1, "password_reset");
}

async fn password_change_sends_a_security_notice(backend: Backend) {
    let mut service = TestNotifications::start(backend, |_| {}).await;
    let user_id = Uuid::now_v7().to_string();
    let event = PasswordChanged {
        user_id: user_id.clone(),
        email: "carol@example.com".to_owned(),
    };
    // The notice names the moment of the change, which is when the event occurred.
    let mut envelope = gigmesh_events::new_envelope(&user_id, &event);
    envelope.occur_time = Some(timestamp_from_millis(1_700_000_000_000));
    service.publish_envelope(&envelope).await;
    service.consume().await;

    let files = service.mail_files();
    assert_eq!(files.len(), 1);
    let message = parse(&files[0]);
    assert_eq!(recipient(&message), "carol@example.com");
    assert_eq!(message.subject(), Some("Your gigmesh password was changed"));
    let (text, html) = alternatives(&message);
    assert!(text.contains("2023-11-14 22:13 UTC"), "{text}");
    assert!(text.contains(&format!("{WEB_APP_URL}/forgot-password")));
    assert!(html.contains("carol@example.com"));
    assert_eq!(service.sent_mail().await[0].1, "password_changed");
}

async fn user_data_is_html_escaped(backend: Backend) {
    let mut service = TestNotifications::start(backend, |_| {}).await;
    service
        .publish(&verification_event(
            "eve@example.com",
            "<script>alert('x')</script>",
            "tok\"en<>",
        ))
        .await;
    service.consume().await;

    let files = service.mail_files();
    let message = parse(&files[0]);
    let (text, html) = alternatives(&message);
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("tok&quot;en&lt;&gt;"));
    assert!(!html.contains("tok\"en<>"));
    // The token in the link is percent-encoded; the plain text keeps it readable.
    assert!(text.contains("verify-email?token=tok%22en%3C%3E"), "{text}");
    assert!(text.contains("<script>alert('x')</script>"));
}

async fn a_redelivered_event_sends_no_second_mail(backend: Backend) {
    let mut service = TestNotifications::start(backend, |_| {}).await;
    let envelope = service
        .publish(&verification_event("ada@example.com", "ada", "once"))
        .await;
    service.publish_envelope(&envelope).await;
    let outcomes = service.consume().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [PollOutcome::Handled { .. }, PollOutcome::Duplicate { .. }]
        ),
        "{outcomes:?}"
    );
    assert_eq!(service.mail_files().len(), 1);
    assert_eq!(service.sent_mail().await.len(), 1);
}

async fn other_events_send_nothing_and_malformed_ones_are_dead_lettered(backend: Backend) {
    let mut service = TestNotifications::start(backend, |_| {}).await;
    service
        .publish(&UserRegistered {
            user_id: Uuid::now_v7().to_string(),
            email: "ada@example.com".to_owned(),
            username: "ada".to_owned(),
            create_time: None,
        })
        .await;
    service
        .publish(&verification_event("not an address", "ada", "token"))
        .await;
    service
        .publish(&verification_event("ada@example.com", "ada", ""))
        .await;
    let outcomes = service.consume().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                PollOutcome::Handled { .. },
                PollOutcome::DeadLettered { .. },
                PollOutcome::DeadLettered { .. }
            ]
        ),
        "{outcomes:?}"
    );
    assert!(service.mail_files().is_empty());
    assert!(service.sent_mail().await.is_empty());
}

async fn a_token_that_does_not_open_is_dead_lettered_without_mail_or_payload(backend: Backend) {
    let mut service = TestNotifications::start(backend, |_| {}).await;
    let other_keys = TestMailTokenKeys::generate("test_key");
    let mut to_another_key = verification_event("ada@example.com", "ada", "token-1");
    to_another_key.sealed_token = other_keys.seal("token-1");
    let mut unknown_key = verification_event("ada@example.com", "ada", "token-2");
    unknown_key.token_key_id = "retired".to_owned();
    let mut tampered = verification_event("ada@example.com", "ada", "token-3");
    if let Some(byte) = tampered.sealed_token.last_mut() {
        *byte ^= 0x01;
    }
    let mut reset = PasswordResetRequested {
        user_id: Uuid::now_v7().to_string(),
        email: "ada@example.com".to_owned(),
        username: "ada".to_owned(),
        sealed_token: seal("token-4"),
        token_key_id: mail_token_keys().key_id.clone(),
        expire_time: None,
    };
    reset.sealed_token.truncate(reset.sealed_token.len() - 1);
    for event in [&to_another_key, &unknown_key, &tampered] {
        service.publish(event).await;
    }
    service.publish(&reset).await;

    let outcomes = service.consume().await;
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|outcome| matches!(outcome, PollOutcome::DeadLettered { .. })),
        "{outcomes:?}"
    );
    assert!(service.mail_files().is_empty());
    assert!(service.sent_mail().await.is_empty());
    let errors: Vec<String> = service
        .dead_letters()
        .await
        .into_iter()
        .map(|(_, attempts, error)| {
            assert_eq!(attempts, 1, "not retried: {error}");
            error
        })
        .collect();
    assert!(
        errors[0].contains("does not open with key \"test_key\""),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("sealed to key \"retired\", which this service does not hold"),
        "{errors:?}"
    );
    assert!(errors[2].contains("does not open"), "{errors:?}");
    assert!(
        errors[3].starts_with("gigmesh.auth.v1.PasswordResetRequested event: "),
        "{errors:?}"
    );
    // The events carry a secret: their dead letters keep no payload.
    let payloads: Vec<Vec<u8>> = sqlx::query("SELECT payload FROM dead_letters ORDER BY id")
        .fetch_all(service.deps.db().pool())
        .await
        .expect("read dead_letters")
        .iter()
        .map(|row| row.get("payload"))
        .collect();
    assert_eq!(payloads, vec![Vec::<u8>::new(); 4]);
}

async fn mail_goes_through_a_real_smtp_server(backend: Backend) {
    let smtp = TestSmtpServer::start().await;
    let mut service =
        TestNotifications::start(backend, through_smtp(smtp.host(), smtp.port(), 10)).await;
    service
        .publish(&PasswordResetRequested {
            user_id: Uuid::now_v7().to_string(),
            email: "dave@example.com".to_owned(),
            username: "dave".to_owned(),
            sealed_token: seal("smtp-reset-token"),
            token_key_id: mail_token_keys().key_id.clone(),
            expire_time: None,
        })
        .await;
    let outcomes = service.consume().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
        "{outcomes:?}"
    );

    let delivered = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    assert_eq!(delivered.len(), 1);
    let message = parse(&delivered[0]);
    assert_eq!(
        message.header_raw("X-RcptTo").map(str::trim),
        Some("dave@example.com")
    );
    assert_eq!(
        message.header_raw("X-MailFrom").map(str::trim),
        Some("no-reply@gigmesh.test")
    );
    assert_eq!(recipient(&message), "dave@example.com");
    assert_eq!(message.subject(), Some("Reset your password"));
    let (text, html) = alternatives(&message);
    let link = format!("{WEB_APP_URL}/reset-password?token=smtp-reset-token");
    assert!(text.contains(&link), "{text}");
    assert!(html.contains(&link), "{html}");
    assert!(service.mail_files().is_empty(), "nothing goes to files");
    assert_eq!(service.sent_mail().await.len(), 1);
}

async fn an_unreachable_smtp_server_is_retried_then_dead_lettered(backend: Backend) {
    let mut smtp = TestSmtpServer::start().await;
    let port = smtp.port();
    smtp.stop().await;
    let deps = TestDeps::new(backend).await.with_event_max_attempts(2);
    let mut service = TestNotifications::start_on(deps, through_smtp("127.0.0.1", port, 2)).await;
    service
        .publish(&PasswordChanged {
            user_id: Uuid::now_v7().to_string(),
            email: "erin@example.com".to_owned(),
        })
        .await;
    let outcomes = service.consume().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                PollOutcome::Failed { attempt: 1, .. },
                PollOutcome::DeadLettered { .. }
            ]
        ),
        "{outcomes:?}"
    );
    assert!(service.sent_mail().await.is_empty());
}

/// The domain whose recipients the refusing test servers turn away.
const REFUSED_DOMAIN: &str = "refused.test";

fn password_changed_for(email: &str) -> PasswordChanged {
    PasswordChanged {
        user_id: Uuid::now_v7().to_string(),
        email: email.to_owned(),
    }
}

async fn a_permanently_refused_recipient_is_dead_lettered_without_retry(backend: Backend) {
    let smtp =
        TestSmtpServer::start_refusing_recipients(REFUSED_DOMAIN, "550 5.1.1 no such user", None)
            .await;
    let deps = TestDeps::new(backend).await.with_event_max_attempts(3);
    let mut service =
        TestNotifications::start_on(deps, through_smtp(smtp.host(), smtp.port(), 10)).await;
    let recipient = format!("nobody@{REFUSED_DOMAIN}");
    let envelope = service.publish(&password_changed_for(&recipient)).await;
    let outcomes = service.consume().await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::DeadLettered { .. }]),
        "a 5xx answer is not retried: {outcomes:?}"
    );

    let dead_letters = service.dead_letters().await;
    assert_eq!(dead_letters.len(), 1, "{dead_letters:?}");
    let (event_id, attempts, error) = &dead_letters[0];
    assert_eq!(event_id, &envelope.event_id);
    assert_eq!(*attempts, 1, "dead-lettered at the first attempt");
    assert!(
        error.contains("550"),
        "the error names the server's answer: {error}"
    );
    assert_eq!(smtp.refused_recipients(), [recipient], "asked exactly once");
    assert!(smtp.messages().is_empty());
    assert!(service.sent_mail().await.is_empty());
}

async fn a_temporarily_refused_recipient_is_retried_then_dead_lettered(backend: Backend) {
    let smtp =
        TestSmtpServer::start_refusing_recipients(REFUSED_DOMAIN, "451 4.3.0 try later", None)
            .await;
    let deps = TestDeps::new(backend).await.with_event_max_attempts(3);
    let mut service =
        TestNotifications::start_on(deps, through_smtp(smtp.host(), smtp.port(), 10)).await;
    let recipient = format!("busy@{REFUSED_DOMAIN}");
    let envelope = service.publish(&password_changed_for(&recipient)).await;
    let outcomes = service.consume().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                PollOutcome::Failed { attempt: 1, .. },
                PollOutcome::Failed { attempt: 2, .. },
                PollOutcome::DeadLettered { .. }
            ]
        ),
        "a 4xx answer is retried up to the maximum attempts: {outcomes:?}"
    );

    let dead_letters = service.dead_letters().await;
    assert_eq!(dead_letters.len(), 1, "{dead_letters:?}");
    let (event_id, attempts, error) = &dead_letters[0];
    assert_eq!(event_id, &envelope.event_id);
    assert_eq!(*attempts, 3);
    assert!(
        error.contains("451"),
        "the error names the server's answer: {error}"
    );
    assert_eq!(smtp.refused_recipients().len(), 3, "asked once per attempt");
    assert!(smtp.messages().is_empty());
    assert!(service.sent_mail().await.is_empty());
}

async fn a_temporarily_refused_mail_is_delivered_when_the_server_recovers(backend: Backend) {
    let smtp =
        TestSmtpServer::start_refusing_recipients(REFUSED_DOMAIN, "451 4.3.0 try later", Some(1))
            .await;
    let deps = TestDeps::new(backend).await.with_event_max_attempts(3);
    let mut service =
        TestNotifications::start_on(deps, through_smtp(smtp.host(), smtp.port(), 10)).await;
    let recipient = format!("later@{REFUSED_DOMAIN}");
    service.publish(&password_changed_for(&recipient)).await;
    let outcomes = service.consume().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                PollOutcome::Failed { attempt: 1, .. },
                PollOutcome::Handled { .. }
            ]
        ),
        "{outcomes:?}"
    );

    let delivered = smtp.wait_for_messages(1, Duration::from_secs(10)).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(recipient_of(&delivered[0]), recipient);
    assert_eq!(smtp.refused_recipients(), [recipient]);
    assert!(service.dead_letters().await.is_empty());
    assert_eq!(service.sent_mail().await.len(), 1);
}

fn recipient_of(raw: &[u8]) -> String {
    recipient(&parse(raw))
}

async fn the_service_serves_health_without_rpcs_of_its_own(backend: Backend) {
    let service = TestNotifications::start(backend, |_| {}).await;
    let server =
        gigmesh_testing::TestServer::start(service.app.routes(), service.app.service_names()).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    let response = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        response.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    server.stop().await;
}

gigmesh_testing::on_sqlite_and_postgres!(
    verification_mail_is_written_with_link_and_token,
    reset_mail_links_to_the_reset_page_for_one_hour,
    password_change_sends_a_security_notice,
    user_data_is_html_escaped,
    a_redelivered_event_sends_no_second_mail,
    other_events_send_nothing_and_malformed_ones_are_dead_lettered,
    a_token_that_does_not_open_is_dead_lettered_without_mail_or_payload,
    mail_goes_through_a_real_smtp_server,
    an_unreachable_smtp_server_is_retried_then_dead_lettered,
    a_permanently_refused_recipient_is_dead_lettered_without_retry,
    a_temporarily_refused_recipient_is_retried_then_dead_lettered,
    a_temporarily_refused_mail_is_delivered_when_the_server_recovers,
    the_service_serves_health_without_rpcs_of_its_own,
);
