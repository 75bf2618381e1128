//! A custom offer's lifecycle: a seller offers, the buyer accepts or declines, the seller
//! may withdraw before an answer, and an unanswered offer expires. Who may do what, and in
//! which state, is decided here; the store applies the outcome with a versioned write.

use gigmesh_types::{ConversationId, GigId, Money, OfferId, OrderId, UserId};

/// A custom offer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomOffer {
    /// Its id.
    pub id: OfferId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// The seller who made it.
    pub seller_id: UserId,
    /// The buyer it is for.
    pub buyer_id: UserId,
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
    /// When it expires unanswered, Unix milliseconds.
    pub expire_time: i64,
    /// Where it stands.
    pub state: OfferState,
    /// The order placed when the buyer accepted.
    pub order_id: Option<OrderId>,
    /// When it was made.
    pub create_time: i64,
    /// When it was answered, withdrawn or expired.
    pub close_time: Option<i64>,
    /// Version of its row, one per change.
    pub version: i64,
}

impl CustomOffer {
    /// Who `user_id` is to this offer.
    pub fn actor(&self, user_id: UserId) -> Actor {
        if user_id == self.buyer_id {
            Actor::Buyer
        } else if user_id == self.seller_id {
            Actor::Seller
        } else {
            Actor::Stranger
        }
    }
}

/// Where an offer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferState {
    /// Waiting for the buyer (until its expiry).
    Pending,
    /// The buyer accepted; an order exists.
    Accepted,
    /// The buyer declined.
    Declined,
    /// The seller withdrew it before an answer.
    Withdrawn,
    /// Its expiry passed without an answer.
    Expired,
}

impl OfferState {
    /// The state's name in answers, e.g. "withdrawn".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
        }
    }

    /// The state named by [`as_str`](Self::as_str).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Accepted,
            Self::Declined,
            Self::Withdrawn,
            Self::Expired,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }
}

/// What someone does to an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferAction {
    /// The buyer accepts.
    Accept,
    /// The buyer declines.
    Decline,
    /// The seller withdraws.
    Withdraw,
    /// The expiry timer closes it.
    Expire,
}

/// Who acts on an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The buyer it is for.
    Buyer,
    /// The seller who made it.
    Seller,
    /// Someone else: for them the offer does not exist.
    Stranger,
    /// The expiry timer.
    Timer,
}

/// Why an action on an offer is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferRefusal {
    /// The actor is no participant of the offer's conversation (NOT_FOUND).
    NotFound,
    /// The actor is the wrong participant for the action, e.g. the seller accepting their
    /// own offer (PERMISSION_DENIED).
    WrongParty,
    /// The offer is not pending, or its expiry has passed (FAILED_PRECONDITION naming
    /// the state).
    NotPending(OfferState),
    /// The timer came before the expiry (it runs again later).
    NotDue,
}

