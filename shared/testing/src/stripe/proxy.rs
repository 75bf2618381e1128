//! A test-only adapter in front of localstripe, so whoever talks to the fake — the Stripe
//! adapter, the buyer's client, the seller's onboarding — meets what Stripe does where
//! localstripe falls short. It listens on 127.0.0.1 and changes exactly this:
//!
//! 1. **Connect, answered from fixtures** written from Stripe's API reference (localstripe
//!    has no Connect): `POST /v1/accounts` (`type`, `country`, `email`, `metadata`,
//!    `capabilities[transfers][requested]`; a new account's `transfers` capability is
//!    `inactive` until onboarding), `GET /v1/accounts/{id}`, `POST /v1/account_links`
//!    (`account`, `type`, `return_url`, `refresh_url`), `POST /v1/transfers` (`amount`,
//!    `currency`, `destination` with the transfers capability active, `transfer_group`,
//!    `source_transaction` = a succeeded localstripe charge of at least the amount),
//!    `GET /v1/transfers/{id}` and `POST /v1/transfers/{id}/reversals` (`amount` at most
//!    what is left unreversed). Unknown ids answer 404 `resource_missing`, bad amounts
//!    400 `invalid_request_error`, as Stripe does. [`StripeProxy::complete_onboarding`]
//!    stands in for the seller finishing Stripe's onboarding pages (found by the link
//!    they were sent to, [`StripeProxy::account_of_onboarding_link`]).
//! 2. **Idempotency keys** (localstripe ignores them): a POST with an `Idempotency-Key`
//!    already answered with a 2xx or a 402 gets the stored answer again, without reaching
//!    localstripe or the fixtures; the same key with other parameters is a 400
//!    `idempotency_error`. The path and key of every POST made with a secret key (the
//!    platform's server) are recorded ([`StripeProxy::posts`]).
//! 3. **Payment intent creation**: localstripe rejects `description`, `transfer_group` and
//!    `automatic_payment_methods[..]`; the proxy takes them out of the request (sending
//!    `payment_method_types[0]=card` for `automatic_payment_methods[enabled]=true`, the
//!    method automatic payment methods resolve to in test mode) and puts them back into
//!    every answer about that intent.
//! 4. **Refund amounts**: localstripe refunds any amount; the proxy refuses a refund larger
//!    than what is left unrefunded on the intent's charge with Stripe's 400
//!    (`amount_too_large`, or `charge_already_refunded` when nothing is left).
//! 5. **Missing fields** async-stripe requires in a payment intent: `amount_capturable` (0),
//!    `amount_received` (the amount once succeeded, else 0), `confirmation_method`
//!    (`automatic`), `payment_method_types` (`["card"]`) when absent; `latest_charge`
//!    collapsed to the charge's id (Stripe sends the id unless expanded; localstripe
//!    embeds an incomplete charge); `last_payment_error.type` (`card_error` for a decline,
//!    else `invalid_request_error`) when absent.
//! 6. **Confirmation by the buyer's client** (localstripe only confirms with the secret key
//!    and an attached payment method): `POST /v1/payment_intents/{id}/confirm` authorised
//!    by the publishable key (`key=pk_…` in the form, as Stripe.js sends it) with the
//!    intent's `client_secret` and the card in `payment_method_data[type]=card`,
//!    `payment_method_data[card][number|exp_month|exp_year|cvc]` (or an existing
//!    `payment_method`). Another publishable key answers 401, a client secret of another
//!    intent 400, an intent past confirmation 400 `payment_intent_unexpected_state`, as
//!    Stripe does; otherwise the proxy makes the payment method, attaches it and confirms
//!    at localstripe with the platform's secret key, and answers the intent (402 for a
//!    declined card).
//! 7. **Connect webhooks**: the endpoints registered at localstripe's
//!    `POST /_config/webhooks/{id}` (`url`, `secret`; forwarded unchanged) are remembered,
//!    and completing an account's onboarding sends each a signed `account.updated` event
//!    carrying the account, as Stripe does for a connected account (localstripe signs and
//!    sends its own events itself).
//!
//! Everything else goes to localstripe unchanged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::task::JoinHandle;

