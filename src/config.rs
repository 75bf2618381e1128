//! The configuration of a gigmesh process: one document for every mode, with per-service
//! sections. `gigmesh dev` fills what is left empty with embedded defaults under the data
//! directory; distributed mode must be told its databases, broker and addresses.

use std::path::PathBuf;

use gigmesh_config::{BusConfig, DatabaseConfig, Problems, TelemetryConfig, Validate};
use gigmesh_gateway::GatewayConfig;
use serde::{Deserialize, Serialize};

use crate::cli::ServiceName;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GigmeshConfig {
    /// Directory for embedded databases, the embedded event log and mail files.
    pub data_dir: PathBuf,
    /// Logs, traces, metrics.
    pub telemetry: TelemetryConfig,
    /// The event bus.
    pub bus: BusConfig,
    /// The gateway.
    pub gateway: GatewayConfig,
    /// Addresses of the services (distributed mode).
    pub upstreams: UpstreamsConfig,
    /// The auth service.
    pub auth: ServiceSection<gigmesh_auth_service::Config>,
    /// The users service.
    pub users: ServiceSection<gigmesh_users::Config>,
    /// The notifications service.
    pub notifications: ServiceSection<gigmesh_notifications::Config>,
    /// The gigs service.
    pub gigs: ServiceSection<gigmesh_gigs::Config>,
    /// The search service.
    pub search: ServiceSection<gigmesh_search::Config>,
}

impl Default for GigmeshConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".gigmesh"),
            telemetry: TelemetryConfig::default(),
            bus: BusConfig::default(),
            gateway: GatewayConfig::default(),
            upstreams: UpstreamsConfig::default(),
            auth: ServiceSection::new("127.0.0.1:50051"),
            users: ServiceSection::new("127.0.0.1:50052"),
            notifications: ServiceSection::new("127.0.0.1:50053"),
            gigs: ServiceSection::new("127.0.0.1:50054"),
            search: ServiceSection::new("127.0.0.1:50055"),
        }
    }
}

/// Where the services are, for the processes that call them in distributed mode: the
/// gateway forwards to them, and every verifier reads auth's public keys from `auth`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamsConfig {
    /// Address of the auth service, e.g. `http://auth:50051`.
    pub auth: String,
    /// Address of the users service, e.g. `http://users:50052`.
    pub users: String,
    /// Address of the gigs service, e.g. `http://gigs:50054`.
    pub gigs: String,
    /// Address of the search service, e.g. `http://search:50055`.
    pub search: String,
}

impl Default for UpstreamsConfig {
    fn default() -> Self {
        Self {
            auth: "http://127.0.0.1:50051".to_owned(),
            users: "http://127.0.0.1:50052".to_owned(),
            gigs: "http://127.0.0.1:50054".to_owned(),
            search: "http://127.0.0.1:50055".to_owned(),
        }
    }
}

/// One service's section: its address, its database and its own settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSection<C> {
    /// Where the service listens in distributed mode.
    pub listen: String,
    /// Where the service's metrics endpoint listens in distributed mode (empty: off).
    pub metrics_listen: String,
    /// The service's own database. Empty in dev mode means a SQLite file in the data dir.
    pub database: DatabaseConfig,
    /// Settings of the service itself.
    pub settings: C,
}

impl<C: Default> ServiceSection<C> {
    fn new(listen: &str) -> Self {
        Self {
            listen: listen.to_owned(),
            metrics_listen: String::new(),
            database: DatabaseConfig::default(),
            settings: C::default(),
        }
    }
}

