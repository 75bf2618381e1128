//! Disputes: either side opens one on an order in progress or delivered (its timers stop);
//! an admin releases, refunds or splits, each with its settlement.

use gigmesh_proto::orders::{DisputeResolution, OrderState, TimelineKind};
use gigmesh_testing::{Backend, violated_fields};
use tonic::Code;

use crate::support::{DAY, TestOrders, kinds, settlement_parts, state, total_of};

gigmesh_testing::on_sqlite_and_postgres!(
    admins_release_refund_or_split,
    a_split_must_leave_the_seller_something,
    disputes_stop_timers_and_drop_pending_requests,
);

async fn admins_release_refund_or_split(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let admin = orders.admin();
    let mut settled = Vec::new();
    for (resolution, refund, closed) in [
        (DisputeResolution::Release, None, OrderState::Completed),
        (DisputeResolution::Refund, None, OrderState::Cancelled),
        (DisputeResolution::Split, Some(2_000), OrderState::Completed),
    ] {
        let order = orders.delivered_order(&buyer, &seller).await;
        let disputed = orders
            .dispute(&seller, &order.id, "The buyer stopped answering")
            .await
            .expect("dispute");
        assert_eq!(state(&disputed), OrderState::Disputed);
        let status = orders
            .resolve(&buyer, &order.id, resolution, refund)
            .await
            .expect_err("not an admin");
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(status.message(), "admin role required");
        orders.emitted().await;
        let resolved = orders
            .resolve(&admin, &order.id, resolution, refund)
            .await
            .expect("resolve");
        assert_eq!(state(&resolved), closed);
        let emitted = orders.emitted().await;
        assert_eq!(kinds(&emitted), [TimelineKind::DisputeResolved]);
        let entry = emitted[0].entry.as_ref().expect("entry");
        assert_eq!(entry.resolution, resolution as i32);
        assert_eq!(entry.actor_user_id, admin.user_id);
        let parts = settlement_parts(&emitted[0]);
        assert_eq!(parts.0 + parts.1 + parts.2, total_of(&order));
        assert_eq!(
            resolved.refunded.as_ref().expect("refunded").amount_minor,
            parts.0
        );
        assert_eq!(
            resolved.seller_paid.as_ref().expect("paid").amount_minor,
            parts.2
        );
        settled.push(parts);
    }
    // Basic order: subtotal 50.00, service fee 2.75, commission 10.00.
    assert_eq!(settled[0], (0, 275 + 1_000, 4_000));
    assert_eq!(settled[1], (5_275, 0, 0));
    // A split of 20.00: the seller's 30.00 less 20% (6.00), the service fee kept.
    assert_eq!(settled[2], (2_000, 275 + 600, 2_400));
}

async fn a_split_must_leave_the_seller_something(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let admin = orders.admin();
    let order = orders.order_in_progress(&buyer, &seller).await;
    let status = orders
        .resolve(&admin, &order.id, DisputeResolution::Release, None)
        .await
        .expect_err("not disputed");
    assert_eq!(
        status.message(),
        "cannot resolve a dispute on an order in state in_progress"
    );
    orders
        .dispute(&buyer, &order.id, "Nothing delivered")
        .await
        .expect("dispute");
    for refund in [5_000, 6_000, 0, -5] {
        let status = orders
            .resolve(&admin, &order.id, DisputeResolution::Split, Some(refund))
            .await
            .expect_err("bad split");
        assert_eq!(violated_fields(&status), ["refund"], "{refund}");
        assert!(
            status
                .message()
                .contains("less than the subtotal of 5000 USD"),
            "{status:?}"
        );
    }
    let status = orders
        .resolve(&admin, &order.id, DisputeResolution::Split, None)
        .await
        .expect_err("no refund");
    assert_eq!(violated_fields(&status), ["refund"]);
    let resolved = orders
        .resolve(&admin, &order.id, DisputeResolution::Split, Some(4_999))
        .await
        .expect("the largest split");
    assert_eq!(state(&resolved), OrderState::Completed);
    let status = orders
        .dispute(&buyer, &order.id, "Again")
        .await
        .expect_err("closed");
    assert_eq!(
        status.message(),
        "cannot open a dispute on an order in state completed"
    );
}

async fn disputes_stop_timers_and_drop_pending_requests(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.delivered_order(&buyer, &seller).await;
    orders
        .ask_cancellation(&seller, &order.id, "Let us stop")
        .await
        .expect("ask");
    let disputed = orders
        .dispute(&buyer, &order.id, "Wrong files")
        .await
        .expect("dispute");
    assert!(disputed.pending_cancellation.is_none());
    assert!(disputed.auto_complete_time.is_none());
    assert_eq!(orders.advance_and_run_timers(30 * DAY).await, 0);
    assert_eq!(
        state(&orders.get(&buyer, &order.id).await.expect("get")),
        OrderState::Disputed
    );
    let status = orders
        .dispute(&buyer, &order.id, "")
        .await
        .expect_err("empty reason");
    assert_eq!(violated_fields(&status), ["reason"]);
}
