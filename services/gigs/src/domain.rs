//! Gigs and the rules that change them: content limits, the lifecycle (draft -> active <->
//! paused -> deleted), moderation, visibility and slugs. Pure: no IO and no proto types.
//! `input.rs` parses requests into these types, `store.rs` persists them.

use gigmesh_types::{Currency, GigId, Money, UserId};
use serde::{Deserialize, Serialize};

use crate::error::GigsError;

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
/// Longest moderation reason.
pub const MAX_MODERATION_REASON_CHARS: usize = 500;
/// Longest slug made from a title (before a collision suffix).
pub const MAX_SLUG_BASE_CHARS: usize = 60;

/// Where a gig is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GigState {
    /// Being written (or sent back by a rejection); only the owner sees it.
    Draft,
    /// Published.
    Active,
    /// Paused by the owner.
    Paused,
    /// Deleted by the owner (kept for past orders).
    Deleted,
}

impl GigState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            GigState::Draft => "draft",
            GigState::Active => "active",
            GigState::Paused => "paused",
            GigState::Deleted => "deleted",
        }
    }

    /// The state stored as `name`.
    pub fn from_stored(name: &str) -> Option<Self> {
        [
            GigState::Draft,
            GigState::Active,
            GigState::Paused,
            GigState::Deleted,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }
}

/// What moderation decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Moderation {
    /// Not decided: a draft, or a published gig awaiting review when reviews are required.
    Pending,
    /// Allowed.
    Approved,
    /// Refused; the owner may edit and publish again.
    Rejected,
    /// Taken down by an admin until an admin approves it again.
    Suspended,
}

impl Moderation {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Moderation::Pending => "pending",
            Moderation::Approved => "approved",
            Moderation::Rejected => "rejected",
            Moderation::Suspended => "suspended",
        }
    }

    /// The decision stored as `name`.
    pub fn from_stored(name: &str) -> Option<Self> {
        [
            Moderation::Pending,
            Moderation::Approved,
            Moderation::Rejected,
            Moderation::Suspended,
        ]
        .into_iter()
        .find(|moderation| moderation.as_str() == name)
    }
}

/// An admin's moderation decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModerationAction {
    /// Allow the gig.
    Approve,
    /// Refuse it, with a reason; it goes back to draft.
    Reject(String),
    /// Take it down, with a reason.
    Suspend(String),
}

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

/// An average rating and how many ratings it is made of.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rating {
    /// Average, 0 to 5 (0 without ratings).
    pub average: f64,
    /// Number of ratings.
    pub count: i64,
}

/// A gig.
#[derive(Debug, Clone, PartialEq)]
pub struct Gig {
    /// Id.
    pub id: GigId,
    /// The owning seller.
    pub seller_id: UserId,
    /// Unique URL slug.
    pub slug: String,
    /// What the seller wrote.
    pub content: GigContent,
    /// Lifecycle state.
    pub state: GigState,
    /// Moderation decision.
    pub moderation: Moderation,
    /// Why moderation rejected or suspended it.
    pub moderation_reason: Option<String>,
    /// The gig's rating, from the reviews service.
    pub rating: Rating,
    /// Created (unix millis).
    pub created_at: i64,
    /// Last changed (unix millis).
    pub updated_at: i64,
    /// First published (unix millis).
    pub published_at: Option<i64>,
}

/// Who asks to see or change a gig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Nobody signed in.
    Anonymous,
    /// A signed-in user.
    User {
        /// The user.
        user_id: UserId,
        /// Whether the user is an admin.
        admin: bool,
    },
}

/// How a request names the gig it wants to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GigLookup {
    /// By id.
    Id(GigId),
    /// By slug (lower case).
    Slug(String),
}

/// A page request of a list: how many items at most, after which position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page<C> {
    /// How many items at most.
    pub size: u32,
    /// Where the previous page ended; `None` for the first page.
    pub after: Option<C>,
}

