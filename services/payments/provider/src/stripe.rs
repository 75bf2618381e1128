//! The Stripe adapter of [`PaymentProvider`], through `async-stripe` (hyper with rustls):
//! payment intents with automatic capture, `transfer_group` and `metadata[order_id]` = the
//! order id; refunds by payment intent; Connect Express accounts with the `transfers`
//! capability, onboarding account links, transfers with `source_transaction` and their
//! reversals. Every POST carries the caller's idempotency key (`Idempotency-Key`), so a
//! retried call returns what the first one made. Stripe's answers map to
//! [`ProviderError`]: a card or request error is `Refused` with Stripe's message, a
//! connection failure, a 5xx, 409 or 429 is `Unavailable`, anything unreadable `Internal`.
//! Webhooks are verified by [`crate::webhook`] with the endpoint's signing secret.

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use gigmesh_types::{Currency, Money};
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_connect::account::{
    CreateAccount, CreateAccountCapabilities, CreateAccountCapabilitiesTransfers,
    CreateAccountType, RetrieveAccount,
};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use stripe_connect::transfer::{CreateTransfer, RetrieveTransfer};
use stripe_connect::transfer_reversal::CreateIdTransferReversal;
use stripe_core::payment_intent::{
    CancelPaymentIntent, CreatePaymentIntent, CreatePaymentIntentAutomaticPaymentMethods,
    RetrievePaymentIntent,
};
use stripe_core::refund::CreateRefund;
use stripe_shared::{
    Account, AccountCapabilitiesStatus, PaymentIntent, PaymentIntentCaptureMethod,
    PaymentIntentStatus, Refund, Transfer,
};
use tracing::instrument;

use crate::webhook::{self, WebhookError, WebhookEvent};
use crate::{
    ConnectedAccount, NewConnectedAccount, NewPayment, NewRefund, NewTransfer, PaymentProvider,
    ProviderError, ProviderPayment, ProviderPaymentStatus, ProviderRefund, ProviderTransfer,
};

/// Stripe's live API.
pub const DEFAULT_API_BASE_URL: &str = "https://api.stripe.com";

/// How the adapter reaches Stripe.
#[derive(Clone)]
pub struct StripeSettings {
    /// The platform's secret key (`sk_live_…` or `sk_test_…`).
    pub api_key: String,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: String,
    /// Where the API is: [`DEFAULT_API_BASE_URL`] unless a test points it elsewhere.
    pub api_base_url: String,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("StripeSettings")
            .field("api_key", &"[redacted]")
            .field("webhook_secret", &"[redacted]")
            .field("api_base_url", &self.api_base_url)
            .finish()
    }
}

/// The Stripe payment provider.
#[derive(Clone)]
pub struct StripeProvider {
    client: Client,
    webhook_secret: String,
}

impl StripeProvider {
    /// A provider calling Stripe at `settings.api_base_url` with `settings.api_key`.
    pub fn new(settings: StripeSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !settings.api_key.trim().is_empty(),
            "the Stripe API key is empty"
        );
        anyhow::ensure!(
            !settings.webhook_secret.is_empty(),
            "the Stripe webhook secret is empty"
        );
        ensure_tls_crypto_provider();
        // The client appends "v1/…" to the base, which must end in exactly one '/'.
        let api_base = format!("{}/", settings.api_base_url.trim_end_matches('/'));
        let client = ClientBuilder::new(settings.api_key)
            .url(api_base)
            .request_strategy(RequestStrategy::Once)
            .build()
            .map_err(|error| anyhow::anyhow!("cannot build the Stripe client: {error}"))?;
        Ok(Self {
            client,
            webhook_secret: settings.webhook_secret,
        })
    }
}

/// Makes sure rustls has a process-wide crypto provider before the client's TLS
/// connector is built: rustls picks one by itself only when exactly one of its providers
/// is compiled in, and the gigmesh binary compiles in two. Ring is the one the workspace
/// uses everywhere else; a provider installed earlier is kept.
fn ensure_tls_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: then that one is the default.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The strategy that sends `key` as the request's `Idempotency-Key`.
fn idempotent(key: &str) -> Result<RequestStrategy, ProviderError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|error| ProviderError::Refused(format!("invalid idempotency key: {error}")))
}

/// Stripe's lower-case currency for a [`Currency`].
fn stripe_currency(currency: Currency) -> stripe_types::Currency {
    let code = currency.code().to_ascii_lowercase();
    match stripe_types::Currency::from_str(&code) {
        Ok(known) => known,
        Err(never) => match never {},
    }
}

