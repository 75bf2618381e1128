//! The gRPC surface, `gigmesh.auth.v1.AuthService`: requests are parsed into domain values at
//! the edge, each use case runs against the store (state change and outbox events in one
//! transaction), and results go back as proto messages. No SQL here.

use std::sync::Arc;

use gigmesh_auth::{Claims, Role, SigningKey, TokenSigner};
use gigmesh_db::{Db, DbError, Tx};
use gigmesh_errors::{ApiError, Violations};
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
use gigmesh_types::{
    Email, PageSize, PageToken, SessionId, UserId, now_millis, timestamp_from_millis,
};
use sqlx::AnyConnection;
use tonic::{Request, Response, Status};
use tracing::{Span, instrument};

use crate::config::{Config, millis};
use crate::credentials::{PasswordHasher, SecretToken, secret_token_hash};
use crate::domain::{
    Account, AccountState, LoginName, MailedTokenPurpose, Password, RefreshDecision,
    RefreshRefusal, RevokeReason, SUSPENSION_REASON_MAX_CHARS, Session, ThrottleLimit,
    ThrottleScope, Username, admit_log_in, check_throttle, decide_refresh,
};
use crate::error::AuthError;
use crate::events;
use crate::store::{self, AccountWithHash, NewAccount, NewSession, SessionStatus};

/// Sessions per page of ListSessions unless the caller asks otherwise.
const DEFAULT_SESSION_PAGE_SIZE: u32 = 20;
/// Most sessions per page of ListSessions.
const MAX_SESSION_PAGE_SIZE: u32 = 100;
/// Longest secret token accepted in a request; real ones have 43 characters.
const MAX_SECRET_TOKEN_LENGTH: usize = 256;
/// Recorded as the client address when neither the gateway nor the connection tells it.
const UNKNOWN_CLIENT_ADDRESS: &str = "unknown";

/// The state every request shares: the database, the settings, the password hasher and the
/// key that signs access tokens.
pub(crate) struct AuthCore {
    pub(crate) db: Db,
    pub(crate) config: Config,
    pub(crate) hasher: PasswordHasher,
    pub(crate) signer: TokenSigner,
}

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

/// Where a request came from, for sessions and throttling.
struct Origin {
    client_address: String,
    user_agent: String,
}

