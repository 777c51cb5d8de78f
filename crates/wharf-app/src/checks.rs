//! Configured prepare checks (`[[checks]]`): placeholder until the checks branch lands.

use wharf_core::config::{Config, ConfigSource};
use wharf_core::inventory::Environment;

use crate::error::Result;

/// What a configured check is asked about.
pub struct CheckTarget<'a> {
    pub environment: &'a Environment,
    pub version: &'a str,
    pub ignore_production_checks: bool,
}

/// One configured check's answer.
pub struct CheckOutcome {
    pub name: String,
    pub kind: String,
    pub passed: bool,
    pub evidence: Vec<String>,
}

/// Every `[[checks]]` entry that applies to the environment.
pub async fn configured(
    _config: &Config,
    _source: &ConfigSource,
    _target: &CheckTarget<'_>,
) -> Result<Vec<CheckOutcome>> {
    Ok(Vec::new())
}

/// Poll `url` until it answers `expect_status` (and `expect_body`) or `timeout` passes.
pub async fn http_until(
    url: &str,
    _expect_status: u16,
    _expect_body: Option<&str>,
    _timeout: std::time::Duration,
) -> CheckOutcome {
    CheckOutcome {
        name: "http".into(),
        kind: "http".into(),
        passed: false,
        evidence: vec![format!("{url}: http checks land with the checks branch")],
    }
}
