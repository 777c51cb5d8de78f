//! The resolved fleet: every node with its address and labels, every group expanded, every
//! environment and service checked against them.
//!
//! **Invariant:** an [`Inventory`] only exists when its configuration is consistent — node
//! names are unique, groups resolve without cycles, environments and services name nodes
//! that exist and environments that exist. Code that holds one never re-validates.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Serialize;
use toml::Spanned;

use crate::config::{Config, ConfigError, ConfigSource, GroupConfig, ServiceKind, Transport};
use crate::nodeset::{GroupSource, NoGroups, NodeSet, NodeSetError};

/// One node of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Node {
    pub name: String,
    /// Address to connect to (the name itself unless configured).
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub transport: Transport,
    /// For local nodes: the directory standing in for the node's `/`.
    pub root: Option<String>,
}

/// An environment: nodes a version rolls to, and its place in the promotion order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Environment {
    pub name: String,
    /// The expression as written, e.g. `@canary`.
    pub nodes_expr: String,
    pub nodes: Vec<String>,
    pub after: Option<String>,
    pub production: bool,
    pub repository: Option<String>,
    pub packages: Vec<String>,
    /// A canary environment runs `when = "canary-only"` stages.
    pub canary: bool,
}

/// A service: systemd units of one kind on a set of nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    pub kind: ServiceKind,
    pub units: Vec<String>,
    pub nodes: Vec<String>,
    pub tier: Option<u32>,
}

/// The validated fleet described by a configuration file.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    nodes: BTreeMap<String, Node>,
    all: NodeSet,
    groups: BTreeMap<String, NodeSet>,
    environments: Vec<Environment>,
    services: Vec<Service>,
}

impl Inventory {
    /// Build and validate the inventory; errors name the file, line and key at fault.
    pub fn from_config(config: &Config, source: &ConfigSource) -> Result<Inventory, ConfigError> {
        let mut inventory = Inventory::default();
        inventory.add_nodes(config, source)?;
        inventory.resolve_groups(config, source)?;
        inventory.add_environments(config, source)?;
        inventory.add_services(config, source)?;
        Ok(inventory)
    }

    fn add_nodes(&mut self, config: &Config, source: &ConfigSource) -> Result<(), ConfigError> {
        for entry in &config.nodes {
            let span = entry.names.span();
            let names = NodeSet::parse(entry.names.get_ref(), &NoGroups)
                .map_err(|err| nodeset_error(source, span.clone(), "nodes.names", &err))?;
            if names.is_empty() {
                return Err(source.error(Some(span), Some("nodes.names"), "names no node"));
            }
            for name in names.iter() {
                check_node_name(name)
                    .map_err(|why| source.error(Some(span.clone()), Some("nodes.names"), why))?;
                if self.nodes.contains_key(name) {
                    return Err(source.error(
                        Some(span.clone()),
                        Some("nodes.names"),
                        format!("node {name} is defined twice"),
                    ));
                }
                let node = Node {
                    name: name.to_owned(),
                    host: entry.host.as_deref().map_or_else(
                        || name.to_owned(),
                        |template| template.replace("{name}", name),
                    ),
                    port: entry.port,
                    user: entry.user.clone(),
                    labels: entry.labels.clone(),
                    transport: entry.transport,
                    root: entry
                        .root
                        .as_deref()
                        .map(|template| source.resolve_path(&template.replace("{name}", name))),
                };
                self.nodes.insert(name.to_owned(), node);
            }
        }
        self.all = NodeSet::from_names(self.nodes.keys().cloned());
        Ok(())
    }

    /// Expand every group, following `@other` references depth-first so cycles are found
    /// and named rather than looping.
    fn resolve_groups(
        &mut self,
        config: &Config,
        source: &ConfigSource,
    ) -> Result<(), ConfigError> {
        let defined: BTreeMap<&str, _> = config
            .groups
            .iter()
            .map(|(name, group)| (name.get_ref().as_str(), (name, group)))
            .collect();
        for name in config.groups.keys() {
            let mut visiting = Vec::new();
            self.resolve_group(name.get_ref(), &defined, &mut visiting, source)?;
        }
        Ok(())
    }

