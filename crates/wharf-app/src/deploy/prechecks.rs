//! A `check` stage: the built-in checks — the version is in the environment's published
//! repository (`package`), the nodes agree on what is installed and nothing newer is
//! there (`fleet-version`; after the install stages: every node runs the target), no node
//! is in maintenance (`maintenance`) — and the configured `[[checks]]`. Each result is
//! pass/fail with evidence that names what is wrong.

use std::collections::BTreeMap;

use wharf_core::inventory::Environment;
use wharf_core::nodeset::NodeSet;
use wharf_core::version::Version;
use wharf_exec::Pool;
use wharf_store::AptKind;

use crate::context::Context;
use crate::error::Result;
use crate::fleet::Fleet;
use crate::versions::{self, NodeVersions};

/// One check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckResult {
    pub name: String,
    pub passed: bool,
    pub evidence: Vec<String>,
}

impl CheckResult {
    fn new(name: &str, evidence: Vec<String>) -> CheckResult {
        CheckResult { name: name.to_owned(), passed: evidence.is_empty(), evidence }
    }

    /// `fleet-version: web03 has 1.1-1, expected 1.2-1`.
    pub(crate) fn describe(&self) -> String {
        format!("{}: {}", self.name, self.evidence.join("; "))
    }
}

/// What a check stage checks.
pub(crate) struct CheckScope<'a> {
    pub environment: &'a Environment,
    pub packages: &'a BTreeMap<String, Version>,
    /// Before any node changed: agreement and no downgrade; after: the target everywhere.
    pub precheck: bool,
    /// `--downgrade` or a rollback: older targets are expected.
    pub downgrade: bool,
    pub ignore_production_checks: bool,
}

/// Every check of the stage, built-in first.
pub(crate) async fn run(
    ctx: &Context,
    fleet: Fleet<'_>,
    pool: &Pool,
    scope: &CheckScope<'_>,
) -> Result<Vec<CheckResult>> {
    let mut results = Vec::new();
    if scope.precheck {
        results.push(package_published(ctx, scope).await?);
        results.push(maintenance(ctx, scope.environment).await?);
    }
    let names: Vec<String> = scope.packages.keys().cloned().collect();
    let installed =
        versions::installed(fleet, pool, &scope.environment.name, &scope.environment.nodes, &names)
            .await?;
    results.push(fleet_version(scope, &installed));
    let version = crate::deploy::dry_run::describe(scope.packages);
    let target = crate::checks::CheckTarget {
        environment: scope.environment,
        version: &version,
        ignore_production_checks: scope.ignore_production_checks,
    };
    for outcome in crate::checks::configured(fleet.config, fleet.source, &target).await? {
        results.push(CheckResult {
            name: outcome.name,
            passed: outcome.passed,
            evidence: if outcome.passed { Vec::new() } else { outcome.evidence },
        });
    }
    Ok(results)
}

