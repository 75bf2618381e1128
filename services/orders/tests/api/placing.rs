//! Placing orders: priced from orders' copy of the gig (never the request), idempotent per
//! request id, and refused for gigs that cannot be ordered or choices they do not offer.

use gigmesh_proto::gigs::{GigState, ModerationState, PackageTier};
use gigmesh_proto::orders::{OrderState, TimelineKind};
use gigmesh_testing::{Backend, violated_fields};
use tonic::Code;
use uuid::Uuid;

use crate::support::{TestOrders, gig, kinds, state, usd};

gigmesh_testing::on_sqlite_and_postgres!(
    an_order_is_priced_from_the_gig_and_emitted_whole,
    a_retry_with_the_same_request_id_returns_the_same_order,
    gigs_that_cannot_be_ordered_are_refused,
    choices_the_gig_does_not_offer_are_refused_by_field,
    older_gig_snapshots_never_replace_newer_ones,
);

async fn an_order_is_priced_from_the_gig_and_emitted_whole(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let before = orders.clock.now_millis();
    let order = orders
        .place(&buyer, &gig.id, PackageTier::Basic, &[("fast", 2)], "first")
        .await
        .expect("place");
    assert_eq!(state(&order), OrderState::AwaitingPayment);
    assert_eq!(order.buyer_id, buyer.user_id);
    assert_eq!(order.seller_id, seller.user_id);
    assert_eq!(order.gig_title, "I will design your logo");
    assert_eq!(order.package_name, "Starter");
    assert_eq!(order.line_items.len(), 2);
    assert_eq!(order.line_items[0].amount, usd(5_000));
    assert_eq!(order.line_items[1].extra_id, "fast");
    assert_eq!(order.line_items[1].quantity, 2);
    assert_eq!(order.line_items[1].amount, usd(4_000));
    let price = order.price.clone().expect("price");
    assert_eq!(price.subtotal, usd(9_000));
    // 5.5% of 90.00, no small-order fee above 40.00; 20% commission.
    assert_eq!(price.service_fee, usd(495));
    assert_eq!(price.total, usd(9_495));
    assert_eq!(price.seller_commission, usd(1_800));
    assert_eq!(price.seller_earnings, usd(7_200));
    assert_eq!(order.delivery_days, 3 + 2);
    assert_eq!(order.revisions_included, 1);
    assert_eq!(order.version, 1);
    let deadline = order.payment_deadline.expect("deadline");
    assert_eq!(deadline.seconds, (before + 1_800_000).div_euclid(1000));

    // A small order pays the small-order fee.
    let mut cheap = crate::support::gig(&seller.user_id, Vec::new());
    cheap.packages[0].price = usd(1_000);
    orders.publish_gig(&cheap, 1).await;
    let small = orders
        .place(&buyer, &cheap.id, PackageTier::Basic, &[], "small")
        .await
        .expect("place");
    let price = small.price.expect("price");
    assert_eq!(price.service_fee, usd(55 + 250));
    assert_eq!(price.total, usd(1_305));

    let emitted = orders.emitted().await;
    assert_eq!(
        kinds(&emitted),
        [TimelineKind::Placed, TimelineKind::Placed]
    );
    let placed = &emitted[0];
    assert_eq!(placed.version, 1);
    assert!(placed.settlement.is_none());
    let snapshot = placed.order.as_ref().expect("order");
    assert_eq!(snapshot.id, order.id);
    assert!(snapshot.timeline.is_empty());
    assert_eq!(snapshot.price, order.price);
    let entry = placed.entry.as_ref().expect("entry");
    assert_eq!(entry.sequence, 1);
    assert_eq!(entry.actor_user_id, buyer.user_id);
}

async fn a_retry_with_the_same_request_id_returns_the_same_order(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let first = orders
        .place(&buyer, &gig.id, PackageTier::Basic, &[], "once")
        .await
        .expect("place");
    let again = orders
        .place(&buyer, &gig.id, PackageTier::Basic, &[], "once")
        .await
        .expect("retry");
    assert_eq!(again.id, first.id);
    let other = orders
        .place(&buyer, &gig.id, PackageTier::Basic, &[], "twice")
        .await
        .expect("another");
    assert_ne!(other.id, first.id);
    // Another buyer's request id is their own.
    let someone = orders.buyer();
    let theirs = orders
        .place(&someone, &gig.id, PackageTier::Basic, &[], "once")
        .await
        .expect("someone else");
    assert_ne!(theirs.id, first.id);

    // Racing retries place one order.
    let client = orders.client.clone();
    let racing = (0..4).map(|_| {
        let mut client = client.clone();
        let request = gigmesh_proto::orders::PlaceOrderRequest {
            gig_id: gig.id.clone(),
            tier: PackageTier::Basic as i32,
            extras: Vec::new(),
            request_id: "race".to_owned(),
        };
        let token = buyer.token.clone();
        async move {
            client
                .place_order(gigmesh_testing::signed_in(&token, request))
                .await
                .expect("place")
                .into_inner()
                .id
        }
    });
    let ids = futures_join(racing).await;
    assert!(ids.windows(2).all(|pair| pair[0] == pair[1]), "{ids:?}");
    let emitted = orders.emitted().await;
    assert_eq!(emitted.len(), 4, "one PLACED per order placed");
}

