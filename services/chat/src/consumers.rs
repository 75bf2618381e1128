//! What chat follows on the bus: the gig service's `GigChanged` (chat's copy of each gig,
//! version-guarded), the order service's `OrderChanged` (a placed order opens its own
//! conversation), and its own topic, which every replica reads in a group of its own to
//! wake the streams it holds when another replica made a change.

use async_trait::async_trait;
use gigmesh_db::Tx;
use gigmesh_events::{Envelope, EventHandler, HandlerError, decode};
use gigmesh_proto::EventMessage as _;
use gigmesh_proto::chat as chat_proto;
use gigmesh_proto::gigs::{self as gigs_proto, GigChanged};
use gigmesh_proto::orders::{OrderChanged, TimelineKind};
use gigmesh_types::{Clock, ConversationId, Currency, GigId, OrderId, UserId};
use uuid::Uuid;

use crate::domain::conversation::Conversation;
use crate::events;
use crate::store;
use crate::store::gigs::GigSummary;
use crate::stream::StreamHub;

/// Consumer group (and inbox name) of the chat service on the gigs and orders topics.
pub const UPSTREAM_CONSUMER_NAME: &str = "chat.upstream-events";

/// Applies `GigChanged` and `OrderChanged`.
#[derive(Debug, Clone)]
pub struct UpstreamEventsHandler {
    clock: Clock,
    hub: StreamHub,
}

impl UpstreamEventsHandler {
    /// A handler reading the time from `clock`, waking the streams of `hub`.
    pub fn new(clock: Clock, hub: StreamHub) -> Self {
        Self { clock, hub }
    }
}

#[async_trait]
impl EventHandler for UpstreamEventsHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        let now = self.clock.now_millis();
        if let Some(event) = decode::<GigChanged>(envelope) {
            return apply_gig_changed(tx, event?, now).await;
        }
        if let Some(event) = decode::<OrderChanged>(envelope) {
            return open_order_conversation(tx, event?, now).await;
        }
        Ok(())
    }

    fn takes(&self, event_type: &str) -> bool {
        [GigChanged::EVENT_TYPE, OrderChanged::EVENT_TYPE].contains(&event_type)
    }

    async fn after_commit(&self, envelope: &Envelope) {
        if let Some(Ok(event)) = decode::<OrderChanged>(envelope)
            && let Some(order) = event.order
        {
            for user_id in [&order.buyer_id, &order.seller_id] {
                if let Ok(user_id) = Uuid::parse_str(user_id) {
                    self.hub.wake(UserId::from(user_id));
                }
            }
        }
    }
}

/// Keeps the gig's summary unless a newer one is kept already.
async fn apply_gig_changed(tx: &mut Tx, event: GigChanged, now: i64) -> Result<(), HandlerError> {
    let Some(gig) = event.gig else {
        return Err(HandlerError::permanent(anyhow::anyhow!(
            "GigChanged without a gig"
        )));
    };
    let state = gigs_proto::GigState::try_from(gig.state).ok();
    let moderation = gigs_proto::ModerationState::try_from(gig.moderation_state).ok();
    let currency = gig
        .packages
        .iter()
        .find_map(|package| package.price.as_ref())
        .and_then(|price| Currency::from_code(&price.currency));
    let summary = GigSummary {
        id: GigId::from(parse_uuid("gig id", &gig.id)?),
        seller_id: UserId::from(parse_uuid("seller id", &gig.seller_id)?),
        title: gig.title,
        offerable: state == Some(gigs_proto::GigState::Active)
            && moderation == Some(gigs_proto::ModerationState::Approved)
            && currency.is_some(),
        currency: currency.unwrap_or(Currency::USD),
    };
    if !store::gigs::write_gig(tx, &summary, event.version, now).await? {
        tracing::debug!(gig_id = %summary.id, version = event.version, "older gig summary ignored");
    }
    Ok(())
}

/// Opens the conversation of a placed order, once.
async fn open_order_conversation(
    tx: &mut Tx,
    event: OrderChanged,
    now: i64,
) -> Result<(), HandlerError> {
    if event.change != TimelineKind::Placed as i32 {
        return Ok(());
    }
    let Some(order) = event.order else {
        return Err(HandlerError::permanent(anyhow::anyhow!(
            "OrderChanged without an order"
        )));
    };
    let order_id = OrderId::from(parse_uuid("order id", &order.id)?);
    if store::conversations::find_by_order(&mut **tx, order_id)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let conversation = Conversation {
        id: ConversationId::new(),
        buyer_id: UserId::from(parse_uuid("buyer id", &order.buyer_id)?),
        seller_id: UserId::from(parse_uuid("seller id", &order.seller_id)?),
        gig_id: Some(GigId::from(parse_uuid("gig id", &order.gig_id)?)),
        order_id: Some(order_id),
        create_time: now,
    };
    store::conversations::insert_conversation(tx, &conversation, None).await?;
    events::conversation_started(tx, &conversation, now).await?;
    tracing::info!(order_id = %order_id, conversation_id = %conversation.id, "order conversation opened");
    Ok(())
}

/// Wakes this replica's streams of the users a chat event concerns (their rows are
/// committed before the event is published, so the woken streams find them).
#[derive(Debug, Clone)]
pub struct StreamWakeHandler {
    hub: StreamHub,
}

impl StreamWakeHandler {
    /// A handler waking the streams of `hub`.
    pub fn new(hub: StreamHub) -> Self {
        Self { hub }
    }
}

#[async_trait]
impl EventHandler for StreamWakeHandler {
    async fn handle(&self, _tx: &mut Tx, _envelope: &Envelope) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn after_commit(&self, envelope: &Envelope) {
        for user_id in users_concerned(envelope) {
            if let Ok(user_id) = Uuid::parse_str(&user_id) {
                self.hub.wake(UserId::from(user_id));
            }
        }
    }
}

/// The users whose streams a chat event reached.
fn users_concerned(envelope: &Envelope) -> Vec<String> {
    if let Some(Ok(event)) = decode::<chat_proto::MessageSent>(envelope) {
        return vec![event.buyer_id, event.seller_id];
    }
    if let Some(Ok(event)) = decode::<chat_proto::ConversationRead>(envelope) {
        return vec![event.reader_id, event.recipient_id];
    }
    if let Some(Ok(event)) = decode::<chat_proto::CustomOfferChanged>(envelope) {
        return event
            .offer
            .map(|offer| vec![offer.buyer_id, offer.seller_id])
            .unwrap_or_default();
    }
    if let Some(Ok(event)) = decode::<chat_proto::ConversationStarted>(envelope) {
        return event
            .conversation
            .map(|conversation| vec![conversation.buyer_id, conversation.seller_id])
            .unwrap_or_default();
    }
    Vec::new()
}

fn parse_uuid(what: &str, raw: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(raw)
        .map_err(|_| HandlerError::permanent(anyhow::anyhow!("{what} {raw:?} is not a UUID")))
}