impl Gig {
    /// A new draft owned by `seller_id`.
    pub fn draft(seller_id: UserId, slug: String, content: GigContent, now: i64) -> Self {
        Self {
            id: GigId::new(),
            seller_id,
            slug,
            content,
            state: GigState::Draft,
            moderation: Moderation::Pending,
            moderation_reason: None,
            rating: Rating::default(),
            created_at: now,
            updated_at: now,
            published_at: None,
        }
    }

    /// Whether the gig itself is visible to buyers: active and approved (its seller's
    /// suspension is checked on [`GigView::is_public`]).
    pub fn is_public(&self) -> bool {
        self.state == GigState::Active && self.moderation == Moderation::Approved
    }

    /// Whether `viewer` is the owner or an admin, who see the gig in every state.
    pub fn is_visible_to_owner_or_admin(&self, viewer: Viewer) -> bool {
        match viewer {
            Viewer::Anonymous => false,
            Viewer::User { user_id, admin } => admin || user_id == self.seller_id,
        }
    }

    /// Refuses anyone but the owner, and every change of a deleted gig.
    pub fn ensure_owner(&self, user_id: UserId) -> Result<(), GigsError> {
        if self.state == GigState::Deleted {
            return Err(GigsError::GigNotFound(self.id.to_string()));
        }
        if self.seller_id != user_id {
            return Err(GigsError::NotOwner);
        }
        Ok(())
    }

    /// Whether the slug may still follow the title: only until the gig was first published,
    /// so links that buyers may have shared keep working.
    pub fn slug_follows_title(&self) -> bool {
        self.published_at.is_none()
    }

    /// Replaces the content. A published gig must stay publishable.
    pub fn edit(&mut self, content: GigContent, now: i64) -> Result<Outcome, GigsError> {
        if self.content == content {
            return Ok(Outcome::Unchanged);
        }
        if matches!(self.state, GigState::Active | GigState::Paused) {
            let missing = content.missing_for_publication();
            if !missing.is_empty() {
                return Err(GigsError::Incomplete {
                    action: "a published gig must stay complete",
                    missing,
                });
            }
        }
        self.content = content;
        self.updated_at = now;
        Ok(Outcome::Changed)
    }

    /// Publishes a draft: it becomes active, approved at once unless `require_review`.
    pub fn publish(&mut self, require_review: bool, now: i64) -> Result<(), GigsError> {
        self.ensure_state("publish", &[GigState::Draft])?;
        let missing = self.content.missing_for_publication();
        if !missing.is_empty() {
            return Err(GigsError::Incomplete {
                action: "cannot publish",
                missing,
            });
        }
        self.state = GigState::Active;
        if require_review {
            self.moderation = Moderation::Pending;
        } else {
            self.moderation = Moderation::Approved;
        }
        self.moderation_reason = None;
        self.published_at.get_or_insert(now);
        self.updated_at = now;
        Ok(())
    }

    /// Pauses an active gig.
    pub fn pause(&mut self, now: i64) -> Result<(), GigsError> {
        self.ensure_state("pause", &[GigState::Active])?;
        self.state = GigState::Paused;
        self.updated_at = now;
        Ok(())
    }

    /// Reactivates a paused gig.
    pub fn resume(&mut self, now: i64) -> Result<(), GigsError> {
        self.ensure_state("resume", &[GigState::Paused])?;
        self.state = GigState::Active;
        self.updated_at = now;
        Ok(())
    }

    /// Deletes the gig (soft).
    pub fn delete(&mut self, now: i64) -> Result<(), GigsError> {
        self.ensure_state(
            "delete",
            &[GigState::Draft, GigState::Active, GigState::Paused],
        )?;
        self.state = GigState::Deleted;
        self.updated_at = now;
        Ok(())
    }

