//! What every [`PaymentProvider`] adapter must do, written against the port only, so each
//! adapter runs the same suite: `behaviour::run_all(&harness).await`. A
//! [`ProviderHarness`] gives the suite the adapter and what only a test can do with it: pay
//! as the buyer's card form would, finish a 3-D Secure step or an account's onboarding, and
//! catch the signed webhooks the provider sends.

use async_trait::async_trait;
use gigmesh_types::{Currency, Money};

use crate::{
    NewConnectedAccount, NewPayment, NewRefund, NewTransfer, PaymentProvider, ProviderError,
    ProviderPayment, ProviderPaymentStatus, WebhookError, WebhookEvent, WebhookKind,
};

/// How many webhooks the suite reads past others while waiting for the one it expects.
const WEBHOOKS_READ_AT_MOST: usize = 50;

/// A test card, as every provider's test mode has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestCard {
    /// Pays.
    Succeeds,
    /// Is declined when charged.
    Declined,
    /// Asks the buyer to authenticate (3-D Secure) before it pays.
    NeedsAuthentication,
}

/// An adapter under test and the test-only ways around it.
#[async_trait]
pub trait ProviderHarness: Send + Sync {
    /// The adapter.
    fn provider(&self) -> &dyn PaymentProvider;

    /// Pays `payment` with `card` as the buyer's client would (a decline is an outcome,
    /// not an error); a card needing authentication stops at the authentication step.
    async fn pay(&self, payment: &ProviderPayment, card: TestCard) -> anyhow::Result<()>;

    /// Completes the buyer's authentication of a payment that requires action.
    async fn authenticate(&self, payment: &ProviderPayment) -> anyhow::Result<()>;

    /// Lets the seller of `account_id` finish onboarding, so it can receive transfers.
    async fn complete_onboarding(&self, account_id: &str) -> anyhow::Result<()>;

    /// The next webhook the provider sent (raw payload, `Stripe-Signature` header), or
    /// `None` when none comes.
    async fn next_webhook(&self) -> Option<(Vec<u8>, String)>;

    /// The time to verify webhooks at, in unix seconds (the provider's clock).
    fn webhook_now_seconds(&self) -> i64;
}

/// Runs every scenario on the harness's adapter.
pub async fn run_all(harness: &dyn ProviderHarness) {
    creating_a_payment_is_idempotent_by_key(harness).await;
    retrieving_reads_the_payment_as_it_stands(harness).await;
    a_successful_card_pays_and_says_so_in_a_signed_webhook(harness).await;
    a_declined_card_leaves_the_payment_waiting_with_the_reason(harness).await;
    an_authenticated_card_pays_after_the_authentication(harness).await;
    an_unpaid_payment_can_be_cancelled_twice(harness).await;
    refunds_take_part_then_the_rest_and_never_more(harness).await;
    webhooks_signed_otherwise_or_stale_are_refused(harness).await;
    connected_accounts_receive_transfers_that_can_be_reversed(harness).await;
}

fn usd(amount_minor: i64) -> Money {
    Money::new(amount_minor, Currency::USD)
}

fn unique(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::now_v7())
}

/// A new payment of `amount_minor` US cents for a new order.
pub fn new_payment(amount_minor: i64) -> NewPayment {
    let order_id = uuid::Uuid::now_v7().to_string();
    NewPayment {
        idempotency_key: format!("order-{order_id}-payment"),
        order_id,
        amount: usd(amount_minor),
        description: "Logo design, 3 concepts".to_owned(),
    }
}

async fn create(harness: &dyn ProviderHarness, amount_minor: i64) -> ProviderPayment {
    harness
        .provider()
        .create_payment(new_payment(amount_minor))
        .await
        .expect("create a payment")
}

async fn retrieve(harness: &dyn ProviderHarness, payment_id: &str) -> ProviderPayment {
    harness
        .provider()
        .retrieve_payment(payment_id)
        .await
        .expect("retrieve the payment")
}

async fn paid(harness: &dyn ProviderHarness, amount_minor: i64) -> ProviderPayment {
    let payment = create(harness, amount_minor).await;
    harness
        .pay(&payment, TestCard::Succeeds)
        .await
        .expect("pay with the succeeding card");
    let paid = retrieve(harness, &payment.id).await;
    assert_eq!(paid.status, ProviderPaymentStatus::Succeeded);
    paid
}

