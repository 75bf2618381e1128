//! The mails of an order's steps: which side each step tells (the buyer, the seller or
//! both) and what the mail says. Pure: the step and the order arrive as domain values
//! (`order_events.rs` parses them from `OrderChanged`), the mail leaves as a [`Notice`].

use gigmesh_types::{Money, OrderId, UserId};

use crate::amount::format_money;
use crate::domain::{MailKind, WebApp, format_utc};
use crate::notice::{Notice, Quote};

/// A side of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The one who bought.
    Buyer,
    /// The one whose gig was bought.
    Seller,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Buyer => Side::Seller,
            Side::Seller => Side::Buyer,
        }
    }

    /// `buyer` or `seller`, for logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buyer => "buyer",
            Side::Seller => "seller",
        }
    }
}

/// What the mails of an order need to know about it, as it is after the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFacts {
    /// The order.
    pub order_id: OrderId,
    /// The buyer.
    pub buyer_id: UserId,
    /// The seller.
    pub seller_id: UserId,
    /// The gig's title when ordered.
    pub gig_title: String,
    /// The package's name when ordered.
    pub package_name: String,
    /// What the buyer pays.
    pub total: Option<Money>,
    /// What the seller earns on completion.
    pub seller_earnings: Option<Money>,
    /// When delivery is due (unix millis).
    pub due_at_millis: Option<i64>,
    /// When the order completes by itself unless the buyer answers (unix millis).
    pub auto_complete_at_millis: Option<i64>,
    /// When a pending request accepts itself unless answered (unix millis).
    pub answer_deadline_millis: Option<i64>,
    /// Whether the order was paid.
    pub paid: bool,
}

impl OrderFacts {
    /// The user on `side`.
    pub fn user(&self, side: Side) -> UserId {
        match side {
            Side::Buyer => self.buyer_id,
            Side::Seller => self.seller_id,
        }
    }
}

/// How an admin settled a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The seller is paid as on completion.
    Release,
    /// The buyer gets everything back.
    Refund,
    /// Part of the subtotal back to the buyer, the rest to the seller.
    Split,
}

/// A step of an order that mails someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderStep {
    /// The payment arrived: a new order for the seller.
    Paid,
    /// The buyer answered the requirements.
    RequirementsSubmitted,
    /// The seller delivered.
    Delivered {
        /// The seller's message.
        message: String,
        /// How many files came with it.
        attachment_count: usize,
    },
    /// The buyer asked for a revision.
    RevisionRequested {
        /// What to change.
        message: String,
    },
    /// The seller asked for more days.
    ExtensionRequested {
        /// How many.
        days: i32,
        /// Why.
        reason: String,
    },
    /// The extension was accepted, by the buyer or by itself.
    ExtensionAccepted {
        /// How many days were added.
        days: i32,
        /// Whether it accepted itself after the answer window.
        by_itself: bool,
    },
    /// The buyer declined the extension.
    ExtensionDeclined,
    /// The order passed its due date undelivered.
    Late,
    /// One side asked for a mutual cancellation.
    CancellationRequested {
        /// Who asked (unknown when neither side did).
        by: Option<Side>,
        /// Why.
        reason: String,
    },
    /// The other side declined the cancellation.
    CancellationDeclined {
        /// Who declined (unknown when neither side did).
        by: Option<Side>,
    },
    /// The order was cancelled.
    Cancelled {
        /// Why.
        reason: String,
        /// What goes back to the buyer (set when a paid order is refunded).
        refund: Option<Money>,
    },
    /// The order was not paid in time.
    Expired,
    /// One side opened a dispute.
    DisputeOpened {
        /// Who opened it (unknown when neither side did).
        by: Option<Side>,
        /// What went wrong.
        reason: String,
    },
    /// An admin resolved the dispute.
    DisputeResolved {
        /// How.
        resolution: Option<Resolution>,
        /// What goes back to the buyer.
        refund: Option<Money>,
        /// What the seller earns.
        seller_earnings: Option<Money>,
        /// The admin's note.
        note: String,
    },
    /// The order completed.
    Completed {
        /// What the seller earns.
        seller_earnings: Option<Money>,
        /// Whether it completed by itself (the buyer did not answer the delivery).
        by_itself: bool,
    },
}

