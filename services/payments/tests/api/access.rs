//! Nobody reads another user's payments, invoices or balance: what is not theirs does
//! not exist for them (NOT_FOUND); sellers' and admins' calls need their role.

use gigmesh_proto::payments::{GetLedgerSummaryRequest, ListPaymentsRequest};
use gigmesh_testing::{Backend, signed_in};
use tonic::Code;
use uuid::Uuid;

use crate::support::TestPayments;

gigmesh_testing::on_sqlite_and_postgres!(others_payments_do_not_exist_for_a_caller);

async fn others_payments_do_not_exist_for_a_caller(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (buyer, seller, stranger) = (payments.buyer(), payments.seller(), payments.buyer());
    let mut order = payments.place_order(&buyer, &seller, 4_000).await;

    for user in [&stranger, &seller] {
        let status = payments
            .order_payment(user, &order.order.id)
            .await
            .expect_err("not theirs");
        assert_eq!(status.code(), Code::NotFound);
    }
    let status = payments
        .order_payment(&buyer, &Uuid::now_v7().to_string())
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
    let status = payments
        .order_payment(&buyer, "nope")
        .await
        .expect_err("bad id");
    assert_eq!(status.code(), Code::InvalidArgument);

    let payment = payments.pay(&buyer, &mut order).await;
    // A wrong client secret answers as an unknown payment.
    let mut forged = payment.clone();
    forged.client_secret = format!("{}_secret_guess", payment.payment_id);
    let status = payments
        .confirm(
            &forged,
            gigmesh_payment_provider::sandbox::TEST_CARD_SUCCEEDS,
            false,
        )
        .await
        .expect_err("wrong secret");
    assert_eq!(status.code(), Code::NotFound);

    let status = crate::invoices::invoice(&mut payments, &stranger, &order.order.id)
        .await
        .expect_err("not theirs");
    assert_eq!(status.code(), Code::NotFound);

    // A seller's balance is their own: another seller sees an empty one.
    let other_seller = payments.seller();
    payments.complete(&mut order).await;
    let balance = payments.balance(&other_seller).await.expect("own balance");
    assert!(balance.balances.is_empty());

    let status = payments
        .client
        .get_ledger_summary(signed_in(&buyer.token, GetLedgerSummaryRequest {}))
        .await
        .expect_err("admins only");
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = payments
        .client
        .list_payments(signed_in(
            &seller.token,
            ListPaymentsRequest {
                order_id: order.order.id.clone(),
                ..ListPaymentsRequest::default()
            },
        ))
        .await
        .expect_err("admins only");
    assert_eq!(status.code(), Code::PermissionDenied);
    let total = 4_000 + crate::support::service_fee(4_000);
    let earnings = 4_000 - crate::support::commission(4_000);
    payments
        .assert_ledger(&[
            ("clearing", -total),
            ("platform_fees", total - earnings),
            ("seller_pending", earnings),
        ])
        .await;
}
