//! Orders' own copy of a gig, kept from `GigChanged`: what placing an order reads (its
//! state, moderation, seller, packages, extras and requirement questions), and the checks
//! that decide whether a buyer may order it.

use gigmesh_types::{GigId, Money, UserId};
use serde::{Deserialize, Serialize};

use crate::error::OrdersError;

/// Revisions of a package without a limit.
pub const UNLIMITED_REVISIONS: i32 = -1;

/// A package tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The basic package.
    Basic,
    /// The standard package.
    Standard,
    /// The premium package.
    Premium,
}

impl Tier {
    /// Lower-case name, for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Basic => "basic",
            Tier::Standard => "standard",
            Tier::Premium => "premium",
        }
    }
}

/// Where the gig is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GigState {
    /// Not published yet.
    Draft,
    /// Published.
    Active,
    /// Paused by its seller.
    Paused,
    /// Deleted by its seller.
    Deleted,
}

/// What moderation decided about the gig.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Moderation {
    /// Not decided yet.
    Pending,
    /// Allowed.
    Approved,
    /// Refused by an admin.
    Rejected,
    /// Taken down by an admin.
    Suspended,
}

/// One package of the gig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GigPackage {
    /// Its tier.
    pub tier: Tier,
    /// Its name.
    pub name: String,
    /// Its price.
    pub price: Money,
    /// Days to deliver.
    pub delivery_days: i32,
    /// Revisions included, or [`UNLIMITED_REVISIONS`].
    pub revisions: i32,
}

/// One extra of the gig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GigExtra {
    /// Its stable id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The price of one.
    pub price: Money,
    /// Days one adds to the delivery.
    pub extra_days: i32,
}

/// The kind of answer a requirement question asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// Free text.
    Text,
    /// One of the options.
    MultipleChoice,
    /// The https URL of a file.
    Attachment,
}

/// A requirement question of the gig, copied into each order placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The question.
    pub question: String,
    /// The kind of answer.
    pub kind: QuestionKind,
    /// The options of a multiple-choice question.
    pub options: Vec<String>,
    /// Whether an answer is required.
    pub required: bool,
}

/// The gig as orders knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GigSnapshot {
    /// The gig.
    #[serde(skip)]
    pub id: GigId,
    /// Its seller.
    #[serde(skip)]
    pub seller_id: UserId,
    /// Its title.
    pub title: String,
    /// Its lifecycle state.
    pub state: GigState,
    /// Its moderation.
    pub moderation: Moderation,
    /// Its packages.
    pub packages: Vec<GigPackage>,
    /// Its extras.
    pub extras: Vec<GigExtra>,
    /// Its requirement questions.
    pub requirements: Vec<Question>,
}

impl GigSnapshot {
    /// Whether `buyer_id` may order this gig now: it is active and approved, and not theirs.
    pub fn ensure_orderable_by(&self, buyer_id: UserId) -> Result<(), OrdersError> {
        let unavailable = |reason: &str| {
            Err(OrdersError::GigUnavailable(format!(
                "cannot order this gig: {reason}"
            )))
        };
        match self.state {
            // A draft was never public: for buyers it does not exist, as the gig service
            // answers too.
            GigState::Draft => return Err(OrdersError::GigNotFound(self.id.to_string())),
            GigState::Paused => return unavailable("its seller paused it"),
            GigState::Deleted => return unavailable("its seller deleted it"),
            GigState::Active => {}
        }
        match self.moderation {
            Moderation::Approved => {}
            Moderation::Pending => return unavailable("it awaits an admin's approval"),
            Moderation::Rejected => return unavailable("an admin rejected it"),
            Moderation::Suspended => return unavailable("an admin suspended it"),
        }
        if self.seller_id == buyer_id {
            return Err(OrdersError::OwnGig);
        }
        Ok(())
    }

    /// The package of `tier`, if the gig offers it.
    pub fn package(&self, tier: Tier) -> Option<&GigPackage> {
        self.packages.iter().find(|package| package.tier == tier)
    }

    /// The extra with `extra_id`, if the gig offers it.
    pub fn extra(&self, extra_id: &str) -> Option<&GigExtra> {
        self.extras.iter().find(|extra| extra.id == extra_id)
    }
}
