//! gigmesh as a child process of a benchmark: started from the release binary without the
//! caller's configuration, its output in a log file, ready once `GetJwks` answers through
//! its port (auth, a gateway, `gigmesh dev`) or, for a service that serves no `GetJwks`,
//! once gRPC health answers SERVING; killed when dropped.

use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gigmesh_proto::auth::GetJwksRequest;
use gigmesh_proto::auth::auth_service_client::AuthServiceClient;
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A running gigmesh process.
pub struct GigmeshProcess {
    child: Child,
    /// Its process id, for reading `/proc/<pid>/status`.
    pub pid: u32,
    /// Where it answers gRPC (the gateway, or the one service).
    pub address: SocketAddr,
    log: PathBuf,
    what: &'static str,
}

/// What shows that a started process is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// `GetJwks` answers through its port: auth itself, a gateway or `gigmesh dev`.
    Jwks,
    /// gRPC health answers SERVING for the whole server: any `gigmesh serve <service>`.
    Health,
}

/// `gigmesh <args>` with none of the caller's `GIGMESH_CONFIG` or `GIGMESH__` variables, so
/// only what the benchmark sets configures it.
pub fn gigmesh_command(gigmesh_bin: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(gigmesh_bin);
    command.args(args).env_remove("GIGMESH_CONFIG");
    for (name, _) in std::env::vars() {
        if name.starts_with("GIGMESH__") {
            command.env_remove(name);
        }
    }
    command
}

impl GigmeshProcess {
    /// Spawns `command` (`what` names it in errors) with its output in `log`, and waits up to
    /// `start_timeout` until `GetJwks` answers at `address`; an error carries the log's tail.
    pub async fn start(
        what: &'static str,
        command: Command,
        address: SocketAddr,
        log: PathBuf,
        start_timeout: Duration,
    ) -> anyhow::Result<Self> {
        Self::start_until(what, command, address, log, start_timeout, Readiness::Jwks).await
    }

    /// Like [`GigmeshProcess::start`], ready once `readiness` holds.
    pub async fn start_until(
        what: &'static str,
        mut command: Command,
        address: SocketAddr,
        log: PathBuf,
        start_timeout: Duration,
        readiness: Readiness,
    ) -> anyhow::Result<Self> {
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("cannot create {what}'s log"))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let pid = child
            .id()
            .with_context(|| format!("{what} exited at once"))?;
        let mut process = Self {
            child,
            pid,
            address,
            log,
            what,
        };
        if let Err(error) = process.wait_until_answering(start_timeout, readiness).await {
            return Err(error.context(format!("{what}'s log:\n{}", process.log_tail())));
        }
        Ok(process)
    }

    async fn wait_until_answering(
        &mut self,
        start_timeout: Duration,
        readiness: Readiness,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + start_timeout;
        loop {
            if let Some(status) = self.exited()? {
                anyhow::bail!("{} exited early with {status}", self.what);
            }
            if let Ok(channel) = connect(self.address).await
                && answers(channel, readiness).await
            {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not answer within {start_timeout:?}",
                self.what
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How it exited, if it did.
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        const LINES: usize = 40;
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LINES)..].join("\n")
    }

    /// Kills the process and waits for it to exit.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.child.start_kill().ok();
        self.child
            .wait()
            .await
            .with_context(|| format!("cannot wait for {}", self.what))?;
        Ok(())
    }
}

/// Whether the process behind `channel` shows `readiness`.
async fn answers(channel: Channel, readiness: Readiness) -> bool {
    match readiness {
        Readiness::Jwks => AuthServiceClient::new(channel)
            .get_jwks(GetJwksRequest {})
            .await
            .is_ok(),
        Readiness::Health => HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .is_ok_and(|answer| answer.into_inner().status == ServingStatus::Serving as i32),
    }
}

/// A channel on its own HTTP/2 connection to `address`.
pub async fn connect(address: SocketAddr) -> anyhow::Result<Channel> {
    Endpoint::from_shared(format!("http://{address}"))?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("cannot connect to {address}"))
}

/// A free port on 127.0.0.1 (bound, then released for the child to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(StdTcpListener::bind("127.0.0.1:0")
        .context("cannot listen on 127.0.0.1")?
        .local_addr()?
        .port())
}
