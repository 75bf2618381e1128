//! The Stripe adapter passes the provider behaviour suite against the fake of Stripe in
//! `gigmesh_testing::stripe` (localstripe, PyPI, started per test on 127.0.0.1, behind a
//! test-only proxy whose header lists exactly what it changes: Connect from fixtures,
//! idempotency keys replayed, the fields async-stripe requires, a buyer's confirmation as
//! Stripe.js sends it). The buyer pays as their browser would, with the payment's client
//! secret; the fake signs its webhooks with the secret registered for a receiver the test
//! runs on 127.0.0.1. Without localstripe these tests fail and say how to install it
//! (`scripts/install-test-tools`).

use std::time::Duration;

use async_trait::async_trait;
use gigmesh_payment_provider::behaviour::{self, ProviderHarness, TestCard};
use gigmesh_payment_provider::stripe::{StripeProvider, StripeSettings};
use gigmesh_payment_provider::{
    NewConnectedAccount, NewRefund, NewTransfer, PaymentProvider, ProviderError, ProviderPayment,
    ProviderPaymentStatus, WebhookKind,
};
use gigmesh_testing::TestStripe;
use gigmesh_testing::stripe::{
    CARD_DECLINED_WHEN_CHARGED, CARD_NEEDS_AUTHENTICATION, CARD_SUCCEEDS, ClientConfirmation,
    WebhookInbox,
};
use gigmesh_types::{Currency, Money};

const WEBHOOK_SECRET: &str = "whsec_gigmesh_behaviour";

/// How long a webhook may take to arrive (localstripe sends each after a second).
const WEBHOOK_WAIT: Duration = Duration::from_secs(10);

struct StripeHarness {
    provider: StripeProvider,
    webhooks: WebhookInbox,
    stripe: TestStripe,
}

impl StripeHarness {
    async fn start() -> Self {
        let stripe = TestStripe::start().await;
        let webhooks = stripe.webhook_inbox(WEBHOOK_SECRET).await;
        let provider = StripeProvider::new(StripeSettings {
            api_key: stripe.api_key().to_owned(),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            api_base_url: stripe.api_base_url(),
        })
        .expect("build the Stripe provider");
        Self {
            provider,
            webhooks,
            stripe,
        }
    }
}

#[async_trait]
impl ProviderHarness for StripeHarness {
    fn provider(&self) -> &dyn PaymentProvider {
        &self.provider
    }

    async fn pay(&self, payment: &ProviderPayment, card: TestCard) -> anyhow::Result<()> {
        let number = match card {
            TestCard::Succeeds => CARD_SUCCEEDS,
            TestCard::Declined => CARD_DECLINED_WHEN_CHARGED,
            TestCard::NeedsAuthentication => CARD_NEEDS_AUTHENTICATION,
        };
        // A decline is an outcome the suite reads from the provider.
        self.stripe
            .confirm_card_payment(&payment.id, &payment.client_secret, number)
            .await
            .map(|_| ())
    }

    async fn authenticate(&self, payment: &ProviderPayment) -> anyhow::Result<()> {
        self.stripe
            .authenticate(&payment.id, &payment.client_secret, true)
            .await
    }

    async fn complete_onboarding(&self, account_id: &str) -> anyhow::Result<()> {
        self.stripe.complete_onboarding(account_id).await
    }

    async fn next_webhook(&self) -> Option<(Vec<u8>, String)> {
        self.webhooks.next_within(WEBHOOK_WAIT).await
    }

    fn webhook_now_seconds(&self) -> i64 {
        gigmesh_types::now_millis() / 1_000
    }
}

#[tokio::test]
async fn the_stripe_adapter_behaves_like_a_provider_against_localstripe() {
    let harness = StripeHarness::start().await;
    behaviour::run_all(&harness).await;
}

