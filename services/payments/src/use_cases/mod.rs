//! What the payment service does, in domain types: creates an order's provider payment
//! once, applies what the provider says about it (from a verified webhook or a
//! server-side read) exactly once — escrow, PaymentSucceeded, the invoice — settles
//! closed orders from orders' settlements, runs the money loop (clearances, refunds,
//! cancellations, retried withdrawals), pays sellers out in two phases, refunds at the
//! marketplace's cost for admins, and checks the ledger's invariants. SQL is in
//! `store/`, the ledger's rules in `ledger.rs`, the proto edge in `api.rs`.
//!
//! Refunds happen exactly once in total: a payment that succeeds for an order payments
//! knows is closed is still taken into escrow and announced (PaymentSucceeded, without an
//! invoice); orders answers it with a PAYMENT_REFUSED settlement, and that settlement —
//! applied once, like every settlement — is what refunds it.

use std::sync::Arc;

use gigmesh_db::{Backend, Db, DbError, Tx};
use gigmesh_payment_provider::sandbox::{SandboxConfirmation, SandboxError, SandboxProvider};
use gigmesh_payment_provider::{
    NewPayment, PaymentProvider, ProviderError, ProviderPayment, ProviderPaymentStatus, WebhookKind,
};
use gigmesh_types::{Clock, Currency, Money};

use crate::config::Config;
use crate::error::PaymentsError;
use crate::events;
use crate::ledger::{Account, AccountKind, Balance, Transaction};
use crate::store::{self, Context, InvoiceRecord, OrderRecord, PaymentRecord};

mod money_loop;
mod records;
mod sellers;

/// How long one replica holds a refund or cancellation it is working on.
const LEASE_MILLIS: i64 = 60_000;
/// The first retry delay of a failed refund or cancellation.
const RETRY_MILLIS: i64 = 5_000;

/// A provider status as stored.
pub fn status_name(status: ProviderPaymentStatus) -> &'static str {
    match status {
        ProviderPaymentStatus::RequiresPaymentMethod => "requires_payment_method",
        ProviderPaymentStatus::RequiresAction => "requires_action",
        ProviderPaymentStatus::Processing => "processing",
        ProviderPaymentStatus::Succeeded => "succeeded",
        ProviderPaymentStatus::Canceled => "canceled",
    }
}

/// The payment service's work, over its database and provider.
#[derive(Clone)]
pub struct Payments {
    db: Db,
    provider: Arc<dyn PaymentProvider>,
    sandbox: Option<SandboxProvider>,
    clock: Clock,
    config: Arc<Config>,
}

/// What a buyer's client needs to pay.
#[derive(Debug, Clone)]
pub struct OrderPaymentView {
    pub payment: PaymentRecord,
    pub checkout_url: Option<String>,
}

/// A seller's balance in one currency.
#[derive(Debug, Clone, Copy)]
pub struct SellerBalance {
    pub currency: Currency,
    pub pending: i64,
    pub available: i64,
    pub withdrawing: i64,
    pub paid_out: i64,
}

/// The ledger at a glance.
#[derive(Debug, Clone)]
pub struct LedgerSummary {
    pub balances: Vec<(AccountKind, Currency, Balance)>,
    pub violations: Vec<String>,
}

impl Payments {
    /// The service's work over `db`, moving money through `provider` (and, when it is the
    /// sandbox, confirming test cards with `sandbox`).
    pub fn new(
        db: Db,
        provider: Arc<dyn PaymentProvider>,
        sandbox: Option<SandboxProvider>,
        clock: Clock,
        config: Arc<Config>,
    ) -> Self {
        Self {
            db,
            provider,
            sandbox,
            clock,
            config,
        }
    }

