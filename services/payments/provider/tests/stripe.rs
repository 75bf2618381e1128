//! The Stripe adapter passes the provider behaviour suite against localstripe (a stateful
//! fake of Stripe's API, PyPI `localstripe`) started per test on 127.0.0.1, behind a
//! test-only proxy (`stripe/proxy.rs`, whose header lists exactly what it changes) that
//! answers Connect from fixtures, replays idempotency keys and adds the fields
//! async-stripe requires. localstripe signs its webhooks with the secret registered at its
//! `/_config/webhooks/<id>` endpoint and posts them to a receiver the test runs on
//! 127.0.0.1. Without localstripe these tests fail and say how to install it
//! (`scripts/install-test-tools`).

#[path = "stripe/http.rs"]
mod http;
#[path = "stripe/localstripe.rs"]
mod localstripe;
#[path = "stripe/proxy.rs"]
mod proxy;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use gigmesh_payment_provider::behaviour::{self, ProviderHarness, TestCard};
use gigmesh_payment_provider::stripe::{StripeProvider, StripeSettings};
use gigmesh_payment_provider::{
    NewConnectedAccount, NewRefund, NewTransfer, PaymentProvider, ProviderError, ProviderPayment,
};
use gigmesh_types::{Currency, Money};
use hyper::{Method, StatusCode};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use localstripe::LocalStripe;
use proxy::StripeProxy;

const API_KEY: &str = "sk_test_gigmesh_behaviour";
const WEBHOOK_SECRET: &str = "whsec_gigmesh_behaviour";

/// How long a webhook may take to arrive (localstripe sends each after a second).
const WEBHOOK_WAIT: Duration = Duration::from_secs(10);

/// Card numbers localstripe pays, declines when charging, and asks to authenticate.
const CARD_SUCCEEDS: &str = "4242424242424242";
const CARD_DECLINED_WHEN_CHARGED: &str = "4000000000000341";
const CARD_NEEDS_AUTHENTICATION: &str = "4000002500003155";

struct StripeHarness {
    provider: StripeProvider,
    proxy: StripeProxy,
    localstripe: LocalStripe,
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<Bytes>,
    >,
    webhooks: Mutex<mpsc::UnboundedReceiver<(Vec<u8>, String)>>,
    receiver_task: JoinHandle<()>,
}

impl Drop for StripeHarness {
    fn drop(&mut self) {
        self.receiver_task.abort();
    }
}

impl StripeHarness {
    async fn start() -> Self {
        let localstripe = LocalStripe::start().await;
        let proxy = StripeProxy::start(localstripe.url()).await;
        let (sender, webhooks) = mpsc::unbounded_channel();
        let receiver: http::Handler = Arc::new(move |request| {
            let sender = sender.clone();
            Box::pin(async move {
                let signature = request.header("stripe-signature").unwrap_or_default();
                let _ = sender.send((request.body.to_vec(), signature));
                http::WholeResponse {
                    status: StatusCode::OK,
                    content_type: None,
                    body: Bytes::new(),
                }
            })
        });
        let (receiver_port, receiver_task) = http::serve(receiver).await;
        let client = http::client();
        let registered = http::send(
            &client,
            Method::POST,
            &format!("{}/_config/webhooks/gigmesh", localstripe.url()),
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )],
            http::form(&[
                (
                    "url",
                    &format!("http://127.0.0.1:{receiver_port}/webhooks/stripe"),
                ),
                ("secret", WEBHOOK_SECRET),
            ]),
        )
        .await
        .expect("register the webhook endpoint");
        assert_eq!(registered.status, StatusCode::OK, "webhook registration");
        let provider = StripeProvider::new(StripeSettings {
            api_key: API_KEY.to_owned(),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            api_base_url: proxy.url(),
        })
        .expect("build the Stripe provider");
        Self {
            provider,
            proxy,
            localstripe,
            client,
            webhooks: Mutex::new(webhooks),
            receiver_task,
        }
    }

    /// A POST straight to localstripe, as the buyer's browser (Stripe.js) would make it.
    async fn buyer_post(&self, path: &str, pairs: &[(&str, &str)]) -> http::WholeResponse {
        http::send(
            &self.client,
            Method::POST,
            &format!("{}{path}", self.localstripe.url()),
            &[
                ("authorization", format!("Bearer {API_KEY}")),
                (
                    "content-type",
                    "application/x-www-form-urlencoded".to_owned(),
                ),
            ],
            http::form(pairs),
        )
        .await
        .expect("reach localstripe")
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
        let method = self
            .buyer_post(
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", number),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2030"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        anyhow::ensure!(
            method.status.is_success(),
            "payment method: {}",
            method.status
        );
        let method_id = method
            .body_json()
            .and_then(|value| value["id"].as_str().map(str::to_owned))
            .ok_or_else(|| anyhow::anyhow!("the payment method has no id"))?;
        let attached = self
            .buyer_post(
                &format!("/v1/payment_intents/{}", payment.id),
                &[("payment_method", &method_id)],
            )
            .await;
        anyhow::ensure!(attached.status.is_success(), "attach: {}", attached.status);
        let confirmed = self
            .buyer_post(&format!("/v1/payment_intents/{}/confirm", payment.id), &[])
            .await;
        // A declined card answers 402; the decline is the outcome under test.
        anyhow::ensure!(
            confirmed.status.is_success() || confirmed.status == StatusCode::PAYMENT_REQUIRED,
            "confirm: {} {}",
            confirmed.status,
            String::from_utf8_lossy(&confirmed.body)
        );
        Ok(())
    }

    async fn authenticate(&self, payment: &ProviderPayment) -> anyhow::Result<()> {
        // localstripe's stand-in for the 3-D Secure page.
        let authenticated = self
            .buyer_post(
                &format!("/v1/payment_intents/{}/_authenticate", payment.id),
                &[
                    ("client_secret", &payment.client_secret),
                    ("success", "true"),
                ],
            )
            .await;
        anyhow::ensure!(
            authenticated.status.is_success(),
            "authenticate: {}",
            authenticated.status
        );
        Ok(())
    }

    async fn complete_onboarding(&self, account_id: &str) -> anyhow::Result<()> {
        self.proxy.connect.complete_onboarding(account_id)
    }

    async fn next_webhook(&self) -> Option<(Vec<u8>, String)> {
        let mut webhooks = self.webhooks.lock().await;
        tokio::time::timeout(WEBHOOK_WAIT, webhooks.recv())
            .await
            .ok()
            .flatten()
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

    let posts = harness.proxy.posts();
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

#[tokio::test]
async fn an_unreachable_stripe_is_unavailable_and_bad_settings_are_refused() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port");
    let provider = StripeProvider::new(StripeSettings {
        api_key: API_KEY.to_owned(),
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
        api_key: API_KEY.to_owned(),
        webhook_secret: WEBHOOK_SECRET.to_owned(),
        api_base_url: "https://api.stripe.com".to_owned(),
    })
    .expect("a provider for Stripe's live API builds");
    for (api_key, webhook_secret) in [("", WEBHOOK_SECRET), (API_KEY, "")] {
        let built = StripeProvider::new(StripeSettings {
            api_key: api_key.to_owned(),
            webhook_secret: webhook_secret.to_owned(),
            api_base_url: "https://api.stripe.com".to_owned(),
        });
        assert!(built.is_err());
    }
}
