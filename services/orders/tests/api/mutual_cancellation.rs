//! Mutual cancellation after payment: one side asks, the other accepts (full refund) or
//! declines; the requester cannot answer their own request.

use gigmesh_proto::orders::{Actor, OrderState, TimelineKind};
use gigmesh_testing::{Backend, violated_fields};
use tonic::Code;

use crate::support::{TestOrders, kinds, settlement_parts, state, total_of};

gigmesh_testing::on_sqlite_and_postgres!(
    the_other_side_accepts_or_declines_a_cancellation,
    cancellations_need_a_paid_open_order,
);

async fn the_other_side_accepts_or_declines_a_cancellation(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.delivered_order(&buyer, &seller).await;
    orders.emitted().await;

    let asked = orders
        .ask_cancellation(&seller, &order.id, "I cannot finish")
        .await
        .expect("ask");
    assert_eq!(
        asked.pending_cancellation.expect("pending").requested_by,
        Actor::Seller as i32
    );
    let status = orders
        .answer_cancellation(&seller, &order.id, true)
        .await
        .expect_err("own request");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        status.message(),
        "you asked for this cancellation: the other side answers it"
    );
    let status = orders
        .ask_cancellation(&buyer, &order.id, "Me too")
        .await
        .expect_err("one pending");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let declined = orders
        .answer_cancellation(&buyer, &order.id, false)
        .await
        .expect("decline");
    assert_eq!(state(&declined), OrderState::Delivered);
    assert!(declined.pending_cancellation.is_none());

    orders
        .ask_cancellation(&buyer, &order.id, "Changed my mind")
        .await
        .expect("ask");
    let cancelled = orders
        .answer_cancellation(&seller, &order.id, true)
        .await
        .expect("accept");
    assert_eq!(state(&cancelled), OrderState::Cancelled);
    assert_eq!(
        cancelled.refunded.as_ref().expect("refunded").amount_minor,
        total_of(&order)
    );
    assert_eq!(
        cancelled
            .seller_paid
            .as_ref()
            .expect("seller paid")
            .amount_minor,
        0
    );
    let emitted = orders.emitted().await;
    assert_eq!(
        kinds(&emitted),
        [
            TimelineKind::CancellationRequested,
            TimelineKind::CancellationDeclined,
            TimelineKind::CancellationRequested,
            TimelineKind::Cancelled,
        ]
    );
    assert_eq!(settlement_parts(&emitted[3]), (total_of(&order), 0, 0));
    assert_eq!(
        emitted[3].entry.as_ref().expect("entry").actor,
        Actor::Seller as i32
    );
}

async fn cancellations_need_a_paid_open_order(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let unpaid = orders.place_basic(&buyer, &gig).await;
    let status = orders
        .ask_cancellation(&buyer, &unpaid.id, "Why")
        .await
        .expect_err("unpaid");
    assert_eq!(
        status.message(),
        "cannot ask to cancel an order in state awaiting_payment"
    );
    let status = orders
        .ask_cancellation(&buyer, &unpaid.id, "")
        .await
        .expect_err("no reason");
    assert_eq!(violated_fields(&status), ["reason"]);
    // Before payment the buyer cancels alone, with nothing to settle.
    orders.emitted().await;
    let cancelled = orders
        .cancel(&buyer, &unpaid.id, "Ordered the wrong one")
        .await
        .expect("cancel");
    assert_eq!(state(&cancelled), OrderState::Cancelled);
    assert!(cancelled.refunded.is_none());
    let emitted = orders.emitted().await;
    assert_eq!(kinds(&emitted), [TimelineKind::Cancelled]);
    assert!(emitted[0].settlement.is_none());
    let status = orders
        .answer_cancellation(&seller, &unpaid.id, true)
        .await
        .expect_err("closed");
    assert_eq!(
        status.message(),
        "cannot answer a cancellation request of an order in state cancelled"
    );
}