/// The [`Money`] of a Stripe amount and currency.
fn money(amount: i64, currency: &stripe_types::Currency) -> Result<Money, ProviderError> {
    let code = currency.to_string();
    let currency = Currency::from_code(&code).ok_or_else(|| {
        ProviderError::Internal(anyhow::anyhow!(
            "stripe answered with an unknown currency {code:?}"
        ))
    })?;
    Ok(Money::new(amount, currency))
}

/// What a Stripe failure means to the caller.
fn provider_error(error: StripeError) -> ProviderError {
    match error {
        StripeError::Stripe(details, status) => {
            let message = details
                .message
                .clone()
                .unwrap_or_else(|| format!("stripe answered {status} ({})", details.type_));
            match status {
                401 | 403 => ProviderError::Internal(anyhow::anyhow!(
                    "stripe refused the platform's credentials ({status}): {message}"
                )),
                409 | 429 => {
                    ProviderError::Unavailable(format!("stripe answered {status}: {message}"))
                }
                400..=499 => ProviderError::Refused(message),
                _ => ProviderError::Unavailable(format!("stripe answered {status}: {message}")),
            }
        }
        StripeError::ClientError(reason) => {
            ProviderError::Unavailable(format!("cannot reach stripe: {reason}"))
        }
        StripeError::Timeout => ProviderError::Unavailable("stripe did not answer in time".into()),
        StripeError::JSONDeserialize(reason) => {
            ProviderError::Internal(anyhow::anyhow!("stripe's answer does not parse: {reason}"))
        }
        StripeError::ConfigError(reason) => ProviderError::Internal(anyhow::anyhow!(
            "the Stripe client is misconfigured: {reason}"
        )),
    }
}

/// Where a payment intent stands, as the port says it.
fn payment_status(status: &PaymentIntentStatus) -> Result<ProviderPaymentStatus, ProviderError> {
    Ok(match status {
        PaymentIntentStatus::RequiresPaymentMethod => ProviderPaymentStatus::RequiresPaymentMethod,
        // Confirmation is the buyer's client's step, like entering a card.
        PaymentIntentStatus::RequiresConfirmation => ProviderPaymentStatus::RequiresPaymentMethod,
        PaymentIntentStatus::RequiresAction => ProviderPaymentStatus::RequiresAction,
        // Automatic capture never stops at requires_capture; if it does, it is being processed.
        PaymentIntentStatus::Processing | PaymentIntentStatus::RequiresCapture => {
            ProviderPaymentStatus::Processing
        }
        PaymentIntentStatus::Succeeded => ProviderPaymentStatus::Succeeded,
        PaymentIntentStatus::Canceled => ProviderPaymentStatus::Canceled,
        other => {
            return Err(ProviderError::Internal(anyhow::anyhow!(
                "stripe answered an unknown payment intent status {:?}",
                other.as_str()
            )));
        }
    })
}

fn provider_payment(intent: PaymentIntent) -> Result<ProviderPayment, ProviderError> {
    let status = payment_status(&intent.status)?;
    Ok(ProviderPayment {
        id: intent.id.as_str().to_owned(),
        client_secret: intent.client_secret.unwrap_or_default(),
        amount: money(intent.amount, &intent.currency)?,
        status,
        last_error: intent
            .last_payment_error
            .and_then(|error| error.message.clone()),
        charge_id: intent
            .latest_charge
            .map(|charge| charge.id().as_str().to_owned()),
        order_id: intent.metadata.get("order_id").cloned().unwrap_or_default(),
    })
}

fn provider_refund(refund: Refund, payment_id: &str) -> Result<ProviderRefund, ProviderError> {
    Ok(ProviderRefund {
        id: refund.id.as_str().to_owned(),
        payment_id: refund
            .payment_intent
            .map(|intent| intent.id().as_str().to_owned())
            .unwrap_or_else(|| payment_id.to_owned()),
        amount: money(refund.amount, &refund.currency)?,
        succeeded: refund.status.as_deref() == Some("succeeded"),
    })
}

fn connected_account(account: Account) -> ConnectedAccount {
    let transfers_enabled = account
        .capabilities
        .and_then(|capabilities| capabilities.transfers)
        .is_some_and(|status| status == AccountCapabilitiesStatus::Active);
    ConnectedAccount {
        id: account.id.as_str().to_owned(),
        transfers_enabled,
    }
}

fn provider_transfer(transfer: Transfer) -> Result<ProviderTransfer, ProviderError> {
    Ok(ProviderTransfer {
        id: transfer.id.as_str().to_owned(),
        account_id: transfer
            .destination
            .map(|account| account.id().as_str().to_owned())
            .unwrap_or_default(),
        amount: money(transfer.amount, &transfer.currency)?,
        amount_reversed: money(transfer.amount_reversed, &transfer.currency)?,
    })
}

