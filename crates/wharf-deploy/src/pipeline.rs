//! Pipelines: `[[pipelines]]` checked against the inventory, and the built-in `upgrade`
//! and `rollback` pipelines.
//!
//! **Invariant:** a [`Pipelines`] only exists when every stage is usable — its kind has the
//! keys it needs and no others, node sets name known nodes, batch sizes parse, restart
//! selectors name services, kinds or tiers that exist, and every environment's pipeline
//! names resolve. Errors are [`ConfigError`]s naming the line and key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;

use wharf_core::config::{
    AmountValue, Config, ConfigError, ConfigSource, ServiceKind, Spanned, StageConfig, StageKind,
    StageWhen, parse_duration,
};
use wharf_core::inventory::Inventory;
use wharf_core::nodeset::NodeSet;

use crate::amount::Amount;

/// The pipeline `wharf deploy` runs when an environment names none.
pub const DEFAULT_PIPELINE: &str = "upgrade";
/// The pipeline `wharf rollback` runs when an environment names none.
pub const DEFAULT_ROLLBACK_PIPELINE: &str = "rollback";
/// `http-check` timeout when the stage sets none, in seconds.
pub const DEFAULT_HTTP_TIMEOUT: u64 = 10;

/// A named list of stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub name: String,
    /// Built by Wharf from the inventory rather than written in `[[pipelines]]`.
    pub builtin: bool,
    pub stages: Vec<Stage>,
}

/// One stage of a pipeline, before it meets an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    pub action: Action,
    /// The stage's nodes before intersecting with the environment; `None`: all of them.
    pub nodes: Option<NodeSet>,
    /// Nodes per batch; `None`: all at once.
    pub batch: Option<Amount>,
    pub max_failures: Amount,
    pub when: StageWhen,
    pub point_of_no_return: bool,
    /// Built-in stages that do not apply to an environment (no tier-1 nodes there) are
    /// skipped; a written stage that selects nothing is a planning error.
    pub skip_if_empty: bool,
}

/// What a stage does, with the keys of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The prepare checks (load balancer, alerts, version consistency).
    Check,
    Run {
        command: String,
    },
    Install,
    Restart {
        services: Vec<ServiceSelector>,
    },
    HttpCheck {
        url: String,
        expect_status: u16,
        expect_body: Option<String>,
        timeout: u64,
    },
    /// Seconds.
    Wait {
        duration: u64,
    },
    /// An operator continues the deploy.
    Manual,
}

impl Action {
    #[must_use]
    pub fn kind(&self) -> StageKind {
        match self {
            Action::Check => StageKind::Check,
            Action::Run { .. } => StageKind::Run,
            Action::Install => StageKind::Install,
            Action::Restart { .. } => StageKind::Restart,
            Action::HttpCheck { .. } => StageKind::HttpCheck,
            Action::Wait { .. } => StageKind::Wait,
            Action::Manual => StageKind::Manual,
        }
    }

    /// Whether the stage changes nodes (so a check after it is no longer a precheck).
    #[must_use]
    pub fn changes_nodes(&self) -> bool {
        matches!(self, Action::Run { .. } | Action::Install | Action::Restart { .. })
    }
}

/// Which services a `restart` stage restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSelector {
    /// Every service of the environment (the built-in `upgrade`, or no `services` key).
    All,
    Name(String),
    Kind(ServiceKind),
    Tier(u32),
}

impl fmt::Display for ServiceSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceSelector::All => f.write_str("all services"),
            ServiceSelector::Name(name) => f.write_str(name),
            ServiceSelector::Kind(kind) => write!(f, "{kind}"),
            ServiceSelector::Tier(tier) => write!(f, "tier:{tier}"),
        }
    }
}

/// Every pipeline of a configuration, and which one each environment runs.
#[derive(Debug, Clone, Default)]
pub struct Pipelines {
    pipelines: BTreeMap<String, Pipeline>,
    /// Environment → (deploy pipeline, rollback pipeline).
    environments: BTreeMap<String, (String, String)>,
}

