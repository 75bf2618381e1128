//! Who is calling: the signed-in [`Caller`] proven by the access token, and the client's
//! address.
//!
//! The gateway already verified the token and enforced the method's policy; services verify
//! again (nothing inside trusts a header it cannot check) and check ownership themselves with
//! [`Caller::is_owner_or_admin`].

use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use gigmesh_auth::{Claims, Role, TokenError, TokenVerifier, bearer_token};
use gigmesh_types::{SessionId, UserId};
use tonic::Status;
use tonic::service::Routes;
use tower::{Layer, Service};

/// Header the gateway sets to the client's address.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// Verifies the bearer token of each request, when there is one, and stores the [`Caller`]
/// it proves in the request extensions. Handlers that need a caller say so with
/// [`Caller::of`], which answers `UNAUTHENTICATED` for a missing or refused token.
#[derive(Clone)]
pub struct CallerLayer {
    verifier: TokenVerifier,
}

impl CallerLayer {
    /// A layer that verifies with `verifier`.
    pub fn new(verifier: TokenVerifier) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for CallerLayer {
    type Service = CallerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallerService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service made by [`CallerLayer`].
#[derive(Clone)]
pub struct CallerService<S> {
    inner: S,
    verifier: TokenVerifier,
}

impl<S, B, ResponseBody> Service<http::Request<B>> for CallerService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResponseBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
    ResponseBody: Default + Send + 'static,
{
    type Response = http::Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // Take the service that was driven to readiness and leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Box::pin(async move {
            // An invalid token does not stop the call here: public methods work without a
            // caller (a client may attach an expired token to RefreshToken), and methods that
            // need one ask `Caller::of`, which reports why the token was refused.
            let verified = match bearer_token(request.headers()) {
                Ok(None) => None,
                Ok(Some(token)) => {
                    let token = token.to_owned();
                    Some(verifier.verify(&token).await)
                }
                Err(error) => Some(Err(error)),
            };
            match verified.map(|claims| claims.map(|claims| Caller::from_claims(&claims))) {
                Some(Ok(Some(caller))) => {
                    request.extensions_mut().insert(caller);
                }
                Some(Ok(None)) => {
                    request.extensions_mut().insert(RefusedToken::NotOurs);
                }
                Some(Err(error)) => {
                    request
                        .extensions_mut()
                        .insert(RefusedToken::Invalid(error));
                }
                None => {}
            }
            inner.call(request).await
        })
    }
}

/// Why the token of a call was refused, kept for [`Caller::of`].
#[derive(Debug, Clone)]
enum RefusedToken {
    /// The token did not verify.
    Invalid(TokenError),
    /// The token verified but its subject or session is not a gigmesh id.
    NotOurs,
}

/// The answer to a call that needs a caller and has no valid token.
const NOT_SIGNED_IN: &str = "sign in first: this call needs an access token";
/// The answer to a verified token whose subject or session is not a gigmesh id.
const NOT_OUR_SESSION: &str = "the access token names no gigmesh session: log in again";

/// The signed-in user of a call, as its verified access token proves it: built once, by
/// [`CallerLayer`], from the claims; nothing about it comes from a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    user_id: UserId,
    session_id: SessionId,
    roles: Vec<Role>,
}

impl Caller {
    /// A caller with these ids and roles (tests and in-process callers).
    pub fn new(user_id: UserId, session_id: SessionId, roles: &[Role]) -> Self {
        Self {
            user_id,
            session_id,
            roles: roles.to_vec(),
        }
    }

    /// The caller verified `claims` prove; `None` when the subject or the session is not a
    /// gigmesh id. Role names this build does not know are left out.
    pub fn from_claims(claims: &Claims) -> Option<Self> {
        let user_id = UserId::parse("sub", claims.user_id()).ok()?;
        let session_id = SessionId::parse("sid", claims.session_id()).ok()?;
        Some(Self {
            user_id,
            session_id,
            roles: claims.known_roles(),
        })
    }

    /// The signed-in caller of `request`, or `UNAUTHENTICATED` (saying why) when the call
    /// carries no valid token. The user id is recorded on the current span.
    #[allow(clippy::result_large_err)]
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Self, Status> {
        if let Some(caller) = request.extensions().get::<Caller>() {
            tracing::Span::current().record("user_id", tracing::field::display(caller.user_id));
            return Ok(caller.clone());
        }
        match request.extensions().get::<RefusedToken>() {
            Some(RefusedToken::Invalid(error)) => Err(Status::from(*error)),
            Some(RefusedToken::NotOurs) => Err(Status::unauthenticated(NOT_OUR_SESSION)),
            None => Err(Status::unauthenticated(NOT_SIGNED_IN)),
        }
    }

    /// The caller of a method that also works signed out: `None` without a token, and a
    /// refused token counts as none (as the gateway treats it on public methods).
    pub fn optional<T>(request: &tonic::Request<T>) -> Option<Self> {
        request.extensions().get::<Caller>().cloned()
    }

    /// The user's id (the token's subject).
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The session the token belongs to.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The roles the token carries.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// Whether the token carries `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller is a marketplace administrator.
    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }

    /// Whether the caller is `owner` or an admin: the check for reading or changing
    /// something that belongs to `owner`.
    pub fn is_owner_or_admin(&self, owner: UserId) -> bool {
        self.user_id == owner || self.is_admin()
    }
}

/// Wraps a service's routes with the caller layer.
pub fn with_caller(routes: Routes, verifier: TokenVerifier) -> Routes {
    Routes::from(routes.into_axum_router().layer(CallerLayer::new(verifier)))
}

/// The client's address: the first hop of `x-forwarded-for` (set by the gateway, which is the
/// only way in), else the TCP peer.
pub fn client_address<T>(request: &tonic::Request<T>) -> Option<IpAddr> {
    let forwarded = request
        .metadata()
        .get(FORWARDED_FOR)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .and_then(|first| first.trim().parse().ok());
    forwarded.or_else(|| request.remote_addr().map(|address| address.ip()))
}

/// The client's user agent, truncated to a sane length.
pub fn user_agent<T>(request: &tonic::Request<T>) -> String {
    let agent = request
        .metadata()
        .get("user-agent")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    agent.chars().take(256).collect()
}