    /// Applies an admin's decision to a published (active or paused) gig. A rejection sends
    /// the gig back to draft, so its owner edits and publishes it again.
    pub fn moderate(&mut self, action: ModerationAction, now: i64) -> Result<Outcome, GigsError> {
        self.ensure_state("moderate", &[GigState::Active, GigState::Paused])?;
        let before = (self.state, self.moderation, self.moderation_reason.clone());
        match action {
            ModerationAction::Approve => {
                self.moderation = Moderation::Approved;
                self.moderation_reason = None;
            }
            ModerationAction::Reject(reason) => {
                self.state = GigState::Draft;
                self.moderation = Moderation::Rejected;
                self.moderation_reason = Some(reason);
            }
            ModerationAction::Suspend(reason) => {
                self.moderation = Moderation::Suspended;
                self.moderation_reason = Some(reason);
            }
        }
        if before == (self.state, self.moderation, self.moderation_reason.clone()) {
            return Ok(Outcome::Unchanged);
        }
        self.updated_at = now;
        Ok(Outcome::Changed)
    }

    fn ensure_state(&self, action: &'static str, allowed: &[GigState]) -> Result<(), GigsError> {
        if allowed.contains(&self.state) {
            Ok(())
        } else {
            Err(GigsError::WrongState {
                action,
                state: self.state,
            })
        }
    }
}

/// Whether a change altered anything, so that a no-op writes nothing and emits no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Outcome {
    /// Something changed.
    Changed,
    /// Everything is as it was.
    Unchanged,
}

/// What a gig page shows of its seller.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SellerSummary {
    /// Username.
    pub username: String,
    /// Name shown.
    pub display_name: String,
    /// Avatar URL, or empty.
    pub avatar_url: String,
    /// ISO 3166-1 alpha-2 country code, or empty.
    pub country: String,
    /// ISO 639-1 codes of the languages spoken.
    pub languages: Vec<String>,
    /// The seller's rating over all their gigs.
    pub rating: Rating,
    /// Whether an admin suspended the seller's account; their gigs are hidden from buyers.
    pub suspended: bool,
}

/// A gig with its seller's summary (absent until the seller's profile event arrives).
#[derive(Debug, Clone, PartialEq)]
pub struct GigView {
    /// The gig.
    pub gig: Gig,
    /// Its seller as buyers see them.
    pub seller: Option<SellerSummary>,
}

impl GigView {
    /// Whether buyers (and everyone else) see the gig: it is public and its seller is not
    /// suspended.
    pub fn is_public(&self) -> bool {
        self.gig.is_public() && !self.seller.as_ref().is_some_and(|seller| seller.suspended)
    }

    /// Whether `viewer` may see the gig: everyone sees public gigs, the owner and admins
    /// see every state.
    pub fn is_visible_to(&self, viewer: Viewer) -> bool {
        self.is_public() || self.gig.is_visible_to_owner_or_admin(viewer)
    }
}

/// The slug a title makes: lower-case ASCII letters and digits joined by single hyphens,
/// accents folded where simple, at most [`MAX_SLUG_BASE_CHARS`]; `gig` when nothing is left.
pub fn slug_base(title: &str) -> String {
    let mut slug = String::new();
    let mut pending_hyphen = false;
    for character in title.chars().flat_map(fold_accent) {
        if !character.is_ascii_alphanumeric() {
            pending_hyphen = true;
            continue;
        }
        let needs_hyphen = pending_hyphen && !slug.is_empty();
        if slug.len() + usize::from(needs_hyphen) + 1 > MAX_SLUG_BASE_CHARS {
            break;
        }
        if needs_hyphen {
            slug.push('-');
        }
        pending_hyphen = false;
        slug.push(character.to_ascii_lowercase());
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "gig".to_owned()
    } else {
        slug
    }
}

/// The candidate slugs for `base`, in the order they are tried: `base`, `base-2`, `base-3`…
pub fn slug_candidate(base: &str, attempt: usize) -> String {
    if attempt <= 1 {
        base.to_owned()
    } else {
        format!("{base}-{attempt}")
    }
}

