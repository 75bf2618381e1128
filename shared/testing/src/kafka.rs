//! A throwaway Kafka-protocol broker (tansu, in-memory storage) per test.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer as _};
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// Set to `1` to skip Kafka tests (with a notice) on machines without tansu.
const SKIP_VARIABLE: &str = "GIGMESH_SKIP_KAFKA_TESTS";

/// Set to the tansu executable to use instead of the one on `PATH` or in `~/.cargo/bin`.
const BINARY_VARIABLE: &str = "GIGMESH_TANSU";

/// How long a broker may take to answer its first metadata request.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A tansu broker on a free 127.0.0.1 port with in-memory storage, killed on drop.
///
/// [`TestKafka::stop`] and [`TestKafka::restart`] take it down and bring it back on the same
/// port (with empty storage), to test behaviour while the broker is unreachable.
pub struct TestKafka {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    log_directory: TempDir,
}

impl std::fmt::Debug for TestKafka {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TestKafka")
            .field("brokers", &self.brokers())
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl TestKafka {
    /// Starts a broker and waits until it answers metadata requests.
    ///
    /// # Panics
    /// When tansu is not installed or does not start; the message says how to fix it.
    pub async fn start() -> TestKafka {
        let binary = tansu_binary().unwrap_or_else(|| panic!("{}", missing_tansu_message()));
        let log_directory = tempfile::tempdir().expect("create a directory for the broker log");
        let mut kafka = TestKafka {
            binary,
            port: 0,
            child: None,
            log_directory,
        };
        // Another process may grab the free port between our probe and tansu's bind; try a
        // few ports before giving up.
        let mut last_failure = String::new();
        for _ in 0..3 {
            kafka.port = free_port();
            match kafka.spawn_and_wait().await {
                Ok(()) => return kafka,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("tansu did not start: {last_failure}");
    }

    /// Like [`TestKafka::start`], but returns `None` (after printing a notice) when tansu is
    /// missing and `GIGMESH_SKIP_KAFKA_TESTS=1` is set. Without that variable a missing tansu
    /// fails the test.
    pub async fn start_or_skip() -> Option<TestKafka> {
        if tansu_binary().is_none() && std::env::var(SKIP_VARIABLE).is_ok_and(|value| value == "1")
        {
            eprintln!("skipping Kafka test: tansu is not installed and {SKIP_VARIABLE}=1");
            return None;
        }
        Some(Self::start().await)
    }

    /// The bootstrap servers, `127.0.0.1:<port>`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker; clients see it as unreachable until [`TestKafka::restart`].
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the broker again on the same port. Storage is in memory, so topics and
    /// committed offsets are gone: create topics again.
    pub async fn restart(&mut self) {
        self.stop().await;
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match self.spawn_and_wait().await {
                Ok(()) => return,
                // The old socket may linger for a moment before the port can be bound again.
                Err(failure) if Instant::now() < deadline => {
                    eprintln!("tansu restart failed, retrying: {failure}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(failure) => panic!("tansu did not restart: {failure}"),
            }
        }
    }

    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let log_path = self.log_directory.path().join("tansu.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|error| format!("open {}: {error}", log_path.display()))?;
        let log_for_stderr = log
            .try_clone()
            .map_err(|error| format!("open {}: {error}", log_path.display()))?;
        let mut child = Command::new(&self.binary)
            .arg("broker")
            .args(["--listener-url", &listener])
            .args(["--advertised-listener-url", &listener])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("spawn {}: {error}", self.binary.display()))?;

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "tansu exited with {status}; log:\n{}",
                    log_tail(&log_path)
                ));
            }
            if answers_metadata(&self.brokers()).await {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill().await;
                return Err(format!(
                    "tansu did not answer metadata requests within {STARTUP_TIMEOUT:?}; log:\n{}",
                    log_tail(&log_path)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Whether a broker at `brokers` answers a metadata request.
async fn answers_metadata(brokers: &str) -> bool {
    let address = brokers.to_owned();
    if tokio::net::TcpStream::connect(&address).await.is_err() {
        return false;
    }
    tokio::task::spawn_blocking(move || {
        let producer: BaseProducer = match ClientConfig::new()
            .set("bootstrap.servers", &address)
            .set("log_level", "3")
            .create()
        {
            Ok(producer) => producer,
            Err(_) => return false,
        };
        producer
            .client()
            .fetch_metadata(None, Duration::from_secs(2))
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// tansu from `GIGMESH_TANSU`, `PATH`, or `~/.cargo/bin`.
fn tansu_binary() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os(BINARY_VARIABLE) {
        let path = PathBuf::from(explicit);
        return path.is_file().then_some(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|directory| directory.join("tansu"))
            .find(|candidate| candidate.is_file())
    });
    on_path.or_else(|| {
        let home = std::env::var_os("HOME")?;
        let candidate = Path::new(&home).join(".cargo/bin/tansu");
        candidate.is_file().then_some(candidate)
    })
}

fn missing_tansu_message() -> String {
    format!(
        "Kafka tests need the tansu broker, which was not found ({BINARY_VARIABLE}, PATH, \
         ~/.cargo/bin). Install it with `cargo install tansu --locked --features dynostore`, \
         or set {SKIP_VARIABLE}=1 to skip Kafka tests."
    )
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
