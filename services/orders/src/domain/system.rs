//! What the marketplace itself does to an order: a payment arriving (it pays the order,
//! or is refused and refunded once), and the timers falling due — expiry, the late flag,
//! auto-completion, and requests accepting themselves — applied in the order they fell due.
//!
//! A payment arriving while the order still awaits payment is taken even past the payment
//! deadline when the expiry timer has not run yet: the order has not expired.

use gigmesh_types::Money;

use super::order::{Change, Order, OrderState, TimelineKind};
use super::price::Settlement;
use super::recorder::{Acting, EntryDetails, Recorder};

/// A payment `payment_id` of `amount` for `order` arrived: it pays an order awaiting
/// payment of exactly its total (and starts it unless requirements are asked); otherwise it
/// is refused and refunded in full, the state unchanged. The payment that paid the order,
/// or one refused before, changes nothing (no change returned).
pub fn receive_payment(order: &Order, payment_id: &str, amount: Money, now: i64) -> Vec<Change> {
    let progress = &order.progress;
    let known = progress.payment_id.as_deref() == Some(payment_id)
        || progress
            .refused_payment_ids
            .iter()
            .any(|id| id == payment_id);
    if known {
        return Vec::new();
    }
    let state = order.state();
    let total = order.terms.price.total;
    let mut recorder = Recorder::new(order.clone(), Acting::system(now));
    if state == OrderState::AwaitingPayment && amount == total {
        let progress = &mut recorder.order.progress;
        progress.payment_id = Some(payment_id.to_owned());
        progress.paid_time = Some(now);
        progress.payment_deadline = None;
        if order.terms.requirements.is_empty() {
            progress.state = OrderState::InProgress;
            recorder.record(TimelineKind::Paid, state, EntryDetails::default(), None);
            recorder.start();
        } else {
            progress.state = OrderState::RequirementsPending;
            recorder.record(TimelineKind::Paid, state, EntryDetails::default(), None);
        }
        return recorder.into_changes();
    }
    let message = if state == OrderState::AwaitingPayment {
        format!("the payment of {amount} is not the order's total of {total}; it is refunded")
    } else {
        format!(
            "the order is {} and no longer waits for a payment; it is refunded",
            state.as_str()
        )
    };
    recorder
        .order
        .progress
        .refused_payment_ids
        .push(payment_id.to_owned());
    recorder.record(
        TimelineKind::PaymentRefused,
        state,
        EntryDetails {
            message,
            refund: Some(amount),
            ..EntryDetails::default()
        },
        Some(Settlement::refund_only(amount)),
    );
    recorder.into_changes()
}

/// The timers of an order due at `now`, each applied in the order they fell due, as the
/// system: expiry, the late flag, auto-completion, and requests accepting themselves.
pub fn apply_due_timers(order: &Order, now: i64) -> Vec<Change> {
    let mut recorder = Recorder::new(order.clone(), Acting::system(now));
    // Each timer closes the order or clears what made it due, so this ends; the bound is a
    // guard only.
    for _ in 0..8 {
        let Some(timer) = earliest_due_timer(&recorder.order, now) else {
            break;
        };
        let state = recorder.state();
        match timer {
            Timer::PaymentDeadline => recorder.close(
                TimelineKind::Expired,
                OrderState::Expired,
                EntryDetails {
                    message: "not paid in time".to_owned(),
                    ..EntryDetails::default()
                },
                None,
            ),
            Timer::DueTime => {
                recorder.order.progress.late = true;
                recorder.record(TimelineKind::Late, state, EntryDetails::default(), None);
            }
            Timer::AutoComplete => recorder.complete(),
            Timer::ExtensionDeadline => recorder.accept_extension(),
            Timer::CancellationDeadline => {
                let reason = recorder
                    .order
                    .progress
                    .pending_cancellation
                    .as_ref()
                    .map(|request| request.reason.clone())
                    .unwrap_or_default();
                recorder.cancel_with_refund(reason);
            }
        }
    }
    recorder.into_changes()
}

/// A timer of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    PaymentDeadline,
    DueTime,
    AutoComplete,
    ExtensionDeadline,
    CancellationDeadline,
}

/// The timer of `order` that fell due first, if one is due at `now`.
fn earliest_due_timer(order: &Order, now: i64) -> Option<Timer> {
    let progress = &order.progress;
    let state = progress.state;
    let mut due: Vec<(i64, Timer)> = Vec::new();
    match state {
        OrderState::AwaitingPayment => {
            due.extend(
                progress
                    .payment_deadline
                    .map(|at| (at, Timer::PaymentDeadline)),
            );
        }
        OrderState::InProgress if !progress.late => {
            due.extend(progress.due_time.map(|at| (at, Timer::DueTime)));
        }
        OrderState::Delivered => {
            due.extend(
                progress
                    .auto_complete_time
                    .map(|at| (at, Timer::AutoComplete)),
            );
        }
        _ => {}
    }
    if state == OrderState::InProgress
        && let Some(extension) = &progress.pending_extension
    {
        due.push((extension.answer_deadline, Timer::ExtensionDeadline));
    }
    if state.is_paid_and_open()
        && let Some(cancellation) = &progress.pending_cancellation
    {
        due.push((cancellation.answer_deadline, Timer::CancellationDeadline));
    }
    due.into_iter()
        .filter(|(at, _)| *at <= now)
        .min_by_key(|(at, _)| *at)
        .map(|(_, timer)| timer)
}
