//! `gigmesh.auth.v1.AuthService`: each handler parses its request into domain values
//! (`input.rs`), runs the use case (`use_cases/`), and answers in proto types (`output.rs`).
//! No SQL here.

use std::sync::Arc;

use gigmesh_grpc::Caller;
use gigmesh_proto::auth::auth_service_server::AuthService;
use gigmesh_proto::auth::{
    self as proto, ChangePasswordRequest, ChangePasswordResponse, GetJwksRequest, GetJwksResponse,
    GetMyAccountRequest, ListSessionsRequest, ListSessionsResponse, LogInRequest, LogInResponse,
    LogOutRequest, LogOutResponse, RefreshTokenRequest, RefreshTokenResponse,
    RequestPasswordResetRequest, RequestPasswordResetResponse, ResendVerificationEmailRequest,
    ResendVerificationEmailResponse, ResetPasswordRequest, ResetPasswordResponse,
    RevokeSessionRequest, RevokeSessionResponse, SignUpRequest, SignUpResponse,
    SuspendAccountRequest, UnsuspendAccountRequest, VerifyEmailRequest, VerifyEmailResponse,
};
use gigmesh_types::{Email, SessionId, UserId};
use tonic::{Request, Response, Status};
use tracing::{Span, instrument};

use crate::counters::count_log_in;
use crate::domain::CallerSession;
use crate::error::AuthError;
use crate::input;
use crate::output::{account_to_proto, public_jwks, session_page_to_proto, tokens_to_proto};
use crate::use_cases::AuthCore;

/// The implementation of `gigmesh.auth.v1.AuthService`.
#[derive(Clone)]
pub struct AuthApi {
    core: Arc<AuthCore>,
}

impl AuthApi {
    pub(crate) fn new(core: Arc<AuthCore>) -> Self {
        Self { core }
    }
}