impl Pipelines {
    /// Check `[[pipelines]]` and the environments' pipeline keys against `inventory`, and
    /// add the built-in `upgrade` and `rollback` unless the file defines its own.
    pub fn resolve(
        config: &Config,
        source: &ConfigSource,
        inventory: &Inventory,
    ) -> Result<Pipelines, ConfigError> {
        let mut pipelines = BTreeMap::new();
        for written in &config.pipelines {
            let name = written.name.get_ref();
            if name.trim().is_empty() {
                return Err(source.error(
                    Some(written.name.span()),
                    Some("pipelines.name"),
                    "is empty",
                ));
            }
            if pipelines.contains_key(name) {
                return Err(source.error(
                    Some(written.name.span()),
                    Some("pipelines.name"),
                    format!("pipeline {name} is defined twice"),
                ));
            }
            let stages = written.stages.get_ref();
            if stages.is_empty() {
                return Err(source.error(
                    Some(written.stages.span()),
                    Some(&format!("pipelines.{name}.stages")),
                    "lists no stage",
                ));
            }
            let mut seen = BTreeSet::new();
            let mut resolved = Vec::new();
            for stage in stages {
                let stage_name = stage.name.get_ref();
                if !seen.insert(stage_name.as_str()) {
                    return Err(source.error(
                        Some(stage.name.span()),
                        Some(&format!("pipelines.{name}.stages.name")),
                        format!("stage {stage_name} is defined twice in pipeline {name}"),
                    ));
                }
                let checker = StageChecker {
                    source,
                    inventory,
                    prefix: format!("pipelines.{name}.stages.{stage_name}"),
                };
                resolved.push(checker.stage(stage)?);
            }
            pipelines.insert(
                name.clone(),
                Pipeline { name: name.clone(), builtin: false, stages: resolved },
            );
        }
        pipelines.entry(DEFAULT_PIPELINE.to_owned()).or_insert_with(|| builtin_upgrade(inventory));
        pipelines
            .entry(DEFAULT_ROLLBACK_PIPELINE.to_owned())
            .or_insert_with(|| builtin_rollback(inventory));

        let mut environments = BTreeMap::new();
        for env in &config.environments {
            let env_name = env.name.get_ref();
            let pick = |value: &Option<Spanned<String>>, key: &str, default: &str| match value {
                None => Ok(default.to_owned()),
                Some(name) if pipelines.contains_key(name.get_ref()) => Ok(name.get_ref().clone()),
                Some(name) => Err(source.error(
                    Some(name.span()),
                    Some(&format!("environments.{env_name}.{key}")),
                    format!(
                        "no pipeline is named {:?} (known: {})",
                        name.get_ref(),
                        pipelines.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )),
            };
            let deploy = pick(&env.pipeline, "pipeline", DEFAULT_PIPELINE)?;
            let rollback =
                pick(&env.rollback_pipeline, "rollback_pipeline", DEFAULT_ROLLBACK_PIPELINE)?;
            environments.insert(env_name.clone(), (deploy, rollback));
        }
        Ok(Pipelines { pipelines, environments })
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Pipeline> {
        self.pipelines.get(name)
    }

    /// Every pipeline, built-ins included, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Pipeline> + '_ {
        self.pipelines.values()
    }

    /// The pipeline `wharf deploy` runs in `environment` (`None`: no such environment).
    #[must_use]
    pub fn deploy_pipeline(&self, environment: &str) -> Option<&Pipeline> {
        let (deploy, _) = self.environments.get(environment)?;
        self.pipelines.get(deploy)
    }

    /// The pipeline `wharf rollback` runs in `environment`.
    #[must_use]
    pub fn rollback_pipeline(&self, environment: &str) -> Option<&Pipeline> {
        let (_, rollback) = self.environments.get(environment)?;
        self.pipelines.get(rollback)
    }
}

/// Checks one written stage; `prefix` is `pipelines.P.stages.S`, for error keys.
struct StageChecker<'a> {
    source: &'a ConfigSource,
    inventory: &'a Inventory,
    prefix: String,
}

