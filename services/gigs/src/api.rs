//! `gigmesh.gigs.v1.GigService`: parses requests into domain values (`input.rs`), runs the
//! domain transition in a transaction with its `GigChanged` event, and answers in proto
//! types (`output.rs`). No SQL here.

use gigmesh_auth::Role;
use gigmesh_db::{Db, DbError, Tx};
use gigmesh_grpc::Caller;
use gigmesh_proto::gigs as proto;
use gigmesh_proto::gigs::GigChange;
use gigmesh_proto::gigs::get_gig_request::Gig as GigKey;
use gigmesh_proto::gigs::gig_service_server::GigService;
use gigmesh_types::{UserId, now_millis};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::domain::{self, Gig, GigContent, GigId, GigView, Outcome, Viewer};
use crate::error::GigsError;
use crate::events;
use crate::input::{self, Page};
use crate::output::{categories_to_proto, gig_to_proto};
use crate::store::{self, SellerGigs, StoredGig};

/// How often a read-modify-write of one gig is tried when other writes race it.
const MAX_CHANGE_ATTEMPTS: usize = 3;
/// Most `-<n>` suffixes tried to make a slug unique before a random one is used.
const MAX_SLUG_SUFFIX: usize = 50;

/// The gig service over its database.
#[derive(Clone)]
pub struct GigApi {
    db: Db,
    require_review: bool,
}

impl GigApi {
    /// The service over `db`; with `require_review`, published gigs wait for an admin's
    /// approval before buyers see them.
    pub fn new(db: Db, require_review: bool) -> Self {
        Self { db, require_review }
    }

    async fn create_draft(
        &self,
        seller_id: UserId,
        content: GigContent,
    ) -> Result<GigView, GigsError> {
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            let mut tx = self.db.begin().await?;
            let mut gig = Gig::draft(seller_id, String::new(), content.clone(), now_millis());
            gig.slug = unique_slug(&mut tx, &gig.content.title, gig.id).await?;
            match store::insert_gig(&mut tx, &gig).await {
                Err(error) if error.is_unique_violation_on("slug") => continue,
                other => other?,
            }
            let stored = reread(&mut tx, gig.id).await?;
            events::record_gig_changed(&mut tx, &stored.view, stored.version, GigChange::Created)
                .await?;
            tx.commit().await.map_err(DbError::from)?;
            tracing::info!(gig_id = %gig.id, "gig created");
            return Ok(stored.view);
        }
        Err(GigsError::ConcurrentChange)
    }

    /// Loads the gig, lets `change` transform it, and writes it back with its event. A
    /// change that alters nothing writes nothing and emits nothing. While the gig was never
    /// published its slug follows the title.
    async fn change_gig<F>(
        &self,
        gig_id: GigId,
        event: GigChange,
        mut change: F,
    ) -> Result<GigView, GigsError>
    where
        F: FnMut(&mut Gig, i64) -> Result<Outcome, GigsError> + Send,
    {
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            let mut tx = self.db.begin().await?;
            let Some(stored) = store::find_gig(&mut *tx, gig_id).await? else {
                return Err(GigsError::GigNotFound(gig_id.to_string()));
            };
            let mut gig = stored.view.gig.clone();
            if change(&mut gig, now_millis())? == Outcome::Unchanged {
                return Ok(stored.view);
            }
            if gig.slug_follows_title() && gig.content.title != stored.view.gig.content.title {
                gig.slug = unique_slug(&mut tx, &gig.content.title, gig.id).await?;
            }
            match store::update_gig(&mut tx, &gig, stored.version).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::debug!("gig changed concurrently, retrying");
                    continue;
                }
                Err(error) if error.is_unique_violation_on("slug") => continue,
                Err(error) => return Err(error.into()),
            }
            let stored = reread(&mut tx, gig_id).await?;
            events::record_gig_changed(&mut tx, &stored.view, stored.version, event).await?;
            tx.commit().await.map_err(DbError::from)?;
            return Ok(stored.view);
        }
        Err(GigsError::ConcurrentChange)
    }

    /// A gig the owner changes: anyone else is refused.
    async fn change_own_gig<F>(
        &self,
        caller: UserId,
        gig_id: GigId,
        event: GigChange,
        mut change: F,
    ) -> Result<GigView, GigsError>
    where
        F: FnMut(&mut Gig, i64) -> Result<(), GigsError> + Send,
    {
        self.change_gig(gig_id, event, |gig, now| {
            gig.ensure_owner(caller)?;
            change(gig, now)?;
            Ok(Outcome::Changed)
        })
        .await
    }

    async fn visible_gig(&self, key: GigKey, viewer: Viewer) -> Result<GigView, GigsError> {
        let (stored, name) = match key {
            GigKey::GigId(raw) => {
                let gig_id = input::parse_gig_id("gig_id", &raw)?;
                (
                    store::find_gig(self.db.pool(), gig_id).await?,
                    gig_id.to_string(),
                )
            }
            GigKey::Slug(raw) => {
                let slug = raw.trim().to_lowercase();
                if slug.is_empty() {
                    return Err(gigmesh_errors::ApiError::invalid("slug", "is required").into());
                }
                (
                    store::find_gig_by_slug(self.db.pool(), &slug).await?,
                    format!("{slug:?}"),
                )
            }
        };
        stored
            .map(|stored| stored.view)
            .filter(|view| view.is_visible_to(viewer))
            .ok_or(GigsError::GigNotFound(name))
    }
}

