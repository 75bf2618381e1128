//! One mail for messages left unread, not one per message: chat's `MessageSent` starts (or
//! extends) a recipient's unread streak in a conversation, `ConversationRead` ends it (or
//! moves its start past what was read), and the digest loop mails each streak once, when
//! its oldest unread message has waited `message_digest_delay_seconds` (10 minutes unless
//! configured). The loop claims a streak's mail in the transaction that records it, so a
//! read that comes first, or a second replica's loop, sends nothing; the clock is the
//! service's, so tests move it instead of waiting.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::{Db, Tx};
use gigmesh_events::{BackgroundTask, Envelope, EventHandler, HandlerError, decode};
use gigmesh_proto::EventMessage as _;
use gigmesh_proto::chat::{ConversationRead, MessageSent};
use gigmesh_types::{Clock, millis_from_timestamp};
use lettre::message::Mailbox;
use tokio_util::sync::CancellationToken;

use crate::domain::{MailKind, WebApp};
use crate::error::NotificationsError;
use crate::events::{malformed, send_once};
use crate::mailer::Mailer;
use crate::notice::{Notice, Quote};
use crate::store::{self, DueDigest};

/// Consumer group (and inbox name) of the notification service on chat's topic.
pub const CHAT_EVENTS_CONSUMER_NAME: &str = "notifications.chat-events";

/// Longest part of the latest message a digest quotes, in characters.
const QUOTED_CHARS: usize = 300;

/// Keeps the unread streaks from chat's `MessageSent` and `ConversationRead`.
#[derive(Debug, Clone)]
pub struct ChatEventsHandler {
    delay_millis: i64,
}

impl ChatEventsHandler {
    /// A handler whose streaks' mails fall due `delay` after their oldest message.
    pub fn new(delay: Duration) -> Self {
        Self {
            delay_millis: i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
        }
    }

    async fn apply(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), NotificationsError> {
        if let Some(event) = decode::<MessageSent>(envelope) {
            let event = event.map_err(malformed::<MessageSent>)?;
            let message = event
                .message
                .ok_or_else(|| malformed::<MessageSent>("it has no message"))?;
            let sent_time = message
                .create_time
                .as_ref()
                .map(millis_from_timestamp)
                .ok_or_else(|| malformed::<MessageSent>("its message has no time"))?;
            let text = if message.custom_offer.is_some() {
                "Sent you a custom offer.".to_owned()
            } else if message.text.trim().is_empty() {
                "Sent you files.".to_owned()
            } else {
                message.text.clone()
            };
            store::record_unread_message(
                tx,
                &message.conversation_id,
                &event.recipient_id,
                &message.sender_id,
                sent_time,
                &text,
                sent_time.saturating_add(self.delay_millis),
            )
            .await?;
            return Ok(());
        }
        if let Some(event) = decode::<ConversationRead>(envelope) {
            let event = event.map_err(malformed::<ConversationRead>)?;
            let read_time = event
                .message_time
                .as_ref()
                .map(millis_from_timestamp)
                .ok_or_else(|| malformed::<ConversationRead>("it has no message time"))?;
            store::record_read(
                tx,
                &event.conversation_id,
                &event.reader_id,
                read_time,
                self.delay_millis,
            )
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl EventHandler for ChatEventsHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        Ok(self.apply(tx, envelope).await?)
    }

    /// Of chat's topic, the messages and the reads.
    fn takes(&self, event_type: &str) -> bool {
        event_type == MessageSent::EVENT_TYPE || event_type == ConversationRead::EVENT_TYPE
    }
}

/// The loop mailing the streaks whose time came.
#[derive(Clone)]
pub struct DigestLoop {
    db: Db,
    mailer: Arc<dyn Mailer>,
    sender: Mailbox,
    web_app: WebApp,
    clock: Clock,
    batch_size: u32,
    interval: Duration,
}

impl DigestLoop {
    /// A loop over `db` mailing through `mailer` from `sender` with links into `web_app`,
    /// reading the time from `clock`, at most `batch_size` mails per run, every `interval`.
    pub fn new(
        db: Db,
        mailer: Arc<dyn Mailer>,
        sender: Mailbox,
        web_app: WebApp,
        clock: Clock,
        batch_size: u32,
        interval: Duration,
    ) -> Self {
        Self {
            db,
            mailer,
            sender,
            web_app,
            clock,
            batch_size: batch_size.max(1),
            interval,
        }
    }

    /// Mails the streaks due now; how many mails went out. A recipient whose address is not
    /// known is skipped (the streak's mail goes nowhere: there is nowhere to send it).
    pub async fn run_once(&self) -> Result<usize, NotificationsError> {
        let now = self.clock.now_millis();
        let due = store::due_digests(self.db.pool(), now, self.batch_size).await?;
        let mut mailed = 0;
        for digest in due {
            let mut tx = self.db.begin().await?;
            if !store::claim_digest(&mut tx, &digest, now).await? {
                continue;
            }
            let Some(recipient) = store::recipient(&mut tx, &digest.recipient_id).await? else {
                tracing::warn!(
                    recipient_id = %digest.recipient_id,
                    "no address for the unread messages' recipient; nothing mailed"
                );
                tx.commit().await.map_err(gigmesh_db::DbError::from)?;
                continue;
            };
            let sender_name = store::recipient(&mut tx, &digest.sender_id)
                .await?
                .and_then(|sender| sender.name);
            let notice = unread_notice(&digest, sender_name.as_deref(), &self.web_app);
            let event_id = format!(
                "digest:{}:{}:{}",
                digest.conversation_id, digest.recipient_id, digest.first_unread_time
            );
            send_once(
                &mut tx,
                self.mailer.as_ref(),
                &self.sender,
                &event_id,
                notice.into_mail(recipient),
            )
            .await?;
            tx.commit().await.map_err(gigmesh_db::DbError::from)?;
            mailed += 1;
        }
        Ok(mailed)
    }
}

/// The mail of one unread streak.
fn unread_notice(digest: &DueDigest, sender_name: Option<&str>, web_app: &WebApp) -> Notice {
    let who = sender_name.unwrap_or("Someone");
    let quoted: String = digest.last_text.chars().take(QUOTED_CHARS).collect();
    let quoted = if quoted.chars().count() < digest.last_text.chars().count() {
        format!("{quoted}…")
    } else {
        quoted
    };
    Notice {
        kind: MailKind::UnreadMessages,
        subject: format!("{who} is waiting for your answer"),
        paragraphs: vec![format!(
            "{who} wrote to you on gigmesh and you have not read it yet."
        )],
        quote: Quote::unless_blank(&format!("{who} wrote"), &quoted),
        link: web_app.link(&format!("inbox/{}", digest.conversation_id)),
        link_label: "Read and reply",
    }
}

#[async_trait]
impl BackgroundTask for DigestLoop {
    fn name(&self) -> &str {
        "notifications.message-digests"
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        loop {
            if let Err(error) = self.run_once().await {
                tracing::warn!(error = %error, "unread message mails failed; retrying");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }
}
