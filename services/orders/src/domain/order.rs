//! An order and what it records: its states, who acts on it, its terms (fixed when it is
//! placed, from orders' copy of the gig) and its progress (what changes), the pending
//! requests of one side to the other, and the timeline entries every change appends.

use gigmesh_types::{GigId, HttpsUrl, Money, OrderId, UserId};
use serde::{Deserialize, Serialize};

use super::gig::{Question, Tier, UNLIMITED_REVISIONS};
use super::price::{Price, Settlement};

/// Where an order is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Placed; waiting for the buyer's payment until the payment deadline.
    AwaitingPayment,
    /// Paid; waiting for the buyer's answers to the gig's requirement questions.
    RequirementsPending,
    /// The seller is working on it until the due time.
    InProgress,
    /// Delivered; the buyer accepts, asks for a revision, or it completes by itself.
    Delivered,
    /// Done.
    Completed,
    /// Cancelled (refunded in full when it was paid).
    Cancelled,
    /// Not paid in time.
    Expired,
    /// An admin decides; no timer runs.
    Disputed,
}

impl OrderState {
    /// Every state, in lifecycle order.
    pub const ALL: [OrderState; 8] = [
        OrderState::AwaitingPayment,
        OrderState::RequirementsPending,
        OrderState::InProgress,
        OrderState::Delivered,
        OrderState::Completed,
        OrderState::Cancelled,
        OrderState::Expired,
        OrderState::Disputed,
    ];

    /// The name stored in the database and used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::AwaitingPayment => "awaiting_payment",
            OrderState::RequirementsPending => "requirements_pending",
            OrderState::InProgress => "in_progress",
            OrderState::Delivered => "delivered",
            OrderState::Completed => "completed",
            OrderState::Cancelled => "cancelled",
            OrderState::Expired => "expired",
            OrderState::Disputed => "disputed",
        }
    }

    /// The state stored as `name`.
    pub fn from_stored(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }

    /// Whether the order was paid and is not closed: a mutual cancellation may be asked.
    pub fn is_paid_and_open(self) -> bool {
        matches!(
            self,
            OrderState::RequirementsPending | OrderState::InProgress | OrderState::Delivered
        )
    }
}

/// Who did something to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The order's buyer.
    Buyer,
    /// The order's seller.
    Seller,
    /// An admin.
    Admin,
    /// The marketplace itself (timers, payments).
    System,
}

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// The buyer placed the order.
    Placed,
    /// The payment arrived.
    Paid,
    /// The buyer answered the requirements.
    RequirementsSubmitted,
    /// The work started.
    Started,
    /// The seller delivered.
    Delivered,
    /// The buyer asked for a revision.
    RevisionRequested,
    /// The buyer accepted the delivery.
    Accepted,
    /// The order completed.
    Completed,
    /// The order passed its due time undelivered.
    Late,
    /// The seller asked for more days.
    ExtensionRequested,
    /// The extension was accepted.
    ExtensionAccepted,
    /// The buyer declined the extension.
    ExtensionDeclined,
    /// One side asked for a mutual cancellation.
    CancellationRequested,
    /// The other side declined the cancellation.
    CancellationDeclined,
    /// The order was cancelled.
    Cancelled,
    /// The order was not paid in time.
    Expired,
    /// One side opened a dispute.
    DisputeOpened,
    /// An admin resolved the dispute.
    DisputeResolved,
    /// A payment arrived for an order that does not wait for it (or of the wrong amount).
    PaymentRefused,
}

