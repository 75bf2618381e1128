//! The gig service's settings: whether published gigs wait for an admin's review, and how
//! many gigs a seller may hold.

use gigmesh_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// Most gigs a seller holds (deleted ones not counted) unless configured otherwise.
pub const DEFAULT_MAX_GIGS_PER_SELLER: u32 = 100;

/// Settings of the gig service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Whether a published gig waits for an admin's approval before buyers see it; without
    /// it, publishing approves at once and admins moderate afterwards.
    pub require_review: bool,
    /// Most gigs a seller may hold that are not deleted; creating one more is refused. It
    /// also bounds how many gigs one change of the seller's profile or rating emits again.
    pub max_gigs_per_seller: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            require_review: false,
            max_gigs_per_seller: DEFAULT_MAX_GIGS_PER_SELLER,
        }
    }
}

impl Validate for Config {
    fn validate(&self, path: &str, problems: &mut Problems) {
        if self.max_gigs_per_seller < 1 {
            problems.add(path, "max_gigs_per_seller", "must be at least 1");
        }
    }
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

    #[test]
    fn the_gig_cap_defaults_to_100_and_must_allow_one_gig() {
        let parsed: Config = serde_json::from_str("{}").expect("config");
        assert_eq!(parsed.max_gigs_per_seller, 100);
        assert!(gigmesh_config::check(&parsed, "gigs.settings").is_ok());

        let zero = Config {
            max_gigs_per_seller: 0,
            ..Config::default()
        };
        let error = gigmesh_config::check(&zero, "gigs.settings").expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("gigs.settings.max_gigs_per_seller"),
            "{error}"
        );
    }
}
