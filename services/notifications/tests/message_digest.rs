//! One mail for messages left unread, on SQLite and PostgreSQL: chat's `MessageSent` and
//! `ConversationRead` are published to an embedded bus, the chat consumer is stepped with
//! `poll_once`, time moves only when the test moves the service's clock, and the digest
//! loop is stepped with `run_once`; every mail is read back from its `.eml` file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use gigmesh_config::Secret;
use gigmesh_events::{Consumer, PollOutcome};
use gigmesh_notifications::{App, Config, DigestLoop, MailerKind};
use gigmesh_proto::EventMessage;
use gigmesh_proto::auth::UserRegistered;
use gigmesh_proto::chat::{ConversationRead, Message, MessageSent};
use gigmesh_proto::users::{ProfileChanged, PublicProfile};
use gigmesh_testing::{Backend, TestDeps, TestMailTokenKeys};
use gigmesh_types::{ManualClock, timestamp_from_millis};
use mail_parser::MessageParser;
use tempfile::TempDir;
use uuid::Uuid;

const STEP_WAIT: Duration = Duration::from_millis(200);
const WEB_APP_URL: &str = "https://app.gigmesh.test";
const MINUTE: i64 = 60;

gigmesh_testing::on_sqlite_and_postgres!(
    messages_left_unread_ten_minutes_send_one_mail_per_conversation,
    a_read_before_the_delay_sends_nothing_and_a_new_streak_mails_again,
);

struct Service {
    auth_events: Consumer,
    order_events: Consumer,
    chat_events: Consumer,
    digests: DigestLoop,
    clock: ManualClock,
    deps: TestDeps,
    mail_directory: PathBuf,
    buyer_id: String,
    seller_id: String,
    _directory: TempDir,
    _keys: TestMailTokenKeys,
}

impl Service {
    async fn start(backend: Backend) -> Service {
        let deps = TestDeps::new(backend).await;
        let directory = tempfile::tempdir().expect("test directory");
        let mail_directory = directory.path().join("mail");
        let keys = TestMailTokenKeys::generate("test_key");
        let config = Config {
            mailer: MailerKind::File,
            file_dir: mail_directory.clone(),
            from: "gigmesh <no-reply@gigmesh.test>".to_owned(),
            web_app_url: WEB_APP_URL.to_owned(),
            mail_token_keys: BTreeMap::from([(
                keys.key_id.clone(),
                Secret::new(keys.secret_key_base64()),
            )]),
            ..Config::default()
        };
        let clock = ManualClock::starting_now();
        let app = <App as gigmesh_runtime::Service>::build(deps.service_deps(), config)
            .await
            .expect("build the notification service")
            .with_clock(clock.clock());
        let mut service = Service {
            auth_events: app.auth_events_consumer().await.expect("consumer"),
            order_events: app.order_events_consumer().await.expect("consumer"),
            chat_events: app.chat_events_consumer().await.expect("consumer"),
            digests: app.digests(),
            clock,
            deps,
            mail_directory,
            buyer_id: Uuid::now_v7().to_string(),
            seller_id: Uuid::now_v7().to_string(),
            _directory: directory,
            _keys: keys,
        };
        let (buyer, seller) = (service.buyer_id.clone(), service.seller_id.clone());
        service
            .introduce(&buyer, "ada@example.com", "ada", "Ada Lovelace")
            .await;
        service
            .introduce(&seller, "grace@example.com", "grace", "Grace Hopper")
            .await;
        service
    }

    async fn introduce(&mut self, user_id: &str, email: &str, username: &str, name: &str) {
        let registered = UserRegistered {
            user_id: user_id.to_owned(),
            email: email.to_owned(),
            username: username.to_owned(),
            create_time: None,
        };
        self.publish(user_id, &registered).await;
        let profile = ProfileChanged {
            profile: Some(PublicProfile {
                user_id: user_id.to_owned(),
                username: username.to_owned(),
                display_name: name.to_owned(),
                ..PublicProfile::default()
            }),
            suspended: false,
        };
        self.publish(user_id, &profile).await;
        self.auth_events.drain(STEP_WAIT).await.expect("poll");
        self.order_events.drain(STEP_WAIT).await.expect("poll");
    }

    async fn publish<E: EventMessage>(&self, key: &str, event: &E) {
        gigmesh_testing::publish_event(&self.deps.bus(), key, event).await;
    }

    /// `from` writes `text` to `to` in `conversation` at the clock's now.
    async fn message(&mut self, conversation: &str, from: &str, to: &str, text: &str) -> i64 {
        let now = self.clock.now_millis();
        let event = MessageSent {
            message: Some(Message {
                id: Uuid::now_v7().to_string(),
                conversation_id: conversation.to_owned(),
                sender_id: from.to_owned(),
                text: text.to_owned(),
                create_time: Some(timestamp_from_millis(now)),
                ..Message::default()
            }),
            recipient_id: to.to_owned(),
            ..MessageSent::default()
        };
        self.publish(conversation, &event).await;
        let outcomes = self.chat_events.drain(STEP_WAIT).await.expect("poll");
        assert!(
            matches!(outcomes[..], [PollOutcome::Handled { .. }]),
            "{outcomes:?}"
        );
        now
    }

