//! Sellers' money: balances, the earnings history, payout onboarding and withdrawals in two
//! phases (a hold on the available balance, posted when the provider's transfer succeeds,
//! voided when it fails).

use gigmesh_db::DbError;
use gigmesh_payment_provider::{NewConnectedAccount, NewTransfer, ProviderError};
use gigmesh_types::{Currency, Money};

use super::{Payments, SellerBalance};
use crate::error::PaymentsError;
use crate::events;
use crate::ledger::{Account, Transaction};
use crate::store::{self, Context, Cursor, EarningRecord, WithdrawalRecord};

impl Payments {
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

    pub(super) async fn refresh_payout_account(
        &self,
        account_id: &str,
    ) -> Result<(), PaymentsError> {
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
    pub(super) async fn send_withdrawal(
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
}