impl TimelineKind {
    /// Lower-case name, the `kind` label of the transition counter.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Placed => "placed",
            TimelineKind::Paid => "paid",
            TimelineKind::RequirementsSubmitted => "requirements_submitted",
            TimelineKind::Started => "started",
            TimelineKind::Delivered => "delivered",
            TimelineKind::RevisionRequested => "revision_requested",
            TimelineKind::Accepted => "accepted",
            TimelineKind::Completed => "completed",
            TimelineKind::Late => "late",
            TimelineKind::ExtensionRequested => "extension_requested",
            TimelineKind::ExtensionAccepted => "extension_accepted",
            TimelineKind::ExtensionDeclined => "extension_declined",
            TimelineKind::CancellationRequested => "cancellation_requested",
            TimelineKind::CancellationDeclined => "cancellation_declined",
            TimelineKind::Cancelled => "cancelled",
            TimelineKind::Expired => "expired",
            TimelineKind::DisputeOpened => "dispute_opened",
            TimelineKind::DisputeResolved => "dispute_resolved",
            TimelineKind::PaymentRefused => "payment_refused",
        }
    }
}

/// How an admin settled a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The seller is paid as on completion.
    Release,
    /// The buyer gets the whole total back.
    Refund,
    /// Part of the subtotal goes back to the buyer, the rest to the seller.
    Split,
}

/// One line of an order's price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// The package's name, or the extra's title.
    pub description: String,
    /// The extra's id (`None` for the package).
    pub extra_id: Option<String>,
    /// How many.
    pub quantity: i32,
    /// Price of one.
    pub unit_price: Money,
    /// unit price times quantity.
    pub amount: Money,
    /// Days one adds to the delivery (0 for the package).
    pub extra_days: i32,
}

/// The buyer's answer to one requirement question, checked against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Position of the question, from 0.
    pub question_index: usize,
    /// What the buyer answered.
    pub value: AnswerValue,
}

/// An answer of the kind its question asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerValue {
    /// Free text.
    Text(String),
    /// One of the question's options.
    Choice(String),
    /// The https URL of a file.
    Attachment(HttpsUrl),
}

/// A pending request of one side to the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// Who asked.
    pub requested_by: Actor,
    /// Why.
    pub reason: String,
    /// More days asked (extensions only, else 0).
    pub days: i32,
    /// When it was asked.
    pub request_time: i64,
    /// When it accepts itself unless answered.
    pub answer_deadline: i64,
}

/// What an order was bought as: fixed when it is placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTerms {
    /// The gig's title when ordered.
    pub gig_title: String,
    /// The package tier; `None` for a custom offer's order.
    pub tier: Option<Tier>,
    /// The package's name when ordered.
    pub package_name: String,
    /// The package, then the extras.
    pub line_items: Vec<LineItem>,
    /// The price.
    pub price: Price,
    /// Revisions included, or [`UNLIMITED_REVISIONS`].
    pub revisions_included: i32,
    /// The gig's requirement questions when ordered.
    pub requirements: Vec<Question>,
    /// The custom offer the order was placed from, if it was.
    #[serde(default)]
    pub custom_offer_id: Option<String>,
}

/// What changes as an order goes through its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderProgress {
    /// The state.
    pub state: OrderState,
    /// In progress past its due time (flagged by the timer).
    pub late: bool,
    /// Days to deliver: the package's, the extras', and accepted extensions.
    pub delivery_days: i32,
    /// Revisions asked so far.
    pub revisions_used: i32,
    /// The buyer's answers.
    pub answers: Vec<Answer>,
    /// Until when it waits for payment (awaiting payment only).
    pub payment_deadline: Option<i64>,
    /// When it was paid.
    pub paid_time: Option<i64>,
    /// When the work started.
    pub start_time: Option<i64>,
    /// When delivery is due.
    pub due_time: Option<i64>,
    /// When it was last delivered.
    pub delivered_time: Option<i64>,
    /// When it completes by itself (delivered only).
    pub auto_complete_time: Option<i64>,
    /// When it completed, was cancelled or expired.
    pub close_time: Option<i64>,
    /// The seller's pending extension request.
    pub pending_extension: Option<PendingRequest>,
    /// The pending cancellation request.
    pub pending_cancellation: Option<PendingRequest>,
    /// What went back to the buyer when it closed.
    pub refunded: Option<Money>,
    /// What the seller earned when it closed.
    pub seller_paid: Option<Money>,
    /// payments' id of the payment that paid it.
    pub payment_id: Option<String>,
    /// Payments refused (each refunded once).
    pub refused_payment_ids: Vec<String>,
    /// Whether a dispute was ever opened.
    pub disputed: bool,
    /// Entries in the timeline so far (the last entry's sequence).
    pub timeline_length: i64,
}

