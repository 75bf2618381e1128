//! Events of the gig service: `GigChanged` into its outbox (`gigmesh.gigs.v1`), and how it
//! keeps seller summaries and ratings from the users (`gigmesh.users.v1`) and reviews
//! (`gigmesh.reviews.v1`) services' events, emitting again each affected gig whose snapshot
//! the change alters: never a deleted gig, never a snapshot consumers already hold, and never
//! more gigs than a seller may hold (`max_gigs_per_seller`).

use async_trait::async_trait;
use gigmesh_db::{DbError, Tx};
use gigmesh_events::{Envelope, EventHandler, HandlerError, decode, enqueue};
use gigmesh_proto::gigs::{GigChange, GigChanged};
use gigmesh_proto::reviews::RatingsChanged;
use gigmesh_proto::users::ProfileChanged;
use gigmesh_types::{GigId, UserId, now_millis};
use uuid::Uuid;

use crate::domain::{GigState, GigView, Rating, SellerSummary};
use crate::output::gig_to_proto;
use crate::store::{self, StoredGig};

/// Consumer group (and inbox name) of the gig service on the users and reviews topics.
pub const CONSUMER_NAME: &str = "gigs.upstream-events";

/// Emits `GigChanged` with the whole gig after `change`, at `version`, keyed by the gig id.
pub async fn record_gig_changed(
    tx: &mut Tx,
    view: &GigView,
    version: i64,
    change: GigChange,
) -> Result<(), DbError> {
    let event = GigChanged {
        change: change as i32,
        gig: Some(gig_to_proto(view)),
        version,
    };
    enqueue(tx, &view.gig.id.to_string(), &event).await?;
    Ok(())
}

/// Applies the users service's profile events and the reviews service's rating events.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamEventsHandler {
    /// Most gigs one event emits again (the cap on a seller's gigs).
    max_gigs_per_seller: u32,
}

impl UpstreamEventsHandler {
    /// A handler emitting at most `max_gigs_per_seller` gigs again per event.
    pub fn new(max_gigs_per_seller: u32) -> Self {
        Self {
            max_gigs_per_seller,
        }
    }
}

#[async_trait]
impl EventHandler for UpstreamEventsHandler {
    async fn handle(&self, tx: &mut Tx, envelope: &Envelope) -> Result<(), HandlerError> {
        if let Some(event) = decode::<ProfileChanged>(envelope) {
            return apply_profile(tx, event?, self.max_gigs_per_seller).await;
        }
        if let Some(event) = decode::<RatingsChanged>(envelope) {
            return apply_ratings(tx, event?, self.max_gigs_per_seller).await;
        }
        Ok(())
    }
}

/// Keeps the summary of a seller (and whether their account is suspended, which hides their
/// gigs from buyers); when it changed, emits again the seller's live gigs whose snapshot it
/// alters, at most `limit` of them. Profiles of users who are not sellers are not kept,
/// unless a summary exists already.
async fn apply_profile(tx: &mut Tx, event: ProfileChanged, limit: u32) -> Result<(), HandlerError> {
    let Some(profile) = event.profile else {
        return Err(HandlerError::permanent(anyhow::anyhow!(
            "ProfileChanged without a profile"
        )));
    };
    let user_id = parse_user_id(&profile.user_id)?;
    let existing = store::find_seller(tx, user_id).await?;
    if existing.is_none() && !profile.is_seller {
        return Ok(());
    }
    let rating = existing
        .as_ref()
        .map(|seller| seller.rating)
        .unwrap_or_default();
    let suspended = event.suspended;
    let summary = SellerSummary {
        username: profile.username,
        display_name: profile.display_name,
        avatar_url: profile.avatar_url,
        country: profile.country,
        languages: profile
            .languages
            .into_iter()
            .map(|language| language.code)
            .collect(),
        rating,
        suspended,
    };
    if existing.as_ref() == Some(&summary) {
        return Ok(());
    }
    // Read before the summary is written: these snapshots are what consumers hold.
    let live_gigs = store::live_gigs_of_seller(tx, user_id, limit).await?;
    store::write_seller(tx, user_id, &summary, now_millis()).await?;
    let emitted = emit_with_seller(tx, &live_gigs, &summary, limit).await?;
    tracing::info!(user_id = %user_id, gigs = emitted, "seller summary changed");
    Ok(())
}