use super::http::{self, ReceivedRequest, WholeResponse};

/// The API version the proxy's own events say they were rendered with.
const EVENT_API_VERSION: &str = "2025-03-31.basil";

/// One POST the platform's server (a secret key) sent through the proxy.
#[derive(Debug, Clone)]
pub struct RecordedPost {
    /// The path, without its query: `/v1/payment_intents`.
    pub path: String,
    /// Its `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<String>,
}

/// What a payment intent's creation asked for that localstripe cannot keep.
#[derive(Debug, Clone, Default)]
struct IntentExtras {
    description: Option<String>,
    transfer_group: Option<String>,
    automatic_payment_methods: bool,
}

#[derive(Default)]
struct ProxyState {
    posts: Vec<RecordedPost>,
    /// Idempotency key → (what was asked: path and body, the stored answer).
    answered: HashMap<String, (String, WholeResponse)>,
    intents: HashMap<String, IntentExtras>,
}

/// A webhook endpoint registered at localstripe, which the proxy's own events go to too.
#[derive(Debug, Clone)]
struct WebhookEndpoint {
    url: String,
    secret: String,
}

/// The Connect objects, the onboarding links handed out, and where events go.
#[derive(Default)]
struct ConnectFixtures {
    accounts: Mutex<HashMap<String, Value>>,
    transfers: Mutex<HashMap<String, Value>>,
    /// Onboarding link URL → its account.
    onboarding_links: Mutex<HashMap<String, String>>,
    /// Registration id → endpoint, as registered at `/_config/webhooks/{id}`.
    endpoints: Mutex<HashMap<String, WebhookEndpoint>>,
}

/// The running proxy.
pub struct StripeProxy {
    port: u16,
    state: Arc<Mutex<ProxyState>>,
    connect: Arc<ConnectFixtures>,
    client: http::PlainClient,
    task: JoinHandle<()>,
}

impl Drop for StripeProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StripeProxy {
    /// Starts a proxy in front of the localstripe at `upstream`, confirming buyers' payments
    /// there with the platform's `secret_key` when they come with `publishable_key`.
    pub async fn start(upstream: String, secret_key: String, publishable_key: String) -> Self {
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let connect = Arc::new(ConnectFixtures::default());
        let forwarder = Arc::new(Forwarder {
            upstream,
            secret_key,
            publishable_key,
            client: http::client(),
            state: state.clone(),
            connect: connect.clone(),
        });
        let handler: http::Handler = Arc::new(move |request| {
            let forwarder = forwarder.clone();
            Box::pin(async move { forwarder.handle(request).await })
        });
        let (port, task) = http::serve(handler).await;
        Self {
            port,
            state,
            connect,
            client: http::client(),
            task,
        }
    }

    /// Its base URL, for the adapter's `api_base_url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every POST the platform's server sent so far, in order.
    pub fn posts(&self) -> Vec<RecordedPost> {
        self.state.lock().expect("proxy lock").posts.clone()
    }

    /// The account an onboarding link (`POST /v1/account_links`) was made for.
    pub fn account_of_onboarding_link(&self, url: &str) -> Option<String> {
        self.connect
            .onboarding_links
            .lock()
            .expect("links lock")
            .get(url)
            .cloned()
    }

    /// What Stripe does once the seller finishes onboarding: details submitted, payouts
    /// enabled, the transfers capability active; then a signed `account.updated` event to
    /// every registered endpoint. Fails when the account is unknown or an endpoint does not
    /// answer 2xx (Stripe would send it again later; a test wants to know now).
    pub async fn complete_onboarding(&self, account_id: &str) -> anyhow::Result<()> {
        let account = {
            let mut accounts = self.connect.accounts.lock().expect("accounts lock");
            let account = accounts
                .get_mut(account_id)
                .ok_or_else(|| anyhow::anyhow!("no account {account_id}"))?;
            account["details_submitted"] = json!(true);
            account["charges_enabled"] = json!(true);
            account["payouts_enabled"] = json!(true);
            account["capabilities"]["transfers"] = json!("active");
            account.clone()
        };
        self.send_event("account.updated", Some(account_id), account)
            .await
    }

