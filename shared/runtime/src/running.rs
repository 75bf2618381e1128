//! A service bound to its port and running: the one startup every process, test and
//! benchmark goes through.

use std::net::SocketAddr;

use anyhow::Context as _;
use gigmesh_events::BackgroundTask;
use gigmesh_grpc::ServeOptions;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::process::{join_all, spawn_background};
use crate::service::ServiceApp;

/// Whether the service's background loops run by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// Spawned beside the server, until shutdown (every process).
    Run,
    /// Not spawned: the caller steps them with `run_once` / `poll_once` (tests).
    SteppedByCaller,
}

/// What a [`RunningService`] serves: the routes, the names health reports, the loops.
pub struct Serving {
    /// The gRPC routes.
    pub routes: Routes,
    /// Fully qualified gRPC service names, reported SERVING by health.
    pub service_names: Vec<String>,
    /// Background loops to spawn beside the server.
    pub background: Vec<Box<dyn BackgroundTask>>,
}

impl Serving {
    /// What `app` serves; its loops only with [`Background::Run`].
    pub fn of(app: &dyn ServiceApp, background: Background) -> Self {
        Self {
            routes: app.routes(),
            service_names: app
                .description()
                .grpc_services
                .iter()
                .map(|name| (*name).to_owned())
                .collect(),
            background: match background {
                Background::Run => app.background(),
                Background::SteppedByCaller => Vec::new(),
            },
        }
    }
}

/// A service bound to its listener, with its background loops running and its routes
/// served by `gigmesh_grpc::serve` (health, reflection, metrics, limits). It stops when the
/// shutdown token is cancelled: the server drains the calls in flight, then every loop
/// finishes its step.
pub struct RunningService {
    address: SocketAddr,
    shutdown: CancellationToken,
    server: JoinHandle<anyhow::Result<()>>,
    tasks: JoinSet<()>,
}

impl RunningService {
    /// Binds `listen` (port 0 picks a free one) and starts `app` on it.
    pub async fn start(
        app: &dyn ServiceApp,
        listen: &str,
        background: Background,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        Self::serve(listener, Serving::of(app, background), shutdown)
    }

    /// Starts serving `serving` on a bound `listener`.
    pub fn serve(
        listener: TcpListener,
        serving: Serving,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let address = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let mut tasks = JoinSet::new();
        spawn_background(&mut tasks, serving.background, &shutdown);
        let options = ServeOptions {
            service_names: serving.service_names,
            ..ServeOptions::default()
        };
        let server = tokio::spawn(gigmesh_grpc::serve(
            listener,
            serving.routes,
            options,
            shutdown.clone(),
        ));
        Ok(Self {
            address,
            shutdown,
            server,
            tasks,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The token that stops it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled (or the server fails, which cancels
    /// it), then waits for the calls in flight and for every background loop.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = match self.server.await {
            Ok(served) => served,
            Err(error) => Err(anyhow::Error::new(error).context("the gRPC server task failed")),
        };
        self.shutdown.cancel();
        join_all(self.tasks).await;
        served
    }

    /// Cancels the shutdown token and waits as [`RunningService::run_until_stopped`] does.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.run_until_stopped().await
    }
}
