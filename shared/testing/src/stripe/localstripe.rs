//! A localstripe server (PyPI `localstripe`, a stateful fake of Stripe's API) per test, on
//! a free 127.0.0.1 port, killed on drop. Missing localstripe is a failure that says how to
//! install it, never a skipped test.
//!
//! localstripe's own `start()` binds every interface and keeps its store in the fixed
//! file `/tmp/localstripe.pickle`, which parallel tests would share. So the test writes a
//! launcher to its own temporary directory that imports localstripe's aiohttp app, points
//! the store's pickle at that directory, starts from an empty store, and runs the app on
//! 127.0.0.1 only.

use crate::free_port;
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;
use tokio::process::{Child, Command};

/// How long localstripe may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

const LAUNCHER: &str = r#"
import os
import pickle
import sys

from aiohttp import web
from localstripe import resources, server

port = int(sys.argv[1])
pickle_path = os.path.join(sys.argv[2], 'localstripe.pickle')


def dump_to_disk(store):
    with open(pickle_path, 'wb') as file:
        pickle.dump(store, file, protocol=pickle.HIGHEST_PROTOCOL)


resources.Store.dump_to_disk = dump_to_disk
resources.Store.try_load_from_disk = lambda store: None

web.run_app(server.app, host='127.0.0.1', port=port, print=None)
"#;

fn missing_localstripe_message(detail: &str) -> String {
    format!(
        "tests against the Stripe fake need localstripe (PyPI), which `python3 -c 'import \
         localstripe'` cannot import ({detail}). Install it with scripts/install-test-tools \
         (or `python3 -m pip install localstripe`); CI installs it."
    )
}

/// A running localstripe.
pub struct LocalStripe {
    port: u16,
    _child: Child,
    _directory: TempDir,
}

impl LocalStripe {
    /// Starts localstripe and waits until it accepts connections.
    ///
    /// # Panics
    /// When localstripe is not installed (the message says how to install it) or does not
    /// start.
    pub async fn start() -> Self {
        let probe = Command::new("python3")
            .args(["-c", "import localstripe"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await;
        match probe {
            Ok(output) if output.status.success() => {}
            Ok(output) => panic!(
                "{}",
                missing_localstripe_message(String::from_utf8_lossy(&output.stderr).trim())
            ),
            Err(error) => panic!("{}", missing_localstripe_message(&error.to_string())),
        }
        let directory = tempfile::tempdir().expect("a directory for localstripe");
        let launcher = directory.path().join("run_localstripe.py");
        std::fs::write(&launcher, LAUNCHER).expect("write the localstripe launcher");
        let mut last_failure = String::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new("python3")
                .arg(&launcher)
                .arg(port.to_string())
                .arg(directory.path())
                .env("TMPDIR", directory.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("spawn python3 for localstripe");
            match wait_until_listening(port).await {
                Ok(()) => {
                    return Self {
                        port,
                        _child: child,
                        _directory: directory,
                    };
                }
                Err(failure) => last_failure = failure,
            }
        }
        panic!("localstripe did not start: {last_failure}");
    }

    /// Its base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

async fn wait_until_listening(port: u16) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Ok(_) => return Ok(()),
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("nothing listens on 127.0.0.1:{port}: {error}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