/// Keeps the ratings of a gig and of its seller; emits the rated gig (UPDATED) when its
/// rating changed and, when the seller's rating changed, the other live gigs of the seller
/// whose snapshot it alters (SELLER_UPDATED), at most `limit` gigs in all. Each snapshot
/// carries both new ratings.
async fn apply_ratings(tx: &mut Tx, event: RatingsChanged, limit: u32) -> Result<(), HandlerError> {
    let gig_id = GigId::from(parse_uuid("gig id", &event.gig_id)?);
    let seller_id = parse_user_id(&event.seller_id)?;
    let gig_rating = Rating {
        average: event.gig_rating,
        count: i64::from(event.gig_rating_count),
    };
    let seller_rating = Rating {
        average: event.seller_rating,
        count: i64::from(event.seller_rating_count),
    };

    let mut rated_gig_changed = false;
    match store::find_gig(&mut **tx, gig_id).await? {
        Some(stored) if stored.view.gig.seller_id != seller_id => {
            return Err(HandlerError::permanent(anyhow::anyhow!(
                "RatingsChanged names seller {seller_id} for gig {gig_id} of seller {}",
                stored.view.gig.seller_id
            )));
        }
        Some(stored) if stored.view.gig.rating != gig_rating => {
            let mut gig = stored.view.gig;
            gig.rating = gig_rating;
            if !store::update_gig(tx, &gig, stored.version).await? {
                return Err(HandlerError::transient(anyhow::anyhow!(
                    "gig {gig_id} changed concurrently"
                )));
            }
            rated_gig_changed = true;
        }
        Some(_) => {}
        None => tracing::warn!(gig_id = %gig_id, "ratings of an unknown gig ignored"),
    }

    let existing = store::find_seller(tx, seller_id).await?.unwrap_or_default();
    let changed_summary = (existing.rating != seller_rating).then_some(SellerSummary {
        rating: seller_rating,
        ..existing
    });
    // Read before the summary is written: these snapshots are what consumers hold (the
    // rated gig, emitted on its own below, is left out when its rating changed).
    let mut other_live_gigs = Vec::new();
    if let Some(summary) = &changed_summary {
        other_live_gigs = store::live_gigs_of_seller(tx, seller_id, limit).await?;
        if rated_gig_changed {
            other_live_gigs.retain(|stored| stored.view.gig.id != gig_id);
        }
        store::write_seller(tx, seller_id, summary, now_millis()).await?;
    }

    let mut places = limit;
    if rated_gig_changed
        && let Some(stored) = store::find_gig(&mut **tx, gig_id).await?
        && stored.view.gig.state != GigState::Deleted
    {
        record_gig_changed(tx, &stored.view, stored.version, GigChange::Updated).await?;
        places = places.saturating_sub(1);
    }
    if let Some(summary) = &changed_summary {
        emit_with_seller(tx, &other_live_gigs, summary, places).await?;
    }
    Ok(())
}

/// Emits again (SELLER_UPDATED) each of `gigs`, as read before the seller's summary changed,
/// whose snapshot differs with `summary`, at most `limit` of them; returns how many it
/// emitted. A gig whose snapshot stays the same (the change touched only what snapshots do
/// not carry, such as the suspension) is left at its version.
async fn emit_with_seller(
    tx: &mut Tx,
    gigs: &[StoredGig],
    summary: &SellerSummary,
    limit: u32,
) -> Result<usize, HandlerError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut emitted = 0;
    for stored in gigs {
        if emitted == limit {
            break;
        }
        let with_summary = GigView {
            gig: stored.view.gig.clone(),
            seller: Some(summary.clone()),
        };
        if gig_to_proto(&with_summary) == gig_to_proto(&stored.view) {
            continue;
        }
        emit_again(tx, stored.view.gig.id, GigChange::SellerUpdated).await?;
        emitted += 1;
    }
    Ok(emitted)
}

/// Moves a gig to its next version and emits its snapshot as it is now.
async fn emit_again(tx: &mut Tx, gig_id: GigId, change: GigChange) -> Result<(), HandlerError> {
    if !store::bump_version(tx, gig_id).await? {
        return Ok(());
    }
    if let Some(stored) = store::find_gig(&mut **tx, gig_id).await? {
        record_gig_changed(tx, &stored.view, stored.version, change).await?;
    }
    Ok(())
}

fn parse_user_id(raw: &str) -> Result<UserId, HandlerError> {
    parse_uuid("user id", raw).map(UserId::from)
}

fn parse_uuid(what: &str, raw: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(raw).map_err(|error| {
        HandlerError::permanent(anyhow::anyhow!("invalid {what} {raw:?}: {error}"))
    })
}
