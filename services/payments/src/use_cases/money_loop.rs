//! The money loop: clears earnings whose clearance period is over, makes the refunds and
//! cancellations settlements decided, and retries withdrawals left pending; each piece of
//! work is claimed, so replicas share the loop.

use gigmesh_db::DbError;
use gigmesh_payment_provider::{NewRefund, ProviderError};

use super::{LEASE_MILLIS, Payments, RETRY_MILLIS};
use crate::error::PaymentsError;
use crate::events;
use crate::ledger::{Account, Transaction};
use crate::store::{self, Context, EarningRecord, RefundRecord};

impl Payments {
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
    pub(super) async fn make_refund(&self, refund: &RefundRecord) -> Result<bool, PaymentsError> {
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
        crate::metrics::count_refunded(refund.amount);
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
}