#[tokio::test]
async fn every_post_the_stripe_adapter_sends_carries_an_idempotency_key() {
    let harness = StripeHarness::start().await;
    let provider = harness.provider();
    let usd = |amount_minor| Money::new(amount_minor, Currency::USD);

    let payment = provider
        .create_payment(behaviour::new_payment(5_000))
        .await
        .expect("create");
    harness
        .pay(&payment, TestCard::Succeeds)
        .await
        .expect("pay");
    let paid = provider.retrieve_payment(&payment.id).await.expect("read");
    provider
        .refund(NewRefund {
            payment_id: paid.id.clone(),
            amount: usd(1_000),
            idempotency_key: "refund-1".to_owned(),
        })
        .await
        .expect("refund");
    let unpaid = provider
        .create_payment(behaviour::new_payment(700))
        .await
        .expect("create");
    provider
        .cancel_payment(&unpaid.id, "cancel-1")
        .await
        .expect("cancel");
    let account = provider
        .create_connected_account(NewConnectedAccount {
            seller_id: "seller-1".to_owned(),
            email: None,
            country: "US".to_owned(),
            idempotency_key: "account-1".to_owned(),
        })
        .await
        .expect("account");
    provider
        .onboarding_link(
            &account.id,
            "https://gigmesh.example/done",
            "https://gigmesh.example/again",
        )
        .await
        .expect("link");
    harness
        .complete_onboarding(&account.id)
        .await
        .expect("onboard");
    let transfer = provider
        .transfer(NewTransfer {
            account_id: account.id.clone(),
            amount: usd(3_000),
            transfer_group: paid.order_id.clone(),
            source_transaction: paid.charge_id.clone(),
            idempotency_key: "transfer-1".to_owned(),
        })
        .await
        .expect("transfer");
    provider
        .reverse_transfer(&transfer.id, usd(500), "reversal-1")
        .await
        .expect("reverse");

    let posts = harness.stripe.posts();
    let paths: Vec<&str> = posts.iter().map(|post| post.path.as_str()).collect();
    for expected in [
        "/v1/payment_intents",
        "/v1/refunds",
        "/v1/accounts",
        "/v1/account_links",
        "/v1/transfers",
    ] {
        assert!(paths.contains(&expected), "no POST {expected} in {paths:?}");
    }
    assert!(
        paths.iter().any(|path| path.ends_with("/cancel")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|path| path.ends_with("/reversals")),
        "{paths:?}"
    );
    for post in &posts {
        let key = post
            .idempotency_key
            .as_deref()
            .unwrap_or_else(|| panic!("POST {} carries no Idempotency-Key", post.path));
        assert!(!key.is_empty(), "POST {} has an empty key", post.path);
    }
    let keys: Vec<&str> = posts
        .iter()
        .filter_map(|post| post.idempotency_key.as_deref())
        .collect();
    for key in [
        "refund-1",
        "cancel-1",
        "account-1",
        "transfer-1",
        "reversal-1",
    ] {
        assert!(
            keys.contains(&key),
            "the caller's key {key} was sent: {keys:?}"
        );
    }
}

/// The buyer's client pays as Stripe.js does, with the payment's own client secret: another
/// payment's secret pays nothing, a paid payment cannot be confirmed again, and a declined
/// card is an answer with Stripe's message.
#[tokio::test]
async fn a_buyer_confirms_a_payment_with_its_own_client_secret_only() {
    let harness = StripeHarness::start().await;
    let provider = harness.provider();
    let payment = provider
        .create_payment(behaviour::new_payment(2_500))
        .await
        .expect("create");
    let other = provider
        .create_payment(behaviour::new_payment(2_600))
        .await
        .expect("create");

    let refused = harness
        .stripe
        .confirm_card_payment(&payment.id, &other.client_secret, CARD_SUCCEEDS)
        .await
        .expect_err("another payment's client secret");
    assert!(refused.to_string().contains("client_secret"), "{refused}");
    let unpaid = provider.retrieve_payment(&payment.id).await.expect("read");
    assert_eq!(unpaid.status, ProviderPaymentStatus::RequiresPaymentMethod);

    let paid = harness
        .stripe
        .confirm_card_payment(&payment.id, &payment.client_secret, CARD_SUCCEEDS)
        .await
        .expect("pay");
    assert_eq!(
        paid,
        ClientConfirmation {
            status: "succeeded".to_owned(),
            decline_message: None,
        }
    );
    let again = harness
        .stripe
        .confirm_card_payment(&payment.id, &payment.client_secret, CARD_SUCCEEDS)
        .await
        .expect_err("a paid payment is not confirmed again");
    assert!(
        again
            .to_string()
            .contains("payment_intent_unexpected_state"),
        "{again}"
    );
    let read = provider.retrieve_payment(&payment.id).await.expect("read");
    assert_eq!(read.status, ProviderPaymentStatus::Succeeded);

    let declined = harness
        .stripe
        .confirm_card_payment(&other.id, &other.client_secret, CARD_DECLINED_WHEN_CHARGED)
        .await
        .expect("a decline is an answer");
    assert_eq!(declined.status, "requires_payment_method");
    assert!(declined.decline_message.is_some(), "{declined:?}");
}