    /// Sends an event about `object` to every registered endpoint, signed with each one's
    /// secret the way Stripe signs (`Stripe-Signature: t=<created>,v1=<hex HMAC-SHA256 of
    /// "<created>.<payload>">`).
    async fn send_event(
        &self,
        event_type: &str,
        connected_account: Option<&str>,
        object: Value,
    ) -> anyhow::Result<()> {
        let endpoints: Vec<WebhookEndpoint> = self
            .connect
            .endpoints
            .lock()
            .expect("endpoints lock")
            .values()
            .cloned()
            .collect();
        let created = now_seconds();
        let mut event = json!({
            "id": random_id("evt_"),
            "object": "event",
            "api_version": EVENT_API_VERSION,
            "created": created,
            "data": { "object": object },
            "livemode": false,
            "pending_webhooks": endpoints.len(),
            "request": { "id": null, "idempotency_key": null },
            "type": event_type,
        });
        if let Some(account) = connected_account {
            event["account"] = json!(account);
        }
        let payload = serde_json::to_vec_pretty(&event)?;
        let mut failures = Vec::new();
        for endpoint in endpoints {
            let signature = sign(&endpoint.secret, &payload, created);
            let delivered = http::send(
                &self.client,
                Method::POST,
                &endpoint.url,
                &[
                    ("content-type", "application/json; charset=utf-8".to_owned()),
                    ("stripe-signature", signature),
                ],
                Bytes::from(payload.clone()),
            )
            .await;
            match delivered {
                Ok(answer) if answer.status.is_success() => {}
                Ok(answer) => failures.push(format!(
                    "{} answered {}: {}",
                    endpoint.url,
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                )),
                Err(error) => failures.push(format!("{} is unreachable: {error}", endpoint.url)),
            }
        }
        anyhow::ensure!(
            failures.is_empty(),
            "{event_type} was not delivered: {}",
            failures.join("; ")
        );
        Ok(())
    }
}

/// Stripe's `Stripe-Signature` header for `payload` sent at `timestamp_seconds`.
fn sign(secret: &str, payload: &[u8], timestamp_seconds: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any size");
    mac.update(format!("{timestamp_seconds}.").as_bytes());
    mac.update(payload);
    format!(
        "t={timestamp_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

struct Forwarder {
    upstream: String,
    /// The platform's secret key, for what the proxy does at localstripe on a buyer's behalf.
    secret_key: String,
    /// The platform's publishable key, which the buyer's client authenticates with.
    publishable_key: String,
    client: http::PlainClient,
    state: Arc<Mutex<ProxyState>>,
    connect: Arc<ConnectFixtures>,
}

fn stripe_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
) -> WholeResponse {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    WholeResponse::json(status, &json!({ "error": error }))
}

fn missing(object: &str, id: &str) -> WholeResponse {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {object}: '{id}'"),
    )
}

fn invalid(message: &str) -> WholeResponse {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        message,
    )
}

