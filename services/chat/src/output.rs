//! Domain values as proto messages, as a given viewer sees them: a message's warning is for
//! its recipient, a conversation's unread count and read positions are the viewer's.

use gigmesh_proto::chat as proto;
use gigmesh_proto::types::Money as ProtoMoney;
use gigmesh_types::{UserId, timestamp_from_millis};

use crate::domain::conversation::{Conversation, ParticipantView};
use crate::domain::message::{Attachment, Message};
use crate::domain::offer::{CustomOffer, OfferState};

/// `message` as `viewer` sees it (`None`: as the bus carries it, warning included), with
/// its offer when it is an offer's message.
pub fn message_to_proto(
    message: &Message,
    offer: Option<&CustomOffer>,
    viewer: Option<UserId>,
) -> proto::Message {
    let warning_shown = viewer != Some(message.sender_id);
    proto::Message {
        id: message.id.to_string(),
        conversation_id: message.conversation_id.to_string(),
        sender_id: message.sender_id.to_string(),
        text: message.text.clone(),
        attachments: message
            .attachments
            .iter()
            .map(attachment_to_proto)
            .collect(),
        create_time: Some(timestamp_from_millis(message.create_time)),
        custom_offer: offer.map(offer_to_proto),
        warning: if warning_shown {
            message.warning.clone()
        } else {
            String::new()
        },
    }
}

fn attachment_to_proto(attachment: &Attachment) -> proto::Attachment {
    proto::Attachment {
        url: attachment.url.as_str().to_owned(),
        name: attachment.name.clone(),
        size_bytes: attachment.size_bytes,
        content_type: attachment.content_type.clone(),
    }
}

/// An offer.
pub fn offer_to_proto(offer: &CustomOffer) -> proto::CustomOffer {
    proto::CustomOffer {
        id: offer.id.to_string(),
        conversation_id: offer.conversation_id.to_string(),
        seller_id: offer.seller_id.to_string(),
        buyer_id: offer.buyer_id.to_string(),
        gig_id: offer.gig_id.to_string(),
        description: offer.description.clone(),
        price: Some(ProtoMoney::from(offer.price)),
        delivery_days: offer.delivery_days,
        revisions: offer.revisions,
        expire_time: Some(timestamp_from_millis(offer.expire_time)),
        state: offer_state_to_proto(offer.state) as i32,
        order_id: offer.order_id.map(|id| id.to_string()).unwrap_or_default(),
        create_time: Some(timestamp_from_millis(offer.create_time)),
        close_time: offer.close_time.map(timestamp_from_millis),
    }
}

fn offer_state_to_proto(state: OfferState) -> proto::CustomOfferState {
    match state {
        OfferState::Pending => proto::CustomOfferState::Pending,
        OfferState::Accepted => proto::CustomOfferState::Accepted,
        OfferState::Declined => proto::CustomOfferState::Declined,
        OfferState::Withdrawn => proto::CustomOfferState::Withdrawn,
        OfferState::Expired => proto::CustomOfferState::Expired,
    }
}

/// What the viewer's side adds to a conversation: their read state, the latest message as
/// they see it, and the other participant's presence and block.
#[derive(Debug, Clone, Default)]
pub struct ViewExtras {
    /// The latest message, as the viewer sees it.
    pub last_message: Option<proto::Message>,
    /// Whether the other participant has a stream open.
    pub other_online: bool,
    /// Whether the viewer blocks the other participant.
    pub other_blocked: bool,
}

/// A participant's view of a conversation.
pub fn view_to_proto(view: &ParticipantView, extras: ViewExtras) -> proto::Conversation {
    let mut conversation = conversation_to_proto(&view.conversation);
    conversation.unread_count = i32::try_from(view.unread_count).unwrap_or(i32::MAX);
    conversation.read_message_id = view
        .read_message_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    conversation.other_read_message_id = view
        .other_read_message_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    conversation.last_message = extras.last_message;
    conversation.other_online = extras.other_online;
    conversation.other_blocked = extras.other_blocked;
    conversation
}

/// A conversation without anyone's read state (events, admins).
pub fn conversation_to_proto(conversation: &Conversation) -> proto::Conversation {
    proto::Conversation {
        id: conversation.id.to_string(),
        buyer_id: conversation.buyer_id.to_string(),
        seller_id: conversation.seller_id.to_string(),
        gig_id: conversation
            .gig_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        order_id: conversation
            .order_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        create_time: Some(timestamp_from_millis(conversation.create_time)),
        ..proto::Conversation::default()
    }
}
