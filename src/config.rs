//! The configuration of a gigmesh process: one document for every mode. The shared sections
//! (data directory, telemetry, bus, gateway, upstream addresses) are typed here; each
//! service's section (`[auth]`, `[users]`, …) comes from the service list, so a new service
//! brings its own. `gigmesh dev` fills what is left empty with embedded defaults under the
//! data directory; distributed mode must be told its databases, broker and addresses.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Serialized;
use gigmesh_config::{
    BusConfig, ConfigError, Problems, TelemetryConfig, Validate, extract, layered,
};
use gigmesh_gateway::GatewayConfig;
use gigmesh_runtime::retention::{EVENT_TABLE_RULES, RetentionConfig};
use gigmesh_runtime::{ConfiguredService, Description};
use serde::{Deserialize, Serialize};

use crate::services::SERVICES;

/// The sections every process shares; each service's own section sits beside them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SharedSections {
    /// Directory for embedded databases, the embedded event log and mail files.
    pub data_dir: PathBuf,
    /// Logs, traces, metrics.
    pub telemetry: TelemetryConfig,
    /// The event bus.
    pub bus: BusConfig,
    /// The gateway.
    pub gateway: GatewayConfig,
    /// Where the services are, for the processes that call them in distributed mode, by
    /// service name (`upstreams.users = "http://users:50052"`): the gateway forwards to
    /// them, and every verifier reads auth's public keys from the token issuer's.
    pub upstreams: BTreeMap<String, String>,
    /// How long what only grows is kept (inbox, dead letters, auth's sessions and tokens,
    /// the embedded event log), by rule name.
    pub retention: RetentionConfig,
}

impl Default for SharedSections {
    fn default() -> Self {
        let upstreams = SERVICES
            .iter()
            .map(|entry| entry.description())
            .filter(has_upstream)
            .map(|description| {
                (
                    description.name.to_owned(),
                    format!("http://127.0.0.1:{}", description.default_port),
                )
            })
            .collect();
        Self {
            data_dir: PathBuf::from(".gigmesh"),
            telemetry: TelemetryConfig::default(),
            bus: BusConfig::default(),
            gateway: GatewayConfig::default(),
            upstreams,
            retention: RetentionConfig::default(),
        }
    }
}

/// The name of every retention rule: the event tables' and every service's.
fn retention_rule_names() -> Vec<&'static str> {
    EVENT_TABLE_RULES
        .iter()
        .chain(
            SERVICES
                .iter()
                .flat_map(|entry| entry.description().retention),
        )
        .map(|rule| rule.name)
        .collect()
}

/// Whether other processes call `description`'s service: it serves gRPC (the gateway
/// forwards to it) or it issues tokens (verifiers read its keys).
fn has_upstream(description: &Description) -> bool {
    !description.grpc_services.is_empty() || description.issues_tokens
}

/// The whole configuration: the shared sections and every service's section.
pub struct GigmeshConfig {
    /// The sections every process shares.
    pub shared: SharedSections,
    /// Every service's section, in the order of the service list.
    pub services: Vec<Box<dyn ConfiguredService>>,
}

impl fmt::Debug for GigmeshConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut document = formatter.debug_struct("GigmeshConfig");
        document
            .field("data_dir", &self.shared.data_dir)
            .field("telemetry", &self.shared.telemetry)
            .field("bus", &self.shared.bus)
            .field("gateway", &self.shared.gateway)
            .field("upstreams", &self.shared.upstreams);
        for service in &self.services {
            document.field(service.description().name, service);
        }
        document.finish()
    }
}

