//! Settlements from orders, each applied exactly once: a mutual cancellation refunds the
//! total, a dispute split refunds part of the subtotal and pays the seller the rest, a
//! payment refused by orders (it arrived for a closed order) is refunded in full.

use gigmesh_events::Envelope;
use gigmesh_payment_provider::PaymentProvider as _;
use gigmesh_payment_provider::sandbox::TEST_CARD_SUCCEEDS;
use gigmesh_proto::orders::{OrderState, TimelineKind};
use gigmesh_proto::payments::{InvoiceIssued, PaymentSucceeded, RefundIssued};
use gigmesh_testing::Backend;

use crate::support::{
    TestPayments, amount, commission, refund_settlement, service_fee, split_settlement,
};

gigmesh_testing::on_sqlite_and_postgres!(
    a_mutual_cancellation_refunds_the_total_once,
    a_dispute_split_refunds_part_and_pays_the_seller_the_rest,
    a_payment_for_a_closed_order_is_refunded_once_when_orders_refuses_it,
);

fn refunds(emitted: &[Envelope]) -> Vec<RefundIssued> {
    TestPayments::of_type::<RefundIssued>(emitted)
}

async fn a_mutual_cancellation_refunds_the_total_once(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (buyer, seller) = (payments.buyer(), payments.seller());
    let mut order = payments.place_order(&buyer, &seller, 8_000).await;
    let payment = payments.pay(&buyer, &mut order).await;
    let total = 8_000 + service_fee(8_000);
    payments.emitted().await;

    let settlement = refund_settlement(&order);
    payments
        .change_order(
            &mut order,
            TimelineKind::Cancelled,
            OrderState::Cancelled,
            Some(settlement.clone()),
        )
        .await;
    payments
        .assert_ledger(&[("clearing", -total), ("refunds", total)])
        .await;
    let emitted = payments.emitted().await;
    let issued = refunds(&emitted);
    assert_eq!(issued.len(), 1);
    assert_eq!(amount(&issued[0].amount), total);
    assert_eq!(issued[0].reason, "order cancelled");
    // The provider refunded it: nothing is left to refund there.
    let refund_again = payments
        .sandbox()
        .refund(gigmesh_payment_provider::NewRefund {
            payment_id: payment.payment_id.clone(),
            amount: gigmesh_types::Money::new(1, gigmesh_types::Currency::USD),
            idempotency_key: "test-more".to_owned(),
        })
        .await;
    assert!(refund_again.is_err(), "{refund_again:?}");

    // The same change delivered again has no second effect.
    order.version -= 1;
    payments
        .change_order(
            &mut order,
            TimelineKind::Cancelled,
            OrderState::Cancelled,
            Some(settlement),
        )
        .await;
    payments.money_loop_step().await;
    assert!(refunds(&payments.emitted().await).is_empty());
    payments
        .assert_ledger(&[("clearing", -total), ("refunds", total)])
        .await;
}

async fn a_dispute_split_refunds_part_and_pays_the_seller_the_rest(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (buyer, seller) = (payments.buyer(), payments.seller());
    let subtotal = 12_345;
    let fee = service_fee(subtotal);
    let total = subtotal + fee;
    let mut order = payments.place_order(&buyer, &seller, subtotal).await;
    payments.pay(&buyer, &mut order).await;
    payments
        .change_order(
            &mut order,
            TimelineKind::DisputeOpened,
            OrderState::Disputed,
            None,
        )
        .await;
    let refund = 4_001;
    let settlement = split_settlement(&order, refund);
    let earnings = amount(&settlement.seller_earnings);
    assert_eq!(earnings, subtotal - refund - commission(subtotal - refund));
    payments
        .change_order(
            &mut order,
            TimelineKind::DisputeResolved,
            OrderState::Completed,
            Some(settlement),
        )
        .await;
    payments
        .assert_ledger(&[
            ("clearing", -total),
            ("refunds", refund),
            ("platform_fees", total - refund - earnings),
            ("seller_pending", earnings),
        ])
        .await;
    let emitted = payments.emitted().await;
    let issued = refunds(&emitted);
    assert_eq!(issued.len(), 1);
    assert_eq!(amount(&issued[0].amount), refund);
    assert_eq!(issued[0].reason, "dispute resolved");
    let balance = payments.balance(&seller).await.expect("balance");
    assert_eq!(amount(&balance.balances[0].pending), earnings);
}

async fn a_payment_for_a_closed_order_is_refunded_once_when_orders_refuses_it(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (buyer, seller) = (payments.buyer(), payments.seller());
    let mut order = payments.place_order(&buyer, &seller, 3_000).await;
    let total = 3_000 + service_fee(3_000);
    let payment = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect("payment");
    // The buyer pays just as the order expires; the cancellation finds it paid.
    payments
        .confirm(&payment, TEST_CARD_SUCCEEDS, false)
        .await
        .expect("confirm");
    payments
        .change_order(&mut order, TimelineKind::Expired, OrderState::Expired, None)
        .await;
    payments.money_loop_step().await;
    payments.deliver_webhooks().await;
    let emitted = payments.emitted().await;
    assert_eq!(TestPayments::of_type::<PaymentSucceeded>(&emitted).len(), 1);
    assert!(
        TestPayments::of_type::<InvoiceIssued>(&emitted).is_empty(),
        "no invoice"
    );

    // Orders answers PaymentSucceeded with PAYMENT_REFUSED; its settlement refunds it.
    let settlement = gigmesh_proto::orders::Settlement {
        refund: crate::support::usd(total),
        platform_fee: crate::support::usd(0),
        seller_earnings: crate::support::usd(0),
    };
    payments
        .change_order(
            &mut order,
            TimelineKind::PaymentRefused,
            OrderState::Expired,
            Some(settlement),
        )
        .await;
    payments.money_loop_step().await;
    let issued = refunds(&payments.emitted().await);
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].reason, "payment for a closed order");
    assert_eq!(amount(&issued[0].amount), total);
    payments
        .assert_ledger(&[("clearing", -total), ("refunds", total)])
        .await;
}
