//! Timers driven by the service's clock and the timer loop's one step: expiry,
//! auto-completion, the late flag, the buyer's late cancellation, and requests that accept
//! themselves. Nothing sleeps.

use gigmesh_proto::orders::{Actor, OrderState, TimelineKind};
use gigmesh_testing::Backend;
use tonic::Code;

use crate::support::{DAY, TestOrders, kinds, settlement_parts, state, total_of};

gigmesh_testing::on_sqlite_and_postgres!(
    unpaid_orders_expire_after_the_payment_window,
    delivered_orders_complete_by_themselves,
    late_orders_are_flagged_once_and_the_buyer_may_cancel_a_day_later,
    unanswered_requests_accept_themselves,
    replicas_apply_each_timer_once,
    a_timer_and_a_call_racing_apply_once,
);

async fn unpaid_orders_expire_after_the_payment_window(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let order = orders.place_basic(&buyer, &gig).await;
    orders.emitted().await;
    assert_eq!(orders.advance_and_run_timers(1_799).await, 0);
    assert_eq!(orders.advance_and_run_timers(1).await, 1);
    assert_eq!(
        orders.advance_and_run_timers(3_600).await,
        0,
        "applied once"
    );
    let expired = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(state(&expired), OrderState::Expired);
    assert!(expired.close_time.is_some());
    let entry = expired.timeline.last().expect("entry");
    assert_eq!(entry.actor, Actor::System as i32);
    assert!(entry.actor_user_id.is_empty());
    let emitted = orders.emitted().await;
    assert_eq!(kinds(&emitted), [TimelineKind::Expired]);
    assert!(emitted[0].settlement.is_none());
    let status = orders
        .cancel(&buyer, &order.id, "")
        .await
        .expect_err("closed");
    assert_eq!(status.message(), "cannot cancel an order in state expired");
}

async fn delivered_orders_complete_by_themselves(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.delivered_order(&buyer, &seller).await;
    orders.emitted().await;
    assert_eq!(orders.advance_and_run_timers(3 * DAY - 1).await, 0);
    assert_eq!(orders.advance_and_run_timers(1).await, 1);
    let completed = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(state(&completed), OrderState::Completed);
    let emitted = orders.emitted().await;
    assert_eq!(kinds(&emitted), [TimelineKind::Completed]);
    let entry = emitted[0].entry.as_ref().expect("entry");
    assert_eq!(entry.actor, Actor::System as i32);
    let (refund, platform_fee, seller_earnings) = settlement_parts(&emitted[0]);
    assert_eq!(refund, 0);
    assert_eq!(refund + platform_fee + seller_earnings, total_of(&order));
}

async fn late_orders_are_flagged_once_and_the_buyer_may_cancel_a_day_later(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.order_in_progress(&buyer, &seller).await;
    orders.emitted().await;
    assert_eq!(orders.advance_and_run_timers(3 * DAY - 1).await, 0);
    assert!(!orders.get(&buyer, &order.id).await.expect("get").late);
    assert_eq!(orders.advance_and_run_timers(1).await, 1);
    let late = orders.get(&buyer, &order.id).await.expect("get");
    assert!(late.late);
    assert_eq!(state(&late), OrderState::InProgress);
    assert_eq!(orders.advance_and_run_timers(60).await, 0, "flagged once");
    assert_eq!(kinds(&orders.emitted().await), [TimelineKind::Late]);

    let status = orders
        .cancel(&buyer, &order.id, "Too slow")
        .await
        .expect_err("too early");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("24 hours after its due time"),
        "{status:?}"
    );
    orders.clock.advance_seconds(DAY - 60);
    let status = orders
        .cancel(&seller, &order.id, "x")
        .await
        .expect_err("seller");
    assert_eq!(status.code(), Code::PermissionDenied);
    let cancelled = orders
        .cancel(&buyer, &order.id, "Too slow")
        .await
        .expect("late cancel");
    assert_eq!(state(&cancelled), OrderState::Cancelled);
    assert_eq!(
        cancelled.refunded.as_ref().expect("refunded").amount_minor,
        total_of(&order)
    );
    let emitted = orders.emitted().await;
    assert_eq!(kinds(&emitted), [TimelineKind::Cancelled]);
    assert_eq!(settlement_parts(&emitted[0]), (total_of(&order), 0, 0));
}

