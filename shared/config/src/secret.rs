//! Values that must never be printed: secrets, and the passwords inside connection URLs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

/// Wraps a secret so that `Debug` and `Display` print `[redacted]`. Reading it takes an
/// explicit [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Self)
    }
}

impl<T: Serialize> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// What a password reads as once [`redact_url`] has hidden it.
const REDACTED_PASSWORD: &str = "redacted";

/// Query parameters of a connection URL that carry a password (libpq's names).
const PASSWORD_PARAMETERS: [&str; 2] = ["password", "sslpassword"];

/// The URL with every password in it replaced by `redacted`, for printing and logging: the
/// one in the user info (`postgres://user:redacted@host/db`) and the value of a `password`
/// query parameter. Everything else stays, so the URL still tells an operator where it
/// points. A URL that does not parse is redacted by its text, so a typo in a port never
/// prints the password beside it.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        // Without a host the parser kept any user info as an opaque path.
        Ok(parsed) if parsed.has_host() || !url.contains('@') => {
            redact_parsed_url(parsed).unwrap_or_else(|| url.to_owned())
        }
        _ => redact_unparsed_url(url),
    }
}

/// The redacted form of a parsed URL, or `None` when it holds no password.
fn redact_parsed_url(mut url: Url) -> Option<String> {
    let has_password = url.password().is_some();
    let has_password_parameter = url
        .query_pairs()
        .any(|(name, _)| is_password_parameter(&name));
    if !has_password && !has_password_parameter {
        return None;
    }
    if has_password && url.set_password(Some(REDACTED_PASSWORD)).is_err() {
        return Some(redact_unparsed_url(url.as_str()));
    }
    if has_password_parameter {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_password_parameter(&name) {
                    REDACTED_PASSWORD.to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Some(url.to_string())
}

/// Redacts a URL the parser refused (or read without a host), by its text. The user info ends at the last `@`, since
/// a password written unescaped may hold `/`, `?`, `#` or `@`; everything after the user's
/// name up to there is hidden. Password parameters after a `?` are hidden as well.
fn redact_unparsed_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let (user_info, location) = match rest.rsplit_once('@') {
        Some((user_info, location)) => (Some(user_info), location),
        None => (None, rest),
    };
    let user_info = user_info.map(|user_info| match user_info.split_once(':') {
        Some((user, _password)) => format!("{user}:{REDACTED_PASSWORD}@"),
        None => format!("{user_info}@"),
    });
    let location = match location.split_once('?') {
        Some((path, query)) => format!("{path}?{}", redact_query_text(query)),
        None => location.to_owned(),
    };
    format!("{scheme}{}{location}", user_info.unwrap_or_default())
}

/// A query string with the value of every password parameter hidden.
fn redact_query_text(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _value)) if is_password_parameter(name) => {
                format!("{name}={REDACTED_PASSWORD}")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_password_parameter(name: &str) -> bool {
    PASSWORD_PARAMETERS
        .iter()
        .any(|parameter| parameter.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_and_the_rest_is_kept() {
        assert_eq!(
            redact_url("postgres://gigmesh:hunter2@db:5432/auth"),
            "postgres://gigmesh:redacted@db:5432/auth"
        );
        assert_eq!(
            redact_url("postgres://db/auth?user=gigmesh&password=hunter2&sslmode=require"),
            "postgres://db/auth?user=gigmesh&password=redacted&sslmode=require"
        );
        for unchanged in [
            "postgres://gigmesh@db:5432/auth",
            "sqlite:///var/lib/gigmesh/auth.db?mode=rwc",
            "sqlite::memory:",
            "",
        ] {
            assert_eq!(redact_url(unchanged), unchanged);
        }
    }

    #[test]
    fn urls_that_do_not_parse_are_redacted_by_their_text() {
        assert_eq!(
            redact_url("postgres://gigmesh:hunter2@db:port/auth"),
            "postgres://gigmesh:redacted@db:port/auth"
        );
        assert_eq!(
            redact_url("postgres://gigmesh:hun/ter@2@db/auth"),
            "postgres://gigmesh:redacted@db/auth"
        );
        assert_eq!(
            redact_url("postgres://db:port/auth?password=hunter2"),
            "postgres://db:port/auth?password=redacted"
        );
        assert_eq!(
            redact_url("postgres:gigmesh:hunter2@db/auth"),
            "postgres:redacted@db/auth"
        );
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2".to_owned());
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
        assert_eq!(secret.expose(), "hunter2");
    }
}
