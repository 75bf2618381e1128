//! Gigs and the rules that change them: content limits, the lifecycle (draft -> active <->
//! paused -> deleted), moderation, visibility and slugs. Pure: no IO and no proto types.
//! `input` parses requests into these types, `store.rs` persists them.
//!
//! This file only names the parts; they live by concern in `content.rs` (what the seller
//! writes and its limits), `gig.rs` (the gig, its states and transitions), `views.rs` (who
//! reads a gig, what they see and whether they may) and `slug.rs` (URL names from titles).
//! The parts import each other in one direction: `views` -> `gig` -> `content`.

mod content;
mod gig;
mod slug;
mod views;

pub use self::content::{
    Extra, Faq, GalleryItem, GigContent, GigLists, MAX_CHOICE_OPTION_CHARS, MAX_CHOICE_OPTIONS,
    MAX_DELIVERY_DAYS, MAX_DESCRIPTION_CHARS, MAX_EXTRA_DAYS, MAX_EXTRA_TITLE_CHARS, MAX_EXTRAS,
    MAX_FAQ, MAX_FAQ_ANSWER_CHARS, MAX_FAQ_QUESTION_CHARS, MAX_FEATURE_CHARS, MAX_FEATURES,
    MAX_GALLERY_IMAGES, MAX_GALLERY_VIDEOS, MAX_PACKAGE_DESCRIPTION_CHARS, MAX_PACKAGE_NAME_CHARS,
    MAX_REQUIREMENT_QUESTION_CHARS, MAX_REQUIREMENTS, MAX_REVISIONS, MAX_TAG_CHARS, MAX_TAGS,
    MAX_TITLE_CHARS, MIN_CHOICE_OPTIONS, MIN_DELIVERY_DAYS, MIN_TAG_CHARS, MIN_TITLE_CHARS,
    MediaKind, Package, Requirement, RequirementKind, Tier, UNLIMITED_REVISIONS,
};
pub use self::gig::{
    Gig, GigState, MAX_MODERATION_REASON_CHARS, Moderation, ModerationAction, Outcome, Rating,
};
pub use self::slug::{slug_base, slug_candidate};
pub use self::views::{GigLookup, GigView, Page, SellerSummary, Viewer};
