//! Value types that every gigmesh crate speaks: UUIDv7 ids, money in minor units of an ISO
//! 4217 currency, validated email addresses, bounded text and https links, millisecond timestamps and opaque page tokens. Each parser returns an
//! `ApiError::InvalidArgument` naming the field, so request parsing reads as a list of steps.
//! [`client_network`] says which network a client address is counted under.

mod email;
mod ids;
mod money;
mod network;
mod page;
mod text;
mod time;

pub use email::Email;
pub use ids::{
    ConversationId, EventId, GigId, MessageId, NotificationId, OfferId, OrderId, PaymentId,
    ReviewId, SessionId, UserId,
};
pub use money::{Currency, Money, MoneyError};
pub use network::client_network;
pub use page::{PageSize, PageToken};
pub use text::{HttpsUrl, Lines, MAX_URL_CHARS, escape_html, parse_text};
pub use time::{Clock, ManualClock, millis_from_timestamp, now_millis, timestamp_from_millis};
