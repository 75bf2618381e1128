//! Admins: payments and refunds listed by exactly one of order, buyer or seller; refunds
//! at the marketplace's cost, never above what is left, idempotent, in the audit log.

use gigmesh_proto::payments::{
    ListAuditLogRequest, ListPaymentsRequest, RefundIssued, RefundPaymentRequest,
};
use gigmesh_testing::{Backend, TestUser, signed_in, violated_fields};
use tonic::{Code, Status};

use crate::support::{TestPayments, amount, commission, service_fee, usd};

gigmesh_testing::on_sqlite_and_postgres!(an_admin_refund_is_paid_by_the_marketplace_and_audited);

async fn refund(
    payments: &mut TestPayments,
    admin: &TestUser,
    order_id: &str,
    amount_minor: i64,
    request_id: &str,
) -> Result<gigmesh_proto::payments::Refund, Status> {
    payments
        .client
        .refund_payment(signed_in(
            &admin.token,
            RefundPaymentRequest {
                order_id: order_id.to_owned(),
                amount: usd(amount_minor),
                reason: "late delivery goodwill".to_owned(),
                request_id: request_id.to_owned(),
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn an_admin_refund_is_paid_by_the_marketplace_and_audited(backend: Backend) {
    let mut payments = TestPayments::start(backend).await;
    let (buyer, seller, admin) = (payments.buyer(), payments.seller(), payments.admin());
    let subtotal = 10_000;
    let total = subtotal + service_fee(subtotal);
    let earnings = subtotal - commission(subtotal);
    let mut order = payments.place_order(&buyer, &seller, subtotal).await;
    payments.pay(&buyer, &mut order).await;
    payments.complete(&mut order).await;
    payments.emitted().await;

    let made = refund(&mut payments, &admin, &order.order.id, 1_500, "r-1")
        .await
        .expect("refund");
    assert!(made.provider_refund_id.starts_with("re_"), "{made:?}");
    let again = refund(&mut payments, &admin, &order.order.id, 1_500, "r-1")
        .await
        .expect("retry");
    assert_eq!(again.id, made.id);
    let status = refund(&mut payments, &admin, &order.order.id, total, "r-2")
        .await
        .expect_err("above what is left");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = refund(&mut payments, &admin, &order.order.id, 0, "")
        .await
        .expect_err("bad input");
    assert_eq!(
        violated_fields(&status),
        ["amount.amount_minor", "request_id"]
    );
    let status = refund(&mut payments, &buyer, &order.order.id, 100, "r-3")
        .await
        .expect_err("admins only");
    assert_eq!(status.code(), Code::PermissionDenied);

    let issued = TestPayments::of_type::<RefundIssued>(&payments.emitted().await);
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].reason, "late delivery goodwill");
    payments
        .assert_ledger(&[
            ("clearing", -total),
            ("platform_fees", total - earnings - 1_500),
            ("refunds", 1_500),
            ("seller_pending", earnings),
        ])
        .await;

    let audit = payments
        .client
        .list_audit_log(signed_in(&admin.token, ListAuditLogRequest::default()))
        .await
        .expect("audit")
        .into_inner();
    assert_eq!(audit.entries.len(), 1);
    assert_eq!(audit.entries[0].actor_user_id, admin.user_id);
    assert_eq!(audit.entries[0].action, "refund");
    assert_eq!(amount(&audit.entries[0].amount), 1_500);
    assert_eq!(audit.entries[0].reason, "late delivery goodwill");

    let listed = payments
        .client
        .list_payments(signed_in(
            &admin.token,
            ListPaymentsRequest {
                order_id: order.order.id.clone(),
                ..ListPaymentsRequest::default()
            },
        ))
        .await
        .expect("list")
        .into_inner();
    let kinds: Vec<&str> = listed
        .records
        .iter()
        .map(|record| record.kind.as_str())
        .collect();
    assert_eq!(kinds, ["refund", "payment"]);
    let by_seller = payments
        .client
        .list_payments(signed_in(
            &admin.token,
            ListPaymentsRequest {
                seller_id: seller.user_id.clone(),
                ..ListPaymentsRequest::default()
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(by_seller.records.len(), 2);
    let status = payments
        .client
        .list_payments(signed_in(
            &admin.token,
            ListPaymentsRequest {
                order_id: order.order.id.clone(),
                buyer_id: buyer.user_id.clone(),
                ..ListPaymentsRequest::default()
            },
        ))
        .await
        .expect_err("two filters");
    assert_eq!(status.code(), Code::InvalidArgument);
}
