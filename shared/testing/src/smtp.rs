//! A throwaway SMTP server per test: Python's `aiosmtpd` on a free 127.0.0.1 port, delivering
//! every accepted message into a Maildir that the test reads back.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Set to the Python interpreter to use instead of `python3` on `PATH`.
const PYTHON_VARIABLE: &str = "GIGMESH_PYTHON";

/// How long the server may take to accept its first connection.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// An `aiosmtpd` server with the `Mailbox` handler, killed on drop.
///
/// It accepts any sender and recipient without authentication or TLS, like a local relay.
/// Each delivered message lands as one file in the Maildir's `new/` folder with the headers
/// `X-MailFrom` and `X-RcptTo` (the SMTP envelope) added in front.
pub struct TestSmtpServer {
    port: u16,
    child: Option<Child>,
    directory: TempDir,
}

impl std::fmt::Debug for TestSmtpServer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TestSmtpServer")
            .field("address", &format!("{}:{}", self.host(), self.port))
            .field("maildir", &self.maildir())
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl TestSmtpServer {
    /// Starts a server and waits until it accepts connections.
    ///
    /// # Panics
    /// When Python or `aiosmtpd` is missing or the server does not start; the message says
    /// how to fix it.
    pub async fn start() -> TestSmtpServer {
        let directory = tempfile::tempdir().expect("create a directory for the smtp server");
        let mut server = TestSmtpServer {
            port: 0,
            child: None,
            directory,
        };
        // Another process may take the free port between the probe and the server's bind;
        // try a few ports before giving up.
        let mut last_failure = String::new();
        for _ in 0..3 {
            server.port = free_port();
            match server.spawn_and_wait().await {
                Ok(()) => return server,
                Err(failure) => last_failure = failure,
            }
        }
        panic!(
            "aiosmtpd did not start: {last_failure}\n\
             install it with `python3 -m pip install aiosmtpd` (or set {PYTHON_VARIABLE} to a \
             Python that has it)"
        );
    }

    /// The host to connect to, `127.0.0.1`.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Maildir the server delivers into.
    pub fn maildir(&self) -> PathBuf {
        self.directory.path().join("maildir")
    }

    /// Every message delivered so far, raw (RFC 5322 bytes), oldest first.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let new_folder = self.maildir().join("new");
        let Ok(entries) = std::fs::read_dir(&new_folder) else {
            return Vec::new();
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let modified = entry.metadata().and_then(|meta| meta.modified()).ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read(path).ok())
            .collect()
    }

    /// Waits until at least `count` messages were delivered and returns them all.
    ///
    /// # Panics
    /// When fewer arrived within `timeout`.
    pub async fn wait_for_messages(&self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            if Instant::now() >= deadline {
                panic!(
                    "expected {count} delivered messages within {timeout:?}, got {}; server log:\n{}",
                    messages.len(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the server; clients see connection failures afterwards.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    fn log_path(&self) -> PathBuf {
        self.directory.path().join("aiosmtpd.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log_path = self.log_path();
        let log = open_log(&log_path)?;
        let log_for_stderr = log
            .try_clone()
            .map_err(|error| format!("open {}: {error}", log_path.display()))?;
        let python = std::env::var(PYTHON_VARIABLE).unwrap_or_else(|_| "python3".to_owned());
        let mut child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot run {python}: {error}"))?;

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}; log:\n{}", self.log()));
            }
            if TcpStream::connect((self.host(), self.port)).await.is_ok() {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill().await;
                return Err(format!(
                    "not listening after {STARTUP_TIMEOUT:?}; log:\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn open_log(path: &Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|error| format!("open {}: {error}", path.display()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("find a free port")
}