#[async_trait]
impl PaymentProvider for StripeProvider {
    fn name(&self) -> &'static str {
        "stripe"
    }

    #[instrument(skip_all, fields(order_id = %payment.order_id))]
    async fn create_payment(&self, payment: NewPayment) -> Result<ProviderPayment, ProviderError> {
        let intent = CreatePaymentIntent::new(
            payment.amount.amount_minor,
            stripe_currency(payment.amount.currency),
        )
        .capture_method(PaymentIntentCaptureMethod::Automatic)
        .automatic_payment_methods(CreatePaymentIntentAutomaticPaymentMethods::new(true))
        .description(payment.description)
        .transfer_group(payment.order_id.clone())
        .metadata(HashMap::from([(
            "order_id".to_owned(),
            payment.order_id.clone(),
        )]))
        .customize()
        .request_strategy(idempotent(&payment.idempotency_key)?)
        .send(&self.client)
        .await
        .map_err(provider_error)?;
        tracing::info!(payment_id = %intent.id, "stripe payment intent created");
        provider_payment(intent)
    }

    #[instrument(skip_all, fields(payment_id))]
    async fn retrieve_payment(&self, payment_id: &str) -> Result<ProviderPayment, ProviderError> {
        let intent = RetrievePaymentIntent::new(payment_id)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        provider_payment(intent)
    }

    #[instrument(skip_all, fields(payment_id))]
    async fn cancel_payment(
        &self,
        payment_id: &str,
        idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError> {
        let cancelled = CancelPaymentIntent::new(payment_id)
            .customize()
            .request_strategy(idempotent(idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(provider_error);
        match cancelled {
            Ok(intent) => provider_payment(intent),
            // Stripe refuses to cancel a cancelled intent; the port calls that no error.
            Err(ProviderError::Refused(message)) => {
                let current = self.retrieve_payment(payment_id).await?;
                if current.status == ProviderPaymentStatus::Canceled {
                    Ok(current)
                } else {
                    Err(ProviderError::Refused(message))
                }
            }
            Err(other) => Err(other),
        }
    }

    #[instrument(skip_all, fields(payment_id = %refund.payment_id))]
    async fn refund(&self, refund: NewRefund) -> Result<ProviderRefund, ProviderError> {
        let made = CreateRefund::new()
            .payment_intent(refund.payment_id.clone())
            .amount(refund.amount.amount_minor)
            .customize()
            .request_strategy(idempotent(&refund.idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        tracing::info!(refund_id = %made.id, "stripe refund created");
        provider_refund(made, &refund.payment_id)
    }

    #[instrument(skip_all, fields(seller_id = %account.seller_id))]
    async fn create_connected_account(
        &self,
        account: NewConnectedAccount,
    ) -> Result<ConnectedAccount, ProviderError> {
        let mut capabilities = CreateAccountCapabilities::new();
        capabilities.transfers = Some(CreateAccountCapabilitiesTransfers {
            requested: Some(true),
        });
        let mut request = CreateAccount::new()
            .type_(CreateAccountType::Express)
            .country(account.country)
            .capabilities(capabilities)
            .metadata(HashMap::from([(
                "seller_id".to_owned(),
                account.seller_id.clone(),
            )]));
        if let Some(email) = account.email {
            request = request.email(email);
        }
        let created = request
            .customize()
            .request_strategy(idempotent(&account.idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        tracing::info!(account_id = %created.id, "stripe connected account created");
        Ok(connected_account(created))
    }

    #[instrument(skip_all, fields(account_id))]
    async fn retrieve_connected_account(
        &self,
        account_id: &str,
    ) -> Result<ConnectedAccount, ProviderError> {
        let account = RetrieveAccount::new(account_id)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        Ok(connected_account(account))
    }

    #[instrument(skip_all, fields(account_id))]
    async fn onboarding_link(
        &self,
        account_id: &str,
        return_url: &str,
        refresh_url: &str,
    ) -> Result<String, ProviderError> {
        // An account link is single-use and short-lived; each call asks for a fresh one, so
        // a key unique to this call is what keeps a retried POST from making two.
        let key = format!("account-link-{account_id}-{}", uuid::Uuid::now_v7());
        let link = CreateAccountLink::new(account_id, CreateAccountLinkType::AccountOnboarding)
            .return_url(return_url)
            .refresh_url(refresh_url)
            .customize()
            .request_strategy(idempotent(&key)?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        Ok(link.url)
    }

    #[instrument(skip_all, fields(account_id = %transfer.account_id, transfer_group = %transfer.transfer_group))]
    async fn transfer(&self, transfer: NewTransfer) -> Result<ProviderTransfer, ProviderError> {
        let mut request = CreateTransfer::new(
            stripe_currency(transfer.amount.currency),
            transfer.account_id.clone(),
        )
        .amount(transfer.amount.amount_minor)
        .transfer_group(transfer.transfer_group);
        if let Some(charge_id) = transfer.source_transaction {
            request = request.source_transaction(charge_id);
        }
        let made = request
            .customize()
            .request_strategy(idempotent(&transfer.idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        tracing::info!(transfer_id = %made.id, "stripe transfer created");
        provider_transfer(made)
    }

    #[instrument(skip_all, fields(transfer_id))]
    async fn reverse_transfer(
        &self,
        transfer_id: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<ProviderTransfer, ProviderError> {
        let reversal = CreateIdTransferReversal::new(transfer_id)
            .amount(amount.amount_minor)
            .customize()
            .request_strategy(idempotent(idempotency_key)?)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        tracing::info!(reversal_id = %reversal.id, "stripe transfer reversed");
        let transfer = RetrieveTransfer::new(transfer_id)
            .send(&self.client)
            .await
            .map_err(provider_error)?;
        provider_transfer(transfer)
    }

    fn verify_webhook(
        &self,
        payload: &[u8],
        signature_header: &str,
        now_seconds: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        webhook::verify(&self.webhook_secret, payload, signature_header, now_seconds)?;
        webhook::parse_event(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Stripe error answer, read the way the client reads one.
    fn api_error(status: u16, message: &str) -> StripeError {
        let body =
            format!(r#"{{"error":{{"type":"invalid_request_error","message":"{message}"}}}}"#);
        let answer: stripe_shared::Error = miniserde::json::from_str(&body).expect("an api error");
        StripeError::Stripe(answer.error, status)
    }

    #[test]
    fn request_and_card_errors_are_refusals_with_stripes_message() {
        assert!(matches!(
            provider_error(api_error(400, "Refund amount is greater than unrefunded amount")),
            ProviderError::Refused(message) if message == "Refund amount is greater than unrefunded amount"
        ));
        assert!(matches!(
            provider_error(api_error(402, "Your card was declined.")),
            ProviderError::Refused(message) if message == "Your card was declined."
        ));
        assert!(matches!(
            provider_error(api_error(404, "No such payment_intent: 'pi_x'")),
            ProviderError::Refused(_)
        ));
    }

    #[test]
    fn overload_and_outage_are_unavailable() {
        for status in [409, 429, 500, 502, 503] {
            assert!(
                matches!(
                    provider_error(api_error(status, "try again")),
                    ProviderError::Unavailable(_)
                ),
                "{status} is retryable"
            );
        }
        assert!(matches!(
            provider_error(StripeError::ClientError("connection refused".into())),
            ProviderError::Unavailable(_)
        ));
        assert!(matches!(
            provider_error(StripeError::Timeout),
            ProviderError::Unavailable(_)
        ));
    }

    #[test]
    fn bad_credentials_and_unreadable_answers_are_internal() {
        assert!(matches!(
            provider_error(api_error(401, "Invalid API Key provided")),
            ProviderError::Internal(_)
        ));
        assert!(matches!(
            provider_error(StripeError::JSONDeserialize("missing field".into())),
            ProviderError::Internal(_)
        ));
    }

    #[test]
    fn statuses_map_to_the_port() {
        assert_eq!(
            payment_status(&PaymentIntentStatus::RequiresConfirmation).expect("known"),
            ProviderPaymentStatus::RequiresPaymentMethod
        );
        assert_eq!(
            payment_status(&PaymentIntentStatus::Succeeded).expect("known"),
            ProviderPaymentStatus::Succeeded
        );
        assert!(payment_status(&PaymentIntentStatus::Unknown("new".into())).is_err());
    }

    #[test]
    fn currencies_round_trip() {
        let eur = Currency::from_code("EUR").expect("EUR");
        let stripe_eur = stripe_currency(eur);
        assert_eq!(stripe_eur.to_string(), "eur");
        assert_eq!(
            money(1_250, &stripe_eur).expect("known"),
            Money::new(1_250, eur)
        );
    }

    #[test]
    fn settings_never_print_secrets() {
        let settings = StripeSettings {
            api_key: "sk_test_secret".into(),
            webhook_secret: "whsec_secret".into(),
            api_base_url: DEFAULT_API_BASE_URL.into(),
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("sk_test_secret") && !printed.contains("whsec_secret"));
    }
}
