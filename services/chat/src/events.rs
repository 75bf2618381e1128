//! What every change tells, in the transaction that makes it: a row in each participant's
//! stream (as that participant sees the change) and an event in the outbox
//! (`gigmesh.chat.v1`, keyed by the conversation id) for the notification center, orders,
//! users and every chat replica's streams.

use gigmesh_db::{DbError, Tx};
use gigmesh_events::enqueue;
use gigmesh_proto::chat::{self as proto, chat_event::Kind};
use gigmesh_types::{UserId, timestamp_from_millis};
use prost::Message as _;

use crate::domain::conversation::Conversation;
use crate::domain::message::Message;
use crate::domain::offer::CustomOffer;
use crate::domain::response_time::ResponseTime;
use crate::output::{conversation_to_proto, message_to_proto, offer_to_proto};
use crate::store::moderation::StoredReport;

/// Appends `kind` to `user_id`'s stream.
async fn to_stream(tx: &mut Tx, user_id: UserId, kind: Kind, now: i64) -> Result<(), DbError> {
    let event = proto::ChatEvent {
        event_id: String::new(),
        event_time: Some(timestamp_from_millis(now)),
        kind: Some(kind),
    };
    gigmesh_streams::store::append(tx, user_id, event.encode_to_vec(), now).await?;
    Ok(())
}

/// A conversation was opened: both participants' streams, and `ConversationStarted`.
pub async fn conversation_started(
    tx: &mut Tx,
    conversation: &Conversation,
    now: i64,
) -> Result<(), DbError> {
    let started = conversation_to_proto(conversation);
    for user_id in conversation.participants_in_lock_order() {
        to_stream(tx, user_id, Kind::ConversationStarted(started.clone()), now).await?;
    }
    let event = proto::ConversationStarted {
        conversation: Some(started),
    };
    enqueue(tx, &conversation.id.to_string(), &event).await?;
    Ok(())
}

/// A message was sent (an offer's, with `offer`): both participants' streams, each as they
/// see it, and `MessageSent` (with the warning, for the recipient's mail).
pub async fn message_sent(
    tx: &mut Tx,
    conversation: &Conversation,
    message: &Message,
    offer: Option<&CustomOffer>,
    now: i64,
) -> Result<(), DbError> {
    for user_id in conversation.participants_in_lock_order() {
        let seen = message_to_proto(message, offer, Some(user_id));
        to_stream(tx, user_id, Kind::MessageSent(seen), now).await?;
    }
    let event = proto::MessageSent {
        message: Some(message_to_proto(message, offer, None)),
        recipient_id: conversation.other_than(message.sender_id).to_string(),
        buyer_id: conversation.buyer_id.to_string(),
        seller_id: conversation.seller_id.to_string(),
        order_id: conversation
            .order_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
    };
    enqueue(tx, &conversation.id.to_string(), &event).await?;
    Ok(())
}

/// `reader_id` read up to `message`: a read receipt on both streams (the reader's other
/// devices clear their badge), and `ConversationRead`.
pub async fn conversation_read(
    tx: &mut Tx,
    conversation: &Conversation,
    reader_id: UserId,
    message: &Message,
    now: i64,
) -> Result<(), DbError> {
    let receipt = proto::ReadReceipt {
        conversation_id: conversation.id.to_string(),
        reader_id: reader_id.to_string(),
        message_id: message.id.to_string(),
    };
    for user_id in conversation.participants_in_lock_order() {
        to_stream(tx, user_id, Kind::ReadReceipt(receipt.clone()), now).await?;
    }
    let event = proto::ConversationRead {
        conversation_id: conversation.id.to_string(),
        reader_id: reader_id.to_string(),
        message_id: message.id.to_string(),
        message_time: Some(timestamp_from_millis(message.create_time)),
        recipient_id: conversation.other_than(reader_id).to_string(),
    };
    enqueue(tx, &conversation.id.to_string(), &event).await?;
    Ok(())
}

/// An offer changed. A new offer reaches the streams as its message (`message_sent`);
/// an answer, a withdrawal or an expiry as the offer itself. `CustomOfferChanged` either
/// way.
pub async fn offer_changed(
    tx: &mut Tx,
    offer: &CustomOffer,
    change: proto::CustomOfferChange,
    now: i64,
) -> Result<(), DbError> {
    let changed = offer_to_proto(offer);
    if change != proto::CustomOfferChange::Sent {
        let mut both = [offer.buyer_id, offer.seller_id];
        both.sort();
        for user_id in both {
            to_stream(tx, user_id, Kind::CustomOfferChanged(changed.clone()), now).await?;
        }
    }
    let event = proto::CustomOfferChanged {
        change: change as i32,
        offer: Some(changed),
    };
    enqueue(tx, &offer.conversation_id.to_string(), &event).await?;
    Ok(())
}

/// A participant reported a conversation: `ConversationReported`, for the admins.
pub async fn conversation_reported(
    tx: &mut Tx,
    conversation: &Conversation,
    report: &StoredReport,
) -> Result<(), DbError> {
    let event = proto::ConversationReported {
        report: Some(proto::ConversationReport {
            conversation: Some(conversation_to_proto(conversation)),
            reporter_id: report.reporter_id.to_string(),
            reason: report.reason.clone(),
            create_time: Some(timestamp_from_millis(report.create_time)),
        }),
    };
    enqueue(tx, &conversation.id.to_string(), &event).await?;
    Ok(())
}

/// A seller's measured response time changed: `SellerResponseTimeChanged`, keyed by the
/// seller.
pub async fn response_time_changed(
    tx: &mut Tx,
    seller_id: UserId,
    time: ResponseTime,
    now: i64,
) -> Result<(), DbError> {
    let event = proto::SellerResponseTimeChanged {
        seller_id: seller_id.to_string(),
        median_response_seconds: time.median_seconds,
        conversations: time.conversations,
        measure_time: Some(timestamp_from_millis(now)),
    };
    enqueue(tx, &seller_id.to_string(), &event).await?;
    Ok(())
}