impl<C: Default> Default for ServiceSection<C> {
    fn default() -> Self {
        Self::new("127.0.0.1:0")
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn validate_address(path: &str, key: &str, value: &str, problems: &mut Problems) {
    if value.parse::<std::net::SocketAddr>().is_err() {
        problems.add(
            path,
            key,
            "must be host:port with an IP address, e.g. 0.0.0.0:50051",
        );
    }
}

fn validate_url(path: &str, key: &str, value: &str, problems: &mut Problems) {
    if !(value.starts_with("http://") || value.starts_with("https://"))
        || value.parse::<http::Uri>().is_err()
    {
        problems.add(path, key, "must be an http:// or https:// URL");
    }
}

impl GigmeshConfig {
    /// Fills what dev mode leaves empty: SQLite files and the embedded log under `data_dir`.
    pub fn with_dev_defaults(mut self) -> Self {
        let data_dir = self.data_dir.clone();
        for (name, database) in [
            ("auth", &mut self.auth.database),
            ("users", &mut self.users.database),
            ("notifications", &mut self.notifications.database),
            ("gigs", &mut self.gigs.database),
            ("search", &mut self.search.database),
        ] {
            if database.url.is_empty() {
                database.url =
                    format!("sqlite://{}", data_dir.join(format!("{name}.db")).display());
            }
        }
        if self.bus.embedded_path == BusConfig::default().embedded_path {
            self.bus.embedded_path = data_dir.join("bus.db");
        }
        self.notifications.settings.use_data_dir_for_mail(&data_dir);
        if self.search.settings.index_dir.is_empty() {
            self.search.settings.index_dir = data_dir.join("search-index").display().to_string();
        }
        self
    }

    /// Where `service` listens, where its metrics are served, and its database.
    pub fn service_endpoints(&self, service: ServiceName) -> (&str, &str, &DatabaseConfig) {
        match service {
            ServiceName::Auth => (
                &self.auth.listen,
                &self.auth.metrics_listen,
                &self.auth.database,
            ),
            ServiceName::Users => (
                &self.users.listen,
                &self.users.metrics_listen,
                &self.users.database,
            ),
            ServiceName::Notifications => (
                &self.notifications.listen,
                &self.notifications.metrics_listen,
                &self.notifications.database,
            ),
            ServiceName::Gigs => (
                &self.gigs.listen,
                &self.gigs.metrics_listen,
                &self.gigs.database,
            ),
            ServiceName::Search => (
                &self.search.listen,
                &self.search.metrics_listen,
                &self.search.database,
            ),
        }
    }

    /// The settings of `service` as something that validates itself.
    fn service_settings(&self, service: ServiceName) -> &dyn Validate {
        match service {
            ServiceName::Auth => &self.auth.settings,
            ServiceName::Users => &self.users.settings,
            ServiceName::Notifications => &self.notifications.settings,
            ServiceName::Gigs => &self.gigs.settings,
            ServiceName::Search => &self.search.settings,
        }
    }

    /// Checks the parts a process in `mode` will use.
    pub fn validate_for(&self, mode: Mode) -> Result<(), gigmesh_config::ConfigError> {
        let mut problems = Problems::default();
        self.telemetry.validate("telemetry", &mut problems);
        self.bus.validate("bus", &mut problems);
        let services: Vec<ServiceName> = match mode {
            Mode::Dev | Mode::Migrate(None) => ServiceName::ALL.to_vec(),
            Mode::Serve(service) | Mode::Migrate(Some(service)) => vec![service],
            Mode::Gateway => Vec::new(),
        };
        if matches!(mode, Mode::Dev | Mode::Gateway) {
            Validate::validate(&self.gateway, "gateway", &mut problems);
        }
        if matches!(mode, Mode::Gateway) {
            for (key, url) in [
                ("auth", &self.upstreams.auth),
                ("users", &self.upstreams.users),
                ("gigs", &self.upstreams.gigs),
                ("search", &self.upstreams.search),
            ] {
                validate_url("upstreams", key, url, &mut problems);
            }
        }
        if let Mode::Serve(service) = mode
            && service != ServiceName::Auth
        {
            validate_url("upstreams", "auth", &self.upstreams.auth, &mut problems);
        }
        for service in services {
            let path = service.as_str();
            let (listen, metrics_listen, database) = self.service_endpoints(service);
            if matches!(mode, Mode::Serve(_)) {
                validate_address(path, "listen", listen, &mut problems);
                if !metrics_listen.is_empty() {
                    validate_address(path, "metrics_listen", metrics_listen, &mut problems);
                }
            }
            database.validate(&join(path, "database"), &mut problems);
            self.service_settings(service)
                .validate(&join(path, "settings"), &mut problems);
        }
        problems.finish()
    }
}

/// What the process is about to do; decides which sections must be valid.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Everything in one process.
    Dev,
    /// One service.
    Serve(ServiceName),
    /// The gateway only.
    Gateway,
    /// Migrations of one or every service.
    Migrate(Option<ServiceName>),
}
