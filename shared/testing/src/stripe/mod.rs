//! A fake of Stripe for tests: localstripe (PyPI `localstripe`, a stateful fake of Stripe's
//! API) started per test on 127.0.0.1, behind a test-only proxy (`proxy.rs`, whose header
//! lists exactly what it changes) that answers Connect from fixtures, replays idempotency
//! keys, adds the fields async-stripe requires, and takes a buyer's card confirmation as
//! Stripe.js sends it.
//!
//! [`TestStripe::api_base_url`] and [`TestStripe::api_key`] are what the Stripe adapter is
//! configured with; [`TestStripe::register_webhook_endpoint`] tells the fake where to send
//! its signed webhooks (localstripe's payment events, the proxy's `account.updated`), and
//! [`TestStripe::webhook_inbox`] catches them on a receiver of the test's own.
//! [`TestStripe::confirm_card_payment`] and [`TestStripe::authenticate`] are what the
//! buyer's browser does with a payment intent's client secret;
//! [`TestStripe::complete_onboarding`] is the seller finishing Stripe's hosted onboarding.
//! Without localstripe, [`TestStripe::start`] fails and says how to install it
//! (`scripts/install-test-tools`).

mod http;
mod localstripe;
mod proxy;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use localstripe::LocalStripe;
pub use proxy::RecordedPost;
use proxy::StripeProxy;

/// A card localstripe pays.
pub const CARD_SUCCEEDS: &str = "4242424242424242";
/// A card that attaches but is declined when charged.
pub const CARD_DECLINED_WHEN_CHARGED: &str = "4000000000000341";
/// A card that asks the buyer to authenticate (3-D Secure) before it pays.
pub const CARD_NEEDS_AUTHENTICATION: &str = "4000002500003155";

/// A running fake of Stripe: localstripe behind the proxy.
///
/// Fields drop in order: the proxy stops before localstripe is killed.
pub struct TestStripe {
    proxy: StripeProxy,
    localstripe: LocalStripe,
    client: http::PlainClient,
    /// How many webhook endpoints were registered, to name the next.
    endpoints: AtomicUsize,
}

/// What the buyer's client learns from confirming a payment intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfirmation {
    /// The intent's status afterwards: `succeeded`, `requires_action` (authenticate next),
    /// `requires_payment_method` (declined), `processing`.
    pub status: String,
    /// What the buyer is told when the card is declined.
    pub decline_message: Option<String>,
}

impl TestStripe {
    /// The platform's secret key, which the fake accepts.
    pub const API_KEY: &'static str = "sk_test_gigmesh_platform";
    /// The platform's publishable key, which the buyer's client confirms payments with.
    pub const PUBLISHABLE_KEY: &'static str = "pk_test_gigmesh_platform";

    /// Starts localstripe and the proxy in front of it.
    ///
    /// # Panics
    /// When localstripe is not installed (the message says how to install it) or does not
    /// start.
    pub async fn start() -> Self {
        let localstripe = LocalStripe::start().await;
        let proxy = StripeProxy::start(
            localstripe.url(),
            Self::API_KEY.to_owned(),
            Self::PUBLISHABLE_KEY.to_owned(),
        )
        .await;
        Self {
            proxy,
            localstripe,
            client: http::client(),
            endpoints: AtomicUsize::new(0),
        }
    }

    /// Where the Stripe adapter calls the API (the proxy): its `api_base_url`.
    pub fn api_base_url(&self) -> String {
        self.proxy.url()
    }

