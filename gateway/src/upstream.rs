//! Where the gateway sends a service's calls.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tonic::Status;
use tonic::body::Body;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

use crate::resolve::{ResolveAddresses, UpstreamDiscovery};

/// Longest wait for a connection to an upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle upstream connection is pinged, and how long a ping may go unanswered.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Endpoint changes a balanced channel queues before discovery waits for it to take them.
const ENDPOINT_CHANGE_QUEUE: usize = 64;

/// The HTTP service calls are forwarded to, as the gateway holds it.
pub(crate) type UpstreamService =
    BoxCloneSyncService<http::Request<Body>, http::Response<Body>, Infallible>;

/// The owner of a service's calls: the service's routes in the same process (`gigmesh dev`)
/// or a channel to the process that serves it (`gigmesh gateway` in Kubernetes). Messages
/// pass through undecoded either way.
#[derive(Clone)]
pub struct Upstream {
    service: UpstreamService,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Upstream").finish_non_exhaustive()
    }
}

impl Upstream {
    /// Calls `routes` in this process.
    pub fn in_process(routes: Routes) -> Self {
        Self {
            service: BoxCloneSyncService::new(routes),
        }
    }

    /// Calls over `channel`; a call the channel cannot deliver is answered `UNAVAILABLE`.
    pub fn channel(channel: Channel) -> Self {
        let service = tower::service_fn(move |request: http::Request<Body>| {
            let channel = channel.clone();
            async move {
                let uri = request.uri().clone();
                match channel.oneshot(request).await {
                    Ok(response) => Ok::<_, Infallible>(response),
                    Err(error) => {
                        tracing::warn!(%uri, error = %error, "upstream call failed");
                        Ok(
                            Status::unavailable("the service is unavailable, try again later")
                                .into_http(),
                        )
                    }
                }
            }
        });
        Self {
            service: BoxCloneSyncService::new(service),
        }
    }

    /// Calls the process at `url` (e.g. `http://users:50052`) over one HTTP/2 channel,
    /// connecting on first use and reconnecting as needed.
    pub fn connect_lazy(url: &str) -> anyhow::Result<Self> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("{url:?} is not a valid upstream address"))?;
        Ok(Self::channel(configure(endpoint).connect_lazy()))
    }

    /// Calls every process that `url`'s host resolves to (e.g. each pod behind the
    /// headless Service `users` of `http://users:50052`), one HTTP/2 connection each, every
    /// call to one of them picked at random (power of two choices). The returned
    /// [`UpstreamDiscovery`] keeps the set of processes current: run it, or step it with
    /// `refresh`. Until it first resolves the host, calls go to `url` as
    /// [`connect_lazy`](Self::connect_lazy) would send them.
    pub fn balanced(
        url: &str,
        resolver: Arc<dyn ResolveAddresses>,
    ) -> anyhow::Result<(Self, UpstreamDiscovery)> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .with_context(|| format!("{url:?} is not a valid upstream address"))?;
        let uri = endpoint.uri();
        let scheme = uri.scheme_str().unwrap_or("http").to_owned();
        let host = uri
            .host()
            .with_context(|| format!("{url:?} names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let (channel, changes) = Channel::balance_channel(ENDPOINT_CHANGE_QUEUE);
        let mut discovery =
            UpstreamDiscovery::new(scheme, host, port, resolver, configure(endpoint), changes);
        discovery.seed();
        Ok((Self::channel(channel), discovery))
    }

    /// Any HTTP service that answers gRPC (for other transports and for tests).
    pub fn service<S>(service: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        Self {
            service: BoxCloneSyncService::new(service),
        }
    }

    pub(crate) fn into_service(self) -> UpstreamService {
        self.service
    }
}

/// The settings of every upstream connection.
pub(crate) fn configure(endpoint: Endpoint) -> Endpoint {
    endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
}