/// The gig as written inside `tx`, with its seller summary and new version.
async fn reread(tx: &mut Tx, gig_id: GigId) -> Result<StoredGig, GigsError> {
    store::find_gig(&mut **tx, gig_id).await?.ok_or_else(|| {
        GigsError::Internal(anyhow::anyhow!("gig {gig_id} vanished in its transaction"))
    })
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

#[tonic::async_trait]
impl GigService for GigApi {
    #[instrument(skip_all)]
    async fn list_categories(
        &self,
        _request: Request<proto::ListCategoriesRequest>,
    ) -> Result<Response<proto::ListCategoriesResponse>, Status> {
        Ok(Response::new(proto::ListCategoriesResponse {
            categories: categories_to_proto(),
        }))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn create_gig(
        &self,
        request: Request<proto::CreateGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let claims = Caller::of(&request)?;
        if !claims.has_role(Role::Seller) {
            return Err(GigsError::SellerRequired.into());
        }
        let seller_id = claims.user_id();
        let content = input::parse_new_gig(request.into_inner().gig)?;
        let view = self.create_draft(seller_id, content).await?;
        Ok(Response::new(gig_to_proto(&view)))
    }

    #[instrument(skip_all)]
    async fn get_gig(
        &self,
        request: Request<proto::GetGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let viewer = input::viewer(Caller::optional(&request).as_ref());
        let Some(key) = request.into_inner().gig else {
            return Err(GigsError::from(gigmesh_errors::ApiError::invalid(
                "gig",
                "set either gig_id or slug",
            ))
            .into());
        };
        let view = self.visible_gig(key, viewer).await?;
        Ok(Response::new(gig_to_proto(&view)))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn update_gig(
        &self,
        request: Request<proto::UpdateGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        let (gig_id, changes) = input::parse_gig_update(request.into_inner())?;
        tracing::Span::current().record("gig_id", tracing::field::display(gig_id));
        let view = self
            .change_gig(gig_id, GigChange::Updated, |gig, now| {
                gig.ensure_owner(user_id)?;
                let content = changes.clone().apply_to(&gig.content)?;
                gig.edit(content, now)
            })
            .await?;
        Ok(Response::new(gig_to_proto(&view)))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn publish_gig(
        &self,
        request: Request<proto::PublishGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        let require_review = self.require_review;
        let view = self
            .change_own_gig(user_id, gig_id, GigChange::Published, |gig, now| {
                gig.publish(require_review, now)
            })
            .await?;
        Ok(Response::new(gig_to_proto(&view)))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn pause_gig(
        &self,
        request: Request<proto::PauseGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        let view = self
            .change_own_gig(user_id, gig_id, GigChange::Paused, Gig::pause)
            .await?;
        Ok(Response::new(gig_to_proto(&view)))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn resume_gig(
        &self,
        request: Request<proto::ResumeGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        let view = self
            .change_own_gig(user_id, gig_id, GigChange::Resumed, Gig::resume)
            .await?;
        Ok(Response::new(gig_to_proto(&view)))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn delete_gig(
        &self,
        request: Request<proto::DeleteGigRequest>,
    ) -> Result<Response<proto::DeleteGigResponse>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        self.change_own_gig(user_id, gig_id, GigChange::Deleted, Gig::delete)
            .await?;
        tracing::info!(gig_id = %gig_id, "gig deleted");
        Ok(Response::new(proto::DeleteGigResponse {}))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn list_my_gigs(
        &self,
        request: Request<proto::ListMyGigsRequest>,
    ) -> Result<Response<proto::ListMyGigsResponse>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        let request = request.into_inner();
        let page = input::parse_gig_page(request.page_size, &request.page_token)
            .map_err(GigsError::from)?;
        let (gigs, next_page_token) = self
            .seller_gigs(user_id, SellerGigs::AllButDeleted, page)
            .await?;
        Ok(Response::new(proto::ListMyGigsResponse {
            gigs,
            next_page_token,
        }))
    }

    #[instrument(skip_all)]
    async fn list_seller_gigs(
        &self,
        request: Request<proto::ListSellerGigsRequest>,
    ) -> Result<Response<proto::ListSellerGigsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = gigmesh_errors::Violations::new();
        let seller_id = violations.check(input::parse_user_id("seller_id", &request.seller_id));
        let page = violations.check(input::parse_gig_page(
            request.page_size,
            &request.page_token,
        ));
        violations.finish().map_err(GigsError::from)?;
        let (Some(seller_id), Some(page)) = (seller_id, page) else {
            return Err(
                GigsError::Internal(anyhow::anyhow!("a parsed request field is missing")).into(),
            );
        };
        let (gigs, next_page_token) = self
            .seller_gigs(seller_id, SellerGigs::Public, page)
            .await?;
        Ok(Response::new(proto::ListSellerGigsResponse {
            gigs,
            next_page_token,
        }))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn moderate_gig(
        &self,
        request: Request<proto::ModerateGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let claims = Caller::of(&request)?;
        if !claims.has_role(Role::Admin) {
            return Err(GigsError::AdminRequired.into());
        }
        let request = request.into_inner();
        let mut violations = gigmesh_errors::Violations::new();
        let gig_id = violations.check(input::parse_gig_id("gig_id", &request.gig_id));
        let action = violations.check(input::parse_moderation(request.action, &request.reason));
        violations.finish().map_err(GigsError::from)?;
        let (Some(gig_id), Some(action)) = (gig_id, action) else {
            return Err(
                GigsError::Internal(anyhow::anyhow!("a parsed request field is missing")).into(),
            );
        };
        tracing::Span::current().record("gig_id", tracing::field::display(gig_id));
        let view = self
            .change_gig(gig_id, GigChange::Moderated, |gig, now| {
                gig.moderate(action.clone(), now)
            })
            .await?;
        tracing::info!(gig_id = %gig_id, moderation = view.gig.moderation.as_str(), "gig moderated");
        Ok(Response::new(gig_to_proto(&view)))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn save_gig(
        &self,
        request: Request<proto::SaveGigRequest>,
    ) -> Result<Response<proto::SaveGigResponse>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        let mut tx = self.db.begin().await.map_err(GigsError::from)?;
        let visible = store::find_gig(&mut *tx, gig_id)
            .await
            .map_err(GigsError::from)?
            .is_some_and(|stored| stored.view.is_public());
        if !visible {
            return Err(GigsError::GigNotFound(gig_id.to_string()).into());
        }
        store::save_gig(&mut tx, user_id, gig_id, now_millis())
            .await
            .map_err(GigsError::from)?;
        tx.commit()
            .await
            .map_err(|error| GigsError::from(DbError::from(error)))?;
        Ok(Response::new(proto::SaveGigResponse {}))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn unsave_gig(
        &self,
        request: Request<proto::UnsaveGigRequest>,
    ) -> Result<Response<proto::UnsaveGigResponse>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        store::unsave_gig(self.db.pool(), user_id, gig_id)
            .await
            .map_err(GigsError::from)?;
        Ok(Response::new(proto::UnsaveGigResponse {}))
    }

    #[instrument(skip_all)]
    async fn list_saved_gigs(
        &self,
        request: Request<proto::ListSavedGigsRequest>,
    ) -> Result<Response<proto::ListSavedGigsResponse>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        let request = request.into_inner();
        let page = input::parse_saved_page(request.page_size, &request.page_token)
            .map_err(GigsError::from)?;
        let mut saved = store::list_saved_gigs(self.db.pool(), user_id, page.after, page.size + 1)
            .await
            .map_err(GigsError::from)?;
        let next_page_token = if saved.len() > page.size as usize {
            saved.truncate(page.size as usize);
            saved
                .last()
                .map(|(saved_at, stored)| input::saved_page_token(*saved_at, stored.view.gig.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(proto::ListSavedGigsResponse {
            gigs: saved
                .iter()
                .map(|(_, stored)| gig_to_proto(&stored.view))
                .collect(),
            next_page_token,
        }))
    }
}

impl GigApi {
    /// A page of a seller's gigs and the token of the next page (empty on the last).
    async fn seller_gigs(
        &self,
        seller_id: UserId,
        which: SellerGigs,
        page: Page<GigId>,
    ) -> Result<(Vec<proto::Gig>, String), GigsError> {
        let mut gigs =
            store::list_seller_gigs(self.db.pool(), seller_id, which, page.after, page.size + 1)
                .await?;
        let next_page_token = if gigs.len() > page.size as usize {
            gigs.truncate(page.size as usize);
            gigs.last()
                .map(|stored| input::gig_page_token(stored.view.gig.id))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok((
            gigs.iter()
                .map(|stored| gig_to_proto(&stored.view))
                .collect(),
            next_page_token,
        ))
    }
}

/// The signed-in caller and the gig a lifecycle request names, recorded on the span.
#[allow(clippy::result_large_err)]
fn caller_and_gig<T>(request: &Request<T>, raw_gig_id: &str) -> Result<(UserId, GigId), Status> {
    let user_id = Caller::of(request)?.user_id();
    let gig_id = input::parse_gig_id("gig_id", raw_gig_id).map_err(GigsError::from)?;
    tracing::Span::current().record("gig_id", tracing::field::display(gig_id));
    Ok((user_id, gig_id))
}