/// Reads webhooks, each verified by the adapter, until one satisfies `wanted`.
async fn await_webhook(
    harness: &dyn ProviderHarness,
    what: &str,
    wanted: impl Fn(&WebhookKind) -> bool,
) -> (WebhookEvent, Vec<u8>, String) {
    for _ in 0..WEBHOOKS_READ_AT_MOST {
        let Some((payload, header)) = harness.next_webhook().await else {
            break;
        };
        let event = harness
            .provider()
            .verify_webhook(&payload, &header, harness.webhook_now_seconds())
            .expect("the provider's own webhooks verify");
        if wanted(&event.kind) {
            return (event, payload, header);
        }
    }
    panic!("no webhook came for {what}");
}

async fn creating_a_payment_is_idempotent_by_key(harness: &dyn ProviderHarness) {
    let provider = harness.provider();
    let payment = new_payment(5_275);
    let first = provider
        .create_payment(payment.clone())
        .await
        .expect("create");
    assert!(first.id.starts_with("pi_"), "{}", first.id);
    assert!(
        first
            .client_secret
            .starts_with(&format!("{}_secret_", first.id)),
        "{}",
        first.client_secret
    );
    assert_eq!(first.amount, usd(5_275));
    assert_eq!(first.status, ProviderPaymentStatus::RequiresPaymentMethod);
    assert_eq!(first.order_id, payment.order_id);
    assert_eq!(first.charge_id, None);
    assert_eq!(first.last_error, None);

    let again = provider
        .create_payment(payment.clone())
        .await
        .expect("create again");
    assert_eq!(again.id, first.id, "the same key returns the same payment");

    let other_key = NewPayment {
        idempotency_key: unique("another-key"),
        ..payment
    };
    let other = provider.create_payment(other_key).await.expect("create");
    assert_ne!(other.id, first.id, "another key makes another payment");
}

async fn retrieving_reads_the_payment_as_it_stands(harness: &dyn ProviderHarness) {
    let created = create(harness, 1_999).await;
    let read = retrieve(harness, &created.id).await;
    assert_eq!(read.id, created.id);
    assert_eq!(read.amount, usd(1_999));
    assert_eq!(read.order_id, created.order_id);
    assert_eq!(read.client_secret, created.client_secret);
    assert_eq!(read.status, ProviderPaymentStatus::RequiresPaymentMethod);

    let unknown = harness
        .provider()
        .retrieve_payment("pi_00000000000000unknown")
        .await;
    assert!(
        matches!(unknown, Err(ProviderError::Refused(_))),
        "an unknown payment is refused: {unknown:?}"
    );
}

async fn a_successful_card_pays_and_says_so_in_a_signed_webhook(harness: &dyn ProviderHarness) {
    let payment = create(harness, 5_275).await;
    harness
        .pay(&payment, TestCard::Succeeds)
        .await
        .expect("pay");
    let paid = retrieve(harness, &payment.id).await;
    assert_eq!(paid.status, ProviderPaymentStatus::Succeeded);
    assert_eq!(paid.last_error, None);
    let charge_id = paid.charge_id.expect("a succeeded payment has its charge");
    assert!(charge_id.starts_with("ch_"), "{charge_id}");

    let (event, _, _) = await_webhook(harness, "the payment's success", |kind| {
        *kind
            == WebhookKind::PaymentSucceeded {
                payment_id: payment.id.clone(),
            }
    })
    .await;
    assert!(event.id.starts_with("evt_"), "{}", event.id);
}

async fn a_declined_card_leaves_the_payment_waiting_with_the_reason(harness: &dyn ProviderHarness) {
    let payment = create(harness, 2_500).await;
    harness
        .pay(&payment, TestCard::Declined)
        .await
        .expect("try the declined card");
    let declined = retrieve(harness, &payment.id).await;
    assert_eq!(
        declined.status,
        ProviderPaymentStatus::RequiresPaymentMethod
    );
    let reason = declined.last_error.expect("the decline says why");
    assert!(!reason.is_empty());

    let (event, _, _) = await_webhook(harness, "the payment's decline", |kind| {
        matches!(kind, WebhookKind::PaymentFailed { payment_id, .. } if *payment_id == payment.id)
    })
    .await;
    let WebhookKind::PaymentFailed { message, .. } = event.kind else {
        unreachable!("matched above");
    };
    assert!(!message.is_empty());
}

