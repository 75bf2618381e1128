//! Custom offers: the seller of a conversation offers one of their gigs (it arrives as a
//! message), the buyer accepts (an order is placed from the event) or declines, the seller
//! withdraws, the timer expires the unanswered.

use gigmesh_db::{Attempt, DbError, Tx, read_modify_write};
use gigmesh_proto::chat::CustomOfferChange;
use gigmesh_types::{ConversationId, MessageId, OfferId, OrderId, UserId};

use super::Chat;
use super::messages::post_message;
use crate::domain::conversation::Side;
use crate::domain::message::{Message, NewOffer};
use crate::domain::offer::{Actor, CustomOffer, OfferAction, OfferRefusal, OfferState, next_state};
use crate::error::ChatError;
use crate::events;
use crate::store;

/// Milliseconds in an hour.
const HOUR_MILLIS: i64 = 3_600_000;

/// The request id an offer's message is stored with (offers and plain messages have
/// request ids of their own).
fn offer_request_id(request_id: &str) -> String {
    format!("offer:{request_id}")
}

impl Chat {
    /// `seller_id` offers `new` in the conversation, whose seller they must be; the offer's
    /// message. The message of the offer the seller sent with the same request id before,
    /// if there is one.
    pub async fn send_offer(
        &self,
        seller_id: UserId,
        conversation_id: ConversationId,
        new: NewOffer,
    ) -> Result<(Message, CustomOffer), ChatError> {
        let stored = self.participant_view(conversation_id, seller_id).await?;
        let conversation = stored.view.conversation;
        if conversation.side_of(seller_id) != Some(Side::Seller) {
            return Err(ChatError::WrongParty(
                "only the conversation's seller may send a custom offer",
            ));
        }
        let request_id = offer_request_id(&new.request_id);
        if let Some(sent) = self
            .offer_message_by_request(seller_id, &request_id)
            .await?
        {
            return Ok(sent);
        }
        let gig = store::gigs::find_gig(self.db.pool(), new.gig_id)
            .await?
            .filter(|gig| gig.seller_id == seller_id)
            .ok_or_else(|| ChatError::GigNotFound(new.gig_id.to_string()))?;
        if !gig.offerable {
            return Err(ChatError::GigUnavailable(format!(
                "gig {} is not published: publish it before offering it",
                gig.id
            )));
        }
        if new.price.currency != gig.currency {
            return Err(ChatError::WrongCurrency(gig.currency.code().to_owned()));
        }
        self.check_may_post(&conversation, seller_id).await?;
        let now = self.clock.now_millis();
        let offer = CustomOffer {
            id: OfferId::new(),
            conversation_id,
            seller_id,
            buyer_id: conversation.buyer_id,
            gig_id: gig.id,
            description: new.description,
            price: new.price,
            delivery_days: new.delivery_days,
            revisions: new.revisions,
            expire_time: now + i64::from(new.expire_after_hours) * HOUR_MILLIS,
            state: OfferState::Pending,
            order_id: None,
            create_time: now,
            close_time: None,
            version: 1,
        };
        let message = Message {
            id: MessageId::new(),
            conversation_id,
            sender_id: seller_id,
            text: String::new(),
            attachments: Vec::new(),
            offer_id: Some(offer.id),
            warning: String::new(),
            create_time: now,
        };
        let mut tx = self.db.begin().await?;
        store::offers::insert_offer(&mut tx, &offer).await?;
        match post_message(&mut tx, &conversation, &message, &request_id, Some(&offer)).await {
            Err(error) if error.is_unique_violation_on("request") => {
                drop(tx);
                return self
                    .offer_message_by_request(seller_id, &request_id)
                    .await?
                    .ok_or_else(|| {
                        ChatError::Internal(anyhow::anyhow!(
                            "an offer with the request id exists and cannot be read"
                        ))
                    });
            }
            other => other?,
        }
        events::offer_changed(&mut tx, &offer, CustomOfferChange::Sent, now).await?;
        tx.commit().await.map_err(DbError::from)?;
        self.wake_participants(&conversation);
        tracing::info!(offer_id = %offer.id, conversation_id = %conversation_id, "custom offer sent");
        Ok((message, offer))
    }

