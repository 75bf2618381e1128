//! `gigmesh.gigs.v1.GigService`: checks the caller, parses the request into domain values
//! (`input`), runs the use case (`use_cases.rs`) and answers in proto types
//! (`output.rs`). No SQL and no domain rules here.

use gigmesh_auth::Role;
use gigmesh_db::Db;
use gigmesh_grpc::Caller;
use gigmesh_proto::gigs as proto;
use gigmesh_proto::gigs::GigChange;
use gigmesh_proto::gigs::gig_service_server::GigService;
use gigmesh_types::{GigId, UserId};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::config::Config;
use crate::domain::{Gig, GigView};
use crate::error::GigsError;
use crate::input;
use crate::output::{categories_to_proto, gig_to_proto};
use crate::store::SellerGigs;
use crate::use_cases::{Gigs, Listed};

/// The gig service over its database.
#[derive(Clone)]
pub struct GigApi {
    gigs: Gigs,
}

impl GigApi {
    /// The service over `db` with the service's settings.
    pub fn new(db: Db, config: &Config) -> Self {
        Self {
            gigs: Gigs::new(db, config),
        }
    }
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
        let caller = Caller::of(&request)?;
        if !caller.has_role(Role::Seller) {
            return Err(GigsError::SellerRequired.into());
        }
        let seller_id = caller.user_id();
        tracing::Span::current().record("user_id", tracing::field::display(seller_id));
        let content = input::parse_new_gig(request.into_inner().gig)?;
        let view = self.gigs.create_draft(seller_id, content).await?;
        Ok(gig_response(&view))
    }

    #[instrument(skip_all)]
    async fn get_gig(
        &self,
        request: Request<proto::GetGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let viewer = input::viewer(Caller::optional(&request).as_ref());
        let lookup = input::parse_gig_lookup(request.into_inner().gig)?;
        let view = self.gigs.visible_gig(lookup, viewer).await?;
        Ok(gig_response(&view))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn update_gig(
        &self,
        request: Request<proto::UpdateGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        let (gig_id, changes) = input::parse_gig_update(request.into_inner())?;
        record_gig_id(gig_id);
        let view = self
            .gigs
            .change_gig(gig_id, GigChange::Updated, move |gig, now| {
                gig.ensure_owner(user_id)?;
                let content = changes.clone().apply_to(&gig.content)?;
                gig.edit(content, now)
            })
            .await?;
        Ok(gig_response(&view))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn publish_gig(
        &self,
        request: Request<proto::PublishGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        let view = self.gigs.publish_gig(user_id, gig_id).await?;
        Ok(gig_response(&view))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn pause_gig(
        &self,
        request: Request<proto::PauseGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        let view = self
            .gigs
            .change_own_gig(user_id, gig_id, GigChange::Paused, Gig::pause)
            .await?;
        Ok(gig_response(&view))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn resume_gig(
        &self,
        request: Request<proto::ResumeGigRequest>,
    ) -> Result<Response<proto::Gig>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        let view = self
            .gigs
            .change_own_gig(user_id, gig_id, GigChange::Resumed, Gig::resume)
            .await?;
        Ok(gig_response(&view))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn delete_gig(
        &self,
        request: Request<proto::DeleteGigRequest>,
    ) -> Result<Response<proto::DeleteGigResponse>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        self.gigs
            .change_own_gig(user_id, gig_id, GigChange::Deleted, Gig::delete)
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
        let page = input::parse_gig_page(request.page_size, &request.page_token)?;
        let listed = self
            .gigs
            .seller_gigs(user_id, SellerGigs::AllButDeleted, page)
            .await?;
        let (gigs, next_page_token) = gig_page(listed, input::gig_page_token);
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
        let (seller_id, page) = input::parse_seller_gigs_request(request.get_ref())?;
        let listed = self
            .gigs
            .seller_gigs(seller_id, SellerGigs::Public, page)
            .await?;
        let (gigs, next_page_token) = gig_page(listed, input::gig_page_token);
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
        if !Caller::of(&request)?.has_role(Role::Admin) {
            return Err(GigsError::AdminRequired.into());
        }
        let (gig_id, action) = input::parse_moderate_request(request.get_ref())?;
        record_gig_id(gig_id);
        let view = self
            .gigs
            .change_gig(gig_id, GigChange::Moderated, move |gig, now| {
                gig.moderate(action.clone(), now)
            })
            .await?;
        tracing::info!(gig_id = %gig_id, moderation = view.gig.moderation.as_str(), "gig moderated");
        Ok(gig_response(&view))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn save_gig(
        &self,
        request: Request<proto::SaveGigRequest>,
    ) -> Result<Response<proto::SaveGigResponse>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        self.gigs.save_gig(user_id, gig_id).await?;
        Ok(Response::new(proto::SaveGigResponse {}))
    }

    #[instrument(skip_all, fields(gig_id))]
    async fn unsave_gig(
        &self,
        request: Request<proto::UnsaveGigRequest>,
    ) -> Result<Response<proto::UnsaveGigResponse>, Status> {
        let (user_id, gig_id) = caller_and_gig(&request, &request.get_ref().gig_id)?;
        self.gigs.unsave_gig(user_id, gig_id).await?;
        Ok(Response::new(proto::UnsaveGigResponse {}))
    }

    #[instrument(skip_all)]
    async fn list_saved_gigs(
        &self,
        request: Request<proto::ListSavedGigsRequest>,
    ) -> Result<Response<proto::ListSavedGigsResponse>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        let request = request.into_inner();
        let page = input::parse_saved_page(request.page_size, &request.page_token)?;
        let listed = self.gigs.saved_gigs(user_id, page).await?;
        let (gigs, next_page_token) = gig_page(listed, |(saved_at, gig_id)| {
            input::saved_page_token(saved_at, gig_id)
        });
        Ok(Response::new(proto::ListSavedGigsResponse {
            gigs,
            next_page_token,
        }))
    }
}

fn gig_response(view: &GigView) -> Response<proto::Gig> {
    Response::new(gig_to_proto(view))
}

/// A page of gigs as proto, and the token of the next page (empty on the last).
fn gig_page<C>(listed: Listed<C>, token: impl FnOnce(C) -> String) -> (Vec<proto::Gig>, String) {
    let gigs = listed.gigs.iter().map(gig_to_proto).collect();
    (gigs, listed.next.map(token).unwrap_or_default())
}

/// The signed-in caller and the gig a request names, recorded on the span.
#[allow(clippy::result_large_err)]
fn caller_and_gig<T>(request: &Request<T>, raw_gig_id: &str) -> Result<(UserId, GigId), Status> {
    let user_id = Caller::of(request)?.user_id();
    let gig_id = input::parse_gig_id("gig_id", raw_gig_id)?;
    record_gig_id(gig_id);
    Ok((user_id, gig_id))
}

fn record_gig_id(gig_id: GigId) {
    tracing::Span::current().record("gig_id", tracing::field::display(gig_id));
}
