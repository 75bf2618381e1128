//! The gig service's settings: whether published gigs wait for an admin's review.

use gigmesh_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// Settings of the gig service.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Whether a published gig waits for an admin's approval before buyers see it; without
    /// it, publishing approves at once and admins moderate afterwards.
    pub require_review: bool,
}

impl Validate for Config {
    fn validate(&self, _path: &str, _problems: &mut Problems) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        let parsed: Result<Config, _> =
            serde_json::from_str(r#"{"require_review": true, "nope": 1}"#);
        assert!(parsed.is_err());
        let parsed: Config = serde_json::from_str(r#"{"require_review": true}"#).expect("config");
        assert!(parsed.require_review);
    }
}
