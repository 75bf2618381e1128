//! Fake auth and users services built from the real generated servers: each answers the
//! few methods the gateway tests call and records the metadata it received.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gigmesh_proto::auth;
use gigmesh_proto::users;
use tonic::metadata::MetadataMap;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

/// How long the fake's ListSessions takes, for the drain test.
pub const SLOW_CALL: Duration = Duration::from_millis(600);

/// The routes of both fakes: auth publishing `jwks`, and users; every call lands in `seen`.
pub fn routes(jwks: Vec<auth::Jwk>, seen: &Seen) -> Routes {
    Routes::new(auth::auth_service_server::AuthServiceServer::new(
        FakeAuth {
            jwks,
            seen: seen.clone(),
        },
    ))
    .add_service(users::user_service_server::UserServiceServer::new(
        FakeUsers { seen: seen.clone() },
    ))
}

/// The metadata of every call the fakes received, by method.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<(&'static str, MetadataMap)>>>);

impl Seen {
    fn record<T>(&self, method: &'static str, request: &Request<T>) {
        self.0
            .lock()
            .unwrap()
            .push((method, request.metadata().clone()));
    }

    /// The metadata of the last call to `method`.
    pub fn last(&self, method: &str) -> Option<MetadataMap> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(name, _)| *name == method)
            .map(|(_, metadata)| metadata.clone())
    }

    pub fn count(&self, method: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _)| *name == method)
            .count()
    }
}

struct FakeAuth {
    jwks: Vec<auth::Jwk>,
    seen: Seen,
}

fn not_faked<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented("not in the fake"))
}

#[tonic::async_trait]
impl auth::auth_service_server::AuthService for FakeAuth {
    async fn sign_up(
        &self,
        request: Request<auth::SignUpRequest>,
    ) -> Result<Response<auth::SignUpResponse>, Status> {
        self.seen.record("SignUp", &request);
        let request = request.into_inner();
        Ok(Response::new(auth::SignUpResponse {
            account: Some(auth::Account {
                id: "0190c7a6-0000-7000-8000-000000000001".to_owned(),
                email: request.email,
                username: request.username,
                ..Default::default()
            }),
        }))
    }
    async fn verify_email(
        &self,
        _request: Request<auth::VerifyEmailRequest>,
    ) -> Result<Response<auth::VerifyEmailResponse>, Status> {
        not_faked()
    }
    async fn resend_verification_email(
        &self,
        _request: Request<auth::ResendVerificationEmailRequest>,
    ) -> Result<Response<auth::ResendVerificationEmailResponse>, Status> {
        not_faked()
    }
    async fn log_in(
        &self,
        request: Request<auth::LogInRequest>,
    ) -> Result<Response<auth::LogInResponse>, Status> {
        self.seen.record("LogIn", &request);
        Ok(Response::new(auth::LogInResponse::default()))
    }
    async fn refresh_token(
        &self,
        _request: Request<auth::RefreshTokenRequest>,
    ) -> Result<Response<auth::RefreshTokenResponse>, Status> {
        not_faked()
    }
    async fn log_out(
        &self,
        _request: Request<auth::LogOutRequest>,
    ) -> Result<Response<auth::LogOutResponse>, Status> {
        not_faked()
    }
    async fn get_my_account(
        &self,
        request: Request<auth::GetMyAccountRequest>,
    ) -> Result<Response<auth::Account>, Status> {
        self.seen.record("GetMyAccount", &request);
        Ok(Response::new(auth::Account {
            id: "me".to_owned(),
            ..Default::default()
        }))
    }
    async fn list_sessions(
        &self,
        request: Request<auth::ListSessionsRequest>,
    ) -> Result<Response<auth::ListSessionsResponse>, Status> {
        self.seen.record("ListSessions", &request);
        tokio::time::sleep(SLOW_CALL).await;
        Ok(Response::new(auth::ListSessionsResponse::default()))
    }
    async fn revoke_session(
        &self,
        _request: Request<auth::RevokeSessionRequest>,
    ) -> Result<Response<auth::RevokeSessionResponse>, Status> {
        not_faked()
    }
    async fn change_password(
        &self,
        _request: Request<auth::ChangePasswordRequest>,
    ) -> Result<Response<auth::ChangePasswordResponse>, Status> {
        not_faked()
    }
    async fn request_password_reset(
        &self,
        _request: Request<auth::RequestPasswordResetRequest>,
    ) -> Result<Response<auth::RequestPasswordResetResponse>, Status> {
        not_faked()
    }
    async fn reset_password(
        &self,
        _request: Request<auth::ResetPasswordRequest>,
    ) -> Result<Response<auth::ResetPasswordResponse>, Status> {
        not_faked()
    }
    async fn get_jwks(
        &self,
        request: Request<auth::GetJwksRequest>,
    ) -> Result<Response<auth::GetJwksResponse>, Status> {
        self.seen.record("GetJwks", &request);
        Ok(Response::new(auth::GetJwksResponse {
            keys: self.jwks.clone(),
        }))
    }
    async fn suspend_account(
        &self,
        request: Request<auth::SuspendAccountRequest>,
    ) -> Result<Response<auth::Account>, Status> {
        self.seen.record("SuspendAccount", &request);
        Ok(Response::new(auth::Account {
            id: request.into_inner().account_id,
            state: auth::AccountState::Suspended as i32,
            ..Default::default()
        }))
    }
    async fn unsuspend_account(
        &self,
        _request: Request<auth::UnsuspendAccountRequest>,
    ) -> Result<Response<auth::Account>, Status> {
        not_faked()
    }
}

struct FakeUsers {
    seen: Seen,
}

#[tonic::async_trait]
impl users::user_service_server::UserService for FakeUsers {
    async fn get_my_profile(
        &self,
        _request: Request<users::GetMyProfileRequest>,
    ) -> Result<Response<users::Profile>, Status> {
        not_faked()
    }
    async fn update_my_profile(
        &self,
        _request: Request<users::UpdateMyProfileRequest>,
    ) -> Result<Response<users::Profile>, Status> {
        not_faked()
    }
    async fn become_seller(
        &self,
        _request: Request<users::BecomeSellerRequest>,
    ) -> Result<Response<users::Profile>, Status> {
        not_faked()
    }
    async fn update_my_seller_profile(
        &self,
        request: Request<users::UpdateMySellerProfileRequest>,
    ) -> Result<Response<users::Profile>, Status> {
        self.seen.record("UpdateMySellerProfile", &request);
        Ok(Response::new(users::Profile {
            is_seller: true,
            ..Default::default()
        }))
    }
    async fn get_public_profile(
        &self,
        request: Request<users::GetPublicProfileRequest>,
    ) -> Result<Response<users::PublicProfile>, Status> {
        self.seen.record("GetPublicProfile", &request);
        Ok(Response::new(users::PublicProfile {
            username: "ada".to_owned(),
            ..Default::default()
        }))
    }
}
