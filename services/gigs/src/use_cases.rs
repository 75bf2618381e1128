//! What the gig service does, in domain types: create drafts and change gigs by optimistic
//! read-modify-write (each change committed with its `GigChanged` event), keep slugs
//! unique, find the gigs a viewer may see, page through lists and keep saved gigs. The
//! proto edge is `api.rs`; the SQL is `store.rs`.

use gigmesh_db::{Attempt, Db, DbError, Tx, read_modify_write};
use gigmesh_errors::echoed_prefix;
use gigmesh_proto::gigs::GigChange;
use gigmesh_types::{GigId, UserId, now_millis};

use crate::config::Config;
use crate::domain::{self, Gig, GigContent, GigLookup, GigView, Outcome, Page, Viewer};
use crate::error::GigsError;
use crate::events;
use crate::store::{self, SellerGigs};

/// Most `-<n>` suffixes tried to make a slug unique before one from the gig id is used.
const MAX_SLUG_SUFFIX: usize = 50;

/// A page of gigs and where the next page starts (`None` on the last page).
#[derive(Debug, Clone)]
pub struct Listed<C> {
    /// The gigs of the page, in list order.
    pub gigs: Vec<GigView>,
    /// The position of the page's last gig, when more follow.
    pub next: Option<C>,
}

/// The gigs of the service's database.
#[derive(Clone)]
pub struct Gigs {
    db: Db,
    require_review: bool,
    max_gigs_per_seller: u32,
}

impl Gigs {
    /// The gigs in `db` with the service's settings: with `require_review`, published gigs
    /// wait for an admin's approval before buyers see them; a seller holds at most
    /// `max_gigs_per_seller` gigs that are not deleted.
    pub fn new(db: Db, config: &Config) -> Self {
        Self {
            db,
            require_review: config.require_review,
            max_gigs_per_seller: config.max_gigs_per_seller,
        }
    }

    /// A new draft of `seller_id` with a slug of its own, emitted as CREATED; refused when
    /// the seller already holds the most gigs allowed.
    pub async fn create_draft(
        &self,
        seller_id: UserId,
        content: GigContent,
    ) -> Result<GigView, GigsError> {
        let limit = self.max_gigs_per_seller;
        let view = read_modify_write(&self.db, |tx| {
            Box::pin(try_create_draft(tx, seller_id, limit, content.clone()))
        })
        .await?;
        tracing::info!(gig_id = %view.gig.id, "gig created");
        Ok(view)
    }

    /// Loads the gig, lets `change` transform it, and writes it back with its `event`. A
    /// change that alters nothing writes nothing and emits nothing. While the gig was never
    /// published its slug follows the title. Each attempt runs a fresh copy of `change`.
    pub async fn change_gig(
        &self,
        gig_id: GigId,
        event: GigChange,
        change: impl FnOnce(&mut Gig, i64) -> Result<Outcome, GigsError> + Clone + Send + 'static,
    ) -> Result<GigView, GigsError> {
        read_modify_write(&self.db, move |tx| {
            Box::pin(try_change_gig(tx, gig_id, event, change.clone()))
        })
        .await
    }

    /// A change only the owner may make, and that always counts as a change.
    pub async fn change_own_gig(
        &self,
        owner: UserId,
        gig_id: GigId,
        event: GigChange,
        change: impl FnOnce(&mut Gig, i64) -> Result<(), GigsError> + Clone + Send + 'static,
    ) -> Result<GigView, GigsError> {
        self.change_gig(gig_id, event, move |gig, now| {
            gig.ensure_owner(owner)?;
            change(gig, now)?;
            Ok(Outcome::Changed)
        })
        .await
    }

    /// Publishes the owner's draft: approved at once, or waiting for review when reviews are
    /// required.
    pub async fn publish_gig(&self, owner: UserId, gig_id: GigId) -> Result<GigView, GigsError> {
        let require_review = self.require_review;
        self.change_own_gig(owner, gig_id, GigChange::Published, move |gig, now| {
            gig.publish(require_review, now)
        })
        .await
    }

    /// The gig `lookup` names, if `viewer` may see it.
    pub async fn visible_gig(
        &self,
        lookup: GigLookup,
        viewer: Viewer,
    ) -> Result<GigView, GigsError> {
        let (stored, name) = match lookup {
            GigLookup::Id(gig_id) => (
                store::find_gig(self.db.pool(), gig_id).await?,
                gig_id.to_string(),
            ),
            GigLookup::Slug(slug) => (
                store::find_gig_by_slug(self.db.pool(), &slug).await?,
                format!("{:?}", echoed_prefix(&slug)),
            ),
        };
        stored
            .map(|stored| stored.view)
            .filter(|view| view.is_visible_to(viewer))
            .ok_or(GigsError::GigNotFound(name))
    }

    /// A page of a seller's gigs, newest first.
    pub async fn seller_gigs(
        &self,
        seller_id: UserId,
        which: SellerGigs,
        page: Page<GigId>,
    ) -> Result<Listed<GigId>, GigsError> {
        let fetched =
            store::list_seller_gigs(self.db.pool(), seller_id, which, page.after, page.size + 1)
                .await?;
        let (gigs, next) = cut_to_page(fetched, page.size, |stored| stored.view.gig.id);
        Ok(Listed {
            gigs: gigs.into_iter().map(|stored| stored.view).collect(),
            next,
        })
    }

