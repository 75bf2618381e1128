//! The sandbox payment provider: the embedded default. It keeps payment intents, charges,
//! refunds, connected accounts, transfers and their reversals in its own tables of the
//! payment service's database ([`SANDBOX_MIGRATIONS`], versions 1001 and up), pays with
//! test cards as a card form would, honours idempotency keys (the same key returns the same
//! object), and queues a webhook event in Stripe's JSON shape for every state change,
//! signed with [`webhook::sign`] when [`SandboxWebhookDelivery`] delivers it — so
//! `gigmesh dev` takes payments with no account anywhere, through the same verify-then-act
//! path as Stripe.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gigmesh_db::{Backend, Db, DbError, Tx, get_bool};
use gigmesh_types::{Clock, Currency, Money};
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use serde_json::{Value, json};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tokio_util::sync::CancellationToken;

use crate::{
    ConnectedAccount, NewConnectedAccount, NewPayment, NewRefund, NewTransfer, PaymentProvider,
    ProviderError, ProviderPayment, ProviderPaymentStatus, ProviderRefund, ProviderTransfer,
    WebhookError, WebhookEvent, webhook,
};

/// The sandbox's own tables (versions 1001 and up, clear of the payment service's).
pub static SANDBOX_MIGRATIONS: gigmesh_db::Migrations = gigmesh_db::migrations!();

/// A test card that pays.
pub const TEST_CARD_SUCCEEDS: &str = "4242424242424242";
/// A test card that is declined.
pub const TEST_CARD_DECLINED: &str = "4000000000000002";
/// A test card that asks for the buyer's authentication first.
pub const TEST_CARD_NEEDS_AUTHENTICATION: &str = "4000002500003155";

/// What a declined test card says, as Stripe says it.
pub const DECLINE_MESSAGE: &str = "Your card was declined.";
/// What a failed authentication says, as Stripe says it.
pub const AUTHENTICATION_FAILED_MESSAGE: &str = "We are unable to authenticate your payment \
     method. Please choose a different payment method and try again.";

/// How long a delivery claims an event before another replica may try it.
const DELIVERY_LEASE_MILLIS: i64 = 30_000;
/// The first retry's delay; it doubles with every failure up to [`MAX_RETRY_DELAY_MILLIS`].
const FIRST_RETRY_DELAY_MILLIS: i64 = 1_000;
/// The longest wait between two attempts of one event.
const MAX_RETRY_DELAY_MILLIS: i64 = 3_600_000;
/// How many events one delivery step reads.
const DELIVERY_BATCH: i64 = 100;
/// How often the delivery loop looks for due events when no new one was queued: a commit
/// that queued one wakes it at once, so the poll only finds retries coming due and events
/// queued by another replica.
const DELIVERY_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The sandbox provider. Cloning shares its database.
#[derive(Clone)]
pub struct SandboxProvider {
    db: Db,
    clock: Clock,
    webhook_secret: Arc<str>,
}

impl std::fmt::Debug for SandboxProvider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SandboxProvider")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// What a confirmation with a test card did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfirmation {
    /// Where the payment stands now.
    pub status: ProviderPaymentStatus,
    /// Why the card was declined (or its authentication failed), when it was.
    pub decline_message: Option<String>,
}

/// Why a sandbox confirmation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// No such payment.
    #[error("no such payment")]
    NotFound,
    /// The client secret is not the payment's.
    #[error("the client secret does not match the payment")]
    WrongSecret,
    /// The card number is none of the test cards.
    #[error("{0} is not a sandbox test card")]
    UnknownCard(String),
    /// The payment cannot be paid any more.
    #[error("the payment is already final ({0:?})")]
    AlreadyFinal(ProviderPaymentStatus),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for SandboxError {
    fn from(error: sqlx::Error) -> Self {
        Self::Db(error.into())
    }
}

/// Where the sandbox delivers its signed webhooks (the payment service's own webhook
/// handling, in-process).
#[async_trait]
pub trait WebhookSink: Send + Sync {
    /// Delivers one webhook: its raw body and its `Stripe-Signature` header. An error
    /// means "not received"; the event is tried again later.
    async fn deliver(&self, payload: Vec<u8>, signature_header: String) -> Result<(), String>;
}

/// The loop that delivers the sandbox's queued webhooks, oldest first, retrying failed
/// ones with a growing delay; each event is claimed before delivery, so replicas sharing
/// the database do not deliver it twice at once.
pub struct SandboxWebhookDelivery {
    provider: SandboxProvider,
    sink: Arc<dyn WebhookSink>,
}

impl std::fmt::Debug for SandboxWebhookDelivery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SandboxWebhookDelivery")
            .finish_non_exhaustive()
    }
}

/// A payment intent row.
#[derive(Debug, Clone)]
struct PaymentRow {
    id: String,
    client_secret: String,
    order_id: String,
    description: String,
    amount: Money,
    status: ProviderPaymentStatus,
    last_error: Option<String>,
    charge_id: Option<String>,
    amount_refunded_minor: i64,
    create_time: i64,
}

impl PaymentRow {
    fn to_provider(&self) -> ProviderPayment {
        ProviderPayment {
            id: self.id.clone(),
            client_secret: self.client_secret.clone(),
            amount: self.amount,
            status: self.status,
            last_error: self.last_error.clone(),
            charge_id: self.charge_id.clone(),
            order_id: self.order_id.clone(),
        }
    }