impl StageChecker<'_> {
    fn error(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        self.source.error(Some(span), Some(&format!("{}.{key}", self.prefix)), message)
    }

    fn stage(&self, stage: &StageConfig) -> Result<Stage, ConfigError> {
        let kind = *stage.kind.get_ref();
        // Keys that belong to another kind are mistakes, not silently ignored settings.
        let owned: [(&str, Option<Range<usize>>, StageKind); 7] = [
            ("command", stage.command.as_ref().map(Spanned::span), StageKind::Run),
            ("services", stage.services.as_ref().map(Spanned::span), StageKind::Restart),
            ("url", stage.url.as_ref().map(Spanned::span), StageKind::HttpCheck),
            (
                "expect_status",
                stage.expect_status.as_ref().map(Spanned::span),
                StageKind::HttpCheck,
            ),
            ("expect_body", stage.expect_body.as_ref().map(Spanned::span), StageKind::HttpCheck),
            ("timeout", stage.timeout.as_ref().map(Spanned::span), StageKind::HttpCheck),
            ("duration", stage.duration.as_ref().map(Spanned::span), StageKind::Wait),
        ];
        for (key, span, owner) in owned {
            if let Some(span) = span
                && owner != kind
            {
                return Err(self.error(
                    span,
                    key,
                    format!("applies only to `{owner}` stages, and this one is `{kind}`"),
                ));
            }
        }
        let required = |value: &Option<Spanned<String>>, key: &str| match value {
            Some(value) if !value.get_ref().trim().is_empty() => Ok(value.get_ref().clone()),
            Some(value) => Err(self.error(value.span(), key, "is empty")),
            None => {
                Err(self.error(stage.kind.span(), key, format!("a `{kind}` stage needs `{key}`")))
            }
        };
        let action = match kind {
            StageKind::Check => Action::Check,
            StageKind::Install => Action::Install,
            StageKind::Manual => Action::Manual,
            StageKind::Run => Action::Run { command: required(&stage.command, "command")? },
            StageKind::Restart => Action::Restart { services: self.services(stage)? },
            StageKind::HttpCheck => {
                let url = required(&stage.url, "url")?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    let span = stage.url.as_ref().map(Spanned::span).unwrap_or_default();
                    return Err(self.error(
                        span,
                        "url",
                        format!("{url:?} is not an http:// or https:// URL"),
                    ));
                }
                let expect_status = match &stage.expect_status {
                    Some(status) if (100..=599).contains(status.get_ref()) => *status.get_ref(),
                    Some(status) => {
                        return Err(self.error(
                            status.span(),
                            "expect_status",
                            format!("{} is not an HTTP status (100 to 599)", status.get_ref()),
                        ));
                    }
                    None => 200,
                };
                let timeout = match &stage.timeout {
                    Some(timeout) => self.duration(timeout, "timeout")?,
                    None => DEFAULT_HTTP_TIMEOUT,
                };
                Action::HttpCheck {
                    url,
                    expect_status,
                    expect_body: stage.expect_body.as_ref().map(|body| body.get_ref().clone()),
                    timeout,
                }
            }
            StageKind::Wait => match &stage.duration {
                Some(duration) => Action::Wait { duration: self.duration(duration, "duration")? },
                None => required(&None, "duration").map(|_| Action::Manual)?,
            },
        };
        let nodes = stage.nodes.as_ref().map(|expr| self.nodes(expr)).transpose()?;
        let batch = match &stage.batch {
            None => None,
            Some(value) => match self.amount(value, "batch")? {
                Amount::Count(0) | Amount::Percent(0) => {
                    return Err(self.error(
                        value.span(),
                        "batch",
                        "must be at least 1 node (or 1%)",
                    ));
                }
                amount => Some(amount),
            },
        };
        let max_failures = match &stage.max_failures {
            None => Amount::ZERO,
            Some(value) => self.amount(value, "max_failures")?,
        };
        Ok(Stage {
            name: stage.name.get_ref().clone(),
            action,
            nodes,
            batch,
            max_failures,
            when: stage.when,
            point_of_no_return: stage.point_of_no_return,
            skip_if_empty: false,
        })
    }

    fn duration(&self, value: &Spanned<String>, key: &str) -> Result<u64, ConfigError> {
        parse_duration(value.get_ref()).map_err(|why| self.error(value.span(), key, why))
    }

    fn amount(&self, value: &Spanned<AmountValue>, key: &str) -> Result<Amount, ConfigError> {
        value
            .get_ref()
            .to_string()
            .parse()
            .map_err(|why: String| self.error(value.span(), key, why))
    }

    fn nodes(&self, expr: &Spanned<String>) -> Result<NodeSet, ConfigError> {
        let set = self
            .inventory
            .resolve(expr.get_ref())
            .map_err(|err| self.error(expr.span(), "nodes", err.to_string()))?;
        let unknown: Vec<&str> =
            set.iter().filter(|name| self.inventory.node(name).is_none()).collect();
        if !unknown.is_empty() {
            let unknown = NodeSet::from_names(unknown.iter().copied());
            return Err(self.error(
                expr.span(),
                "nodes",
                format!("names {unknown}, not defined in any [[nodes]] entry"),
            ));
        }
        Ok(set)
    }

    fn services(&self, stage: &StageConfig) -> Result<Vec<ServiceSelector>, ConfigError> {
        let Some(written) = &stage.services else { return Ok(vec![ServiceSelector::All]) };
        let services = self.inventory.services();
        let mut selectors = Vec::new();
        for entry in written.get_ref() {
            let selector = if let Some(tier) = entry.strip_prefix("tier:") {
                let tier: u32 = tier.trim().parse().map_err(|_| {
                    self.error(
                        written.span(),
                        "services",
                        format!("{entry:?}: write tier:N with N a whole number"),
                    )
                })?;
                if !services.iter().any(|service| service.tier == Some(tier)) {
                    return Err(self.error(
                        written.span(),
                        "services",
                        format!("{entry:?}: no service has tier {tier}"),
                    ));
                }
                ServiceSelector::Tier(tier)
            } else if services.iter().any(|service| service.name == *entry) {
                ServiceSelector::Name(entry.clone())
            } else if let Some(kind) = service_kind(entry) {
                ServiceSelector::Kind(kind)
            } else {
                return Err(self.error(
                    written.span(),
                    "services",
                    format!("{entry:?} is not a service name, a kind (worker, rpc, journal-client) or tier:N"),
                ));
            };
            selectors.push(selector);
        }
        if selectors.is_empty() {
            return Err(self.error(
                written.span(),
                "services",
                "is empty: leave it out to restart every service",
            ));
        }
        Ok(selectors)
    }
}