    /// Saves a gig buyers can see for `user_id`; saving again keeps the first time.
    pub async fn save_gig(&self, user_id: UserId, gig_id: GigId) -> Result<(), GigsError> {
        let mut tx = self.db.begin().await?;
        let visible = store::find_gig(&mut *tx, gig_id)
            .await?
            .is_some_and(|stored| stored.view.is_public());
        if !visible {
            return Err(GigsError::GigNotFound(gig_id.to_string()));
        }
        store::save_gig(&mut tx, user_id, gig_id, now_millis()).await?;
        tx.commit().await.map_err(DbError::from)?;
        Ok(())
    }

    /// Forgets that `user_id` saved `gig_id`, if they did.
    pub async fn unsave_gig(&self, user_id: UserId, gig_id: GigId) -> Result<(), GigsError> {
        store::unsave_gig(self.db.pool(), user_id, gig_id).await?;
        Ok(())
    }

    /// A page of the visible gigs `user_id` saved, most recently saved first; positions are
    /// the save time and the gig id.
    pub async fn saved_gigs(
        &self,
        user_id: UserId,
        page: Page<(i64, GigId)>,
    ) -> Result<Listed<(i64, GigId)>, GigsError> {
        let fetched =
            store::list_saved_gigs(self.db.pool(), user_id, page.after, page.size + 1).await?;
        let (saved, next) = cut_to_page(fetched, page.size, |(saved_at, stored)| {
            (*saved_at, stored.view.gig.id)
        });
        Ok(Listed {
            gigs: saved.into_iter().map(|(_, stored)| stored.view).collect(),
            next,
        })
    }
}

/// Cuts a list read with one item more than `size` to the page, and names the position of
/// its last item when the extra item shows that more follow.
fn cut_to_page<T, C>(
    mut fetched: Vec<T>,
    size: u32,
    position: impl FnOnce(&T) -> C,
) -> (Vec<T>, Option<C>) {
    let size = size as usize;
    let more = fetched.len() > size;
    fetched.truncate(size);
    let next = if more {
        fetched.last().map(position)
    } else {
        None
    };
    (fetched, next)
}

/// One attempt at inserting a new draft under a free slug, if the seller holds fewer than
/// `limit` gigs that are not deleted. The count and the insert share the transaction, behind
/// the seller's creation lock, so concurrent creates cannot both take the last place.
async fn try_create_draft(
    tx: &mut Tx,
    seller_id: UserId,
    limit: u32,
    content: GigContent,
) -> Result<Attempt<GigView>, GigsError> {
    store::lock_gig_creation(tx, seller_id).await?;
    if store::count_live_gigs_of_seller(tx, seller_id).await? >= u64::from(limit) {
        return Err(GigsError::TooManyGigs { limit });
    }
    let mut gig = Gig::draft(seller_id, String::new(), content, now_millis());
    gig.slug = unique_slug(tx, &gig.content.title, gig.id).await?;
    match store::insert_gig(tx, &gig).await {
        // Another request took the slug since it was found free.
        Err(error) if error.is_unique_violation_on("slug") => return Ok(Attempt::Conflict),
        other => other?,
    }
    let view = record_as_written(tx, gig.id, GigChange::Created).await?;
    Ok(Attempt::Commit(view))
}

/// One attempt at reading the gig, applying `change` and writing it back at the version
/// that was read.
async fn try_change_gig(
    tx: &mut Tx,
    gig_id: GigId,
    event: GigChange,
    change: impl FnOnce(&mut Gig, i64) -> Result<Outcome, GigsError>,
) -> Result<Attempt<GigView>, GigsError> {
    let Some(stored) = store::find_gig(&mut **tx, gig_id).await? else {
        return Err(GigsError::GigNotFound(gig_id.to_string()));
    };
    let mut gig = stored.view.gig.clone();
    if change(&mut gig, now_millis())? == Outcome::Unchanged {
        return Ok(Attempt::Unchanged(stored.view));
    }
    if gig.slug_follows_title() && gig.content.title != stored.view.gig.content.title {
        gig.slug = unique_slug(tx, &gig.content.title, gig.id).await?;
    }
    match store::update_gig(tx, &gig, stored.version).await {
        Ok(true) => {}
        // The row moved on since it was read, or another gig took the slug.
        Ok(false) => return Ok(Attempt::Conflict),
        Err(error) if error.is_unique_violation_on("slug") => return Ok(Attempt::Conflict),
        Err(error) => return Err(error.into()),
    }
    let view = record_as_written(tx, gig_id, event).await?;
    Ok(Attempt::Commit(view))
}

/// The gig as written inside `tx` (with its seller summary and new version), emitted as
/// `change` in the same transaction.
async fn record_as_written(
    tx: &mut Tx,
    gig_id: GigId,
    change: GigChange,
) -> Result<GigView, GigsError> {
    let stored = store::find_gig(&mut **tx, gig_id).await?.ok_or_else(|| {
        GigsError::Internal(anyhow::anyhow!("gig {gig_id} vanished in its transaction"))
    })?;
    events::record_gig_changed(tx, &stored.view, stored.version, change).await?;
    Ok(stored.view)
}

/// A slug made from `title` that no other gig holds: the title's slug, else with the first
/// free `-<n>` suffix, else with a suffix from the gig id.
async fn unique_slug(tx: &mut Tx, title: &str, gig_id: GigId) -> Result<String, GigsError> {
    let base = domain::slug_base(title);
    let taken = store::taken_slugs(&mut **tx, &base, gig_id).await?;
    let free = (1..=MAX_SLUG_SUFFIX)
        .map(|attempt| domain::slug_candidate(&base, attempt))
        .find(|candidate| !taken.contains(candidate));
    Ok(free.unwrap_or_else(|| {
        let simple = gig_id.as_uuid().simple().to_string();
        format!("{base}-{}", &simple[simple.len() - 8..])
    }))
}