async fn an_authenticated_card_pays_after_the_authentication(harness: &dyn ProviderHarness) {
    let payment = create(harness, 12_000).await;
    harness
        .pay(&payment, TestCard::NeedsAuthentication)
        .await
        .expect("pay with the card needing authentication");
    let waiting = retrieve(harness, &payment.id).await;
    assert_eq!(waiting.status, ProviderPaymentStatus::RequiresAction);
    assert_eq!(waiting.charge_id, None);

    harness.authenticate(&waiting).await.expect("authenticate");
    let paid = retrieve(harness, &payment.id).await;
    assert_eq!(paid.status, ProviderPaymentStatus::Succeeded);
    assert!(paid.charge_id.is_some());
    await_webhook(harness, "the authenticated payment's success", |kind| {
        *kind
            == WebhookKind::PaymentSucceeded {
                payment_id: payment.id.clone(),
            }
    })
    .await;
}

async fn an_unpaid_payment_can_be_cancelled_twice(harness: &dyn ProviderHarness) {
    let provider = harness.provider();
    let payment = create(harness, 3_000).await;
    let key = unique("cancel");
    let cancelled = provider
        .cancel_payment(&payment.id, &key)
        .await
        .expect("cancel");
    assert_eq!(cancelled.id, payment.id);
    assert_eq!(cancelled.status, ProviderPaymentStatus::Canceled);
    assert_eq!(
        retrieve(harness, &payment.id).await.status,
        ProviderPaymentStatus::Canceled
    );
    let again = provider
        .cancel_payment(&payment.id, &unique("cancel-again"))
        .await
        .expect("cancelling a cancelled payment is no error");
    assert_eq!(again.status, ProviderPaymentStatus::Canceled);

    let succeeded = paid(harness, 3_000).await;
    let refused = provider
        .cancel_payment(&succeeded.id, &unique("cancel-paid"))
        .await;
    assert!(
        matches!(refused, Err(ProviderError::Refused(_))),
        "a succeeded payment cannot be cancelled: {refused:?}"
    );
}

async fn refunds_take_part_then_the_rest_and_never_more(harness: &dyn ProviderHarness) {
    let provider = harness.provider();
    let unpaid = create(harness, 5_000).await;
    let refund_unpaid = provider
        .refund(NewRefund {
            payment_id: unpaid.id.clone(),
            amount: usd(1_000),
            idempotency_key: unique("refund-unpaid"),
        })
        .await;
    assert!(
        matches!(refund_unpaid, Err(ProviderError::Refused(_))),
        "an unpaid payment has nothing to refund: {refund_unpaid:?}"
    );

    let payment = paid(harness, 5_000).await;
    let first = NewRefund {
        payment_id: payment.id.clone(),
        amount: usd(2_000),
        idempotency_key: unique("refund-part"),
    };
    let part = provider.refund(first.clone()).await.expect("refund a part");
    assert!(part.id.starts_with("re_"), "{}", part.id);
    assert_eq!(part.payment_id, payment.id);
    assert_eq!(part.amount, usd(2_000));
    assert!(part.succeeded);
    let replayed = provider.refund(first).await.expect("the same refund again");
    assert_eq!(replayed.id, part.id, "the same key returns the same refund");

    let rest = provider
        .refund(NewRefund {
            payment_id: payment.id.clone(),
            amount: usd(3_000),
            idempotency_key: unique("refund-rest"),
        })
        .await
        .expect("refund the rest");
    assert_ne!(rest.id, part.id);
    assert_eq!(rest.amount, usd(3_000));

    let beyond = provider
        .refund(NewRefund {
            payment_id: payment.id.clone(),
            amount: usd(1),
            idempotency_key: unique("refund-beyond"),
        })
        .await;
    assert!(
        matches!(beyond, Err(ProviderError::Refused(_))),
        "nothing is left to refund: {beyond:?}"
    );
}

