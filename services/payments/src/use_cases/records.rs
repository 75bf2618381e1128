//! What the parties and admins read — invoices, payments and refunds, the audit log, the
//! ledger's summary — and admins' refunds at the marketplace's cost.

use gigmesh_db::DbError;
use gigmesh_types::Money;

use super::{LEASE_MILLIS, LedgerSummary, Payments};
use crate::error::PaymentsError;
use crate::ledger::{self, Account, LedgerFacts, Transaction};
use crate::store::{
    self, Context, Cursor, InvoiceRecord, MoneyRecord, PaymentFilter, RefundRecord,
};

impl Payments {
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
