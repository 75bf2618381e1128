//! `gigmesh.users.v1.UserService`: parses requests into domain values (`input.rs`), runs the
//! domain transition in a transaction with its events, and answers in proto types
//! (`output.rs`). No SQL here.

use gigmesh_db::{Attempt, Db, read_modify_write};
use gigmesh_grpc::Caller;
use gigmesh_proto::users as proto;
use gigmesh_proto::users::user_service_server::UserService;
use gigmesh_types::{UserId, now_millis};
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::domain::{Profile, ProfileChange, ProfileEffect, ProfileKey};
use crate::error::UsersError;
use crate::events;
use crate::input;
use crate::output::{profile_to_proto, public_profile_to_proto};
use crate::store::{self, StoredProfile};

/// The user service over its database.
#[derive(Clone)]
pub struct UserApi {
    db: Db,
}

impl UserApi {
    /// The service over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The caller's own profile, suspended or not.
    async fn own_profile(&self, user_id: UserId) -> Result<Profile, UsersError> {
        store::find_by_user_id(self.db.pool(), user_id)
            .await?
            .map(|stored| stored.profile)
            .ok_or(UsersError::ProfileBeingCreated)
    }

    /// The profile `key` names, unless it is hidden from the public.
    async fn public_profile(&self, key: ProfileKey) -> Result<Profile, UsersError> {
        let stored = match &key {
            ProfileKey::UserId(user_id) => store::find_by_user_id(self.db.pool(), *user_id).await?,
            ProfileKey::Username(username) => {
                store::find_by_username(self.db.pool(), username).await?
            }
        };
        stored
            .map(|stored| stored.profile)
            .filter(Profile::is_public)
            .ok_or(UsersError::ProfileNotFound(key))
    }

    /// Loads the caller's profile, applies `change`, and writes it back together with its
    /// events. A change that alters nothing writes nothing and emits nothing.
    async fn change_profile(
        &self,
        user_id: UserId,
        change: ProfileChange,
    ) -> Result<Profile, UsersError> {
        read_modify_write(&self.db, |tx| {
            let change = change.clone();
            Box::pin(async move {
                let Some(StoredProfile {
                    mut profile,
                    version,
                }) = store::find_by_user_id(&mut **tx, user_id).await?
                else {
                    return Err(UsersError::ProfileBeingCreated);
                };
                let effect = profile.apply(change, now_millis())?;
                if effect == ProfileEffect::None {
                    return Ok(Attempt::Unchanged(profile));
                }
                if !store::update_profile(tx, &profile, version).await? {
                    return Ok(Attempt::Conflict);
                }
                if effect == ProfileEffect::BecameSeller {
                    events::record_seller_activated(tx, &profile).await?;
                }
                events::record_profile_changed(tx, &profile).await?;
                Ok(Attempt::Commit(profile))
            })
        })
        .await
    }
}

/// This year, which the years of a seller's education and certifications are checked against.
fn current_year() -> i32 {
    time::OffsetDateTime::now_utc().year()
}

#[tonic::async_trait]
impl UserService for UserApi {
    #[instrument(skip_all, fields(user_id))]
    async fn get_my_profile(
        &self,
        request: Request<proto::GetMyProfileRequest>,
    ) -> Result<Response<proto::Profile>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        let profile = self.own_profile(user_id).await?;
        Ok(Response::new(profile_to_proto(&profile)))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn update_my_profile(
        &self,
        request: Request<proto::UpdateMyProfileRequest>,
    ) -> Result<Response<proto::Profile>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        let changes = input::parse_profile_changes(request.into_inner())?;
        let profile = self
            .change_profile(user_id, ProfileChange::Update(changes))
            .await?;
        Ok(Response::new(profile_to_proto(&profile)))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn become_seller(
        &self,
        request: Request<proto::BecomeSellerRequest>,
    ) -> Result<Response<proto::Profile>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        let details = input::parse_seller_details(request.into_inner().seller, current_year())?;
        let profile = self
            .change_profile(user_id, ProfileChange::BecomeSeller(details))
            .await?;
        Ok(Response::new(profile_to_proto(&profile)))
    }

    #[instrument(skip_all, fields(user_id))]
    async fn update_my_seller_profile(
        &self,
        request: Request<proto::UpdateMySellerProfileRequest>,
    ) -> Result<Response<proto::Profile>, Status> {
        let user_id = Caller::of(&request)?.user_id();
        let details = input::parse_seller_details(request.into_inner().seller, current_year())?;
        let profile = self
            .change_profile(user_id, ProfileChange::ReplaceSellerDetails(details))
            .await?;
        Ok(Response::new(profile_to_proto(&profile)))
    }

    #[instrument(skip_all)]
    async fn get_public_profile(
        &self,
        request: Request<proto::GetPublicProfileRequest>,
    ) -> Result<Response<proto::PublicProfile>, Status> {
        let key = input::parse_profile_key(request.into_inner().user)?;
        let profile = self.public_profile(key).await?;
        Ok(Response::new(public_profile_to_proto(&profile)))
    }
}