    fn resolve_group(
        &mut self,
        name: &str,
        defined: &BTreeMap<&str, (&Spanned<String>, &GroupConfig)>,
        visiting: &mut Vec<String>,
        source: &ConfigSource,
    ) -> Result<(), ConfigError> {
        if self.groups.contains_key(name) {
            return Ok(());
        }
        let (key, group) = defined[name];
        let key_name = format!("groups.{name}");
        if let Some(pos) = visiting.iter().position(|seen| seen == name) {
            let mut cycle: Vec<String> = visiting[pos..].iter().map(|g| format!("@{g}")).collect();
            cycle.push(format!("@{name}"));
            return Err(source.error(
                Some(key.span()),
                Some(&key_name),
                format!("groups refer to each other in a cycle: {}", cycle.join(" -> ")),
            ));
        }
        let expr = group.get_ref().expression();
        visiting.push(name.to_owned());
        for reference in group_references(&expr) {
            if reference == "*" || reference.contains(':') {
                continue;
            }
            if !defined.contains_key(reference.as_str()) {
                return Err(source.error(
                    Some(group.span()),
                    Some(&key_name),
                    format!("refers to @{reference}, which is not a group defined in [groups]"),
                ));
            }
            self.resolve_group(&reference, defined, visiting, source)?;
        }
        visiting.pop();
        let members = NodeSet::parse(&expr, &*self)
            .map_err(|err| nodeset_error(source, group.span(), &key_name, &err))?;
        self.check_known(&members, Some(group.span()), &key_name, source)?;
        self.groups.insert(name.to_owned(), members);
        Ok(())
    }

    fn add_environments(
        &mut self,
        config: &Config,
        source: &ConfigSource,
    ) -> Result<(), ConfigError> {
        let mut seen = BTreeSet::new();
        for env in &config.environments {
            let name = unique_name(&mut seen, &env.name, "environment", source)?;
            let nodes = self.members(&env.nodes, &format!("environments.{name}.nodes"), source)?;
            self.environments.push(Environment {
                name: name.to_owned(),
                nodes_expr: env.nodes.get_ref().clone(),
                nodes,
                after: env.after.as_ref().map(|after| after.get_ref().clone()),
                production: env.production,
                repository: env.repository.clone(),
                packages: env.packages.clone(),
                canary: env.canary,
            });
        }
        for env in &config.environments {
            let Some(after) = &env.after else { continue };
            let key = format!("environments.{}.after", env.name.get_ref());
            if !seen.contains(after.get_ref().as_str()) {
                return Err(source.error(
                    Some(after.span()),
                    Some(&key),
                    format!("no environment is named {:?}", after.get_ref()),
                ));
            }
            // Walk the promotion chain: it must end, not loop.
            let mut chain = vec![env.name.get_ref().as_str()];
            let mut current = after.get_ref().as_str();
            while let Some(next) = self.environment(current) {
                if chain.contains(&current) {
                    chain.push(current);
                    return Err(source.error(
                        Some(after.span()),
                        Some(&key),
                        format!("promotion order loops: {}", chain.join(" after ")),
                    ));
                }
                chain.push(current);
                match &next.after {
                    Some(after) => current = after,
                    None => break,
                }
            }
        }
        Ok(())
    }

    fn add_services(&mut self, config: &Config, source: &ConfigSource) -> Result<(), ConfigError> {
        let mut seen = BTreeSet::new();
        for service in &config.services {
            let name = unique_name(&mut seen, &service.name, "service", source)?;
            let nodes = self.members(&service.nodes, &format!("services.{name}.nodes"), source)?;
            self.services.push(Service {
                name: name.to_owned(),
                kind: service.kind,
                units: service.units.clone(),
                nodes,
                tier: service.tier,
            });
        }
        Ok(())
    }

    /// The nodes an environment or service names: the expression must parse and every name
    /// must be a node of the inventory.
    fn members(
        &self,
        expr: &Spanned<String>,
        key: &str,
        source: &ConfigSource,
    ) -> Result<Vec<String>, ConfigError> {
        let nodes = self
            .resolve(expr.get_ref())
            .map_err(|err| nodeset_error(source, expr.span(), key, &err))?;
        self.check_known(&nodes, Some(expr.span()), key, source)?;
        Ok(nodes.iter().map(str::to_owned).collect())
    }

