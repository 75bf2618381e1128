//! Starting the mesh as real `gigmesh` processes, the way a user or Kubernetes would.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A free port on 127.0.0.1 (bound, then released for the child to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// A `gigmesh` command with a clean environment for configuration.
pub fn gigmesh(arguments: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gigmesh"));
    command
        .args(arguments)
        .env_remove("GIGMESH_CONFIG")
        .env("GIGMESH__TELEMETRY__LOG_FILTER", "warn,gigmesh=info")
        .env("GIGMESH__TELEMETRY__METRICS_LISTEN", "")
        // Every test calls from 127.0.0.1; the per-address limits are for real clients.
        .env("GIGMESH__GATEWAY__RATE_LIMIT_PER_MINUTE", "100000")
        .env("GIGMESH__GATEWAY__RATE_LIMIT_BURST", "100000")
        .env(
            "GIGMESH__AUTH__SETTINGS__THROTTLE__MAX_FAILURES_PER_ADDRESS",
            "100000",
        )
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("GIGMESH__") && !name.starts_with("GIGMESH__TELEMETRY") {
            command.env_remove(name);
        }
    }
    command
}

/// Waits until `address` answers gRPC health with SERVING.
pub async fn wait_until_serving(address: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            panic!("gigmesh exited early with {status}");
        }
        if let Ok(channel) = tonic::transport::Channel::from_shared(format!("http://{address}"))
            .expect("url")
            .connect()
            .await
        {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            if let Ok(response) = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                && response.into_inner().status
                    == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{address} never became SERVING");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `gigmesh dev` in a temporary data directory.
pub struct DevMesh {
    pub address: SocketAddr,
    pub data_dir: tempfile::TempDir,
    pub child: Child,
}

impl DevMesh {
    pub async fn start() -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(data_dir).await
    }

    pub async fn start_in(data_dir: tempfile::TempDir) -> Self {
        let address: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("address");
        let mut child = gigmesh(&[
            "dev",
            "--data-dir",
            data_dir.path().to_str().expect("utf-8 path"),
            "--listen",
            &address.to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("gigmesh dev starts");
        wait_until_serving(address, &mut child).await;
        Self {
            address,
            data_dir,
            child,
        }
    }

    pub fn mail_directory(&self) -> PathBuf {
        self.data_dir.path().join("mail")
    }

    /// Stops the process with SIGTERM and waits for a clean exit; returns the data dir.
    pub async fn stop(mut self) -> tempfile::TempDir {
        terminate(&mut self.child).await;
        self.data_dir
    }
}

/// Sends SIGTERM and asserts the process exits successfully within 15 s.
pub async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("gigmesh stops within 15 s of SIGTERM")
        .expect("exit status");
    assert!(status.success(), "gigmesh exited with {status}");
}

/// Path of a directory as a string.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}