fn service_kind(text: &str) -> Option<ServiceKind> {
    [ServiceKind::Worker, ServiceKind::Rpc, ServiceKind::JournalClient]
        .into_iter()
        .find(|kind| kind.to_string() == text)
}

/// The services with a tier, grouped by tier, lowest first.
fn tiers(inventory: &Inventory) -> BTreeMap<u32, (Vec<String>, NodeSet)> {
    let mut tiers: BTreeMap<u32, (Vec<String>, NodeSet)> = BTreeMap::new();
    for service in inventory.services() {
        let Some(tier) = service.tier else { continue };
        let (names, nodes) = tiers.entry(tier).or_default();
        names.push(service.name.clone());
        nodes.union(&NodeSet::from_names(service.nodes.iter().cloned()));
    }
    tiers
}

/// Every node that runs no tiered service.
fn untiered(inventory: &Inventory) -> NodeSet {
    let mut rest = inventory.all().clone();
    for (_, nodes) in tiers(inventory).values() {
        rest.difference(nodes);
    }
    rest
}

fn builtin_stage(name: &str, action: Action) -> Stage {
    Stage {
        name: name.to_owned(),
        action,
        nodes: None,
        batch: None,
        max_failures: Amount::ZERO,
        when: StageWhen::Always,
        point_of_no_return: false,
        skip_if_empty: true,
    }
}

/// `prepare` check → one `install` per tier, lowest first → `install` of the rest in
/// batches of 25% → `restart` of the environment's services → `verify` check (seed 001:
/// Gitaly before Praefect before the fleet).
#[must_use]
pub fn builtin_upgrade(inventory: &Inventory) -> Pipeline {
    let mut stages = vec![builtin_stage("prepare", Action::Check)];
    for (tier, (_, nodes)) in tiers(inventory) {
        stages.push(Stage {
            nodes: Some(nodes),
            ..builtin_stage(&format!("tier-{tier}"), Action::Install)
        });
    }
    stages.push(Stage {
        nodes: Some(untiered(inventory)),
        batch: Some(Amount::Percent(25)),
        ..builtin_stage("install", Action::Install)
    });
    stages.push(builtin_stage("restart", Action::Restart { services: vec![ServiceSelector::All] }));
    stages.push(builtin_stage("verify", Action::Check));
    Pipeline { name: DEFAULT_PIPELINE.to_owned(), builtin: true, stages }
}

/// `prepare` check → `install` of the fleet in batches of 25% → the tiers last, highest
/// first, each waiting for an operator (seed 001: Gitaly and Praefect are rolled back by
/// hand, after the rest, if at all).
#[must_use]
pub fn builtin_rollback(inventory: &Inventory) -> Pipeline {
    let mut stages = vec![builtin_stage("prepare", Action::Check)];
    stages.push(Stage {
        nodes: Some(untiered(inventory)),
        batch: Some(Amount::Percent(25)),
        ..builtin_stage("install", Action::Install)
    });
    for (tier, (_, nodes)) in tiers(inventory).into_iter().rev() {
        stages.push(Stage {
            nodes: Some(nodes),
            when: StageWhen::Manual,
            ..builtin_stage(&format!("tier-{tier}"), Action::Install)
        });
    }
    Pipeline { name: DEFAULT_ROLLBACK_PIPELINE.to_owned(), builtin: true, stages }
}

#[cfg(test)]
pub(crate) mod tests;
