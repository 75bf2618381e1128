//! What the payment service does, in domain types: creates an order's provider payment
//! once, applies what the provider says about it (from a verified webhook or a
//! server-side read) exactly once — escrow, PaymentSucceeded, the invoice — settles
//! closed orders from orders' settlements, runs the money loop (clearances, refunds,
//! cancellations, retried withdrawals), pays sellers out in two phases, refunds at the
//! marketplace's cost for admins, and checks the ledger's invariants. SQL is in
//! `store.rs`, the ledger's rules in `ledger.rs`, the proto edge in `api.rs`.
//!
//! Refunds happen exactly once in total: a payment that succeeds for an order payments
//! knows is closed is still taken into escrow and announced (PaymentSucceeded, without an
//! invoice); orders answers it with a PAYMENT_REFUSED settlement, and that settlement —
//! applied once, like every settlement — is what refunds it.

use std::sync::Arc;

use gigmesh_db::{Backend, Db, DbError, Tx};
use gigmesh_payment_provider::sandbox::{SandboxConfirmation, SandboxError, SandboxProvider};
use gigmesh_payment_provider::{
    NewConnectedAccount, NewPayment, NewRefund, NewTransfer, PaymentProvider, ProviderError,
    ProviderPayment, ProviderPaymentStatus, WebhookKind,
};
use gigmesh_types::{Clock, Currency, Money};