    /// The secret key the Stripe adapter calls with: its `api_key`.
    pub fn api_key(&self) -> &'static str {
        Self::API_KEY
    }

    /// localstripe itself, without the proxy.
    pub fn localstripe_url(&self) -> String {
        self.localstripe.url()
    }

    /// Sends every webhook event from now on to `url`, signed with `secret` as Stripe signs
    /// (`Stripe-Signature: t=…,v1=…`): localstripe's payment and charge events (about a
    /// second after what caused them) and the proxy's `account.updated`.
    pub async fn register_webhook_endpoint(&self, url: &str, secret: &str) -> anyhow::Result<()> {
        let number = self.endpoints.fetch_add(1, Ordering::Relaxed) + 1;
        let registered = http::send(
            &self.client,
            Method::POST,
            &format!("{}/_config/webhooks/endpoint-{number}", self.proxy.url()),
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )],
            http::form(&[("url", url), ("secret", secret)]),
        )
        .await?;
        anyhow::ensure!(
            registered.status.is_success(),
            "registering the webhook endpoint {url}: {} {}",
            registered.status,
            String::from_utf8_lossy(&registered.body)
        );
        Ok(())
    }

    /// A receiver on 127.0.0.1, registered as a webhook endpoint with `secret`, that keeps
    /// every webhook it gets for the test to read.
    ///
    /// # Panics
    /// When the fake refuses the registration.
    pub async fn webhook_inbox(&self, secret: &str) -> WebhookInbox {
        let (sender, received) = mpsc::unbounded_channel();
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
        let (port, task) = http::serve(receiver).await;
        self.register_webhook_endpoint(&format!("http://127.0.0.1:{port}/webhooks/stripe"), secret)
            .await
            .expect("register the webhook inbox");
        WebhookInbox {
            received: Mutex::new(received),
            task,
        }
    }

    /// Pays the payment intent `intent_id` with `card_number` as the buyer's browser does
    /// through Stripe.js: `POST /v1/payment_intents/{id}/confirm` with the publishable key,
    /// the intent's `client_secret` and the card (expiring 12/2030, CVC 123). A declined
    /// card is an outcome ([`ClientConfirmation::decline_message`]), anything else Stripe
    /// refuses an error.
    pub async fn confirm_card_payment(
        &self,
        intent_id: &str,
        client_secret: &str,
        card_number: &str,
    ) -> anyhow::Result<ClientConfirmation> {
        let confirmed = self
            .client_post(
                &format!("/v1/payment_intents/{intent_id}/confirm"),
                &[
                    ("key", Self::PUBLISHABLE_KEY),
                    ("client_secret", client_secret),
                    ("payment_method_data[type]", "card"),
                    ("payment_method_data[card][number]", card_number),
                    ("payment_method_data[card][exp_month]", "12"),
                    ("payment_method_data[card][exp_year]", "2030"),
                    ("payment_method_data[card][cvc]", "123"),
                    ("expected_payment_method_type", "card"),
                    ("use_stripe_sdk", "true"),
                ],
            )
            .await?;
        let body = confirmed.body_json().unwrap_or_default();
        if confirmed.status == StatusCode::PAYMENT_REQUIRED {
            return Ok(ClientConfirmation {
                status: "requires_payment_method".to_owned(),
                decline_message: Some(
                    body["error"]["message"]
                        .as_str()
                        .unwrap_or("Your card was declined.")
                        .to_owned(),
                ),
            });
        }
        anyhow::ensure!(
            confirmed.status.is_success(),
            "confirming {intent_id}: {} {}",
            confirmed.status,
            String::from_utf8_lossy(&confirmed.body)
        );
        Ok(ClientConfirmation {
            status: body["status"].as_str().unwrap_or_default().to_owned(),
            decline_message: None,
        })
    }

    /// Completes (or, with `success` false, fails) the 3-D Secure step of a payment intent
    /// that requires action, as the buyer on the bank's page would (localstripe's stand-in
    /// for that page, authorised by the client secret).
    pub async fn authenticate(
        &self,
        intent_id: &str,
        client_secret: &str,
        success: bool,
    ) -> anyhow::Result<()> {
        let authenticated = self
            .client_post(
                &format!("/v1/payment_intents/{intent_id}/_authenticate"),
                &[
                    ("key", Self::PUBLISHABLE_KEY),
                    ("client_secret", client_secret),
                    ("success", if success { "true" } else { "false" }),
                ],
            )
            .await?;
        anyhow::ensure!(
            authenticated.status.is_success(),
            "authenticating {intent_id}: {} {}",
            authenticated.status,
            String::from_utf8_lossy(&authenticated.body)
        );
        Ok(())
    }

    /// The seller of `account_id` finishes Stripe's hosted onboarding: the account can
    /// receive transfers, and every registered endpoint gets a signed `account.updated`.
    /// Fails for an unknown account, or when an endpoint does not answer 2xx.
    pub async fn complete_onboarding(&self, account_id: &str) -> anyhow::Result<()> {
        self.proxy.complete_onboarding(account_id).await
    }

    /// The account an onboarding link (from `POST /v1/account_links`) was made for: what
    /// the seller who opens the link onboards.
    pub fn account_of_onboarding_link(&self, url: &str) -> anyhow::Result<String> {
        self.proxy
            .account_of_onboarding_link(url)
            .ok_or_else(|| anyhow::anyhow!("{url} is no onboarding link of this Stripe"))
    }

    /// Every POST the platform's server sent so far, in order.
    pub fn posts(&self) -> Vec<RecordedPost> {
        self.proxy.posts()
    }

    /// A form POST through the proxy as the buyer's browser sends it (no secret key).
    async fn client_post(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
    ) -> anyhow::Result<http::WholeResponse> {
        http::send(
            &self.client,
            Method::POST,
            &format!("{}{path}", self.proxy.url()),
            &[(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )],
            http::form(pairs),
        )
        .await
    }
}

/// Webhooks caught by a receiver of the test's own ([`TestStripe::webhook_inbox`]).
pub struct WebhookInbox {
    received: Mutex<mpsc::UnboundedReceiver<(Vec<u8>, String)>>,
    task: JoinHandle<()>,
}

impl Drop for WebhookInbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookInbox {
    /// The next webhook (raw payload, `Stripe-Signature` header), or `None` when none comes
    /// within `wait`.
    pub async fn next_within(&self, wait: Duration) -> Option<(Vec<u8>, String)> {
        let mut received = self.received.lock().await;
        tokio::time::timeout(wait, received.recv())
            .await
            .ok()
            .flatten()
    }
}