fn fold_accent(character: char) -> impl Iterator<Item = char> {
    let folded: &str = match character {
        'à' | 'á' | 'â' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Å' => "a",
        'ä' | 'Ä' | 'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ø' => "o",
        'ö' | 'Ö' | 'œ' | 'Œ' => "oe",
        'ù' | 'ú' | 'û' | 'Ù' | 'Ú' | 'Û' => "u",
        'ü' | 'Ü' => "ue",
        'ß' => "ss",
        'ý' | 'ÿ' | 'Ý' => "y",
        _ => "",
    };
    let keep = folded.is_empty().then_some(character);
    folded.chars().chain(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete_content() -> GigContent {
        GigContent {
            title: "I will build your Rust backend".to_owned(),
            description: "Fast and tested.".to_owned(),
            category_id: Some("programming-tech".to_owned()),
            subcategory_id: Some("backend-apis".to_owned()),
            lists: GigLists {
                packages: vec![Package {
                    tier: Tier::Basic,
                    name: "Starter".to_owned(),
                    description: String::new(),
                    price: Money::new(5_000, Currency::USD),
                    delivery_days: 3,
                    revisions: 1,
                    features: Vec::new(),
                }],
                gallery: vec![GalleryItem {
                    kind: MediaKind::Image,
                    url: "https://cdn.example.com/a.png".to_owned(),
                    cover: true,
                }],
                ..GigLists::default()
            },
        }
    }

    fn draft() -> Gig {
        Gig::draft(UserId::new(), "slug".to_owned(), complete_content(), 1_000)
    }

    #[test]
    fn slugs_are_lower_case_words_joined_by_hyphens() {
        assert_eq!(
            slug_base("I will build your  Rust backend!"),
            "i-will-build-your-rust-backend"
        );
        assert_eq!(slug_base("Café für Müller"), "cafe-fuer-mueller");
        assert_eq!(slug_base("日本語のタイトル"), "gig");
        assert!(slug_base(&"word ".repeat(40)).len() <= MAX_SLUG_BASE_CHARS);
        assert!(!slug_base(&"word ".repeat(40)).ends_with('-'));
        assert_eq!(slug_candidate("x", 1), "x");
        assert_eq!(slug_candidate("x", 3), "x-3");
    }

    proptest::proptest! {
        #[test]
        fn slugs_are_url_safe_whatever_the_title(title in "\\PC{0,200}") {
            let slug = slug_base(&title);
            proptest::prop_assert!(!slug.is_empty() && slug.len() <= MAX_SLUG_BASE_CHARS);
            proptest::prop_assert!(slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            proptest::prop_assert!(!slug.starts_with('-') && !slug.ends_with('-'));
            proptest::prop_assert!(!slug.contains("--"));
        }
    }

    #[test]
    fn the_lifecycle_moves_draft_active_paused_deleted() {
        let mut gig = draft();
        assert!(!gig.is_public());
        gig.publish(false, 2_000).unwrap();
        assert_eq!(gig.state, GigState::Active);
        assert_eq!(gig.moderation, Moderation::Approved);
        assert_eq!(gig.published_at, Some(2_000));
        assert!(gig.is_public());
        assert!(matches!(
            gig.publish(false, 3_000),
            Err(GigsError::WrongState { .. })
        ));
        gig.pause(3_000).unwrap();
        assert!(!gig.is_public());
        assert!(gig.pause(3_500).is_err());
        gig.resume(4_000).unwrap();
        assert!(gig.is_public());
        gig.delete(5_000).unwrap();
        assert!(gig.delete(6_000).is_err());
        assert!(!gig.is_public());
    }

    #[test]
    fn publishing_needs_the_complete_set_and_may_wait_for_review() {
        let mut gig = draft();
        gig.content.description.clear();
        gig.content.lists.gallery.clear();
        match gig.publish(false, 2_000) {
            Err(GigsError::Incomplete { missing, .. }) => {
                assert_eq!(missing, ["description", "gallery (an image)"]);
            }
            other => panic!("{other:?}"),
        }
        let mut reviewed = draft();
        reviewed.publish(true, 2_000).unwrap();
        assert_eq!(reviewed.moderation, Moderation::Pending);
        assert!(!reviewed.is_public());
    }

    #[test]
    fn a_rejection_sends_the_gig_back_to_draft_until_published_again() {
        let mut gig = draft();
        gig.publish(false, 2_000).unwrap();
        let outcome = gig
            .moderate(ModerationAction::Reject("stolen images".to_owned()), 3_000)
            .unwrap();
        assert_eq!(outcome, Outcome::Changed);
        assert_eq!(gig.state, GigState::Draft);
        assert_eq!(gig.moderation, Moderation::Rejected);
        gig.publish(false, 4_000).unwrap();
        assert!(gig.is_public());
        assert_eq!(gig.published_at, Some(2_000));
        assert_eq!(gig.moderation_reason, None);
        assert_eq!(
            gig.moderate(ModerationAction::Approve, 5_000).unwrap(),
            Outcome::Unchanged
        );
    }

    #[test]
    fn visibility_depends_on_state_moderation_seller_and_viewer() {
        let mut view = GigView {
            gig: draft(),
            seller: None,
        };
        let owner = Viewer::User {
            user_id: view.gig.seller_id,
            admin: false,
        };
        let other = Viewer::User {
            user_id: UserId::new(),
            admin: false,
        };
        let admin = Viewer::User {
            user_id: UserId::new(),
            admin: true,
        };
        for viewer in [owner, admin] {
            assert!(view.is_visible_to(viewer));
        }
        for viewer in [other, Viewer::Anonymous] {
            assert!(!view.is_visible_to(viewer));
        }
        view.gig.publish(false, 2_000).unwrap();
        assert!(view.is_visible_to(Viewer::Anonymous));

        view.seller = Some(SellerSummary {
            suspended: true,
            ..SellerSummary::default()
        });
        assert!(!view.is_visible_to(other));
        assert!(view.is_visible_to(owner));
        view.seller = Some(SellerSummary::default());
        assert!(view.is_visible_to(other));

        let outcome = view
            .gig
            .moderate(ModerationAction::Suspend("spam".to_owned()), 3_000)
            .unwrap();
        assert_eq!(outcome, Outcome::Changed);
        assert!(!view.is_visible_to(other));
        assert!(view.is_visible_to(owner));
    }

    #[test]
    fn only_the_owner_changes_a_gig_and_nobody_a_deleted_one() {
        let mut gig = draft();
        assert!(gig.ensure_owner(gig.seller_id).is_ok());
        assert!(matches!(
            gig.ensure_owner(UserId::new()),
            Err(GigsError::NotOwner)
        ));
        gig.delete(2_000).unwrap();
        assert!(matches!(
            gig.ensure_owner(gig.seller_id),
            Err(GigsError::GigNotFound(_))
        ));
    }

    #[test]
    fn stored_lists_read_and_write_as_before() {
        let stored = r#"{"tags":[],"packages":[{"tier":"basic","name":"Starter","description":"","price":{"amount_minor":5000,"currency":"USD"},"delivery_days":3,"revisions":1,"features":[]}],"extras":[],"gallery":[],"requirements":[],"faq":[]}"#;
        let lists: GigLists = serde_json::from_str(stored).expect("stored lists");
        assert_eq!(lists.packages[0].price, Money::new(5_000, Currency::USD));
        assert_eq!(serde_json::to_string(&lists).expect("encode"), stored);
    }

    #[test]
    fn a_published_gig_stays_complete() {
        let mut gig = draft();
        gig.publish(false, 2_000).unwrap();
        let mut content = gig.content.clone();
        content.lists.gallery.clear();
        assert!(matches!(
            gig.edit(content, 3_000),
            Err(GigsError::Incomplete { .. })
        ));
        assert_eq!(
            gig.edit(gig.content.clone(), 3_000).unwrap(),
            Outcome::Unchanged
        );
    }
}
