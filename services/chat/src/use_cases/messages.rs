//! Sending messages (refused to a blocked sender and past the rate limit, flagged when they
//! take contact or payment off the marketplace, measured for the seller's response time)
//! and paging a conversation's messages backward.

use std::collections::HashMap;
use std::time::Duration;

use gigmesh_db::{DbError, Tx};
use gigmesh_types::{ConversationId, MessageId, OfferId, UserId};

use super::{Chat, Page, Viewer};
use crate::domain::circumvention;
use crate::domain::conversation::{Conversation, Side};
use crate::domain::message::{Message, NewMessage};
use crate::domain::offer::CustomOffer;
use crate::domain::response_time::{RESPONSE_WINDOW_MILLIS, median_response};
use crate::error::ChatError;
use crate::events;
use crate::store;

/// The rate limit's window: a minute.
const RATE_WINDOW_MILLIS: i64 = 60_000;

/// A page of a conversation's messages, newest first, with their offers.
#[derive(Debug, Clone)]
pub struct MessagePage {
    /// The messages, newest first, each with its offer.
    pub messages: Vec<(Message, Option<CustomOffer>)>,
    /// The oldest message of the page, when older ones follow.
    pub next: Option<MessageId>,
}

impl Chat {
    /// Sends `new` from `sender_id` in the conversation; the message the same sender sent
    /// with the same request id before, if there is one.
    pub async fn send_message(
        &self,
        sender_id: UserId,
        conversation_id: ConversationId,
        new: NewMessage,
    ) -> Result<Message, ChatError> {
        let stored = self.participant_view(conversation_id, sender_id).await?;
        let conversation = stored.view.conversation;
        if let Some(sent) =
            store::messages::find_by_request(self.db.pool(), sender_id, &new.request_id).await?
        {
            return Ok(sent);
        }
        self.check_may_post(&conversation, sender_id).await?;
        let now = self.clock.now_millis();
        let flags = circumvention::inspect(&new.text);
        let message = Message {
            id: MessageId::new(),
            conversation_id,
            sender_id,
            text: new.text,
            attachments: new.attachments,
            offer_id: None,
            warning: flags.warning().unwrap_or_default().to_owned(),
            create_time: now,
        };
        let mut tx = self.db.begin().await?;
        let posted = post_message(&mut tx, &conversation, &message, &new.request_id, None).await;
        match posted {
            Err(error) if error.is_unique_violation_on("request") => {
                drop(tx);
                return store::messages::find_by_request(
                    self.db.pool(),
                    sender_id,
                    &new.request_id,
                )
                .await?
                .ok_or_else(|| {
                    ChatError::Internal(anyhow::anyhow!(
                        "a message with the request id exists and cannot be read"
                    ))
                });
            }
            other => other?,
        }
        if flags.any() {
            store::moderation::record_flags(&mut tx, sender_id, flags, now).await?;
            tracing::info!(conversation_id = %conversation_id, "message flagged for the recipient");
        }
        tx.commit().await.map_err(DbError::from)?;
        self.wake_participants(&conversation);
        Ok(message)
    }

    /// Refuses a message of `sender_id` to a participant who blocks them or whom they block,
    /// and one past the sender's rate limit.
    pub(super) async fn check_may_post(
        &self,
        conversation: &Conversation,
        sender_id: UserId,
    ) -> Result<(), ChatError> {
        let pool = self.db.pool();
        let recipient_id = conversation.other_than(sender_id);
        if store::moderation::blocks(pool, recipient_id, sender_id).await? {
            return Err(ChatError::BlockedByRecipient);
        }
        if store::moderation::blocks(pool, sender_id, recipient_id).await? {
            return Err(ChatError::BlockingRecipient);
        }
        let now = self.clock.now_millis();
        let window_start = now - RATE_WINDOW_MILLIS;
        let (sent, first_time) = store::messages::sent_since(pool, sender_id, window_start).await?;
        if sent >= i64::from(self.max_messages_per_minute) {
            let leaves_window_at = first_time.unwrap_or(now) + RATE_WINDOW_MILLIS;
            let wait_millis = u64::try_from(leaves_window_at - now).unwrap_or(0).max(1);
            return Err(ChatError::TooManyMessages {
                limit: self.max_messages_per_minute,
                retry_after: Duration::from_millis(wait_millis),
            });
        }
        Ok(())
    }

