//! Conversations through the gateway: a buyer asks a seller about a gig while both hold
//! streams; the seller's stream gets the question, the seller answers with a custom offer,
//! the buyer accepts and an order awaiting payment exists at the offer's price; read
//! receipts reach the buyer; a stream dropped midway and resumed from its last event id
//! gets what it missed, each event once; messages the buyer leaves unread are mailed to them
//! once. Each stream may be held by a different chat replica than the one a message is sent
//! through.

use std::path::Path;
use std::time::{Duration, Instant};

use gigmesh_proto::chat::chat_event::Kind;
use gigmesh_proto::chat::chat_service_client::ChatServiceClient;
use gigmesh_proto::chat::{self, ChatEvent};
use gigmesh_proto::gigs;
use gigmesh_proto::orders::{self, OrderState};
use gigmesh_testing::signed_in;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

use super::gigs_and_search::{create_and_publish_gig, signed_up_seller, usd};
use super::methods::{
    ACCEPT_CUSTOM_OFFER, GET_ORDER, LIST_MESSAGES, MARK_CONVERSATION_READ, SEND_CUSTOM_OFFER,
    SEND_MESSAGE, START_CONVERSATION,
};
use super::{NewAccount, sign_up_and_verify, wait_for_profile};
use crate::support::mail::wait_for_mail;
use crate::support::rpc::Rpc;

/// The offer's price, in cents.
const OFFER_PRICE: i64 = 17_500;

/// Where each participant's stream is held: the buyer's and the seller's channel (the
/// gateway, or a chat replica directly).
pub struct StreamChannels {
    /// The buyer's.
    pub buyer: Channel,
    /// The seller's.
    pub seller: Channel,
}

