//! A conversation and who takes part in it: exactly one buyer and one seller, about a gig
//! (an inquiry) or an order (opened by itself when the order is placed). Only the two see
//! it; admins read it once one of them reported it.

use gigmesh_types::{ConversationId, GigId, MessageId, OrderId, UserId};

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// The buyer.
    pub buyer_id: UserId,
    /// The seller.
    pub seller_id: UserId,
    /// The gig of an inquiry.
    pub gig_id: Option<GigId>,
    /// The order of an order's conversation.
    pub order_id: Option<OrderId>,
    /// When it was opened, Unix milliseconds.
    pub create_time: i64,
}

/// Which side of a conversation someone is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The buyer.
    Buyer,
    /// The seller.
    Seller,
}

impl Conversation {
    /// The side `user_id` is on, or `None` for anyone else.
    pub fn side_of(&self, user_id: UserId) -> Option<Side> {
        if user_id == self.buyer_id {
            Some(Side::Buyer)
        } else if user_id == self.seller_id {
            Some(Side::Seller)
        } else {
            None
        }
    }

    /// The participant who is not `user_id` (the seller for anyone but the seller).
    pub fn other_than(&self, user_id: UserId) -> UserId {
        if user_id == self.seller_id {
            self.buyer_id
        } else {
            self.seller_id
        }
    }

    /// Both participants, in the order their stream rows are written (ascending id, so two
    /// writers lock the same heads in the same order).
    pub fn participants_in_lock_order(&self) -> [UserId; 2] {
        let mut both = [self.buyer_id, self.seller_id];
        both.sort();
        both
    }

    /// The key of a buyer's and seller's one inquiry conversation.
    pub fn inquiry_key(buyer_id: UserId, seller_id: UserId) -> String {
        format!("{buyer_id}:{seller_id}")
    }
}

/// One participant's view of a conversation: where they have read to, what they have not
/// read, and the other participant's read position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantView {
    /// The conversation.
    pub conversation: Conversation,
    /// The viewer's latest activity time in it (its latest message or its opening).
    pub activity_time: i64,
    /// The newest message the viewer has read.
    pub read_message_id: Option<MessageId>,
    /// The other participant's messages after it.
    pub unread_count: i64,
    /// The newest message the other participant has read.
    pub other_read_message_id: Option<MessageId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation() -> Conversation {
        Conversation {
            id: ConversationId::new(),
            buyer_id: UserId::new(),
            seller_id: UserId::new(),
            gig_id: None,
            order_id: None,
            create_time: 0,
        }
    }

    #[test]
    fn only_the_two_participants_have_a_side() {
        let conversation = conversation();
        assert_eq!(
            conversation.side_of(conversation.buyer_id),
            Some(Side::Buyer)
        );
        assert_eq!(
            conversation.side_of(conversation.seller_id),
            Some(Side::Seller)
        );
        assert_eq!(conversation.side_of(UserId::new()), None);
        assert_eq!(
            conversation.other_than(conversation.buyer_id),
            conversation.seller_id
        );
        assert_eq!(
            conversation.other_than(conversation.seller_id),
            conversation.buyer_id
        );
        let [first, second] = conversation.participants_in_lock_order();
        assert!(first < second);
    }
}
