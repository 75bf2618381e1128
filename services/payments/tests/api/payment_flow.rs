//! An order's money from payment to the seller's pocket: paid through a webhook into
//! escrow, completed into fees and the seller's pending earnings, cleared after the
//! clearance period, withdrawn; declined cards and authentication on the way.

use gigmesh_payment_provider::sandbox::{
    TEST_CARD_DECLINED, TEST_CARD_NEEDS_AUTHENTICATION, TEST_CARD_SUCCEEDS,
};
use gigmesh_proto::payments::{
    FundsCleared, InvoiceIssued, PaymentFailed, PaymentStatus, PaymentSucceeded,
};
use gigmesh_testing::Backend;
use tonic::Code;

use crate::support::{TestPayments, amount, commission, service_fee};

gigmesh_testing::on_sqlite_and_postgres!(
    a_paid_order_is_held_in_escrow_then_paid_out_to_the_seller_after_clearance,
    a_declined_card_emits_payment_failed_and_the_buyer_may_try_again,
    a_card_that_needs_authentication_pays_once_authenticated,
    the_order_payment_is_created_once_and_only_while_awaiting_payment,
    sandbox_confirmation_is_refused_when_stripe_moves_the_money,
);

async fn a_paid_order_is_held_in_escrow_then_paid_out_to_the_seller_after_clearance(
    backend: Backend,
) {
    let mut payments = TestPayments::start(backend).await;
    let (buyer, seller) = (payments.buyer(), payments.seller());
    let subtotal = 10_000;
    let total = subtotal + service_fee(subtotal);
    let mut order = payments.place_order(&buyer, &seller, subtotal).await;

    let payment = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect("payment");
    assert_eq!(payment.provider, "sandbox");
    assert!(payment.payment_id.starts_with("pi_"), "{payment:?}");
    assert!(
        payment
            .client_secret
            .starts_with(&format!("{}_secret_", payment.payment_id))
    );
    assert_eq!(amount(&payment.amount), total);
    assert_eq!(payment.status(), PaymentStatus::RequiresPaymentMethod);
    assert!(
        payment
            .checkout_url
            .contains(&format!("payment={}", payment.payment_id))
    );
    payments.assert_ledger(&[]).await;

    let confirmed = payments
        .confirm(&payment, TEST_CARD_SUCCEEDS, false)
        .await
        .expect("confirm");
    assert_eq!(confirmed.status(), PaymentStatus::Succeeded);
    // Nothing is paid until the provider's webhook says so.
    payments.assert_ledger(&[]).await;
    assert_eq!(
        payments.deliver_webhooks().await,
        2,
        "created and succeeded"
    );
    payments
        .assert_ledger(&[("clearing", -total), ("escrow", total)])
        .await;
    let emitted = payments.emitted().await;
    let succeeded = TestPayments::of_type::<PaymentSucceeded>(&emitted);
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].order_id, order.order.id);
    assert_eq!(succeeded[0].buyer_id, buyer.user_id);
    assert_eq!(amount(&succeeded[0].amount), total);
    assert_eq!(TestPayments::of_type::<InvoiceIssued>(&emitted).len(), 1);
    let again = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect("again");
    assert_eq!(again.status(), PaymentStatus::Succeeded);

    payments
        .change_order(
            &mut order,
            gigmesh_proto::orders::TimelineKind::Paid,
            gigmesh_proto::orders::OrderState::InProgress,
            None,
        )
        .await;
    payments.complete(&mut order).await;
    let earnings = subtotal - commission(subtotal);
    let fees = total - earnings;
    payments
        .assert_ledger(&[
            ("clearing", -total),
            ("platform_fees", fees),
            ("seller_pending", earnings),
        ])
        .await;
    let balance = payments.balance(&seller).await.expect("balance");
    assert_eq!(amount(&balance.balances[0].pending), earnings);
    assert_eq!(amount(&balance.balances[0].available), 0);

    // Not yet: a second before the clearance period ends.
    payments.clock.advance_seconds(14 * 86_400 - 1);
    assert_eq!(payments.money_loop_step().await, 0);
    payments.clock.advance_seconds(1);
    assert_eq!(payments.money_loop_step().await, 1);
    assert_eq!(payments.money_loop_step().await, 0, "cleared once");
    payments
        .assert_ledger(&[
            ("clearing", -total),
            ("platform_fees", fees),
            ("seller_available", earnings),
        ])
        .await;
    let emitted = payments.emitted().await;
    let cleared = TestPayments::of_type::<FundsCleared>(&emitted);
    assert_eq!(cleared.len(), 1);
    assert_eq!(amount(&cleared[0].amount), earnings);
    let balance = payments.balance(&seller).await.expect("balance");
    assert_eq!(amount(&balance.balances[0].pending), 0);
    assert_eq!(amount(&balance.balances[0].available), earnings);
}

