//! What a participant sends: a message (text, attachments or both) and a seller's custom
//! offer, as parsed from a request, with the limits both keep.

use gigmesh_types::{ConversationId, GigId, HttpsUrl, MessageId, Money, OfferId, UserId};
use serde::{Deserialize, Serialize};

/// Longest message text, in characters.
pub const MAX_MESSAGE_CHARS: usize = 5_000;
/// Most attachments of one message.
pub const MAX_ATTACHMENTS: usize = 10;
/// Longest attachment file name, in characters.
pub const MAX_ATTACHMENT_NAME_CHARS: usize = 255;
/// Largest attachment (the file lives elsewhere; its size is shown): 2 GiB.
pub const MAX_ATTACHMENT_BYTES: i64 = 2 * 1024 * 1024 * 1024;
/// Longest media type, e.g. `application/vnd.openxmlformats-officedocument.wordprocessingml.document`.
pub const MAX_CONTENT_TYPE_CHARS: usize = 127;
/// Longest client request id.
pub const MAX_REQUEST_ID_CHARS: usize = 64;
/// Longest offer description, in characters.
pub const MAX_OFFER_DESCRIPTION_CHARS: usize = 3_000;
/// Smallest offer price, in minor units (5.00).
pub const MIN_OFFER_PRICE_MINOR: i64 = 500;
/// Most delivery days of an offer.
pub const MAX_OFFER_DELIVERY_DAYS: i32 = 90;
/// Most revisions of an offer.
pub const MAX_OFFER_REVISIONS: i32 = 20;
/// How long an offer waits for an answer when the seller does not say.
pub const DEFAULT_OFFER_EXPIRY_HOURS: i32 = 72;
/// Longest an offer may wait for an answer: 30 days.
pub const MAX_OFFER_EXPIRY_HOURS: i32 = 720;

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Where it is.
    pub url: HttpsUrl,
    /// Its file name.
    pub name: String,
    /// Its size in bytes, at least 1.
    pub size_bytes: i64,
    /// Its media type, lowercase `type/subtype`.
    pub content_type: String,
}

/// A message to send: text, attachments, or both (never neither).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Plain text, trimmed; empty when there are attachments.
    pub text: String,
    /// Attached files.
    pub attachments: Vec<Attachment>,
    /// The client's id for the message, unique per sender: a retry returns the first.
    pub request_id: String,
}

/// A custom offer to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOffer {
    /// The seller's gig it is an order of.
    pub gig_id: GigId,
    /// What the seller will do.
    pub description: String,
    /// The price of the work.
    pub price: Money,
    /// Days from the start of the order to its due date.
    pub delivery_days: i32,
    /// Revisions included.
    pub revisions: i32,
    /// Hours until it expires unanswered.
    pub expire_after_hours: i32,
    /// The client's id for the offer: a retry returns the first.
    pub request_id: String,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its id (UUIDv7: later messages have greater ids).
    pub id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Who sent it.
    pub sender_id: UserId,
    /// Plain text; may be empty.
    pub text: String,
    /// Attached files.
    pub attachments: Vec<Attachment>,
    /// The offer, on a custom offer's message.
    pub offer_id: Option<OfferId>,
    /// The warning for the recipient; empty when the message was not flagged.
    pub warning: String,
    /// When it was sent, Unix milliseconds.
    pub create_time: i64,
}
