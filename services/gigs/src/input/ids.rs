//! How requests name things: gig and user ids, and the gig GetGig asks for by id or slug.

use gigmesh_errors::ApiError;
use gigmesh_proto::gigs::get_gig_request::Gig as GigKey;
use gigmesh_types::{GigId, UserId};

use crate::domain::GigLookup;

/// A gig id field (surrounding whitespace ignored).
pub fn parse_gig_id(field: &str, raw: &str) -> Result<GigId, ApiError> {
    GigId::parse(field, raw.trim())
}

/// The gig GetGig names, by id or by slug (trimmed, any letter case).
pub fn parse_gig_lookup(key: Option<GigKey>) -> Result<GigLookup, ApiError> {
    match key {
        None => Err(ApiError::invalid("gig", "set either gig_id or slug")),
        Some(GigKey::GigId(raw)) => parse_gig_id("gig_id", &raw).map(GigLookup::Id),
        Some(GigKey::Slug(raw)) => {
            let slug = raw.trim().to_lowercase();
            if slug.is_empty() {
                return Err(ApiError::invalid("slug", "is required"));
            }
            Ok(GigLookup::Slug(slug))
        }
    }
}

/// A user id field.
pub fn parse_user_id(field: &str, raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(field, raw.trim())
}
