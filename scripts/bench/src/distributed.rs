//! The order and payment services in distributed mode, as production runs them: a
//! Kafka-protocol broker (tansu, in-memory storage, as the tests start it), one fresh
//! PostgreSQL database per service on the given server, `gigmesh serve auth`, `gigmesh serve
//! orders` and `gigmesh serve payments` (release binary, each its own process, configured only
//! through `GIGMESH__` variables, each applying its own migrations at start), and `gigmesh
//! gateway` in front of them. Everything listens on 127.0.0.1. Users, gigs, search and
//! notifications are not started: nothing the benchmarks measure waits for them, and orders
//! learns its gigs from the `GigChanged` events the benchmark publishes (see
//! [`crate::market::publish_gig`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use gigmesh_testing::{TestKafka, TestMailTokenKeys};
use sqlx::{Connection as _, Executor as _, PgConnection};
use tempfile::TempDir;

use crate::process::{GigmeshProcess, Readiness, free_port, gigmesh_command};

/// How long a process may take to answer after it starts (migrations included).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Per-address budgets no benchmark reaches: every call comes from 127.0.0.1, and the
/// limits exist for real clients, not for measuring.
const UNREACHABLE_LIMIT: &str = "1000000000";
/// The services the order benchmarks start, in start order (auth first: the others read
/// its keys).
pub const ORDER_SERVICES: &[&str] = &["auth", "orders", "payments"];

/// The running distributed mesh; every process is killed and every database dropped when
/// it is stopped (or, failing that, dropped).
pub struct DistributedMesh {
    /// `gigmesh gateway`, where clients call.
    pub gateway: GigmeshProcess,
    /// The services, in start order.
    pub services: Vec<GigmeshProcess>,
    /// Their names (`chat-b`: a second chat replica on chat's database).
    names: Vec<&'static str>,
    /// The broker's bootstrap servers.
    pub brokers: String,
    /// The databases, by service.
    pub databases: ScratchDatabases,
    kafka: TestKafka,
    _logs: TempDir,
}

impl DistributedMesh {
    /// Starts the broker, creates the databases (named `<prefix>_<service>`) on the server
    /// at `server_url`, and starts auth, orders, payments and the gateway from
    /// `gigmesh_bin`.
    pub async fn start(
        gigmesh_bin: &Path,
        server_url: &str,
        prefix: &str,
    ) -> anyhow::Result<DistributedMesh> {
        Self::start_services(gigmesh_bin, server_url, prefix, ORDER_SERVICES).await
    }

