//! Who is calling: the verified token claims and the client's address.
//!
//! The gateway already verified the token and enforced the method's policy; services verify
//! again (nothing inside trusts a header it cannot check) and check ownership themselves.

use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use gigmesh_auth::{Claims, TokenError, TokenVerifier, bearer_token};
use tonic::Status;
use tonic::service::Routes;
use tower::{Layer, Service};

/// Header the gateway sets to the client's address.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// Verifies the bearer token of each request, when there is one, and stores its claims in
/// the request extensions. Handlers that need a caller say so with [`caller`], which answers
/// `UNAUTHENTICATED` for a missing or refused token.
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
            // need one ask `caller()`, which reports why the token was refused.
            let verified = match bearer_token(request.headers()) {
                Ok(None) => None,
                Ok(Some(token)) => {
                    let token = token.to_owned();
                    Some(verifier.verify(&token).await)
                }
                Err(error) => Some(Err(error)),
            };
            match verified {
                Some(Ok(claims)) => {
                    request.extensions_mut().insert(claims);
                }
                Some(Err(error)) => {
                    request.extensions_mut().insert(RefusedToken(error));
                }
                None => {}
            }
            inner.call(request).await
        })
    }
}

/// Why the token of a call was refused, kept for [`caller`].
#[derive(Debug, Clone)]
struct RefusedToken(TokenError);

/// Wraps a service's routes with the caller layer.
pub fn with_caller(routes: Routes, verifier: TokenVerifier) -> Routes {
    Routes::from(routes.into_axum_router().layer(CallerLayer::new(verifier)))
}

/// The verified claims of the caller, or `UNAUTHENTICATED` when the call carries no token.
#[allow(clippy::result_large_err)]
pub fn caller<T>(request: &tonic::Request<T>) -> Result<&Claims, Status> {
    if let Some(claims) = request.extensions().get::<Claims>() {
        return Ok(claims);
    }
    match request.extensions().get::<RefusedToken>() {
        Some(RefusedToken(error)) => Err(Status::from(*error)),
        None => Err(Status::unauthenticated(
            "sign in first: this call needs an access token",
        )),
    }
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
