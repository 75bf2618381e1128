//! Runs a service's gRPC routes on a listener, the same way in every process.

use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower::ServiceBuilder;

use crate::metrics::GrpcMetricsLayer;

/// Limits of a served process.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Fully qualified names of the services in the routes, reported SERVING by health.
    pub service_names: Vec<String>,
    /// Longest a call may run before it is cancelled (`DEADLINE_EXCEEDED` to the client).
    pub request_timeout: Duration,
    /// Concurrent calls per connection before new ones are shed with `RESOURCE_EXHAUSTED`.
    pub concurrency_per_connection: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            service_names: Vec::new(),
            request_timeout: Duration::from_secs(30),
            concurrency_per_connection: 256,
        }
    }
}

/// Health (overall and per service, SERVING) and reflection (v1 and v1alpha) over every
/// gigmesh proto, plus the `google.rpc` error details so tools like grpcurl can show
/// `BadRequest` field violations, as routes to add beside a service's own.
pub async fn reflection_routes(service_names: &[String]) -> anyhow::Result<Routes> {
    let (routes, _health_reporter) = health_and_reflection(service_names).await?;
    Ok(routes)
}

/// The routes of [`reflection_routes`] and the reporter that can change their health.
async fn health_and_reflection(
    service_names: &[String],
) -> anyhow::Result<(Routes, tonic_health::server::HealthReporter)> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    for name in service_names {
        health_reporter
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = reflection_builder(service_names)
        .build_v1()
        .context("cannot build the reflection service")?;
    let reflection_v1alpha = reflection_builder(service_names)
        .build_v1alpha()
        .context("cannot build the reflection service")?;
    let routes = Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    Ok((routes, health_reporter))
}

/// Reflection over every gigmesh proto (and health's and the error details'), advertising
/// `service_names` and health: a contract whose service this process does not serve (yet)
/// is not listed, so `grpcurl list` shows what answers. With no names, every service of
/// the descriptor sets is listed.
fn reflection_builder(service_names: &[String]) -> tonic_reflection::server::Builder<'static> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(gigmesh_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
    if !service_names.is_empty() {
        for name in STANDARD_SERVICES {
            builder = builder.with_service_name(name);
        }
        for name in service_names {
            builder = builder.with_service_name(name.as_str());
        }
    }
    builder
}

/// Health and reflection, beside every process's own services.
const STANDARD_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Serves `routes` (plus health and reflection) on `listener` until `shutdown` is cancelled,
/// then stops accepting and drains the calls in flight.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // The service's own routes answer first; whatever they do not know goes on to health and
    // reflection, whose fallback in turn answers UNIMPLEMENTED.
    let (common_routes, health_reporter) = health_and_reflection(&options.service_names).await?;
    let all_routes = routes.into_axum_router().fallback_service(common_routes);

    // Once shutdown starts, health says NOT_SERVING so load balancers stop sending new
    // calls while the ones in flight drain.
    let draining = shutdown.clone();
    let service_names = options.service_names.clone();
    tokio::spawn(async move {
        draining.cancelled().await;
        health_reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        for name in &service_names {
            health_reporter
                .set_service_status(name, tonic_health::ServingStatus::NotServing)
                .await;
        }
    });

    // Layers, outermost first:
    // 1. trace: one span per RPC, child of the caller's W3C context, so everything below
    //    (including metrics and errors) is attributed to the call;
    // 2. metrics: counts and times every call, including the ones refused below;
    // 3. tonic's own timeout, per-connection concurrency limit and load shedding (set on the
    //    builder, they run inside our layers) turn overload into RESOURCE_EXHAUSTED instead of
    //    queueing without bound;
    // 4. the caller layer (token verification) is part of each service's routes, innermost,
    //    so no unauthenticated work is done before the cheap refusals above.
    let layers = ServiceBuilder::new()
        .layer(TraceLayer)
        .layer(GrpcMetricsLayer)
        .into_inner();

    // Replies are written as several small frames (headers, message, trailers); without
    // TCP_NODELAY, Nagle's algorithm holds the later ones back until the peer acknowledges the
    // first, which costs a delayed ACK (tens of milliseconds) on calls that overlap. Tonic's
    // own `tcp_nodelay` does not reach connections accepted from a listener we pass in.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .timeout(options.request_timeout)
        .concurrency_limit_per_connection(options.concurrency_per_connection)
        .load_shed(true)
        .layer(layers)
        .add_routes(Routes::from(all_routes))
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await
        .context("gRPC server failed")
}

/// Opens one span per RPC with OpenTelemetry's RPC semantic conventions, parented on the
/// incoming `traceparent`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceLayer;

impl<S> tower::Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

/// The service made by [`TraceLayer`].
#[derive(Debug, Clone)]
pub struct TraceService<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for TraceService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tracing::instrument::Instrumented<S::Future>;

    fn poll_ready(
        &mut self,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        use tracing::Instrument as _;
        let (service, method) = crate::metrics::split_grpc_path(request.uri().path());
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let span = tracing::info_span!(
            "rpc",
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = method,
            request_id = request_id,
        );
        gigmesh_telemetry::propagation::set_parent_from_headers(&span, request.headers());
        self.inner.call(request).instrument(span)
    }
}
