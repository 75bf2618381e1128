//! What the seller writes: the content of a gig (title, description, category, tags) and its
//! lists (packages in tiers, extras, gallery, requirements, FAQ), the limits each part keeps
//! to, and what a draft still lacks before it can be published. The lists are stored as one
//! document, so their serde names are the stored format.

use gigmesh_types::{Currency, Money};
use serde::{Deserialize, Serialize};

/// Shortest title.
pub const MIN_TITLE_CHARS: usize = 10;
/// Longest title.
pub const MAX_TITLE_CHARS: usize = 80;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
/// Most tags.
pub const MAX_TAGS: usize = 5;
/// Shortest tag.
pub const MIN_TAG_CHARS: usize = 2;
/// Longest tag.
pub const MAX_TAG_CHARS: usize = 20;
/// Longest package name.
pub const MAX_PACKAGE_NAME_CHARS: usize = 40;
/// Longest package description.
pub const MAX_PACKAGE_DESCRIPTION_CHARS: usize = 300;
/// Most features per package.
pub const MAX_FEATURES: usize = 10;
/// Longest feature.
pub const MAX_FEATURE_CHARS: usize = 60;
/// Shortest delivery time in days.
pub const MIN_DELIVERY_DAYS: i32 = 1;
/// Longest delivery time in days.
pub const MAX_DELIVERY_DAYS: i32 = 90;
/// Most revisions a package may include (besides unlimited).
pub const MAX_REVISIONS: i32 = 20;
/// The revisions value meaning "unlimited".
pub const UNLIMITED_REVISIONS: i32 = -1;
/// Most extras.
pub const MAX_EXTRAS: usize = 10;
/// Longest extra title.
pub const MAX_EXTRA_TITLE_CHARS: usize = 60;
/// Most days an extra adds.
pub const MAX_EXTRA_DAYS: i32 = 30;
/// Most gallery images.
pub const MAX_GALLERY_IMAGES: usize = 8;
/// Most gallery videos.
pub const MAX_GALLERY_VIDEOS: usize = 2;
/// Most requirements.
pub const MAX_REQUIREMENTS: usize = 10;
/// Longest requirement question.
pub const MAX_REQUIREMENT_QUESTION_CHARS: usize = 300;
/// Fewest options of a multiple-choice requirement.
pub const MIN_CHOICE_OPTIONS: usize = 2;
/// Most options of a multiple-choice requirement.
pub const MAX_CHOICE_OPTIONS: usize = 10;
/// Longest option of a multiple-choice requirement.
pub const MAX_CHOICE_OPTION_CHARS: usize = 100;
/// Most FAQ entries.
pub const MAX_FAQ: usize = 10;
/// Longest FAQ question.
pub const MAX_FAQ_QUESTION_CHARS: usize = 200;
/// Longest FAQ answer.
pub const MAX_FAQ_ANSWER_CHARS: usize = 1000;

/// The tier of a package; tiers are ordered basic < standard < premium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Basic (required).
    Basic,
    /// Standard.
    Standard,
    /// Premium.
    Premium,
}

impl Tier {
    /// The tier's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Basic => "basic",
            Tier::Standard => "standard",
            Tier::Premium => "premium",
        }
    }
}

/// One package of a gig.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// Tier.
    pub tier: Tier,
    /// Name.
    pub name: String,
    /// What is included.
    pub description: String,
    /// Price.
    pub price: Money,
    /// Days to deliver.
    pub delivery_days: i32,
    /// Revisions included, or [`UNLIMITED_REVISIONS`].
    pub revisions: i32,
    /// Included features.
    pub features: Vec<String>,
}

/// An extra a buyer may add to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extra {
    /// Stable id (kept across updates for the same title).
    pub id: String,
    /// Title.
    pub title: String,
    /// Price, in the gig's currency.
    pub price: Money,
    /// Days it adds to the delivery.
    pub extra_days: i32,
}

/// Image or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// An image.
    Image,
    /// A video.
    Video,
}

/// An item of the gallery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GalleryItem {
    /// Image or video.
    pub kind: MediaKind,
    /// https URL.
    pub url: String,
    /// Whether it is the cover.
    pub cover: bool,
}

/// The kind of answer a requirement asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequirementKind {
    /// Free text.
    Text,
    /// One of the options.
    MultipleChoice,
    /// A file.
    Attachment,
}

/// A question the buyer answers when ordering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirement {
    /// The question.
    pub question: String,
    /// The kind of answer.
    pub kind: RequirementKind,
    /// Options of a multiple-choice question; empty otherwise.
    pub options: Vec<String>,
    /// Whether an answer is required.
    pub required: bool,
}

/// A frequently asked question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faq {
    /// Question.
    pub question: String,
    /// Answer.
    pub answer: String,
}

/// What the seller writes: everything of a gig but its identity, state and ratings.
/// A draft may leave parts empty; [`GigContent::missing_for_publication`] names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GigContent {
    /// Title (always present).
    pub title: String,
    /// Markdown description; empty in an incomplete draft.
    pub description: String,
    /// Category id from the taxonomy.
    pub category_id: Option<String>,
    /// Subcategory id, filed under `category_id`.
    pub subcategory_id: Option<String>,
    /// The lists, stored as one document.
    pub lists: GigLists,
}

/// The list parts of a gig's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GigLists {
    /// Normalised (lower-case) unique tags.
    pub tags: Vec<String>,
    /// Packages in tier order.
    pub packages: Vec<Package>,
    /// Extras.
    pub extras: Vec<Extra>,
    /// Gallery.
    pub gallery: Vec<GalleryItem>,
    /// Requirements.
    pub requirements: Vec<Requirement>,
    /// FAQ.
    pub faq: Vec<Faq>,
}

impl GigContent {
    /// The parts a gig needs before it can be published, by field name; empty when complete.
    pub fn missing_for_publication(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.title.is_empty() {
            missing.push("title");
        }
        if self.description.is_empty() {
            missing.push("description");
        }
        if self.category_id.is_none() {
            missing.push("category_id");
        }
        if self.subcategory_id.is_none() {
            missing.push("subcategory_id");
        }
        if !self
            .lists
            .packages
            .iter()
            .any(|package| package.tier == Tier::Basic)
        {
            missing.push("packages (a basic package)");
        }
        if !self
            .lists
            .gallery
            .iter()
            .any(|item| item.kind == MediaKind::Image)
        {
            missing.push("gallery (an image)");
        }
        missing
    }

    /// The currency of the gig's prices: that of its packages, else of its extras.
    pub fn currency(&self) -> Option<Currency> {
        self.lists
            .packages
            .first()
            .map(|package| package.price.currency)
            .or_else(|| self.lists.extras.first().map(|extra| extra.price.currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_lists_read_and_write_as_before() {
        let stored = r#"{"tags":[],"packages":[{"tier":"basic","name":"Starter","description":"","price":{"amount_minor":5000,"currency":"USD"},"delivery_days":3,"revisions":1,"features":[]}],"extras":[],"gallery":[],"requirements":[],"faq":[]}"#;
        let lists: GigLists = serde_json::from_str(stored).expect("stored lists");
        assert_eq!(lists.packages[0].price, Money::new(5_000, Currency::USD));
        assert_eq!(serde_json::to_string(&lists).expect("encode"), stored);
    }
}