impl GigmeshConfig {
    /// The layered sources: defaults of the shared sections and of every service's
    /// section, then the optional TOML `file`, then the `GIGMESH__` environment.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut defaults = Figment::from(Serialized::defaults(SharedSections::default()));
        for entry in SERVICES {
            defaults = defaults.merge(entry.defaults());
        }
        layered(defaults, file)
    }

    /// Reads every section from `figment`, without validating the values. A top-level key
    /// that is neither a shared section nor a service is refused, naming its variable.
    pub fn extract(figment: &Figment) -> Result<Self, ConfigError> {
        let shared: SharedSections = extract(figment)?;
        refuse_unknown_sections(figment)?;
        let services = SERVICES
            .iter()
            .map(|entry| entry.configure(figment))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { shared, services })
    }

    /// Fills what dev mode leaves empty: SQLite files, the embedded log and each service's
    /// own files under `data_dir`.
    pub fn with_dev_defaults(mut self) -> Self {
        let data_dir = self.shared.data_dir.clone();
        for service in &mut self.services {
            service.use_data_dir(&data_dir);
        }
        if self.shared.bus.embedded_path == BusConfig::default().embedded_path {
            self.shared.bus.embedded_path = data_dir.join("bus.db");
        }
        self
    }

    /// The section of the service called `name`.
    pub fn service(&self, name: &str) -> Option<&dyn ConfiguredService> {
        self.services
            .iter()
            .find(|service| service.description().name == name)
            .map(AsRef::as_ref)
    }

    /// The address of the token issuer (auth), for remote verifiers.
    pub fn token_issuer_url(&self) -> Option<&str> {
        let issuer = self
            .services
            .iter()
            .find(|service| service.description().issues_tokens)?;
        self.shared
            .upstreams
            .get(issuer.description().name)
            .map(String::as_str)
    }

    /// Checks the parts a process in `mode` will use.
    pub fn validate_for(&self, mode: Mode<'_>) -> Result<(), ConfigError> {
        let mut problems = Problems::default();
        self.shared.telemetry.validate("telemetry", &mut problems);
        self.shared.bus.validate("bus", &mut problems);
        self.shared
            .retention
            .validate_rules("retention", &retention_rule_names(), &mut problems);
        if matches!(mode, Mode::Dev | Mode::Gateway) {
            Validate::validate(&self.shared.gateway, "gateway", &mut problems);
        }
        self.validate_upstreams(mode, &mut problems);
        for service in &self.services {
            let name = service.description().name;
            let checked = match mode {
                Mode::Dev | Mode::Migrate(None) => true,
                Mode::Serve(served) | Mode::Migrate(Some(served)) => served == name,
                Mode::Gateway => false,
            };
            if checked {
                service.validate(matches!(mode, Mode::Serve(_)), &mut problems);
            }
        }
        problems.finish()
    }

    /// The upstream addresses `mode` calls: every gRPC service's for the gateway, the
    /// token issuer's for every process that verifies tokens with it.
    fn validate_upstreams(&self, mode: Mode<'_>, problems: &mut Problems) {
        for name in self.shared.upstreams.keys() {
            let known = SERVICES
                .iter()
                .map(|entry| entry.description())
                .any(|description| description.name == name && has_upstream(&description));
            if !known {
                problems.add(
                    "upstreams",
                    name,
                    "is not a service that other processes call",
                );
            }
        }
        let needed: Vec<&'static str> = self
            .services
            .iter()
            .map(|service| service.description())
            .filter(|description| match mode {
                Mode::Gateway => has_upstream(description),
                Mode::Serve(served) => {
                    description.issues_tokens
                        && self
                            .service(served)
                            .is_some_and(|served| !served.description().issues_tokens)
                }
                Mode::Dev | Mode::Migrate(_) => false,
            })
            .map(|description| description.name)
            .collect();
        for name in needed {
            match self.shared.upstreams.get(name) {
                Some(url) => validate_url("upstreams", name, url, problems),
                None => problems.add("upstreams", name, "must be given"),
            }
        }
    }
}

/// Refuses top-level keys that are neither shared sections nor services: a misspelt
/// section would otherwise be ignored without a word.
fn refuse_unknown_sections(figment: &Figment) -> Result<(), ConfigError> {
    let shared_keys: Vec<String> = extract::<BTreeMap<String, figment::value::Value>>(
        &Figment::from(Serialized::defaults(SharedSections::default())),
    )?
    .into_keys()
    .collect();
    let document: BTreeMap<String, figment::value::Value> = extract(figment)?;
    let mut problems = Problems::default();
    for key in document.keys() {
        let known = shared_keys.contains(key)
            || SERVICES.iter().any(|entry| entry.description().name == key);
        if !known {
            problems.add("", key, "is not a configuration section of gigmesh");
        }
    }
    problems.finish()
}

fn validate_url(path: &str, key: &str, value: &str, problems: &mut Problems) {
    if !(value.starts_with("http://") || value.starts_with("https://"))
        || value.parse::<http::Uri>().is_err()
    {
        problems.add(path, key, "must be an http:// or https:// URL");
    }
}