/// The whole flow; `within` bounds each wait for an event to cross the mesh.
pub async fn chat_flow(
    rpc: &Rpc,
    mail_directory: &Path,
    streams: StreamChannels,
    within: Duration,
) {
    let seller = signed_up_seller(rpc, mail_directory, &NewAccount::unique("seller")).await;
    let buyer_account = NewAccount::unique("buyer");
    let buyer = sign_up_and_verify(rpc, mail_directory, &buyer_account)
        .await
        .tokens
        .expect("tokens");
    wait_for_profile(rpc, &buyer.access_token).await;
    let gig = create_and_publish_gig(rpc, &seller.access_token, sellable_gig()).await;

    let mut buyer_stream = open_stream(streams.buyer.clone(), &buyer.access_token, "").await;
    let mut seller_stream = open_stream(streams.seller.clone(), &seller.access_token, "").await;

    // The buyer asks about the gig, once chat has heard of it.
    let conversation = start_conversation(rpc, &buyer.access_token, &gig.id, within).await;
    let question: chat::Message = rpc
        .call(
            SEND_MESSAGE,
            chat::SendMessageRequest {
                conversation_id: conversation.id.clone(),
                text: "Could you do three logo concepts by next week?".to_owned(),
                request_id: "question-1".to_owned(),
                ..Default::default()
            },
            Some(&buyer.access_token),
        )
        .await
        .expect("send the question");
    let seen = wait_for(&mut seller_stream, within, |kind| match kind {
        Kind::MessageSent(message) if message.id == question.id => Some(message.clone()),
        _ => None,
    })
    .await;
    assert_eq!(seen.text, question.text);

    // The seller reads it (the buyer gets the receipt) and answers with an offer.
    let _: chat::Conversation = rpc
        .call(
            MARK_CONVERSATION_READ,
            chat::MarkConversationReadRequest {
                conversation_id: conversation.id.clone(),
                message_id: question.id.clone(),
            },
            Some(&seller.access_token),
        )
        .await
        .expect("mark read");
    wait_for(&mut buyer_stream, within, |kind| match kind {
        Kind::ReadReceipt(receipt) if receipt.message_id == question.id => Some(()),
        _ => None,
    })
    .await;
    let offer_message: chat::Message = rpc
        .call(
            SEND_CUSTOM_OFFER,
            chat::SendCustomOfferRequest {
                conversation_id: conversation.id.clone(),
                gig_id: gig.id.clone(),
                description: "Three logo concepts, two revisions, source files".to_owned(),
                price: usd(OFFER_PRICE),
                delivery_days: 6,
                revisions: 2,
                expire_after_hours: 48,
                request_id: "offer-1".to_owned(),
            },
            Some(&seller.access_token),
        )
        .await
        .expect("send the offer");
    let offer = offer_message.custom_offer.expect("an offer's message");
    let offered = wait_for(&mut buyer_stream, within, |kind| match kind {
        Kind::MessageSent(message) => message.custom_offer.clone(),
        _ => None,
    })
    .await;
    assert_eq!(offered.id, offer.id);

    // The buyer accepts: the order exists, awaiting payment at the offer's price.
    let accepted: chat::CustomOffer = rpc
        .call(
            ACCEPT_CUSTOM_OFFER,
            chat::AcceptCustomOfferRequest {
                offer_id: offer.id.clone(),
            },
            Some(&buyer.access_token),
        )
        .await
        .expect("accept");
    assert_eq!(accepted.state(), chat::CustomOfferState::Accepted);
    let order = wait_for_order(rpc, &buyer.access_token, &accepted.order_id, within).await;
    assert_eq!(order.state(), OrderState::AwaitingPayment);
    assert_eq!(order.custom_offer_id, offer.id);
    assert_eq!(order.seller_id, offer.seller_id);
    assert_eq!(
        order.price.as_ref().and_then(|p| p.subtotal.clone()),
        usd(OFFER_PRICE)
    );
    assert_eq!(order.delivery_days, 6);
    wait_for(&mut seller_stream, within, |kind| match kind {
        Kind::CustomOfferChanged(changed) if changed.id == offer.id => Some(()),
        _ => None,
    })
    .await;
    // The placed order opens its own conversation for both.
    wait_for(&mut seller_stream, within, |kind| match kind {
        Kind::ConversationStarted(started) if started.order_id == order.id => Some(()),
        _ => None,
    })
    .await;

    // The buyer's stream drops; what comes meanwhile arrives on the resumed stream, once.
    let last_seen = last_event_id(&mut buyer_stream, within).await;
    drop(buyer_stream);
    let mut sent_meanwhile = Vec::new();
    for n in 0..3 {
        let message: chat::Message = rpc
            .call(
                SEND_MESSAGE,
                chat::SendMessageRequest {
                    conversation_id: conversation.id.clone(),
                    text: format!("Thanks! Starting now ({n})"),
                    request_id: format!("meanwhile-{n}"),
                    ..Default::default()
                },
                Some(&seller.access_token),
            )
            .await
            .expect("send");
        sent_meanwhile.push(message.id);
    }
    let mut resumed = open_stream(streams.buyer, &buyer.access_token, &last_seen).await;
    let mut received = Vec::new();
    let deadline = Instant::now() + within;
    while received.len() < sent_meanwhile.len() {
        let event = next(&mut resumed, deadline).await;
        if let Some(Kind::MessageSent(message)) = event.kind {
            received.push(message.id);
        }
    }
    assert_eq!(received, sent_meanwhile, "none lost, none repeated");

    let page: chat::ListMessagesResponse = rpc
        .call(
            LIST_MESSAGES,
            chat::ListMessagesRequest {
                conversation_id: conversation.id.clone(),
                ..Default::default()
            },
            Some(&buyer.access_token),
        )
        .await
        .expect("list messages");
    assert_eq!(page.messages.len(), 5, "the question, the offer and three");
    assert_eq!(
        page.messages.last().map(|m| m.id.as_str()),
        Some(question.id.as_str())
    );
}