async fn webhooks_signed_otherwise_or_stale_are_refused(harness: &dyn ProviderHarness) {
    let provider = harness.provider();
    let payment = paid(harness, 4_200).await;
    let (_, payload, header) = await_webhook(harness, "a payment to forge", |kind| {
        *kind
            == WebhookKind::PaymentSucceeded {
                payment_id: payment.id.clone(),
            }
    })
    .await;
    let now = harness.webhook_now_seconds();

    let forged = crate::webhook::sign("whsec_someone_else", &payload, now);
    assert_eq!(
        provider.verify_webhook(&payload, &forged, now),
        Err(WebhookError::BadSignature)
    );
    let mut tampered = payload.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(
        provider.verify_webhook(&tampered, &header, now),
        Err(WebhookError::BadSignature)
    );
    assert!(matches!(
        provider.verify_webhook(
            &payload,
            &header,
            now + crate::webhook::SIGNATURE_TOLERANCE_SECONDS + 60
        ),
        Err(WebhookError::Stale { .. })
    ));
    assert_eq!(
        provider.verify_webhook(&payload, "", now),
        Err(WebhookError::MissingSignature)
    );
}

async fn connected_accounts_receive_transfers_that_can_be_reversed(harness: &dyn ProviderHarness) {
    let provider = harness.provider();
    let seller_id = uuid::Uuid::now_v7().to_string();
    let new_account = NewConnectedAccount {
        seller_id: seller_id.clone(),
        email: Some("ada@example.com".to_owned()),
        country: "US".to_owned(),
        idempotency_key: format!("seller-{seller_id}-account"),
    };
    let account = provider
        .create_connected_account(new_account.clone())
        .await
        .expect("open an account");
    assert!(account.id.starts_with("acct_"), "{}", account.id);
    let again = provider
        .create_connected_account(new_account)
        .await
        .expect("open it again");
    assert_eq!(
        again.id, account.id,
        "the same key returns the same account"
    );

    let link = provider
        .onboarding_link(
            &account.id,
            "https://gigmesh.example/seller/payouts/done",
            "https://gigmesh.example/seller/payouts/again",
        )
        .await
        .expect("an onboarding link");
    assert!(
        link.starts_with("https://") || link.starts_with("http://"),
        "{link}"
    );
    let unknown_link = provider
        .onboarding_link(
            "acct_0000unknown",
            "https://gigmesh.example/done",
            "https://gigmesh.example/again",
        )
        .await;
    assert!(matches!(unknown_link, Err(ProviderError::Refused(_))));

    harness
        .complete_onboarding(&account.id)
        .await
        .expect("finish onboarding");
    let onboarded = provider
        .retrieve_connected_account(&account.id)
        .await
        .expect("read the account");
    assert_eq!(onboarded.id, account.id);
    assert!(onboarded.transfers_enabled);

    let payment = paid(harness, 10_000).await;
    let new_transfer = NewTransfer {
        account_id: account.id.clone(),
        amount: usd(8_000),
        transfer_group: payment.order_id.clone(),
        source_transaction: payment.charge_id.clone(),
        idempotency_key: format!("order-{}-earnings", payment.order_id),
    };
    let transfer = provider
        .transfer(new_transfer.clone())
        .await
        .expect("transfer the earnings");
    assert!(transfer.id.starts_with("tr_"), "{}", transfer.id);
    assert_eq!(transfer.account_id, account.id);
    assert_eq!(transfer.amount, usd(8_000));
    assert_eq!(transfer.amount_reversed, usd(0));
    let replayed = provider
        .transfer(new_transfer)
        .await
        .expect("the same transfer again");
    assert_eq!(
        replayed.id, transfer.id,
        "the same key returns the same transfer"
    );

    let reversed = provider
        .reverse_transfer(&transfer.id, usd(3_000), &unique("reverse-part"))
        .await
        .expect("reverse a part");
    assert_eq!(reversed.id, transfer.id);
    assert_eq!(reversed.amount, usd(8_000));
    assert_eq!(reversed.amount_reversed, usd(3_000));

    let beyond = provider
        .reverse_transfer(&transfer.id, usd(5_001), &unique("reverse-beyond"))
        .await;
    assert!(
        matches!(beyond, Err(ProviderError::Refused(_))),
        "only 5000 is left to reverse: {beyond:?}"
    );
}
