//! Typed, layered configuration, read in one place.
//!
//! Layers, later ones winning: the type's `Default`, an optional TOML file, then environment
//! variables prefixed `GIGMESH__` with `__` separating nested keys
//! (`GIGMESH__AUTH__DATABASE__URL=postgres://…` sets `auth.database.url`). A variable's value
//! is its text: a key that wants a string takes any value (an SMTP password `12345`), and a
//! key that wants a number or a boolean reads it from the text; `[a, b]` is a list. The
//! result is validated as a whole, and every problem is reported at once, before any port is
//! bound. Secrets are wrapped in [`Secret`] so they never reach a log line.

mod env;
mod secret;
mod sections;

use std::fmt;
use std::path::Path;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use secret::{Secret, redact_url};
pub use sections::{
    BusConfig, BusKind, DatabaseConfig, KafkaBusConfig, LogFormat, TelemetryConfig,
};

/// Prefix of the environment variables that configure gigmesh.
pub const ENV_PREFIX: &str = "GIGMESH__";

/// A configuration that can check itself as a whole.
pub trait Validate {
    /// Records every problem in `problems`; `path` is the dotted key of `self`.
    fn validate(&self, path: &str, problems: &mut Problems);
}

/// Problems found while validating, each tied to a dotted key.
#[derive(Debug, Default)]
pub struct Problems {
    problems: Vec<(String, String)>,
}

impl Problems {
    /// Records that `key` (relative to `path`) is wrong because of `reason`.
    pub fn add(&mut self, path: &str, key: &str, reason: impl Into<String>) {
        let full_key = if path.is_empty() {
            key.to_owned()
        } else if key.is_empty() {
            path.to_owned()
        } else {
            format!("{path}.{key}")
        };
        self.problems.push((full_key, reason.into()));
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else every problem at once.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(InvalidConfig(self.problems)))
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer could not be read or a value has the wrong type.
    #[error("cannot read the configuration: {0}")]
    Load(Box<figment::Error>),
    /// The values were read but do not make sense together.
    #[error("the configuration is invalid:\n{0}")]
    Invalid(InvalidConfig),
}

impl From<Box<figment::Error>> for ConfigError {
    fn from(error: Box<figment::Error>) -> Self {
        // Not a `source`: the message already says it, and error reports that print the
        // chain would say it twice.
        Self::Load(error)
    }
}

/// The list of validation problems, printed one per line.
#[derive(Debug)]
pub struct InvalidConfig(Vec<(String, String)>);

impl fmt::Display for InvalidConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, reason) in &self.0 {
            let env_name = format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase());
            writeln!(formatter, "  - {key} ({env_name}): {reason}")?;
        }
        Ok(())
    }
}

/// The dotted key of `key` under `path` (`join("auth", "database")` is `auth.database`).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Checks a configuration that lives at `path` (e.g. `users.settings`) on its own, the way
/// [`load`] checks the whole: every problem at once, each named with its key and variable.
pub fn check<T: Validate + ?Sized>(config: &T, path: &str) -> Result<(), ConfigError> {
    let mut problems = Problems::default();
    config.validate(path, &mut problems);
    problems.finish()
}

