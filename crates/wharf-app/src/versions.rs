//! Which versions nodes have installed: the `version` command (`dpkg-query -W -f='${Version}'
//! {package}` by default) for every package, in one remote command per node. A deploy
//! verifies its installs with it; the `fleet-version` check and `wharf status --check` use
//! it to find nodes that disagree with the rest.

use std::collections::{BTreeMap, HashMap};

use wharf_core::template::CommandKey;
use wharf_deploy::command::{NodeName, PackageName, Values, expand_step};
use wharf_exec::{Action, Outcome, Pool};

use crate::error::{AppError, Result};
use crate::fleet::{Fleet, FleetRequest};

/// What one node has installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeVersions {
    pub node: String,
    /// Package → installed version; `None`: not installed.
    pub versions: BTreeMap<String, Option<String>>,
    /// Why the versions could not be read (unreachable, the command failed); `versions` is
    /// empty then.
    pub error: Option<String>,
}

/// Ends each package's output: `\n@wharf-version-end@ EXIT\n`.
const MARK: &str = "@wharf-version-end@";

/// The one command `node` runs: each package's `version` command (which may use
/// `{node}`), its exit code after a marker line. `None` when the environment configures no
/// `version` command.
fn command(
    templates: &wharf_core::template::CommandTemplates,
    node: &NodeName,
    packages: &[PackageName],
) -> Result<Option<String>> {
    let mut line = String::new();
    for package in packages {
        let values = Values { package: Some(package), node: Some(node), ..Values::default() };
        let Some(one) = expand_step(templates, CommandKey::Version, &values)
            .map_err(|err| AppError::internal(err.to_string()))?
        else {
            return Ok(None);
        };
        line.push_str(&format!("({one}); printf '\\n{MARK} %s\\n' \"$?\"; "));
    }
    Ok(Some(line))
}

/// Read one node's output of [`command`].
fn parse(
    packages: &[PackageName],
    stdout: &str,
) -> std::result::Result<BTreeMap<String, Option<String>>, String> {
    let mut versions = BTreeMap::new();
    let mut rest = stdout;
    for package in packages {
        let Some(at) = rest.find(MARK) else {
            return Err(format!("the version command printed no result for {package}"));
        };
        let (text, after) = rest.split_at(at);
        let after = &after[MARK.len()..];
        let (code, next) = after.split_once('\n').unwrap_or((after, ""));
        let text = text.trim();
        let version = match code.trim() {
            "0" if text.is_empty() => None,
            "0" => Some(text.to_owned()),
            // dpkg-query's "no packages found matching": not installed.
            "1" if text.is_empty() => None,
            code => {
                return Err(format!("the version command for {package} exited with {code}"));
            }
        };
        versions.insert(package.to_string(), version);
        rest = next;
    }
    Ok(versions)
}

/// The installed versions of `packages` on `nodes` (of `environment`, whose commands
/// apply), in node order. Unreachable nodes and failing commands are reported per node.
pub async fn installed(
    fleet: Fleet<'_>,
    pool: &Pool,
    environment: &str,
    nodes: &[String],
    packages: &[String],
) -> Result<Vec<NodeVersions>> {
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<PackageName> = packages
        .iter()
        .map(|p| {
            p.parse().map_err(|err: wharf_deploy::command::ValueError| {
                AppError::invalid(err.to_string())
            })
        })
        .collect::<Result<_>>()?;
    let templates = fleet.config.commands_for(Some(environment), fleet.source)?;
    let mut lines = HashMap::with_capacity(nodes.len());
    for node in nodes {
        let name: NodeName = node
            .parse()
            .map_err(|err: wharf_deploy::command::ValueError| AppError::invalid(err.to_string()))?;
        let Some(line) = command(&templates, &name, &names)? else {
            return Err(AppError::invalid(format!(
                "{environment} has no `version` command: set one in [commands] to read installed versions"
            )));
        };
        lines.insert(node.clone(), line);
    }
    // One command for all when the template does not use `{node}`.
    let first = &lines[&nodes[0]];
    let action = if lines.values().all(|line| line == first) {
        Action::Run(first.clone())
    } else {
        Action::RunEach(lines)
    };
    let request = FleetRequest { nodes: vec![nodes.join(",")], ..FleetRequest::default() };
    let targets = crate::fleet::targets(fleet.inventory, &fleet.config.ssh, fleet.env, &request)?;
    let results = crate::fleet::fan_out(pool, targets, action, fleet.options, None).await;
    let mut by_node: HashMap<String, NodeVersions> = results
        .into_iter()
        .map(|result| {
            let read = match &result.outcome {
                Outcome::Exited(_) => parse(&names, &String::from_utf8_lossy(&result.stdout)),
                other => Err(other.describe()),
            };
            let (versions, error) = match read {
                Ok(versions) => (versions, None),
                Err(error) => (BTreeMap::new(), Some(error)),
            };
            (result.node.clone(), NodeVersions { node: result.node, versions, error })
        })
        .collect();
    Ok(nodes.iter().filter_map(|node| by_node.remove(node)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<PackageName> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn reads_each_package_and_its_exit_code() {
        let pkgs = names(&["app", "gone", "broken"]);
        let ok = format!("1.2-1\n{MARK} 0\n\n{MARK} 1\n\n{MARK} 0\n");
        let read = parse(&pkgs, &ok).unwrap();
        assert_eq!(read["app"].as_deref(), Some("1.2-1"));
        assert_eq!(read["gone"], None);
        assert_eq!(read["broken"], None);

        let failed = format!("1.2-1\n{MARK} 0\n\n{MARK} 127\n");
        let err = parse(&pkgs, &failed).unwrap_err();
        assert!(err.contains("gone exited with 127"), "{err}");

        let short = format!("1.2-1\n{MARK} 0\n");
        assert!(parse(&pkgs, &short).unwrap_err().contains("no result for gone"));
    }

    #[test]
    fn version_command_may_address_the_node() {
        // A private root per node: the `version` template names the node (regression: it
        // was expanded once for all nodes, without `{node}`, and every read failed).
        let mut templates = wharf_core::template::CommandTemplates::defaults();
        let text =
            "dpkg-query --admindir=/roots/{node}/var/lib/dpkg -W -f='${{Version}}' {package}";
        templates.set(
            CommandKey::Version,
            Some(wharf_core::template::Template::parse(CommandKey::Version, text).unwrap()),
        );
        let node: NodeName = "web01".parse().unwrap();
        let line = command(&templates, &node, &names(&["app"])).unwrap().unwrap();
        assert!(
            line.starts_with(
                "(dpkg-query --admindir=/roots/'web01'/var/lib/dpkg -W -f='${Version}' 'app');"
            ),
            "{line}"
        );
    }
}
