//! The mails of payments' events: the buyer's receipt, failed payments, refunds and
//! invoices, and the seller's cleared funds and withdrawals. Each event tells one user,
//! named in the event. Pure: the event arrives as a [`PaymentStep`] (`order_events.rs`
//! parses it), the mail leaves as a [`Notice`].

use gigmesh_types::{Money, OrderId, UserId};

use crate::amount::format_money;
use crate::domain::{MailKind, WebApp};
use crate::notice::{Notice, Quote};

/// A payments event that mails someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStep {
    /// A buyer's payment succeeded; the money is in escrow.
    Succeeded {
        /// The order paid for.
        order_id: OrderId,
        /// Who paid.
        buyer_id: UserId,
        /// payments' id of the payment.
        payment_id: String,
        /// What was captured.
        amount: Money,
    },
    /// A payment attempt failed.
    Failed {
        /// The order.
        order_id: OrderId,
        /// Who tried to pay.
        buyer_id: UserId,
        /// What the provider said.
        reason: String,
        /// What was attempted.
        amount: Option<Money>,
    },
    /// Money went back to a buyer.
    Refunded {
        /// The order.
        order_id: OrderId,
        /// Who is refunded.
        buyer_id: UserId,
        /// How much.
        amount: Money,
        /// Why.
        reason: String,
    },
    /// The invoice of a paid order was issued.
    Invoiced {
        /// The order.
        order_id: OrderId,
        /// The buyer.
        buyer_id: UserId,
        /// The invoice number.
        number: String,
        /// What was paid.
        total: Money,
    },
    /// A seller's earnings on an order are available to withdraw.
    FundsCleared {
        /// The order.
        order_id: OrderId,
        /// The seller.
        seller_id: UserId,
        /// How much became available.
        amount: Money,
    },
    /// A withdrawal was sent to the seller's account.
    WithdrawalSent {
        /// The seller.
        seller_id: UserId,
        /// The withdrawal.
        withdrawal_id: String,
        /// How much.
        amount: Money,
    },
    /// A withdrawal failed; the amount is available again.
    WithdrawalFailed {
        /// The seller.
        seller_id: UserId,
        /// The withdrawal.
        withdrawal_id: String,
        /// How much.
        amount: Money,
        /// What the provider said.
        reason: String,
    },
}

/// The page of the seller's earnings and withdrawals in the web app.
const EARNINGS_PAGE: &str = "earnings";

impl PaymentStep {
    /// The user the step's mail goes to, and their side (`buyer` or `seller`) for logs.
    pub fn recipient(&self) -> (UserId, &'static str) {
        match self {
            PaymentStep::Succeeded { buyer_id, .. }
            | PaymentStep::Failed { buyer_id, .. }
            | PaymentStep::Refunded { buyer_id, .. }
            | PaymentStep::Invoiced { buyer_id, .. } => (*buyer_id, "buyer"),
            PaymentStep::FundsCleared { seller_id, .. }
            | PaymentStep::WithdrawalSent { seller_id, .. }
            | PaymentStep::WithdrawalFailed { seller_id, .. } => (*seller_id, "seller"),
        }
    }
}

/// The mail of `step`.
pub fn payment_notice(web_app: &WebApp, step: &PaymentStep) -> Notice {
    let order_notice =
        |kind, subject: String, paragraphs: Vec<String>, order_id: &OrderId| Notice {
            kind,
            subject,
            paragraphs,
            quote: None,
            link: web_app.order_link(&order_id.to_string()),
            link_label: "View the order",
        };
    let earnings_notice = |kind, subject: String, paragraphs: Vec<String>, quote| Notice {
        kind,
        subject,
        paragraphs,
        quote,
        link: web_app.link(EARNINGS_PAGE),
        link_label: "View your earnings",
    };
    match step {
        PaymentStep::Succeeded {
            order_id,
            payment_id,
            amount,
            ..
        } => order_notice(
            MailKind::PaymentReceipt,
            format!(
                "Receipt: {} paid for order {order_id}",
                format_money(*amount)
            ),
            vec![
                format!(
                    "Thank you for your payment of {} for order {order_id}.",
                    format_money(*amount)
                ),
                format!("Payment reference: {payment_id}."),
                "The money is held safely until you accept the delivery; the seller is told \
                 about the order now."
                    .to_owned(),
            ],
            order_id,
        ),
        PaymentStep::Failed {
            order_id,
            reason,
            amount,
            ..
        } => {
            let mut notice = order_notice(
                MailKind::PaymentFailed,
                format!("Your payment for order {order_id} failed"),
                vec![
                    match amount {
                        Some(amount) => format!(
                            "Your payment of {} for order {order_id} did not go through.",
                            format_money(*amount)
                        ),
                        None => format!("Your payment for order {order_id} did not go through."),
                    },
                    "Nothing was charged. You can try again, with the same or another card, \
                     while the order waits for payment."
                        .to_owned(),
                ],
                order_id,
            );
            notice.quote = Quote::unless_blank("The payment provider said", reason);
            notice
        }
        PaymentStep::Refunded {
            order_id,
            amount,
            reason,
            ..
        } => {
            let mut notice = order_notice(
                MailKind::RefundIssued,
                format!("Refund of {} for order {order_id}", format_money(*amount)),
                vec![
                    format!(
                        "We refunded {} for order {order_id}.",
                        format_money(*amount)
                    ),
                    "It reaches your card within a few days, depending on your bank.".to_owned(),
                ],
                order_id,
            );
            notice.quote = Quote::unless_blank("Reason", reason);
            notice
        }
        PaymentStep::Invoiced {
            order_id,
            number,
            total,
            ..
        } => order_notice(
            MailKind::InvoiceIssued,
            format!("Invoice {number} for order {order_id}"),
            vec![
                format!(
                    "Invoice {number} for order {order_id} was issued: {} paid.",
                    format_money(*total)
                ),
                "You can view and download it on the order's page.".to_owned(),
            ],
            order_id,
        ),
        PaymentStep::FundsCleared {
            order_id, amount, ..
        } => earnings_notice(
            MailKind::FundsCleared,
            format!("{} is available to withdraw", format_money(*amount)),
            vec![format!(
                "Your earnings of {} on order {order_id} cleared and are available to \
                     withdraw now.",
                format_money(*amount)
            )],
            None,
        ),
        PaymentStep::WithdrawalSent {
            withdrawal_id,
            amount,
            ..
        } => earnings_notice(
            MailKind::WithdrawalSent,
            format!("Withdrawal of {} sent", format_money(*amount)),
            vec![
                format!(
                    "We sent {} to your payout account (withdrawal {withdrawal_id}).",
                    format_money(*amount)
                ),
                "It usually arrives within a few business days.".to_owned(),
            ],
            None,
        ),
        PaymentStep::WithdrawalFailed {
            withdrawal_id,
            amount,
            reason,
            ..
        } => earnings_notice(
            MailKind::WithdrawalFailed,
            format!("Withdrawal of {} failed", format_money(*amount)),
            vec![
                format!(
                    "Your withdrawal of {} (withdrawal {withdrawal_id}) failed; the amount is \
                     available in your balance again.",
                    format_money(*amount)
                ),
                "Please check your payout account and try again.".to_owned(),
            ],
            Quote::unless_blank("The payment provider said", reason),
        ),
    }
}