    async fn offer_message_by_request(
        &self,
        seller_id: UserId,
        request_id: &str,
    ) -> Result<Option<(Message, CustomOffer)>, ChatError> {
        let Some(message) =
            store::messages::find_by_request(self.db.pool(), seller_id, request_id).await?
        else {
            return Ok(None);
        };
        let offer = match message.offer_id {
            Some(offer_id) => store::offers::find_offer(self.db.pool(), offer_id).await?,
            None => None,
        };
        let offer = offer.ok_or_else(|| {
            ChatError::Internal(anyhow::anyhow!("an offer's message has no offer"))
        })?;
        Ok(Some((message, offer)))
    }

    /// `user_id` acts on the offer (accepts, declines or withdraws it); the offer after.
    pub async fn act_on_offer(
        &self,
        user_id: UserId,
        offer_id: OfferId,
        action: OfferAction,
    ) -> Result<CustomOffer, ChatError> {
        let now = self.clock.now_millis();
        let offer = read_modify_write(&self.db, |tx| {
            Box::pin(try_act(tx, offer_id, Some(user_id), action, now))
        })
        .await?;
        self.hub.wake(offer.buyer_id);
        self.hub.wake(offer.seller_id);
        tracing::info!(offer_id = %offer_id, state = offer.state.as_str(), "custom offer answered");
        Ok(offer)
    }

    /// Expires up to `batch` pending offers past their expiry; how many it expired.
    pub async fn expire_due_offers(&self, batch: u32) -> Result<usize, ChatError> {
        let now = self.clock.now_millis();
        let due = store::offers::due_offers(self.db.pool(), now, batch).await?;
        let mut expired = 0;
        for offer in due {
            let result = read_modify_write(&self.db, |tx| {
                Box::pin(try_act(tx, offer.id, None, OfferAction::Expire, now))
            })
            .await;
            match result {
                Ok(offer) => {
                    expired += 1;
                    self.hub.wake(offer.buyer_id);
                    self.hub.wake(offer.seller_id);
                }
                // Answered or expired by another replica since it was read.
                Err(ChatError::OfferNotPending(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(expired)
    }
}

/// One attempt at reading the offer, applying `action` of `user_id` (the timer when
/// `None`) and writing it back at the version that was read.
async fn try_act(
    tx: &mut Tx,
    offer_id: OfferId,
    user_id: Option<UserId>,
    action: OfferAction,
    now: i64,
) -> Result<Attempt<CustomOffer>, ChatError> {
    let not_found = || ChatError::OfferNotFound(offer_id.to_string());
    let offer = store::offers::find_offer(&mut **tx, offer_id)
        .await?
        .ok_or_else(not_found)?;
    let actor = match user_id {
        Some(user_id) => offer.actor(user_id),
        None => Actor::Timer,
    };
    let state =
        next_state(offer.state, offer.expire_time, actor, action, now).map_err(|refusal| {
            match refusal {
                OfferRefusal::NotFound => not_found(),
                OfferRefusal::WrongParty => ChatError::WrongParty(wrong_party_text(action)),
                OfferRefusal::NotPending(state) => ChatError::OfferNotPending(state),
                OfferRefusal::NotDue => ChatError::OfferNotPending(OfferState::Pending),
            }
        })?;
    let (change, order_id) = match state {
        OfferState::Accepted => (CustomOfferChange::Accepted, Some(OrderId::new())),
        OfferState::Declined => (CustomOfferChange::Declined, None),
        OfferState::Withdrawn => (CustomOfferChange::Withdrawn, None),
        OfferState::Expired => (CustomOfferChange::Expired, None),
        OfferState::Pending => return Ok(Attempt::Unchanged(offer)),
    };
    let changed = CustomOffer {
        state,
        order_id,
        close_time: Some(now),
        version: offer.version + 1,
        ..offer.clone()
    };
    if !store::offers::update_offer(tx, &changed, offer.version).await? {
        return Ok(Attempt::Conflict);
    }
    events::offer_changed(tx, &changed, change, now).await?;
    Ok(Attempt::Commit(changed))
}

fn wrong_party_text(action: OfferAction) -> &'static str {
    match action {
        OfferAction::Accept => "only the buyer the offer is for may accept it",
        OfferAction::Decline => "only the buyer the offer is for may decline it",
        OfferAction::Withdraw => "only the seller who made the offer may withdraw it",
        OfferAction::Expire => "only the timer expires offers",
    }
}
