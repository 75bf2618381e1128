//! The gigs service's `Gig` snapshot (as `GigChanged` carries it and `gig_documents` stores
//! it, encoded) as search's domain values: whether buyers may find the gig, and the
//! document the index holds for it. Nothing deeper sees the proto type.

use gigmesh_proto::gigs::{Gig, GigState, ModerationState, PackageTier};
use gigmesh_types::{GigId, millis_from_timestamp};
use prost::Message as _;

use crate::domain::{GigDocument, MAX_RATING};

/// Why a snapshot cannot be read; retrying will not help.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The event carries no gig.
    #[error("the snapshot carries no gig")]
    MissingGig,
    /// The gig id is not a UUID.
    #[error("the gig id {0:?} is not a UUID")]
    InvalidGigId(String),
    /// A visible gig without any package has no starting price.
    #[error("the visible gig {0} has no package")]
    NoPackage(GigId),
    /// The stored bytes are not an encoded `gigmesh.gigs.v1.Gig`.
    #[error("not an encoded gig: {0}")]
    Undecodable(#[from] prost::DecodeError),
}

/// Whether buyers may find the gig: active and approved.
pub fn is_visible(gig: &Gig) -> bool {
    gig.state == GigState::Active as i32 && gig.moderation_state == ModerationState::Approved as i32
}

/// The id of a snapshot's gig (surrounding whitespace ignored).
pub fn gig_id_of(gig: &Gig) -> Result<GigId, SnapshotError> {
    GigId::parse("gig.id", gig.id.trim()).map_err(|_| SnapshotError::InvalidGigId(gig.id.clone()))
}

/// The document of a stored (encoded) snapshot, `None` when the gig is not visible.
pub fn document_from_stored(snapshot: &[u8]) -> Result<Option<GigDocument>, SnapshotError> {
    document_from_snapshot(&Gig::decode(snapshot)?)
}

/// The document to index for a gig snapshot, or `None` when the gig must not be found.
pub fn document_from_snapshot(gig: &Gig) -> Result<Option<GigDocument>, SnapshotError> {
    let gig_id = gig_id_of(gig)?;
    if !is_visible(gig) {
        return Ok(None);
    }
    // The basic package gives the starting price; a snapshot without one (which gigs never
    // publishes) falls back to its cheapest package.
    let basic = gig
        .packages
        .iter()
        .find(|package| package.tier == PackageTier::Basic as i32)
        .or_else(|| {
            gig.packages
                .iter()
                .min_by_key(|package| package.price.as_ref().map_or(i64::MAX, |p| p.amount_minor))
        })
        .ok_or(SnapshotError::NoPackage(gig_id))?;
    let price = basic.price.clone().unwrap_or_default();
    let seller = gig.seller.clone().unwrap_or_default();
    let cover_url = gig
        .gallery
        .iter()
        .find(|item| item.cover)
        .or_else(|| gig.gallery.first())
        .map(|item| item.url.clone())
        .unwrap_or_default();
    let seller_name = if seller.display_name.trim().is_empty() {
        seller.username.clone()
    } else {
        seller.display_name.clone()
    };
    let publish_time_millis = gig
        .publish_time
        .as_ref()
        .or(gig.create_time.as_ref())
        .map(millis_from_timestamp)
        .unwrap_or_default();
    Ok(Some(GigDocument {
        gig_id: gig_id.as_uuid(),
        slug: gig.slug.clone(),
        title: gig.title.clone(),
        description: gig.description.clone(),
        category_id: gig.category_id.clone(),
        subcategory_id: gig.subcategory_id.clone(),
        tags: gig.tags.clone(),
        starting_price_minor: price.amount_minor,
        currency: price.currency.trim().to_ascii_uppercase(),
        delivery_days: u32::try_from(basic.delivery_days).unwrap_or_default(),
        rating: if gig.rating.is_finite() {
            gig.rating.clamp(0.0, MAX_RATING)
        } else {
            0.0
        },
        rating_count: gig.rating_count.max(0),
        cover_url,
        seller_id: if seller.user_id.is_empty() {
            gig.seller_id.clone()
        } else {
            seller.user_id.clone()
        },
        seller_name,
        seller_country: seller.country.trim().to_ascii_uppercase(),
        seller_languages: seller
            .languages
            .iter()
            .map(|language| language.trim().to_ascii_lowercase())
            .filter(|language| !language.is_empty())
            .collect(),
        publish_time_millis,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gigmesh_proto::gigs::{Package, SellerSummary};
    use gigmesh_proto::types::Money;

    fn gig(state: GigState, moderation: ModerationState) -> Gig {
        Gig {
            id: GigId::new().to_string(),
            title: "I will design a logo".to_owned(),
            state: state as i32,
            moderation_state: moderation as i32,
            packages: vec![
                Package {
                    tier: PackageTier::Standard as i32,
                    price: Some(Money {
                        amount_minor: 9_000,
                        currency: "usd".to_owned(),
                    }),
                    delivery_days: 2,
                    ..Package::default()
                },
                Package {
                    tier: PackageTier::Basic as i32,
                    price: Some(Money {
                        amount_minor: 4_000,
                        currency: "usd".to_owned(),
                    }),
                    delivery_days: 5,
                    ..Package::default()
                },
            ],
            seller: Some(SellerSummary {
                username: "ada".to_owned(),
                country: "de".to_owned(),
                languages: vec!["EN".to_owned()],
                ..SellerSummary::default()
            }),
            ..Gig::default()
        }
    }

    #[test]
    fn only_active_approved_gigs_become_documents() {
        let visible = gig(GigState::Active, ModerationState::Approved);
        let document = document_from_snapshot(&visible).unwrap().unwrap();
        assert_eq!(document.starting_price_minor, 4_000);
        assert_eq!(document.delivery_days, 5);
        assert_eq!(document.currency, "USD");
        assert_eq!(document.seller_name, "ada");
        assert_eq!(document.seller_country, "DE");
        assert_eq!(document.seller_languages, ["en"]);
        for (state, moderation) in [
            (GigState::Paused, ModerationState::Approved),
            (GigState::Deleted, ModerationState::Approved),
            (GigState::Draft, ModerationState::Approved),
            (GigState::Active, ModerationState::Suspended),
            (GigState::Active, ModerationState::Rejected),
        ] {
            assert!(
                document_from_snapshot(&gig(state, moderation))
                    .unwrap()
                    .is_none()
            );
        }
    }

    #[test]
    fn stored_snapshots_decode_and_bad_ids_or_bytes_are_refused() {
        let visible = gig(GigState::Active, ModerationState::Approved);
        let stored = document_from_stored(&visible.encode_to_vec()).unwrap();
        assert_eq!(stored.map(|document| document.title), Some(visible.title));
        assert!(matches!(
            document_from_stored(b"\xff\xff"),
            Err(SnapshotError::Undecodable(_))
        ));
        let mut padded = gig(GigState::Paused, ModerationState::Approved);
        let gig_id = gig_id_of(&padded).unwrap();
        padded.id = format!(" {gig_id} ");
        assert_eq!(gig_id_of(&padded).unwrap(), gig_id);
        padded.id = "not-a-uuid".to_owned();
        assert!(matches!(
            gig_id_of(&padded),
            Err(SnapshotError::InvalidGigId(_))
        ));
    }
}
