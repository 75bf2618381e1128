//! Payments from the payment service's events: the total paid starts the order (or asks
//! for requirements); any other payment is refused and refunded, once.

use gigmesh_events::PollOutcome;
use gigmesh_proto::orders::{OrderState, TimelineKind};
use gigmesh_testing::Backend;

use crate::support::{DAY, TestOrders, kinds, settlement_parts, state, text_question, total_of};

gigmesh_testing::on_sqlite_and_postgres!(
    paying_the_total_starts_an_order_without_requirements,
    paying_an_order_with_requirements_waits_for_the_answers,
    the_same_payment_twice_changes_nothing,
    a_payment_for_an_expired_order_or_of_another_amount_is_refused_and_refunded,
    a_payment_for_an_unknown_order_is_dead_lettered,
);

async fn paying_the_total_starts_an_order_without_requirements(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let order = orders.place_basic(&buyer, &gig).await;
    orders.emitted().await;
    let paid_at = orders.clock.now_millis();
    orders.pay(&order, "pay-1", total_of(&order)).await;
    let paid = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(state(&paid), OrderState::InProgress);
    assert!(paid.payment_deadline.is_none());
    let start = paid.start_time.expect("start");
    let due = paid.due_time.expect("due");
    assert_eq!(due.seconds - start.seconds, 3 * DAY);
    assert_eq!(start.seconds, paid_at.div_euclid(1000));
    assert_eq!(paid.version, 3);
    let emitted = orders.emitted().await;
    assert_eq!(kinds(&emitted), [TimelineKind::Paid, TimelineKind::Started]);
    assert_eq!(emitted[0].version, 2);
    assert_eq!(emitted[1].version, 3);
    assert!(emitted.iter().all(|event| event.settlement.is_none()));
}

async fn paying_an_order_with_requirements_waits_for_the_answers(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders
        .gig_of(&seller, vec![text_question("Your brand?")])
        .await;
    let order = orders.place_basic(&buyer, &gig).await;
    assert_eq!(order.requirements.len(), 1);
    orders.pay_in_full(&order).await;
    let paid = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(state(&paid), OrderState::RequirementsPending);
    assert!(paid.paid_time.is_some());
    assert!(paid.due_time.is_none());
}

async fn the_same_payment_twice_changes_nothing(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let order = orders.place_basic(&buyer, &gig).await;
    let total = total_of(&order);
    orders.pay(&order, "pay-1", total).await;
    orders.emitted().await;
    // The same payment again, as a new event (payments re-emitting it): a no-op.
    let outcomes = orders.pay(&order, "pay-1", total).await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::Handled { .. }]),
        "{outcomes:?}"
    );
    assert!(orders.emitted().await.is_empty());
    let paid = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(paid.version, 3);
    // Another payment for the paid order is refused, and only once.
    orders.pay(&order, "pay-2", total).await;
    orders.pay(&order, "pay-2", total).await;
    let emitted = orders.emitted().await;
    assert_eq!(kinds(&emitted), [TimelineKind::PaymentRefused]);
    assert_eq!(settlement_parts(&emitted[0]), (total, 0, 0));
    assert_eq!(
        state(emitted[0].order.as_ref().expect("order")),
        OrderState::InProgress
    );
}

async fn a_payment_for_an_expired_order_or_of_another_amount_is_refused_and_refunded(
    backend: Backend,
) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let order = orders.place_basic(&buyer, &gig).await;
    let total = total_of(&order);

    orders.pay(&order, "short", total - 1).await;
    let still = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(state(&still), OrderState::AwaitingPayment);
    let entry = still.timeline.last().expect("entry");
    assert_eq!(entry.kind, TimelineKind::PaymentRefused as i32);
    assert_eq!(
        entry.refund.as_ref().expect("refund").amount_minor,
        total - 1
    );

    assert_eq!(orders.advance_and_run_timers(1_800).await, 1);
    orders.pay(&order, "late", total).await;
    let expired = orders.get(&buyer, &order.id).await.expect("get");
    assert_eq!(state(&expired), OrderState::Expired);
    let emitted = orders.emitted().await;
    assert_eq!(
        kinds(&emitted),
        [
            TimelineKind::Placed,
            TimelineKind::PaymentRefused,
            TimelineKind::Expired,
            TimelineKind::PaymentRefused
        ]
    );
    assert_eq!(settlement_parts(&emitted[1]), (total - 1, 0, 0));
    assert!(emitted[2].settlement.is_none());
    assert_eq!(settlement_parts(&emitted[3]), (total, 0, 0));
    assert_eq!(
        state(emitted[3].order.as_ref().expect("order")),
        OrderState::Expired
    );
}

async fn a_payment_for_an_unknown_order_is_dead_lettered(backend: Backend) {
    let mut orders = TestOrders::start(backend).await;
    let seller = orders.seller();
    let buyer = orders.buyer();
    let gig = orders.gig_of(&seller, Vec::new()).await;
    let mut order = orders.place_basic(&buyer, &gig).await;
    orders.emitted().await;
    order.id = uuid::Uuid::now_v7().to_string();
    let outcomes = orders.pay(&order, "pay-1", total_of(&order)).await;
    assert!(
        matches!(outcomes.as_slice(), [PollOutcome::DeadLettered { .. }]),
        "{outcomes:?}"
    );
    assert!(orders.emitted().await.is_empty());
}