use crate::config::Config;
use crate::error::PaymentsError;
use crate::events;
use crate::ledger::{self, Account, AccountKind, Balance, LedgerFacts, Transaction};
use crate::store::{
    self, Context, Cursor, EarningRecord, InvoiceRecord, MoneyRecord, OrderRecord, PaymentFilter,
    PaymentRecord, RefundRecord, WithdrawalRecord,
};

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
        if let Some(current) = &current {
            self.apply_in(&mut tx, current, failed).await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(event_id = %event.id, event_type, "webhook applied");
        Ok(false)
    }

    /// Applies what the provider says about a payment, in its own transaction.
    async fn apply_provider_payment(&self, current: &ProviderPayment) -> Result<(), PaymentsError> {
        let mut tx = self.db.begin().await?;
        self.apply_in(&mut tx, current, false).await?;
        tx.commit().await.map_err(DbError::from)?;
        Ok(())
    }

    /// Moves the stored payment to what the provider says now, guarded by its stored
    /// state: a succeeded payment never goes back. Success moves the amount from clearing
    /// to the order's escrow, emits PaymentSucceeded and (for an order still open) issues
    /// the invoice; a failure (`failed`, a decline reported) emits PaymentFailed.
    async fn apply_in(
        &self,
        tx: &mut Tx,
        current: &ProviderPayment,
        failed: bool,
    ) -> Result<(), PaymentsError> {
        let Some(mut payment) =
            store::lock_payment_by_provider_id(tx, self.backend(), &current.id).await?
        else {
            tracing::warn!(payment_id = %current.id, "webhook for a payment payments did not create");
            return Ok(());
        };
        if payment.status == "succeeded" {
            return Ok(());
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
        Ok(())
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

    /// One step of the money loop at the clock's now: clears earnings whose period is
    /// over, makes pending refunds and cancellations at the provider, and retries pending
    /// withdrawals. Answers how many things it did.
    pub async fn money_loop_step(&self) -> Result<usize, PaymentsError> {
        let mut done = self.clear_due_earnings().await?;
        done += self.make_due_refunds().await?;
        done += self.make_due_cancellations().await?;
        for withdrawal in store::pending_withdrawals(self.db.pool()).await? {
            if self.send_withdrawal(&withdrawal).await?.status != "pending" {
                done += 1;
            }
        }
        Ok(done)
    }

    async fn clear_due_earnings(&self) -> Result<usize, PaymentsError> {
        let now = self.now();
        let mut cleared = 0;
        for (order_id, seller_id, amount) in store::due_clearances(self.db.pool(), now).await? {
            let mut tx = self.db.begin().await?;
            if !store::claim_clearance(&mut tx, &order_id).await? {
                continue;
            }
            let transaction = Transaction::transfer(
                "clearance",
                amount.currency,
                Account::seller_pending(&seller_id),
                Account::seller_available(&seller_id),
                amount.amount_minor,
            )?;
            store::write_transaction(
                &mut tx,
                &transaction,
                "posted",
                Context {
                    order_id: Some(&order_id),
                    seller_id: Some(&seller_id),
                    ..Context::default()
                },
                now,
            )
            .await?;
            store::insert_earning(
                &mut tx,
                &EarningRecord {
                    id: store::new_id(),
                    seller_id: seller_id.clone(),
                    kind: "cleared".to_owned(),
                    order_id: order_id.clone(),
                    withdrawal_id: String::new(),
                    amount,
                    time: now,
                    clear_time: None,
                },
            )
            .await?;
            events::funds_cleared(&mut tx, &seller_id, &order_id, amount).await?;
            tx.commit().await.map_err(DbError::from)?;
            tracing::info!(order_id = %order_id, seller_id = %seller_id, "earnings cleared");
            cleared += 1;
        }
        Ok(cleared)
    }

    async fn make_due_refunds(&self) -> Result<usize, PaymentsError> {
        let now = self.now();
        let mut made = 0;
        for refund in store::due_refunds(self.db.pool(), now).await? {
            if store::claim_refund(self.db.pool(), &refund, now + LEASE_MILLIS).await?
                && self.make_refund(&refund).await?
            {
                made += 1;
            }
        }
        Ok(made)
    }

    /// Makes one recorded refund at the provider; on success records it and emits
    /// RefundIssued. A failure leaves it pending, tried again after its lease.
    async fn make_refund(&self, refund: &RefundRecord) -> Result<bool, PaymentsError> {
        let Some(payment) = store::find_payment_of_order(self.db.pool(), &refund.order_id).await?
        else {
            return Ok(false);
        };
        let made = self
            .provider
            .refund(NewRefund {
                payment_id: payment.provider_payment_id.clone(),
                amount: refund.amount,
                idempotency_key: refund.idempotency_key.clone(),
            })
            .await;
        let made = match made {
            Ok(made) => made,
            Err(error) => {
                tracing::warn!(refund_id = %refund.id, error = %error, "refund failed, retrying later");
                sqlx::query("UPDATE refunds SET next_attempt_time = $1 WHERE id = $2")
                    .bind(self.now() + RETRY_MILLIS * (refund.attempts + 1).min(100))
                    .bind(&refund.id)
                    .execute(self.db.pool())
                    .await?;
                return Ok(false);
            }
        };
        let mut tx = self.db.begin().await?;
        if !store::complete_refund(&mut tx, &refund.id, &made.id).await? {
            return Ok(false);
        }
        let mut payment = store::lock_payment_by_provider_id(
            &mut tx,
            self.backend(),
            &payment.provider_payment_id,
        )
        .await?
        .unwrap_or(payment);
        payment.refunded_minor += refund.amount.amount_minor;
        store::update_payment(&mut tx, &payment, self.now()).await?;
        events::refund_issued(&mut tx, refund).await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(refund_id = %refund.id, order_id = %refund.order_id, "refund made");
        Ok(true)
    }

    async fn make_due_cancellations(&self) -> Result<usize, PaymentsError> {
        let now = self.now();
        let mut done = 0;
        for (order_id, provider_payment_id, due) in
            store::due_cancellations(self.db.pool(), now).await?
        {
            if !store::update_cancellation(
                self.db.pool(),
                &order_id,
                due,
                now + LEASE_MILLIS,
                false,
            )
            .await?
            {
                continue;
            }
            let key = format!("cancel-{order_id}");
            match self
                .provider
                .cancel_payment(&provider_payment_id, &key)
                .await
            {
                Ok(current) => {
                    self.apply_provider_payment(&current).await?;
                    store::update_cancellation(
                        self.db.pool(),
                        &order_id,
                        now + LEASE_MILLIS,
                        now,
                        true,
                    )
                    .await?;
                    done += 1;
                }
                // Paid meanwhile: orders refuses the payment and its settlement refunds it.
                Err(ProviderError::Refused(message)) => {
                    tracing::info!(order_id = %order_id, reason = %message, "payment not cancelled");
                    store::update_cancellation(
                        self.db.pool(),
                        &order_id,
                        now + LEASE_MILLIS,
                        now,
                        true,
                    )
                    .await?;
                }
                Err(error) => {
                    tracing::warn!(order_id = %order_id, error = %error, "cancellation failed, retrying later");
                }
            }
        }
        Ok(done)
    }

    /// A seller's balances, one per currency, and whether a payout account is connected.
    pub async fn balance(
        &self,
        seller_id: &str,
    ) -> Result<(Vec<SellerBalance>, bool), PaymentsError> {
        let balances = store::balances(self.db.pool(), Some(seller_id)).await?;
        let paid_out = store::paid_out(self.db.pool(), seller_id).await?;
        let mut currencies: Vec<Currency> = balances
            .accounts
            .keys()
            .map(|(_, currency)| *currency)
            .chain(paid_out.iter().map(|money| money.currency))
            .collect();
        currencies.sort();
        currencies.dedup();
        let result = currencies
            .into_iter()
            .map(|currency| {
                let pending = balances.of(&Account::seller_pending(seller_id), currency);
                let available = balances.of(&Account::seller_available(seller_id), currency);
                SellerBalance {
                    currency,
                    pending: pending.posted,
                    available: available.spendable(),
                    withdrawing: available.pending_debits,
                    paid_out: paid_out
                        .iter()
                        .find(|money| money.currency == currency)
                        .map_or(0, |money| money.amount_minor),
                }
            })
            .collect();
        let connected = store::payout_account(self.db.pool(), seller_id, None)
            .await?
            .is_some_and(|(_, enabled)| enabled);
        Ok((result, connected))
    }

    /// A page of a seller's earnings.
    pub async fn earnings(
        &self,
        seller_id: &str,
        cursor: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<EarningRecord>, PaymentsError> {
        Ok(store::earnings_of(self.db.pool(), seller_id, cursor.as_ref(), limit).await?)
    }

    /// Opens the seller's payout account once, and the provider's onboarding link while
    /// it cannot receive transfers yet (`None` when connected at once).
    pub async fn start_onboarding(
        &self,
        seller_id: &str,
        return_url: &str,
    ) -> Result<(Option<String>, bool), PaymentsError> {
        let account = match store::payout_account(self.db.pool(), seller_id, None).await? {
            Some((account_id, _)) => {
                self.provider
                    .retrieve_connected_account(&account_id)
                    .await?
            }
            None => {
                let email = store::find_user(self.db.pool(), seller_id)
                    .await?
                    .map(|user| user.email)
                    .filter(|email| !email.is_empty());
                self.provider
                    .create_connected_account(NewConnectedAccount {
                        seller_id: seller_id.to_owned(),
                        email,
                        country: "US".to_owned(),
                        idempotency_key: format!("account-{seller_id}"),
                    })
                    .await?
            }
        };
        store::upsert_payout_account(
            self.db.pool(),
            seller_id,
            &account.id,
            account.transfers_enabled,
            self.now(),
        )
        .await?;
        if account.transfers_enabled {
            return Ok((None, true));
        }
        let link = self
            .provider
            .onboarding_link(&account.id, return_url, return_url)
            .await?;
        Ok((Some(link), false))
    }

    async fn refresh_payout_account(&self, account_id: &str) -> Result<(), PaymentsError> {
        let account = self.provider.retrieve_connected_account(account_id).await?;
        sqlx::query("UPDATE payout_accounts SET transfers_enabled = $1 WHERE account_id = $2")
            .bind(account.transfers_enabled)
            .bind(account_id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Withdraws `amount` of the seller's available balance: held (a pending ledger
    /// transfer available → payouts), transferred at the provider (idempotency key = the
    /// withdrawal id), then posted (WithdrawalSent) or voided (WithdrawalFailed). A retry
    /// with the same request id answers the same withdrawal.
    pub async fn withdraw(
        &self,
        seller_id: &str,
        amount: Money,
        request_id: &str,
    ) -> Result<WithdrawalRecord, PaymentsError> {
        if let Some(existing) =
            store::find_withdrawal_by_request(self.db.pool(), seller_id, request_id).await?
        {
            return Ok(existing);
        }
        if amount.amount_minor < self.config.minimum_withdrawal_minor {
            return Err(gigmesh_errors::ApiError::invalid(
                "amount.amount_minor",
                format!(
                    "must be at least the minimum withdrawal of {} {}",
                    self.config.minimum_withdrawal_minor, amount.currency
                ),
            )
            .into());
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some((_, transfers_enabled)) =
            store::payout_account(&mut *tx, seller_id, Some(self.backend())).await?
        else {
            return Err(PaymentsError::Precondition(
                "no payout account is connected: start payout onboarding first".to_owned(),
            ));
        };
        if !transfers_enabled {
            return Err(PaymentsError::Precondition(
                "the payout account cannot receive transfers yet: finish its onboarding".to_owned(),
            ));
        }
        let balances = store::balances(&mut *tx, Some(seller_id)).await?;
        let available = balances
            .of(&Account::seller_available(seller_id), amount.currency)
            .spendable();
        if amount.amount_minor > available {
            return Err(PaymentsError::Precondition(format!(
                "the amount is above the available balance of {available} {}",
                amount.currency
            )));
        }
        let id = store::new_id();
        let hold = Transaction::transfer(
            "withdrawal",
            amount.currency,
            Account::seller_available(seller_id),
            Account::payouts(),
            amount.amount_minor,
        )?;
        let pending_id = store::write_transaction(
            &mut tx,
            &hold,
            "pending",
            Context {
                seller_id: Some(seller_id),
                withdrawal_id: Some(&id),
                ..Context::default()
            },
            now,
        )
        .await?;
        let withdrawal = WithdrawalRecord {
            id,
            seller_id: seller_id.to_owned(),
            request_id: request_id.to_owned(),
            amount,
            status: "pending".to_owned(),
            transfer_id: None,
            failure_message: None,
            pending_transaction_id: pending_id,
            create_time: now,
        };
        match store::insert_withdrawal(&mut tx, &withdrawal).await {
            Ok(()) => {}
            Err(DbError::UniqueViolation { .. }) => {
                drop(tx);
                return store::find_withdrawal_by_request(self.db.pool(), seller_id, request_id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("withdrawal vanished").into());
            }
            Err(error) => return Err(error.into()),
        }
        tx.commit().await.map_err(DbError::from)?;
        self.send_withdrawal(&withdrawal).await
    }

    /// Transfers a pending withdrawal and posts or voids its hold; a provider that cannot
    /// be reached leaves it pending for the money loop to retry.
    async fn send_withdrawal(
        &self,
        withdrawal: &WithdrawalRecord,
    ) -> Result<WithdrawalRecord, PaymentsError> {
        let Some((account_id, _)) =
            store::payout_account(self.db.pool(), &withdrawal.seller_id, None).await?
        else {
            return Ok(withdrawal.clone());
        };
        let result = self
            .provider
            .transfer(NewTransfer {
                account_id,
                amount: withdrawal.amount,
                transfer_group: format!("withdrawal-{}", withdrawal.id),
                source_transaction: None,
                idempotency_key: format!("withdrawal-{}", withdrawal.id),
            })
            .await;
        let (status, transfer_id, failure) = match result {
            Ok(transfer) => ("sent", Some(transfer.id), None),
            Err(ProviderError::Refused(message)) => ("failed", None, Some(message)),
            Err(error) => {
                tracing::warn!(withdrawal_id = %withdrawal.id, error = %error, "transfer failed, retrying later");
                return Ok(withdrawal.clone());
            }
        };
        let now = self.now();
        let mut tx = self.db.begin().await?;
        if !store::finish_withdrawal(
            &mut tx,
            &withdrawal.id,
            status,
            transfer_id.as_deref(),
            failure.as_deref(),
        )
        .await?
        {
            drop(tx);
            return self.reread_withdrawal(withdrawal).await;
        }
        let hold = store::pending_transaction(&mut tx, &withdrawal.pending_transaction_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("withdrawal {} holds nothing", withdrawal.id))?;
        let context = Context {
            seller_id: Some(&withdrawal.seller_id),
            withdrawal_id: Some(&withdrawal.id),
            pending_id: Some(&withdrawal.pending_transaction_id),
            ..Context::default()
        };
        let earning_kind = if status == "sent" {
            store::end_pending(&mut tx, &withdrawal.pending_transaction_id, "settled").await?;
            let posting = hold.posting(withdrawal.amount.amount_minor)?;
            store::write_transaction(&mut tx, &posting, "posted", context, now).await?;
            events::withdrawal_sent(&mut tx, withdrawal).await?;
            "withdrawal"
        } else {
            store::end_pending(&mut tx, &withdrawal.pending_transaction_id, "voided").await?;
            let reason = failure.clone().unwrap_or_default();
            events::withdrawal_failed(&mut tx, withdrawal, &reason).await?;
            "withdrawal_returned"
        };
        store::insert_earning(
            &mut tx,
            &EarningRecord {
                id: store::new_id(),
                seller_id: withdrawal.seller_id.clone(),
                kind: earning_kind.to_owned(),
                order_id: String::new(),
                withdrawal_id: withdrawal.id.clone(),
                amount: withdrawal.amount,
                time: now,
                clear_time: None,
            },
        )
        .await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(withdrawal_id = %withdrawal.id, status, "withdrawal finished");
        self.reread_withdrawal(withdrawal).await
    }

    async fn reread_withdrawal(
        &self,
        withdrawal: &WithdrawalRecord,
    ) -> Result<WithdrawalRecord, PaymentsError> {
        Ok(store::find_withdrawal_by_request(
            self.db.pool(),
            &withdrawal.seller_id,
            &withdrawal.request_id,
        )
        .await?
        .unwrap_or_else(|| withdrawal.clone()))
    }

    /// A page of a seller's withdrawals.
    pub async fn withdrawals(
        &self,
        seller_id: &str,
        cursor: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<WithdrawalRecord>, PaymentsError> {
        Ok(store::withdrawals_of(self.db.pool(), seller_id, cursor.as_ref(), limit).await?)
    }

    /// The invoice of an order, for its buyer, its seller or an admin.
    pub async fn invoice(
        &self,
        viewer_id: &str,
        is_admin: bool,
        order_id: &str,
    ) -> Result<InvoiceRecord, PaymentsError> {
        store::find_invoice(self.db.pool(), order_id)
            .await?
            .filter(|invoice| {
                is_admin || invoice.buyer_id == viewer_id || invoice.seller_id == viewer_id
            })
            .ok_or_else(|| PaymentsError::NotFound(format!("invoice of order {order_id}")))
    }

    /// Payments and refunds for admins.
    pub async fn money_records(
        &self,
        filter: &PaymentFilter,
        cursor: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<MoneyRecord>, PaymentsError> {
        Ok(store::money_records(self.db.pool(), filter, cursor.as_ref(), limit).await?)
    }

    /// An admin refunds (part of) an order's payment at the marketplace's cost
    /// (platform_fees → refunds), recorded in the audit log; the same request id answers
    /// the same refund.
    pub async fn admin_refund(
        &self,
        admin_id: &str,
        order_id: &str,
        amount: Money,
        reason: &str,
        request_id: &str,
    ) -> Result<RefundRecord, PaymentsError> {
        let key = format!("admin-{order_id}-{request_id}");
        if let Some(existing) = store::find_refund_by_key(self.db.pool(), &key).await? {
            return Ok(existing);
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let payment = store::find_payment_of_order(&mut *tx, order_id)
            .await?
            .ok_or_else(|| PaymentsError::NotFound(format!("payment of order {order_id}")))?;
        let payment = store::lock_payment_by_provider_id(
            &mut tx,
            self.backend(),
            &payment.provider_payment_id,
        )
        .await?
        .unwrap_or(payment);
        if payment.status != "succeeded" {
            return Err(PaymentsError::Precondition(format!(
                "the payment is {}, not succeeded",
                payment.status
            )));
        }
        if amount.currency != payment.amount.currency {
            return Err(gigmesh_errors::ApiError::invalid(
                "amount.currency",
                format!(
                    "must be the payment's currency, {}",
                    payment.amount.currency
                ),
            )
            .into());
        }
        let refunded = store::refunded_total(&mut *tx, order_id).await?;
        let refundable = payment.amount.amount_minor - refunded;
        if amount.amount_minor > refundable {
            return Err(PaymentsError::Precondition(format!(
                "only {refundable} {} of the payment is left to refund",
                amount.currency
            )));
        }
        let transaction = Transaction::transfer(
            "admin_refund",
            amount.currency,
            Account::platform_fees(),
            Account::refunds(),
            amount.amount_minor,
        )?;
        store::write_transaction(
            &mut tx,
            &transaction,
            "posted",
            Context {
                order_id: Some(order_id),
                ..Context::default()
            },
            now,
        )
        .await?;
        let refund = RefundRecord {
            id: store::new_id(),
            order_id: order_id.to_owned(),
            payment_id: payment.id.clone(),
            buyer_id: payment.buyer_id.clone(),
            seller_id: payment.seller_id.clone(),
            idempotency_key: key.clone(),
            provider_refund_id: None,
            amount,
            reason: reason.to_owned(),
            status: "pending".to_owned(),
            attempts: 0,
            next_attempt_time: now,
            create_time: now,
        };
        store::insert_refund(&mut tx, &refund).await?;
        store::insert_audit(
            &mut tx,
            &store::AuditRecord {
                id: store::new_id(),
                actor_user_id: admin_id.to_owned(),
                action: "refund".to_owned(),
                order_id: order_id.to_owned(),
                amount,
                reason: reason.to_owned(),
                time: now,
            },
        )
        .await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(order_id = %order_id, admin_id = %admin_id, "admin refund recorded");
        if store::claim_refund(self.db.pool(), &refund, now + LEASE_MILLIS).await? {
            self.make_refund(&refund).await?;
        }
        Ok(store::find_refund_by_key(self.db.pool(), &key)
            .await?
            .unwrap_or(refund))
    }

    /// The audit log.
    pub async fn audit_log(
        &self,
        cursor: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<store::AuditRecord>, PaymentsError> {
        Ok(store::audit_log(self.db.pool(), cursor.as_ref(), limit).await?)
    }

    /// The ledger's balances per kind and currency, and every invariant that fails.
    pub async fn ledger_summary(&self) -> Result<LedgerSummary, PaymentsError> {
        let pool = self.db.pool();
        let balances = store::balances(pool, None).await?;
        let mut facts = LedgerFacts {
            closed_orders: store::closed_orders(pool).await?,
            ..LedgerFacts::default()
        };
        for (seller, currency, cleared, paid_out) in store::seller_totals(pool).await? {
            facts
                .seller_totals
                .insert((seller, currency), (cleared, paid_out));
        }
        let mut violations = ledger::violations(&balances, &facts);
        for transaction in store::unbalanced_transactions(pool).await? {
            violations.push(format!("transaction {transaction} does not sum to zero"));
        }
        let balances = balances
            .by_kind()
            .into_iter()
            .map(|((kind, currency), balance)| (kind, currency, balance))
            .collect();
        Ok(LedgerSummary {
            balances,
            violations,
        })
    }
}