/// The state `action` by `actor` leads to from `state`, at `now_millis`, for an offer
/// expiring at `expire_time_millis`. A pending offer past its expiry counts as expired for
/// everyone but the timer that closes it.
pub fn next_state(
    state: OfferState,
    expire_time_millis: i64,
    actor: Actor,
    action: OfferAction,
    now_millis: i64,
) -> Result<OfferState, OfferRefusal> {
    let allowed = match action {
        OfferAction::Accept | OfferAction::Decline => actor == Actor::Buyer,
        OfferAction::Withdraw => actor == Actor::Seller,
        OfferAction::Expire => actor == Actor::Timer,
    };
    if actor == Actor::Stranger {
        return Err(OfferRefusal::NotFound);
    }
    if !allowed {
        return Err(OfferRefusal::WrongParty);
    }
    let expired = now_millis >= expire_time_millis;
    match (state, action) {
        (OfferState::Pending, OfferAction::Expire) if expired => Ok(OfferState::Expired),
        (OfferState::Pending, OfferAction::Expire) => Err(OfferRefusal::NotDue),
        (OfferState::Pending, _) if expired => Err(OfferRefusal::NotPending(OfferState::Expired)),
        (OfferState::Pending, OfferAction::Accept) => Ok(OfferState::Accepted),
        (OfferState::Pending, OfferAction::Decline) => Ok(OfferState::Declined),
        (OfferState::Pending, OfferAction::Withdraw) => Ok(OfferState::Withdrawn),
        (closed, _) => Err(OfferRefusal::NotPending(closed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPIRY: i64 = 1_000;
    const BEFORE: i64 = 999;

    const STATES: [OfferState; 5] = [
        OfferState::Pending,
        OfferState::Accepted,
        OfferState::Declined,
        OfferState::Withdrawn,
        OfferState::Expired,
    ];
    const ACTIONS: [OfferAction; 4] = [
        OfferAction::Accept,
        OfferAction::Decline,
        OfferAction::Withdraw,
        OfferAction::Expire,
    ];
    const ACTORS: [Actor; 4] = [Actor::Buyer, Actor::Seller, Actor::Stranger, Actor::Timer];

    /// Every action by every actor in every state, before the expiry: one table.
    #[test]
    fn every_action_in_every_state_before_the_expiry() {
        for state in STATES {
            for action in ACTIONS {
                for actor in ACTORS {
                    let expected = match (actor, action) {
                        (Actor::Stranger, _) => Err(OfferRefusal::NotFound),
                        (Actor::Buyer, OfferAction::Accept | OfferAction::Decline)
                        | (Actor::Seller, OfferAction::Withdraw)
                        | (Actor::Timer, OfferAction::Expire) => match (state, action) {
                            (OfferState::Pending, OfferAction::Accept) => Ok(OfferState::Accepted),
                            (OfferState::Pending, OfferAction::Decline) => Ok(OfferState::Declined),
                            (OfferState::Pending, OfferAction::Withdraw) => {
                                Ok(OfferState::Withdrawn)
                            }
                            (OfferState::Pending, OfferAction::Expire) => Err(OfferRefusal::NotDue),
                            _ => Err(OfferRefusal::NotPending(state)),
                        },
                        _ => Err(OfferRefusal::WrongParty),
                    };
                    assert_eq!(
                        next_state(state, EXPIRY, actor, action, BEFORE),
                        expected,
                        "{actor:?} {action:?} on {state:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_pending_offer_past_its_expiry_is_expired_for_everyone() {
        for (actor, action) in [
            (Actor::Buyer, OfferAction::Accept),
            (Actor::Buyer, OfferAction::Decline),
            (Actor::Seller, OfferAction::Withdraw),
        ] {
            assert_eq!(
                next_state(OfferState::Pending, EXPIRY, actor, action, EXPIRY),
                Err(OfferRefusal::NotPending(OfferState::Expired)),
                "{actor:?} {action:?}"
            );
        }
        assert_eq!(
            next_state(
                OfferState::Pending,
                EXPIRY,
                Actor::Timer,
                OfferAction::Expire,
                EXPIRY
            ),
            Ok(OfferState::Expired)
        );
        // A closed offer stays as it closed.
        assert_eq!(
            next_state(
                OfferState::Withdrawn,
                EXPIRY,
                Actor::Timer,
                OfferAction::Expire,
                EXPIRY + 1
            ),
            Err(OfferRefusal::NotPending(OfferState::Withdrawn))
        );
    }

    #[test]
    fn a_seller_cannot_accept_their_own_offer() {
        assert_eq!(
            next_state(
                OfferState::Pending,
                EXPIRY,
                Actor::Seller,
                OfferAction::Accept,
                BEFORE
            ),
            Err(OfferRefusal::WrongParty)
        );
    }

    #[test]
    fn state_names() {
        let names: Vec<&str> = STATES.iter().map(|state| state.as_str()).collect();
        assert_eq!(
            names,
            ["pending", "accepted", "declined", "withdrawn", "expired"]
        );
    }
}
