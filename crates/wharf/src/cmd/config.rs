//! `wharf config check`: validate wharf.toml and summarise what it describes.

use serde::Serialize;
use wharf_core::config::format_duration;

use crate::cli::JsonArgs;
use crate::exit::SUCCESS;
use crate::output;
use crate::settings::{ConfigOrigin, SYSTEM_CONFIG, Settings};

#[derive(Serialize)]
struct ConfigSummary<'a> {
    file: String,
    found: bool,
    /// How the file was chosen: `flag`, `env`, `cwd`, `system` or `none`.
    config_source: ConfigOrigin,
    /// The data directory in use (`--data`, `$WHARF_DATA`, `[store] data` or the default).
    data_dir: String,
    nodes: usize,
    groups: Vec<GroupSummary<'a>>,
    environments: Vec<EnvironmentSummary<'a>>,
    services: usize,
    database: &'a str,
    /// `s3://BUCKET[/PREFIX]`, or `null` for the data directory.
    storage: Option<&'a str>,
    apt: AptSummary,
}

/// The effective `[apt]` settings.
#[derive(Serialize)]
struct AptSummary {
    origin: String,
    /// With `{prefix}` still in it.
    label: String,
    /// `7d`, or `null` for no `Valid-Until`.
    valid_for: Option<String>,
    grace: String,
    /// The configured key file, or where the generated key lives.
    signing_key: String,
    /// `configured` or `generated`.
    signing_key_source: &'static str,
    /// Algorithm and fingerprint of a configured key; `null` for the generated one.
    signing_key_details: Option<String>,
    min_free_percent: f64,
}

#[derive(Serialize)]
struct GroupSummary<'a> {
    name: &'a str,
    nodes: String,
    count: usize,
}

#[derive(Serialize)]
struct EnvironmentSummary<'a> {
    name: &'a str,
    after: Option<&'a str>,
    production: bool,
    nodes: String,
    count: usize,
}

pub(crate) fn check(settings: &Settings, args: &JsonArgs) -> anyhow::Result<u8> {
    let inventory = settings.inventory()?;
    // A storage URL Wharf cannot use is a configuration error here too.
    settings.bucket()?;
    let apt = &settings.apt;
    let (signing_key, signing_key_source, signing_key_details) = match &apt.signing_key {
        // A key apt cannot use is a configuration error here too.
        Some(configured) => (
            configured.path.display().to_string(),
            "configured",
            Some(settings.signing_key()?.describe()),
        ),
        None => (settings.layout().generated_key().display().to_string(), "generated", None),
    };
    let apt_summary = AptSummary {
        origin: apt.origin.clone(),
        label: apt.label.clone(),
        valid_for: apt.valid_for.map(format_duration),
        grace: format_duration(apt.grace),
        signing_key,
        signing_key_source,
        signing_key_details,
        min_free_percent: apt.min_free_percent,
    };
    let fold =
        |names: &[String]| wharf_core::nodeset::NodeSet::from_names(names.iter().cloned()).fold();
    let summary = ConfigSummary {
        file: settings.config_path.display().to_string(),
        found: settings.config_found,
        config_source: settings.config_origin,
        data_dir: settings.data_dir.display().to_string(),
        nodes: inventory.all().len(),
        groups: inventory
            .groups()
            .iter()
            .map(|(name, set)| GroupSummary { name, nodes: set.fold(), count: set.len() })
            .collect(),
        environments: inventory
            .environments()
            .iter()
            .map(|env| EnvironmentSummary {
                name: &env.name,
                after: env.after.as_deref(),
                production: env.production,
                nodes: fold(&env.nodes),
                count: env.nodes.len(),
            })
            .collect(),
        services: inventory.services().len(),
        database: &settings.database,
        storage: settings.storage.as_deref(),
        apt: apt_summary,
    };
    if args.json {
        output::json(&summary)?;
        return Ok(SUCCESS);
    }
    if !summary.found {
        output::warn(format!(
            "no configuration file (no --config or ${}, no ./{} or {}): checking the empty configuration",
            crate::env_vars::CONFIG,
            crate::settings::DEFAULT_CONFIG,
            SYSTEM_CONFIG
        ));
    }
    output::line(format!(
        "{}: ok — {} nodes, {} groups, {} environments, {} services",
        summary.file,
        summary.nodes,
        summary.groups.len(),
        summary.environments.len(),
        summary.services
    ));
    output::line(format!("  config file: {} ({})", summary.file, summary.config_source.describe()));
    output::line(format!("  data directory: {}", summary.data_dir));
    for group in &summary.groups {
        output::line(format!("  group @{:<16} {:>4}  {}", group.name, group.count, group.nodes));
    }
    for env in &summary.environments {
        let after = env.after.map(|after| format!(" (after {after})")).unwrap_or_default();
        let production = if env.production { " [production]" } else { "" };
        output::line(format!(
            "  environment {}{after}{production}: {} nodes {}",
            env.name, env.count, env.nodes
        ));
    }
    let apt = &summary.apt;
    output::line(format!(
        "  apt: origin {:?}, label {:?}, valid_for {}, grace {}, min_free_percent {}%",
        apt.origin,
        apt.label,
        apt.valid_for.as_deref().unwrap_or("- (no Valid-Until)"),
        apt.grace,
        apt.min_free_percent
    ));
    match &apt.signing_key_details {
        Some(details) => {
            output::line(format!("  apt: signing key {} ({details})", apt.signing_key))
        }
        None => {
            output::line(format!("  apt: signing key {} (generated on first use)", apt.signing_key))
        }
    }
    Ok(SUCCESS)
}