/// The session of a caller who holds the admin role; anyone else is refused.
fn require_admin(caller: &Caller) -> Result<CallerSession, AuthError> {
    if caller.is_admin() {
        Ok(input::caller_session(caller))
    } else {
        Err(AuthError::AdminRequired)
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    #[instrument(skip_all, fields(rpc = "SignUp", user_id = tracing::field::Empty))]
    async fn sign_up(
        &self,
        request: Request<SignUpRequest>,
    ) -> Result<Response<SignUpResponse>, Status> {
        let sign_up = input::sign_up(request.into_inner())?;
        let account = self
            .core
            .sign_up(&sign_up.email, &sign_up.username, &sign_up.password)
            .await?;
        Ok(Response::new(SignUpResponse {
            account: Some(account_to_proto(&account)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "VerifyEmail", user_id = tracing::field::Empty))]
    async fn verify_email(
        &self,
        request: Request<VerifyEmailRequest>,
    ) -> Result<Response<VerifyEmailResponse>, Status> {
        let token_hash = input::secret_token("token", &request.get_ref().token)?;
        let account = self.core.verify_email(&token_hash).await?;
        Ok(Response::new(VerifyEmailResponse {
            account: Some(account_to_proto(&account)),
        }))
    }

    #[instrument(
        skip_all,
        fields(rpc = "ResendVerificationEmail", user_id = tracing::field::Empty)
    )]
    async fn resend_verification_email(
        &self,
        request: Request<ResendVerificationEmailRequest>,
    ) -> Result<Response<ResendVerificationEmailResponse>, Status> {
        let email = Email::parse("email", &request.get_ref().email)?;
        self.core.resend_verification(&email).await?;
        Ok(Response::new(ResendVerificationEmailResponse {}))
    }

    #[instrument(
        skip_all,
        fields(rpc = "LogIn", user_id = tracing::field::Empty, session_id = tracing::field::Empty)
    )]
    async fn log_in(
        &self,
        request: Request<LogInRequest>,
    ) -> Result<Response<LogInResponse>, Status> {
        let origin = input::client_origin(&request);
        let result = match input::log_in(request.into_inner()) {
            Ok(log_in) => {
                self.core
                    .log_in(&log_in.login, &log_in.password, &origin)
                    .await
            }
            Err(error) => Err(error),
        };
        count_log_in(&result);
        let logged_in = result?;
        Ok(Response::new(LogInResponse {
            tokens: Some(tokens_to_proto(&logged_in.tokens)),
            account: Some(account_to_proto(&logged_in.account)),
        }))
    }

    #[instrument(
        skip_all,
        fields(rpc = "RefreshToken", user_id = tracing::field::Empty, session_id = tracing::field::Empty)
    )]
    async fn refresh_token(
        &self,
        request: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        let token_hash = input::secret_token("refresh_token", &request.get_ref().refresh_token)?;
        let tokens = self.core.refresh(&token_hash).await?;
        Ok(Response::new(RefreshTokenResponse {
            tokens: Some(tokens_to_proto(&tokens)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "LogOut", user_id = tracing::field::Empty))]
    async fn log_out(
        &self,
        request: Request<LogOutRequest>,
    ) -> Result<Response<LogOutResponse>, Status> {
        let caller = input::caller_session(&Caller::of(&request)?);
        self.core.log_out(caller).await?;
        Ok(Response::new(LogOutResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "GetMyAccount", user_id = tracing::field::Empty))]
    async fn get_my_account(
        &self,
        request: Request<GetMyAccountRequest>,
    ) -> Result<Response<proto::Account>, Status> {
        let caller = input::caller_session(&Caller::of(&request)?);
        let account = self.core.my_account(caller).await?;
        Ok(Response::new(account_to_proto(&account)))
    }

    #[instrument(skip_all, fields(rpc = "ListSessions", user_id = tracing::field::Empty))]
    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        let caller = input::caller_session(&Caller::of(&request)?);
        let page = input::session_page(request.get_ref())?;
        let sessions = self
            .core
            .list_sessions(caller, page.size, page.after)
            .await?;
        Ok(Response::new(session_page_to_proto(
            &sessions,
            caller.session_id,
        )))
    }

    #[instrument(skip_all, fields(rpc = "RevokeSession", user_id = tracing::field::Empty))]
    async fn revoke_session(
        &self,
        request: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        let caller = input::caller_session(&Caller::of(&request)?);
        let session_id = SessionId::parse("session_id", &request.get_ref().session_id)?;
        self.core.revoke_session(caller, session_id).await?;
        Ok(Response::new(RevokeSessionResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "ChangePassword", user_id = tracing::field::Empty))]
    async fn change_password(
        &self,
        request: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let caller = input::caller_session(&Caller::of(&request)?);
        let change = input::password_change(request.into_inner())?;
        self.core
            .change_password(caller, &change.current, &change.new)
            .await?;
        Ok(Response::new(ChangePasswordResponse {}))
    }

    #[instrument(
        skip_all,
        fields(rpc = "RequestPasswordReset", user_id = tracing::field::Empty)
    )]
    async fn request_password_reset(
        &self,
        request: Request<RequestPasswordResetRequest>,
    ) -> Result<Response<RequestPasswordResetResponse>, Status> {
        let email = Email::parse("email", &request.get_ref().email)?;
        self.core.request_password_reset(&email).await?;
        Ok(Response::new(RequestPasswordResetResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "ResetPassword", user_id = tracing::field::Empty))]
    async fn reset_password(
        &self,
        request: Request<ResetPasswordRequest>,
    ) -> Result<Response<ResetPasswordResponse>, Status> {
        let reset = input::password_reset(request.into_inner())?;
        self.core
            .reset_password(&reset.token_hash, &reset.new)
            .await?;
        Ok(Response::new(ResetPasswordResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "GetJwks"))]
    async fn get_jwks(
        &self,
        _request: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        let keys = self.core.signing_keys().await?;
        Ok(Response::new(GetJwksResponse {
            keys: public_jwks(&keys),
        }))
    }

    #[instrument(
        skip_all,
        fields(rpc = "SuspendAccount", user_id = tracing::field::Empty, account_id = tracing::field::Empty)
    )]
    async fn suspend_account(
        &self,
        request: Request<SuspendAccountRequest>,
    ) -> Result<Response<proto::Account>, Status> {
        let admin = require_admin(&Caller::of(&request)?)?;
        let suspension = input::suspension(request.into_inner())?;
        Span::current().record("account_id", tracing::field::display(suspension.account_id));
        let account = self
            .core
            .suspend(admin, suspension.account_id, &suspension.reason)
            .await?;
        Ok(Response::new(account_to_proto(&account)))
    }

    #[instrument(
        skip_all,
        fields(rpc = "UnsuspendAccount", user_id = tracing::field::Empty, account_id = tracing::field::Empty)
    )]
    async fn unsuspend_account(
        &self,
        request: Request<UnsuspendAccountRequest>,
    ) -> Result<Response<proto::Account>, Status> {
        let admin = require_admin(&Caller::of(&request)?)?;
        let account_id = UserId::parse("account_id", &request.get_ref().account_id)?;
        Span::current().record("account_id", tracing::field::display(account_id));
        let account = self.core.unsuspend(admin, account_id).await?;
        Ok(Response::new(account_to_proto(&account)))
    }
}
