//! The gateway's listener: one port for native gRPC (HTTP/2 cleartext) and grpc-web
//! (HTTP/1.1 or HTTP/2), with CORS, the mail pages beside them, and a graceful shutdown
//! that drains calls in flight.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use gigmesh_auth::TokenVerifier;
use http::header::{self, HeaderName};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::transport::server::TcpConnectInfo;
use tower::{Service, ServiceBuilder, ServiceExt as _};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::checkout_page::{CheckoutPage, SANDBOX_CHECKOUT_PATH};
use crate::client_address::ClientAddressResolver;
use crate::config::GatewayConfig;
use crate::mail_pages::{MailPages, is_mail_page};
use crate::policy::read_policies;
use crate::rate_limit::ClientRateLimiter;
use crate::service::{GatewayService, GatewayState, MethodRoute, REQUEST_ID};
use crate::upstream::{Upstream, UpstreamService};
use crate::webhooks::{STRIPE_WEBHOOK_PATH, Webhooks};

/// How often idle clients are dropped from the rate limiter.
const RATE_LIMITER_CLEANUP_INTERVAL: Duration = Duration::from_secs(60);
/// How long an HTTP/1.1 client may take to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often idle HTTP/2 connections are pinged, and how long a ping may go unanswered.
const HTTP2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent calls per HTTP/2 connection.
const HTTP2_MAX_CONCURRENT_STREAMS: u32 = 256;
/// How long browsers may cache a CORS preflight answer (Chromium's own cap).
const CORS_MAX_AGE: Duration = Duration::from_secs(2 * 60 * 60);

/// Request headers grpc-web clients send (grpc-web's own, and gigmesh's).
const CORS_ALLOWED_HEADERS: [HeaderName; 10] = [
    header::CONTENT_TYPE,
    header::AUTHORIZATION,
    HeaderName::from_static("x-grpc-web"),
    HeaderName::from_static("x-user-agent"),
    HeaderName::from_static("grpc-timeout"),
    HeaderName::from_static("grpc-encoding"),
    HeaderName::from_static("grpc-accept-encoding"),
    REQUEST_ID,
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
];
/// Response headers browser code may read: the status of a call lives in them.
const CORS_EXPOSED_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("grpc-status"),
    HeaderName::from_static("grpc-message"),
    HeaderName::from_static("grpc-status-details-bin"),
    REQUEST_ID,
];

/// The gateway, ready to serve.
pub struct Gateway {
    config: GatewayConfig,
    state: Arc<GatewayState>,
    served_services: Vec<String>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Gateway")
            .field("config", &self.config)
            .field("served_services", &self.served_services)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway that verifies tokens with `verifier` and forwards each service named in
    /// `upstreams` (full proto name, e.g. `gigmesh.auth.v1.AuthService`) to its upstream.
    /// Fails when the configuration is invalid or a name is not a gigmesh proto service.
    pub fn new(
        config: GatewayConfig,
        verifier: TokenVerifier,
        upstreams: Vec<(String, Upstream)>,
    ) -> anyhow::Result<Self> {
        config.validate()?;
        let policies = read_policies(gigmesh_proto::FILE_DESCRIPTOR_SET)?;

        let mut methods = HashMap::new();
        let mut served_services = Vec::with_capacity(upstreams.len());
        for (service_name, upstream) in upstreams {
            let service_policies = policies.get(&service_name).with_context(|| {
                format!("cannot route {service_name}: no such service in the gigmesh protos")
            })?;
            anyhow::ensure!(
                !served_services.contains(&service_name),
                "{service_name} is given two upstreams"
            );
            let upstream_service = upstream.into_service();
            for (method_name, policy) in service_policies {
                if policy.access.is_none() {
                    tracing::warn!(
                        service = service_name,
                        method = method_name,
                        "method declares no access policy; the gateway will refuse it"
                    );
                }
                let route = MethodRoute {
                    service: service_name.clone(),
                    method: method_name.clone(),
                    policy: *policy,
                    upstream: upstream_service.clone(),
                };
                methods.insert(format!("/{service_name}/{method_name}"), Arc::new(route));
            }
            served_services.push(service_name);
        }
        let known_services = policies
            .keys()
            .map(|name| (name.clone(), served_services.contains(name)))
            .collect();

        let state = GatewayState {
            methods,
            known_services,
            verifier,
            rate_limiter: ClientRateLimiter::new(
                config.rate_limit_per_minute,
                config.rate_limit_burst,
                config.rate_limit_max_tracked_clients,
            ),
            client_addresses: ClientAddressResolver::new(config.trusted_proxy_networks()?),
            max_message_bytes: config.max_message_bytes,
        };
        Ok(Self {
            config,
            state: Arc::new(state),
            served_services,
        })
    }

    /// Serves on `listener` until `shutdown` is cancelled, then stops accepting, lets the
    /// calls in flight finish (up to `drain_timeout_seconds`) and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let local_routes = gigmesh_grpc::reflection_routes(&self.served_services).await?;
        let cors = cors_layer(&self.config)?;

