//! Recording changes: who acts and when ([`Acting`]), and the working copy of an order
//! that appends a timeline entry, with the order as it is then, for every change made to
//! it ([`Recorder`]) — the steps the transitions, payments and timers are made of (start
//! the work, close with a settlement, accept an extension).

use gigmesh_types::{HttpsUrl, Money, UserId};

use super::order::{Actor, Change, Order, OrderState, Resolution, TimelineEntry, TimelineKind};
use super::price::Settlement;

/// Milliseconds in a day.
pub const DAY_MILLIS: i64 = 86_400_000;

/// Who acts, as whom, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acting {
    /// The role in the order.
    pub actor: Actor,
    /// The user (`None` for the system).
    pub user_id: Option<UserId>,
    /// Now, in unix milliseconds.
    pub now: i64,
}

impl Acting {
    /// The order's buyer.
    pub fn buyer(user_id: UserId, now: i64) -> Self {
        Self {
            actor: Actor::Buyer,
            user_id: Some(user_id),
            now,
        }
    }

    /// The marketplace itself.
    pub fn system(now: i64) -> Self {
        Self {
            actor: Actor::System,
            user_id: None,
            now,
        }
    }
}

/// What the entry of a change says besides its kind and states.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryDetails {
    /// Delivery message, revision request, reason, note.
    pub message: String,
    /// Delivery attachments.
    pub attachment_urls: Vec<HttpsUrl>,
    /// Days of an extension.
    pub days: i32,
    /// How a dispute was resolved.
    pub resolution: Option<Resolution>,
    /// What went back to the buyer.
    pub refund: Option<Money>,
}

/// A working copy of an order and the changes made to it so far.
#[derive(Debug)]
pub struct Recorder {
    pub(super) order: Order,
    acting: Acting,
    changes: Vec<Change>,
}

impl Recorder {
    /// Starts changing `order` as `acting`.
    pub fn new(order: Order, acting: Acting) -> Self {
        Self {
            order,
            acting,
            changes: Vec::new(),
        }
    }

    /// Appends the entry of a change from `from_state` to the order's current state, with
    /// the order as it is now.
    pub fn record(
        &mut self,
        kind: TimelineKind,
        from_state: OrderState,
        details: EntryDetails,
        settlement: Option<Settlement>,
    ) {
        self.order.progress.timeline_length += 1;
        let entry = TimelineEntry {
            sequence: self.order.progress.timeline_length,
            kind,
            actor: self.acting.actor,
            actor_user_id: self.acting.user_id,
            time: self.acting.now,
            message: details.message,
            attachment_urls: details.attachment_urls,
            days: details.days,
            from_state,
            to_state: self.order.progress.state,
            resolution: details.resolution,
            refund: details.refund,
        };
        self.changes.push(Change {
            entry,
            settlement,
            order: self.order.clone(),
        });
    }

    /// The changes made, oldest first.
    pub fn into_changes(self) -> Vec<Change> {
        self.changes
    }

    pub(super) fn now(&self) -> i64 {
        self.acting.now
    }

    pub(super) fn state(&self) -> OrderState {
        self.order.progress.state
    }

    /// Starts the work: due `delivery_days` from now.
    pub(super) fn start(&mut self) {
        let now = self.now();
        let progress = &mut self.order.progress;
        progress.state = OrderState::InProgress;
        progress.start_time = Some(now);
        progress.due_time =
            Some(now.saturating_add(i64::from(progress.delivery_days).saturating_mul(DAY_MILLIS)));
        self.record(
            TimelineKind::Started,
            OrderState::InProgress,
            EntryDetails::default(),
            None,
        );
    }

    /// Closes the order in `state`; with a settlement, what the buyer got back and the
    /// seller earned is recorded on the order.
    pub(super) fn close(
        &mut self,
        kind: TimelineKind,
        state: OrderState,
        mut details: EntryDetails,
        settlement: Option<Settlement>,
    ) {
        let from_state = self.state();
        let now = self.now();
        let progress = &mut self.order.progress;
        progress.state = state;
        progress.close_time = Some(now);
        progress.payment_deadline = None;
        progress.auto_complete_time = None;
        progress.pending_extension = None;
        progress.pending_cancellation = None;
        progress.late = false;
        if let Some(settlement) = settlement {
            progress.refunded = Some(settlement.refund);
            progress.seller_paid = Some(settlement.seller_earnings);
            if settlement.refund.is_positive() && details.refund.is_none() {
                details.refund = Some(settlement.refund);
            }
        }
        self.record(kind, from_state, details, settlement);
    }

    /// Cancels a paid order with a full refund.
    pub(super) fn cancel_with_refund(&mut self, message: String) {
        let settlement = self.order.terms.price.full_refund_settlement();
        self.close(
            TimelineKind::Cancelled,
            OrderState::Cancelled,
            EntryDetails {
                message,
                ..EntryDetails::default()
            },
            Some(settlement),
        );
    }

    /// Completes the order as `kind` (accepted, auto-completed).
    pub(super) fn complete(&mut self) {
        let settlement = self.order.terms.price.completion_settlement();
        self.close(
            TimelineKind::Completed,
            OrderState::Completed,
            EntryDetails::default(),
            Some(settlement),
        );
    }

    /// Adds the days of the pending extension to the due time.
    pub(super) fn accept_extension(&mut self) {
        let Some(extension) = self.order.progress.pending_extension.take() else {
            return;
        };
        let now = self.now();
        let progress = &mut self.order.progress;
        progress.delivery_days = progress.delivery_days.saturating_add(extension.days);
        progress.due_time = progress
            .due_time
            .map(|due| due.saturating_add(i64::from(extension.days).saturating_mul(DAY_MILLIS)));
        if progress.late && progress.due_time.is_some_and(|due| due > now) {
            progress.late = false;
        }
        self.record(
            TimelineKind::ExtensionAccepted,
            OrderState::InProgress,
            EntryDetails {
                days: extension.days,
                ..EntryDetails::default()
            },
            None,
        );
    }
}