    /// `reader` read `conversation` up to the message sent at `message_time`.
    async fn read(&mut self, conversation: &str, reader: &str, message_time: i64) {
        let event = ConversationRead {
            conversation_id: conversation.to_owned(),
            reader_id: reader.to_owned(),
            message_time: Some(timestamp_from_millis(message_time)),
            ..ConversationRead::default()
        };
        self.publish(conversation, &event).await;
        self.chat_events.drain(STEP_WAIT).await.expect("poll");
    }

    /// Moves the clock and runs the digest loop once: how many mails it sent.
    async fn after_minutes(&mut self, minutes: i64) -> usize {
        self.clock.advance_seconds(minutes * MINUTE);
        self.digests.run_once().await.expect("digests")
    }

    /// Every mail written so far: (to, subject, text).
    fn mails(&self) -> Vec<(String, String, String)> {
        let Ok(entries) = std::fs::read_dir(&self.mail_directory) else {
            return Vec::new();
        };
        let mut mails: Vec<(String, String, String)> = entries
            .filter_map(Result::ok)
            .map(|entry| std::fs::read(entry.path()).expect("read .eml"))
            .map(|raw| {
                let message = MessageParser::default().parse(&raw).expect("a mail");
                let to = message.to().and_then(|to| to.first()).expect("To");
                (
                    to.address().expect("address").to_owned(),
                    message.subject().expect("Subject").to_owned(),
                    message.body_text(0).expect("text").replace("\r\n", "\n"),
                )
            })
            .collect();
        mails.sort();
        mails
    }
}

async fn messages_left_unread_ten_minutes_send_one_mail_per_conversation(backend: Backend) {
    let mut service = Service::start(backend).await;
    let (buyer, seller) = (service.buyer_id.clone(), service.seller_id.clone());
    let conversation = Uuid::now_v7().to_string();
    service
        .message(&conversation, &buyer, &seller, "Hello!")
        .await;
    service.clock.advance_seconds(2 * MINUTE);
    service
        .message(&conversation, &buyer, &seller, "Can you start <today>?")
        .await;
    assert_eq!(service.after_minutes(7).await, 0, "9 minutes: not yet");
    assert_eq!(
        service.after_minutes(1).await,
        1,
        "10 minutes after the first"
    );
    let mails = service.mails();
    assert_eq!(mails.len(), 1, "one mail for both messages");
    let (to, subject, text) = &mails[0];
    assert_eq!(to, "grace@example.com");
    assert_eq!(subject, "Ada Lovelace is waiting for your answer");
    assert!(text.contains("Hi Grace Hopper,"), "{text}");
    assert!(
        text.contains("> Can you start <today>?"),
        "the latest, as written: {text}"
    );
    assert!(
        text.contains(&format!("{WEB_APP_URL}/inbox/{conversation}")),
        "{text}"
    );

    // More messages of the same unread streak mail nothing more; nor does the loop again.
    service
        .message(&conversation, &buyer, &seller, "Hello??")
        .await;
    assert_eq!(service.after_minutes(30).await, 0);
    assert_eq!(service.mails().len(), 1);
}

async fn a_read_before_the_delay_sends_nothing_and_a_new_streak_mails_again(backend: Backend) {
    let mut service = Service::start(backend).await;
    let (buyer, seller) = (service.buyer_id.clone(), service.seller_id.clone());
    let conversation = Uuid::now_v7().to_string();
    let sent = service
        .message(&conversation, &seller, &buyer, "Here is a draft")
        .await;
    service.clock.advance_seconds(5 * MINUTE);
    service.read(&conversation, &buyer, sent).await;
    assert_eq!(service.after_minutes(20).await, 0, "read in time");

    // Read in part: the streak now starts at its latest message.
    let first = service.message(&conversation, &seller, &buyer, "One").await;
    service.clock.advance_seconds(8 * MINUTE);
    service.message(&conversation, &seller, &buyer, "Two").await;
    service.read(&conversation, &buyer, first).await;
    assert_eq!(
        service.after_minutes(3).await,
        0,
        "Two has waited 3 minutes"
    );
    assert_eq!(
        service.after_minutes(7).await,
        1,
        "Two has waited 10 minutes"
    );
    let mails = service.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, "ada@example.com");
    assert!(mails[0].2.contains("> Two"), "{}", mails[0].2);

    // Once read, a new message starts a new streak, which mails again.
    let latest = service.clock.now_millis();
    service.read(&conversation, &buyer, latest).await;
    service
        .message(&conversation, &seller, &buyer, "Three")
        .await;
    assert_eq!(service.after_minutes(10).await, 1);
    assert_eq!(service.mails().len(), 2);
}