/// The sides `step` mails, in the order they are sent.
pub fn sides_to_tell(step: &OrderStep, order: &OrderFacts) -> Vec<Side> {
    use OrderStep as Step;
    let both = vec![Side::Buyer, Side::Seller];
    match step {
        Step::Paid
        | Step::RequirementsSubmitted
        | Step::RevisionRequested { .. }
        | Step::ExtensionAccepted { .. }
        | Step::ExtensionDeclined => vec![Side::Seller],
        Step::Delivered { .. } | Step::ExtensionRequested { .. } | Step::Expired => {
            vec![Side::Buyer]
        }
        Step::Late | Step::DisputeResolved { .. } | Step::Completed { .. } => both,
        // The seller hears of an order once it is paid; one cancelled before that is news
        // to the buyer only.
        Step::Cancelled { .. } if !order.paid => vec![Side::Buyer],
        Step::Cancelled { .. } => both,
        Step::CancellationRequested { by, .. } | Step::DisputeOpened { by, .. } => {
            by.map_or(both, |by| vec![by.other()])
        }
        // The requester is the side that did not decline.
        Step::CancellationDeclined { by } => by.map_or(both, |by| vec![by.other()]),
    }
}

/// The mail telling `side` about `step`.
pub fn order_notice(web_app: &WebApp, step: &OrderStep, order: &OrderFacts, side: Side) -> Notice {
    use OrderStep as Step;
    let title = &order.gig_title;
    let link = web_app.order_link(&order.order_id.to_string());
    let other = side.other().as_str();
    let notice = |kind, subject: String, paragraphs: Vec<String>, quote: Option<Quote>| Notice {
        kind,
        subject,
        paragraphs,
        quote,
        link: link.clone(),
        link_label: "View the order",
    };
    match step {
        Step::Paid => notice(
            MailKind::OrderNew,
            format!("New order: {title}"),
            vec![
                format!(
                    "You have a new order for \"{title}\" ({}). The buyer has paid{}.",
                    order.package_name,
                    amount_clause(" ", order.total)
                ),
                match order.seller_earnings {
                    Some(earnings) => format!(
                        "You earn {} once the order is complete.",
                        format_money(earnings)
                    ),
                    None => "You are paid once the order is complete.".to_owned(),
                },
                "The order starts when the buyer has answered the gig's requirements (at once if \
                 it has none)."
                    .to_owned(),
            ],
            None,
        ),
        Step::RequirementsSubmitted => notice(
            MailKind::OrderRequirementsSubmitted,
            format!("Requirements submitted: {title}"),
            vec![
                format!("The buyer answered the requirements of \"{title}\"; the work can start."),
                due_sentence(order),
            ],
            None,
        ),
        Step::Delivered {
            message,
            attachment_count,
        } => notice(
            MailKind::OrderDelivered,
            format!("Your order was delivered: {title}"),
            vec![
                format!(
                    "The seller delivered \"{title}\"{}.",
                    match attachment_count {
                        0 => String::new(),
                        1 => " with 1 file".to_owned(),
                        count => format!(" with {count} files"),
                    }
                ),
                match order.auto_complete_at_millis {
                    Some(millis) => format!(
                        "Please accept the delivery or ask for a revision; otherwise the order \
                         completes by itself on {}.",
                        format_utc(millis)
                    ),
                    None => "Please accept the delivery or ask for a revision.".to_owned(),
                },
            ],
            Quote::unless_blank("The seller wrote", message),
        ),
        Step::RevisionRequested { message } => notice(
            MailKind::OrderRevisionRequested,
            format!("Revision requested: {title}"),
            vec![
                format!("The buyer asked for a revision of \"{title}\"."),
                due_sentence(order),
            ],
            Quote::unless_blank("The buyer wrote", message),
        ),
        Step::ExtensionRequested { days, reason } => notice(
            MailKind::OrderExtensionRequested,
            format!("The seller asks for more time: {title}"),
            vec![
                format!(
                    "The seller of \"{title}\" asks for {} more to deliver.",
                    days_phrase(*days)
                ),
                match order.answer_deadline_millis {
                    Some(millis) => format!(
                        "Please accept or decline; unanswered, the request is accepted on {}.",
                        format_utc(millis)
                    ),
                    None => "Please accept or decline the request.".to_owned(),
                },
            ],
            Quote::unless_blank("The seller wrote", reason),
        ),
        Step::ExtensionAccepted { days, by_itself } => notice(
            MailKind::OrderExtensionAccepted,
            format!("Extension accepted: {title}"),
            vec![
                format!(
                    "Your request for {} more on \"{title}\" was accepted{}.",
                    days_phrase(*days),
                    if *by_itself {
                        " (the buyer did not answer in time)"
                    } else {
                        " by the buyer"
                    }
                ),
                due_sentence(order),
            ],
            None,
        ),
        Step::ExtensionDeclined => notice(
            MailKind::OrderExtensionDeclined,
            format!("Extension declined: {title}"),
            vec![
                format!("The buyer declined your request for more time on \"{title}\"."),
                due_sentence(order),
            ],
            None,
        ),
        Step::Late => notice(
            MailKind::OrderLate,
            format!("Your order is late: {title}"),
            match side {
                Side::Buyer => vec![
                    format!("\"{title}\" was not delivered by its due date."),
                    "You may wait, or cancel it with a full refund from a day after the due \
                     date."
                        .to_owned(),
                ],
                Side::Seller => vec![
                    format!("\"{title}\" is past its due date and not delivered yet."),
                    "Please deliver as soon as you can: from a day after the due date the buyer \
                     may cancel with a full refund."
                        .to_owned(),
                ],
            },
            None,
        ),
        Step::CancellationRequested { reason, .. } => notice(
            MailKind::OrderCancellationRequested,
            format!("Cancellation requested: {title}"),
            vec![
                format!(
                    "The {other} asks to cancel \"{title}\"; the buyer would be refunded in full."
                ),
                match order.answer_deadline_millis {
                    Some(millis) => format!(
                        "Please accept or decline; unanswered, the cancellation is accepted on {}.",
                        format_utc(millis)
                    ),
                    None => "Please accept or decline the request.".to_owned(),
                },
            ],
            Quote::unless_blank(&format!("The {other} wrote"), reason),
        ),
        Step::CancellationDeclined { .. } => notice(
            MailKind::OrderCancellationDeclined,
            format!("Cancellation declined: {title}"),
            vec![
                format!("The {other} declined cancelling \"{title}\"; the order goes on."),
                "If you cannot agree, you may open a dispute for an admin to decide.".to_owned(),
            ],
            None,
        ),
        Step::Cancelled { reason, refund } => {
            let refunded = refund.filter(|refund| refund.is_positive());
            let outcome = match (side, refunded) {
                (Side::Buyer, Some(refund)) => format!(
                    "{} is refunded to you; it reaches your card in a few days.",
                    format_money(refund)
                ),
                (Side::Seller, Some(refund)) => format!(
                    "The buyer is refunded {}; nothing is paid out for this order.",
                    format_money(refund)
                ),
                (Side::Buyer, None) if order.paid => {
                    "Any refund is shown on the order's page.".to_owned()
                }
                (Side::Buyer, None) => "Nothing was charged for it.".to_owned(),
                (Side::Seller, None) => "Nothing is paid out for this order.".to_owned(),
            };
            notice(
                MailKind::OrderCancelled,
                if refunded.is_some() && side == Side::Buyer {
                    format!("Order cancelled and refunded: {title}")
                } else {
                    format!("Order cancelled: {title}")
                },
                vec![format!("The order \"{title}\" was cancelled."), outcome],
                Quote::unless_blank("Reason", reason),
            )
        }
        Step::Expired => notice(
            MailKind::OrderExpired,
            format!("Order expired: {title}"),
            vec![
                format!("Your order \"{title}\" was not paid in time and has expired."),
                "Nothing was charged. You can order the gig again at any time.".to_owned(),
            ],
            None,
        ),
        Step::DisputeOpened { reason, .. } => notice(
            MailKind::OrderDisputeOpened,
            format!("Dispute opened: {title}"),
            vec![
                format!("The {other} opened a dispute on \"{title}\"."),
                "The order's timers are stopped until an admin decides; you will hear the \
                 outcome by mail."
                    .to_owned(),
            ],
            Quote::unless_blank(&format!("The {other} wrote"), reason),
        ),
        Step::DisputeResolved {
            resolution,
            refund,
            seller_earnings,
            note,
        } => {
            let outcome = match resolution {
                Some(Resolution::Release) => "The seller is paid as on completion.",
                Some(Resolution::Refund) => "The buyer is refunded in full.",
                Some(Resolution::Split) => "The payment is split between buyer and seller.",
                None => "The dispute is closed.",
            };
            let mut paragraphs = vec![format!(
                "An admin resolved the dispute on \"{title}\". {outcome}"
            )];
            let refund = refund.filter(|refund| refund.is_positive());
            let earnings = seller_earnings.filter(|earnings| earnings.is_positive());
            paragraphs.push(match (side, refund) {
                (Side::Buyer, Some(refund)) => {
                    format!("{} is refunded to you.", format_money(refund))
                }
                (Side::Buyer, None) => "Nothing is refunded to you.".to_owned(),
                (Side::Seller, Some(refund)) => {
                    format!("The buyer is refunded {}.", format_money(refund))
                }
                (Side::Seller, None) => "Nothing is refunded to the buyer.".to_owned(),
            });
            paragraphs.push(match (side, earnings) {
                (Side::Seller, Some(earnings)) => format!(
                    "You earn {}, available to withdraw after the clearance period.",
                    format_money(earnings)
                ),
                (Side::Seller, None) => "Nothing is paid out to you for this order.".to_owned(),
                (Side::Buyer, Some(earnings)) => {
                    format!("The seller is paid {}.", format_money(earnings))
                }
                (Side::Buyer, None) => "Nothing is paid to the seller.".to_owned(),
            });
            notice(
                MailKind::OrderDisputeResolved,
                format!("Dispute resolved: {title}"),
                paragraphs,
                Quote::unless_blank("The admin wrote", note),
            )
        }
        Step::Completed {
            seller_earnings,
            by_itself,
        } => {
            let how = if *by_itself {
                " (it completed by itself after the delivery)"
            } else {
                ""
            };
            let paragraphs = match side {
                Side::Buyer => vec![
                    format!(
                        "Your order \"{title}\" is complete{how}. Thank you for ordering on gigmesh!"
                    ),
                    "A review helps the seller and other buyers.".to_owned(),
                ],
                Side::Seller => vec![
                    format!("The order \"{title}\" is complete{how}."),
                    match seller_earnings.or(order.seller_earnings) {
                        Some(earnings) => format!(
                            "You earn {}. It becomes available to withdraw after the clearance \
                             period; we will mail you when it does.",
                            format_money(earnings)
                        ),
                        None => "Your earnings become available to withdraw after the \
                                 clearance period; we will mail you when they do."
                            .to_owned(),
                    },
                ],
            };
            notice(
                MailKind::OrderCompleted,
                format!("Order complete: {title}"),
                paragraphs,
                None,
            )
        }
    }
}