    /// The payment intent as Stripe's JSON shows it.
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount.amount_minor,
            "amount_received": if self.status == ProviderPaymentStatus::Succeeded {
                self.amount.amount_minor
            } else {
                0
            },
            "currency": self.amount.currency.code().to_ascii_lowercase(),
            "status": status_str(self.status),
            "description": self.description,
            "capture_method": "automatic",
            "created": self.create_time / 1000,
            "livemode": false,
            "metadata": { "order_id": self.order_id },
            "transfer_group": self.order_id,
            "latest_charge": self.charge_id,
            "last_payment_error": self.last_error.as_ref().map(|message| json!({
                "type": "card_error",
                "message": message,
            })),
        })
    }

    /// Its charge as Stripe's JSON shows it (`charge.refunded`).
    fn charge_json(&self) -> Value {
        json!({
            "id": self.charge_id,
            "object": "charge",
            "amount": self.amount.amount_minor,
            "amount_refunded": self.amount_refunded_minor,
            "currency": self.amount.currency.code().to_ascii_lowercase(),
            "payment_intent": self.id,
            "refunded": self.amount_refunded_minor >= self.amount.amount_minor,
            "status": "succeeded",
            "metadata": { "order_id": self.order_id },
        })
    }
}

fn status_str(status: ProviderPaymentStatus) -> &'static str {
    match status {
        ProviderPaymentStatus::RequiresPaymentMethod => "requires_payment_method",
        ProviderPaymentStatus::RequiresAction => "requires_action",
        ProviderPaymentStatus::Processing => "processing",
        ProviderPaymentStatus::Succeeded => "succeeded",
        ProviderPaymentStatus::Canceled => "canceled",
    }
}

fn parse_status(raw: &str) -> Result<ProviderPaymentStatus, anyhow::Error> {
    Ok(match raw {
        "requires_payment_method" => ProviderPaymentStatus::RequiresPaymentMethod,
        "requires_action" => ProviderPaymentStatus::RequiresAction,
        "processing" => ProviderPaymentStatus::Processing,
        "succeeded" => ProviderPaymentStatus::Succeeded,
        "canceled" => ProviderPaymentStatus::Canceled,
        other => anyhow::bail!("unknown sandbox payment status {other:?}"),
    })
}

fn money(amount_minor: i64, currency: &str) -> Result<Money, anyhow::Error> {
    let currency = Currency::from_code(currency)
        .ok_or_else(|| anyhow::anyhow!("unknown currency {currency:?} in the sandbox"))?;
    Ok(Money::new(amount_minor, currency))
}

/// A new id in Stripe's manner: `prefix_` and 24 letters and digits.
fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_alphanumeric(24))
}

fn random_alphanumeric(length: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(length)
        .map(char::from)
        .collect()
}

