//! A gig and its lifecycle: the states (draft -> active <-> paused -> deleted), moderation
//! and an admin's decisions, the rating it carries, and the transitions that change it —
//! editing, publishing, pausing, resuming, deleting and moderating — each refusing what its
//! current state or owner does not allow.

use gigmesh_types::{GigId, UserId};

use super::content::GigContent;
use crate::error::GigsError;

/// Longest moderation reason.
pub const MAX_MODERATION_REASON_CHARS: usize = 500;

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

/// Gigs for the domain's unit tests.
#[cfg(test)]
pub(super) mod fixtures {
    use gigmesh_types::{Currency, Money, UserId};

    use super::Gig;
    use crate::domain::content::{GalleryItem, GigContent, GigLists, MediaKind, Package, Tier};

    /// Content with every part publishing needs.
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

    /// A new draft of a new seller, complete enough to publish.
    pub(in crate::domain) fn draft() -> Gig {
        Gig::draft(UserId::new(), "slug".to_owned(), complete_content(), 1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::draft;
    use super::*;

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
