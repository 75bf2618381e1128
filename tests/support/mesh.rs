//! Starting the mesh as real `gigmesh` processes, the way a user or Kubernetes would.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::edge::{EdgeTls, Envoy};

pub use gigmesh_testing::free_port;

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

/// Whether gRPC health over `channel` answers SERVING (for the whole server).
pub async fn serving(channel: tonic::transport::Channel) -> bool {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    match health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
    {
        Ok(response) => {
            response.into_inner().status
                == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        }
        Err(_) => false,
    }
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
            && serving(channel).await
        {
            return;
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
        Self::start_with(data_dir, &[]).await
    }

    /// `gigmesh dev` in `data_dir`, with the variables of `environment` set (settings as
    /// `GIGMESH__…`; `{gateway}` in a value stands for the gateway's address).
    pub async fn start_with(data_dir: tempfile::TempDir, environment: &[(&str, &str)]) -> Self {
        let address: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("address");
        let mut command = gigmesh(&[
            "dev",
            "--data-dir",
            data_dir.path().to_str().expect("utf-8 path"),
            "--listen",
            &address.to_string(),
        ]);
        for (name, value) in environment {
            command.env(name, value.replace("{gateway}", &address.to_string()));
        }
        let mut child = command
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

    /// Grants `account_id` the admin role in auth's database, as an operator bootstraps an
    /// admin (the role is in the next token the account gets).
    pub async fn grant_admin(&self, account_id: &str) {
        let file = self.data_dir.path().join("auth.db");
        let db = gigmesh_db::Db::connect(&format!("sqlite://{}", file.display()), 1)
            .await
            .expect("open auth's database");
        grant_admin_in(&db, account_id).await;
        db.close().await;
    }

    /// Stops the process with SIGTERM and waits for a clean exit; returns the data dir.
    pub async fn stop(mut self) -> tempfile::TempDir {
        terminate(&mut self.child).await;
        self.data_dir
    }
}

/// Inserts the admin role of `account_id` into auth's database `db`.
async fn grant_admin_in(db: &gigmesh_db::Db, account_id: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    sqlx::query(
        "INSERT INTO account_roles (account_id, role, grant_time) VALUES ($1, 'admin', $2)",
    )
    .bind(account_id)
    .bind(now)
    .execute(db.pool())
    .await
    .expect("grant the admin role");
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

/// One gigmesh process of a [`DistributedMesh`].
pub struct MeshProcess {
    pub name: &'static str,
    pub address: SocketAddr,
    pub child: Child,
    /// How it was started, to start it again the same way.
    recipe: Recipe,
}

/// A `gigmesh` command line and the variables it is started with, kept so that a killed
/// process can be started again exactly as before.
#[derive(Clone, Default)]
pub struct Recipe {
    arguments: Vec<String>,
    environment: Vec<(String, String)>,
}

impl Recipe {
    /// `gigmesh <arguments>`.
    pub fn gigmesh(arguments: &[&str]) -> Self {
        Self {
            arguments: arguments
                .iter()
                .map(|argument| (*argument).to_owned())
                .collect(),
            environment: Vec::new(),
        }
    }

    /// Sets the variable `name` to `value`.
    pub fn env(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.environment.push((name.into(), value.into()));
        self
    }

    /// Sets each of `environment`.
    pub fn envs<'a>(
        &mut self,
        environment: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> &mut Self {
        for (name, value) in environment {
            self.env(name, value);
        }
        self
    }

    /// The command to run.
    fn command(&self) -> Command {
        let arguments: Vec<&str> = self.arguments.iter().map(String::as_str).collect();
        let mut command = gigmesh(&arguments);
        command.envs(self.environment.iter().map(|(name, value)| (name, value)));
        command
    }
}

/// The mesh as production runs it: `gigmesh migrate` once, then `gigmesh serve auth`,
/// `users`, `notifications`, `gigs`, `search`, `orders`, `payments` and `chat` (twice: two
/// replicas on one database, the gateway routing to the first), and `gigmesh gateway` behind
/// Envoy (TLS,
/// the deployed bootstrap), as separate processes on their own 127.0.0.1 ports, configured
/// only through `GIGMESH__` environment variables, on one fresh PostgreSQL database per
/// service, a Kafka-protocol broker (tansu, in memory) and an SMTP server (aiosmtpd) that
/// delivers into a maildir.
///
/// Fields drop in order: Envoy and the processes are killed first, then the broker and the
/// SMTP server stop, then the databases are dropped.
pub struct DistributedMesh {
    /// The gateway itself (clients call Envoy, [`DistributedMesh::edge`]).
    pub address: SocketAddr,
    /// The Envoys in front of the gateways: the mesh's edge first, then those of
    /// [`DistributedMesh::start_edge`].
    envoys: Vec<Envoy>,
    /// auth, users, notifications, gigs, search, orders, payments, chat, chat-b, gateway
    /// (then any further gateway): in start order.
    pub processes: Vec<MeshProcess>,
    pub kafka: gigmesh_testing::TestKafka,
    pub smtp: gigmesh_testing::TestSmtpServer,
    /// auth, users, notifications, gigs, search, orders, payments, chat.
    pub databases: [gigmesh_testing::TestDatabase; 8],
    /// Where each service listens, in [`DISTRIBUTED_SERVICES`] order.
    service_addresses: Vec<SocketAddr>,
    /// Where chat's second replica listens (the gateway does not route to it).
    pub chat_replica_b: SocketAddr,
    tls: EdgeTls,
    logs: tempfile::TempDir,
}

/// The services, in start order; each name is also its configuration section.
const DISTRIBUTED_SERVICES: [&str; 8] = [
    "auth",
    "users",
    "notifications",
    "gigs",
    "search",
    "orders",
    "payments",
    "chat",
];

impl DistributedMesh {
    /// Starts the whole mesh and waits until every process answers health with SERVING.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// The mesh with, on top of its own settings, the variables of `environment` set for
    /// the process each names (`("payments", "GIGMESH__PAYMENTS__SETTINGS__PROVIDER",
    /// "stripe")`); `{gateway}` in a value stands for the gateway's address.
    pub async fn start_with(environment: &[(&str, &str, String)]) -> Self {
        let (
            kafka,
            smtp,
            auth_db,
            users_db,
            notifications_db,
            gigs_db,
            search_db,
            orders_db,
            payments_db,
            chat_db,
        ) = tokio::join!(
            gigmesh_testing::TestKafka::start(),
            gigmesh_testing::TestSmtpServer::start(),
            gigmesh_testing::TestDatabase::postgres(),
            gigmesh_testing::TestDatabase::postgres(),
            gigmesh_testing::TestDatabase::postgres(),
            gigmesh_testing::TestDatabase::postgres(),
            gigmesh_testing::TestDatabase::postgres(),
            gigmesh_testing::TestDatabase::postgres(),
            gigmesh_testing::TestDatabase::postgres(),
            gigmesh_testing::TestDatabase::postgres(),
        );
        let addresses: Vec<SocketAddr> = DISTRIBUTED_SERVICES
            .iter()
            .map(|_| loopback(free_port()))
            .collect();
        let mut mesh = Self {
            address: loopback(free_port()),
            envoys: Vec::new(),
            processes: Vec::new(),
            kafka,
            smtp,
            databases: [
                auth_db,
                users_db,
                notifications_db,
                gigs_db,
                search_db,
                orders_db,
                payments_db,
                chat_db,
            ],
            service_addresses: addresses.clone(),
            chat_replica_b: loopback(free_port()),
            tls: EdgeTls::generate(),
            logs: tempfile::tempdir().expect("temp dir for logs"),
        };
        mesh.migrate().await;
        let mail_token_keys = gigmesh_testing::TestMailTokenKeys::generate("mesh");

        for (index, service) in DISTRIBUTED_SERVICES.into_iter().enumerate() {
            let mut command = Recipe::gigmesh(&["serve", service]);
            mesh.bus_environment(&mut command);
            let section = service.to_uppercase();
            command
                .env(
                    format!("GIGMESH__{section}__LISTEN"),
                    addresses[index].to_string(),
                )
                // Five connections per service (a consumer, a relay, a loop and requests at
                // once): a mesh's nine service processes and another test's fit in
                // PostgreSQL's 100.
                .env(
                    format!("GIGMESH__{section}__DATABASE__MAX_CONNECTIONS"),
                    "5",
                )
                .env(
                    format!("GIGMESH__{section}__DATABASE__URL"),
                    mesh.databases[index].url(),
                );
            if service == "auth" {
                // Mailed tokens are sealed to the notification service's key.
                command
                    .env(
                        "GIGMESH__AUTH__SETTINGS__MAIL_TOKEN_PUBLIC_KEY__KEY_ID",
                        &mail_token_keys.key_id,
                    )
                    .env(
                        "GIGMESH__AUTH__SETTINGS__MAIL_TOKEN_PUBLIC_KEY__PUBLIC_KEY",
                        mail_token_keys.public_key_base64(),
                    );
            }
            if service != "auth" {
                // Where the service's token verifier reads auth's public keys.
                command.env(
                    "GIGMESH__UPSTREAMS__AUTH",
                    format!("http://{}", addresses[0]),
                );
            }
            if service == "notifications" {
                command
                    .env(
                        format!(
                            "GIGMESH__NOTIFICATIONS__SETTINGS__MAIL_TOKEN_KEYS__{}",
                            mail_token_keys.key_id.to_uppercase()
                        ),
                        mail_token_keys.secret_key_base64(),
                    )
                    .env("GIGMESH__NOTIFICATIONS__SETTINGS__MAILER", "smtp")
                    .env(
                        "GIGMESH__NOTIFICATIONS__SETTINGS__SMTP__HOST",
                        mesh.smtp.host(),
                    )
                    .env(
                        "GIGMESH__NOTIFICATIONS__SETTINGS__SMTP__PORT",
                        mesh.smtp.port().to_string(),
                    )
                    .env("GIGMESH__NOTIFICATIONS__SETTINGS__SMTP__TLS", "none")
                    .env(
                        "GIGMESH__NOTIFICATIONS__SETTINGS__SMTP__TIMEOUT_SECONDS",
                        "10",
                    );
            }
            for (_, name, value) in environment
                .iter()
                .filter(|(process, ..)| *process == service)
            {
                command.env(*name, value.replace("{gateway}", &mesh.address.to_string()));
            }
            if service == "chat" {
                // A second replica on the same database, with its own replica id (so its
                // own consumer group on the chat topic) and its own port.
                let mut replica_b = command.clone();
                replica_b
                    .env("GIGMESH__CHAT__LISTEN", mesh.chat_replica_b.to_string())
                    .env("GIGMESH__CHAT__SETTINGS__REPLICA_ID", "b");
                command.env("GIGMESH__CHAT__SETTINGS__REPLICA_ID", "a");
                mesh.spawn(service, addresses[index], command);
                let replica_b_address = mesh.chat_replica_b;
                mesh.spawn("chat-b", replica_b_address, replica_b);
                continue;
            }
            mesh.spawn(service, addresses[index], command);
        }

        let mut gateway = mesh.gateway_command(mesh.address);
        for (_, name, value) in environment
            .iter()
            .filter(|(process, ..)| *process == "gateway")
        {
            gateway.env(*name, value.replace("{gateway}", &mesh.address.to_string()));
        }
        mesh.spawn("gateway", mesh.address, gateway);

        for process in &mut mesh.processes {
            wait_until_serving(process.address, &mut process.child).await;
        }
        let envoy = Envoy::start(mesh.address, &mesh.tls, mesh.logs.path().join("envoy.log")).await;
        mesh.envoys.push(envoy);
        mesh
    }

    /// `gigmesh gateway` on `address`, routing to the mesh's services and believing
    /// `x-forwarded-for` from Envoy (on 127.0.0.1) only.
    fn gateway_command(&self, address: SocketAddr) -> Recipe {
        let mut gateway = Recipe::gigmesh(&["gateway"]);
        gateway
            .env("GIGMESH__GATEWAY__LISTEN", address.to_string())
            .env("GIGMESH__GATEWAY__TRUSTED_PROXIES", r#"["127.0.0.1/32"]"#);
        // The gateway routes to every service but notifications, which serves no gRPC.
        for (service, address) in DISTRIBUTED_SERVICES.iter().zip(&self.service_addresses) {
            if *service != "notifications" {
                gateway.env(
                    format!("GIGMESH__UPSTREAMS__{}", service.to_uppercase()),
                    format!("http://{address}"),
                );
            }
        }
        gateway
    }

    /// Envoy in front of the mesh's gateway: the address clients call, over TLS.
    pub fn edge(&self) -> SocketAddr {
        self.envoys[0].address
    }

    /// Envoy in front of the mesh's gateway.
    pub fn envoy(&self) -> &Envoy {
        &self.envoys[0]
    }

    /// The TLS of every edge: clients trust its CA.
    pub fn tls(&self) -> &EdgeTls {
        &self.tls
    }

    /// Another gateway (`gigmesh gateway` named `name`, with `environment` on top of the
    /// mesh's gateway settings) on the same services, behind an Envoy of its own; returns
    /// that Envoy's address.
    pub async fn start_edge(
        &mut self,
        name: &'static str,
        environment: &[(&str, &str)],
    ) -> SocketAddr {
        let address = loopback(free_port());
        let mut gateway = self.gateway_command(address);
        gateway.envs(environment.iter().copied());
        self.spawn(name, address, gateway);
        let process = self.processes.last_mut().expect("just spawned");
        wait_until_serving(process.address, &mut process.child).await;
        let envoy = Envoy::start(
            address,
            &self.tls,
            self.logs.path().join(format!("envoy-{name}.log")),
        )
        .await;
        let address = envoy.address;
        self.envoys.push(envoy);
        address
    }

    /// Runs `gigmesh migrate` for every service and asserts it succeeds.
    async fn migrate(&self) {
        let log = self.logs.path().join("migrate.log");
        let mut command = gigmesh(&["migrate"]);
        for (service, database) in DISTRIBUTED_SERVICES.iter().zip(&self.databases) {
            command.env(
                format!("GIGMESH__{}__DATABASE__URL", service.to_uppercase()),
                database.url(),
            );
        }
        let status = tokio::time::timeout(
            Duration::from_secs(60),
            command
                .stdout(log_file(&log))
                .stderr(log_file(&log))
                .status(),
        )
        .await
        .expect("gigmesh migrate finishes within 60 s")
        .expect("gigmesh migrate runs");
        assert!(
            status.success(),
            "gigmesh migrate exited with {status}:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        // Every service's tables and the event tables exist before any service starts.
        let own_tables: [&[&str]; 8] = [
            &["accounts", "sessions", "signing_keys", "login_failures"],
            &["profiles"],
            &["sent_mail", "recipients"],
            &["gigs", "sellers", "saved_gigs"],
            &["gig_documents"],
            &["orders", "order_timeline", "gigs"],
            &["payments", "ledger_entries", "invoices", "sandbox_payments"],
            &[
                "conversations",
                "messages",
                "custom_offers",
                "stream_events",
            ],
        ];
        for ((service, database), own_tables) in DISTRIBUTED_SERVICES
            .iter()
            .zip(&self.databases)
            .zip(own_tables)
        {
            for table in own_tables
                .iter()
                .chain(&["outbox", "inbox", "dead_letters"])
            {
                let query = format!("SELECT COUNT(*) FROM {table}");
                sqlx::query(&query)
                    .execute(database.db().pool())
                    .await
                    .unwrap_or_else(|error| {
                        panic!("gigmesh migrate left {service} without {table}: {error}")
                    });
            }
        }
    }

    /// Gives the account `account_id` the admin role in auth's database, the way an operator
    /// bootstraps the first admin of a new installation.
    pub async fn grant_admin(&self, account_id: &str) {
        grant_admin_in(self.databases[0].db(), account_id).await;
    }

    /// The variables every service process shares: the Kafka bus (one record per batch,
    /// which tansu needs: see `bus.kafka.max_batch_records`).
    fn bus_environment(&self, command: &mut Recipe) {
        command
            .env("GIGMESH__BUS__KIND", "kafka")
            .env("GIGMESH__BUS__KAFKA_BROKERS", self.kafka.brokers())
            .env("GIGMESH__BUS__KAFKA__MAX_BATCH_RECORDS", "1");
    }

    /// Starts `command` as the process `name`, logging into the mesh's log directory.
    fn spawn(&mut self, name: &'static str, address: SocketAddr, recipe: Recipe) {
        let child = self.start_process(name, &recipe);
        self.processes.push(MeshProcess {
            name,
            address,
            child,
            recipe,
        });
    }

    /// Starts `recipe` as the process `name`, logging (appending) into the mesh's log
    /// directory.
    fn start_process(&self, name: &str, recipe: &Recipe) -> Child {
        let log = self.logs.path().join(format!("{name}.log"));
        recipe
            .command()
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .unwrap_or_else(|error| panic!("gigmesh {name} starts: {error}"))
    }

    fn process_mut(&mut self, name: &str) -> &mut MeshProcess {
        self.processes
            .iter_mut()
            .find(|process| process.name == name)
            .unwrap_or_else(|| panic!("no process {name} in the mesh"))
    }

    /// Kills the process `name` with SIGKILL (no shutdown of any kind) and waits until it
    /// is gone.
    pub async fn kill(&mut self, name: &str) {
        let process = self.process_mut(name);
        process.child.start_kill().expect("send SIGKILL");
        process
            .child
            .wait()
            .await
            .expect("the killed process is reaped");
    }

    /// Starts the process `name` again exactly as it was first started (same port, same
    /// variables) and waits until it answers health with SERVING.
    pub async fn restart(&mut self, name: &str) {
        let recipe = self.process_mut(name).recipe.clone();
        let child = self.start_process(name, &recipe);
        let process = self.process_mut(name);
        process.child = child;
        wait_until_serving(process.address, &mut process.child).await;
    }

    /// Where the SMTP server delivers the mail the mesh sends.
    pub fn mail_directory(&self) -> PathBuf {
        self.smtp.maildir()
    }

    /// The last lines every process logged, for failure messages.
    pub fn logs(&self) -> String {
        const LINES: usize = 100;
        let mut text = String::new();
        let mut names: Vec<String> = std::iter::once("migrate")
            .chain(self.processes.iter().map(|process| process.name))
            .map(|name| format!("gigmesh {name}"))
            .collect();
        let mut envoy_logs: Vec<_> = std::fs::read_dir(self.logs.path())
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok())
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .filter(|name| name.starts_with("envoy"))
                    .collect()
            })
            .unwrap_or_default();
        envoy_logs.sort();
        names.extend(
            envoy_logs
                .into_iter()
                .map(|file| file.trim_end_matches(".log").to_owned()),
        );
        for name in names {
            let file = name.trim_start_matches("gigmesh ");
            let log = self.logs.path().join(format!("{file}.log"));
            if let Ok(contents) = std::fs::read_to_string(&log) {
                let lines: Vec<&str> = contents.lines().collect();
                let tail = lines[lines.len().saturating_sub(LINES)..].join("\n");
                text.push_str(&format!("----- {name} -----\n{tail}\n"));
            }
        }
        text
    }

    /// Stops every Envoy, then the gateways, then every service, each with SIGTERM, and
    /// asserts each exits successfully.
    pub async fn stop(mut self) {
        for envoy in std::mem::take(&mut self.envoys) {
            envoy.stop().await;
        }
        let mut processes = std::mem::take(&mut self.processes);
        for process in processes.iter_mut().rev() {
            terminate(&mut process.child).await;
        }
    }
}

impl Drop for DistributedMesh {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `path` opened for appending, for a child's stdout and stderr.
pub(crate) fn log_file(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|error| panic!("open {}: {error}", path.display()))
}