/// `{prefix}{amount}` when the amount is known.
fn amount_clause(prefix: &str, amount: Option<Money>) -> String {
    amount
        .map(|amount| format!("{prefix}{}", format_money(amount)))
        .unwrap_or_default()
}

/// When delivery is due, if the order says.
fn due_sentence(order: &OrderFacts) -> String {
    match order.due_at_millis {
        Some(millis) => format!("Delivery is due on {}.", format_utc(millis)),
        None => String::new(),
    }
}

fn days_phrase(days: i32) -> String {
    if days == 1 {
        "1 day".to_owned()
    } else {
        format!("{days} days")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(paid: bool) -> OrderFacts {
        OrderFacts {
            order_id: OrderId::new(),
            buyer_id: UserId::new(),
            seller_id: UserId::new(),
            gig_title: "Logo design".to_owned(),
            package_name: "Basic".to_owned(),
            total: None,
            seller_earnings: None,
            due_at_millis: None,
            auto_complete_at_millis: None,
            answer_deadline_millis: None,
            paid,
        }
    }

    #[test]
    fn requests_and_disputes_go_to_the_other_side_or_both_when_neither_asked() {
        let paid = order(true);
        for by in [Side::Buyer, Side::Seller] {
            let requested = OrderStep::CancellationRequested {
                by: Some(by),
                reason: String::new(),
            };
            assert_eq!(sides_to_tell(&requested, &paid), [by.other()]);
            let opened = OrderStep::DisputeOpened {
                by: Some(by),
                reason: String::new(),
            };
            assert_eq!(sides_to_tell(&opened, &paid), [by.other()]);
            // The side that declined is not the one that asked.
            let declined = OrderStep::CancellationDeclined { by: Some(by) };
            assert_eq!(sides_to_tell(&declined, &paid), [by.other()]);
        }
        let by_nobody = OrderStep::DisputeOpened {
            by: None,
            reason: String::new(),
        };
        assert_eq!(
            sides_to_tell(&by_nobody, &paid),
            [Side::Buyer, Side::Seller]
        );
    }

    #[test]
    fn a_cancellation_tells_the_seller_only_about_a_paid_order() {
        let cancelled = OrderStep::Cancelled {
            reason: String::new(),
            refund: None,
        };
        assert_eq!(
            sides_to_tell(&cancelled, &order(true)),
            [Side::Buyer, Side::Seller]
        );
        assert_eq!(sides_to_tell(&cancelled, &order(false)), [Side::Buyer]);
    }
}
