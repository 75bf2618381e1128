//! The user service's settings: none of its own yet, but a typed section (`users.settings`)
//! that is validated like every other service's, so adding one is a field away.

use gigmesh_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// Settings of the user service: none of its own yet.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {}

impl Validate for Config {
    fn validate(&self, _path: &str, _problems: &mut Problems) {}
}
