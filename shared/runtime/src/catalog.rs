//! A service as an entry of the composition root's list: its configuration section, and a
//! way to build it without naming its type.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::path::Path;

use async_trait::async_trait;
use figment::Figment;
use gigmesh_config::{ConfigError, DatabaseConfig, Problems, Validate, join};
use serde::{Deserialize, Serialize};

use crate::deps::ServiceDeps;
use crate::service::{Description, Service, ServiceApp};

/// One service's configuration section (`[auth]`, `GIGMESH__AUTH__…`): its addresses, its
/// database and its own settings.
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
    /// The defaults of a service that listens on `127.0.0.1:<port>`.
    pub fn on_port(port: u16) -> Self {
        Self {
            listen: format!("127.0.0.1:{port}"),
            metrics_listen: String::new(),
            database: DatabaseConfig::default(),
            settings: C::default(),
        }
    }
}

impl<C: Default> Default for ServiceSection<C> {
    fn default() -> Self {
        Self::on_port(0)
    }
}

/// A service in the composition root's list, before it is configured.
pub trait ServiceEntry: Send + Sync {
    /// What the service is.
    fn description(&self) -> Description;

    /// The defaults of its configuration section, as a layer under the file and the
    /// environment.
    fn defaults(&self) -> Figment;

    /// Reads its section from the layered configuration.
    fn configure(&self, figment: &Figment) -> Result<Box<dyn ConfiguredService>, ConfigError>;
}

/// A service with its configuration section read, ready to validate and build.
#[async_trait]
pub trait ConfiguredService: Debug + Send + Sync {
    /// What the service is.
    fn description(&self) -> Description;
    /// Where it listens in distributed mode.
    fn listen(&self) -> &str;
    /// Where its metrics are served in distributed mode (empty: nowhere).
    fn metrics_listen(&self) -> &str;
    /// Its database.
    fn database(&self) -> &DatabaseConfig;
    /// Its own settings, for a command that needs them typed (downcast to the service's
    /// `Config`).
    fn settings(&self) -> &dyn std::any::Any;
    /// Records the problems of the section under `<name>`; the listen addresses only when
    /// the service is about to serve on them.
    fn validate(&self, serving: bool, problems: &mut Problems);
    /// Fills what dev mode leaves empty: a SQLite file `<name>.db` and the service's own
    /// files under `data_dir`.
    fn use_data_dir(&mut self, data_dir: &Path);
    /// Builds the service ([`Service::build`]) with its settings.
    async fn build(&self, deps: ServiceDeps) -> anyhow::Result<Box<dyn ServiceApp>>;
}

/// The list entry of service `S`: `&gigmesh_runtime::service::<gigmesh_users::App>()`.
pub const fn service<S: Service>() -> Registered<S> {
    Registered(PhantomData)
}

/// The [`ServiceEntry`] of `S`, made by [`service`].
pub struct Registered<S>(PhantomData<fn() -> S>);

impl<S: Service> ServiceEntry for Registered<S> {
    fn description(&self) -> Description {
        S::DESCRIPTION
    }

    fn defaults(&self) -> Figment {
        let section = ServiceSection::<S::Config>::on_port(S::DESCRIPTION.default_port);
        Figment::from(figment::providers::Serialized::default(
            S::DESCRIPTION.name,
            section,
        ))
    }

    fn configure(&self, figment: &Figment) -> Result<Box<dyn ConfiguredService>, ConfigError> {
        let section: ServiceSection<S::Config> = extract_section(figment, S::DESCRIPTION.name)?;
        Ok(Box::new(Configured::<S> { section }))
    }
}

/// The section `name` of `figment`, read as `T` (numbers and booleans also from text).
///
/// figment names a failing key inside a section by appending the section's name to the key
/// (`settings.port.users`); the section's name is moved back to the front here, so the
/// message names the key and its variable as the user writes them (`users.settings.port`,
/// `GIGMESH__USERS__SETTINGS__PORT`).
fn extract_section<T: serde::de::DeserializeOwned>(
    figment: &Figment,
    name: &str,
) -> Result<T, Box<figment::Error>> {
    figment.extract_inner_lossy(name).map_err(|error| {
        let section: Vec<String> = name.split('.').map(str::to_owned).collect();
        let mut errors = error.into_iter().map(|mut error| {
            if error.path.ends_with(&section) {
                error.path.rotate_right(section.len());
            }
            error
        });
        let first = errors
            .next()
            .unwrap_or_else(|| figment::Error::from(name.to_owned()));
        Box::new(errors.fold(first, |chained, error| chained.chain(error)))
    })
}

/// A configured `S`.
struct Configured<S: Service> {
    section: ServiceSection<S::Config>,
}

impl<S: Service> Debug for Configured<S> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.section.fmt(formatter)
    }
}

#[async_trait]
impl<S: Service> ConfiguredService for Configured<S> {
    fn description(&self) -> Description {
        S::DESCRIPTION
    }

    fn listen(&self) -> &str {
        &self.section.listen
    }

    fn metrics_listen(&self) -> &str {
        &self.section.metrics_listen
    }

    fn database(&self) -> &DatabaseConfig {
        &self.section.database
    }

    fn settings(&self) -> &dyn std::any::Any {
        &self.section.settings
    }

    fn validate(&self, serving: bool, problems: &mut Problems) {
        let path = S::DESCRIPTION.name;
        if serving {
            validate_address(path, "listen", &self.section.listen, problems);
            if !self.section.metrics_listen.is_empty() {
                validate_address(
                    path,
                    "metrics_listen",
                    &self.section.metrics_listen,
                    problems,
                );
            }
        }
        self.section
            .database
            .validate(&join(path, "database"), problems);
        self.section
            .settings
            .validate(&join(path, "settings"), problems);
    }

    fn use_data_dir(&mut self, data_dir: &Path) {
        if self.section.database.url.is_empty() {
            let file = data_dir.join(format!("{}.db", S::DESCRIPTION.name));
            self.section.database.url = format!("sqlite://{}", file.display());
        }
        S::use_data_dir(&mut self.section.settings, data_dir);
    }

    async fn build(&self, deps: ServiceDeps) -> anyhow::Result<Box<dyn ServiceApp>> {
        let app = S::build(deps, self.section.settings.clone()).await?;
        Ok(Box::new(app))
    }
}

/// Records a problem unless `value` is `ip:port`.
fn validate_address(path: &str, key: &str, value: &str, problems: &mut Problems) {
    if value.parse::<std::net::SocketAddr>().is_err() {
        problems.add(
            path,
            key,
            "must be host:port with an IP address, e.g. 0.0.0.0:50051",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;

    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Settings {
        port: u16,
    }

    #[test]
    fn a_bad_key_inside_a_section_is_named_from_the_top() {
        let figment = Figment::from(Serialized::default("users.settings.port", "many"));
        let error =
            extract_section::<ServiceSection<Settings>>(&figment, "users").expect_err("not a port");
        assert_eq!(error.path, ["users", "settings", "port"]);

        let figment = Figment::from(Serialized::default("users.settings.nope", 1));
        let error = extract_section::<ServiceSection<Settings>>(&figment, "users")
            .expect_err("unknown key");
        assert_eq!(error.path, ["users", "settings", "nope"]);
    }
}