fn random_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    )
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// The key of an `Authorization: Bearer <key>` header.
fn bearer_key(request: &ReceivedRequest) -> Option<String> {
    request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer ").map(str::to_owned))
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn metadata(form: &[(String, String)]) -> Value {
    let mut metadata = serde_json::Map::new();
    for (key, value) in form {
        if let Some(name) = key
            .strip_prefix("metadata[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            metadata.insert(name.to_owned(), json!(value));
        }
    }
    Value::Object(metadata)
}

fn dollars(amount_minor: i64) -> String {
    format!("${}.{:02}", amount_minor / 100, amount_minor % 100)
}

impl Forwarder {
    async fn handle(&self, request: ReceivedRequest) -> WholeResponse {
        if request.method != Method::POST {
            return self.route(request).await;
        }
        let key = request.header("idempotency-key");
        let asked = format!(
            "{} {}",
            request.path(),
            String::from_utf8_lossy(&request.body)
        );
        {
            let mut state = self.state.lock().expect("proxy lock");
            if bearer_key(&request).is_some_and(|key| key.starts_with("sk_")) {
                state.posts.push(RecordedPost {
                    path: request.path().to_owned(),
                    idempotency_key: key.clone(),
                });
            }
            if let Some(key) = &key
                && let Some((first_asked, answer)) = state.answered.get(key)
            {
                if *first_asked != asked {
                    return stripe_error(
                        StatusCode::BAD_REQUEST,
                        "idempotency_error",
                        None,
                        &format!(
                            "Keys for idempotent requests can only be used with the same \
                             parameters they were first used with. Try using a key other \
                             than '{key}' if you meant to execute a different request."
                        ),
                    );
                }
                return answer.clone();
            }
        }
        let answer = self.route(request).await;
        if let Some(key) = key
            && (answer.status.is_success() || answer.status == StatusCode::PAYMENT_REQUIRED)
        {
            self.state
                .lock()
                .expect("proxy lock")
                .answered
                .insert(key, (asked, answer.clone()));
        }
        answer
    }

    async fn route(&self, request: ReceivedRequest) -> WholeResponse {
        let path = request.path().to_owned();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let form = http::parse_form(&request.body);
        match (&request.method, segments.as_slice()) {
            (&Method::POST, ["_config", "webhooks", id]) => {
                self.register_endpoint(&request, id, &form).await
            }
            (&Method::POST, ["v1", "payment_intents", id, "confirm"])
                if field(&form, "key").is_some_and(|key| key.starts_with("pk_"))
                    || bearer_key(&request).is_some_and(|key| key.starts_with("pk_")) =>
            {
                self.confirm_as_client(&request, id, &form).await
            }
            (&Method::POST, ["v1", "accounts"]) => self.create_account(&form),
            (&Method::GET, ["v1", "accounts", id]) => self.account(id),
            (&Method::POST, ["v1", "account_links"]) => self.create_account_link(&form),
            (&Method::POST, ["v1", "transfers"]) => self.create_transfer(&request, &form).await,
            (&Method::GET, ["v1", "transfers", id]) => self.transfer(id),
            (&Method::POST, ["v1", "transfers", id, "reversals"]) => {
                self.create_reversal(id, &form)
            }
            (&Method::POST, ["v1", "payment_intents"]) => {
                self.create_payment_intent(request, form).await
            }
            (&Method::POST, ["v1", "refunds"]) => self.create_refund(request, &form).await,
            _ => self.forward_and_complete(request).await,
        }
    }

    /// Remembers a webhook endpoint for the proxy's own events, and registers it at
    /// localstripe for localstripe's.
    async fn register_endpoint(
        &self,
        request: &ReceivedRequest,
        id: &str,
        form: &[(String, String)],
    ) -> WholeResponse {
        let (Some(url), Some(secret)) = (field(form, "url"), field(form, "secret")) else {
            return invalid("Missing required param: url and secret.");
        };
        let answer = self.forward(request, request.body.clone()).await;
        if answer.status.is_success() {
            self.connect
                .endpoints
                .lock()
                .expect("endpoints lock")
                .insert(
                    id.to_owned(),
                    WebhookEndpoint {
                        url: url.to_owned(),
                        secret: secret.to_owned(),
                    },
                );
        }
        answer
    }

    /// A buyer's client confirming a payment intent with a card, as Stripe.js does.
    async fn confirm_as_client(
        &self,
        request: &ReceivedRequest,
        intent_id: &str,
        form: &[(String, String)],
    ) -> WholeResponse {
        let key = field(form, "key")
            .map(str::to_owned)
            .or_else(|| bearer_key(request))
            .unwrap_or_default();
        if key != self.publishable_key {
            return stripe_error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                None,
                &format!(
                    "Invalid API Key provided: {}***",
                    key.chars().take(8).collect::<String>()
                ),
            );
        }
        let Some(client_secret) = field(form, "client_secret") else {
            return invalid("Missing required param: client_secret.");
        };
        let intent = self
            .upstream(
                Method::GET,
                &format!("/v1/payment_intents/{intent_id}"),
                &[],
            )
            .await;
        if intent.status == StatusCode::NOT_FOUND {
            return missing("payment_intent", intent_id);
        }
        let Some(intent) = intent.body_json().filter(|_| intent.status.is_success()) else {
            return intent;
        };
        if intent["client_secret"].as_str() != Some(client_secret) {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                "The client_secret provided does not match the client_secret associated \
                 with the PaymentIntent.",
            );
        }
        let status = intent["status"].as_str().unwrap_or_default();
        if !["requires_payment_method", "requires_confirmation"].contains(&status) {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("payment_intent_unexpected_state"),
                &format!(
                    "You cannot confirm this PaymentIntent because it has a status of {status}."
                ),
            );
        }
        let method_id = match field(form, "payment_method") {
            Some(method_id) => method_id.to_owned(),
            None => {
                if field(form, "payment_method_data[type]") != Some("card") {
                    return invalid("Missing required param: payment_method_data[type].");
                }
                let mut card = vec![("type".to_owned(), "card".to_owned())];
                for part in ["number", "exp_month", "exp_year", "cvc"] {
                    if let Some(value) = field(form, &format!("payment_method_data[card][{part}]"))
                    {
                        card.push((format!("card[{part}]"), value.to_owned()));
                    }
                }
                let created = self
                    .upstream(Method::POST, "/v1/payment_methods", &card)
                    .await;
                let Some(method_id) = created
                    .body_json()
                    .filter(|_| created.status.is_success())
                    .and_then(|method| method["id"].as_str().map(str::to_owned))
                else {
                    return created;
                };
                method_id
            }
        };
        let attached = self
            .upstream(
                Method::POST,
                &format!("/v1/payment_intents/{intent_id}"),
                &[("payment_method".to_owned(), method_id)],
            )
            .await;
        if !attached.status.is_success() {
            return self.complete(attached);
        }
        let confirmed = self
            .upstream(
                Method::POST,
                &format!("/v1/payment_intents/{intent_id}/confirm"),
                &[],
            )
            .await;
        self.complete(confirmed)
    }

    /// A request to localstripe with the platform's secret key.
    async fn upstream(
        &self,
        method: Method,
        path: &str,
        pairs: &[(String, String)],
    ) -> WholeResponse {
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let url = format!("{}{path}", self.upstream);
        let headers = [
            ("authorization", format!("Bearer {}", self.secret_key)),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ];
        match http::send(&self.client, method, &url, &headers, http::form(&pairs)).await {
            Ok(answer) => answer,
            Err(error) => stripe_error(
                StatusCode::BAD_GATEWAY,
                "api_error",
                None,
                &format!("localstripe is unreachable: {error}"),
            ),
        }
    }

    async fn forward(&self, request: &ReceivedRequest, body: Bytes) -> WholeResponse {
        let mut headers = Vec::new();
        for name in ["authorization", "content-type", "stripe-version"] {
            if let Some(value) = request.header(name) {
                headers.push((name, value));
            }
        }
        let url = format!("{}{}", self.upstream, request.path_and_query);
        match http::send(&self.client, request.method.clone(), &url, &headers, body).await {
            Ok(answer) => answer,
            Err(error) => stripe_error(
                StatusCode::BAD_GATEWAY,
                "api_error",
                None,
                &format!("localstripe is unreachable: {error}"),
            ),
        }
    }

    async fn forward_and_complete(&self, request: ReceivedRequest) -> WholeResponse {
        let body = request.body.clone();
        let answer = self.forward(&request, body).await;
        self.complete(answer)
    }

    /// Adds what async-stripe requires to every payment intent in an answer.
    fn complete(&self, answer: WholeResponse) -> WholeResponse {
        let Some(mut value) = answer.body_json() else {
            return answer;
        };
        let intents = self.state.lock().expect("proxy lock").intents.clone();
        complete_intents(&mut value, &intents);
        WholeResponse::json(answer.status, &value)
    }

    async fn create_payment_intent(
        &self,
        request: ReceivedRequest,
        form: Vec<(String, String)>,
    ) -> WholeResponse {
        let mut extras = IntentExtras::default();
        let mut kept = Vec::new();
        for (key, value) in form {
            match key.as_str() {
                "description" => extras.description = Some(value),
                "transfer_group" => extras.transfer_group = Some(value),
                "automatic_payment_methods[enabled]" => {
                    extras.automatic_payment_methods = value == "true";
                }
                other if other.starts_with("automatic_payment_methods[") => {}
                _ => kept.push((key, value)),
            }
        }
        if extras.automatic_payment_methods
            && !kept
                .iter()
                .any(|(key, _)| key.starts_with("payment_method_types"))
        {
            kept.push(("payment_method_types[0]".to_owned(), "card".to_owned()));
        }
        let pairs: Vec<(&str, &str)> = kept
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        let answer = self.forward(&request, http::form(&pairs)).await;
        if let Some(id) = answer
            .body_json()
            .and_then(|value| value["id"].as_str().map(str::to_owned))
        {
            self.state
                .lock()
                .expect("proxy lock")
                .intents
                .insert(id, extras);
        }
        self.complete(answer)
    }

    async fn create_refund(
        &self,
        request: ReceivedRequest,
        form: &[(String, String)],
    ) -> WholeResponse {
        if let (Some(intent_id), Some(amount)) = (
            field(form, "payment_intent"),
            field(form, "amount").and_then(|amount| amount.parse::<i64>().ok()),
        ) && let Some(charge) = self.intent_charge(&request, intent_id).await
        {
            let charged = charge["amount"].as_i64().unwrap_or(0);
            let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
            let left = charged - refunded;
            if left <= 0 {
                return stripe_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("charge_already_refunded"),
                    &format!(
                        "Charge {} has already been refunded.",
                        charge["id"].as_str().unwrap_or_default()
                    ),
                );
            }
            if amount > left {
                return stripe_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    Some("amount_too_large"),
                    &format!(
                        "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                        dollars(amount),
                        dollars(left)
                    ),
                );
            }
        }
        let body = request.body.clone();
        let answer = self.forward(&request, body).await;
        self.complete(answer)
    }

    /// The charge of a payment intent, as localstripe holds it.
    async fn intent_charge(&self, request: &ReceivedRequest, intent_id: &str) -> Option<Value> {
        let url = format!("{}/v1/payment_intents/{intent_id}", self.upstream);
        let authorization = request.header("authorization")?;
        let answer = http::send(
            &self.client,
            Method::GET,
            &url,
            &[("authorization", authorization)],
            Bytes::new(),
        )
        .await
        .ok()?;
        let intent = answer.body_json()?;
        let charge = intent.get("latest_charge")?;
        charge.is_object().then(|| charge.clone())
    }

    async fn charge(&self, request: &ReceivedRequest, charge_id: &str) -> Option<Value> {
        let url = format!("{}/v1/charges/{charge_id}", self.upstream);
        let authorization = request.header("authorization")?;
        let answer = http::send(
            &self.client,
            Method::GET,
            &url,
            &[("authorization", authorization)],
            Bytes::new(),
        )
        .await
        .ok()?;
        answer.status.is_success().then(|| answer.body_json())?
    }

    fn create_account(&self, form: &[(String, String)]) -> WholeResponse {
        let account_type = field(form, "type").unwrap_or("standard");
        if !["express", "custom", "standard"].contains(&account_type) {
            return invalid("Invalid type: must be one of custom, express, or standard");
        }
        let country = field(form, "country").unwrap_or("US");
        if country.len() != 2 {
            return invalid(&format!(
                "Country '{country}' is unknown. Try using a 2-character alphanumeric country code instead, such as 'US', 'EG', or 'GB'."
            ));
        }
        let id = random_id("acct_");
        let mut capabilities = serde_json::Map::new();
        if field(form, "capabilities[transfers][requested]") == Some("true") {
            capabilities.insert("transfers".to_owned(), json!("inactive"));
        }
        let account = json!({
            "id": id,
            "object": "account",
            "business_type": null,
            "capabilities": capabilities,
            "charges_enabled": false,
            "country": country,
            "created": now_seconds(),
            "default_currency": "usd",
            "details_submitted": false,
            "email": field(form, "email"),
            "external_accounts": {
                "object": "list",
                "data": [],
                "has_more": false,
                "total_count": 0,
                "url": format!("/v1/accounts/{id}/external_accounts"),
            },
            "metadata": metadata(form),
            "payouts_enabled": false,
            "type": account_type,
        });
        self.connect
            .accounts
            .lock()
            .expect("accounts lock")
            .insert(id, account.clone());
        WholeResponse::json(StatusCode::OK, &account)
    }

    fn account(&self, id: &str) -> WholeResponse {
        match self.connect.accounts.lock().expect("accounts lock").get(id) {
            Some(account) => WholeResponse::json(StatusCode::OK, account),
            None => missing("account", id),
        }
    }

    fn create_account_link(&self, form: &[(String, String)]) -> WholeResponse {
        let Some(account_id) = field(form, "account") else {
            return invalid("Missing required param: account.");
        };
        if !self
            .connect
            .accounts
            .lock()
            .expect("accounts lock")
            .contains_key(account_id)
        {
            return missing("account", account_id);
        }
        let link_type = field(form, "type").unwrap_or_default();
        if !["account_onboarding", "account_update"].contains(&link_type) {
            return invalid("Invalid type: must be one of account_onboarding or account_update");
        }
        for required in ["return_url", "refresh_url"] {
            if field(form, required).is_none() {
                return invalid(&format!("Missing required param: {required}."));
            }
        }
        let created = now_seconds();
        let url = format!(
            "https://connect.stripe.com/setup/e/{account_id}/{}",
            uuid::Uuid::new_v4().simple()
        );
        self.connect
            .onboarding_links
            .lock()
            .expect("links lock")
            .insert(url.clone(), account_id.to_owned());
        WholeResponse::json(
            StatusCode::OK,
            &json!({
                "object": "account_link",
                "created": created,
                "expires_at": created + 300,
                "url": url,
            }),
        )
    }

    async fn create_transfer(
        &self,
        request: &ReceivedRequest,
        form: &[(String, String)],
    ) -> WholeResponse {
        let Some(amount) = field(form, "amount").and_then(|amount| amount.parse::<i64>().ok())
        else {
            return invalid("Missing required param: amount.");
        };
        if amount <= 0 {
            return invalid("This value must be greater than or equal to 1.");
        }
        let Some(currency) = field(form, "currency") else {
            return invalid("Missing required param: currency.");
        };
        let Some(destination) = field(form, "destination") else {
            return invalid("Missing required param: destination.");
        };
        let transfers_active = match self
            .connect
            .accounts
            .lock()
            .expect("accounts lock")
            .get(destination)
        {
            None => return missing("account", destination),
            Some(account) => account["capabilities"]["transfers"] == json!("active"),
        };
        if !transfers_active {
            return invalid(
                "Your destination account needs to have at least one of the following \
                 capabilities enabled: transfers, crypto_transfers, legacy_payments",
            );
        }
        let source_transaction = field(form, "source_transaction");
        if let Some(charge_id) = source_transaction {
            let Some(charge) = self.charge(request, charge_id).await else {
                return missing("charge", charge_id);
            };
            if charge["status"] != json!("succeeded") {
                return invalid(&format!(
                    "The source_transaction {charge_id} has not succeeded."
                ));
            }
            if amount > charge["amount"].as_i64().unwrap_or(0) {
                return invalid(&format!(
                    "The transfer amount ({}) exceeds the amount of the source_transaction \
                     {charge_id}.",
                    dollars(amount)
                ));
            }
        }
        let id = random_id("tr_");
        let transfer = json!({
            "id": id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": random_id("txn_"),
            "created": now_seconds(),
            "currency": currency,
            "description": null,
            "destination": destination,
            "destination_payment": random_id("py_"),
            "livemode": false,
            "metadata": metadata(form),
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": false,
                "total_count": 0,
                "url": format!("/v1/transfers/{id}/reversals"),
            },
            "reversed": false,
            "source_transaction": source_transaction,
            "source_type": "card",
            "transfer_group": field(form, "transfer_group"),
        });
        self.connect
            .transfers
            .lock()
            .expect("transfers lock")
            .insert(id, transfer.clone());
        WholeResponse::json(StatusCode::OK, &transfer)
    }

    fn transfer(&self, id: &str) -> WholeResponse {
        match self
            .connect
            .transfers
            .lock()
            .expect("transfers lock")
            .get(id)
        {
            Some(transfer) => WholeResponse::json(StatusCode::OK, transfer),
            None => missing("transfer", id),
        }
    }

    fn create_reversal(&self, transfer_id: &str, form: &[(String, String)]) -> WholeResponse {
        let mut transfers = self.connect.transfers.lock().expect("transfers lock");
        let Some(transfer) = transfers.get_mut(transfer_id) else {
            return missing("transfer", transfer_id);
        };
        let total = transfer["amount"].as_i64().unwrap_or(0);
        let reversed = transfer["amount_reversed"].as_i64().unwrap_or(0);
        let left = total - reversed;
        let amount = match field(form, "amount") {
            None => left,
            Some(raw) => match raw.parse::<i64>() {
                Ok(amount) if amount > 0 => amount,
                _ => return invalid("This value must be greater than or equal to 1."),
            },
        };
        if amount > left {
            return invalid(&format!(
                "The reversal amount ({}) is greater than the amount left on the transfer ({}).",
                dollars(amount),
                dollars(left)
            ));
        }
        let reversal = json!({
            "id": random_id("trr_"),
            "object": "transfer_reversal",
            "amount": amount,
            "balance_transaction": random_id("txn_"),
            "created": now_seconds(),
            "currency": transfer["currency"].clone(),
            "destination_payment_refund": random_id("pyr_"),
            "metadata": metadata(form),
            "source_refund": null,
            "transfer": transfer_id,
        });
        transfer["amount_reversed"] = json!(reversed + amount);
        transfer["reversed"] = json!(reversed + amount == total);
        if let Some(list) = transfer["reversals"]["data"].as_array_mut() {
            list.insert(0, reversal.clone());
        }
        let count = transfer["reversals"]["data"].as_array().map_or(0, Vec::len);
        transfer["reversals"]["total_count"] = json!(count);
        WholeResponse::json(StatusCode::OK, &reversal)
    }
}