    /// The same with `services` (auth first; `chat-b` is a second chat replica after
    /// `chat`, on its database, with replica id `b`, not behind the gateway).
    pub async fn start_services(
        gigmesh_bin: &Path,
        server_url: &str,
        prefix: &str,
        services_to_start: &[&'static str],
    ) -> anyhow::Result<DistributedMesh> {
        let logs = tempfile::tempdir().context("cannot create a directory for the logs")?;
        let kafka = TestKafka::start().await;
        let brokers = kafka.brokers();
        let mut databases = ScratchDatabases::new(server_url, prefix);
        let addresses: Vec<SocketAddr> = services_to_start
            .iter()
            .map(|_| free_port().map(|port| SocketAddr::from(([127, 0, 0, 1], port))))
            .collect::<anyhow::Result<_>>()?;
        let mail_token_keys = TestMailTokenKeys::generate("bench");
        let mut services = Vec::new();
        for (service, address) in services_to_start.iter().zip(&addresses) {
            let (served, url) = if *service == "chat-b" {
                let url = databases
                    .url("chat")
                    .context("chat-b starts after chat")?
                    .to_owned();
                ("chat", url)
            } else {
                (*service, databases.create(service).await?)
            };
            let section = served.to_uppercase();
            let mut command = gigmesh_command(gigmesh_bin, &["serve", served]);
            common_environment(&mut command, &brokers);
            command
                .env(format!("GIGMESH__{section}__LISTEN"), address.to_string())
                .env(format!("GIGMESH__{section}__DATABASE__URL"), url);
            if served == "chat" {
                let replica = if *service == "chat-b" { "b" } else { "a" };
                command
                    .env("GIGMESH__CHAT__SETTINGS__REPLICA_ID", replica)
                    .env(
                        "GIGMESH__CHAT__SETTINGS__MAX_MESSAGES_PER_MINUTE",
                        UNREACHABLE_LIMIT,
                    );
            }
            if *service == "auth" {
                command
                    .env(
                        "GIGMESH__AUTH__SETTINGS__MAIL_TOKEN_PUBLIC_KEY__KEY_ID",
                        &mail_token_keys.key_id,
                    )
                    .env(
                        "GIGMESH__AUTH__SETTINGS__MAIL_TOKEN_PUBLIC_KEY__PUBLIC_KEY",
                        mail_token_keys.public_key_base64(),
                    );
            } else {
                command.env(
                    "GIGMESH__UPSTREAMS__AUTH",
                    format!("http://{}", addresses[0]),
                );
            }
            let what = service_label(service);
            let log = logs.path().join(format!("{service}.log"));
            let process = GigmeshProcess::start_until(
                what,
                command,
                *address,
                log,
                START_TIMEOUT,
                Readiness::Health,
            )
            .await?;
            services.push(process);
        }

        let gateway_address = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut command = gigmesh_command(gigmesh_bin, &["gateway"]);
        common_environment(&mut command, &brokers);
        command.env("GIGMESH__GATEWAY__LISTEN", gateway_address.to_string());
        for (service, address) in services_to_start.iter().zip(&addresses) {
            if *service == "chat-b" {
                continue;
            }
            command.env(
                format!("GIGMESH__UPSTREAMS__{}", service.to_uppercase()),
                format!("http://{address}"),
            );
        }
        let gateway = GigmeshProcess::start(
            "gigmesh gateway",
            command,
            gateway_address,
            logs.path().join("gateway.log"),
            START_TIMEOUT,
        )
        .await?;
        Ok(DistributedMesh {
            gateway,
            services,
            names: services_to_start.to_vec(),
            brokers,
            databases,
            kafka,
            _logs: logs,
        })
    }

    /// Each gigmesh process's name and pid: the gateway, then the services.
    pub fn processes(&self) -> Vec<(&'static str, u32)> {
        std::iter::once(("gigmesh gateway", self.gateway.pid))
            .chain(
                self.names
                    .iter()
                    .zip(&self.services)
                    .map(|(service, process)| (service_label(service), process.pid)),
            )
            .collect()
    }

    /// The last lines of every process's log, for error messages.
    pub fn log_tails(&self) -> String {
        std::iter::once(&self.gateway)
            .chain(&self.services)
            .map(|process| process.log_tail())
            .collect::<Vec<_>>()
            .join("\n-----\n")
    }

    /// Kills the gateway, the services and the broker, then drops the databases.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.gateway.stop().await?;
        for process in self.services.iter_mut().rev() {
            process.stop().await?;
        }
        self.kafka.stop().await;
        self.databases.drop_all().await
    }
}

/// What every process of the mesh shares: the Kafka bus (one record per producer batch,
/// which tansu needs: see `bus.kafka.max_batch_records`), quiet logs, no metrics port, and
/// limits no benchmark reaches.
fn common_environment(command: &mut tokio::process::Command, brokers: &str) {
    command
        .env("GIGMESH__BUS__KIND", "kafka")
        .env("GIGMESH__BUS__KAFKA_BROKERS", brokers)
        .env("GIGMESH__BUS__KAFKA__MAX_BATCH_RECORDS", "1")
        .env("GIGMESH__TELEMETRY__LOG_FILTER", "warn")
        .env("GIGMESH__TELEMETRY__METRICS_LISTEN", "")
        .env("GIGMESH__GATEWAY__RATE_LIMIT_PER_MINUTE", UNREACHABLE_LIMIT)
        .env("GIGMESH__GATEWAY__RATE_LIMIT_BURST", UNREACHABLE_LIMIT)
        .env(
            "GIGMESH__AUTH__SETTINGS__THROTTLE__MAX_FAILURES_PER_ADDRESS",
            UNREACHABLE_LIMIT,
        );
}

fn service_label(service: &str) -> &'static str {
    match service {
        "auth" => "gigmesh serve auth",
        "orders" => "gigmesh serve orders",
        "chat" => "gigmesh serve chat",
        "chat-b" => "gigmesh serve chat (replica b)",
        _ => "gigmesh serve payments",
    }
}