/// What the process is about to do; decides which sections must be valid.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// Everything in one process.
    Dev,
    /// One service, by name.
    Serve(&'a str),
    /// The gateway only.
    Gateway,
    /// Migrations of one service or of every one.
    Migrate(Option<&'a str>),
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    fn load(variables: &[(&str, &str)]) -> Result<GigmeshConfig, ConfigError> {
        let mut result = None;
        figment::Jail::expect_with(|jail| {
            for (name, value) in variables {
                jail.set_env(name, value);
            }
            result = Some(GigmeshConfig::extract(&GigmeshConfig::figment(None)));
            Ok(())
        });
        result.expect("the jail ran")
    }

    #[test]
    fn every_service_of_the_list_has_a_section_and_callers_have_an_upstream() {
        let config = load(&[]).expect("the defaults load");
        let names: Vec<&str> = config
            .services
            .iter()
            .map(|service| service.description().name)
            .collect();
        let listed: Vec<&str> = SERVICES
            .iter()
            .map(|entry| entry.description().name)
            .collect();
        assert_eq!(names, listed);
        for entry in SERVICES {
            let description = entry.description();
            let section = config.service(description.name).expect("a section");
            assert_eq!(
                section.listen(),
                format!("127.0.0.1:{}", description.default_port)
            );
            assert_eq!(
                config.shared.upstreams.contains_key(description.name),
                has_upstream(&description),
                "{}",
                description.name
            );
        }
        assert_eq!(config.token_issuer_url(), Some("http://127.0.0.1:50051"));
    }

    #[test]
    fn retention_horizons_are_named_by_rule_and_checked() {
        let config = load(&[
            ("GIGMESH__RETENTION__HORIZON_HOURS__SESSIONS", "48"),
            ("GIGMESH__RETENTION__HORIZON_HOURS__INBOX", "2"),
        ])
        .expect("loads");
        config.validate_for(Mode::Gateway).expect("known rules");
        assert_eq!(config.shared.retention.horizon_hours["sessions"], 48);

        let config = load(&[
            ("GIGMESH__RETENTION__HORIZON_HOURS__SESSION", "48"),
            ("GIGMESH__RETENTION__HORIZON_HOURS__INBOX", "0"),
        ])
        .expect("loads");
        let message = config
            .validate_for(Mode::Gateway)
            .expect_err("refused")
            .to_string();
        assert!(
            message.contains("retention.horizon_hours.session"),
            "{message}"
        );
        assert!(
            message.contains("refresh_tokens"),
            "names the known rules: {message}"
        );
        assert!(
            message.contains("retention.horizon_hours.inbox"),
            "{message}"
        );
    }

    #[test]
    fn a_misspelt_section_is_refused_with_its_variable() {
        let error = load(&[("GIGMESH__ORDRS__LISTEN", "127.0.0.1:1")])
            .expect_err("unknown section")
            .to_string();
        assert!(error.contains("ordrs (GIGMESH__ORDRS)"), "{error}");
    }

    #[test]
    fn dev_defaults_put_one_sqlite_file_per_service_under_the_data_dir() {
        let config = load(&[("GIGMESH__DATA_DIR", "/tmp/gigmesh-dev")])
            .expect("loads")
            .with_dev_defaults();
        for service in &config.services {
            let name = service.description().name;
            assert_eq!(
                service.database().url,
                format!("sqlite:///tmp/gigmesh-dev/{name}.db")
            );
        }
        assert_eq!(
            config.shared.bus.embedded_path,
            PathBuf::from("/tmp/gigmesh-dev/bus.db")
        );
        config
            .validate_for(Mode::Dev)
            .expect("dev defaults are valid");
    }

    #[test]
    fn the_gateway_needs_an_address_for_every_service_it_routes_to() {
        let config = load(&[("GIGMESH__UPSTREAMS__SEARCH", "search:50055")]).expect("loads");
        let error = config
            .validate_for(Mode::Gateway)
            .expect_err("not a URL")
            .to_string();
        assert!(error.contains("upstreams.search"), "{error}");
        let error = load(&[("GIGMESH__USERS__DATABASE__MAX_CONNECTIONS", "many")])
            .expect_err("not a number")
            .to_string();
        assert!(
            error.contains(
                "users.database.max_connections (GIGMESH__USERS__DATABASE__MAX_CONNECTIONS)"
            ),
            "{error}"
        );
    }
}