/// Finishing Stripe's onboarding at the link the adapter asked for is announced as Stripe
/// announces it: a signed `account.updated` naming the account, which the adapter verifies
/// and reads; the account then receives transfers.
#[tokio::test]
async fn finishing_onboarding_is_announced_in_a_signed_account_updated_webhook() {
    let harness = StripeHarness::start().await;
    let provider = harness.provider();
    let account = provider
        .create_connected_account(NewConnectedAccount {
            seller_id: "seller-2".to_owned(),
            email: Some("seller-2@example.com".to_owned()),
            country: "US".to_owned(),
            idempotency_key: "account-2".to_owned(),
        })
        .await
        .expect("account");
    assert!(!account.transfers_enabled);
    let link = provider
        .onboarding_link(
            &account.id,
            "https://gigmesh.example/done",
            "https://gigmesh.example/again",
        )
        .await
        .expect("link");
    let onboarded = harness
        .stripe
        .account_of_onboarding_link(&link)
        .expect("the link is the account's");
    assert_eq!(onboarded, account.id);
    assert!(
        harness
            .stripe
            .account_of_onboarding_link("https://connect.stripe.com/setup/e/acct_x/y")
            .is_err()
    );
    assert!(
        harness
            .stripe
            .complete_onboarding("acct_unknown")
            .await
            .is_err()
    );

    harness
        .stripe
        .complete_onboarding(&onboarded)
        .await
        .expect("finish onboarding");
    let (payload, header) = harness
        .webhooks
        .next_within(WEBHOOK_WAIT)
        .await
        .expect("account.updated arrives");
    let event = provider
        .verify_webhook(&payload, &header, harness.webhook_now_seconds())
        .expect("signed with the endpoint's secret");
    assert_eq!(
        event.kind,
        WebhookKind::AccountUpdated {
            account_id: account.id.clone()
        }
    );
    let read = provider
        .retrieve_connected_account(&account.id)
        .await
        .expect("read");
    assert!(read.transfers_enabled);
}

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable_and_bad_settings_are_refused() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port");
    let provider = StripeProvider::new(StripeSettings {
        api_key: TestStripe::API_KEY.to_owned(),
        webhook_secret: WEBHOOK_SECRET.to_owned(),
        api_base_url: format!("http://127.0.0.1:{closed_port}/"),
    })
    .expect("build");
    let created = provider.create_payment(behaviour::new_payment(1_000)).await;
    assert!(
        matches!(created, Err(ProviderError::Unavailable(_))),
        "{created:?}"
    );

    StripeProvider::new(StripeSettings {
        api_key: TestStripe::API_KEY.to_owned(),
        webhook_secret: WEBHOOK_SECRET.to_owned(),
        api_base_url: "https://api.stripe.com".to_owned(),
    })
    .expect("a provider for Stripe's live API builds");
    for (api_key, webhook_secret) in [("", WEBHOOK_SECRET), (TestStripe::API_KEY, "")] {
        let built = StripeProvider::new(StripeSettings {
            api_key: api_key.to_owned(),
            webhook_secret: webhook_secret.to_owned(),
            api_base_url: "https://api.stripe.com".to_owned(),
        });
        assert!(built.is_err());
    }
}
