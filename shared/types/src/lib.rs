//! Value types that every gigmesh crate speaks: UUIDv7 ids, validated email addresses,
//! bounded text and https links, millisecond timestamps and opaque page tokens. Each parser returns an
//! `ApiError::InvalidArgument` naming the field, so request parsing reads as a list of steps.

mod email;
mod ids;
mod page;
mod text;
mod time;

pub use email::Email;
pub use ids::{EventId, SessionId, UserId};
pub use page::{PageSize, PageToken};
pub use text::{HttpsUrl, Lines, MAX_URL_CHARS, parse_text};
pub use time::{millis_from_timestamp, now_millis, timestamp_from_millis};
