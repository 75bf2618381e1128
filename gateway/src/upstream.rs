//! Where the gateway sends a service's calls.

use std::convert::Infallible;
use std::time::Duration;

use anyhow::Context as _;
use tonic::Status;
use tonic::body::Body;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

/// Longest wait for a connection to an upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle upstream connection is pinged, and how long a ping may go unanswered.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

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
            .with_context(|| format!("{url:?} is not a valid upstream address"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        Ok(Self::channel(endpoint.connect_lazy()))
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