impl Origin {
    fn of<T>(request: &Request<T>) -> Self {
        Self {
            client_address: gigmesh_grpc::client_address(request)
                .map(|address| address.to_string())
                .unwrap_or_else(|| UNKNOWN_CLIENT_ADDRESS.to_owned()),
            user_agent: gigmesh_grpc::user_agent(request),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests as domain values.

/// Takes the values of parse steps whose failures were all recorded in `violations`.
fn all_parsed<T>(value: Option<T>) -> Result<T, AuthError> {
    value.ok_or_else(|| AuthError::Internal(anyhow::anyhow!("a parsed request field is missing")))
}

struct SignUpInput {
    email: Email,
    username: Username,
    password: Password,
}

impl TryFrom<SignUpRequest> for SignUpInput {
    type Error = AuthError;

    fn try_from(request: SignUpRequest) -> Result<Self, Self::Error> {
        let mut violations = Violations::new();
        let email = violations.check(Email::parse("email", &request.email));
        let username = violations.check(Username::parse("username", &request.username));
        let password = violations.check(Password::parse_new("password", request.password));
        violations.finish()?;
        Ok(Self {
            email: all_parsed(email)?,
            username: all_parsed(username)?,
            password: all_parsed(password)?,
        })
    }
}

struct LogInInput {
    login: LoginName,
    password: Password,
}

impl TryFrom<LogInRequest> for LogInInput {
    type Error = AuthError;

    fn try_from(request: LogInRequest) -> Result<Self, Self::Error> {
        let mut violations = Violations::new();
        let login = violations.check(LoginName::parse("login", &request.login));
        let password = violations.check(Password::parse_presented("password", request.password));
        violations.finish()?;
        Ok(Self {
            login: all_parsed(login)?,
            password: all_parsed(password)?,
        })
    }
}

/// A secret token field (refresh, verification or reset token), reduced to its digest.
fn parse_secret_token(field: &'static str, raw: &str) -> Result<String, ApiError> {
    let token = raw.trim();
    if token.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if token.len() > MAX_SECRET_TOKEN_LENGTH {
        return Err(ApiError::invalid(
            field,
            "is not a token this server issued",
        ));
    }
    Ok(secret_token_hash(token))
}

/// A suspension reason: required, at most 500 characters.
fn parse_reason(field: &str, raw: &str) -> Result<String, ApiError> {
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(ApiError::invalid(
            field,
            "is required: say why, the owner is told",
        ));
    }
    if reason.chars().count() > SUSPENSION_REASON_MAX_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {SUSPENSION_REASON_MAX_CHARS} characters long"),
        ));
    }
    Ok(reason.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Domain values as proto messages.

fn account_to_proto(account: &Account) -> proto::Account {
    proto::Account {
        id: account.id.to_string(),
        email: account.email.clone(),
        username: account.username.clone(),
        email_verified: account.email_verified,
        roles: account
            .roles
            .iter()
            .map(|role| proto::Role::from(*role) as i32)
            .collect(),
        state: match account.state {
            AccountState::Active => proto::AccountState::Active,
            AccountState::Suspended => proto::AccountState::Suspended,
        } as i32,
        create_time: Some(timestamp_from_millis(account.create_time)),
    }
}

fn session_to_proto(session: &Session, current: SessionId) -> proto::Session {
    proto::Session {
        id: session.id.to_string(),
        user_agent: session.user_agent.clone(),
        client_address: session.client_address.clone(),
        create_time: Some(timestamp_from_millis(session.create_time)),
        last_use_time: Some(timestamp_from_millis(session.last_use_time)),
        current: session.id == current,
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics.

/// Log-in attempts by outcome.
pub(crate) const LOG_INS_TOTAL: &str = "gigmesh_auth_log_ins_total";
/// Spent refresh tokens presented again (each revokes a session).
pub(crate) const REFRESH_TOKEN_REUSE_TOTAL: &str = "gigmesh_auth_refresh_token_reuse_total";

/// Describes the auth metrics to the recorder.
pub(crate) fn describe_metrics() {
    metrics::describe_counter!(LOG_INS_TOTAL, "log-in attempts by outcome");
    metrics::describe_counter!(
        REFRESH_TOKEN_REUSE_TOTAL,
        "spent refresh tokens presented again; each revokes its session"
    );
}

fn count_log_in(result: &Result<LogInResponse, AuthError>) {
    let outcome = match result {
        Ok(_) => "success",
        Err(AuthError::InvalidCredentials) => "invalid_credentials",
        Err(AuthError::TooManyFailedLogIns { .. }) => "throttled",
        Err(AuthError::EmailNotVerified) => "email_not_verified",
        Err(AuthError::AccountSuspended) => "account_suspended",
        Err(AuthError::Api(_)) => "invalid_argument",
        Err(_) => "error",
    };
    metrics::counter!(LOG_INS_TOTAL, "outcome" => outcome).increment(1);
}

// ---------------------------------------------------------------------------------------------
// Use cases.

impl AuthCore {
    async fn connection(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, AuthError> {
        Ok(self.db.pool().acquire().await.map_err(DbError::from)?)
    }

    fn throttle_limit(&self, scope: ThrottleScope) -> ThrottleLimit {
        let throttle = &self.config.throttle;
        ThrottleLimit {
            max_failures: match scope {
                ThrottleScope::Account => throttle.max_failures_per_account,
                ThrottleScope::Address => throttle.max_failures_per_address,
            },
            window_millis: millis(std::time::Duration::from_secs(throttle.window_secs)),
        }
    }

    async fn ensure_not_throttled(
        &self,
        conn: &mut AnyConnection,
        scope: ThrottleScope,
        subject: &str,
    ) -> Result<(), AuthError> {
        let count = store::failure_count(conn, scope, subject).await?;
        check_throttle(count, self.throttle_limit(scope), now_millis()).map_err(|retry_after| {
            tracing::warn!(scope = scope.as_str(), "log-in throttled");
            AuthError::TooManyFailedLogIns { retry_after }
        })
    }

    async fn record_failed_attempt(
        &self,
        subjects: &[(ThrottleScope, &str)],
    ) -> Result<(), AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        for (scope, subject) in subjects {
            let window_millis = self.throttle_limit(*scope).window_millis;
            store::record_failure(&mut tx, *scope, subject, now, window_millis).await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(())
    }

    async fn require_live_session(&self, caller: &Caller) -> Result<(), AuthError> {
        let mut conn = self.connection().await?;
        let status = store::session_status(
            &mut conn,
            caller.user_id(),
            caller.session_id(),
            now_millis(),
        )
        .await?;
        match status {
            SessionStatus::Live => Ok(()),
            SessionStatus::Ended | SessionStatus::Unknown => Err(AuthError::SessionEnded),
        }
    }

    async fn load_account(
        &self,
        conn: &mut AnyConnection,
        account_id: UserId,
    ) -> Result<AccountWithHash, AuthError> {
        store::find_account(conn, account_id)
            .await?
            .ok_or(AuthError::AccountNotFound(account_id))
    }

    /// Signs an access token for the session and packs it with its refresh token.
    fn issue_tokens(
        &self,
        account: &Account,
        session_id: SessionId,
        refresh_token: &SecretToken,
        refresh_expire_time: i64,
    ) -> Result<proto::Tokens, AuthError> {
        let claims = Claims::new(
            account.id.to_string(),
            session_id.to_string(),
            &account.roles,
            self.config.access_token_ttl(),
        );
        let access_token = self.signer.sign(&claims)?;
        Ok(proto::Tokens {
            access_token,
            access_token_expire_time: Some(prost_types::Timestamp {
                seconds: claims.exp,
                nanos: 0,
            }),
            refresh_token: refresh_token.token.clone(),
            refresh_token_expire_time: Some(timestamp_from_millis(refresh_expire_time)),
            token_type: "Bearer".to_owned(),
        })
    }

    /// Issues a new verification token for the account (spending older ones) and asks for the
    /// mail, inside `tx`.
    async fn request_verification(
        &self,
        tx: &mut Tx,
        account: &Account,
        now: i64,
    ) -> Result<(), AuthError> {
        let token = SecretToken::generate();
        let expire_time = now.saturating_add(millis(self.config.email_verification_ttl()));
        store::spend_mailed_tokens_of(tx, account.id, MailedTokenPurpose::VerifyEmail, now).await?;
        store::insert_mailed_token(
            tx,
            &token.hash,
            account.id,
            MailedTokenPurpose::VerifyEmail,
            now,
            expire_time,
        )
        .await?;
        events::emit(
            tx,
            account.id,
            &events::email_verification_requested(account, &token.token, expire_time),
        )
        .await?;
        Ok(())
    }

    /// Creates an account with its roles; with `verified` false a verification mail is
    /// requested. Fails with `EmailTaken` / `UsernameTaken`; nothing is written then.
    async fn create_account(
        &self,
        email: &Email,
        username: &Username,
        password_hash: &str,
        roles: &[Role],
        verified: bool,
    ) -> Result<Account, AuthError> {
        let now = now_millis();
        let account = Account {
            id: UserId::new(),
            email: email.as_str().to_owned(),
            username: username.as_str().to_owned(),
            email_verified: verified,
            roles: {
                let mut roles = roles.to_vec();
                roles.sort();
                roles.dedup();
                roles
            },
            state: AccountState::Active,
            create_time: now,
        };
        let mut tx = self.db.begin().await?;
        if store::email_is_taken(&mut tx, email.as_str()).await? {
            return Err(AuthError::EmailTaken);
        }
        if store::username_is_taken(&mut tx, username).await? {
            return Err(AuthError::UsernameTaken);
        }
        let inserted = store::insert_account(
            &mut tx,
            &NewAccount {
                id: account.id,
                email: email.as_str(),
                username,
                password_hash,
                email_verified: verified,
                roles: &account.roles,
                now,
            },
        )
        .await;
        match inserted {
            Ok(()) => {}
            // A concurrent sign-up took the address or the name between the check and the insert.
            Err(error) if error.is_unique_violation_on("email") => {
                return Err(AuthError::EmailTaken);
            }
            Err(error) if error.is_unique_violation_on("username") => {
                return Err(AuthError::UsernameTaken);
            }
            Err(error) => return Err(error.into()),
        }
        events::emit(&mut tx, account.id, &events::user_registered(&account)).await?;
        if verified {
            events::emit(&mut tx, account.id, &events::email_verified(&account)).await?;
        } else {
            self.request_verification(&mut tx, &account, now).await?;
        }
        if account.roles.iter().any(|role| *role != Role::Buyer) {
            events::emit(
                &mut tx,
                account.id,
                &events::roles_changed(account.id, &account.roles),
            )
            .await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        Ok(account)
    }

    async fn sign_up(&self, input: SignUpInput) -> Result<Account, AuthError> {
        // Refuse taken names before paying for a hash; the transaction checks again.
        {
            let mut conn = self.connection().await?;
            if store::email_is_taken(&mut conn, input.email.as_str()).await? {
                return Err(AuthError::EmailTaken);
            }
            if store::username_is_taken(&mut conn, &input.username).await? {
                return Err(AuthError::UsernameTaken);
            }
        }
        let password_hash = self.hasher.hash(&input.password).await?;
        let account = self
            .create_account(
                &input.email,
                &input.username,
                &password_hash,
                &[Role::Buyer],
                false,
            )
            .await?;
        Span::current().record("user_id", tracing::field::display(account.id));
        tracing::info!("account created");
        Ok(account)
    }

    async fn verify_email(&self, token_hash: &str) -> Result<Account, AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let account_id =
            store::spend_mailed_token(&mut tx, token_hash, MailedTokenPurpose::VerifyEmail, now)
                .await?
                .ok_or(AuthError::InvalidMailedToken { field: "token" })?;
        Span::current().record("user_id", tracing::field::display(account_id));
        let newly_verified = store::mark_email_verified(&mut tx, account_id, now).await?;
        let account = self.load_account(&mut tx, account_id).await?.account;
        if newly_verified {
            events::emit(&mut tx, account_id, &events::email_verified(&account)).await?;
        }
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!("email address verified");
        Ok(account)
    }

    async fn resend_verification(&self, email: &Email) -> Result<(), AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let found = store::find_account_by_email(&mut tx, email.as_str()).await?;
        match found {
            Some(found) if !found.account.email_verified && !found.account.is_suspended() => {
                Span::current().record("user_id", tracing::field::display(found.account.id));
                self.request_verification(&mut tx, &found.account, now)
                    .await?;
                tx.commit().await.map_err(DbError::from)?;
                tracing::info!("verification mail requested");
            }
            _ => {
                tx.rollback().await.map_err(DbError::from)?;
                tracing::debug!("no unverified account for the address");
            }
        }
        Ok(())
    }

    async fn log_in(&self, input: LogInInput, origin: &Origin) -> Result<LogInResponse, AuthError> {
        let mut conn = self.connection().await?;
        self.ensure_not_throttled(&mut conn, ThrottleScope::Address, &origin.client_address)
            .await?;
        let found = match &input.login {
            LoginName::Email(email) => store::find_account_by_email(&mut conn, email).await?,
            LoginName::Username(key) => store::find_account_by_username(&mut conn, key).await?,
        };
        let account_subject = match &found {
            Some(found) => found.account.id.to_string(),
            None => input.login.unknown_account_subject(),
        };
        self.ensure_not_throttled(&mut conn, ThrottleScope::Account, &account_subject)
            .await?;
        // Do not hold a connection while hashing.
        drop(conn);

        let stored_hash = found.as_ref().map(|found| found.password_hash.as_str());
        let password_ok = self.hasher.verify(&input.password, stored_hash).await?;
        let Some(found) = found.filter(|_| password_ok) else {
            self.record_failed_attempt(&[
                (ThrottleScope::Account, &account_subject),
                (ThrottleScope::Address, &origin.client_address),
            ])
            .await?;
            tracing::info!("log-in refused: invalid login or password");
            return Err(AuthError::InvalidCredentials);
        };
        let account = found.account;
        Span::current().record("user_id", tracing::field::display(account.id));
        {
            let mut conn = self.connection().await?;
            store::clear_failures(&mut conn, ThrottleScope::Account, &account_subject).await?;
        }
        admit_log_in(&account).inspect_err(|refusal| {
            tracing::info!(reason = %refusal, "log-in refused after a correct password");
        })?;
        if self.hasher.needs_rehash(&found.password_hash)
            && let Err(error) = self.rehash_password(&account, &input.password).await
        {
            tracing::warn!(error = %error, "cannot re-hash the password: keeping the old hash");
        }

        let now = now_millis();
        let session_id = SessionId::new();
        let refresh_token = SecretToken::generate();
        let refresh_expire_time = now.saturating_add(millis(self.config.refresh_token_ttl()));
        let mut tx = self.db.begin().await?;
        store::insert_session(
            &mut tx,
            &NewSession {
                id: session_id,
                account_id: account.id,
                user_agent: &origin.user_agent,
                client_address: &origin.client_address,
                now,
                expire_time: refresh_expire_time,
            },
        )
        .await?;
        store::insert_refresh_token(
            &mut tx,
            &refresh_token.hash,
            session_id,
            now,
            refresh_expire_time,
        )
        .await?;
        tx.commit().await.map_err(DbError::from)?;
        Span::current().record("session_id", tracing::field::display(session_id));
        tracing::info!("logged in");
        let tokens =
            self.issue_tokens(&account, session_id, &refresh_token, refresh_expire_time)?;
        Ok(LogInResponse {
            tokens: Some(tokens),
            account: Some(account_to_proto(&account)),
        })
    }

    /// Replaces a hash made with older cost parameters; a failure only costs the upgrade.
    async fn rehash_password(
        &self,
        account: &Account,
        password: &Password,
    ) -> Result<(), AuthError> {
        let new_hash = self.hasher.hash(password).await?;
        let mut conn = self.connection().await?;
        store::set_password_hash(&mut conn, account.id, &new_hash, now_millis()).await?;
        tracing::info!("password re-hashed with the configured parameters");
        Ok(())
    }

    async fn refresh(&self, token_hash: &str) -> Result<proto::Tokens, AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let record = store::find_refresh_token(&mut tx, token_hash)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        Span::current().record("user_id", tracing::field::display(record.account_id));
        Span::current().record("session_id", tracing::field::display(record.session_id));
        let revoke_family = |reason: &'static str| {
            metrics::counter!(REFRESH_TOKEN_REUSE_TOTAL).increment(1);
            tracing::warn!(reason, "refresh token reused: revoking its session");
        };
        match decide_refresh(&record, now) {
            RefreshDecision::Refuse(RefreshRefusal::AccountSuspended) => {
                return Err(AuthError::AccountSuspended);
            }
            RefreshDecision::Refuse(RefreshRefusal::SessionEnded) => {
                return Err(AuthError::SessionEnded);
            }
            RefreshDecision::Refuse(RefreshRefusal::Expired) => {
                return Err(AuthError::InvalidRefreshToken);
            }
            RefreshDecision::RevokeFamily => {
                revoke_family("spent token presented again");
                store::revoke_session(
                    &mut tx,
                    record.account_id,
                    record.session_id,
                    RevokeReason::RefreshTokenReuse,
                    now,
                )
                .await?;
                tx.commit().await.map_err(DbError::from)?;
                return Err(AuthError::RefreshTokenReused);
            }
            RefreshDecision::Rotate => {}
        }
        if !store::spend_refresh_token(&mut tx, token_hash, now).await? {
            // Another request spent it a moment ago: the same token was used twice.
            revoke_family("token spent concurrently");
            store::revoke_session(
                &mut tx,
                record.account_id,
                record.session_id,
                RevokeReason::RefreshTokenReuse,
                now,
            )
            .await?;
            tx.commit().await.map_err(DbError::from)?;
            return Err(AuthError::RefreshTokenReused);
        }
        let refresh_token = SecretToken::generate();
        let refresh_expire_time = now.saturating_add(millis(self.config.refresh_token_ttl()));
        store::insert_refresh_token(
            &mut tx,
            &refresh_token.hash,
            record.session_id,
            now,
            refresh_expire_time,
        )
        .await?;
        store::touch_session(&mut tx, record.session_id, now, refresh_expire_time).await?;
        // Roles are read now, so a role granted since the log-in is in the new token.
        let account = self.load_account(&mut tx, record.account_id).await?.account;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!("tokens refreshed");
        self.issue_tokens(
            &account,
            record.session_id,
            &refresh_token,
            refresh_expire_time,
        )
    }

    async fn log_out(&self, caller: &Caller) -> Result<(), AuthError> {
        let mut conn = self.connection().await?;
        let revoked = store::revoke_session(
            &mut conn,
            caller.user_id(),
            caller.session_id(),
            RevokeReason::LogOut,
            now_millis(),
        )
        .await?;
        tracing::info!(revoked, "logged out");
        Ok(())
    }

    async fn my_account(&self, caller: &Caller) -> Result<Account, AuthError> {
        self.require_live_session(caller).await?;
        let mut conn = self.connection().await?;
        Ok(self
            .load_account(&mut conn, caller.user_id())
            .await?
            .account)
    }

    async fn list_sessions(
        &self,
        caller: &Caller,
        request: ListSessionsRequest,
    ) -> Result<ListSessionsResponse, AuthError> {
        let mut violations = Violations::new();
        let page_size = violations.check(PageSize::parse(
            "page_size",
            request.page_size,
            DEFAULT_SESSION_PAGE_SIZE,
            MAX_SESSION_PAGE_SIZE,
        ));
        let after = violations
            .check(PageToken::decode::<String>(
                "page_token",
                &request.page_token,
            ))
            .flatten()
            .and_then(|raw| {
                violations.check(SessionId::parse("page_token", &raw).map_err(|_| {
                    ApiError::invalid("page_token", "is not a page token this server issued")
                }))
            });
        violations.finish()?;
        let page_size = all_parsed(page_size)?;
        self.require_live_session(caller).await?;

        let mut conn = self.connection().await?;
        let mut sessions = store::list_live_sessions(
            &mut conn,
            caller.user_id(),
            now_millis(),
            after,
            page_size + 1,
        )
        .await?;
        let next_page_token = if sessions.len() > page_size as usize {
            sessions.truncate(page_size as usize);
            sessions
                .last()
                .map(|last| PageToken::encode(&last.id.to_string()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(ListSessionsResponse {
            sessions: sessions
                .iter()
                .map(|session| session_to_proto(session, caller.session_id()))
                .collect(),
            next_page_token,
        })
    }

    async fn revoke_session(
        &self,
        caller: &Caller,
        session_id: SessionId,
    ) -> Result<(), AuthError> {
        self.require_live_session(caller).await?;
        let now = now_millis();
        let mut conn = self.connection().await?;
        let revoked = store::revoke_session(
            &mut conn,
            caller.user_id(),
            session_id,
            RevokeReason::RevokedByOwner,
            now,
        )
        .await?;
        if !revoked
            && store::session_status(&mut conn, caller.user_id(), session_id, now).await?
                == SessionStatus::Unknown
        {
            // Another account's session reads exactly like a session that does not exist.
            return Err(AuthError::SessionNotFound(session_id));
        }
        tracing::info!(%session_id, revoked, "session revoked by its owner");
        Ok(())
    }

    async fn change_password(
        &self,
        caller: &Caller,
        current_password: Password,
        new_password: Password,
    ) -> Result<(), AuthError> {
        self.require_live_session(caller).await?;
        let account_subject = caller.user_id().to_string();
        let found = {
            let mut conn = self.connection().await?;
            self.ensure_not_throttled(&mut conn, ThrottleScope::Account, &account_subject)
                .await?;
            self.load_account(&mut conn, caller.user_id()).await?
        };
        let matches = self
            .hasher
            .verify(&current_password, Some(&found.password_hash))
            .await?;
        if !matches {
            self.record_failed_attempt(&[(ThrottleScope::Account, &account_subject)])
                .await?;
            tracing::info!("password change refused: wrong current password");
            return Err(AuthError::WrongCurrentPassword);
        }
        let new_hash = self.hasher.hash(&new_password).await?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        store::set_password_hash(&mut tx, caller.user_id(), &new_hash, now).await?;
        let revoked = store::revoke_sessions_of(
            &mut tx,
            caller.user_id(),
            Some(caller.session_id()),
            RevokeReason::PasswordChanged,
            now,
        )
        .await?;
        events::emit(
            &mut tx,
            caller.user_id(),
            &events::password_changed(&found.account),
        )
        .await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(revoked_sessions = revoked, "password changed");
        Ok(())
    }

    async fn request_password_reset(&self, email: &Email) -> Result<(), AuthError> {
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let found = store::find_account_by_email(&mut tx, email.as_str()).await?;
        let Some(found) = found.filter(|found| !found.account.is_suspended()) else {
            tx.rollback().await.map_err(DbError::from)?;
            tracing::debug!("no active account for the address");
            return Ok(());
        };
        let account = found.account;
        Span::current().record("user_id", tracing::field::display(account.id));
        let token = SecretToken::generate();
        let expire_time = now.saturating_add(millis(self.config.password_reset_ttl()));
        store::spend_mailed_tokens_of(&mut tx, account.id, MailedTokenPurpose::ResetPassword, now)
            .await?;
        store::insert_mailed_token(
            &mut tx,
            &token.hash,
            account.id,
            MailedTokenPurpose::ResetPassword,
            now,
            expire_time,
        )
        .await?;
        events::emit(
            &mut tx,
            account.id,
            &events::password_reset_requested(&account, &token.token, expire_time),
        )
        .await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!("password reset mail requested");
        Ok(())
    }

    async fn reset_password(
        &self,
        token_hash: &str,
        new_password: Password,
    ) -> Result<(), AuthError> {
        // Refuse a bad token before paying for a hash; the transaction spends it atomically.
        {
            let mut conn = self.connection().await?;
            let usable = store::mailed_token_is_usable(
                &mut conn,
                token_hash,
                MailedTokenPurpose::ResetPassword,
                now_millis(),
            )
            .await?;
            if !usable {
                return Err(AuthError::InvalidMailedToken { field: "token" });
            }
        }
        let new_hash = self.hasher.hash(&new_password).await?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        let account_id =
            store::spend_mailed_token(&mut tx, token_hash, MailedTokenPurpose::ResetPassword, now)
                .await?
                .ok_or(AuthError::InvalidMailedToken { field: "token" })?;
        Span::current().record("user_id", tracing::field::display(account_id));
        store::set_password_hash(&mut tx, account_id, &new_hash, now).await?;
        let revoked =
            store::revoke_sessions_of(&mut tx, account_id, None, RevokeReason::PasswordReset, now)
                .await?;
        // The mail reached its owner: the address is proven, and the lock-out is over.
        let newly_verified = store::mark_email_verified(&mut tx, account_id, now).await?;
        store::clear_failures(&mut tx, ThrottleScope::Account, &account_id.to_string()).await?;
        let account = self.load_account(&mut tx, account_id).await?.account;
        if newly_verified {
            events::emit(&mut tx, account_id, &events::email_verified(&account)).await?;
        }
        events::emit(&mut tx, account_id, &events::password_changed(&account)).await?;
        tx.commit().await.map_err(DbError::from)?;
        tracing::info!(revoked_sessions = revoked, "password reset");
        Ok(())
    }

    /// The public keys of every unretired signing key.
    pub(crate) async fn jwks(&self) -> Result<Vec<proto::Jwk>, AuthError> {
        let mut conn = self.connection().await?;
        let stored = store::unretired_signing_keys(&mut conn).await?;
        stored
            .iter()
            .map(|key| {
                SigningKey::from_pkcs8_der(key.kid.clone(), &key.private_key_der)
                    .map(|key| key.public_jwk())
                    .map_err(AuthError::Internal)
            })
            .collect()
    }

    fn require_admin(caller: &Caller) -> Result<(), AuthError> {
        if caller.is_admin() {
            Ok(())
        } else {
            Err(AuthError::AdminRequired)
        }
    }

    async fn suspend(
        &self,
        caller: &Caller,
        account_id: UserId,
        reason: &str,
    ) -> Result<Account, AuthError> {
        if account_id == caller.user_id() {
            return Err(AuthError::CannotSuspendOwnAccount);
        }
        self.require_live_session(caller).await?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        self.load_account(&mut tx, account_id).await?;
        let changed = store::set_account_state(
            &mut tx,
            account_id,
            AccountState::Suspended,
            Some(reason),
            now,
        )
        .await?;
        if changed {
            let revoked = store::revoke_sessions_of(
                &mut tx,
                account_id,
                None,
                RevokeReason::AccountSuspended,
                now,
            )
            .await?;
            events::emit(
                &mut tx,
                account_id,
                &events::account_suspended(account_id, reason),
            )
            .await?;
            tracing::info!(revoked_sessions = revoked, "account suspended");
        }
        let account = self.load_account(&mut tx, account_id).await?.account;
        tx.commit().await.map_err(DbError::from)?;
        Ok(account)
    }

    async fn unsuspend(&self, caller: &Caller, account_id: UserId) -> Result<Account, AuthError> {
        self.require_live_session(caller).await?;
        let now = now_millis();
        let mut tx = self.db.begin().await?;
        self.load_account(&mut tx, account_id).await?;
        let changed =
            store::set_account_state(&mut tx, account_id, AccountState::Active, None, now).await?;
        if changed {
            events::emit(
                &mut tx,
                account_id,
                &events::account_unsuspended(account_id),
            )
            .await?;
            tracing::info!("account unsuspended");
        }
        let account = self.load_account(&mut tx, account_id).await?.account;
        tx.commit().await.map_err(DbError::from)?;
        Ok(account)
    }

    /// Creates an account unless one with the email address or username exists.
    pub(crate) async fn seed_account(
        &self,
        email: &str,
        username: &str,
        password: &str,
        roles: &[Role],
        verified: bool,
    ) -> anyhow::Result<()> {
        let email = Email::parse("email", email)?;
        let username = Username::parse("username", username)?;
        let password = Password::parse_new("password", password.to_owned())?;
        {
            let mut conn = self.connection().await?;
            if store::email_is_taken(&mut conn, email.as_str()).await?
                || store::username_is_taken(&mut conn, &username).await?
            {
                tracing::debug!(username = username.as_str(), "seed account exists");
                return Ok(());
            }
        }
        let password_hash = self.hasher.hash(&password).await?;
        let mut roles = roles.to_vec();
        roles.push(Role::Buyer);
        match self
            .create_account(&email, &username, &password_hash, &roles, verified)
            .await
        {
            Ok(account) => {
                tracing::info!(user_id = %account.id, username = username.as_str(), "seed account created");
                Ok(())
            }
            // Created concurrently by another replica.
            Err(AuthError::EmailTaken | AuthError::UsernameTaken) => Ok(()),
            Err(error) => Err(anyhow::Error::new(error)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The gRPC service.

#[tonic::async_trait]
impl AuthService for AuthApi {
    #[instrument(skip_all, fields(rpc = "SignUp", user_id = tracing::field::Empty))]
    async fn sign_up(
        &self,
        request: Request<SignUpRequest>,
    ) -> Result<Response<SignUpResponse>, Status> {
        let input = SignUpInput::try_from(request.into_inner())?;
        let account = self.core.sign_up(input).await?;
        Ok(Response::new(SignUpResponse {
            account: Some(account_to_proto(&account)),
        }))
    }

    #[instrument(skip_all, fields(rpc = "VerifyEmail", user_id = tracing::field::Empty))]
    async fn verify_email(
        &self,
        request: Request<VerifyEmailRequest>,
    ) -> Result<Response<VerifyEmailResponse>, Status> {
        let token_hash = parse_secret_token("token", &request.get_ref().token)?;
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
        let origin = Origin::of(&request);
        let result = match LogInInput::try_from(request.into_inner()) {
            Ok(input) => self.core.log_in(input, &origin).await,
            Err(error) => Err(error),
        };
        count_log_in(&result);
        Ok(Response::new(result?))
    }

    #[instrument(
        skip_all,
        fields(rpc = "RefreshToken", user_id = tracing::field::Empty, session_id = tracing::field::Empty)
    )]
    async fn refresh_token(
        &self,
        request: Request<RefreshTokenRequest>,
    ) -> Result<Response<RefreshTokenResponse>, Status> {
        let token_hash = parse_secret_token("refresh_token", &request.get_ref().refresh_token)?;
        let tokens = self.core.refresh(&token_hash).await?;
        Ok(Response::new(RefreshTokenResponse {
            tokens: Some(tokens),
        }))
    }

    #[instrument(skip_all, fields(rpc = "LogOut", user_id = tracing::field::Empty))]
    async fn log_out(
        &self,
        request: Request<LogOutRequest>,
    ) -> Result<Response<LogOutResponse>, Status> {
        let caller = Caller::of(&request)?;
        self.core.log_out(&caller).await?;
        Ok(Response::new(LogOutResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "GetMyAccount", user_id = tracing::field::Empty))]
    async fn get_my_account(
        &self,
        request: Request<GetMyAccountRequest>,
    ) -> Result<Response<proto::Account>, Status> {
        let caller = Caller::of(&request)?;
        let account = self.core.my_account(&caller).await?;
        Ok(Response::new(account_to_proto(&account)))
    }

    #[instrument(skip_all, fields(rpc = "ListSessions", user_id = tracing::field::Empty))]
    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let response = self
            .core
            .list_sessions(&caller, request.into_inner())
            .await?;
        Ok(Response::new(response))
    }

    #[instrument(skip_all, fields(rpc = "RevokeSession", user_id = tracing::field::Empty))]
    async fn revoke_session(
        &self,
        request: Request<RevokeSessionRequest>,
    ) -> Result<Response<RevokeSessionResponse>, Status> {
        let caller = Caller::of(&request)?;
        let session_id = SessionId::parse("session_id", &request.get_ref().session_id)?;
        self.core.revoke_session(&caller, session_id).await?;
        Ok(Response::new(RevokeSessionResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "ChangePassword", user_id = tracing::field::Empty))]
    async fn change_password(
        &self,
        request: Request<ChangePasswordRequest>,
    ) -> Result<Response<ChangePasswordResponse>, Status> {
        let caller = Caller::of(&request)?;
        let request = request.into_inner();
        let mut violations = Violations::new();
        let current = violations.check(Password::parse_presented(
            "current_password",
            request.current_password,
        ));
        let new = violations.check(Password::parse_new("new_password", request.new_password));
        violations.finish()?;
        self.core
            .change_password(&caller, all_parsed(current)?, all_parsed(new)?)
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
        let request = request.into_inner();
        let mut violations = Violations::new();
        let token_hash = violations.check(parse_secret_token("token", &request.token));
        let new = violations.check(Password::parse_new("new_password", request.new_password));
        violations.finish()?;
        self.core
            .reset_password(&all_parsed(token_hash)?, all_parsed(new)?)
            .await?;
        Ok(Response::new(ResetPasswordResponse {}))
    }

    #[instrument(skip_all, fields(rpc = "GetJwks"))]
    async fn get_jwks(
        &self,
        _request: Request<GetJwksRequest>,
    ) -> Result<Response<GetJwksResponse>, Status> {
        let keys = self.core.jwks().await?;
        Ok(Response::new(GetJwksResponse { keys }))
    }

    #[instrument(
        skip_all,
        fields(rpc = "SuspendAccount", user_id = tracing::field::Empty, account_id = tracing::field::Empty)
    )]
    async fn suspend_account(
        &self,
        request: Request<SuspendAccountRequest>,
    ) -> Result<Response<proto::Account>, Status> {
        let caller = Caller::of(&request)?;
        AuthCore::require_admin(&caller)?;
        let request = request.into_inner();
        let mut violations = Violations::new();
        let account_id = violations.check(UserId::parse("account_id", &request.account_id));
        let reason = violations.check(parse_reason("reason", &request.reason));
        violations.finish().map_err(AuthError::from)?;
        let account_id = all_parsed(account_id)?;
        Span::current().record("account_id", tracing::field::display(account_id));
        let account = self
            .core
            .suspend(&caller, account_id, &all_parsed(reason)?)
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
        let caller = Caller::of(&request)?;
        AuthCore::require_admin(&caller)?;
        let account_id = UserId::parse("account_id", &request.get_ref().account_id)?;
        Span::current().record("account_id", tracing::field::display(account_id));
        let account = self.core.unsuspend(&caller, account_id).await?;
        Ok(Response::new(account_to_proto(&account)))
    }
}
