//! Sellers' withdrawals: onboarding connects a sandbox account at once; a withdrawal is
//! held, transferred and posted (or voided when the transfer fails); above the available
//! balance, below the minimum and without an account are refused; a retried request is the
//! same withdrawal.

use gigmesh_proto::payments::{
    ListMyEarningsRequest, ListMyWithdrawalsRequest, StartPayoutOnboardingRequest, WithdrawRequest,
    Withdrawal, WithdrawalFailed, WithdrawalSent, WithdrawalStatus,
};
use gigmesh_testing::{Backend, TestUser, signed_in, violated_fields};
use tonic::{Code, Status};

use crate::support::{TestPayments, amount, commission, service_fee, usd};

gigmesh_testing::on_sqlite_and_postgres!(
    a_seller_withdraws_cleared_earnings_within_the_rules,
    a_failed_transfer_voids_the_hold_and_the_amount_is_available_again,
);

async fn withdraw(
    payments: &mut TestPayments,
    seller: &TestUser,
    amount_minor: i64,
    request_id: &str,
) -> Result<Withdrawal, Status> {
    payments
        .client
        .withdraw(signed_in(
            &seller.token,
            WithdrawRequest {
                amount: usd(amount_minor),
                request_id: request_id.to_owned(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn onboard(payments: &mut TestPayments, seller: &TestUser) -> String {
    let response = payments
        .client
        .start_payout_onboarding(signed_in(
            &seller.token,
            StartPayoutOnboardingRequest {
                return_url: "https://gigmesh.example/payouts".to_owned(),
            },
        ))
        .await
        .expect("onboarding")
        .into_inner();
    assert!(response.connected);
    assert!(response.onboarding_url.is_empty());
    response.onboarding_url
}

/// A completed and cleared order of `subtotal`: answers the seller's earnings and total.
async fn cleared_earnings(
    payments: &mut TestPayments,
    seller: &TestUser,
    subtotal: i64,
) -> (i64, i64) {
    let buyer = payments.buyer();
    let mut order = payments.place_order(&buyer, seller, subtotal).await;
    payments.pay(&buyer, &mut order).await;
    payments.complete(&mut order).await;
    payments.clock.advance_seconds(14 * 86_400);
    payments.money_loop_step().await;
    (
        subtotal - commission(subtotal),
        subtotal + service_fee(subtotal),
    )
}

async fn a_seller_withdraws_cleared_earnings_within_the_rules(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let seller = payments.seller();
    let (earnings, total) = cleared_earnings(&mut payments, &seller, 10_000).await;

    let status = withdraw(&mut payments, &seller, 2_000, "w-0")
        .await
        .expect_err("no account");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("onboarding"), "{status:?}");

    onboard(&mut payments, &seller).await;
    onboard(&mut payments, &seller).await;
    let status = withdraw(&mut payments, &seller, earnings + 1, "w-1")
        .await
        .expect_err("above");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains(&format!("{earnings} USD")),
        "{status:?}"
    );
    let status = withdraw(&mut payments, &seller, 999, "w-2")
        .await
        .expect_err("below minimum");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["amount.amount_minor"]);
    let status = withdraw(&mut payments, &seller, 1_000, "")
        .await
        .expect_err("no request id");
    assert_eq!(violated_fields(&status), ["request_id"]);

    let sent = withdraw(&mut payments, &seller, 5_000, "w-3")
        .await
        .expect("withdraw");
    assert_eq!(sent.status(), WithdrawalStatus::Sent);
    assert!(sent.transfer_id.starts_with("tr_"), "{sent:?}");
    let again = withdraw(&mut payments, &seller, 5_000, "w-3")
        .await
        .expect("retry");
    assert_eq!(again.id, sent.id);
    let emitted = payments.emitted().await;
    assert_eq!(TestPayments::of_type::<WithdrawalSent>(&emitted).len(), 1);

    let balance = payments.balance(&seller).await.expect("balance");
    assert!(balance.payout_account_connected);
    assert_eq!(amount(&balance.balances[0].available), earnings - 5_000);
    assert_eq!(amount(&balance.balances[0].paid_out), 5_000);
    assert_eq!(amount(&balance.balances[0].withdrawing), 0);
    payments
        .assert_ledger(&[
            ("clearing", -total),
            ("platform_fees", total - earnings),
            ("seller_available", earnings - 5_000),
            ("payouts", 5_000),
        ])
        .await;

    let listed = payments
        .client
        .list_my_withdrawals(signed_in(
            &seller.token,
            ListMyWithdrawalsRequest::default(),
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.withdrawals.len(), 1);
    let earnings_page = payments
        .client
        .list_my_earnings(signed_in(
            &seller.token,
            ListMyEarningsRequest {
                page_size: 2,
                page_token: String::new(),
            },
        ))
        .await
        .expect("earnings")
        .into_inner();
    assert_eq!(earnings_page.earnings.len(), 2);
    assert!(!earnings_page.next_page_token.is_empty());
    let rest = payments
        .client
        .list_my_earnings(signed_in(
            &seller.token,
            ListMyEarningsRequest {
                page_size: 2,
                page_token: earnings_page.next_page_token.clone(),
            },
        ))
        .await
        .expect("earnings")
        .into_inner();
    assert_eq!(rest.earnings.len(), 1, "earning, cleared, withdrawal");

    // A buyer is no seller.
    let buyer = payments.buyer();
    let status = payments.balance(&buyer).await.expect_err("not a seller");
    assert_eq!(status.code(), Code::PermissionDenied);
}

async fn a_failed_transfer_voids_the_hold_and_the_amount_is_available_again(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let seller = payments.seller();
    let (earnings, total) = cleared_earnings(&mut payments, &seller, 20_000).await;
    onboard(&mut payments, &seller).await;
    // The provider restricts the account without telling payments yet.
    let account_id = sqlx::query_scalar::<_, String>(
        "SELECT account_id FROM payout_accounts WHERE seller_id = $1",
    )
    .bind(&seller.user_id)
    .fetch_one(payments_db(&payments))
    .await
    .expect("account");
    payments
        .sandbox()
        .restrict_account(&account_id)
        .await
        .expect("restrict");

    let failed = withdraw(&mut payments, &seller, 3_000, "w-1")
        .await
        .expect("answered");
    assert_eq!(failed.status(), WithdrawalStatus::Failed);
    assert!(!failed.failure_message.is_empty());
    let emitted = payments.emitted().await;
    assert_eq!(TestPayments::of_type::<WithdrawalFailed>(&emitted).len(), 1);
    let balance = payments.balance(&seller).await.expect("balance");
    assert_eq!(amount(&balance.balances[0].available), earnings);
    assert_eq!(amount(&balance.balances[0].paid_out), 0);
    payments
        .assert_ledger(&[
            ("clearing", -total),
            ("platform_fees", total - earnings),
            ("seller_available", earnings),
        ])
        .await;
}

fn payments_db(payments: &TestPayments) -> &sqlx::AnyPool {
    payments.db().pool()
}