/// Compares two secrets in time independent of where they differ.
fn secrets_match(left: &str, right: &str) -> bool {
    let (left, right) = (left.as_bytes(), right.as_bytes());
    left.len() == right.len()
        && left
            .iter()
            .zip(right)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// The card number as typed, without spaces and dashes.
fn normalised_card(card_number: &str) -> String {
    card_number
        .chars()
        .filter(|character| !character.is_whitespace() && *character != '-')
        .collect()
}

/// A card number fit for an error message: its last four digits only.
fn masked_card(card: &str) -> String {
    let digits: Vec<char> = card.chars().collect();
    if digits.len() <= 4 {
        return "the card".to_owned();
    }
    let last_four: String = digits[digits.len() - 4..].iter().collect();
    format!("the card ending in {last_four}")
}

fn db_error(error: impl Into<DbError>) -> ProviderError {
    ProviderError::Internal(anyhow::Error::new(error.into()))
}

fn refused(message: impl Into<String>) -> ProviderError {
    ProviderError::Refused(message.into())
}

/// What a confirmation does to a payment.
enum CardOutcome {
    Succeed,
    Fail(&'static str),
    RequireAction,
}

impl SandboxProvider {
    /// A sandbox keeping its objects in `db`, dating them with `clock`, signing webhooks
    /// with `webhook_secret`.
    pub fn new(db: Db, clock: Clock, webhook_secret: String) -> Self {
        Self {
            db,
            clock,
            webhook_secret: webhook_secret.into(),
        }
    }

    /// Pays with a test card as a card form would, authorised by the client secret:
    /// [`TEST_CARD_SUCCEEDS`] pays, [`TEST_CARD_DECLINED`] is declined (the payment waits
    /// for another card), [`TEST_CARD_NEEDS_AUTHENTICATION`] asks for authentication
    /// (`requires_action`) and pays when confirmed again with `authenticate`, or fails its
    /// authentication when confirmed again without.
    pub async fn confirm(
        &self,
        payment_id: &str,
        client_secret: &str,
        card_number: &str,
        authenticate: bool,
    ) -> Result<SandboxConfirmation, SandboxError> {
        let mut tx = self.db.begin().await?;
        let Some(mut payment) = self.payment_in(&mut tx, payment_id).await? else {
            return Err(SandboxError::NotFound);
        };
        if !secrets_match(&payment.client_secret, client_secret) {
            return Err(SandboxError::WrongSecret);
        }
        let card = normalised_card(card_number);
        let outcome = match card.as_str() {
            TEST_CARD_SUCCEEDS => CardOutcome::Succeed,
            TEST_CARD_DECLINED => CardOutcome::Fail(DECLINE_MESSAGE),
            TEST_CARD_NEEDS_AUTHENTICATION => match (payment.status, authenticate) {
                (ProviderPaymentStatus::RequiresAction, true) => CardOutcome::Succeed,
                (ProviderPaymentStatus::RequiresAction, false) => {
                    CardOutcome::Fail(AUTHENTICATION_FAILED_MESSAGE)
                }
                _ => CardOutcome::RequireAction,
            },
            _ => return Err(SandboxError::UnknownCard(masked_card(&card))),
        };
        if matches!(
            payment.status,
            ProviderPaymentStatus::Succeeded
                | ProviderPaymentStatus::Canceled
                | ProviderPaymentStatus::Processing
        ) {
            return Err(SandboxError::AlreadyFinal(payment.status));
        }
        let event_type = match outcome {
            CardOutcome::Succeed => {
                payment.status = ProviderPaymentStatus::Succeeded;
                payment.last_error = None;
                payment.charge_id = Some(new_id("ch"));
                "payment_intent.succeeded"
            }
            CardOutcome::Fail(message) => {
                payment.status = ProviderPaymentStatus::RequiresPaymentMethod;
                payment.last_error = Some(message.to_owned());
                "payment_intent.payment_failed"
            }
            CardOutcome::RequireAction => {
                payment.status = ProviderPaymentStatus::RequiresAction;
                payment.last_error = None;
                "payment_intent.requires_action"
            }
        };
        self.save_payment(&mut tx, &payment).await?;
        self.queue_event(&mut tx, event_type, payment.to_json())
            .await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(
            payment_id = %payment.id,
            status = status_str(payment.status),
            "sandbox payment confirmed"
        );
        Ok(SandboxConfirmation {
            status: payment.status,
            decline_message: payment.last_error,
        })
    }

    /// Takes the ability to receive transfers from a connected account, as a provider does
    /// when an account's verification lapses: later transfers to it are refused.
    pub async fn restrict_account(&self, account_id: &str) -> Result<(), ProviderError> {
        let mut tx = self.db.begin().await.map_err(db_error)?;
        let updated =
            sqlx::query("UPDATE sandbox_accounts SET transfers_enabled = $1 WHERE id = $2")
                .bind(false)
                .bind(account_id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?
                .rows_affected();
        if updated == 0 {
            return Err(refused(format!("No such account: '{account_id}'")));
        }
        let account = self
            .account_in(&mut tx, account_id)
            .await?
            .ok_or_else(|| refused(format!("No such account: '{account_id}'")))?;
        self.queue_event(&mut tx, "account.updated", account_json(&account))
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(())
    }

    /// The loop that delivers the queued signed webhooks to `sink`.
    pub fn webhook_delivery(&self, sink: Arc<dyn WebhookSink>) -> SandboxWebhookDelivery {
        SandboxWebhookDelivery {
            provider: self.clone(),
            sink,
        }
    }

    fn lock_suffix(&self) -> &'static str {
        match self.db.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    async fn payment_in(
        &self,
        tx: &mut Tx,
        payment_id: &str,
    ) -> Result<Option<PaymentRow>, SandboxError> {
        let sql = format!(
            "SELECT id, client_secret, order_id, description, amount_minor, currency, status, \
                    last_error, charge_id, amount_refunded_minor, create_time \
             FROM sandbox_payments WHERE id = $1{}",
            self.lock_suffix()
        );
        let row = sqlx::query(&sql)
            .bind(payment_id)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(|row| payment_from_row(&row))
            .transpose()
            .map_err(|error| SandboxError::Db(DbError::Other(sqlx::Error::Decode(error.into()))))
    }

    async fn save_payment(&self, tx: &mut Tx, payment: &PaymentRow) -> Result<(), DbError> {
        sqlx::query(
            "UPDATE sandbox_payments SET status = $1, last_error = $2, charge_id = $3, \
                    amount_refunded_minor = $4, update_time = $5 \
             WHERE id = $6",
        )
        .bind(status_str(payment.status))
        .bind(payment.last_error.as_deref())
        .bind(payment.charge_id.as_deref())
        .bind(payment.amount_refunded_minor)
        .bind(self.clock.now_millis())
        .bind(&payment.id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn account_in(
        &self,
        tx: &mut Tx,
        account_id: &str,
    ) -> Result<Option<AccountRow>, ProviderError> {
        let row = sqlx::query(
            "SELECT id, seller_id, transfers_enabled FROM sandbox_accounts WHERE id = $1",
        )
        .bind(account_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?;
        row.map(|row| account_from_row(&row))
            .transpose()
            .map_err(db_error)
    }

    async fn transfer_in(
        &self,
        tx: &mut Tx,
        transfer_id: &str,
    ) -> Result<Option<ProviderTransfer>, ProviderError> {
        let sql = format!(
            "SELECT id, account_id, amount_minor, currency, amount_reversed_minor \
             FROM sandbox_transfers WHERE id = $1{}",
            self.lock_suffix()
        );
        let row = sqlx::query(&sql)
            .bind(transfer_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_error)?;
        row.map(|row| transfer_from_row(&row)).transpose()
    }

    /// Queues a webhook event about `object`, delivered (and signed) later.
    async fn queue_event(
        &self,
        tx: &mut Tx,
        event_type: &str,
        object: Value,
    ) -> Result<(), DbError> {
        let now = self.clock.now_millis();
        let id = new_id("evt");
        let event = json!({
            "id": id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": now / 1000,
            "livemode": false,
            "pending_webhooks": 1,
            "type": event_type,
            "data": { "object": object },
        });
        sqlx::query(
            "INSERT INTO sandbox_webhook_events \
                 (id, event_type, payload, create_time, delivered, attempts, next_attempt_time) \
             VALUES ($1, $2, $3, $4, $5, 0, $6)",
        )
        .bind(&id)
        .bind(event_type)
        .bind(event.to_string())
        .bind(now)
        .bind(false)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        // The delivery loop sends it as soon as this commits.
        tx.signal_on_commit();
        tracing::debug!(event_id = %id, event_type, "sandbox webhook queued");
        Ok(())
    }

    /// The object an idempotency key made before, if any.
    async fn remembered(
        &self,
        tx: &mut Tx,
        scope: &str,
        key: &str,
    ) -> Result<Option<String>, ProviderError> {
        let row = sqlx::query(
            "SELECT object_id FROM sandbox_idempotency_keys \
             WHERE scope = $1 AND idempotency_key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?;
        row.map(|row| row.try_get::<String, _>("object_id"))
            .transpose()
            .map_err(db_error)
    }

    async fn remember(
        &self,
        tx: &mut Tx,
        scope: &str,
        key: &str,
        object_id: &str,
    ) -> Result<(), ProviderError> {
        sqlx::query(
            "INSERT INTO sandbox_idempotency_keys (scope, idempotency_key, object_id, create_time) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(scope)
        .bind(key)
        .bind(object_id)
        .bind(self.clock.now_millis())
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn begin(&self) -> Result<Tx, ProviderError> {
        self.db.begin().await.map_err(db_error)
    }

    async fn read_payment(&self, payment_id: &str) -> Result<PaymentRow, ProviderError> {
        let mut tx = self.begin().await?;
        let payment = self
            .payment_in(&mut tx, payment_id)
            .await
            .map_err(sandbox_to_provider)?;
        payment.ok_or_else(|| refused(format!("No such payment_intent: '{payment_id}'")))
    }

    async fn read_refund(&self, refund_id: &str) -> Result<ProviderRefund, ProviderError> {
        let row = sqlx::query(
            "SELECT id, payment_id, amount_minor, currency FROM sandbox_refunds WHERE id = $1",
        )
        .bind(refund_id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_error)?
        .ok_or_else(|| refused(format!("No such refund: '{refund_id}'")))?;
        Ok(ProviderRefund {
            id: row.try_get("id").map_err(db_error)?,
            payment_id: row.try_get("payment_id").map_err(db_error)?,
            amount: money(
                row.try_get("amount_minor").map_err(db_error)?,
                &row.try_get::<String, _>("currency").map_err(db_error)?,
            )?,
            succeeded: true,
        })
    }

    async fn read_transfer(&self, transfer_id: &str) -> Result<ProviderTransfer, ProviderError> {
        let mut tx = self.begin().await?;
        self.transfer_in(&mut tx, transfer_id)
            .await?
            .ok_or_else(|| refused(format!("No such transfer: '{transfer_id}'")))
    }

    async fn create_payment_once(
        &self,
        payment: &NewPayment,
    ) -> Result<ProviderPayment, ProviderError> {
        if !payment.amount.is_positive() {
            return Err(refused("the amount must be positive"));
        }
        let mut tx = self.begin().await?;
        if let Some(existing) = self
            .remembered(&mut tx, "payment", &payment.idempotency_key)
            .await?
        {
            drop(tx);
            return Ok(self.read_payment(&existing).await?.to_provider());
        }
        let now = self.clock.now_millis();
        let id = new_id("pi");
        let row = PaymentRow {
            client_secret: format!("{id}_secret_{}", random_alphanumeric(24)),
            id,
            order_id: payment.order_id.clone(),
            description: payment.description.clone(),
            amount: payment.amount,
            status: ProviderPaymentStatus::RequiresPaymentMethod,
            last_error: None,
            charge_id: None,
            amount_refunded_minor: 0,
            create_time: now,
        };
        sqlx::query(
            "INSERT INTO sandbox_payments \
                 (id, client_secret, order_id, description, amount_minor, currency, status, \
                  amount_refunded_minor, create_time, update_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)",
        )
        .bind(&row.id)
        .bind(&row.client_secret)
        .bind(&row.order_id)
        .bind(&row.description)
        .bind(row.amount.amount_minor)
        .bind(row.amount.currency.code())
        .bind(status_str(row.status))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        self.remember(&mut tx, "payment", &payment.idempotency_key, &row.id)
            .await?;
        self.queue_event(&mut tx, "payment_intent.created", row.to_json())
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(row.to_provider())
    }

    async fn refund_once(&self, refund: &NewRefund) -> Result<ProviderRefund, ProviderError> {
        let mut tx = self.begin().await?;
        if let Some(existing) = self
            .remembered(&mut tx, "refund", &refund.idempotency_key)
            .await?
        {
            drop(tx);
            return self.read_refund(&existing).await;
        }
        let mut payment = self
            .payment_in(&mut tx, &refund.payment_id)
            .await
            .map_err(sandbox_to_provider)?
            .ok_or_else(|| refused(format!("No such payment_intent: '{}'", refund.payment_id)))?;
        if payment.status != ProviderPaymentStatus::Succeeded {
            return Err(refused(format!(
                "payment {} has not succeeded ({}); it cannot be refunded",
                payment.id,
                status_str(payment.status)
            )));
        }
        if refund.amount.currency != payment.amount.currency {
            return Err(refused(format!(
                "the refund is in {}, the payment in {}",
                refund.amount.currency, payment.amount.currency
            )));
        }
        let remaining = payment.amount.amount_minor - payment.amount_refunded_minor;
        if !refund.amount.is_positive() || refund.amount.amount_minor > remaining {
            return Err(refused(format!(
                "refund amount ({}) must be positive and at most the unrefunded {remaining}",
                refund.amount.amount_minor
            )));
        }
        let id = new_id("re");
        sqlx::query(
            "INSERT INTO sandbox_refunds (id, payment_id, amount_minor, currency, create_time) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(&payment.id)
        .bind(refund.amount.amount_minor)
        .bind(refund.amount.currency.code())
        .bind(self.clock.now_millis())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        payment.amount_refunded_minor += refund.amount.amount_minor;
        self.save_payment(&mut tx, &payment)
            .await
            .map_err(db_error)?;
        self.remember(&mut tx, "refund", &refund.idempotency_key, &id)
            .await?;
        self.queue_event(&mut tx, "charge.refunded", payment.charge_json())
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        tracing::info!(refund_id = %id, payment_id = %payment.id, "sandbox refund made");
        Ok(ProviderRefund {
            id,
            payment_id: payment.id,
            amount: refund.amount,
            succeeded: true,
        })
    }

    async fn create_account_once(
        &self,
        account: &NewConnectedAccount,
    ) -> Result<ConnectedAccount, ProviderError> {
        let mut tx = self.begin().await?;
        if let Some(existing) = self
            .remembered(&mut tx, "account", &account.idempotency_key)
            .await?
        {
            let row = self
                .account_in(&mut tx, &existing)
                .await?
                .ok_or_else(|| refused(format!("No such account: '{existing}'")))?;
            return Ok(row.to_provider());
        }
        let row = AccountRow {
            id: new_id("acct"),
            seller_id: account.seller_id.clone(),
            transfers_enabled: true,
        };
        sqlx::query(
            "INSERT INTO sandbox_accounts \
                 (id, seller_id, email, country, transfers_enabled, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.id)
        .bind(&row.seller_id)
        .bind(account.email.as_deref())
        .bind(&account.country)
        .bind(row.transfers_enabled)
        .bind(self.clock.now_millis())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        self.remember(&mut tx, "account", &account.idempotency_key, &row.id)
            .await?;
        self.queue_event(&mut tx, "account.updated", account_json(&row))
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(row.to_provider())
    }

    async fn transfer_once(
        &self,
        transfer: &NewTransfer,
    ) -> Result<ProviderTransfer, ProviderError> {
        let mut tx = self.begin().await?;
        if let Some(existing) = self
            .remembered(&mut tx, "transfer", &transfer.idempotency_key)
            .await?
        {
            drop(tx);
            return self.read_transfer(&existing).await;
        }
        let account = self
            .account_in(&mut tx, &transfer.account_id)
            .await?
            .ok_or_else(|| refused(format!("No such account: '{}'", transfer.account_id)))?;
        if !account.transfers_enabled {
            return Err(refused(format!(
                "account {} cannot receive transfers (its transfers capability is inactive)",
                account.id
            )));
        }
        if !transfer.amount.is_positive() {
            return Err(refused("the transfer amount must be positive"));
        }
        let created = ProviderTransfer {
            id: new_id("tr"),
            account_id: account.id,
            amount: transfer.amount,
            amount_reversed: Money::zero(transfer.amount.currency),
        };
        sqlx::query(
            "INSERT INTO sandbox_transfers \
                 (id, account_id, amount_minor, currency, amount_reversed_minor, transfer_group, \
                  source_transaction, create_time) \
             VALUES ($1, $2, $3, $4, 0, $5, $6, $7)",
        )
        .bind(&created.id)
        .bind(&created.account_id)
        .bind(created.amount.amount_minor)
        .bind(created.amount.currency.code())
        .bind(&transfer.transfer_group)
        .bind(transfer.source_transaction.as_deref())
        .bind(self.clock.now_millis())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        self.remember(&mut tx, "transfer", &transfer.idempotency_key, &created.id)
            .await?;
        self.queue_event(
            &mut tx,
            "transfer.created",
            transfer_json(&created, &transfer.transfer_group),
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(created)
    }

    async fn reverse_once(
        &self,
        transfer_id: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<ProviderTransfer, ProviderError> {
        let mut tx = self.begin().await?;
        if self
            .remembered(&mut tx, "reversal", idempotency_key)
            .await?
            .is_some()
        {
            drop(tx);
            return self.read_transfer(transfer_id).await;
        }
        let mut transfer = self
            .transfer_in(&mut tx, transfer_id)
            .await?
            .ok_or_else(|| refused(format!("No such transfer: '{transfer_id}'")))?;
        let remaining = transfer.amount.amount_minor - transfer.amount_reversed.amount_minor;
        if amount.currency != transfer.amount.currency
            || !amount.is_positive()
            || amount.amount_minor > remaining
        {
            return Err(refused(format!(
                "the reversal must be positive, in {}, and at most the unreversed {remaining}",
                transfer.amount.currency
            )));
        }
        transfer.amount_reversed.amount_minor += amount.amount_minor;
        sqlx::query("UPDATE sandbox_transfers SET amount_reversed_minor = $1 WHERE id = $2")
            .bind(transfer.amount_reversed.amount_minor)
            .bind(transfer_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let reversal_id = new_id("trr");
        self.remember(&mut tx, "reversal", idempotency_key, &reversal_id)
            .await?;
        self.queue_event(&mut tx, "transfer.reversed", transfer_json(&transfer, ""))
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(transfer)
    }
}

/// Runs an idempotent creation; when a concurrent call with the same key won the race
/// (a unique violation on the key), the second try finds what it made.
async fn once<T, F, Fut>(mut create: F) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    match create().await {
        Err(ProviderError::Internal(error))
            if error
                .downcast_ref::<DbError>()
                .is_some_and(|error| matches!(error, DbError::UniqueViolation { .. })) =>
        {
            create().await
        }
        other => other,
    }
}

fn sandbox_to_provider(error: SandboxError) -> ProviderError {
    match error {
        SandboxError::Db(error) => db_error(error),
        other => ProviderError::Internal(anyhow::Error::new(other)),
    }
}

fn payment_from_row(row: &AnyRow) -> Result<PaymentRow, anyhow::Error> {
    Ok(PaymentRow {
        id: row.try_get("id")?,
        client_secret: row.try_get("client_secret")?,
        order_id: row.try_get("order_id")?,
        description: row.try_get("description")?,
        amount: money(
            row.try_get("amount_minor")?,
            &row.try_get::<String, _>("currency")?,
        )?,
        status: parse_status(&row.try_get::<String, _>("status")?)?,
        last_error: row.try_get("last_error")?,
        charge_id: row.try_get("charge_id")?,
        amount_refunded_minor: row.try_get("amount_refunded_minor")?,
        create_time: row.try_get("create_time")?,
    })
}

/// A connected account row.
#[derive(Debug, Clone)]
struct AccountRow {
    id: String,
    seller_id: String,
    transfers_enabled: bool,
}

impl AccountRow {
    fn to_provider(&self) -> ConnectedAccount {
        ConnectedAccount {
            id: self.id.clone(),
            transfers_enabled: self.transfers_enabled,
        }
    }
}

fn account_from_row(row: &AnyRow) -> Result<AccountRow, sqlx::Error> {
    Ok(AccountRow {
        id: row.try_get("id")?,
        seller_id: row.try_get("seller_id")?,
        transfers_enabled: get_bool(row, "transfers_enabled")?,
    })
}

fn account_json(account: &AccountRow) -> Value {
    let capability = if account.transfers_enabled {
        "active"
    } else {
        "inactive"
    };
    json!({
        "id": account.id,
        "object": "account",
        "type": "express",
        "charges_enabled": account.transfers_enabled,
        "payouts_enabled": account.transfers_enabled,
        "details_submitted": true,
        "capabilities": { "transfers": capability },
        "metadata": { "seller_id": account.seller_id },
    })
}

fn transfer_from_row(row: &AnyRow) -> Result<ProviderTransfer, ProviderError> {
    let currency: String = row.try_get("currency").map_err(db_error)?;
    Ok(ProviderTransfer {
        id: row.try_get("id").map_err(db_error)?,
        account_id: row.try_get("account_id").map_err(db_error)?,
        amount: money(row.try_get("amount_minor").map_err(db_error)?, &currency)?,
        amount_reversed: money(
            row.try_get("amount_reversed_minor").map_err(db_error)?,
            &currency,
        )?,
    })
}

fn transfer_json(transfer: &ProviderTransfer, transfer_group: &str) -> Value {
    json!({
        "id": transfer.id,
        "object": "transfer",
        "amount": transfer.amount.amount_minor,
        "amount_reversed": transfer.amount_reversed.amount_minor,
        "currency": transfer.amount.currency.code().to_ascii_lowercase(),
        "destination": transfer.account_id,
        "transfer_group": transfer_group,
        "reversed": transfer.amount_reversed.amount_minor >= transfer.amount.amount_minor,
    })
}

/// One queued event, as a delivery step reads it.
struct QueuedEvent {
    sequence: i64,
    id: String,
    payload: String,
    attempts: i64,
    next_attempt_time: i64,
}

impl SandboxWebhookDelivery {
    /// Delivers the queued webhooks that are due, oldest first, each signed now; answers
    /// how many were received. A failed delivery is tried again later, after a delay that
    /// doubles with every failure.
    pub async fn deliver_once(&self) -> anyhow::Result<usize> {
        let provider = &self.provider;
        let now = provider.clock.now_millis();
        let rows = sqlx::query(
            "SELECT sequence, id, payload, attempts, next_attempt_time \
             FROM sandbox_webhook_events \
             WHERE delivered = $1 AND next_attempt_time <= $2 \
             ORDER BY sequence LIMIT $3",
        )
        .bind(false)
        .bind(now)
        .bind(DELIVERY_BATCH)
        .fetch_all(provider.db.pool())
        .await?;
        let mut delivered = 0;
        for row in rows {
            let event = QueuedEvent {
                sequence: row.try_get("sequence")?,
                id: row.try_get("id")?,
                payload: row.try_get("payload")?,
                attempts: row.try_get("attempts")?,
                next_attempt_time: row.try_get("next_attempt_time")?,
            };
            if !self.claim(&event, now).await? {
                continue;
            }
            let payload = event.payload.clone().into_bytes();
            let signature = webhook::sign(&provider.webhook_secret, &payload, now / 1000);
            match self.sink.deliver(payload, signature).await {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE sandbox_webhook_events SET delivered = $1, attempts = $2, \
                                last_error = NULL \
                         WHERE sequence = $3",
                    )
                    .bind(true)
                    .bind(event.attempts + 1)
                    .bind(event.sequence)
                    .execute(provider.db.pool())
                    .await?;
                    delivered += 1;
                }
                Err(error) => {
                    let attempts = event.attempts + 1;
                    let delay = FIRST_RETRY_DELAY_MILLIS
                        .saturating_mul(1_i64 << attempts.clamp(1, 20).saturating_sub(1))
                        .min(MAX_RETRY_DELAY_MILLIS);
                    tracing::warn!(
                        event_id = %event.id,
                        attempts,
                        error = %error,
                        "sandbox webhook not received, retrying later"
                    );
                    sqlx::query(
                        "UPDATE sandbox_webhook_events SET attempts = $1, next_attempt_time = $2, \
                                last_error = $3 \
                         WHERE sequence = $4",
                    )
                    .bind(attempts)
                    .bind(now.saturating_add(delay))
                    .bind(error)
                    .bind(event.sequence)
                    .execute(provider.db.pool())
                    .await?;
                }
            }
        }
        Ok(delivered)
    }

    /// Claims an event for one delivery attempt: only the replica whose update finds the
    /// due time it read delivers it.
    async fn claim(&self, event: &QueuedEvent, now: i64) -> anyhow::Result<bool> {
        let claimed = sqlx::query(
            "UPDATE sandbox_webhook_events SET next_attempt_time = $1 \
             WHERE sequence = $2 AND delivered = $3 AND next_attempt_time = $4",
        )
        .bind(now.saturating_add(DELIVERY_LEASE_MILLIS))
        .bind(event.sequence)
        .bind(false)
        .bind(event.next_attempt_time)
        .execute(self.provider.db.pool())
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }
}

#[async_trait]
impl gigmesh_events::BackgroundTask for SandboxWebhookDelivery {
    fn name(&self) -> &str {
        "payments.sandbox-webhooks"
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) {
        tracing::info!("sandbox webhook delivery started");
        let mut commits = self.provider.db.watch_commits();
        loop {
            if let Err(error) = self.deliver_once().await {
                tracing::warn!(error = %error, "sandbox webhook delivery step failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = commits.committed() => {}
                () = tokio::time::sleep(DELIVERY_POLL_INTERVAL) => {}
            }
        }
        tracing::info!("sandbox webhook delivery stopped");
    }
}

#[async_trait]
impl PaymentProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn create_payment(&self, payment: NewPayment) -> Result<ProviderPayment, ProviderError> {
        once(|| self.create_payment_once(&payment)).await
    }

    async fn retrieve_payment(&self, payment_id: &str) -> Result<ProviderPayment, ProviderError> {
        Ok(self.read_payment(payment_id).await?.to_provider())
    }

    async fn cancel_payment(
        &self,
        payment_id: &str,
        _idempotency_key: &str,
    ) -> Result<ProviderPayment, ProviderError> {
        let mut tx = self.begin().await?;
        let mut payment = self
            .payment_in(&mut tx, payment_id)
            .await
            .map_err(sandbox_to_provider)?
            .ok_or_else(|| refused(format!("No such payment_intent: '{payment_id}'")))?;
        match payment.status {
            ProviderPaymentStatus::Canceled => return Ok(payment.to_provider()),
            ProviderPaymentStatus::Succeeded => {
                return Err(refused(format!(
                    "payment {payment_id} has succeeded; refund it instead of cancelling"
                )));
            }
            _ => {}
        }
        payment.status = ProviderPaymentStatus::Canceled;
        self.save_payment(&mut tx, &payment)
            .await
            .map_err(db_error)?;
        self.queue_event(&mut tx, "payment_intent.canceled", payment.to_json())
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(payment.to_provider())
    }

    async fn refund(&self, refund: NewRefund) -> Result<ProviderRefund, ProviderError> {
        once(|| self.refund_once(&refund)).await
    }

    async fn create_connected_account(
        &self,
        account: NewConnectedAccount,
    ) -> Result<ConnectedAccount, ProviderError> {
        once(|| self.create_account_once(&account)).await
    }

    async fn retrieve_connected_account(
        &self,
        account_id: &str,
    ) -> Result<ConnectedAccount, ProviderError> {
        let mut tx = self.begin().await?;
        let account = self
            .account_in(&mut tx, account_id)
            .await?
            .ok_or_else(|| refused(format!("No such account: '{account_id}'")))?;
        Ok(account.to_provider())
    }

    async fn onboarding_link(
        &self,
        account_id: &str,
        return_url: &str,
        _refresh_url: &str,
    ) -> Result<String, ProviderError> {
        // The sandbox onboards at once: its "onboarding page" is the seller's way back.
        self.retrieve_connected_account(account_id).await?;
        let separator = if return_url.contains('?') { '&' } else { '?' };
        Ok(format!(
            "{return_url}{separator}sandbox_account={account_id}"
        ))
    }

    async fn transfer(&self, transfer: NewTransfer) -> Result<ProviderTransfer, ProviderError> {
        once(|| self.transfer_once(&transfer)).await
    }

    async fn reverse_transfer(
        &self,
        transfer_id: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<ProviderTransfer, ProviderError> {
        once(|| self.reverse_once(transfer_id, amount, idempotency_key)).await
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

    #[test]
    fn ids_and_secrets_look_like_stripes() {
        let id = new_id("pi");
        assert!(id.starts_with("pi_") && id.len() == 27, "{id}");
        assert!(secrets_match("pi_1_secret_a", "pi_1_secret_a"));
        assert!(!secrets_match("pi_1_secret_a", "pi_1_secret_b"));
        assert!(!secrets_match("short", "longer"));
    }

    #[test]
    fn card_numbers_are_read_as_typed_and_masked_in_errors() {
        assert_eq!(normalised_card("4242 4242-4242 4242"), TEST_CARD_SUCCEEDS);
        assert_eq!(masked_card("5555555555554444"), "the card ending in 4444");
        assert_eq!(masked_card("12"), "the card");
    }

    use std::sync::Mutex;

    use crate::WebhookKind;

    use gigmesh_testing::TestDatabase;
    use gigmesh_types::ManualClock;

    const SECRET: &str = "whsec_sandbox_unit_tests";

    async fn sandbox() -> (SandboxProvider, ManualClock, TestDatabase) {
        let database = TestDatabase::sqlite().await;
        database
            .db()
            .migrate(&[&SANDBOX_MIGRATIONS])
            .await
            .expect("migrate");
        let clock = ManualClock::at(1_800_000_000_000);
        let provider =
            SandboxProvider::new(database.db().clone(), clock.clock(), SECRET.to_owned());
        (provider, clock, database)
    }

    fn usd(amount_minor: i64) -> Money {
        Money::new(amount_minor, Currency::USD)
    }

    async fn paid(provider: &SandboxProvider, key: &str) -> ProviderPayment {
        let payment = provider
            .create_payment(NewPayment {
                order_id: "order-1".to_owned(),
                amount: usd(10_000),
                description: "an order".to_owned(),
                idempotency_key: key.to_owned(),
            })
            .await
            .expect("create");
        provider
            .confirm(
                &payment.id,
                &payment.client_secret,
                TEST_CARD_SUCCEEDS,
                false,
            )
            .await
            .expect("confirm");
        provider.retrieve_payment(&payment.id).await.expect("read")
    }

    /// A sink that refuses the first `failures` deliveries and records the rest.
    #[derive(Default)]
    struct FlakySink {
        failures: Mutex<usize>,
        received: Mutex<Vec<(Vec<u8>, String)>>,
    }

    #[async_trait]
    impl WebhookSink for FlakySink {
        async fn deliver(&self, payload: Vec<u8>, signature: String) -> Result<(), String> {
            let mut failures = self.failures.lock().expect("lock");
            if *failures > 0 {
                *failures -= 1;
                return Err("endpoint down".to_owned());
            }
            self.received
                .lock()
                .expect("lock")
                .push((payload, signature));
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_same_idempotency_key_returns_the_same_objects() {
        let (provider, _clock, _database) = sandbox().await;
        let first = paid(&provider, "key-1").await;
        let again = provider
            .create_payment(NewPayment {
                order_id: "order-1".to_owned(),
                amount: usd(10_000),
                description: "an order".to_owned(),
                idempotency_key: "key-1".to_owned(),
            })
            .await
            .expect("again");
        assert_eq!(again.id, first.id);
        assert_eq!(again.status, ProviderPaymentStatus::Succeeded);
        assert!(
            first
                .charge_id
                .as_deref()
                .is_some_and(|id| id.starts_with("ch_"))
        );

        let account = NewConnectedAccount {
            seller_id: "seller-1".to_owned(),
            email: None,
            country: "US".to_owned(),
            idempotency_key: "account-1".to_owned(),
        };
        let opened = provider
            .create_connected_account(account.clone())
            .await
            .expect("account");
        assert!(opened.transfers_enabled && opened.id.starts_with("acct_"));
        let reopened = provider
            .create_connected_account(account)
            .await
            .expect("again");
        assert_eq!(reopened.id, opened.id);
        let transfer = NewTransfer {
            account_id: opened.id.clone(),
            amount: usd(4_000),
            transfer_group: "order-1".to_owned(),
            source_transaction: first.charge_id.clone(),
            idempotency_key: "transfer-1".to_owned(),
        };
        let sent = provider.transfer(transfer.clone()).await.expect("transfer");
        assert_eq!(
            provider.transfer(transfer).await.expect("again").id,
            sent.id
        );
        let reversed = provider
            .reverse_transfer(&sent.id, usd(1_000), "reversal-1")
            .await
            .expect("reverse");
        assert_eq!(reversed.amount_reversed, usd(1_000));
        let replayed = provider
            .reverse_transfer(&sent.id, usd(1_000), "reversal-1")
            .await
            .expect("same reversal");
        assert_eq!(replayed.amount_reversed, usd(1_000), "reversed once");
        assert!(
            provider
                .reverse_transfer(&sent.id, usd(3_001), "reversal-2")
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn refunds_never_exceed_what_remains() {
        let (provider, _clock, _database) = sandbox().await;
        let payment = paid(&provider, "key-1").await;
        let refund = |amount_minor, key: &str| NewRefund {
            payment_id: payment.id.clone(),
            amount: usd(amount_minor),
            idempotency_key: key.to_owned(),
        };
        let first = provider
            .refund(refund(6_000, "r-1"))
            .await
            .expect("partial");
        assert!(first.id.starts_with("re_") && first.succeeded);
        assert_eq!(
            provider
                .refund(refund(6_000, "r-1"))
                .await
                .expect("same")
                .id,
            first.id
        );
        assert!(matches!(
            provider.refund(refund(4_001, "r-2")).await,
            Err(ProviderError::Refused(_))
        ));
        provider
            .refund(refund(4_000, "r-3"))
            .await
            .expect("the rest");
        assert!(provider.refund(refund(1, "r-4")).await.is_err());
        let error = provider
            .cancel_payment(&payment.id, "cancel-1")
            .await
            .expect_err("succeeded payments are refunded, not cancelled");
        assert!(matches!(error, ProviderError::Refused(_)));
    }

    #[tokio::test]
    async fn webhooks_are_signed_at_delivery_in_order_and_retried_when_refused() {
        let (provider, clock, _database) = sandbox().await;
        let payment = paid(&provider, "key-1").await;
        let sink = Arc::new(FlakySink {
            failures: Mutex::new(1),
            ..FlakySink::default()
        });
        let delivery = provider.webhook_delivery(sink.clone());
        // The first (created) is refused; the second (succeeded) goes through.
        assert_eq!(delivery.deliver_once().await.expect("step"), 1);
        assert_eq!(delivery.deliver_once().await.expect("not due yet"), 0);
        clock.advance_seconds(2);
        assert_eq!(delivery.deliver_once().await.expect("retry"), 1);
        assert_eq!(delivery.deliver_once().await.expect("nothing left"), 0);

        let received = sink.received.lock().expect("lock").clone();
        let now_seconds = clock.now_millis() / 1000;
        let kinds: Vec<WebhookKind> = received
            .iter()
            .map(|(payload, signature)| {
                provider
                    .verify_webhook(payload, signature, now_seconds)
                    .expect("verifies")
                    .kind
            })
            .collect();
        assert_eq!(
            kinds,
            [
                WebhookKind::PaymentSucceeded {
                    payment_id: payment.id.clone()
                },
                WebhookKind::Other {
                    event_type: "payment_intent.created".to_owned()
                },
            ]
        );
        let body: Value = serde_json::from_slice(&received[0].0).expect("json");
        assert_eq!(body["object"], "event");
        assert_eq!(body["data"]["object"]["currency"], "usd");
        assert_eq!(body["data"]["object"]["metadata"]["order_id"], "order-1");
        assert_eq!(
            body["data"]["object"]["latest_charge"],
            json!(payment.charge_id)
        );
        assert!(
            provider
                .verify_webhook(&received[0].0, &received[0].1, now_seconds + 400)
                .is_err(),
            "stale later"
        );
    }

    #[tokio::test]
    async fn confirmation_is_authorised_by_the_client_secret() {
        let (provider, _clock, _database) = sandbox().await;
        let payment = provider
            .create_payment(NewPayment {
                order_id: "order-1".to_owned(),
                amount: usd(500),
                description: "an order".to_owned(),
                idempotency_key: "key-1".to_owned(),
            })
            .await
            .expect("create");
        assert!(matches!(
            provider
                .confirm(&payment.id, "pi_x_secret_y", TEST_CARD_SUCCEEDS, false)
                .await,
            Err(SandboxError::WrongSecret)
        ));
        assert!(matches!(
            provider
                .confirm("pi_missing", "x", TEST_CARD_SUCCEEDS, false)
                .await,
            Err(SandboxError::NotFound)
        ));
        assert!(matches!(
            provider
                .confirm(&payment.id, &payment.client_secret, "1234", false)
                .await,
            Err(SandboxError::UnknownCard(_))
        ));
        let declined = provider
            .confirm(
                &payment.id,
                &payment.client_secret,
                TEST_CARD_DECLINED,
                false,
            )
            .await
            .expect("declined");
        assert_eq!(declined.decline_message.as_deref(), Some(DECLINE_MESSAGE));
        let canceled = provider
            .cancel_payment(&payment.id, "c")
            .await
            .expect("cancel");
        assert_eq!(canceled.status, ProviderPaymentStatus::Canceled);
        assert!(matches!(
            provider
                .confirm(
                    &payment.id,
                    &payment.client_secret,
                    TEST_CARD_SUCCEEDS,
                    false
                )
                .await,
            Err(SandboxError::AlreadyFinal(ProviderPaymentStatus::Canceled))
        ));
    }

    #[test]
    fn statuses_round_trip() {
        for status in [
            ProviderPaymentStatus::RequiresPaymentMethod,
            ProviderPaymentStatus::RequiresAction,
            ProviderPaymentStatus::Processing,
            ProviderPaymentStatus::Succeeded,
            ProviderPaymentStatus::Canceled,
        ] {
            assert_eq!(parse_status(status_str(status)).expect("known"), status);
        }
    }
}