/// Loads `T` from its defaults, the optional TOML `file` and the `GIGMESH__` environment,
/// then validates it.
pub fn load<T>(file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Serialize + DeserializeOwned + Default + Validate,
{
    load_from(figment_for::<T>(file))
}

/// The layered sources for `T`, for callers that add layers of their own (such as command
/// line flags) before extracting.
pub fn figment_for<T: Serialize + Default>(file: Option<&Path>) -> Figment {
    layered(Figment::from(Serialized::defaults(T::default())), file)
}

/// `defaults`, then the optional TOML `file`, then the `GIGMESH__` environment: the layers
/// of [`figment_for`] over defaults assembled by the caller (a section per service).
pub fn layered(defaults: Figment, file: Option<&Path>) -> Figment {
    let mut figment = defaults;
    if let Some(file) = file {
        figment = figment.merge(Toml::file_exact(file));
    }
    figment.merge(env::EnvLayer::prefixed(ENV_PREFIX))
}

/// Extracts `T` from prepared sources, without validating it. Numbers and booleans are
/// also read from text (`"10"`, `"true"`), which is how environment variables give them.
pub fn extract<T: DeserializeOwned>(figment: &Figment) -> Result<T, ConfigError> {
    Ok(figment.extract_lossy().map_err(Box::new)?)
}

/// Extracts and validates `T` from prepared sources.
pub fn load_from<T: DeserializeOwned + Validate>(figment: Figment) -> Result<T, ConfigError> {
    let config: T = extract(&figment)?;
    let mut problems = Problems::default();
    config.validate("", &mut problems);
    problems.finish()?;
    Ok(config)
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Example {
        database: DatabaseConfig,
        token: Secret<String>,
    }

    impl Validate for Example {
        fn validate(&self, path: &str, problems: &mut Problems) {
            self.database.validate(&join(path, "database"), problems);
        }
    }

    #[test]
    fn every_consumer_tries_an_event_at_least_once() {
        let mut problems = Problems::default();
        BusConfig {
            event_max_attempts: 0,
            ..BusConfig::default()
        }
        .validate("bus", &mut problems);
        let message = problems.finish().expect_err("zero attempts").to_string();
        assert!(message.contains("bus.event_max_attempts"), "{message}");
        assert_eq!(BusConfig::default().event_max_attempts, 5);
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "gigmesh.toml",
                "[database]\nurl = \"sqlite://from-file.db\"\nmax_connections = 3\n",
            )?;
            jail.set_env("GIGMESH__DATABASE__URL", "postgres://postgres@127.0.0.1/x");
            jail.set_env("GIGMESH__TOKEN", "s3cret");
            let config: Example = load(Some(Path::new("gigmesh.toml"))).expect("loads");
            assert_eq!(config.database.url, "postgres://postgres@127.0.0.1/x");
            assert_eq!(config.database.max_connections, 3);
            assert_eq!(config.token.expose(), "s3cret");
            assert!(!format!("{config:?}").contains("s3cret"));
            Ok(())
        });
    }

    #[test]
    fn invalid_values_are_reported_with_their_env_name() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GIGMESH__DATABASE__URL", "mysql://nope");
            jail.set_env("GIGMESH__DATABASE__MAX_CONNECTIONS", "0");
            let error = load::<Example>(None).expect_err("invalid");
            let message = error.to_string();
            assert!(
                message.contains("database.url (GIGMESH__DATABASE__URL)"),
                "{message}"
            );
            assert!(message.contains("database.max_connections"), "{message}");
            Ok(())
        });
    }

    #[test]
    fn wrong_types_are_load_errors_naming_the_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GIGMESH__DATABASE__MAX_CONNECTIONS", "many");
            let error = load::<Example>(None).expect_err("wrong type");
            assert!(matches!(error, ConfigError::Load(_)));
            assert!(
                error
                    .to_string()
                    .contains("database.max_connections (GIGMESH__DATABASE__MAX_CONNECTIONS)"),
                "{error}"
            );
            Ok(())
        });
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default)]
    struct Typed {
        text: String,
        optional: Option<String>,
        secret: Secret<String>,
        number: u16,
        flag: bool,
        list: Vec<String>,
    }

    impl Validate for Typed {
        fn validate(&self, _path: &str, _problems: &mut Problems) {}
    }

    #[test]
    fn string_keys_take_any_text_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GIGMESH__TEXT", "1.5");
            jail.set_env("GIGMESH__OPTIONAL", "true");
            jail.set_env("GIGMESH__SECRET", "00123");
            let config: Typed = load(None).expect("loads");
            assert_eq!(config.text, "1.5");
            assert_eq!(config.optional.as_deref(), Some("true"));
            assert_eq!(config.secret.expose(), "00123");

            jail.set_env("GIGMESH__SECRET", "\"[quoted]\"");
            let config: Typed = load(None).expect("loads");
            assert_eq!(config.secret.expose(), "[quoted]");
            Ok(())
        });
    }

    #[test]
    fn numbers_booleans_and_lists_are_read_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GIGMESH__NUMBER", "2525");
            jail.set_env("GIGMESH__FLAG", "true");
            jail.set_env("GIGMESH__LIST", "[https://a.example, https://b.example]");
            let config: Typed = load(None).expect("loads");
            assert_eq!(config.number, 2525);
            assert!(config.flag);
            assert_eq!(config.list, ["https://a.example", "https://b.example"]);

            jail.set_env("GIGMESH__NUMBER", "70000");
            let error = load::<Typed>(None).expect_err("out of range");
            assert!(error.to_string().contains("GIGMESH__NUMBER"), "{error}");
            Ok(())
        });
    }
}
