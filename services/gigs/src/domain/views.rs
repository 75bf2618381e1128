//! Reading gigs: who asks (the viewer), which gig or which page of a list they ask for, what
//! they see (a gig with its seller's summary), and who may see a gig in which state.

use gigmesh_types::{GigId, UserId};

use super::gig::{Gig, GigState, Moderation, Rating};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gig::fixtures::draft;
    use crate::domain::gig::{ModerationAction, Outcome};

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
}
