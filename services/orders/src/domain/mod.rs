//! Orders and the rules that change them. Pure: no IO, no clock, no proto types; `input`
//! parses requests into these types, `store.rs` persists them, `output.rs` answers with
//! them.
//!
//! The parts, by concern: `gig.rs` (orders' copy of a gig and whether it can be ordered),
//! `price.rs` (fees, the one rounding rule, settlements), `order.rs` (the order, its
//! states, timeline and pending requests), `placing.rs` (a new order from the gig),
//! `requirements.rs` (answers checked against the questions), `recorder.rs` (who acts, and
//! the timeline entry every change appends), `transitions.rs` (the guarded state machine of
//! what the parties ask) and `system.rs` (payments arriving, timers falling due). They
//! import each other in one direction: `transitions`/`system`/`placing` -> `recorder` ->
//! `requirements`/`order` -> `price`/`gig`.

mod gig;
mod order;
mod placing;
mod price;
mod recorder;
mod requirements;
mod system;
mod transitions;

#[cfg(test)]
mod tests;
#[cfg(test)]
use self::gig::UNLIMITED_REVISIONS;
#[cfg(test)]
use self::recorder::DAY_MILLIS;

pub use self::gig::{
    GigExtra, GigPackage, GigSnapshot, GigState, Moderation, Question, QuestionKind, Tier,
};
pub use self::order::{
    Actor, AnswerValue, Change, LineItem, Order, OrderState, PendingRequest, Resolution,
    TimelineEntry, TimelineKind,
};
pub use self::placing::{
    CustomOrder, ExtraChoice, MAX_EXTRA_QUANTITY, MAX_EXTRAS, MAX_REQUEST_ID_CHARS, OrderChoice,
    place_custom_order, place_order,
};
pub use self::price::{FeeSchedule, Price, Settlement};
pub use self::recorder::Acting;
pub use self::requirements::RawAnswer;
pub use self::system::{apply_due_timers, receive_payment};
pub use self::transitions::{Action, Decision, MAX_EXTENSION_DAYS, Rules, apply};

/// Where a page of a list starts, and how long it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<C> {
    /// Most items on the page.
    pub size: u32,
    /// The position of the last item of the previous page.
    pub after: Option<C>,
}

/// Where an order stands in a list: its create time and id.
pub type OrderPosition = (i64, gigmesh_types::OrderId);

/// Which side of their orders a user lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Orders they placed.
    Buyer,
    /// Orders of their gigs.
    Seller,
}

/// Which orders a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Every order.
    All,
    /// Awaiting payment, requirements pending or in progress.
    Active,
    /// In progress past the due time.
    Late,
    /// Delivered, waiting for the buyer.
    Delivered,
    /// Completed.
    Completed,
    /// Cancelled or expired.
    Cancelled,
    /// Disputed, open or resolved.
    Disputed,
}