/// Databases created on one PostgreSQL server for one run, named `<prefix>_<name>`, and
/// dropped by [`ScratchDatabases::drop_all`] (or, failing that, when dropped).
pub struct ScratchDatabases {
    server_url: String,
    prefix: String,
    created: Vec<(String, String)>,
}

impl ScratchDatabases {
    /// None yet, on the server at `server_url` (a `postgres://` URL naming any database).
    pub fn new(server_url: &str, prefix: &str) -> Self {
        Self {
            server_url: server_url.to_owned(),
            prefix: prefix.to_owned(),
            created: Vec::new(),
        }
    }

    /// Creates `<prefix>_<name>` and returns its URL.
    pub async fn create(&mut self, name: &str) -> anyhow::Result<String> {
        let database = format!("{}_{name}", self.prefix);
        let mut admin = connect_postgres(&self.server_url).await?;
        admin
            .execute(format!("CREATE DATABASE \"{database}\"").as_str())
            .await
            .with_context(|| format!("cannot create the database {database}"))?;
        admin.close().await.ok();
        let url = database_url(&self.server_url, &database);
        self.created.push((name.to_owned(), url.clone()));
        Ok(url)
    }

    /// The URL of the database created as `name`.
    pub fn url(&self, name: &str) -> Option<&str> {
        self.created
            .iter()
            .find(|(created, _)| created == name)
            .map(|(_, url)| url.as_str())
    }

    /// The name of the database created as `name`.
    pub fn database_name(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    /// Drops every database created, disconnecting whoever is still connected.
    pub async fn drop_all(&mut self) -> anyhow::Result<()> {
        if self.created.is_empty() {
            return Ok(());
        }
        let mut admin = connect_postgres(&self.server_url).await?;
        for (name, _) in std::mem::take(&mut self.created) {
            let database = self.database_name(&name);
            admin
                .execute(format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)").as_str())
                .await
                .with_context(|| format!("cannot drop the database {database}"))?;
        }
        admin.close().await.ok();
        Ok(())
    }
}

impl Drop for ScratchDatabases {
    fn drop(&mut self) {
        if self.created.is_empty() {
            return;
        }
        // Drop may run inside the runtime, where blocking on async work is not allowed:
        // drop the databases from a thread with its own runtime (best effort).
        let mut leftover = ScratchDatabases {
            server_url: self.server_url.clone(),
            prefix: self.prefix.clone(),
            created: std::mem::take(&mut self.created),
        };
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            if let Err(error) = runtime.block_on(leftover.drop_all()) {
                eprintln!("could not drop the benchmark databases: {error:#}");
            }
        });
        let _ = dropper.join();
    }
}

/// A connection to the PostgreSQL database at `url`, tried for a while: the server is shared,
/// and other work may hold all of its connections for a moment ("too many clients").
pub async fn connect_postgres(url: &str) -> anyhow::Result<PgConnection> {
    const ATTEMPTS: usize = 20;
    let mut attempt = 1;
    loop {
        match PgConnection::connect(url).await {
            Ok(connection) => return Ok(connection),
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(attempt, error = %error, "cannot connect to PostgreSQL yet");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot connect to PostgreSQL at {url}"));
            }
        }
    }
}

/// `server_url` with its database replaced by `database`.
pub fn database_url(server_url: &str, database: &str) -> String {
    let (without_query, query) = match server_url.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (server_url, None),
    };
    let after_scheme = without_query.find("://").map_or(0, |index| index + 3);
    let base = match without_query[after_scheme..].find('/') {
        Some(slash) => &without_query[..after_scheme + slash],
        None => without_query,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// The `gigmesh` binary's version line (`gigmesh --version`), or why it is unknown.
pub async fn gigmesh_version(gigmesh_bin: &PathBuf) -> String {
    match tokio::process::Command::new(gigmesh_bin)
        .arg("--version")
        .output()
        .await
    {
        Ok(output) => String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        Err(error) => format!("unknown ({error})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "gm_bench_1"),
            "postgres://postgres@127.0.0.1:5432/gm_bench_1"
        );
        assert_eq!(
            database_url("postgres://u:p@host:5432/db?sslmode=disable", "x"),
            "postgres://u:p@host:5432/x?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://127.0.0.1:5432", "x"),
            "postgres://127.0.0.1:5432/x"
        );
    }
}
