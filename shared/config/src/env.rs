//! The `GIGMESH__` environment variables as a configuration layer.

use figment::providers::Env;
use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// Environment variables `<PREFIX>A__B=value` as the key `a.b`.
///
/// figment's own [`Env`] guesses a type for every value from its text, so a key that wants
/// a string could not be given one that looks like a number, a boolean or a float: an SMTP
/// password `12345678`, a user name `true` or a host `1.5` failed with "invalid type". Here a
/// plain value stays the text it is, and is read as a number or a boolean only where the
/// key wants one (see [`crate::extract`]). A value in double quotes is unquoted, and a value
/// in brackets or braces is a list or a table (`[https://a.example, https://b.example]`), as
/// with figment's own syntax. Surrounding whitespace is ignored.
pub(crate) struct EnvLayer {
    prefix: &'static str,
    env: Env,
}

impl EnvLayer {
    /// The variables starting with `prefix` (any case), nested keys split at `__`.
    pub(crate) fn prefixed(prefix: &'static str) -> Self {
        Self {
            prefix,
            env: Env::prefixed(prefix).split("__"),
        }
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        let prefix = self.prefix;
        // Errors name the key and the variable to fix, the way validation problems do:
        // `auth.database.url (GIGMESH__AUTH__DATABASE__URL)`.
        Metadata::named(format!("`{prefix}` environment variable(s)")).interpolater(
            move |_: &Profile, keys: &[&str]| {
                format!(
                    "{} ({prefix}{})",
                    keys.join("."),
                    keys.join("__").to_ascii_uppercase()
                )
            },
        )
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut dict = Dict::new();
        for (key, raw) in self.env.iter() {
            let path: Vec<&str> = key.as_str().split('.').collect();
            insert(&mut dict, &path, value_of(&raw));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// The configuration value of one variable's text.
fn value_of(raw: &str) -> Value {
    let text = raw.trim();
    let quoted = text.len() >= 2 && text.starts_with('"') && text.ends_with('"');
    if quoted || text.starts_with('[') || text.starts_with('{') {
        let parsed: Value = text.parse().unwrap_or_else(|never| match never {});
        if matches!(
            parsed,
            Value::String(..) | Value::Array(..) | Value::Dict(..)
        ) {
            return parsed;
        }
    }
    Value::from(text.to_owned())
}

/// Puts `value` at `path` in `dict`, creating the tables on the way; a later variable wins
/// over an earlier one for the same key.
fn insert(dict: &mut Dict, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        dict.insert((*first).to_owned(), value);
        return;
    }
    let entry = dict
        .entry((*first).to_owned())
        .or_insert_with(|| Value::from(Dict::new()));
    if !matches!(entry, Value::Dict(..)) {
        *entry = Value::from(Dict::new());
    }
    if let Value::Dict(_, nested) = entry {
        insert(nested, rest, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_stay_text() {
        for text in ["12345", "true", "1.5", "x", "127.0.0.1:9092", ""] {
            assert_eq!(value_of(text), Value::from(text.to_owned()), "{text:?}");
        }
        assert_eq!(value_of("  padded  "), Value::from("padded".to_owned()));
    }

    #[test]
    fn quotes_lists_and_tables_keep_their_syntax() {
        assert_eq!(value_of("\"0042\""), Value::from("0042".to_owned()));
        assert!(matches!(
            value_of("[https://a.example, https://b.example]"),
            Value::Array(_, items) if items.len() == 2
        ));
        assert!(matches!(value_of("{a = 1}"), Value::Dict(..)));
        assert_eq!(
            value_of("[not a list"),
            Value::from("[not a list".to_owned())
        );
    }

    #[test]
    fn nested_keys_build_tables() {
        let mut dict = Dict::new();
        insert(&mut dict, &["a", "b", "c"], Value::from("1".to_owned()));
        insert(&mut dict, &["a", "d"], Value::from("2".to_owned()));
        let Some(Value::Dict(_, a)) = dict.get("a") else {
            panic!("a is a table: {dict:?}");
        };
        assert!(matches!(a.get("b"), Some(Value::Dict(..))));
        assert_eq!(a.get("d"), Some(&Value::from("2".to_owned())));
    }
}