async fn futures_join<F: std::future::Future<Output = String> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<String> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut ids = Vec::new();
    for handle in handles {
        ids.push(handle.await.expect("joined"));
    }
    ids
}

async fn gigs_that_cannot_be_ordered_are_refused(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();

    let status = orders
        .place(
            &buyer,
            &Uuid::now_v7().to_string(),
            PackageTier::Basic,
            &[],
            "r",
        )
        .await
        .expect_err("unknown gig");
    assert_eq!(status.code(), Code::NotFound);

    // A draft was never public: it does not exist for buyers.
    let mut draft = gig(&seller.user_id, Vec::new());
    draft.state = GigState::Draft as i32;
    orders.publish_gig(&draft, 1).await;
    let status = orders
        .place(&buyer, &draft.id, PackageTier::Basic, &[], "r")
        .await
        .expect_err("draft");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), format!("gig {} not found", draft.id));

    let mut paused = orders.gig_of(&seller, Vec::new()).await;
    paused.state = GigState::Paused as i32;
    orders.publish_gig(&paused, 3).await;
    let status = orders
        .place(&buyer, &paused.id, PackageTier::Basic, &[], "r")
        .await
        .expect_err("paused");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("paused"), "{status:?}");

    let mut deleted = orders.gig_of(&seller, Vec::new()).await;
    deleted.state = GigState::Deleted as i32;
    orders.publish_gig(&deleted, 3).await;
    let status = orders
        .place(&buyer, &deleted.id, PackageTier::Basic, &[], "r")
        .await
        .expect_err("deleted");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("deleted"), "{status:?}");

    let mut unapproved = gig(&seller.user_id, Vec::new());
    unapproved.moderation_state = ModerationState::Pending as i32;
    orders.publish_gig(&unapproved, 1).await;
    let status = orders
        .place(&buyer, &unapproved.id, PackageTier::Basic, &[], "r")
        .await
        .expect_err("awaiting approval");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("approval"), "{status:?}");

    let own = orders.gig_of(&seller, Vec::new()).await;
    let status = orders
        .place(&seller, &own.id, PackageTier::Basic, &[], "r")
        .await
        .expect_err("own gig");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "you cannot order your own gig");
    assert!(orders.emitted().await.is_empty());
}

async fn choices_the_gig_does_not_offer_are_refused_by_field(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let status = orders
        .place(
            &buyer,
            &gig.id,
            PackageTier::Premium,
            &[("fast", 1), ("nope", 1)],
            "r",
        )
        .await
        .expect_err("not offered");
    assert_eq!(violated_fields(&status), ["tier", "extras[1].extra_id"]);
    let status = orders
        .place(
            &buyer,
            &gig.id,
            PackageTier::Basic,
            &[("fast", 1), ("fast", 2)],
            "r",
        )
        .await
        .expect_err("twice");
    assert_eq!(violated_fields(&status), ["extras[1].extra_id"]);
    let status = orders
        .place(&buyer, &gig.id, PackageTier::Basic, &[("fast", 11)], "")
        .await
        .expect_err("quantity");
    assert_eq!(
        violated_fields(&status),
        ["extras[0].quantity", "request_id"]
    );
    let status = orders
        .place(&buyer, "not-a-uuid", PackageTier::Unspecified, &[], "r")
        .await
        .expect_err("malformed");
    assert_eq!(violated_fields(&status), ["gig_id", "tier"]);
    // Quantity 0 means 1.
    let order = orders
        .place(&buyer, &gig.id, PackageTier::Standard, &[("fast", 0)], "r")
        .await
        .expect("place");
    assert_eq!(order.line_items[1].quantity, 1);
    assert_eq!(order.delivery_days, 5 + 1);
    assert_eq!(order.price.expect("price").subtotal, usd(14_000));
}

async fn older_gig_snapshots_never_replace_newer_ones(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let mut gig = orders.gig_of(&seller, Vec::new()).await;
    gig.packages[0].price = usd(6_000);
    orders.publish_gig(&gig, 5).await;
    // A late copy of an earlier version (the old price) is ignored.
    gig.packages[0].price = usd(100);
    orders.publish_gig(&gig, 4).await;
    let order = orders
        .place(&buyer, &gig.id, PackageTier::Basic, &[], "r")
        .await
        .expect("place");
    assert_eq!(order.price.expect("price").subtotal, usd(6_000));
}