        // Layers, outermost first:
        // 0. The mail pages (HTML for a person who followed a mail's link) are told apart
        //    by their paths before anything gRPC: no CORS (no other origin's script has
        //    business with them) and no grpc-web translation. Their RPCs enter the gateway
        //    service (3.) the way every client's calls do.
        // 1. CORS answers browser preflights (HTTP/1.1 OPTIONS, which grpc-web translation
        //    would reject) and adds the CORS headers to every answer, refusals included, so
        //    browser code can read grpc-status.
        // 2. grpc-web translation turns application/grpc-web(-text) calls into plain gRPC
        //    and back, so everything below handles one protocol; native gRPC passes as is.
        // 3. The gateway service: request id and trace span first (every answer carries the
        //    id), then routing, then per-RPC metrics around each known method, then inside
        //    them the method's policy in cheapest-first order (rate limit, token, access)
        //    and the message size cap while the body streams to the upstream.
        let gateway_service = GatewayService::new(self.state.clone(), local_routes);
        let service = Entry {
            http_routes: HttpRoutes::new(UpstreamService::new(gateway_service.clone())),
            grpc: ServiceBuilder::new()
                .layer(cors)
                .layer(tonic_web::GrpcWebLayer::new())
                .service(gateway_service),
        };

        let mut connection_builder = auto::Builder::new(TokioExecutor::new());
        connection_builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        connection_builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(HTTP2_KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(HTTP2_KEEP_ALIVE_TIMEOUT)
            .max_concurrent_streams(HTTP2_MAX_CONCURRENT_STREAMS);
        let connection_builder = Arc::new(connection_builder);

        let rate_limiter_cleanup = tokio::spawn(forget_idle_clients(
            self.state.clone(),
            shutdown.child_token(),
        ));
        let local_address = listener.local_addr().ok();
        tracing::info!(
            address = ?local_address,
            services = ?self.served_services,
            "gateway listening for gRPC and grpc-web"
        );

        let graceful = GracefulShutdown::new();
        loop {
            let (stream, peer) = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
            let connect_info = TcpConnectInfo {
                local_addr: local_address,
                remote_addr: Some(peer),
            };
            let connection_service = tower::util::MapRequest::new(
                service.clone(),
                move |mut request: http::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(connect_info.clone());
                    request
                },
            );
            let watcher = graceful.watcher();
            let connection_builder = connection_builder.clone();
            tokio::spawn(async move {
                let connection = connection_builder.serve_connection(
                    TokioIo::new(stream),
                    TowerToHyperService::new(connection_service),
                );
                if let Err(error) = watcher.watch(connection).await {
                    tracing::debug!(%peer, error = %error, "connection ended with an error");
                }
            });
        }
        drop(listener);

        let drain_timeout = Duration::from_secs(self.config.drain_timeout_seconds);
        tracing::info!(
            connections = graceful.count(),
            "gateway draining calls in flight"
        );
        let drained = tokio::time::timeout(drain_timeout, graceful.shutdown()).await;
        if drained.is_err() {
            tracing::warn!(
                ?drain_timeout,
                "calls still in flight after the drain timeout were cut off"
            );
        }
        rate_limiter_cleanup.abort();
        tracing::info!("gateway stopped");
        Ok(())
    }
}

/// The gateway's few HTTP routes, which are not gRPC: the pages that mails link to, the
/// sandbox's checkout page and the payment provider's webhooks. Each calls its service
/// through `grpc`, the gateway's own gRPC handling.
#[derive(Clone)]
struct HttpRoutes {
    mail_pages: MailPages,
    checkout_page: CheckoutPage,
    webhooks: Webhooks,
}

impl HttpRoutes {
    fn new(grpc: UpstreamService) -> Self {
        Self {
            mail_pages: MailPages::new(grpc.clone()),
            checkout_page: CheckoutPage::new(grpc.clone()),
            webhooks: Webhooks::new(grpc),
        }
    }

    /// Whether `path` is one of the routes.
    fn matches(path: &str) -> bool {
        is_mail_page(path) || path == SANDBOX_CHECKOUT_PATH || path == STRIPE_WEBHOOK_PATH
    }

    /// Answers `request`, whose path [`HttpRoutes::matches`].
    async fn answer(self, request: http::Request<hyper::body::Incoming>) -> http::Response<Body> {
        let path = request.uri().path();
        if path == SANDBOX_CHECKOUT_PATH {
            self.checkout_page.answer(request).await
        } else if path == STRIPE_WEBHOOK_PATH {
            self.webhooks.answer(request).await
        } else {
            self.mail_pages.answer(request).await
        }
    }
}

/// The first stop of every request: one of the HTTP routes, or gRPC.
#[derive(Clone)]
struct Entry<G> {
    http_routes: HttpRoutes,
    grpc: G,
}

impl<G> Service<http::Request<hyper::body::Incoming>> for Entry<G>
where
    G: Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    G::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each request is handed to a clone that is awaited ready on its own (`oneshot`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<hyper::body::Incoming>) -> Self::Future {
        if HttpRoutes::matches(request.uri().path()) {
            let routes = self.http_routes.clone();
            return Box::pin(async move { Ok(routes.answer(request).await) });
        }
        Box::pin(self.grpc.clone().oneshot(request))
    }
}

fn cors_layer(config: &GatewayConfig) -> anyhow::Result<CorsLayer> {
    let allowed_origins = if config.allows_any_origin() {
        AllowOrigin::any()
    } else {
        let origins = config
            .cors_allowed_origins
            .iter()
            .map(|origin| {
                http::HeaderValue::from_str(origin)
                    .with_context(|| format!("{origin:?} is not a valid origin"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(origins)
    };
    Ok(CorsLayer::new()
        .allow_origin(allowed_origins)
        .allow_methods([http::Method::POST])
        .allow_headers(CORS_ALLOWED_HEADERS)
        .expose_headers(CORS_EXPOSED_HEADERS)
        .max_age(CORS_MAX_AGE))
}

async fn forget_idle_clients(state: Arc<GatewayState>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(RATE_LIMITER_CLEANUP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => state.rate_limiter.forget_idle_clients(),
        }
    }
}
