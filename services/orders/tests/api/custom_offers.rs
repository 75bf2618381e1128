//! Orders of accepted custom offers: chat's `CustomOfferChanged` ACCEPTED places the order
//! it names, awaiting payment at the offer's price (the buyer's fee on top), days and
//! revisions, once however often the event comes; the rest of chat's topic is skipped
//! without a write.

use gigmesh_events::PollOutcome;
use gigmesh_proto::chat::{CustomOffer, CustomOfferChange, CustomOfferChanged, MessageSent};
use gigmesh_proto::gigs::PackageTier;
use gigmesh_proto::orders::{OrderState, TimelineKind};
use gigmesh_testing::{Backend, TestUser};
use uuid::Uuid;

use crate::support::{TestOrders, gig, kinds, state, usd};

gigmesh_testing::on_sqlite_and_postgres!(
    an_accepted_offer_is_placed_once_at_its_price,
    an_offer_of_a_gig_not_known_yet_waits_for_it,
);

fn accepted(
    buyer: &TestUser,
    seller: &TestUser,
    gig_id: &str,
    amount_minor: i64,
) -> CustomOfferChanged {
    CustomOfferChanged {
        change: CustomOfferChange::Accepted as i32,
        offer: Some(CustomOffer {
            id: Uuid::now_v7().to_string(),
            conversation_id: Uuid::now_v7().to_string(),
            seller_id: seller.user_id.clone(),
            buyer_id: buyer.user_id.clone(),
            gig_id: gig_id.to_owned(),
            description: "Three logo concepts with the source files".to_owned(),
            price: usd(amount_minor),
            delivery_days: 4,
            revisions: 2,
            order_id: Uuid::now_v7().to_string(),
            ..CustomOffer::default()
        }),
    }
}

async fn an_accepted_offer_is_placed_once_at_its_price(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let buyer = orders.buyer();
    let seller = orders.seller();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    orders.emitted().await;
    let event = accepted(&buyer, &seller, &gig.id, 12_345);
    let order_id = event.offer.as_ref().expect("offer").order_id.clone();
    for _ in 0..2 {
        gigmesh_testing::publish_event(&orders.bus, &order_id, &event).await;
    }
    let chatter = MessageSent::default();
    gigmesh_testing::publish_event(&orders.bus, &order_id, &chatter).await;
    let outcomes = orders.consume_offers().await;
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                PollOutcome::Handled { .. },
                PollOutcome::Handled { .. },
                PollOutcome::Ignored { .. }
            ]
        ),
        "{outcomes:?}"
    );

    let order = orders
        .get(&buyer, &order_id)
        .await
        .expect("the offer's order");
    assert_eq!(state(&order), OrderState::AwaitingPayment);
    assert_eq!(order.seller_id, seller.user_id);
    assert_eq!(order.tier(), PackageTier::Unspecified);
    assert_eq!(order.package_name, "Custom offer");
    assert_eq!(
        order.custom_offer_id,
        event.offer.as_ref().expect("offer").id
    );
    assert_eq!(order.delivery_days, 4);
    assert_eq!(order.revisions_included, 2);
    let price = order.price.as_ref().expect("price");
    assert_eq!(price.subtotal, usd(12_345));
    // 5.5% of 123.45, rounded half up: 6.79 (no small-order fee above 40.00).
    assert_eq!(price.service_fee, usd(679));
    assert_eq!(price.total, usd(13_024));
    assert_eq!(order.line_items.len(), 1);
    assert_eq!(
        order.line_items[0].description,
        "Three logo concepts with the source files"
    );
    let emitted = orders.emitted().await;
    assert_eq!(kinds(&emitted), [TimelineKind::Placed], "placed once");

    // It is paid like any order.
    orders.pay_in_full(&order).await;
    let order = orders.get(&buyer, &order_id).await.expect("order");
    assert_ne!(state(&order), OrderState::AwaitingPayment);
}

async fn an_offer_of_a_gig_not_known_yet_waits_for_it(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let buyer = orders.buyer();
    let seller = orders.seller();
    let not_yet = gig(&seller.user_id, Vec::new());
    let event = accepted(&buyer, &seller, &not_yet.id, 5_000);
    let order_id = event.offer.as_ref().expect("offer").order_id.clone();
    gigmesh_testing::publish_event(&orders.bus, &order_id, &event).await;
    let outcome = orders.consume_offer().await;
    assert!(matches!(outcome, PollOutcome::Failed { .. }), "{outcome:?}");
    // The gigs consumer is not held up by the waiting offer.
    orders.publish_gig(&not_yet, 2).await;
    let outcome = orders.consume_offer().await;
    assert!(
        matches!(outcome, PollOutcome::Handled { .. }),
        "{outcome:?}"
    );
    let order = orders
        .get(&seller, &order_id)
        .await
        .expect("placed once the gig is known");
    assert_eq!(state(&order), OrderState::AwaitingPayment);
}