/// `package`: every version being deployed is in the environment's repository as it was
/// last published — what the nodes' `apt-get` will see.
async fn package_published(ctx: &Context, scope: &CheckScope<'_>) -> Result<CheckResult> {
    let name = "package";
    let Some(repository) = &scope.environment.repository else {
        return Ok(CheckResult::new(name, Vec::new()));
    };
    let publishes: Vec<_> = ctx
        .store()
        .apt_publishes()
        .await?
        .into_iter()
        .filter(|p| p.record.source == *repository)
        .collect();
    if publishes.is_empty() {
        return Ok(CheckResult::new(
            name,
            vec![format!("{repository} is not published: `wharf publish {repository}`")],
        ));
    }
    let names: Vec<String> = scope.packages.keys().cloned().collect();
    let mut evidence = Vec::new();
    for publish in &publishes {
        let kind = publish.record.kind;
        let current = ctx.store().apt_collections(kind, Some(repository)).await?;
        if kind == AptKind::Repo
            && current.first().is_some_and(|c| c.generation != publish.record.generation)
        {
            evidence.push(format!(
                "{repository} changed since it was published at {}: `wharf publish {repository}`",
                publish.prefix
            ));
            continue;
        }
        let members = ctx.store().apt_members_named(kind, repository, &names).await?;
        for (package, version) in scope.packages {
            let found = members.iter().any(|m| {
                m.name == *package && m.version.parse::<Version>().is_ok_and(|v| v == *version)
            });
            if !found {
                let have: Vec<&str> = members
                    .iter()
                    .filter(|m| m.name == *package)
                    .map(|m| m.version.as_str())
                    .collect();
                evidence.push(format!(
                    "{package} {version} is not in {repository} (published at {}; it has {}): `wharf repo add {repository} FILE.deb` and `wharf publish {repository}`",
                    publish.prefix,
                    if have.is_empty() { "none".to_owned() } else { have.join(", ") }
                ));
            }
        }
    }
    Ok(CheckResult::new(name, evidence))
}

/// `maintenance`: no node of the environment is in maintenance.
async fn maintenance(ctx: &Context, environment: &Environment) -> Result<CheckResult> {
    let evidence = ctx
        .store()
        .maintenance()
        .await?
        .into_iter()
        .filter(|m| environment.nodes.contains(&m.node))
        .map(|m| {
            format!(
                "{} is in maintenance since {} by {} ({:?}): `wharf maintenance stop {}`",
                m.node, m.since, m.holder, m.reason, m.node
            )
        })
        .collect();
    Ok(CheckResult::new("maintenance", evidence))
}

/// `fleet-version`. Before changes: every node reachable, one installed version per
/// package, and none newer than the target unless downgrading. After: the target on every
/// node.
pub(crate) fn fleet_version(scope: &CheckScope<'_>, installed: &[NodeVersions]) -> CheckResult {
    let mut evidence = Vec::new();
    let unreachable: Vec<String> = installed
        .iter()
        .filter_map(|n| n.error.as_ref().map(|e| format!("{}: {e}", n.node)))
        .collect();
    evidence.extend(unreachable);
    for (package, target) in scope.packages {
        // Installed version → nodes.
        let mut by_version: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        for node in installed.iter().filter(|n| n.error.is_none()) {
            let version = node.versions.get(package).cloned().flatten();
            by_version.entry(version).or_default().push(node.node.clone());
        }
        let say = |version: &Option<String>| {
            version.as_deref().map_or_else(|| "not installed".to_owned(), str::to_owned)
        };
        if scope.precheck {
            if by_version.len() > 1 {
                let split: Vec<String> = by_version
                    .iter()
                    .map(|(v, nodes)| {
                        format!(
                            "{} on {}",
                            say(v),
                            NodeSet::from_names(nodes.iter().cloned()).fold()
                        )
                    })
                    .collect();
                evidence.push(format!("{package} differs between nodes: {}", split.join(", ")));
            }
            if !scope.downgrade {
                for (version, nodes) in &by_version {
                    let newer = version
                        .as_deref()
                        .and_then(|v| v.parse::<Version>().ok())
                        .filter(|v| v > target);
                    if let Some(newer) = newer {
                        evidence.push(format!(
                            "{package} {target} is older than {newer} installed on {}: deploying it needs --downgrade",
                            NodeSet::from_names(nodes.iter().cloned()).fold()
                        ));
                    }
                }
            }
        } else {
            for (version, nodes) in &by_version {
                let ok = version.as_deref().and_then(|v| v.parse::<Version>().ok()).as_ref()
                    == Some(target);
                if !ok {
                    evidence.push(format!(
                        "{package} is {} on {}, expected {target}",
                        say(version),
                        NodeSet::from_names(nodes.iter().cloned()).fold()
                    ));
                }
            }
        }
    }
    CheckResult::new("fleet-version", evidence)
}
