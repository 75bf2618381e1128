//! A throwaway SMTP server per test: Python's `aiosmtpd` on a free 127.0.0.1 port, delivering
//! every accepted message into a Maildir that the test reads back. On request it refuses the
//! recipients of one domain with a given reply (`550 …`, `451 …`), to test how a client
//! treats permanent and temporary SMTP failures.

use crate::free_port;
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

/// The Python module (written next to the Maildir) holding [`REFUSING_HANDLER_CLASS`].
const REFUSING_HANDLER_MODULE: &str = "gigmesh_refusing_mailbox";

/// The `aiosmtpd` handler class used when recipients are refused.
const REFUSING_HANDLER_CLASS: &str = "gigmesh_refusing_mailbox.RefusingMailbox";

/// `aiosmtpd`'s `Mailbox` handler, except that `RCPT TO` for a recipient in one domain is
/// answered with a fixed reply (always, or the first `times` times) and the refused address
/// appended to a log file.
const REFUSING_HANDLER_SOURCE: &str = r#"
from aiosmtpd.handlers import Mailbox


class RefusingMailbox(Mailbox):
    def __init__(self, mail_dir, refused_log, domain, reply, times):
        super().__init__(mail_dir)
        self.refused_log = refused_log
        self.domain = domain.lower()
        self.reply = reply
        self.remaining = None if times == "always" else int(times)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 5:
            parser.error("expected MAILDIR REFUSED_LOG DOMAIN REPLY TIMES")
        return cls(*args)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        domain = address.rpartition("@")[2].lower()
        if domain == self.domain and self.remaining != 0:
            if self.remaining is not None:
                self.remaining -= 1
            with open(self.refused_log, "a") as log:
                log.write(address + "\n")
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

/// Which recipients the server refuses, and how.
#[derive(Debug, Clone)]
struct RecipientRefusal {
    /// The recipients' domain, compared case-insensitively.
    domain: String,
    /// The whole SMTP reply line, code first.
    reply: String,
    /// How many recipients are refused before the server accepts them; `None` for all.
    times: Option<u32>,
}

/// An `aiosmtpd` server with the `Mailbox` handler, killed on drop.
///
/// It accepts any sender and recipient without authentication or TLS, like a local relay
/// (unless started with [`TestSmtpServer::start_refusing_recipients`]). Each delivered
/// message lands as one file in the Maildir's `new/` folder with the headers `X-MailFrom`
/// and `X-RcptTo` (the SMTP envelope) added in front.
pub struct TestSmtpServer {
    port: u16,
    child: Option<Child>,
    directory: TempDir,
    refusal: Option<RecipientRefusal>,
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
        Self::start_with(None).await
    }

    /// Starts a server that answers `RCPT TO` for every recipient in `domain` with `reply`,
    /// a whole SMTP reply line such as `550 5.1.1 no such user` (permanent) or
    /// `451 4.3.0 try later` (temporary), instead of accepting it. With `times`, only the
    /// first `times` of those recipients are refused and later ones accepted, like a server
    /// that recovered. Other recipients are accepted as by [`start`](Self::start).
    ///
    /// # Panics
    /// As [`start`](Self::start).
    pub async fn start_refusing_recipients(
        domain: &str,
        reply: &str,
        times: Option<u32>,
    ) -> TestSmtpServer {
        Self::start_with(Some(RecipientRefusal {
            domain: domain.to_owned(),
            reply: reply.to_owned(),
            times,
        }))
        .await
    }

    async fn start_with(refusal: Option<RecipientRefusal>) -> TestSmtpServer {
        let directory = tempfile::tempdir().expect("create a directory for the smtp server");
        if refusal.is_some() {
            let module = directory
                .path()
                .join(format!("{REFUSING_HANDLER_MODULE}.py"));
            std::fs::write(&module, REFUSING_HANDLER_SOURCE)
                .expect("write the refusing smtp handler");
        }
        let mut server = TestSmtpServer {
            port: 0,
            child: None,
            directory,
            refusal,
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

    /// Every recipient the server refused so far (see
    /// [`start_refusing_recipients`](Self::start_refusing_recipients)), oldest first; one
    /// entry per refused `RCPT TO`, so a client that retries appears once per attempt.
    pub fn refused_recipients(&self) -> Vec<String> {
        std::fs::read_to_string(self.refused_log_path())
            .map(|log| log.lines().map(str::to_owned).collect())
            .unwrap_or_default()
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

    fn refused_log_path(&self) -> PathBuf {
        self.directory.path().join("refused-recipients.log")
    }

    /// `PYTHONPATH` with the server's directory (holding the refusing handler) in front.
    fn python_path(&self) -> std::ffi::OsString {
        let mut paths = vec![self.directory.path().to_path_buf()];
        if let Some(existing) = std::env::var_os("PYTHONPATH") {
            paths.extend(std::env::split_paths(&existing));
        }
        std::env::join_paths(paths).unwrap_or_else(|_| self.directory.path().into())
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
        let mut command = Command::new(&python);
        command
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port));
        match &self.refusal {
            None => {
                command
                    .args(["-c", "aiosmtpd.handlers.Mailbox"])
                    .arg(self.maildir());
            }
            Some(refusal) => {
                let times = refusal
                    .times
                    .map_or_else(|| "always".to_owned(), |times| times.to_string());
                command
                    .args(["-c", REFUSING_HANDLER_CLASS])
                    .arg(self.maildir())
                    .arg(self.refused_log_path())
                    .args([&refusal.domain, &refusal.reply, &times])
                    .env("PYTHONPATH", self.python_path());
            }
        }
        let mut child = command
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