async fn a_declined_card_emits_payment_failed_and_the_buyer_may_try_again(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (buyer, seller) = (payments.buyer(), payments.seller());
    let order = payments.place_order(&buyer, &seller, 2_000).await;
    let payment = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect("payment");

    let declined = payments
        .confirm(&payment, TEST_CARD_DECLINED, false)
        .await
        .expect("confirm");
    assert_eq!(declined.status(), PaymentStatus::RequiresPaymentMethod);
    assert_eq!(declined.decline_message, "Your card was declined.");
    payments.deliver_webhooks().await;
    let emitted = payments.emitted().await;
    let failed = TestPayments::of_type::<PaymentFailed>(&emitted);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].reason, "Your card was declined.");
    assert!(TestPayments::of_type::<PaymentSucceeded>(&emitted).is_empty());
    let current = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect("payment");
    assert_eq!(current.last_error, "Your card was declined.");
    assert_eq!(current.payment_id, payment.payment_id, "the same payment");
    payments.assert_ledger(&[]).await;

    payments
        .confirm(&payment, TEST_CARD_SUCCEEDS, false)
        .await
        .expect("retry");
    payments.deliver_webhooks().await;
    let total = 2_000 + service_fee(2_000);
    payments
        .assert_ledger(&[("clearing", -total), ("escrow", total)])
        .await;

    let status = payments
        .confirm(&payment, "5555555555554444", false)
        .await
        .expect_err("unknown card");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(gigmesh_testing::violated_fields(&status), ["card_number"]);
}

async fn a_card_that_needs_authentication_pays_once_authenticated(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (buyer, seller) = (payments.buyer(), payments.seller());
    let order = payments.place_order(&buyer, &seller, 5_000).await;
    let payment = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect("payment");

    let first = payments
        .confirm(&payment, TEST_CARD_NEEDS_AUTHENTICATION, false)
        .await
        .expect("confirm");
    assert_eq!(first.status(), PaymentStatus::RequiresAction);
    payments.deliver_webhooks().await;
    payments.assert_ledger(&[]).await;
    let current = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect("payment");
    assert_eq!(current.status(), PaymentStatus::RequiresAction);

    let second = payments
        .confirm(&payment, TEST_CARD_NEEDS_AUTHENTICATION, true)
        .await
        .expect("authenticated");
    assert_eq!(second.status(), PaymentStatus::Succeeded);
    payments.deliver_webhooks().await;
    let total = 5_000 + service_fee(5_000);
    payments
        .assert_ledger(&[("clearing", -total), ("escrow", total)])
        .await;
    let status = payments
        .confirm(&payment, TEST_CARD_SUCCEEDS, false)
        .await
        .expect_err("paid already");
    assert_eq!(status.code(), Code::FailedPrecondition);
}

async fn the_order_payment_is_created_once_and_only_while_awaiting_payment(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (buyer, seller) = (payments.buyer(), payments.seller());
    let mut order = payments.place_order(&buyer, &seller, 3_000).await;
    let first = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect("first");
    let second = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect("second");
    assert_eq!(first.payment_id, second.payment_id);
    assert_eq!(first.client_secret, second.client_secret);

    // Expired before payment: the provider payment is cancelled and nothing is paid.
    payments
        .change_order(
            &mut order,
            gigmesh_proto::orders::TimelineKind::Expired,
            gigmesh_proto::orders::OrderState::Expired,
            None,
        )
        .await;
    payments.money_loop_step().await;
    let status = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect_err("expired");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("expired"), "{status:?}");
    let status = payments
        .confirm(&first, TEST_CARD_SUCCEEDS, false)
        .await
        .expect_err("cancelled at the provider");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("canceled"), "{status:?}");

    // A new order whose payment was never asked for, closed: still refused by state.
    let mut other = payments.place_order(&buyer, &seller, 3_000).await;
    payments
        .change_order(
            &mut other,
            gigmesh_proto::orders::TimelineKind::Cancelled,
            gigmesh_proto::orders::OrderState::Cancelled,
            None,
        )
        .await;
    let status = payments
        .order_payment(&buyer, &other.order.id)
        .await
        .expect_err("cancelled");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("cancelled"), "{status:?}");
    payments.deliver_webhooks().await;
    payments.assert_ledger(&[]).await;
}

async fn sandbox_confirmation_is_refused_when_stripe_moves_the_money(backend: Backend) {
    let mut config = gigmesh_payments::Config {
        provider: gigmesh_payments::ProviderKind::Stripe,
        ..gigmesh_payments::Config::default()
    };
    config.stripe.api_key = gigmesh_config::Secret::new("sk_test_not_a_real_key".to_owned());
    config.stripe.webhook_secret = gigmesh_config::Secret::new("whsec_stripe_test".to_owned());
    config.stripe.api_base_url = "http://127.0.0.1:9".to_owned();
    let mut payments = TestPayments::start_with(backend, config).await;
    assert!(payments.app.sandbox_provider().is_none());
    assert!(payments.app.sandbox_webhook_delivery().is_none());
    let payment = gigmesh_proto::payments::OrderPayment {
        payment_id: "pi_123".to_owned(),
        client_secret: "pi_123_secret_456".to_owned(),
        ..Default::default()
    };
    let status = payments
        .confirm(&payment, TEST_CARD_SUCCEEDS, false)
        .await
        .expect_err("no sandbox");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "the sandbox provider is not in use");
    // A webhook not signed with Stripe's secret is refused before anything else.
    let payload = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","created":1,"data":{"object":{"id":"pi_123"}}}"#.to_vec();
    let signature = gigmesh_payment_provider::webhook::sign(
        crate::support::WEBHOOK_SECRET,
        &payload,
        payments.clock.now_millis() / 1000,
    );
    let status = payments
        .webhook(payload, signature)
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    payments.assert_ledger(&[]).await;
}
