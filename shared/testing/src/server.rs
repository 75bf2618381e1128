//! Serving a service's routes the way production does, on a random local port.

use std::net::SocketAddr;
use std::sync::Arc;

use gigmesh_events::{EmbeddedBus, SharedBus};
use gigmesh_runtime::{RunningService, Serving};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Channel;

/// A service's routes started by [`RunningService`], as every process starts them (health,
/// reflection, metrics, the same layers as production), on 127.0.0.1 with a port the OS
/// picked. Its background loops are the test's to step. Stops on drop.
pub struct TestServer {
    address: SocketAddr,
    shutdown: CancellationToken,
    running: Option<RunningService>,
}

impl TestServer {
    /// Serves `routes`; `service_names` are reported SERVING by health.
    pub async fn start(routes: Routes, service_names: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a local port");
        let shutdown = CancellationToken::new();
        let serving = Serving {
            routes,
            service_names,
            background: Vec::new(),
        };
        let running =
            RunningService::serve(listener, serving, shutdown.clone()).expect("start serving");
        Self {
            address: running.address(),
            shutdown,
            running: Some(running),
        }
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://<address>`, for generated clients' `connect`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A connected channel.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("a valid url")
            .connect()
            .await
            .expect("the test server accepts connections")
    }

    /// Shuts down gracefully and checks the server stopped without an error.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("the server stopped cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An embedded event log in its own temporary directory, removed on drop.
pub struct TestBus {
    bus: SharedBus,
    _directory: tempfile::TempDir,
}

impl TestBus {
    /// Opens a fresh embedded log.
    pub async fn embedded() -> Self {
        let directory = tempfile::tempdir().expect("temporary directory for the event log");
        let bus = EmbeddedBus::open(directory.path().join("bus.db"))
            .await
            .expect("open the embedded event log");
        Self {
            bus: Arc::new(bus),
            _directory: directory,
        }
    }

    /// The bus, to hand to a service.
    pub fn bus(&self) -> SharedBus {
        self.bus.clone()
    }
}