    /// Every name in `members` must be a node of the inventory.
    fn check_known(
        &self,
        members: &NodeSet,
        span: Option<Range<usize>>,
        key: &str,
        source: &ConfigSource,
    ) -> Result<(), ConfigError> {
        let unknown: Vec<&str> =
            members.iter().filter(|name| !self.nodes.contains_key(*name)).collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let unknown = NodeSet::from_names(unknown.iter().copied());
        Err(source.error(
            span,
            Some(key),
            format!("names {unknown}, not defined in any [[nodes]] entry"),
        ))
    }

    /// Expand a node-set expression against this inventory's groups and labels.
    pub fn resolve(&self, expr: &str) -> Result<NodeSet, NodeSetError> {
        NodeSet::parse(expr, self)
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(name)
    }

    /// All nodes, in name order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.all.iter().filter_map(|name| self.nodes.get(name))
    }

    pub fn all(&self) -> &NodeSet {
        &self.all
    }

    pub fn groups(&self) -> &BTreeMap<String, NodeSet> {
        &self.groups
    }

    pub fn environments(&self) -> &[Environment] {
        &self.environments
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|env| env.name == name)
    }

    pub fn services(&self) -> &[Service] {
        &self.services
    }
}

impl GroupSource for Inventory {
    fn group(&self, name: &str) -> Option<NodeSet> {
        if name == "*" {
            return Some(self.all.clone());
        }
        if let Some((key, value)) = name.split_once(':') {
            let members = self
                .nodes
                .values()
                .filter(|node| node.labels.get(key).is_some_and(|v| v == value))
                .map(|node| node.name.clone());
            return Some(NodeSet::from_names(members));
        }
        self.groups.get(name).cloned()
    }
}

/// Record `name` in `seen`; a second `[[environments]]` or `[[services]]` entry with the same
/// name is an error at its line.
fn unique_name<'a>(
    seen: &mut BTreeSet<&'a str>,
    name: &'a Spanned<String>,
    what: &str,
    source: &ConfigSource,
) -> Result<&'a str, ConfigError> {
    if seen.insert(name.get_ref()) {
        return Ok(name.get_ref());
    }
    Err(source.error(
        Some(name.span()),
        Some(&format!("{what}s.name")),
        format!("{what} {} is defined twice", name.get_ref()),
    ))
}

/// The `@name` references in an expression, in order.
fn group_references(expr: &str) -> Vec<String> {
    let mut references = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find('@') {
        let after = &rest[at + 1..];
        let end = after.find([',', '!', '&', '^', ' ']).unwrap_or(after.len());
        references.push(after[..end].to_owned());
        rest = &after[end..];
    }
    references
}

/// Node names end up in SSH configs, environment variables and audit entries: keep them to
/// the characters host names use.
fn check_node_name(name: &str) -> Result<(), String> {
    let bad = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    match bad {
        Some(c) => {
            Err(format!("node name {name:?} contains {c:?}; use letters, digits, '-', '_' and '.'"))
        }
        None if name.starts_with(['-', '.']) => {
            Err(format!("node name {name:?} must start with a letter or digit"))
        }
        None => Ok(()),
    }
}

