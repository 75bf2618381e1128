//! Email addresses as accounts use them: trimmed, lower-cased, syntactically plausible.

use std::fmt;

use gigmesh_errors::ApiError;

/// Longest address SMTP can carry (RFC 5321 path limit).
const MAX_EMAIL_LENGTH: usize = 254;

/// A validated, normalised email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses a request field. Accepts `local@domain.tld` with no spaces or control
    /// characters; the address is trimmed and lower-cased.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let candidate = raw.trim().to_lowercase();
        if candidate.is_empty() {
            return Err(ApiError::invalid(field, "is required"));
        }
        if candidate.len() > MAX_EMAIL_LENGTH {
            return Err(ApiError::invalid(
                field,
                format!("must be at most {MAX_EMAIL_LENGTH} characters"),
            ));
        }
        let Some((local, domain)) = candidate.rsplit_once('@') else {
            return Err(ApiError::invalid(
                field,
                "must be an email address like name@example.com",
            ));
        };
        let plausible = !local.is_empty()
            && local.len() <= 64
            && !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !candidate
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            && !local.contains('@')
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if !plausible {
            return Err(ApiError::invalid(
                field,
                "must be an email address like name@example.com",
            ));
        }
        Ok(Self(candidate))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_case_and_whitespace() {
        let email = Email::parse("email", "  Ada@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada@example.com");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@@example.com",
            "ada@exa..mple.com",
        ] {
            assert!(
                Email::parse("email", bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let too_long = format!("{}@example.com", "a".repeat(300));
        assert!(Email::parse("email", &too_long).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_addresses_are_normalised(raw in "\\PC{0,300}") {
            if let Ok(email) = Email::parse("email", &raw) {
                prop_assert_eq!(email.as_str(), email.as_str().to_lowercase());
                prop_assert!(email.as_str().contains('@'));
            }
        }
    }
}
