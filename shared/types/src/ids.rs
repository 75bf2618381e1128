//! UUIDv7 identifiers: time-ordered, so they index well and sort by creation.

use std::fmt;
use std::str::FromStr;

use gigmesh_errors::ApiError;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses a request field; an empty or malformed value is `INVALID_ARGUMENT`.
            pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
                if raw.is_empty() {
                    return Err(ApiError::invalid(field, "is required"));
                }
                Uuid::from_str(raw)
                    .map(Self)
                    .map_err(|_| ApiError::invalid(field, "must be a UUID"))
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(formatter)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// The id of an account, and of the user everywhere else.
    UserId
);
uuid_id!(
    /// The id of a signed-in session (a refresh-token family).
    SessionId
);
uuid_id!(
    /// The id of a domain event; consumers deduplicate on it.
    EventId
);
uuid_id!(
    /// The id of a gig (what a seller offers).
    GigId
);
uuid_id!(
    /// The id of an order of a gig.
    OrderId
);
uuid_id!(
    /// The id of a payment into escrow.
    PaymentId
);
uuid_id!(
    /// The id of a conversation between a buyer and a seller.
    ConversationId
);
uuid_id!(
    /// The id of a message in a conversation.
    MessageId
);
uuid_id!(
    /// The id of a seller's custom offer.
    OfferId
);
uuid_id!(
    /// The id of a review of an order.
    ReviewId
);
uuid_id!(
    /// The id of an entry in a user's notification feed.
    NotificationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_names_the_field() {
        let id = UserId::new();
        assert_eq!(UserId::parse("user_id", &id.to_string()).unwrap(), id);
        let error = UserId::parse("user_id", "nope").unwrap_err();
        assert!(error.to_string().contains("user_id: must be a UUID"));
        let error = UserId::parse("user_id", "").unwrap_err();
        assert!(error.to_string().contains("user_id: is required"));
    }

    #[test]
    fn new_ids_sort_by_creation() {
        let first = EventId::new();
        let second = EventId::new();
        assert!(first < second);
    }
}
