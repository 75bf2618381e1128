//! The payment provider port of the payment service: everything payments asks of the
//! company that moves the money — payments with a client secret for the buyer's client,
//! refunds, connected accounts for sellers, transfers to them and their reversals — and
//! the provider's signed webhooks, verified before anything in them is believed.
//!
//! Two adapters implement [`PaymentProvider`] and pass one behaviour suite:
//! - [`sandbox`]: the embedded default. It keeps its payments in the payment service's
//!   database, pays them with test cards, and delivers signed webhooks exactly as Stripe
//!   would, so `gigmesh dev` takes payments with no account anywhere.
//! - [`stripe`]: Stripe through `async-stripe` (payment intents with automatic capture and
//!   `transfer_group` = the order id, Connect Express accounts, transfers with
//!   `source_transaction`), an idempotency key on every POST.
//!
//! Amounts are [`Money`] in minor units; ids are the provider's own strings.

pub mod behaviour;
pub mod sandbox;
pub mod stripe;
pub mod webhook;

use async_trait::async_trait;
use gigmesh_types::Money;

pub use webhook::{WebhookError, WebhookEvent, WebhookKind};

/// Where a payment stands at the provider (Stripe's PaymentIntent statuses that matter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderPaymentStatus {
    /// Waiting for a payment method (new, or the last attempt was declined).
    RequiresPaymentMethod,
    /// Waiting for the buyer's authentication (3-D Secure).
    RequiresAction,
    /// Being processed.
    Processing,
    /// Paid and captured.
    Succeeded,
    /// Given up; it cannot be paid any more.
    Canceled,
}

/// A payment as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPayment {
    /// The provider's id (a PaymentIntent id, `pi_…`).
    pub id: String,
    /// What the buyer's client confirms the payment with.
    pub client_secret: String,
    /// What is to be (or was) paid.
    pub amount: Money,
    /// Where it stands.
    pub status: ProviderPaymentStatus,
    /// The last decline or error message, for the buyer.
    pub last_error: Option<String>,
    /// The charge that captured it, once succeeded (`ch_…`): the `source_transaction` of
    /// the transfers its money pays for.
    pub charge_id: Option<String>,
    /// The order it pays for (`metadata.order_id`).
    pub order_id: String,
}

/// A payment to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    /// The order it pays for: metadata, and the `transfer_group` of its transfers.
    pub order_id: String,
    /// What the buyer pays.
    pub amount: Money,
    /// One line the buyer's statement and the provider's dashboard show.
    pub description: String,
    /// The same key returns the same payment.
    pub idempotency_key: String,
}

/// A refund to make, of (part of) a succeeded payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    /// The provider's payment id.
    pub payment_id: String,
    /// How much, at most what is left unrefunded.
    pub amount: Money,
    /// The same key returns the same refund.
    pub idempotency_key: String,
}

/// A refund as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRefund {
    /// The provider's id (`re_…`).
    pub id: String,
    /// The refunded payment.
    pub payment_id: String,
    /// How much.
    pub amount: Money,
    /// Whether it went through (`succeeded`), or is still pending.
    pub succeeded: bool,
}

/// A seller's account at the provider, that transfers pay into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedAccount {
    /// The provider's id (`acct_…`).
    pub id: String,
    /// Whether the provider lets it receive transfers (onboarding done).
    pub transfers_enabled: bool,
}

/// A connected account to open for a seller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConnectedAccount {
    /// The seller (metadata).
    pub seller_id: String,
    /// The seller's email address, when known.
    pub email: Option<String>,
    /// Two-letter country, e.g. "US".
    pub country: String,
    /// The same key returns the same account.
    pub idempotency_key: String,
}

/// A transfer to make from the platform to a connected account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransfer {
    /// The receiving account.
    pub account_id: String,
    /// How much.
    pub amount: Money,
    /// Groups the transfer with its order (or withdrawal).
    pub transfer_group: String,
    /// The charge whose money it moves, when it pays for one order's payment.
    pub source_transaction: Option<String>,
    /// The same key returns the same transfer.
    pub idempotency_key: String,
}

/// A transfer as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderTransfer {
    /// The provider's id (`tr_…`).
    pub id: String,
    /// The receiving account.
    pub account_id: String,
    /// How much.
    pub amount: Money,
    /// How much of it was reversed.
    pub amount_reversed: Money,
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the request as made (unknown id, amount too large, card
    /// declined at creation): the caller's input is wrong, retrying will not help.
    #[error("the payment provider refused the request: {0}")]
    Refused(String),
    /// The provider could not be reached or failed; the same call (same idempotency key)
    /// may be retried.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// Anything else unexpected (a response that does not parse, a local database error).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The payment provider, as the payment service uses it. Every call that creates
/// something takes an idempotency key: the same key returns what the first call made.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// The provider's name in APIs and logs: `sandbox` or `stripe`.
    fn name(&self) -> &'static str;

    /// Creates a payment for an order (automatic capture), for the buyer's client to
    /// confirm with its client secret.
    async fn create_payment(&self, payment: NewPayment) -> Result<ProviderPayment, ProviderError>;

    /// Reads a payment as the provider holds it now.
    async fn retrieve_payment(&self, payment_id: &str) -> Result<ProviderPayment, ProviderError>;

    /// Cancels a payment that has not succeeded; cancelling one already cancelled is no
    /// error.
    async fn cancel_payment(
        &self,
        payment_id: &str,
        idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError>;

    /// Refunds (part of) a succeeded payment.
    async fn refund(&self, refund: NewRefund) -> Result<ProviderRefund, ProviderError>;

    /// Opens a connected account for a seller.
    async fn create_connected_account(
        &self,
        account: NewConnectedAccount,
    ) -> Result<ConnectedAccount, ProviderError>;

    /// Reads a connected account.
    async fn retrieve_connected_account(
        &self,
        account_id: &str,
    ) -> Result<ConnectedAccount, ProviderError>;

    /// A link where the seller finishes the account's onboarding, returning to
    /// `return_url` (or `refresh_url` when the link expired).
    async fn onboarding_link(
        &self,
        account_id: &str,
        return_url: &str,
        refresh_url: &str,
    ) -> Result<String, ProviderError>;

    /// Transfers from the platform's balance to a connected account.
    async fn transfer(&self, transfer: NewTransfer) -> Result<ProviderTransfer, ProviderError>;

    /// Reverses (part of) a transfer back to the platform.
    async fn reverse_transfer(
        &self,
        transfer_id: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<ProviderTransfer, ProviderError>;

    /// Verifies a webhook's `Stripe-Signature` header over its raw `payload` at
    /// `now_seconds` and reads the event; nothing unverified is returned.
    fn verify_webhook(
        &self,
        payload: &[u8],
        signature_header: &str,
        now_seconds: i64,
    ) -> Result<WebhookEvent, WebhookError>;
}