/// A gig that publishes: one package, a cover image.
pub fn sellable_gig() -> gigs::Gig {
    gigs::Gig {
        title: "A modern logo for your brand".to_owned(),
        description: "Clean vector logos with every file you need to print and publish.".to_owned(),
        category_id: "graphics-design".to_owned(),
        subcategory_id: "logo-design".to_owned(),
        tags: vec!["logo".to_owned(), "brand".to_owned()],
        packages: vec![gigs::Package {
            tier: gigs::PackageTier::Basic as i32,
            name: "One concept".to_owned(),
            description: "One logo concept in vector formats".to_owned(),
            price: usd(5_000),
            delivery_days: 3,
            revisions: 1,
            features: vec!["vector files".to_owned()],
        }],
        gallery: vec![gigs::GalleryItem {
            kind: gigs::MediaKind::Image as i32,
            url: "https://cdn.example.com/logo.png".to_owned(),
            cover: true,
        }],
        ..Default::default()
    }
}

async fn open_stream(channel: Channel, token: &str, resume_token: &str) -> Streaming<ChatEvent> {
    let request = chat::StreamEventsRequest {
        resume_token: resume_token.to_owned(),
    };
    let mut stream = ChatServiceClient::new(channel)
        .stream_events(signed_in(token, request))
        .await
        .expect("open a stream")
        .into_inner();
    // Every stream starts with a heartbeat carrying its position.
    let first = next(&mut stream, Instant::now() + Duration::from_secs(10)).await;
    assert!(
        matches!(first.kind, Some(Kind::Heartbeat(_))) && !first.event_id.is_empty(),
        "{first:?}"
    );
    stream
}

async fn next(stream: &mut Streaming<ChatEvent>, deadline: Instant) -> ChatEvent {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::time::timeout(left, stream.message())
        .await
        .expect("an event in time")
        .expect("a healthy stream")
        .expect("the stream goes on")
}

/// Reads `stream` until `wanted` picks an event, within `within`.
async fn wait_for<T>(
    stream: &mut Streaming<ChatEvent>,
    within: Duration,
    mut wanted: impl FnMut(&Kind) -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let event = next(stream, deadline).await;
        if let Some(found) = event.kind.as_ref().and_then(&mut wanted) {
            return found;
        }
    }
}

/// The event id of the stream's latest event: the position a client keeps.
async fn last_event_id(stream: &mut Streaming<ChatEvent>, within: Duration) -> String {
    // Whatever is still on its way (the order's conversation for the buyer) arrives first.
    let mut last = String::new();
    let deadline = Instant::now() + within.min(Duration::from_secs(1));
    while let Ok(Ok(Some(event))) = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        stream.message(),
    )
    .await
    {
        last = event.event_id;
    }
    assert!(!last.is_empty(), "the stream has a position");
    last
}

/// Starts `token`'s inquiry about `gig_id`, waiting until chat has heard of the gig.
pub async fn start_conversation(
    rpc: &Rpc,
    token: &str,
    gig_id: &str,
    within: Duration,
) -> chat::Conversation {
    let deadline = Instant::now() + within;
    loop {
        let started = rpc
            .call::<_, chat::Conversation>(
                START_CONVERSATION,
                chat::StartConversationRequest {
                    gig_id: gig_id.to_owned(),
                    ..Default::default()
                },
                Some(token),
            )
            .await;
        match started {
            Ok(conversation) => return conversation,
            Err(status) if status.code() == Code::NotFound && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("start a conversation: {status:?}"),
        }
    }
}

/// The order `order_id` as `token`'s user sees it, waiting (within `within`) until orders
/// has placed it from the accepted offer.
pub async fn wait_for_order(
    rpc: &Rpc,
    token: &str,
    order_id: &str,
    within: Duration,
) -> orders::Order {
    let deadline = Instant::now() + within;
    loop {
        let order = rpc
            .call::<_, orders::Order>(
                GET_ORDER,
                orders::GetOrderRequest {
                    order_id: order_id.to_owned(),
                },
                Some(token),
            )
            .await;
        match order {
            Ok(order) => return order,
            Err(status) if status.code() == Code::NotFound && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("the custom offer's order: {status:?}"),
        }
    }
}
