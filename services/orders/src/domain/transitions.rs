//! The guarded state machine of an order. Every transition checks, in this order, that the
//! actor is the party allowed to make it (PERMISSION_DENIED with a fixed text otherwise),
//! that the order's state allows it (FAILED_PRECONDITION naming the state), and then its
//! input against the order; it returns the changes it made, each with its timeline entry,
//! its settlement when money moves, and the order right after it. Pure: no IO, no clock
//! (the caller passes `now`).
//!
//! Decisions the proto leaves open:
//! - A revision keeps the original due time: the seller asked for as many days as the
//!   package and extras take, revisions included. An order sent back past its due time is
//!   flagged late again by the timer.
//! - Delivering drops a pending extension request (the work is done); a pending
//!   cancellation request stays until answered or accepted by itself.
//! - Opening a dispute drops every pending request: from then on an admin decides, and no
//!   timer of the order runs.
//! - An accepted extension that moves the due time past now clears the late flag.

use gigmesh_errors::ApiError;
use gigmesh_types::{HttpsUrl, Money};

use super::order::{Actor, Change, Order, OrderState, PendingRequest, Resolution, TimelineKind};
use super::recorder::{Acting, EntryDetails, Recorder};
use super::requirements::{RawAnswer, check_answers};
use crate::error::OrdersError;

/// Most days one extension asks.
pub const MAX_EXTENSION_DAYS: i32 = 30;

/// The timings and commission the transitions apply (from `orders.settings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// How long a delivered order waits for the buyer before it completes by itself.
    pub auto_complete_after_millis: i64,
    /// How long past its due time an undelivered order must be before the buyer may cancel
    /// it alone.
    pub late_cancel_after_millis: i64,
    /// How long a pending request waits for its answer before it accepts itself.
    pub request_answer_window_millis: i64,
    /// The seller's commission, applied again on the seller's part of a split.
    pub seller_commission_basis_points: i64,
}

/// How an admin decides a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Pay the seller as on completion.
    Release,
    /// Refund the whole total.
    Refund,
    /// Refund this part of the subtotal, pay the seller the rest.
    Split(Money),
}

/// What a party asks of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The buyer answers the requirement questions.
    SubmitRequirements(Vec<RawAnswer>),
    /// The seller delivers.
    Deliver {
        /// What the seller says.
        message: String,
        /// The delivered files.
        attachment_urls: Vec<HttpsUrl>,
    },
    /// The buyer accepts the delivery.
    Accept,
    /// The buyer asks for a revision.
    RequestRevision {
        /// What to change.
        message: String,
    },
    /// The seller asks for more days.
    RequestExtension {
        /// How many, 1 to [`MAX_EXTENSION_DAYS`].
        days: i32,
        /// Why.
        reason: String,
    },
    /// The buyer answers the pending extension request.
    AnswerExtension {
        /// Accept or decline.
        accept: bool,
    },
    /// The buyer cancels alone.
    Cancel {
        /// Why (may be empty).
        reason: String,
    },
    /// One side asks the other for a mutual cancellation.
    RequestCancellation {
        /// Why.
        reason: String,
    },
    /// The other side answers the pending cancellation request.
    AnswerCancellation {
        /// Accept or decline.
        accept: bool,
    },
    /// One side opens a dispute.
    OpenDispute {
        /// What went wrong.
        reason: String,
    },
    /// An admin resolves the dispute.
    ResolveDispute {
        /// How.
        decision: Decision,
        /// The admin's note to both sides.
        note: String,
    },
}

impl Action {
    /// The kind of the action, for tables of what is allowed where.
    #[cfg(test)]
    pub fn name(&self) -> &'static str {
        match self {
            Action::SubmitRequirements(_) => "submit_requirements",
            Action::Deliver { .. } => "deliver",
            Action::Accept => "accept",
            Action::RequestRevision { .. } => "request_revision",
            Action::RequestExtension { .. } => "request_extension",
            Action::AnswerExtension { .. } => "answer_extension",
            Action::Cancel { .. } => "cancel",
            Action::RequestCancellation { .. } => "request_cancellation",
            Action::AnswerCancellation { .. } => "answer_cancellation",
            Action::OpenDispute { .. } => "open_dispute",
            Action::ResolveDispute { .. } => "resolve_dispute",
        }
    }
}