    /// The clock the service reads.
    pub fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The service's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The buyer's payment of an order, created at the provider on first ask (one per
    /// order, by an idempotency key from the order id); a payment not yet final is read
    /// again from the provider and what it says is applied.
    pub async fn order_payment(
        &self,
        buyer_id: &str,
        order_id: &str,
    ) -> Result<OrderPaymentView, PaymentsError> {
        let order = store::find_order(self.db.pool(), order_id)
            .await?
            .filter(|order| order.buyer_id == buyer_id)
            .ok_or_else(|| PaymentsError::NotFound(format!("order {order_id}")))?;
        let existing = store::find_payment_of_order(self.db.pool(), order_id).await?;
        let payment = match existing {
            Some(payment) if payment.status == "succeeded" || payment.status == "canceled" => {
                payment
            }
            Some(payment) => {
                let current = self
                    .provider
                    .retrieve_payment(&payment.provider_payment_id)
                    .await?;
                self.apply_provider_payment(&current).await?;
                store::find_payment_of_order(self.db.pool(), order_id)
                    .await?
                    .unwrap_or(payment)
            }
            None => {
                if order.state != "awaiting_payment" {
                    return Err(PaymentsError::Precondition(format!(
                        "the order is in state {}, not awaiting payment",
                        order.state
                    )));
                }
                self.create_payment(&order).await?
            }
        };
        if payment.status != "succeeded" && order.state != "awaiting_payment" {
            return Err(PaymentsError::Precondition(format!(
                "the order is in state {}, not awaiting payment",
                order.state
            )));
        }
        let checkout_url = self.sandbox.as_ref().map(|_| {
            format!(
                "{}?payment={}&secret={}",
                self.config.checkout_base_url, payment.provider_payment_id, payment.client_secret
            )
        });
        Ok(OrderPaymentView {
            payment,
            checkout_url,
        })
    }

    async fn create_payment(&self, order: &OrderRecord) -> Result<PaymentRecord, PaymentsError> {
        let created = self
            .provider
            .create_payment(NewPayment {
                order_id: order.order_id.clone(),
                amount: order.total(),
                description: format!("gigmesh order: {}", order.gig_title),
                idempotency_key: format!("payment-{}", order.order_id),
            })
            .await?;
        let now = self.now();
        let record = PaymentRecord {
            id: store::new_id(),
            order_id: order.order_id.clone(),
            buyer_id: order.buyer_id.clone(),
            seller_id: order.seller_id.clone(),
            provider: self.provider.name().to_owned(),
            provider_payment_id: created.id.clone(),
            client_secret: created.client_secret.clone(),
            amount: created.amount,
            status: status_name(created.status).to_owned(),
            last_error: created.last_error.clone(),
            charge_id: created.charge_id.clone(),
            refunded_minor: 0,
            create_time: now,
            paid_time: None,
        };
        let mut tx = self.db.begin().await?;
        match store::insert_payment(&mut tx, &record).await {
            Ok(()) => {
                tx.commit().await.map_err(DbError::from)?;
                tracing::info!(order_id = %order.order_id, payment_id = %created.id, "payment created");
                Ok(record)
            }
            // Another request created it at the same time (same idempotency key).
            Err(DbError::UniqueViolation { .. }) => {
                drop(tx);
                store::find_payment_of_order(self.db.pool(), &order.order_id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("payment vanished").into())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Pays a sandbox payment with a test card.
    pub async fn confirm_sandbox(
        &self,
        payment_id: &str,
        client_secret: &str,
        card_number: &str,
        authenticate: bool,
    ) -> Result<SandboxConfirmation, PaymentsError> {
        let Some(sandbox) = &self.sandbox else {
            return Err(PaymentsError::Precondition(
                "the sandbox provider is not in use".to_owned(),
            ));
        };
        match sandbox
            .confirm(payment_id, client_secret, card_number, authenticate)
            .await
        {
            Ok(confirmation) => Ok(confirmation),
            // A wrong secret answers as an unknown payment: the secret is the credential.
            Err(SandboxError::NotFound | SandboxError::WrongSecret) => {
                Err(PaymentsError::NotFound(format!("payment {payment_id}")))
            }
            Err(SandboxError::UnknownCard(card)) => Err(gigmesh_errors::ApiError::invalid(
                "card_number",
                format!("{card} is not a sandbox test card (try 4242424242424242)"),
            )
            .into()),
            Err(SandboxError::AlreadyFinal(status)) => Err(PaymentsError::Precondition(format!(
                "the payment is {}; it cannot be paid again",
                status_name(status)
            ))),
            Err(SandboxError::Db(error)) => Err(error.into()),
        }
    }

    /// A provider webhook: verified (else INVALID_ARGUMENT and nothing recorded), each
    /// event id applied once (`true` answers a duplicate). A payment event is acted on by
    /// what the provider says about the payment now, so events may arrive in any order.
    pub async fn receive_webhook(
        &self,
        payload: &[u8],
        signature: &str,
    ) -> Result<bool, PaymentsError> {
        let event = self
            .provider
            .verify_webhook(payload, signature, self.now() / 1000)
            .map_err(|error| {
                tracing::warn!(error = %error, "webhook refused");
                gigmesh_errors::ApiError::invalid("signature", error.to_string())
            })?;
        if store::webhook_event_seen(self.db.pool(), &event.id).await? {
            return Ok(true);
        }
        let (event_type, payment_id) = match &event.kind {
            WebhookKind::PaymentSucceeded { payment_id } => ("payment_succeeded", Some(payment_id)),
            WebhookKind::PaymentFailed { payment_id, .. } => ("payment_failed", Some(payment_id)),
            WebhookKind::PaymentRequiresAction { payment_id } => {
                ("payment_requires_action", Some(payment_id))
            }
            WebhookKind::PaymentProcessing { payment_id } => {
                ("payment_processing", Some(payment_id))
            }
            WebhookKind::PaymentCanceled { payment_id } => ("payment_canceled", Some(payment_id)),
            WebhookKind::ChargeRefunded { .. } => ("charge_refunded", None),
            WebhookKind::AccountUpdated { .. } => ("account_updated", None),
            WebhookKind::Other { .. } => ("other", None),
        };
        let current = match payment_id {
            Some(payment_id) => match self.provider.retrieve_payment(payment_id).await {
                Ok(current) => Some(current),
                // Not a payment of this provider account: recorded, nothing to apply.
                Err(ProviderError::Refused(message)) => {
                    tracing::warn!(payment_id = %payment_id, reason = %message, "webhook names an unknown payment");
                    None
                }
                Err(error) => return Err(error.into()),
            },
            None => None,
        };
        if let WebhookKind::AccountUpdated { account_id } = &event.kind {
            self.refresh_payout_account(account_id).await?;
        }
        let failed = matches!(event.kind, WebhookKind::PaymentFailed { .. });
        let mut tx = self.db.begin().await?;
        if !store::record_webhook_event(&mut tx, &event.id, event_type, self.now()).await? {
            return Ok(true);
        }
        let mut captured = None;
        if let Some(current) = &current {
            captured = self.apply_in(&mut tx, current, failed).await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        if let Some(amount) = captured {
            crate::metrics::count_captured(amount);
        }
        tracing::info!(event_id = %event.id, event_type, "webhook applied");
        Ok(false)
    }

    /// Applies what the provider says about a payment, in its own transaction.
    async fn apply_provider_payment(&self, current: &ProviderPayment) -> Result<(), PaymentsError> {
        let mut tx = self.db.begin().await?;
        let captured = self.apply_in(&mut tx, current, false).await?;
        tx.commit().await.map_err(DbError::from)?;
        if let Some(amount) = captured {
            crate::metrics::count_captured(amount);
        }
        Ok(())
    }

    /// Moves the stored payment to what the provider says now, guarded by its stored
    /// state: a succeeded payment never goes back. Success moves the amount from clearing
    /// to the order's escrow, emits PaymentSucceeded and (for an order still open) issues
    /// the invoice; a failure (`failed`, a decline reported) emits PaymentFailed. Returns
    /// the amount captured, when this made the payment succeed.
    async fn apply_in(
        &self,
        tx: &mut Tx,
        current: &ProviderPayment,
        failed: bool,
    ) -> Result<Option<Money>, PaymentsError> {
        let Some(mut payment) =
            store::lock_payment_by_provider_id(tx, self.backend(), &current.id).await?
        else {
            tracing::warn!(payment_id = %current.id, "webhook for a payment payments did not create");
            return Ok(None);
        };
        if payment.status == "succeeded" {
            return Ok(None);
        }
        let now = self.now();
        match current.status {
            ProviderPaymentStatus::Succeeded => {
                if current.amount != payment.amount {
                    return Err(anyhow::anyhow!(
                        "provider payment {} captured {} but {} was asked",
                        current.id,
                        current.amount,
                        payment.amount
                    )
                    .into());
                }
                payment.status = "succeeded".to_owned();
                payment.last_error = None;
                payment.charge_id = current.charge_id.clone();
                payment.paid_time = Some(now);
                store::update_payment(tx, &payment, now).await?;
                let transaction = Transaction::transfer(
                    "payment",
                    payment.amount.currency,
                    Account::clearing(),
                    Account::escrow(&payment.order_id),
                    payment.amount.amount_minor,
                )?;
                store::write_transaction(
                    tx,
                    &transaction,
                    "posted",
                    Context {
                        order_id: Some(&payment.order_id),
                        ..Context::default()
                    },
                    now,
                )
                .await?;
                events::payment_succeeded(tx, &payment).await?;
                let order = store::find_order(&mut **tx, &payment.order_id).await?;
                match order {
                    Some(order) if !order.is_closed() => {
                        self.issue_invoice(tx, &order, now).await?;
                    }
                    _ => tracing::warn!(
                        order_id = %payment.order_id,
                        "payment succeeded for a closed order; orders refuses it and it is refunded"
                    ),
                }
                tracing::info!(order_id = %payment.order_id, "payment succeeded");
                return Ok(Some(payment.amount));
            }
            status => {
                let status = status_name(status).to_owned();
                let changed = payment.status != status || payment.last_error != current.last_error;
                payment.status = status;
                payment.last_error = current.last_error.clone();
                if changed {
                    store::update_payment(tx, &payment, now).await?;
                }
                if failed && current.status == ProviderPaymentStatus::RequiresPaymentMethod {
                    let reason = current
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "the payment failed".to_owned());
                    events::payment_failed(tx, &payment, &reason).await?;
                }
            }
        }
        Ok(None)
    }

    async fn issue_invoice(
        &self,
        tx: &mut Tx,
        order: &OrderRecord,
        now: i64,
    ) -> Result<(), PaymentsError> {
        let year = i64::from(
            time::OffsetDateTime::from_unix_timestamp(now / 1000)
                .map_err(anyhow::Error::from)?
                .year(),
        );
        let sequence = store::next_invoice_number(tx, year).await?;
        let buyer = store::find_user(&mut **tx, &order.buyer_id)
            .await?
            .unwrap_or_default();
        let seller = store::find_user(&mut **tx, &order.seller_id)
            .await?
            .unwrap_or_default();
        let invoice = InvoiceRecord {
            id: store::new_id(),
            order_id: order.order_id.clone(),
            number: format!("{}-{year}-{sequence:06}", self.config.invoice_prefix),
            issue_time: now,
            buyer_id: order.buyer_id.clone(),
            buyer,
            seller_id: order.seller_id.clone(),
            seller,
            lines: order.line_items.clone(),
            currency: order.currency,
            subtotal_minor: order.subtotal_minor,
            service_fee_minor: order.service_fee_minor,
            total_minor: order.total_minor,
        };
        store::insert_invoice(tx, &invoice).await?;
        events::invoice_issued(tx, &invoice).await?;
        Ok(())
    }
}