/// An order of a gig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Its id (UUIDv7).
    pub id: OrderId,
    /// The buyer.
    pub buyer_id: UserId,
    /// The seller.
    pub seller_id: UserId,
    /// The gig.
    pub gig_id: GigId,
    /// The buyer's id of the PlaceOrder request.
    pub request_id: String,
    /// When it was placed.
    pub create_time: i64,
    /// What it was bought as.
    pub terms: OrderTerms,
    /// Where it is.
    pub progress: OrderProgress,
}

impl Order {
    /// Its state.
    pub fn state(&self) -> OrderState {
        self.progress.state
    }

    /// The role `user_id` has in this order: buyer, seller, or admin (when `is_admin` and
    /// neither); `None` for anyone else, for whom the order does not exist.
    pub fn party_of(&self, user_id: UserId, is_admin: bool) -> Option<Actor> {
        if user_id == self.buyer_id {
            Some(Actor::Buyer)
        } else if user_id == self.seller_id {
            Some(Actor::Seller)
        } else if is_admin {
            Some(Actor::Admin)
        } else {
            None
        }
    }

    /// Whether another revision may be asked.
    pub fn has_revisions_left(&self) -> bool {
        self.terms.revisions_included == UNLIMITED_REVISIONS
            || self.progress.revisions_used < self.terms.revisions_included
    }

    /// The earliest time a timer of the order is due in its current state, if any: what
    /// the timer loop looks for.
    pub fn next_timer_time(&self) -> Option<i64> {
        let progress = &self.progress;
        let mut due: Vec<i64> = Vec::new();
        match progress.state {
            OrderState::AwaitingPayment => due.extend(progress.payment_deadline),
            OrderState::InProgress if !progress.late => due.extend(progress.due_time),
            OrderState::Delivered => due.extend(progress.auto_complete_time),
            _ => {}
        }
        if progress.state == OrderState::InProgress
            && let Some(extension) = &progress.pending_extension
        {
            due.push(extension.answer_deadline);
        }
        if progress.state.is_paid_and_open()
            && let Some(cancellation) = &progress.pending_cancellation
        {
            due.push(cancellation.answer_deadline);
        }
        due.into_iter().min()
    }
}

/// One entry of an order's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Position in the timeline, from 1.
    pub sequence: i64,
    /// What happened.
    pub kind: TimelineKind,
    /// Who did it.
    pub actor: Actor,
    /// The user who did it (`None` for the system).
    #[serde(with = "optional_user_id")]
    pub actor_user_id: Option<UserId>,
    /// When.
    pub time: i64,
    /// Delivery message, revision request, reason, note.
    pub message: String,
    /// Delivery attachments.
    pub attachment_urls: Vec<HttpsUrl>,
    /// Days of an extension.
    pub days: i32,
    /// The state before.
    pub from_state: OrderState,
    /// The state after.
    pub to_state: OrderState,
    /// How a dispute was resolved.
    pub resolution: Option<Resolution>,
    /// What went back to the buyer.
    pub refund: Option<Money>,
}

/// One change of an order: its timeline entry, the settlement when money moves, and the
/// order right after it (emitted as one `OrderChanged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The entry appended.
    pub entry: TimelineEntry,
    /// How the money is settled, when it is.
    pub settlement: Option<Settlement>,
    /// The order after the change.
    pub order: Order,
}

/// An optional user id as its string (UUIDs carry no serde here).
mod optional_user_id {
    use gigmesh_types::UserId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        user_id: &Option<UserId>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match user_id {
            Some(user_id) => serializer.serialize_some(&user_id.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<UserId>, D::Error> {
        let raw: Option<String> = Option::deserialize(deserializer)?;
        raw.map(|raw| {
            UserId::parse("actor_user_id", &raw)
                .map_err(|error| serde::de::Error::custom(error.to_string()))
        })
        .transpose()
    }
}