/// Applies `action` of `acting` to `order` under `rules`; the changes it made, oldest first
/// (never empty on success).
pub fn apply(
    order: &Order,
    acting: Acting,
    action: Action,
    rules: &Rules,
) -> Result<Vec<Change>, OrdersError> {
    let actor = acting.actor;
    let state = order.state();
    let mut recorder = Recorder::new(order.clone(), acting);
    let now = acting.now;
    match action {
        Action::SubmitRequirements(raw_answers) => {
            only(
                actor,
                Actor::Buyer,
                "only the order's buyer may submit its requirements",
            )?;
            allowed(
                state,
                &[OrderState::RequirementsPending],
                "submit the requirements of",
            )?;
            let answers = check_answers(&order.terms.requirements, &raw_answers)?;
            recorder.order.progress.answers = answers;
            recorder.order.progress.state = OrderState::InProgress;
            recorder.record(
                TimelineKind::RequirementsSubmitted,
                state,
                EntryDetails::default(),
                None,
            );
            recorder.start();
        }
        Action::Deliver {
            message,
            attachment_urls,
        } => {
            only(
                actor,
                Actor::Seller,
                "only the order's seller may deliver it",
            )?;
            allowed(state, &[OrderState::InProgress], "deliver")?;
            let progress = &mut recorder.order.progress;
            progress.state = OrderState::Delivered;
            progress.delivered_time = Some(now);
            progress.auto_complete_time =
                Some(now.saturating_add(rules.auto_complete_after_millis));
            progress.pending_extension = None;
            progress.late = false;
            recorder.record(
                TimelineKind::Delivered,
                state,
                EntryDetails {
                    message,
                    attachment_urls,
                    ..EntryDetails::default()
                },
                None,
            );
        }
        Action::Accept => {
            only(
                actor,
                Actor::Buyer,
                "only the order's buyer may accept the delivery",
            )?;
            allowed(state, &[OrderState::Delivered], "accept the delivery of")?;
            recorder.order.progress.state = OrderState::Completed;
            recorder.record(TimelineKind::Accepted, state, EntryDetails::default(), None);
            recorder.complete();
        }
        Action::RequestRevision { message } => {
            only(
                actor,
                Actor::Buyer,
                "only the order's buyer may ask for a revision",
            )?;
            allowed(state, &[OrderState::Delivered], "ask for a revision of")?;
            if !order.has_revisions_left() {
                return Err(OrdersError::RevisionsUsedUp {
                    included: order.terms.revisions_included,
                });
            }
            let progress = &mut recorder.order.progress;
            progress.revisions_used += 1;
            progress.state = OrderState::InProgress;
            progress.auto_complete_time = None;
            recorder.record(
                TimelineKind::RevisionRequested,
                state,
                EntryDetails {
                    message,
                    ..EntryDetails::default()
                },
                None,
            );
        }
        Action::RequestExtension { days, reason } => {
            only(
                actor,
                Actor::Seller,
                "only the order's seller may ask for an extension",
            )?;
            allowed(state, &[OrderState::InProgress], "ask for an extension of")?;
            if order.progress.pending_extension.is_some() {
                return Err(OrdersError::RequestPending(
                    "an extension request is pending already: wait for the buyer's answer",
                ));
            }
            recorder.order.progress.pending_extension = Some(PendingRequest {
                requested_by: Actor::Seller,
                reason: reason.clone(),
                days,
                request_time: now,
                answer_deadline: now.saturating_add(rules.request_answer_window_millis),
            });
            recorder.record(
                TimelineKind::ExtensionRequested,
                state,
                EntryDetails {
                    message: reason,
                    days,
                    ..EntryDetails::default()
                },
                None,
            );
        }
        Action::AnswerExtension { accept } => {
            only(
                actor,
                Actor::Buyer,
                "only the order's buyer may answer an extension request",
            )?;
            allowed(
                state,
                &[OrderState::InProgress],
                "answer an extension request of",
            )?;
            let Some(extension) = order.progress.pending_extension.clone() else {
                return Err(OrdersError::NoPendingRequest(
                    "no extension request is pending",
                ));
            };
            if accept {
                recorder.accept_extension();
            } else {
                recorder.order.progress.pending_extension = None;
                recorder.record(
                    TimelineKind::ExtensionDeclined,
                    state,
                    EntryDetails {
                        days: extension.days,
                        ..EntryDetails::default()
                    },
                    None,
                );
            }
        }
        Action::Cancel { reason } => {
            only(actor, Actor::Buyer, "only the order's buyer may cancel it")?;
            match state {
                OrderState::AwaitingPayment => recorder.close(
                    TimelineKind::Cancelled,
                    OrderState::Cancelled,
                    EntryDetails {
                        message: reason,
                        ..EntryDetails::default()
                    },
                    None,
                ),
                OrderState::InProgress => {
                    let cancellable_from = order
                        .progress
                        .due_time
                        .map(|due| due.saturating_add(rules.late_cancel_after_millis));
                    if cancellable_from.is_none_or(|from| now < from) {
                        return Err(OrdersError::NotLateEnough {
                            after_hours: rules.late_cancel_after_millis / 3_600_000,
                        });
                    }
                    recorder.cancel_with_refund(reason);
                }
                other => return Err(wrong_state("cancel", other)),
            }
        }
        Action::RequestCancellation { reason } => {
            sides(
                actor,
                "only the order's buyer or seller may ask to cancel it",
            )?;
            if !state.is_paid_and_open() {
                return Err(wrong_state("ask to cancel", state));
            }
            if order.progress.pending_cancellation.is_some() {
                return Err(OrdersError::RequestPending(
                    "a cancellation request is pending already: wait for the answer",
                ));
            }
            recorder.order.progress.pending_cancellation = Some(PendingRequest {
                requested_by: actor,
                reason: reason.clone(),
                days: 0,
                request_time: now,
                answer_deadline: now.saturating_add(rules.request_answer_window_millis),
            });
            recorder.record(
                TimelineKind::CancellationRequested,
                state,
                EntryDetails {
                    message: reason,
                    ..EntryDetails::default()
                },
                None,
            );
        }
        Action::AnswerCancellation { accept } => {
            sides(
                actor,
                "only the order's buyer or seller may answer a cancellation request",
            )?;
            if !state.is_paid_and_open() {
                return Err(wrong_state("answer a cancellation request of", state));
            }
            let Some(cancellation) = order.progress.pending_cancellation.clone() else {
                return Err(OrdersError::NoPendingRequest(
                    "no cancellation request is pending",
                ));
            };
            if cancellation.requested_by == actor {
                return Err(OrdersError::OwnRequest);
            }
            if accept {
                recorder.cancel_with_refund(cancellation.reason);
            } else {
                recorder.order.progress.pending_cancellation = None;
                recorder.record(
                    TimelineKind::CancellationDeclined,
                    state,
                    EntryDetails::default(),
                    None,
                );
            }
        }
        Action::OpenDispute { reason } => {
            sides(actor, "only the order's buyer or seller may open a dispute")?;
            allowed(
                state,
                &[OrderState::InProgress, OrderState::Delivered],
                "open a dispute on",
            )?;
            let progress = &mut recorder.order.progress;
            progress.state = OrderState::Disputed;
            progress.disputed = true;
            progress.late = false;
            progress.auto_complete_time = None;
            progress.pending_extension = None;
            progress.pending_cancellation = None;
            recorder.record(
                TimelineKind::DisputeOpened,
                state,
                EntryDetails {
                    message: reason,
                    ..EntryDetails::default()
                },
                None,
            );
        }
        Action::ResolveDispute { decision, note } => {
            if actor != Actor::Admin {
                return Err(OrdersError::AdminRequired);
            }
            allowed(state, &[OrderState::Disputed], "resolve a dispute on")?;
            let price = order.terms.price;
            let (resolution, closed_state, settlement) = match decision {
                Decision::Release => (
                    Resolution::Release,
                    OrderState::Completed,
                    price.completion_settlement(),
                ),
                Decision::Refund => (
                    Resolution::Refund,
                    OrderState::Cancelled,
                    price.full_refund_settlement(),
                ),
                Decision::Split(refund) => {
                    check_split_refund(refund, price.subtotal)?;
                    (
                        Resolution::Split,
                        OrderState::Completed,
                        price.split_settlement(refund, rules.seller_commission_basis_points),
                    )
                }
            };
            recorder.close(
                TimelineKind::DisputeResolved,
                closed_state,
                EntryDetails {
                    message: note,
                    resolution: Some(resolution),
                    refund: Some(settlement.refund),
                    ..EntryDetails::default()
                },
                Some(settlement),
            );
        }
    }
    Ok(recorder.into_changes())
}