/// Completes every payment intent inside `value` (itself, a list's data, an event's
/// object), in place.
fn complete_intents(value: &mut Value, intents: &HashMap<String, IntentExtras>) {
    match value {
        Value::Array(items) => {
            for item in items {
                complete_intents(item, intents);
            }
        }
        Value::Object(object) => {
            if object.get("object") == Some(&json!("payment_intent")) {
                complete_intent(object, intents);
            } else {
                for (_, nested) in object.iter_mut() {
                    complete_intents(nested, intents);
                }
            }
        }
        _ => {}
    }
}

fn complete_intent(
    intent: &mut serde_json::Map<String, Value>,
    intents: &HashMap<String, IntentExtras>,
) {
    let amount = intent.get("amount").and_then(Value::as_i64).unwrap_or(0);
    let succeeded = intent.get("status") == Some(&json!("succeeded"));
    intent.entry("amount_capturable").or_insert(json!(0));
    intent
        .entry("amount_received")
        .or_insert(json!(if succeeded { amount } else { 0 }));
    intent
        .entry("confirmation_method")
        .or_insert(json!("automatic"));
    intent
        .entry("payment_method_types")
        .or_insert(json!(["card"]));
    if let Some(charge) = intent.get("latest_charge")
        && let Some(charge_id) = charge.get("id").cloned()
    {
        intent.insert("latest_charge".to_owned(), charge_id);
    }
    if let Some(Value::Object(error)) = intent.get_mut("last_payment_error")
        && !error.contains_key("type")
    {
        let kind = if error.get("code") == Some(&json!("card_declined")) {
            "card_error"
        } else {
            "invalid_request_error"
        };
        error.insert("type".to_owned(), json!(kind));
    }
    let id = intent
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(extras) = intents.get(&id) {
        if let Some(description) = &extras.description {
            intent.insert("description".to_owned(), json!(description));
        }
        if let Some(group) = &extras.transfer_group {
            intent.insert("transfer_group".to_owned(), json!(group));
        }
        if extras.automatic_payment_methods {
            intent.insert(
                "automatic_payment_methods".to_owned(),
                json!({ "enabled": true, "allow_redirects": "always" }),
            );
        }
    }
}
