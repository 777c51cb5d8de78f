//! The configuration as `wharf config check` summarises it.

use serde::Serialize;
use wharf_core::config::{AptSettings, format_duration};
use wharf_core::inventory::Inventory;
use wharf_core::nodeset::NodeSet;

/// What the configuration describes, and where Wharf found it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ConfigSummary {
    /// The configuration file (`wharf.toml` when none was found).
    pub file: String,
    pub found: bool,
    /// How the file was chosen: `flag`, `env`, `cwd`, `system` or `none`.
    pub config_source: String,
    /// The data directory in use (`--data`, `$WHARF_DATA`, `[store] data` or the default).
    pub data_dir: String,
    /// How many nodes the inventory has.
    pub nodes: usize,
    pub groups: Vec<GroupSummary>,
    /// In the order the file declares them.
    pub environments: Vec<EnvironmentSummary>,
    pub services: usize,
    /// The store URL, password redacted.
    pub database: String,
    /// `s3://BUCKET[/PREFIX]`, or `null` for the data directory.
    pub storage: Option<String>,
    pub apt: AptSummary,
}

/// A group and the nodes it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct GroupSummary {
    pub name: String,
    /// Folded, as ClusterShell writes it.
    pub nodes: String,
    pub count: usize,
}

/// An environment and its place in the promotion order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EnvironmentSummary {
    pub name: String,
    /// The environment a version must pass first.
    pub after: Option<String>,
    pub production: bool,
    /// Folded node set.
    pub nodes: String,
    pub count: usize,
}

/// The effective `[apt]` settings.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct AptSummary {
    pub origin: String,
    /// With `{prefix}` still in it.
    pub label: String,
    /// `7d`, or `null` for no `Valid-Until`.
    pub valid_for: Option<String>,
    pub grace: String,
    /// The configured key file, or where the generated key lives.
    pub signing_key: String,
    /// `configured` or `generated`.
    pub signing_key_source: String,
    /// Algorithm and fingerprint of a configured key; `null` for the generated one.
    pub signing_key_details: Option<String>,
    pub min_free_percent: f64,
}

impl ConfigSummary {
    /// The summary with what `inventory` describes (nodes, groups, environments,
    /// services): how `wharf server` keeps its summary current across reloads.
    #[must_use]
    pub fn with_inventory(mut self, inventory: &Inventory) -> ConfigSummary {
        self.nodes = inventory.all().len();
        self.groups = GroupSummary::all(inventory);
        self.environments = EnvironmentSummary::all(inventory);
        self.services = inventory.services().len();
        self
    }
}

impl GroupSummary {
    /// Every group of the inventory.
    #[must_use]
    pub fn all(inventory: &Inventory) -> Vec<GroupSummary> {
        inventory
            .groups()
            .iter()
            .map(|(name, set)| GroupSummary {
                name: name.clone(),
                nodes: set.fold(),
                count: set.len(),
            })
            .collect()
    }
}

impl EnvironmentSummary {
    /// Every environment of the inventory.
    #[must_use]
    pub fn all(inventory: &Inventory) -> Vec<EnvironmentSummary> {
        inventory
            .environments()
            .iter()
            .map(|env| EnvironmentSummary {
                name: env.name.clone(),
                after: env.after.clone(),
                production: env.production,
                nodes: NodeSet::from_names(env.nodes.iter().cloned()).fold(),
                count: env.nodes.len(),
            })
            .collect()
    }
}

impl AptSummary {
    /// `apt` with the signing key: its file, and for a configured one its description.
    #[must_use]
    pub fn new(apt: &AptSettings, key_file: String, configured_key: Option<String>) -> AptSummary {
        AptSummary {
            origin: apt.origin.clone(),
            label: apt.label.clone(),
            valid_for: apt.valid_for.map(format_duration),
            grace: format_duration(apt.grace),
            signing_key: key_file,
            signing_key_source: if configured_key.is_some() { "configured" } else { "generated" }
                .to_owned(),
            signing_key_details: configured_key,
            min_free_percent: apt.min_free_percent,
        }
    }
}