fn only(actor: Actor, allowed_actor: Actor, refusal: &'static str) -> Result<(), OrdersError> {
    if actor == allowed_actor {
        Ok(())
    } else {
        Err(OrdersError::WrongParty(refusal))
    }
}

fn sides(actor: Actor, refusal: &'static str) -> Result<(), OrdersError> {
    match actor {
        Actor::Buyer | Actor::Seller => Ok(()),
        Actor::Admin | Actor::System => Err(OrdersError::WrongParty(refusal)),
    }
}

fn allowed(
    state: OrderState,
    states: &[OrderState],
    action: &'static str,
) -> Result<(), OrdersError> {
    if states.contains(&state) {
        Ok(())
    } else {
        Err(wrong_state(action, state))
    }
}

fn wrong_state(action: &'static str, state: OrderState) -> OrdersError {
    OrdersError::WrongState { action, state }
}

/// A split refunds more than nothing and less than the subtotal, in its currency.
fn check_split_refund(refund: Money, subtotal: Money) -> Result<(), OrdersError> {
    if refund.currency != subtotal.currency
        || refund.amount_minor <= 0
        || refund.amount_minor >= subtotal.amount_minor
    {
        return Err(ApiError::invalid(
            "refund",
            format!(
                "must be more than 0 and less than the subtotal of {subtotal}, in {}",
                subtotal.currency
            ),
        )
        .into());
    }
    Ok(())
}
