//! `[[schedules]]`: what runs by itself, and when (seed 000: the nightly deploy at 07:20
//! UTC). Each has a cron expression in its own IANA time zone and one action: deploy the
//! newest version in the environment's repository (or a fixed one), or publish a
//! repository (republishing before `Valid-Until`).

use serde::Deserialize;

use super::{Config, ConfigError, ConfigSource, Spanned};
use crate::cron::Cron;

/// `[[schedules]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: Spanned<String>,
    /// Five-field cron expression in `timezone`'s wall-clock time.
    pub cron: Spanned<String>,
    /// IANA time zone. Default `UTC`.
    pub timezone: Option<Spanned<String>>,
    pub deploy: Option<Spanned<ScheduledDeploy>>,
    /// A repository to publish again.
    pub publish: Option<Spanned<String>>,
}

/// `deploy = { environment = "dev", version = "latest" }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledDeploy {
    pub environment: String,
    /// One of the environment's packages; default: all of them.
    pub package: Option<String>,
    /// `latest` (default): the newest version of the package in the environment's
    /// repository; or an exact version.
    #[serde(default = "ScheduledDeploy::latest")]
    pub version: String,
    /// Run this pipeline instead of the environment's.
    pub pipeline: Option<String>,
}

impl ScheduledDeploy {
    fn latest() -> String {
        "latest".to_owned()
    }
}

/// What a schedule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleAction {
    Deploy(ScheduledDeploy),
    Publish(String),
}

/// A `[[schedules]]` entry, checked.
#[derive(Debug, Clone)]
pub struct ScheduleSettings {
    pub name: String,
    pub cron: Cron,
    pub timezone: jiff::tz::TimeZone,
    pub timezone_name: String,
    pub action: ScheduleAction,
}

impl Config {
    /// Every `[[schedules]]` entry checked: unique names, a cron expression that parses,
    /// a known time zone, exactly one action, and a deploy naming a known environment.
    pub fn resolve_schedules(
        &self,
        source: &ConfigSource,
    ) -> Result<Vec<ScheduleSettings>, ConfigError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut all = Vec::with_capacity(self.schedules.len());
        for entry in &self.schedules {
            let name = entry.name.get_ref().clone();
            let key = |k: &str| format!("schedules.{name}.{k}");
            if !seen.insert(name.clone()) {
                return Err(source.error(
                    Some(entry.name.span()),
                    Some(&key("name")),
                    "is defined twice: schedule names must be unique",
                ));
            }
            let cron: Cron = entry.cron.get_ref().parse().map_err(|err: String| {
                source.error(Some(entry.cron.span()), Some(&key("cron")), err)
            })?;
            let timezone_name =
                entry.timezone.as_ref().map_or_else(|| "UTC".to_owned(), |t| t.get_ref().clone());
            let timezone = jiff::tz::TimeZone::get(&timezone_name).map_err(|_| {
                let span = entry.timezone.as_ref().map(Spanned::span);
                source.error(span, Some(&key("timezone")), format!("{timezone_name:?} is not an IANA time zone (e.g. \"UTC\", \"Europe/Amsterdam\")"))
            })?;
            let action = match (&entry.deploy, &entry.publish) {
                (Some(deploy), None) => {
                    let known = self
                        .environments
                        .iter()
                        .any(|e| e.name.get_ref() == &deploy.get_ref().environment);
                    if !known {
                        return Err(source.error(
                            Some(deploy.span()),
                            Some(&key("deploy.environment")),
                            format!("no environment named {:?}", deploy.get_ref().environment),
                        ));
                    }
                    ScheduleAction::Deploy(deploy.get_ref().clone())
                }
                (None, Some(repository)) => ScheduleAction::Publish(repository.get_ref().clone()),
                _ => {
                    return Err(source.error(Some(entry.name.span()), Some(&key("deploy")), "give exactly one action: deploy = { environment = \"…\" } or publish = \"REPOSITORY\""));
                }
            };
            all.push(ScheduleSettings { name, cron, timezone, timezone_name, action });
        }
        Ok(all)
    }
}