async fn unanswered_requests_accept_themselves(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.order_in_progress(&buyer, &seller).await;
    let due = order.due_time.expect("due").seconds;
    orders
        .ask_extension(&seller, &order.id, 2, "Scope grew")
        .await
        .expect("ask");
    orders.emitted().await;
    assert_eq!(orders.advance_and_run_timers(2 * DAY - 1).await, 0);
    assert_eq!(orders.advance_and_run_timers(1).await, 1);
    let extended = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(extended.due_time.expect("due").seconds, due + 2 * DAY);
    assert_eq!(extended.delivery_days, order.delivery_days + 2);
    assert!(extended.pending_extension.is_none());
    let emitted = orders.emitted().await;
    assert_eq!(kinds(&emitted), [TimelineKind::ExtensionAccepted]);
    assert_eq!(
        emitted[0].entry.as_ref().expect("entry").actor,
        Actor::System as i32
    );

    orders
        .ask_cancellation(&buyer, &order.id, "No longer needed")
        .await
        .expect("ask");
    assert_eq!(orders.advance_and_run_timers(2 * DAY).await, 1);
    let cancelled = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(state(&cancelled), OrderState::Cancelled);
    let emitted = orders.emitted().await;
    assert_eq!(
        kinds(&emitted),
        [TimelineKind::CancellationRequested, TimelineKind::Cancelled]
    );
    assert_eq!(settlement_parts(&emitted[1]), (total_of(&order), 0, 0));
    assert_eq!(
        emitted[1].entry.as_ref().expect("entry").message,
        "No longer needed"
    );
}

async fn replicas_apply_each_timer_once(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let mut placed = Vec::new();
    for _ in 0..6 {
        placed.push(orders.place_basic(&buyer, &gig).await);
    }
    orders.emitted().await;
    orders.clock.advance_seconds(1_800);
    let (first, second) = (orders.timer_loop(), orders.timer_replica());
    let (applied_here, applied_there) = tokio::join!(first.run_once(), second.run_once());
    let applied = applied_here.expect("timers") + applied_there.expect("timers");
    assert_eq!(applied, placed.len());
    let emitted = orders.emitted().await;
    assert_eq!(kinds(&emitted), vec![TimelineKind::Expired; placed.len()]);
    for order in &placed {
        let expired = orders.get(&buyer, &order.id).await.expect("get");
        assert_eq!(state(&expired), OrderState::Expired);
        assert_eq!(expired.timeline.len(), 2);
    }
}

async fn a_timer_and_a_call_racing_apply_once(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let order = orders.delivered_order(&buyer, &seller).await;
    orders.emitted().await;
    orders.clock.advance_seconds(3 * DAY);
    let timers = orders.timer_loop();
    let mut client = orders.client.clone();
    let accept = gigmesh_testing::signed_in(
        &buyer.token,
        gigmesh_proto::orders::AcceptDeliveryRequest {
            order_id: order.id.clone(),
        },
    );
    let (applied, accepted) = tokio::join!(timers.run_once(), client.accept_delivery(accept));
    let applied = applied.expect("timers");
    match &accepted {
        Ok(_) => assert_eq!(applied, 0, "the call won"),
        Err(status) => {
            assert_eq!(applied, 1, "the timer won");
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        }
    }
    let emitted = orders.emitted().await;
    let completions = kinds(&emitted)
        .into_iter()
        .filter(|kind| *kind == TimelineKind::Completed)
        .count();
    assert_eq!(completions, 1, "{:?}", kinds(&emitted));
    assert_eq!(
        emitted
            .iter()
            .filter(|event| event.settlement.is_some())
            .count(),
        1
    );
    let completed = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(state(&completed), OrderState::Completed);
}
