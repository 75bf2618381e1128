//! Domain values as the proto messages the API answers with and the events carry.

use gigmesh_payment_provider::ProviderPaymentStatus;
use gigmesh_proto::payments as proto;
use gigmesh_proto::types::Money as ProtoMoney;
use gigmesh_types::{Currency, Money, timestamp_from_millis};

use crate::store::{
    AuditRecord, EarningRecord, InvoiceRecord, MoneyRecord, RefundRecord, WithdrawalRecord,
};
use crate::use_cases::{LedgerSummary, OrderPaymentView, SellerBalance};

fn money(amount_minor: i64, currency: Currency) -> Option<ProtoMoney> {
    Some(ProtoMoney::from(Money::new(amount_minor, currency)))
}

/// A stored provider status as the API's.
pub fn status_to_proto(status: &str) -> proto::PaymentStatus {
    match status {
        "requires_payment_method" => proto::PaymentStatus::RequiresPaymentMethod,
        "requires_action" => proto::PaymentStatus::RequiresAction,
        "processing" => proto::PaymentStatus::Processing,
        "succeeded" => proto::PaymentStatus::Succeeded,
        "canceled" => proto::PaymentStatus::Canceled,
        _ => proto::PaymentStatus::Unspecified,
    }
}

/// A provider status as the API's.
pub fn provider_status_to_proto(status: ProviderPaymentStatus) -> proto::PaymentStatus {
    status_to_proto(crate::use_cases::status_name(status))
}

/// What the buyer's client needs to pay.
pub fn order_payment_to_proto(view: &OrderPaymentView) -> proto::OrderPayment {
    let payment = &view.payment;
    proto::OrderPayment {
        order_id: payment.order_id.clone(),
        provider: payment.provider.clone(),
        payment_id: payment.provider_payment_id.clone(),
        client_secret: payment.client_secret.clone(),
        amount: Some(ProtoMoney::from(payment.amount)),
        status: status_to_proto(&payment.status) as i32,
        last_error: payment.last_error.clone().unwrap_or_default(),
        checkout_url: view.checkout_url.clone().unwrap_or_default(),
    }
}

/// A seller's balance in one currency.
pub fn balance_to_proto(balance: &SellerBalance) -> proto::Balance {
    proto::Balance {
        pending: money(balance.pending, balance.currency),
        available: money(balance.available, balance.currency),
        withdrawing: money(balance.withdrawing, balance.currency),
        paid_out: money(balance.paid_out, balance.currency),
    }
}

/// One change of a seller's balance.
pub fn earning_to_proto(earning: &EarningRecord) -> proto::Earning {
    let kind = match earning.kind.as_str() {
        "order_earning" => proto::EarningKind::OrderEarning,
        "cleared" => proto::EarningKind::Cleared,
        "withdrawal" => proto::EarningKind::Withdrawal,
        "withdrawal_returned" => proto::EarningKind::WithdrawalReturned,
        _ => proto::EarningKind::Unspecified,
    };
    proto::Earning {
        id: earning.id.clone(),
        kind: kind as i32,
        order_id: earning.order_id.clone(),
        withdrawal_id: earning.withdrawal_id.clone(),
        amount: Some(ProtoMoney::from(earning.amount)),
        time: Some(timestamp_from_millis(earning.time)),
        clear_time: earning.clear_time.map(timestamp_from_millis),
    }
}

/// A withdrawal.
pub fn withdrawal_to_proto(withdrawal: &WithdrawalRecord) -> proto::Withdrawal {
    let status = match withdrawal.status.as_str() {
        "pending" => proto::WithdrawalStatus::Pending,
        "sent" => proto::WithdrawalStatus::Sent,
        "failed" => proto::WithdrawalStatus::Failed,
        _ => proto::WithdrawalStatus::Unspecified,
    };
    proto::Withdrawal {
        id: withdrawal.id.clone(),
        amount: Some(ProtoMoney::from(withdrawal.amount)),
        status: status as i32,
        transfer_id: withdrawal.transfer_id.clone().unwrap_or_default(),
        create_time: Some(timestamp_from_millis(withdrawal.create_time)),
        failure_message: withdrawal.failure_message.clone().unwrap_or_default(),
    }
}

/// An invoice.
pub fn invoice_to_proto(invoice: &InvoiceRecord) -> proto::Invoice {
    let currency = invoice.currency;
    proto::Invoice {
        id: invoice.id.clone(),
        number: invoice.number.clone(),
        order_id: invoice.order_id.clone(),
        issue_time: Some(timestamp_from_millis(invoice.issue_time)),
        buyer: Some(proto::InvoiceParty {
            user_id: invoice.buyer_id.clone(),
            name: invoice.buyer.name(),
            email: invoice.buyer.email.clone(),
        }),
        seller: Some(proto::InvoiceParty {
            user_id: invoice.seller_id.clone(),
            name: invoice.seller.name(),
            email: invoice.seller.email.clone(),
        }),
        lines: invoice
            .lines
            .iter()
            .map(|line| proto::InvoiceLine {
                description: line.description.clone(),
                quantity: line.quantity,
                unit_price: money(line.unit_price_minor, currency),
                amount: money(line.amount_minor, currency),
            })
            .collect(),
        subtotal: money(invoice.subtotal_minor, currency),
        service_fee: money(invoice.service_fee_minor, currency),
        total: money(invoice.total_minor, currency),
    }
}

/// A payment or refund, for admins.
pub fn money_record_to_proto(record: &MoneyRecord) -> proto::PaymentRecord {
    proto::PaymentRecord {
        id: record.id.clone(),
        kind: record.kind.to_owned(),
        order_id: record.order_id.clone(),
        buyer_id: record.buyer_id.clone(),
        seller_id: record.seller_id.clone(),
        amount: Some(ProtoMoney::from(record.amount)),
        provider_id: record.provider_id.clone(),
        status: record.status.clone(),
        reason: record.reason.clone(),
        time: Some(timestamp_from_millis(record.time)),
    }
}

/// A refund.
pub fn refund_to_proto(refund: &RefundRecord) -> proto::Refund {
    proto::Refund {
        id: refund.id.clone(),
        order_id: refund.order_id.clone(),
        amount: Some(ProtoMoney::from(refund.amount)),
        reason: refund.reason.clone(),
        provider_refund_id: refund.provider_refund_id.clone().unwrap_or_default(),
        create_time: Some(timestamp_from_millis(refund.create_time)),
    }
}

/// An audit entry.
pub fn audit_to_proto(entry: &AuditRecord) -> proto::AuditEntry {
    proto::AuditEntry {
        id: entry.id.clone(),
        actor_user_id: entry.actor_user_id.clone(),
        action: entry.action.clone(),
        order_id: entry.order_id.clone(),
        amount: Some(ProtoMoney::from(entry.amount)),
        reason: entry.reason.clone(),
        time: Some(timestamp_from_millis(entry.time)),
    }
}

/// The ledger summary.
pub fn summary_to_proto(summary: &LedgerSummary) -> proto::LedgerSummary {
    proto::LedgerSummary {
        balances: summary
            .balances
            .iter()
            .map(|(kind, currency, balance)| proto::AccountBalance {
                account_kind: kind.as_str().to_owned(),
                posted: money(balance.posted, *currency),
                pending: money(balance.pending_debits, *currency),
            })
            .collect(),
        balanced: summary.violations.is_empty(),
        violations: summary.violations.clone(),
    }
}
