//! A user's orders as buyer or as seller, by group, newest first, in stable pages.

use gigmesh_proto::orders::{Order, OrderGroup, OrderRole};
use gigmesh_testing::{Backend, violated_fields};

use crate::support::{DAY, TestOrders};

gigmesh_testing::on_sqlite_and_postgres!(
    orders_are_listed_by_role_and_group,
    pages_are_stable_and_tokens_stay_with_their_list,
);

fn ids(orders: &[Order]) -> Vec<String> {
    orders.iter().map(|order| order.id.clone()).collect()
}

async fn orders_are_listed_by_role_and_group(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let awaiting = orders.place_basic(&buyer, &gig).await;
    orders.clock.advance_seconds(1);
    let delivered = orders.delivered_order(&buyer, &seller).await;
    orders.clock.advance_seconds(1);
    let in_progress = orders.order_in_progress(&buyer, &seller).await;
    orders.clock.advance_seconds(1);
    let cancelled = orders.place_basic(&buyer, &gig).await;
    orders
        .cancel(&buyer, &cancelled.id, "")
        .await
        .expect("cancel");
    orders.clock.advance_seconds(1);
    let disputed = orders.order_in_progress(&buyer, &seller).await;
    orders
        .dispute(&buyer, &disputed.id, "Silence")
        .await
        .expect("dispute");

    let list = |group| (OrderRole::Buyer, group);
    let expectations = [
        (
            list(OrderGroup::Unspecified),
            vec![&disputed, &cancelled, &in_progress, &delivered, &awaiting],
        ),
        (list(OrderGroup::Active), vec![&in_progress, &awaiting]),
        (list(OrderGroup::Delivered), vec![&delivered]),
        (list(OrderGroup::Cancelled), vec![&cancelled]),
        (list(OrderGroup::Disputed), vec![&disputed]),
        (list(OrderGroup::Completed), vec![]),
        (list(OrderGroup::Late), vec![]),
    ];
    for ((role, group), expected) in expectations {
        let (listed, next) = orders.list(&buyer, role, group, 0, "").await.expect("list");
        assert_eq!(
            ids(&listed),
            ids(&expected.into_iter().cloned().collect::<Vec<_>>()),
            "{group:?}"
        );
        assert!(next.is_empty());
        assert!(listed.iter().all(|order| order.timeline.is_empty()));
    }
    let (as_seller, _) = orders
        .list(&seller, OrderRole::Seller, OrderGroup::Unspecified, 0, "")
        .await
        .expect("list");
    assert_eq!(as_seller.len(), 5);
    let (sellers_purchases, _) = orders
        .list(&seller, OrderRole::Buyer, OrderGroup::Unspecified, 0, "")
        .await
        .expect("list");
    assert!(sellers_purchases.is_empty());

    // Past its due time the order in progress is late; the awaiting one expired meanwhile.
    orders.advance_and_run_timers(3 * DAY).await;
    let (late, _) = orders
        .list(&buyer, OrderRole::Buyer, OrderGroup::Late, 0, "")
        .await
        .expect("list");
    assert_eq!(ids(&late), [in_progress.id.as_str()]);
    assert!(late[0].late);
    let (cancelled_or_expired, _) = orders
        .list(&buyer, OrderRole::Buyer, OrderGroup::Cancelled, 0, "")
        .await
        .expect("list");
    assert_eq!(
        ids(&cancelled_or_expired),
        [cancelled.id.as_str(), awaiting.id.as_str()]
    );
    let (completed, _) = orders
        .list(&buyer, OrderRole::Buyer, OrderGroup::Completed, 0, "")
        .await
        .expect("list");
    assert_eq!(ids(&completed), [delivered.id.as_str()], "auto-completed");
}

async fn pages_are_stable_and_tokens_stay_with_their_list(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let mut placed = Vec::new();
    for _ in 0..5 {
        placed.push(orders.place_basic(&buyer, &gig).await);
    }
    placed.reverse();
    let (first, token) = orders
        .list(&buyer, OrderRole::Buyer, OrderGroup::Unspecified, 2, "")
        .await
        .expect("page 1");
    assert_eq!(ids(&first), ids(&placed[..2]));
    assert!(!token.is_empty());
    // A newer order does not shift the pages already handed out.
    orders.place_basic(&buyer, &gig).await;
    let (second, token) = orders
        .list(&buyer, OrderRole::Buyer, OrderGroup::Unspecified, 2, &token)
        .await
        .expect("page 2");
    assert_eq!(ids(&second), ids(&placed[2..4]));
    let (third, end) = orders
        .list(&buyer, OrderRole::Buyer, OrderGroup::Unspecified, 2, &token)
        .await
        .expect("page 3");
    assert_eq!(ids(&third), ids(&placed[4..]));
    assert!(end.is_empty());

    let status = orders
        .list(&buyer, OrderRole::Buyer, OrderGroup::Active, 2, &token)
        .await
        .expect_err("another list's token");
    assert_eq!(violated_fields(&status), ["page_token"]);
    let status = orders
        .list(
            &buyer,
            OrderRole::Unspecified,
            OrderGroup::Unspecified,
            -1,
            "garbage",
        )
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&status),
        ["role", "page_size", "page_token"]
    );
    let (capped, _) = orders
        .list(&buyer, OrderRole::Buyer, OrderGroup::Unspecified, 1_000, "")
        .await
        .expect("capped");
    assert_eq!(capped.len(), 6);
}
