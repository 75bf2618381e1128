//! Provider webhooks: only a valid, fresh signature is believed (else INVALID_ARGUMENT and
//! nothing recorded), an event applies once however often it is delivered, and events
//! that arrive out of order act on what the provider says now.

use gigmesh_payment_provider::sandbox::{TEST_CARD_DECLINED, TEST_CARD_SUCCEEDS};
use gigmesh_payment_provider::webhook;
use gigmesh_proto::payments::{PaymentFailed, PaymentSucceeded};
use gigmesh_testing::Backend;
use tonic::Code;

use crate::support::{TestPayments, WEBHOOK_SECRET, recording, service_fee};

gigmesh_testing::on_sqlite_and_postgres!(
    bad_missing_or_stale_signatures_are_refused_and_change_nothing,
    a_replayed_webhook_is_a_duplicate_without_a_second_effect,
    webhooks_out_of_order_act_on_what_the_provider_says_now,
);

/// Pays an order and returns the recorded webhooks (not yet delivered).
async fn paid_with_recorded_webhooks(
    payments: &mut TestPayments,
    cards: &[&str],
) -> (Vec<(Vec<u8>, String)>, i64) {
    let (buyer, seller) = (payments.buyer(), payments.seller());
    let order = payments.place_order(&buyer, &seller, 6_000).await;
    let payment = payments
        .order_payment(&buyer, &order.order.id)
        .await
        .expect("payment");
    for card in cards {
        payments
            .confirm(&payment, card, false)
            .await
            .expect("confirm");
    }
    let (sink, delivery) = recording(payments);
    delivery.deliver_once().await.expect("record");
    let received = sink.received.lock().expect("lock").clone();
    (received, 6_000 + service_fee(6_000))
}

fn succeeded_event(received: &[(Vec<u8>, String)]) -> (Vec<u8>, String) {
    received
        .iter()
        .find(|(payload, _)| {
            String::from_utf8_lossy(payload).contains("\"payment_intent.succeeded\"")
        })
        .cloned()
        .expect("a succeeded event")
}

async fn bad_missing_or_stale_signatures_are_refused_and_change_nothing(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (received, total) = paid_with_recorded_webhooks(&mut payments, &[TEST_CARD_SUCCEEDS]).await;
    let (payload, _) = succeeded_event(&received);
    let now = payments.clock.now_millis() / 1000;

    let forged = webhook::sign("whsec_someone_else", &payload, now);
    let stale = webhook::sign(WEBHOOK_SECRET, &payload, now - 301);
    let mut tampered = payload.clone();
    tampered.extend_from_slice(b" ");
    let tampered_signature = webhook::sign(WEBHOOK_SECRET, &payload, now);
    for (body, signature) in [
        (payload.clone(), forged),
        (payload.clone(), stale),
        (payload.clone(), String::new()),
        (tampered, tampered_signature),
    ] {
        let status = payments
            .webhook(body, signature)
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
    assert!(payments.emitted().await.is_empty());
    payments.assert_ledger(&[]).await;

    // The genuine one, signed now, still applies: nothing of the refused ones was kept.
    let genuine = webhook::sign(WEBHOOK_SECRET, &payload, now);
    let response = payments.webhook(payload, genuine).await.expect("genuine");
    assert!(!response.duplicate);
    payments
        .assert_ledger(&[("clearing", -total), ("escrow", total)])
        .await;
}

async fn a_replayed_webhook_is_a_duplicate_without_a_second_effect(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (received, total) = paid_with_recorded_webhooks(&mut payments, &[TEST_CARD_SUCCEEDS]).await;
    let (payload, signature) = succeeded_event(&received);
    let first = payments
        .webhook(payload.clone(), signature.clone())
        .await
        .expect("first");
    assert!(!first.duplicate);
    let second = payments
        .webhook(payload.clone(), signature)
        .await
        .expect("replay");
    assert!(second.duplicate);
    // Re-signed later, still the same event.
    payments.clock.advance_seconds(60);
    let later = webhook::sign(WEBHOOK_SECRET, &payload, payments.clock.now_millis() / 1000);
    assert!(
        payments
            .webhook(payload, later)
            .await
            .expect("later")
            .duplicate
    );
    let emitted = payments.emitted().await;
    assert_eq!(TestPayments::of_type::<PaymentSucceeded>(&emitted).len(), 1);
    payments
        .assert_ledger(&[("clearing", -total), ("escrow", total)])
        .await;
}

async fn webhooks_out_of_order_act_on_what_the_provider_says_now(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (received, total) =
        paid_with_recorded_webhooks(&mut payments, &[TEST_CARD_DECLINED, TEST_CARD_SUCCEEDS]).await;
    assert_eq!(received.len(), 3, "created, failed, succeeded");
    // Newest first: the success, then the older decline, then the creation.
    for (payload, signature) in received.into_iter().rev() {
        let response = payments.webhook(payload, signature).await.expect("applied");
        assert!(!response.duplicate);
    }
    let emitted = payments.emitted().await;
    assert_eq!(TestPayments::of_type::<PaymentSucceeded>(&emitted).len(), 1);
    // The late decline found the payment succeeded: no failure is announced.
    assert!(TestPayments::of_type::<PaymentFailed>(&emitted).is_empty());
    payments
        .assert_ledger(&[("clearing", -total), ("escrow", total)])
        .await;
}