    /// A page of the conversation's messages as `viewer` sees them, newest first.
    pub async fn list_messages(
        &self,
        viewer: Viewer,
        conversation_id: ConversationId,
        page: Page<MessageId>,
    ) -> Result<MessagePage, ChatError> {
        self.readable_conversation(viewer, conversation_id).await?;
        let pool = self.db.pool();
        let mut messages =
            store::messages::page(pool, conversation_id, page.after, page.size + 1).await?;
        let more = messages.len() > page.size as usize;
        messages.truncate(page.size as usize);
        let next = if more {
            messages.last().map(|message| message.id)
        } else {
            None
        };
        let offer_ids: Vec<OfferId> = messages.iter().filter_map(|m| m.offer_id).collect();
        let offers: HashMap<OfferId, CustomOffer> = store::offers::find_offers(pool, &offer_ids)
            .await?
            .into_iter()
            .map(|offer| (offer.id, offer))
            .collect();
        Ok(MessagePage {
            messages: messages
                .into_iter()
                .map(|message| {
                    let offer = message.offer_id.and_then(|id| offers.get(&id).cloned());
                    (message, offer)
                })
                .collect(),
            next,
        })
    }
}

/// Writes `message` (an offer's, with `offer`) in `conversation`: the message, both sides'
/// activity and the recipient's unread count, the response-time sample, the stream rows
/// and `MessageSent`. A second message with the sender's request id is refused by the
/// unique index.
pub(super) async fn post_message(
    tx: &mut Tx,
    conversation: &Conversation,
    message: &Message,
    request_id: &str,
    offer: Option<&CustomOffer>,
) -> Result<(), DbError> {
    store::messages::insert_message(tx, message, request_id).await?;
    let recipient_id = conversation.other_than(message.sender_id);
    store::conversations::record_message(
        tx,
        conversation.id,
        message.id,
        recipient_id,
        message.create_time,
    )
    .await?;
    measure_response(tx, conversation, message).await?;
    events::message_sent(tx, conversation, message, offer, message.create_time).await?;
    Ok(())
}

/// Keeps the seller's response-time sample: the buyer's first message of a conversation
/// the buyer opened with one, and the seller's first reply to it (which measures the
/// seller again and publishes a changed median).
async fn measure_response(
    tx: &mut Tx,
    conversation: &Conversation,
    message: &Message,
) -> Result<(), DbError> {
    let now = message.create_time;
    let side = conversation.side_of(message.sender_id);
    if side == Some(Side::Buyer) {
        let seller_wrote_first =
            store::messages::has_message_of(&mut **tx, conversation.id, conversation.seller_id)
                .await?;
        if !seller_wrote_first {
            store::response_times::record_first_message(
                tx,
                conversation.id,
                conversation.seller_id,
                now,
            )
            .await?;
        }
    } else if side == Some(Side::Seller)
        && store::response_times::record_reply(tx, conversation.id, now).await?
    {
        remeasure(tx, conversation.seller_id, now).await?;
    }
    Ok(())
}

/// Measures `seller_id`'s response time at `now`, and publishes it when it changed.
pub async fn remeasure(tx: &mut Tx, seller_id: UserId, now: i64) -> Result<(), DbError> {
    let samples =
        store::response_times::samples(&mut **tx, seller_id, now - RESPONSE_WINDOW_MILLIS).await?;
    let measured = median_response(&samples, now);
    let published = store::response_times::published(&mut **tx, seller_id).await?;
    store::response_times::write_published(tx, seller_id, measured, now).await?;
    if published != Some(measured) {
        events::response_time_changed(tx, seller_id, measured, now).await?;
    }
    Ok(())
}