fn nodeset_error(
    source: &ConfigSource,
    span: Range<usize>,
    key: &str,
    err: &NodeSetError,
) -> ConfigError {
    source.error(Some(span), Some(key), err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEET: &str = r#"
[[nodes]]
names = "web[01-04]"
host = "{name}.internal"
labels = { role = "web", dc = "east" }

[[nodes]]
name = "db1"
labels = { role = "db" }

[groups]
canary = "web[01-02]"
production = ["web[03-04]", "db1"]
everything = "@canary,@production"

[[environments]]
name = "gprd-cny"
nodes = "@canary"
production = true

[[environments]]
name = "gprd"
nodes = "@production"
after = "gprd-cny"
production = true

[[services]]
name = "gitaly"
kind = "rpc"
units = ["gitaly.service"]
nodes = "@role:db"
"#;

    fn load(text: &str) -> Result<Inventory, ConfigError> {
        let source = ConfigSource::new("wharf.toml", text);
        let config = source.parse()?;
        Inventory::from_config(&config, &source)
    }

    fn load_err(text: &str) -> ConfigError {
        load(text).expect_err("inventory should be rejected")
    }

    #[test]
    fn resolves_nodes_groups_labels_and_environments() {
        let inventory = load(FLEET).unwrap();
        assert_eq!(inventory.all().len(), 5);
        assert_eq!(inventory.node("web03").unwrap().host, "web03.internal");
        assert_eq!(inventory.node("db1").unwrap().host, "db1");
        let names = |expr: &str| -> Vec<String> {
            inventory.resolve(expr).unwrap().iter().map(str::to_owned).collect()
        };
        assert_eq!(names("@everything"), ["db1", "web01", "web02", "web03", "web04"]);
        assert_eq!(names("@role:web!@canary"), ["web03", "web04"]);
        assert_eq!(names("@*"), names("@everything"));
        assert_eq!(inventory.environment("gprd").unwrap().nodes, ["db1", "web03", "web04"]);
        assert_eq!(inventory.services()[0].nodes, ["db1"]);
    }

    #[test]
    fn duplicate_node_is_rejected_with_line() {
        let err = load_err("[[nodes]]\nnames = \"a[1-3]\"\n[[nodes]]\nnames = \"a2\"\n");
        assert_eq!(err.line, Some(4), "{err}");
        assert!(err.message.contains("a2 is defined twice"), "{err}");
    }

    #[test]
    fn missing_group_is_rejected_with_line() {
        let err = load_err("[[nodes]]\nnames = \"a1\"\n[groups]\nx = \"@y\"\n");
        assert_eq!((err.line, err.key.as_deref()), (Some(4), Some("groups.x")), "{err}");
        assert!(err.message.contains("@y"), "{err}");
    }

    #[test]
    fn group_cycle_is_named() {
        let err = load_err(
            "[[nodes]]\nnames = \"a1\"\n[groups]\nx = \"@y\"\ny = \"a1,@z\"\nz = \"@x\"\n",
        );
        assert!(err.message.contains("cycle: @x -> @y -> @z -> @x"), "{err}");
        assert_eq!(err.line, Some(4), "{err}");
    }

    #[test]
    fn environment_errors_name_key() {
        let base = "[[nodes]]\nnames = \"a1\"\n";
        let err = load_err(&format!("{base}[[environments]]\nname = \"e\"\nnodes = \"a9\"\n"));
        assert_eq!(err.key.as_deref(), Some("environments.e.nodes"), "{err}");
        assert!(err.message.contains("a9"), "{err}");
        let err = load_err(&format!(
            "{base}[[environments]]\nname = \"e\"\nnodes = \"a1\"\nafter = \"nope\"\n"
        ));
        assert_eq!(
            (err.line, err.key.as_deref()),
            (Some(6), Some("environments.e.after")),
            "{err}"
        );
        let err = load_err(&format!(
            "{base}[[environments]]\nname = \"e\"\nnodes = \"a1\"\nafter = \"f\"\n\
             [[environments]]\nname = \"f\"\nnodes = \"a1\"\nafter = \"e\"\n"
        ));
        assert!(err.message.contains("loops"), "{err}");
        let err = load_err(&format!(
            "{base}[[environments]]\nname = \"e\"\nnodes = \"a1\"\n[[environments]]\nname = \"e\"\nnodes = \"a1\"\n"
        ));
        assert!(err.message.contains("defined twice"), "{err}");
    }

    #[test]
    fn unsafe_node_names_are_rejected() {
        let err = load_err("[[nodes]]\nnames = \"a;rm\"\n");
        assert!(err.message.contains("';'"), "{err}");
    }

    #[test]
    fn group_references_are_found() {
        assert_eq!(group_references("@a,b!@c:d&@*"), ["a", "c:d", "*"]);
    }
}
